"""The run store: every run's settings, epochs, result and log, in SQLite (or, to share
it between hosts, PostgreSQL: :mod:`ktui.store.backend_postgres`).

Plain Python, :mod:`sqlite3` and, for a ``postgresql://`` store only, psycopg: nothing
here imports TensorFlow, Keras or Textual.
See :mod:`ktui.store.db` for the file's layout and the concurrency rules; the records it
returns are in :mod:`ktui.store.records`, its schema in :mod:`ktui.store.schema`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ktui.core.metrics import policy_of
    from ktui.store.control import CommandBridge, send_command
    from ktui.store.db import RunStore
    from ktui.store.export import export_run, history_csv
    from ktui.store.follow import RemoteControls, RunFollower, controls_for, live_runs
    from ktui.store.recorder import RunRecorder, fan_out
    from ktui.store.records import (
        COMMAND_KINDS,
        SORT_KEYS,
        STATUSES,
        Command,
        CommandKind,
        EpochRecord,
        LearningRateRecord,
        Run,
        RunProgress,
        RunSummary,
        SortKey,
        Status,
    )
    from ktui.store.schema import SCHEMA_VERSION

_HOMES = {
    "policy_of": "ktui.core.metrics",
    "CommandBridge": "ktui.store.control",
    "send_command": "ktui.store.control",
    "RunStore": "ktui.store.db",
    "export_run": "ktui.store.export",
    "history_csv": "ktui.store.export",
    "RemoteControls": "ktui.store.follow",
    "RunFollower": "ktui.store.follow",
    "controls_for": "ktui.store.follow",
    "live_runs": "ktui.store.follow",
    "RunRecorder": "ktui.store.recorder",
    "fan_out": "ktui.store.recorder",
    **dict.fromkeys(
        (
            "COMMAND_KINDS",
            "SORT_KEYS",
            "STATUSES",
            "Command",
            "CommandKind",
            "EpochRecord",
            "LearningRateRecord",
            "Run",
            "RunProgress",
            "RunSummary",
            "SortKey",
            "Status",
        ),
        "ktui.store.records",
    ),
    "SCHEMA_VERSION": "ktui.store.schema",
}
"""Where each name this package offers is defined. They are imported on first use
(PEP 562), so ``from ktui.store import RunStore`` loads the store and its records but
not the recorder, the control channel and the run events they bring (a fresh
``ktui report`` or ``ktui runs`` needs none of them)."""


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'ktui.store' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # found once, then an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])


__all__ = [
    "COMMAND_KINDS",
    "SCHEMA_VERSION",
    "SORT_KEYS",
    "STATUSES",
    "Command",
    "CommandBridge",
    "CommandKind",
    "EpochRecord",
    "LearningRateRecord",
    "RemoteControls",
    "Run",
    "RunFollower",
    "RunProgress",
    "RunRecorder",
    "RunStore",
    "RunSummary",
    "SortKey",
    "Status",
    "controls_for",
    "export_run",
    "fan_out",
    "history_csv",
    "live_runs",
    "policy_of",
    "send_command",
]
