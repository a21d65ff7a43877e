"""The run store: every run's settings, epochs, result and log, in SQLite.

Plain Python and :mod:`sqlite3`: nothing here imports TensorFlow, Keras or Textual.
See :mod:`ktui.store.db` for the file's layout and the concurrency rules.
"""

from __future__ import annotations

from ktui.store.db import (
    SCHEMA_VERSION,
    SORT_KEYS,
    STATUSES,
    EpochRecord,
    Run,
    RunStore,
    RunSummary,
    SortKey,
    Status,
    lower_is_better,
    pick_metric,
)
from ktui.store.export import export_run, history_csv
from ktui.store.recorder import RunRecorder, fan_out

__all__ = [
    "SCHEMA_VERSION",
    "SORT_KEYS",
    "STATUSES",
    "EpochRecord",
    "Run",
    "RunRecorder",
    "RunStore",
    "RunSummary",
    "SortKey",
    "Status",
    "export_run",
    "fan_out",
    "history_csv",
    "lower_is_better",
    "pick_metric",
]
