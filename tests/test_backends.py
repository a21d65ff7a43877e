"""Keras backends: the chooser's rules, a person's choice kept, JAX without TensorFlow,
and a backend that is not installed refused with how to install it."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
from pathlib import Path

import pytest
from conftest import REPO_ROOT, run_ktui, run_python, tiny_preset_text, write_preset

from ktui.core import backends
from ktui.core.backends import DEFAULT_SOURCE, BackendChoice
from ktui.core.errors import KtuiError, PresetError
from ktui.core.presets import loads
from ktui.store import RunStore

HAS_JAX = importlib.util.find_spec("jax") is not None
HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_jax = pytest.mark.skipif(not HAS_JAX, reason="JAX is not installed (pip install jax)")
needs_torch = pytest.mark.skipif(
    not HAS_TORCH, reason="PyTorch is not installed (pip install 'ktui[torch]')"
)


def keras_json(folder: Path, backend: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "keras.json"
    path.write_text(json.dumps({"backend": backend, "floatx": "float32"}), encoding="utf-8")
    return path


# ------------------------------------------------------------------------ the chooser
def test_an_explicit_choice_wins_over_keras_settings(tmp_path: Path) -> None:
    keras_json(tmp_path, "torch")
    env = {"KERAS_HOME": str(tmp_path), "KERAS_BACKEND": "tensorflow"}
    assert backends.choose("jax", env=env) == BackendChoice("jax", "--backend")
    assert backends.choose("TF", source="the form", env=env) == BackendChoice(
        "tensorflow", "the form"
    )


def test_keras_backend_variable_wins_over_keras_json(tmp_path: Path) -> None:
    keras_json(tmp_path, "torch")
    env = {"KERAS_HOME": str(tmp_path), "KERAS_BACKEND": "jax"}
    assert backends.choose(env=env) == BackendChoice("jax", "KERAS_BACKEND")


def test_keras_json_in_keras_home_is_read(tmp_path: Path) -> None:
    path = keras_json(tmp_path, "torch")
    assert backends.choose(env={"KERAS_HOME": str(tmp_path)}) == BackendChoice("torch", str(path))


def test_keras_json_in_the_home_folder_without_keras_home(tmp_path: Path) -> None:
    path = keras_json(tmp_path / ".keras", "jax")
    env = {"HOME": str(tmp_path)}
    # os.path.expanduser reads HOME from the real environment.
    old = os.environ.get("HOME")
    os.environ["HOME"] = str(tmp_path)
    try:
        assert backends.choose(env=env) == BackendChoice("jax", str(path))
    finally:
        if old is not None:
            os.environ["HOME"] = old


def test_nothing_chosen_takes_the_first_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"KERAS_HOME": str(tmp_path)}  # no keras.json there
    monkeypatch.setattr(backends, "is_installed", lambda name: name in ("jax", "torch"))
    assert backends.choose(env=env) == BackendChoice("jax", DEFAULT_SOURCE)
    monkeypatch.setattr(backends, "is_installed", lambda name: name == "torch")
    assert backends.choose(env=env) == BackendChoice("torch", DEFAULT_SOURCE)
    monkeypatch.setattr(backends, "is_installed", lambda name: True)
    assert backends.choose(env=env) == BackendChoice("tensorflow", DEFAULT_SOURCE)


def test_a_broken_keras_json_is_ignored_as_keras_ignores_it(tmp_path: Path) -> None:
    (tmp_path / "keras.json").write_text("{not json", encoding="utf-8")
    assert backends.configured({"KERAS_HOME": str(tmp_path)}) is None


def test_a_backend_that_is_not_installed_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backends, "is_installed", lambda name: name == "tensorflow")
    with pytest.raises(KtuiError) as caught:
        backends.require(BackendChoice("jax", "--backend"))
    assert caught.value.message == "the Keras backend 'jax' (from --backend) is not installed"
    assert "pip install 'ktui[jax]'" in str(caught.value.hint)
    monkeypatch.setattr(backends, "is_installed", lambda name: False)
    with pytest.raises(KtuiError) as caught:
        backends.require(backends.choose(env={"KERAS_HOME": str(tmp_path)}))
    assert caught.value.message.startswith("no Keras backend is installed")


def test_an_unsupported_backend_is_named() -> None:
    with pytest.raises(KtuiError, match="unknown Keras backend 'mxnet'"):
        backends.choose("mxnet")
    with pytest.raises(KtuiError, match="'numpy' \\(from KERAS_BACKEND\\) is not one ktui"):
        backends.require(backends.choose(env={"KERAS_BACKEND": "numpy"}))


def test_a_preset_names_its_backend_and_a_bad_one_is_refused() -> None:
    text = tiny_preset_text()
    preset = loads('backend = "jax"\n' + text, source="/p/tiny.toml")
    assert preset.resolve().backend == "jax"
    assert preset.resolve(backend="torch").backend == "torch"
    assert loads(text).resolve().backend is None
    with pytest.raises(PresetError) as caught:
        loads('backend = "theano"\n' + text, source="/p/tiny.toml")
    assert str(caught.value) == (
        "/p/tiny.toml: backend: expected one of tensorflow, jax, torch, got 'theano'"
    )


# ------------------------------------------------------- a person's choice is kept
def test_importing_the_dashboard_first_keeps_the_backend_of_keras_json(tmp_path: Path) -> None:
    # Not TensorFlow (Keras's own default) where another backend is installed, so that
    # a ktui that set its default would be caught.
    expected = "jax" if HAS_JAX else "torch" if HAS_TORCH else "tensorflow"
    home = tmp_path / "private-keras-home"
    keras_json(home, expected)
    result = run_python(
        "import os\n"
        "os.environ.pop('KERAS_BACKEND', None)  # the person set nothing but keras.json\n"
        "from ktui import Dashboard\n"
        "print('after ktui:', os.environ.get('KERAS_BACKEND'))\n"
        "import keras\n"
        "print('keras:', keras.backend.backend())\n",
        env={"KERAS_HOME": str(home)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-2:] == ["after ktui: None", f"keras: {expected}"]


SCRIPT = """
import sys
import numpy as np
from ktui import Dashboard
import keras

rng = np.random.default_rng(0)
x = rng.random((64, 4), dtype="float32")
y = (x.sum(axis=1) > 2).astype("float32")
model = keras.Sequential([
    keras.Input(shape=(4,)),
    keras.layers.Dense(8, activation="relu"),
    keras.layers.Dense(1, activation="sigmoid"),
])
model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
dashboard = Dashboard("jax_script", store=sys.argv[1], test_data=(x, y), quiet=True)
model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[dashboard])
print("run", dashboard.run_id, dashboard.warnings, "tensorflow" in sys.modules)
"""


@needs_jax
def test_the_dashboard_records_a_jax_script_where_tensorflow_cannot_be_imported(
    tmp_path: Path,
) -> None:
    blocked = tmp_path / "no-tensorflow" / "tensorflow"
    blocked.mkdir(parents=True)
    (blocked / "__init__.py").write_text(
        "raise ImportError('No module named tensorflow (blocked for this test)')\n"
    )
    script = tmp_path / "train.py"
    script.write_text(SCRIPT, encoding="utf-8")
    store_file = tmp_path / "runs.sqlite"
    result = run_python(
        f"import runpy, sys; sys.argv = [{str(script)!r}, {str(store_file)!r}]; "
        f"runpy.run_path({str(script)!r}, run_name='__main__')",
        env={
            "PYTHONPATH": os.pathsep.join([str(blocked.parent), str(REPO_ROOT)]),
            "KERAS_BACKEND": "jax",
        },
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-4:] == ["run", "1", "[]", "False"]
    with RunStore(store_file) as store:
        (run,) = store.list_runs()
        detail = store.get_run(run.id)
    assert (run.preset, run.status, run.epochs_done) == ("jax_script", "finished", 2)
    assert detail.versions["backend"] == "jax"
    assert detail.versions["jax"] == importlib.metadata.version("jax")
    assert "tensorflow" not in detail.versions
    assert detail.device.startswith("CPU")
    assert detail.test_loss is not None


# -------------------------------------------------------------------- the command line
def test_run_with_a_backend_that_is_not_installed_says_how_to_install_it() -> None:
    # None in sys.modules makes `import jax` fail, and find_spec say it is missing.
    result = run_python(
        "import sys\n"
        "sys.modules['jax'] = None\n"
        "from ktui.cli import main\n"
        "sys.exit(main(['run', 'dummy_binary', '--backend', 'jax']))\n"
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr == (
        "ktui: the Keras backend 'jax' (from --backend) is not installed\n"
        "  Install it with `pip install 'ktui[jax]'` (or `pip install jax`).\n"
    )
    assert result.stdout == ""  # refused before anything was loaded or recorded


def test_run_with_an_unknown_backend() -> None:
    result = run_ktui("run", "dummy_binary", "--backend", "theano")
    assert result.returncode == 2
    assert "ktui: --backend: unknown Keras backend 'theano'" in result.stderr
    assert "Choose one of tensorflow, jax, torch." in result.stderr


def _run_on(backend: str, tmp_path: Path, *extra: str) -> tuple[dict[str, str], str]:
    store_file = tmp_path / "runs.sqlite"
    folder = write_preset(tmp_path / "mine", tiny_preset_text(), name="tiny").parent
    result = run_ktui(
        "--store",
        str(store_file),
        "--presets",
        str(folder),
        "run",
        "tiny",
        "--backend",
        backend,
        *extra,
        env={"KERAS_BACKEND": ""},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    with RunStore(store_file) as store:
        (run,) = store.list_runs()
        detail = store.get_run(run.id)
        assert run.status == "finished"
        return detail.versions, str(store.folder(run.id))


@needs_jax
def test_ktui_run_on_jax_records_the_backend_and_writes_tensorboard_files(
    tmp_path: Path,
) -> None:
    versions, folder = _run_on("jax", tmp_path, "--tensorboard")
    assert versions["backend"] == "jax" and "tensorflow" not in versions
    assert list(Path(folder, "tensorboard").rglob("events.out.tfevents.*"))


@needs_torch
def test_ktui_run_on_torch_records_the_backend(tmp_path: Path) -> None:
    versions, _ = _run_on("torch", tmp_path)
    assert versions["backend"] == "torch" and versions["torch"]


# ------------------------------------------------------------------------- the dashboard
def test_the_model_view_says_what_each_backend_does_with_channels_first() -> None:
    assert "transposes channels-first images" in str(
        backends.layout_note("tensorflow", "channels_first")
    )
    assert backends.layout_note("torch", "channels_first") is None  # PyTorch's own layout
    assert "transposes channels-last" in str(backends.layout_note("torch", "channels_last"))
    assert backends.layout_note("tensorflow", None) is None


async def test_the_form_starts_a_run_on_another_backend_in_the_background(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fakes import FakeTrainer
    from test_app import open_form, wait_for
    from textual.widgets import Select

    from ktui.app import create_app
    from ktui.core.presets import load_catalog, shipped_presets_dir

    launched: list[str | None] = []

    def launch(config: object, *args: object, **kwargs: object) -> object:
        launched.append(getattr(config, "backend", None))
        raise KtuiError("not started in this test")  # the form says so and stays

    monkeypatch.setattr("ktui.runs.launch_detached", launch)
    monkeypatch.setattr(backends, "is_installed", lambda name: True)
    monkeypatch.setattr(backends, "current", lambda env=None: "tensorflow")
    trained: list[object] = []

    class Trainer(FakeTrainer):
        def run(self, config: object, *args: object, **kwargs: object) -> object:
            trained.append(config)
            return super().run(config, *args, **kwargs)  # type: ignore[arg-type]

    app = create_app(
        load_catalog([shipped_presets_dir()]),
        trainer_factory=Trainer,
        user_presets_dir=tmp_path,
        store=RunStore(tmp_path / "runs.sqlite"),
    )
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot)
        select = form.query_one("#backend-select", Select)
        assert select.value == "auto"
        select.value = "jax"
        await pilot.pause()
        config = form.config()
        assert config is not None and config.backend == "jax"
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: bool(launched))
        assert app.screen is form  # not trained here, on this dashboard's TensorFlow
    assert launched == ["jax"] and trained == []


def test_the_keras_json_that_keras_writes_itself_is_no_choice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Keras itself writes keras.json on its first import into an empty KERAS_HOME
    # (the numpy backend: no TensorFlow needed to get the file).
    home = tmp_path / "keras-home"
    home.mkdir()
    result = run_python("import keras", env={"KERAS_HOME": str(home), "KERAS_BACKEND": "numpy"})
    assert result.returncode == 0, result.stderr
    path = home / "keras.json"
    written = path.read_text(encoding="utf-8")
    assert json.loads(written)["backend"] == "tensorflow"  # whatever KERAS_BACKEND said
    assert backends.written_by_keras(written)
    env = {"KERAS_HOME": str(home)}
    monkeypatch.setattr(backends, "is_installed", lambda name: name in ("jax", "torch"))
    # Nobody chose: the first installed backend, not the TensorFlow of Keras's file.
    assert backends.configured(env) is None
    assert backends.choose(env=env) == BackendChoice("jax", DEFAULT_SOURCE)
    # Edited by a person, in any way, it is a choice, TensorFlow included.
    path.write_text(written.replace('"tensorflow"', '"torch"'), encoding="utf-8")
    assert backends.choose(env=env) == BackendChoice("torch", str(path))
    path.write_text(written + "\n", encoding="utf-8")
    assert backends.choose(env=env) == BackendChoice("tensorflow", str(path))
