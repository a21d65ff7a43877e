"""Import boundaries, checked in fresh child processes through ``sys.modules``.

* ``import ktui`` and the command line's start never load TensorFlow or Keras (they
  are loaded only once a run really starts, after fd 2 is captured);
* ``ktui.core`` never loads Textual, TensorFlow or Keras;
* ``ktui.training`` (the Keras backend) never loads Textual.
"""

from __future__ import annotations

import importlib.util
import json

import pytest
from conftest import REPO_ROOT, run_python

HEAVY = ("tensorflow", "keras", "textual")

REPORT = (
    "import json, sys\n"
    'print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & set(' + repr(HEAVY) + "))))\n"
)


def loaded_after(code: str) -> list[str]:
    """Run ``code`` in a fresh interpreter and return which of HEAVY it loaded."""
    result = run_python(code + "\n" + REPORT)
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    loaded = json.loads(last)
    assert isinstance(loaded, list)
    return loaded


def test_importing_ktui_and_its_core_loads_no_tensorflow() -> None:
    code = "import ktui, ktui.cli, ktui.core.presets, ktui.core.data, ktui.core.events"
    assert loaded_after(code) == []


def test_every_core_module_is_free_of_textual_tensorflow_and_keras() -> None:
    core = REPO_ROOT / "ktui" / "core"
    # Packages inside core (core/data/) count module by module.
    modules = sorted(
        ".".join(p.relative_to(core).with_suffix("").parts).removesuffix(".__init__")
        for p in core.rglob("*.py")
    )
    assert {"data.checks", "data.files", "data.locating", "data.transforms"} <= set(modules)
    assert {"capture", "controls", "data", "events", "format", "presets", "trainer"} <= set(modules)
    code = "\n".join(f"import ktui.core.{name}" for name in modules)
    assert loaded_after(code) == []


def test_ktui_presets_loads_no_tensorflow() -> None:
    code = """
import runpy, sys
sys.argv = ["ktui", "presets"]
try:
    runpy.run_module("ktui", run_name="__main__")
except SystemExit as exit:
    assert exit.code == 0, exit.code
"""
    assert loaded_after(code) == []


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "dummy_binary", "--set", "nope=1"],
        ["run", "dummy_binary", "--set", "epochs=lots"],
        ["run", "dummy_binary", "--data", "/nonexistent/file.npz"],
        ["--help"],
    ],
    ids=["unknown-set", "bad-value", "missing-data", "help"],
)
def test_the_command_line_start_loads_no_tensorflow(argv: list[str]) -> None:
    code = f"""
import sys
from ktui.cli import main
import ktui.cli.run  # what `ktui run` imports before it decides to train
try:
    code = main({argv!r})
except SystemExit as exit:
    code = exit.code
assert code in (0, 2), code
"""
    assert loaded_after(code) == []


def test_the_run_service_loads_neither_tensorflow_nor_textual() -> None:
    assert loaded_after("import ktui.runs, ktui.core.metrics, ktui.core.rerun") == []


def test_importing_ktui_training_alone_is_cheap() -> None:
    assert loaded_after("import ktui.training") == []


def test_the_training_backend_never_loads_textual() -> None:
    code = "import ktui.training.engine, ktui.training.builder, ktui.training.callback"
    loaded = loaded_after(code)
    assert "keras" in loaded  # the check sees real imports
    assert "textual" not in loaded


@pytest.mark.skipif(
    importlib.util.find_spec("jax") is None, reason="JAX is not installed (pip install jax)"
)
def test_on_jax_the_training_side_loads_no_tensorflow() -> None:
    code = (
        "from ktui.training import engine, dashboard, devices\n"
        "devices.describe_device(); devices.versions()\n"
    )
    result = run_python(code + REPORT, env={"KERAS_BACKEND": "jax"})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == ["keras"]


def test_the_presentation_module_is_plain_python() -> None:
    assert loaded_after("import ktui.presentation") == []


def test_the_history_screens_do_not_import_the_command_line() -> None:
    code = (
        "import sys\n"
        "import ktui.screens.runs, ktui.screens.run_detail, ktui.screens.compare\n"
        "cli = sorted(m for m in sys.modules if m == 'ktui.cli' or m.startswith('ktui.cli.'))\n"
        "assert not cli, cli\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr


def test_an_sqlite_store_never_loads_the_postgresql_driver(tmp_path: object) -> None:
    # `ktui runs` and the dashboard on SQLite must open without psycopg installed.
    code = f"""
import sys
from ktui.cli import main
import ktui.store, ktui.store.db, ktui.store.sweeps, ktui.store.system
assert main(["--store", {str(tmp_path) + "/runs.sqlite"!r}, "runs"]) == 0
assert not any(m == "psycopg" or m.startswith("psycopg.") for m in sys.modules), "psycopg"
"""
    assert loaded_after(code) == []
