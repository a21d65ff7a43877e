"""The run store: every run's settings, epochs, result and log, in SQLite (or, to share
it between hosts, PostgreSQL: :mod:`ktui.store.backend_postgres`).

Plain Python, :mod:`sqlite3` and, for a ``postgresql://`` store only, psycopg: nothing
here imports TensorFlow, Keras or Textual.
See :mod:`ktui.store.db` for the file's layout and the concurrency rules; the records it
returns are in :mod:`ktui.store.records`, its schema in :mod:`ktui.store.schema`.
"""

from __future__ import annotations

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
