"""Shared fixtures: isolated ktui/Keras folders, tiny data files, tiny presets, CLI runs."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

if TYPE_CHECKING:
    from textual.pilot import Pilot

    from ktui.app import KtuiApp
    from ktui.core.presets import PresetCatalog
    from ktui.core.trainer import Trainer
    from ktui.store import RunStore

REPO_ROOT = Path(__file__).resolve().parents[1]

#: Environment variables that would change how a child ktui process behaves.
_CHILD_ENV_DROP = (
    "FORCE_COLOR",
    "TTY_COMPATIBLE",
    "TTY_INTERACTIVE",
    "NO_COLOR",
    "COLUMNS",
    "LINES",
    "TF_CPP_MIN_LOG_LEVEL",
    "PYTHONWARNINGS",
)


@dataclass(frozen=True)
class KtuiDirs:
    """The per-test folders every test runs with (see :func:`ktui_dirs`)."""

    data: Path
    config: Path
    keras_home: Path

    @property
    def user_presets(self) -> Path:
        return self.config / "presets"

    @property
    def keras_datasets(self) -> Path:
        return self.keras_home / "datasets"

    @property
    def logs(self) -> Path:
        return self.data / "logs"


#: The free memory the form's "will it fit" line sees in tests: the machine's real
#: figure changes from one moment to the next, which no snapshot can hold.
TEST_FREE_MEMORY = ("this machine", 16 * 2**30)


@pytest.fixture(autouse=True)
def fixed_free_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make :func:`ktui.core.system.free_memory` answer :data:`TEST_FREE_MEMORY`."""
    from ktui.core import system

    monkeypatch.setattr(system, "free_memory", lambda devices=None: TEST_FREE_MEMORY)


@pytest.fixture(autouse=True)
def ktui_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> KtuiDirs:
    """Point ktui's data/config folders and Keras's cache at fresh temporary folders."""
    dirs = KtuiDirs(
        data=tmp_path / "ktui-data",
        config=tmp_path / "ktui-config",
        keras_home=tmp_path / "keras-home",
    )
    monkeypatch.setenv("KTUI_DATA_DIR", str(dirs.data))
    monkeypatch.setenv("KTUI_CONFIG_DIR", str(dirs.config))
    monkeypatch.setenv("KERAS_HOME", str(dirs.keras_home))
    # The run store defaults to KTUI_DATA_DIR; a developer's own store must not be used.
    monkeypatch.delenv("KTUI_STORE", raising=False)
    return dirs


# --------------------------------------------------------------------------- data files
def mnist_arrays(
    n_train: int = 64, n_test: int = 32, *, seed: int = 0, side: int = 28
) -> dict[str, np.ndarray]:
    """Random uint8 images with labels 0..9, in the layout of Keras's mnist.npz."""
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, size=(n_train, side, side), dtype=np.uint8),
        "y_train": rng.integers(0, 10, size=n_train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, size=(n_test, side, side), dtype=np.uint8),
        "y_test": rng.integers(0, 10, size=n_test, dtype=np.uint8),
    }


def write_mnist_npz(path: Path, **kwargs: Any) -> Path:
    """Write a small MNIST-format .npz (x_train, y_train, x_test, y_test) at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **mnist_arrays(**kwargs))
    return path


@pytest.fixture
def tiny_mnist_npz(tmp_path: Path) -> Callable[..., Path]:
    """``tiny_mnist_npz(path=None, **sizes)`` writes a tiny MNIST-format .npz file."""

    def make(path: Path | None = None, **kwargs: Any) -> Path:
        return write_mnist_npz(path or tmp_path / "tiny-mnist.npz", **kwargs)

    return make


# ------------------------------------------------------------------------------ presets
TINY_PRESET = """
name = "{name}"
description = "A tiny binary classifier on random data, for tests."
seed = 3

[data]
source = "random"
train_samples = {train_samples}
test_samples = {test_samples}
features = {features}
classes = 2

[model]
input_shape = [{features}]

[[model.layers]]
type = "{layer}"
units = "$units"
activation = "{activation}"

[[model.layers]]
type = "Dense"
units = 1
activation = "sigmoid"

[compile]
loss = "{loss}"
optimizer = "{optimizer}"
learning_rate = "$learning_rate"
metrics = {metrics}

[fit]
batch_size = "$batch_size"
epochs = "$epochs"
validation = {validation}
shuffle = {shuffle}

[hyperparameters.units]
type = "int"
default = 8
min = 1
max = 64
help = "units of the hidden layer."

[hyperparameters.learning_rate]
type = "float"
default = 0.01
min = 0.0000001
max = 10.0
help = "the optimizer's step size."

[hyperparameters.batch_size]
type = "int"
default = 16
min = 1
max = 1024
help = "samples per step."

[hyperparameters.epochs]
type = "int"
default = 2
min = 1
max = 10000
help = "passes over the data."
"""


def tiny_preset_text(**overrides: Any) -> str:
    """TOML of a tiny preset (64 random samples × 4 features); ``overrides`` fill the blanks."""
    fields: dict[str, Any] = {
        "name": "tiny",
        "train_samples": 64,
        "test_samples": 32,
        "features": 4,
        "layer": "Dense",
        "activation": "relu",
        "loss": "binary_crossentropy",
        "optimizer": "adam",
        "metrics": '["accuracy"]',
        "validation": '"none"',
        "shuffle": "true",
    }
    fields.update(overrides)
    return TINY_PRESET.format(**fields)


def write_preset(folder: Path, text: str, name: str = "tiny") -> Path:
    """Write ``text`` as ``folder/name.toml`` and return the path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------- subprocesses
def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child ktui: this repo importable, this test's folders."""
    env = {k: v for k, v in os.environ.items() if k not in _CHILD_ENV_DROP}
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["PYTHONIOENCODING"] = "utf-8"
    env.update(extra or {})
    return env


def run_ktui(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m ktui ARGS`` with stdout and stderr captured (neither is a terminal)."""
    return subprocess.run(
        [sys.executable, "-m", "ktui", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=child_env(env),
        cwd=REPO_ROOT,
        timeout=timeout,
        check=False,
    )


def run_python(
    code: str, *, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``python -c CODE`` in a child with the repo importable."""
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=child_env(env),
        cwd=REPO_ROOT,
        timeout=timeout,
        check=False,
    )


#: What TensorFlow's C++ logging (absl, CUDA probing, oneDNN) puts on fd 2.
TF_LOG_MARKERS = ("cuda", "onednn", "absl", "e0000", "w0000", "i0000", "cpu_feature_guard")


def tf_log_lines(text: str) -> list[str]:
    """The lines of ``text`` that look like TensorFlow's C++ log output."""
    return [line for line in text.splitlines() if any(m in line.lower() for m in TF_LOG_MARKERS)]


# ------------------------------------------------------------------------------- the app
def make_app(
    trainer: Trainer | None = None,
    *,
    store: RunStore | None = None,
    folders: list[Path] | None = None,
    catalog: PresetCatalog | None = None,
    trainer_factory: Callable[[], Trainer] | None = None,
    user_presets_dir: Path | None = None,
    clock: Callable[[], float] = lambda: 0.0,
    **options: Any,
) -> KtuiApp:
    """The app as the command line builds it (:func:`ktui.app.create_app`), for pilot tests.

    It trains with ``trainer`` (a fresh :class:`fakes.FakeTrainer` when neither it nor
    ``trainer_factory`` is given), on the presets of ``catalog`` or of ``folders`` (the
    shipped ones by default), with a clock that stands still so snapshots and ETAs are
    stable. ``options`` go to ``create_app`` as they are (``attach``, ``theme``, ...).
    """
    # Imported here, not at the top: the light tests must not load Textual with conftest.
    from fakes import FakeTrainer

    from ktui.app import create_app
    from ktui.core.presets import load_catalog, shipped_presets_dir

    if trainer_factory is None:
        chosen = trainer if trainer is not None else FakeTrainer()

        def trainer_factory() -> Trainer:
            return chosen

    return create_app(
        catalog if catalog is not None else load_catalog(folders or [shipped_presets_dir()]),
        trainer_factory=trainer_factory,
        user_presets_dir=user_presets_dir,
        clock=clock,
        store=store,
        **options,
    )


async def wait_for(
    pilot: Pilot[Any], predicate: Callable[[], bool], timeout: float = 10, what: str = ""
) -> None:
    """Let the app run until ``predicate()`` holds; fail after ``timeout`` seconds.

    Screens open through messages the app handles a turn of the event loop later, and
    workers finish when they finish: tests wait for what they look at, not a fixed time.
    """
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what or 'condition'} not reached in {timeout} s")
        await pilot.pause(0.02)


# --------------------------------------------------------------------------- PostgreSQL
@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """A throwaway PostgreSQL server for the whole session (see tests/pg_server.py),
    started on first use. Skipped when PostgreSQL is not installed, except in CI
    (``CI=true``), where a missing server must fail rather than hide the tests."""
    import pg_server

    if pg_server.binaries() is None:
        message = "PostgreSQL's initdb/pg_ctl are not installed (apt-get install postgresql)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true: {message}")
        pytest.skip(message)
    try:
        import psycopg  # noqa: F401
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true: psycopg is not installed (pip install 'ktui[postgres]')")
        pytest.skip("psycopg is not installed (pip install 'ktui[postgres]')")
    server = pg_server.start()
    try:
        yield server
    finally:
        server.stop()


_DATABASES = iter(range(1, 1_000_000))


@pytest.fixture
def postgres_url(postgres_server: Any) -> Iterator[str]:
    """The URL of a new, empty database on the session's server (one per test, dropped
    after it: each holds ~8 MB)."""
    name = f"t{next(_DATABASES)}"
    postgres_server.sql(f"CREATE DATABASE {name} TEMPLATE template0")
    yield str(postgres_server.url(name))
    with contextlib.suppress(Exception):  # a test that stopped the server has said so
        postgres_server.sql(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_at(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """Where a test's store is, once in an SQLite file and once in PostgreSQL: the
    tests that take it run against both."""
    if request.param == "sqlite":
        return tmp_path / "store" / "runs.sqlite"
    return str(request.getfixturevalue("postgres_url"))
