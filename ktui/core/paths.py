"""Where ktui keeps its files: the platform's config and data folders (via platformdirs).

``KTUI_CONFIG_DIR`` and ``KTUI_DATA_DIR`` override them, for tests and for people
who keep everything on a bigger disk; ``KTUI_STORE`` names the run store's file.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def config_dir() -> Path:
    """The user's ktui config folder (``~/.config/ktui`` on Linux)."""
    override = os.environ.get("KTUI_CONFIG_DIR")
    return Path(override).expanduser() if override else Path(platformdirs.user_config_dir("ktui"))


def data_dir() -> Path:
    """The user's ktui data folder (``~/.local/share/ktui`` on Linux): runs and logs."""
    override = os.environ.get("KTUI_DATA_DIR")
    return Path(override).expanduser() if override else Path(platformdirs.user_data_dir("ktui"))


def user_presets_dir() -> Path:
    """Where a person's own presets live, and where "save as preset" writes."""
    return config_dir() / "presets"


def logs_dir() -> Path:
    """Where captured TensorFlow output of command-line runs is kept."""
    return data_dir() / "logs"


def store_path(override: Path | str | None = None) -> Path:
    """The run store's SQLite file: ``override`` (``--store``), else ``KTUI_STORE``, else
    ``runs.sqlite`` in :func:`data_dir`. An existing folder means ``runs.sqlite`` in it."""
    chosen = override if override else os.environ.get("KTUI_STORE")
    path = Path(chosen).expanduser() if chosen else data_dir() / "runs.sqlite"
    return path / "runs.sqlite" if path.is_dir() else path
