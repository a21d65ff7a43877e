"""``config.toml`` in ktui's config folder: the theme, the default store and data folder.

Read strictly with :mod:`tomllib`: an unknown key, a wrong type or a TOML syntax
error is a :class:`ConfigError` that names the file, the key and what was expected,
so the command line prints one message instead of a traceback. Every setting is
optional; precedence is command line > environment > ``config.toml`` > defaults
(the environment and command line are applied by :mod:`ktui.core.paths` and the CLI).

The file is written back (when the app's theme changes) with ``tomli-w``, keeping
the other settings; nothing else writes it. Plain Python.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ktui.core.errors import KtuiError
from ktui.core.store_url import StoreLocation, store_location

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

CONFIG_NAME = "config.toml"


class ConfigError(KtuiError):
    """``config.toml`` cannot be used: names the file, the key and what was expected."""

    def __init__(self, path: Path, key: str, problem: str) -> None:
        self.path = path
        self.key = key
        where = f"{path}: {key}" if key else str(path)
        super().__init__(
            f"{where}: {problem}",
            hint="Fix or remove that line (settings: theme, store, data_dir); "
            "`ktui --help` describes them.",
        )


@dataclass(frozen=True)
class Config:
    """The settings of ``config.toml``; ``None`` where the file does not set one."""

    theme: str | None = None
    """The dashboard's Textual theme, e.g. ``"nord"`` (saved when you pick one)."""
    store: StoreLocation | None = None
    """The run store (a file, or a ``postgresql://`` URL), when neither ``--store`` nor
    ``KTUI_STORE`` names one."""
    data_dir: Path | None = None
    """ktui's data folder (runs, logs), when ``KTUI_DATA_DIR`` is not set."""


_KEYS = {f.name for f in fields(Config)}
_EXPECTED = {
    "theme": 'a theme name in quotes, e.g. theme = "nord"',
    "store": 'a file path in quotes (or a postgresql:// URL), e.g. store = "~/runs.sqlite"',
    "data_dir": 'a folder path in quotes, e.g. data_dir = "/big/disk/ktui"',
}


def config_file() -> Path:
    """Where ``config.toml`` lives (``~/.config/ktui/config.toml`` on Linux)."""
    from ktui.core.paths import config_dir

    return config_dir() / CONFIG_NAME


def _read_raw(path: Path) -> dict[str, Any]:
    """The file's table as read; empty when there is no file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, "", f"cannot be read ({exc})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "", f"is not valid TOML ({exc})") from None


def parse_config(raw: dict[str, Any], path: Path) -> Config:
    """Check ``raw`` (a parsed ``config.toml``) strictly and build the :class:`Config`."""
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise ConfigError(
            path, unknown[0], f"unknown setting; expected one of {', '.join(sorted(_KEYS))}"
        )
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if not isinstance(value, str) or not value.strip():
            got = type(value).__name__ if not isinstance(value, str) else "an empty string"
            raise ConfigError(path, key, f"expected {_EXPECTED[key]}, got {got}")
        if key == "theme":
            values[key] = value
        elif key == "store":
            values[key] = store_location(value)
        else:
            values[key] = Path(value).expanduser()
    return Config(**values)


def load_config(path: Path | None = None) -> Config:
    """The settings in ``path`` (default :func:`config_file`); all ``None`` without a file."""
    path = path or config_file()
    return parse_config(_read_raw(path), path)


def save_setting(key: str, value: str, path: Path | None = None) -> Path:
    """Set ``key`` in ``config.toml`` (created if missing), keeping the other settings.

    Written with ``tomli-w`` to a temporary file that replaces the old one, so a
    crash never leaves half a file. A broken file is not overwritten: ConfigError.
    """
    if key not in _KEYS:
        raise ValueError(f"no setting {key!r}")
    path = path or config_file()
    raw = _read_raw(path)
    parse_config(raw, path)  # refuse to rewrite (and lose) a file we cannot read
    raw[key] = value
    import tomli_w  # only when writing: reading the config stays light

    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".toml")
        with os.fdopen(fd, "wb") as out:
            tomli_w.dump(raw, out)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise ConfigError(path, key, f"cannot be saved ({exc})") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return path
