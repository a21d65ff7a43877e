"""Where ktui keeps its files: the platform's config and data folders (via platformdirs).

``KTUI_CONFIG_DIR`` and ``KTUI_DATA_DIR`` override them, for tests and for people
who keep everything on a bigger disk; ``KTUI_STORE`` names the run store's file.
``config.toml`` in the config folder (:mod:`ktui.core.config`) may set ``data_dir``
and ``store`` too: command line > environment > ``config.toml`` > defaults.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from ktui.core.config import load_config


def config_dir() -> Path:
    """The user's ktui config folder (``~/.config/ktui`` on Linux)."""
    override = os.environ.get("KTUI_CONFIG_DIR")
    return Path(override).expanduser() if override else Path(platformdirs.user_config_dir("ktui"))


def data_dir() -> Path:
    """The user's ktui data folder (``~/.local/share/ktui`` on Linux): runs and logs.

    ``KTUI_DATA_DIR``, else ``data_dir`` in ``config.toml``, else the platform's folder;
    a broken ``config.toml`` raises :class:`~ktui.core.config.ConfigError`.
    """
    override = os.environ.get("KTUI_DATA_DIR")
    if override:
        return Path(override).expanduser()
    configured = load_config().data_dir
    return configured if configured else Path(platformdirs.user_data_dir("ktui"))


def user_presets_dir() -> Path:
    """Where a person's own presets live, and where "save as preset" writes."""
    return config_dir() / "presets"


def logs_dir() -> Path:
    """Where captured TensorFlow output of command-line runs is kept."""
    return data_dir() / "logs"


def store_path(override: Path | str | None = None) -> Path:
    """The run store's SQLite file: ``override`` (``--store``), else ``KTUI_STORE``, else
    ``store`` in ``config.toml``, else ``runs.sqlite`` in :func:`data_dir`. An existing
    folder means ``runs.sqlite`` in it."""
    chosen: Path | str | None = override if override else os.environ.get("KTUI_STORE")
    if not chosen:
        chosen = load_config().store
    path = Path(chosen).expanduser() if chosen else data_dir() / "runs.sqlite"
    return path / "runs.sqlite" if path.is_dir() else path
