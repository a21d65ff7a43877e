"""The layers of ``pyproject.toml``'s import-linter contracts hold.

``tests/test_boundaries.py`` proves at run time, in child processes, that the light
modules load no TensorFlow or Textual; these contracts check statically who may
import whom (function-level imports included), so a screen that imports the command
line or a widget that imports the store fails the suite.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import tomllib
from conftest import REPO_ROOT


def lint_imports(config: Path) -> subprocess.CompletedProcess[str]:
    """Run import-linter on ``config`` for the ktui in this checkout."""
    script = "import sys; from importlinter.cli import lint_imports_command; lint_imports_command()"
    return subprocess.run(
        [sys.executable, "-c", script, "--no-logo", "--no-cache", str(config)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_every_layer_contract_is_kept() -> None:
    result = lint_imports(REPO_ROOT / "pyproject.toml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_contract_that_is_broken_fails(tmp_path: Path) -> None:
    # The same machinery, on a contract the code base breaks on purpose: the UI does
    # import the store, so forbidding it must be reported.
    config = tmp_path / "broken.toml"
    config.write_text(
        '[tool.importlinter]\nroot_package = "ktui"\n'
        "[[tool.importlinter.contracts]]\n"
        'name = "screens may not use the store"\ntype = "forbidden"\n'
        'source_modules = ["ktui.screens"]\nforbidden_modules = ["ktui.store"]\n'
    )
    result = lint_imports(config)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stdout


def test_no_contract_lists_known_violations() -> None:
    # Every import the layers forbid is gone: a contract with an ignore list would let
    # a new screen-to-screen (or UI-to-CLI) import of the same shape pass unnoticed.
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    with_ignores = [c["name"] for c in contracts if c.get("ignore_imports")]
    assert with_ignores == []
    assert all("unmatched_ignore_imports_alerting" not in c for c in contracts)
