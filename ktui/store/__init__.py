"""The run store: every run's settings, epochs, result and log, in SQLite.

Plain Python and :mod:`sqlite3`: nothing here imports TensorFlow, Keras or Textual.
See :mod:`ktui.store.db` for the file's layout and the concurrency rules.
"""

from __future__ import annotations

from ktui.store.control import CommandBridge, send_command
from ktui.store.db import (
    COMMAND_KINDS,
    SCHEMA_VERSION,
    SORT_KEYS,
    STATUSES,
    Command,
    CommandKind,
    EpochRecord,
    LearningRateRecord,
    Run,
    RunProgress,
    RunStore,
    RunSummary,
    SortKey,
    Status,
    policy_of,
)
from ktui.store.export import export_run, history_csv
from ktui.store.follow import RemoteControls, RunFollower, controls_for, live_runs
from ktui.store.recorder import RunRecorder, fan_out

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
