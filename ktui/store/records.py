"""What the run store holds, as Python values: runs, their epochs, progress and commands.

Frozen dataclasses that :class:`~ktui.store.db.RunStore` returns (and some it takes);
they know nothing of SQLite. Plain Python: no TensorFlow, Keras or Textual.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from ktui.core.metrics import MetricPolicy, policy_of

Status = Literal[
    "running", "finished", "stopped", "failed", "interrupted", "diverged", "pruned"
]
"""A run's state: still going, or how it ended."""

STATUSES: tuple[Status, ...] = get_args(Status)

SortKey = Literal["id", "started", "preset", "status", "best", "test_error", "duration", "epochs"]
"""What :meth:`RunStore.list_runs` can sort by."""

SORT_KEYS: tuple[SortKey, ...] = get_args(SortKey)

CommandKind = Literal["pause", "resume", "stop", "learning_rate"]
"""What a control command asks a running run to do."""

COMMAND_KINDS: tuple[CommandKind, ...] = get_args(CommandKind)


@dataclass(frozen=True)
class EpochRecord:
    """One finished epoch of a run."""

    epoch: int
    """1-based epoch number."""
    metrics: dict[str, float]
    learning_rate: float | None = None
    seconds: float | None = None
    samples_per_second: float | None = None
    ended_at: float | None = None
    """Unix time the epoch was recorded."""


@dataclass(frozen=True)
class RunSummary:
    """A run as :meth:`RunStore.list_runs` returns it: enough for one row of a table."""

    id: int
    preset: str
    status: Status
    values: dict[str, Any]
    """Every hyperparameter value the run used."""
    defaults: dict[str, Any]
    """The preset's defaults when the run started (empty if unknown)."""
    data: str
    device: str
    started_at: float
    """Unix time."""
    ended_at: float | None
    epochs_done: int
    epochs_planned: int | None
    best_metric: str | None
    """The metric the run is judged by: its objective (:class:`~ktui.core.metrics.MetricPolicy`:
    the monitored metric, else val_loss, else loss)."""
    best_value: float | None
    best_epoch: int | None
    test_loss: float | None
    test_accuracy: float | None
    error: str | None
    monitor: str | None = field(default=None, kw_only=True)
    """The objective the run asked for (a preset's ``[fit] monitor``); None: the default."""
    monitor_mode: str = field(default="auto", kw_only=True)
    """``auto``, ``min`` or ``max``: the monitored metric's direction."""
    backend: str = field(default="—", kw_only=True)
    """The Keras backend the run used and its version, as recorded (``jax 0.10.2``;
    ``—`` when unknown): :func:`ktui.core.backends.recorded` of its versions."""

    @property
    def policy(self) -> MetricPolicy:
        """How this run's metrics are judged (its objective and their directions)."""
        return policy_of(self.monitor, self.monitor_mode)

    @property
    def test_error_percent(self) -> float | None:
        """``100 - test accuracy * 100``, the seed's figure."""
        return None if self.test_accuracy is None else 100.0 - self.test_accuracy * 100.0

    @property
    def duration(self) -> float | None:
        """Seconds from start to end; up to now while the run is going."""
        if self.ended_at is not None:
            return max(0.0, self.ended_at - self.started_at)
        if self.status == "running":
            return max(0.0, time.time() - self.started_at)
        return None

    def changed_values(self) -> dict[str, Any]:
        """The hyperparameters that differ from the preset's defaults (all when unknown)."""
        if not self.defaults:
            return dict(self.values)
        return {k: v for k, v in self.values.items() if self.defaults.get(k, _MISSING) != v}


_MISSING = object()


@dataclass(frozen=True)
class Run(RunSummary):
    """Everything recorded about a run except its epochs and log (see :meth:`RunStore.epochs`)."""

    versions: dict[str, str]
    """ktui, Keras, TensorFlow and Python versions."""
    model: dict[str, Any] | None
    """The model summary: ``total_params``, ``trainable_params``, ``input_shape``, ``layers``."""
    info: dict[str, Any]
    """Sample counts, batch size, steps per epoch and planned epochs."""
    seconds: float | None
    """Training time reported by the run itself."""
    error_type: str | None
    traceback: str | None
    pid: int | None
    host: str | None
    folder: Path
    """The run's folder (model.keras, history.csv, log.txt); it may not exist."""
    data_source: str | None = field(default=None, kw_only=True)
    """The data source exactly as the person typed it (or the preset's own source text);
    None for a run recorded before ktui kept it."""
    evaluation_skipped: str | None = field(default=None, kw_only=True)
    """Why the run made no confusion matrix, when it made none."""


@dataclass(frozen=True)
class LearningRateRecord:
    """A learning-rate change of a run, as recorded."""

    id: int
    epoch: int
    step: int
    before: float | None
    after: float | None
    """None when the change could not be made (``error`` says why)."""
    source: str
    """Who asked: ``ktui`` (a key in the dashboard), ``command`` (through the store), or
    ``schedule`` (the model's own schedule or a callback changed it between batches)."""
    error: str = ""
    recorded_at: float | None = None


@dataclass(frozen=True)
class RunProgress:
    """Where a running run is now, as its process last wrote it (all ``None`` before that)."""

    phase: str | None = None
    """preparing data, building model, running, paused, stopping or evaluating."""
    detail: str = ""
    epoch: int | None = None
    """1-based epoch in progress."""
    step: int | None = None
    """Batches finished in that epoch."""
    steps: int | None = None
    logs: dict[str, float] = field(default_factory=dict)
    """The running metrics of the epoch in progress (loss so far, ...)."""
    samples_per_second: float | None = None
    epoch_elapsed: float | None = None
    learning_rate_change: dict[str, Any] | None = None
    """The last learning-rate change: ``value``, ``epoch``, ``step``, ``error``, ``count``."""
    updated_at: float | None = None
    """Unix time of the last write."""

    def fraction(self, epochs: int | None) -> float | None:
        """How much of the whole run is done (0..1), or ``None`` when unknown."""
        if not epochs or self.epoch is None:
            return None
        within = (self.step or 0) / self.steps if self.steps else 0.0
        return min(1.0, max(0.0, (self.epoch - 1 + within) / epochs))


@dataclass(frozen=True)
class Command:
    """A control command queued for a running run."""

    id: int
    run_id: int
    kind: CommandKind
    value: float | None
    created_at: float
    """Unix time it was sent."""
    taken_at: float | None
    """Unix time the run's process took it; ``None`` while pending."""


@dataclass(frozen=True)
class RunSnapshot:
    """What :meth:`RunStore.snapshot` read in one consistent transaction."""

    run: Run
    progress: RunProgress
    log: list[tuple[int, str]]
    """New log lines as (line id, text)."""
    epochs: list[EpochRecord]
    """New epochs."""
    alive: bool
    """The run is ``running`` and its process is alive (or on another host)."""
    learning_rates: list[LearningRateRecord] = field(default_factory=list)
    """New learning-rate changes."""
