"""The typed events a training run emits.

The training engine turns Keras's callback hooks into these plain dataclasses and
hands them to a listener; the headless command, the TUI and the run store all
consume the same stream. They carry only Python numbers and strings, so a listener
never needs TensorFlow to read them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from ktui.core.distribute import Placement, WorkerReport
from ktui.core.input_bound import EpochTiming
from ktui.core.system import SystemSample

Phase = Literal["preparing data", "building model", "running", "paused", "stopping", "evaluating"]
"""What a run is doing right now, as shown in a status line."""

LearningRateSource = Literal["ktui", "command", "schedule"]
"""Who changed a run's learning rate: a key in this ktui, a command through the run store
(another ktui, ``ktui runs lr``), or the model's own schedule or callbacks."""

FinalStatus = Literal["finished", "stopped", "interrupted", "diverged", "pruned"]
"""How a run that did not fail ended: all epochs done, stopped by the user,
interrupted (its terminal hung up and it stopped cleanly, or — seen by a follower —
its process died), diverged (its loss became NaN or infinite, and it was stopped
there, or — a person's own ``fit`` — recorded so), or pruned (a sweep's trial its
pruner stopped after an epoch: the message says why)."""


@dataclass(frozen=True)
class LayerInfo:
    """One row of a model summary."""

    name: str
    kind: str
    output_shape: str
    params: int


@dataclass(frozen=True)
class ModelSummary:
    """What ``model.summary()`` shows, as data."""

    layers: tuple[LayerInfo, ...]
    total_params: int
    trainable_params: int
    input_shape: str = ""


@dataclass(frozen=True)
class PhaseChanged:
    """The run moved to another phase (preparing data, running, paused, ...)."""

    phase: Phase
    detail: str = ""


@dataclass(frozen=True)
class RunStarted:
    """The model is built and ``fit`` is about to begin."""

    preset: str
    values: dict[str, object]
    model: ModelSummary
    train_samples: int | None
    """Training samples per epoch; None when unknown (a generator, a PyDataset)."""
    validation_samples: int | None
    """0 without validation; None when there is validation of unknown size."""
    test_samples: int
    batch_size: int | None
    """None when unknown."""
    epochs: int
    steps_per_epoch: int
    device: str
    data: str
    versions: dict[str, str] = field(default_factory=dict)
    seed: int | None = None
    """The random seed the run was started with (None: not set, or unknown)."""
    placement: Placement | None = None
    """Where it runs: strategy, hosts, devices, replicas (None: not told, e.g. a
    person's own ``fit``)."""


@dataclass(frozen=True)
class BatchProgress:
    """Progress inside an epoch; sent at most about 20 times a second."""

    epoch: int
    """1-based epoch number."""
    step: int
    """Batches finished in this epoch (1-based)."""
    steps: int
    logs: dict[str, float]
    samples_per_second: float | None
    """None when neither the batch size nor the samples are known."""
    epoch_elapsed: float


@dataclass(frozen=True)
class EpochEnded:
    """An epoch finished: every metric Keras logged, with its learning rate and timing."""

    epoch: int
    """1-based epoch number."""
    epochs: int
    metrics: dict[str, float]
    learning_rate: float
    """The rate the epoch ran at; NaN when it cannot be told."""
    seconds: float
    samples_per_second: float | None
    """None when neither the batch size nor the samples are known."""


@dataclass(frozen=True)
class LearningRateChanged:
    """The learning rate changed (``value`` is NaN if a requested change could not be made,
    and ``error`` says why); it applies from batch ``step`` of ``epoch`` on."""

    value: float
    epoch: int
    step: int
    error: str = ""
    previous: float | None = None
    """The rate before the change (None: unknown)."""
    source: LearningRateSource = "ktui"
    """Who asked for it."""

    @property
    def failed(self) -> bool:
        """True when the change could not be made."""
        return self.value != self.value  # NaN


@dataclass(frozen=True)
class RunFinished:
    """Training ended normally or was stopped; the test set was evaluated if possible."""

    status: FinalStatus
    epochs_completed: int
    seconds: float
    test_loss: float | None = None
    test_accuracy: float | None = None
    message: str = ""
    """Why it ended so, for the user: set for ``diverged`` (where, and what to try) and
    ``pruned`` (the pruner's judgement)."""

    @property
    def test_error_percent(self) -> float | None:
        """The seed's figure: ``100 - accuracy * 100``."""
        if self.test_accuracy is None:
            return None
        return 100.0 - self.test_accuracy * 100.0


@dataclass(frozen=True)
class RunFailed:
    """The run raised; ``message`` is for the user, ``traceback`` for the log."""

    message: str
    error_type: str
    traceback: str
    epochs_completed: int = 0


@dataclass(frozen=True)
class LogLine:
    """A line that TensorFlow, Keras or Python wrote while the run was going."""

    text: str


@dataclass(frozen=True)
class EvaluationReady:
    """A classifier's test-set predictions were compared with the true labels.

    Sent after the test evaluation and before the final event, only for a
    classification model (softmax over several classes, or a single sigmoid). The
    matrix has a row per true class and a column per predicted class. The images of
    the mistakes are only in the file at ``path`` (``predictions.npz`` in the run's
    folder, read with :func:`ktui.core.insight.load_evaluation`), which is None when
    the run has no folder or the file could not be written (``note`` says why).
    """

    labels: tuple[str, ...]
    matrix: tuple[tuple[int, ...], ...]
    accuracy: float
    binary: bool = False
    misclassified: int = 0
    path: str | None = None
    seconds: float = 0.0
    """How long predicting the test set and building the matrix took."""
    note: str = ""


@dataclass(frozen=True)
class EvaluationSkipped:
    """The run made no confusion matrix; ``reason`` says why (not a classifier, the
    prediction failed, ...). Sent instead of :class:`EvaluationReady`."""

    reason: str


@dataclass(frozen=True)
class SystemSampled:
    """The machine while the run trains: one sample every second or two.

    Sent from the system sampler's thread, not the training thread (listeners are
    thread-safe already); never coalesced with an epoch's events.
    """

    sample: SystemSample


@dataclass(frozen=True)
class InputTiming:
    """An epoch's batch timings: how much of its step time waited for data.

    Sent right after the epoch's :class:`EpochTiming` is measured (before the next
    epoch's batches). ``verdict`` is the line to show when the run is input-bound
    (``input-bound: 46 % of step time waiting for data; try …``), else None.
    """

    timing: EpochTiming
    verdict: str | None = None


@dataclass(frozen=True)
class WorkersReported:
    """Every worker's last report of a multi-worker run, as the store holds it (read by
    a follower about once a second: :func:`ktui.core.distribute.health_line` shows it).

    ``workers`` is how many the run has (a worker that never reported is missing from
    ``reports``); ``at`` is the Unix time they were read, by which their age is told.
    """

    reports: tuple[WorkerReport, ...]
    workers: int
    at: float


Event = (
    PhaseChanged
    | RunStarted
    | BatchProgress
    | EpochEnded
    | LearningRateChanged
    | RunFinished
    | RunFailed
    | LogLine
    | EvaluationReady
    | EvaluationSkipped
    | SystemSampled
    | InputTiming
    | WorkersReported
)
"""Any event of a run's stream."""

Listener = Callable[[Event], None]
"""Receives events; called from the training thread, so it must be thread-safe."""
