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
from ktui.core.errors import StoreError
from ktui.core.store_url import DatabaseUrl, StoreLocation, store_location


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


def store_path(override: StoreLocation | str | None = None) -> StoreLocation:
    """The run store: ``override`` (``--store``), else ``KTUI_STORE``, else ``store`` in
    ``config.toml``, else ``runs.sqlite`` in :func:`data_dir`. A ``postgresql://`` URL
    names a database (:class:`~ktui.core.store_url.DatabaseUrl`); anything else is an
    SQLite file, and an existing folder means ``runs.sqlite`` in it."""
    chosen: StoreLocation | str | None = override if override else os.environ.get("KTUI_STORE")
    if not chosen:
        chosen = load_config().store
    location = store_location(chosen) if chosen else data_dir() / "runs.sqlite"
    if isinstance(location, DatabaseUrl):
        return location
    path = location
    try:
        return path / "runs.sqlite" if path.is_dir() else path
    except PermissionError as exc:
        raise no_access(path, exc) from None


def no_access(path: Path, exc: OSError) -> StoreError:
    """The message for a run store this user may not reach: which folder is closed to
    them (and whose it is), and what to do."""
    blocked = Path(exc.filename) if exc.filename else path
    # The first folder on the way that this user cannot enter is the one to name.
    for folder in [*reversed(path.parents), path]:
        if not os.access(folder, os.X_OK if folder != path else os.R_OK):
            blocked = folder
            break
    owner = ""
    try:
        stat = blocked.stat()
        owner = f" (it belongs to uid {stat.st_uid}, mode {stat.st_mode & 0o777:04o})"
    except OSError:
        pass
    return StoreError(
        f"ktui may not use the run store {path}: permission denied on {blocked}{owner}",
        hint="Run ktui as the store's owner, or use a store of your own with "
        "--store PATH or the KTUI_STORE environment variable.",
    )
