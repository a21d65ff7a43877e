"""Following a run that another process records: the store read back as events.

:class:`RunFollower` turns what the store holds about a run into the same events
the training engine emits (:mod:`ktui.core.events`), so the training screen draws a
run started elsewhere — ``ktui run --detach``, another dashboard, a script with
:class:`ktui.Dashboard` — with the code it uses for its own runs::

    follower = RunFollower(store, run_id)
    controls = controls_for(store, run_id)
    every 0.2 s:  for event in follower.poll(): handle(event)

The first poll gives the run's start (:class:`RunStarted`, rebuilt from the stored
details), every recorded log line and epoch, its phase and progress; later polls
give only what is new. A final event comes exactly once: :class:`RunFinished`
(finished, stopped or interrupted; preceded by the :class:`EvaluationReady` of its
saved predictions when the run has them) or :class:`RunFailed`. A ``running`` run whose
process is gone is marked ``interrupted`` and ends with ``RunFinished("interrupted")``.

Plain Python: no TensorFlow, Keras or Textual.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from typing import Any, assert_never, get_args

from ktui.core.distribute import BEAT_INTERVAL, Placement
from ktui.core.errors import KtuiError, StoreError
from ktui.core.events import (
    BatchProgress,
    EpochEnded,
    EvaluationReady,
    EvaluationSkipped,
    Event,
    InputTiming,
    LayerInfo,
    LearningRateChanged,
    LogLine,
    ModelSummary,
    Phase,
    PhaseChanged,
    RunFailed,
    RunFinished,
    RunStarted,
    SystemSampled,
    WorkersReported,
)
from ktui.store.control import send_command
from ktui.store.db import RunStore
from ktui.store.placement import read_placement, read_workers
from ktui.store.records import (
    CommandKind,
    LearningRateRecord,
    Run,
    RunProgress,
    RunSnapshot,
    RunSummary,
)

_PHASES: tuple[str, ...] = get_args(Phase)

#: Phases in which the progress row describes the epoch in progress.
_TRAINING_PHASES = ("running", "paused", "stopping")


def live_runs(store: RunStore) -> list[RunSummary]:
    """The runs going now, newest first: ``running`` with a live process (runs of
    another host count as live; they cannot be checked). Runs whose process died are
    marked ``interrupted`` on the way."""
    store.mark_interrupted()
    return store.list_runs(status="running")


def model_summary(model: dict[str, Any] | None) -> ModelSummary:
    """A stored model summary (``asdict`` of a :class:`ModelSummary`) as the dataclass."""
    model = model or {}
    layers = tuple(
        LayerInfo(
            name=str(layer.get("name", "")),
            kind=str(layer.get("kind", "")),
            output_shape=str(layer.get("output_shape", "")),
            params=_int(layer.get("params")),
        )
        for layer in model.get("layers") or ()
        if isinstance(layer, dict)
    )
    return ModelSummary(
        layers=layers,
        total_params=_int(model.get("total_params")),
        trainable_params=_int(model.get("trainable_params")),
        input_shape=str(model.get("input_shape", "")),
    )


def run_started(run: Run, placement: Placement | None = None) -> RunStarted:
    """The :class:`RunStarted` a recorded run began with, rebuilt from its details
    (``placement``: where it runs, as recorded)."""
    info = run.info
    epochs = _int(info.get("epochs")) or run.epochs_planned or 0
    return RunStarted(
        preset=run.preset,
        values=dict(run.values),
        model=model_summary(run.model),
        train_samples=_known(info.get("train_samples")),
        validation_samples=_known(info.get("validation_samples"), zero=True),
        test_samples=_int(info.get("test_samples")),
        batch_size=_known(info.get("batch_size")),
        epochs=epochs,
        steps_per_epoch=_int(info.get("steps_per_epoch")),
        device=run.device,
        data=run.data,
        versions={str(k): str(v) for k, v in run.versions.items()},
        seed=info.get("seed") if isinstance(info.get("seed"), int) else None,
        placement=placement,
    )


def learning_rate_event(record: LearningRateRecord) -> LearningRateChanged:
    """A recorded learning-rate change as the event the run emitted."""
    source = record.source if record.source in ("ktui", "command", "schedule") else "ktui"
    return LearningRateChanged(
        value=math.nan if record.after is None else record.after,
        epoch=record.epoch,
        step=record.step,
        error=record.error,
        previous=record.before,
        source=source,  # type: ignore[arg-type]
    )


def final_event(run: Run) -> RunFinished | RunFailed | None:
    """How a recorded run ended, as the engine's final event; ``None`` while running."""
    if run.status == "running":
        return None
    if run.status == "failed":
        return RunFailed(
            message=run.error or "the run failed",
            error_type=run.error_type or "",
            traceback=run.traceback or "",
            epochs_completed=run.epochs_done,
        )
    seconds = run.seconds if run.seconds is not None else run.duration
    return RunFinished(
        status=run.status,
        epochs_completed=run.epochs_done,
        seconds=seconds or 0.0,
        test_loss=run.test_loss,
        test_accuracy=run.test_accuracy,
        message=(run.error or "") if run.status in ("diverged", "pruned") else "",
    )


class RunFollower:
    """Reads a run from the store as a stream of engine events (see the module doc).

    Not thread-safe: poll it from one thread (a UI timer or a worker). Each poll is
    one read transaction on the store; a run's process commits each epoch when it
    ends, so an epoch reaches a follower polling every 0.2 s within about 0.2 s.
    """

    def __init__(
        self, store: RunStore, run_id: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """Follow run ``run_id``; StoreError if the store has no such run. ``clock``
        paces the reading of a multi-worker run's workers (tests give their own)."""
        if not store.has_run(run_id):
            raise StoreError(
                f"no run with id {run_id} in {store.path}", hint="`ktui runs` lists the runs."
            )
        self.store = store
        self.run_id = run_id
        self.run: Run | None = None
        """The run as last read."""
        self.progress: RunProgress | None = None
        """Its live progress as last read."""
        self.final: RunFinished | RunFailed | None = None
        """The final event, once it was returned."""
        self._started = False
        self._log_id = 0
        self._epoch = 0
        self._phase: tuple[str | None, str] = (None, "")
        self._step: tuple[int | None, int | None] = (None, None)
        self._rate_id = 0  # the last learning-rate change row read
        self._sample_time: float | None = None
        self._timing_epoch = 0
        self._clock = clock
        self._placement: Placement | None = None
        self._workers_read: float | None = None  # when the workers were last read

    @property
    def done(self) -> bool:
        """True once the final event was returned; later polls return nothing."""
        return self.final is not None

    def poll(self) -> list[Event]:
        """The events that happened since the last poll (all of them the first time).

        Raises StoreError if the store cannot be read (busy, deleted run).
        """
        if self.final is not None:
            return []
        snap = self._snapshot()
        gone = snap.run.status == "running" and not snap.alive
        if gone:
            # Only a run that is still 'running' is touched, so a run that ended
            # normally just before its process exited keeps its real status.
            self.store.mark_interrupted()
            snap = self._snapshot()
        run, progress = snap.run, snap.progress
        self.run, self.progress = run, progress
        events: list[Event] = []

        if not self._started and run.model is not None:
            self._started = True
            placement = None
            with contextlib.suppress(StoreError):  # a label: not worth the follow
                placement = read_placement(self.store, run.id)
            self._placement = placement
            events.append(run_started(run, placement))
        for line_id, text in snap.log:
            self._log_id = line_id
            events.append(LogLine(text))
        for change in snap.learning_rates:
            self._rate_id = change.id
            events.append(learning_rate_event(change))
        epochs = run.epochs_planned or _int(run.info.get("epochs"))
        for record in snap.epochs:
            self._epoch = record.epoch
            seconds = record.seconds or 0.0
            events.append(
                EpochEnded(
                    epoch=record.epoch,
                    epochs=epochs,
                    metrics=dict(record.metrics),
                    learning_rate=math.nan
                    if record.learning_rate is None
                    else record.learning_rate,
                    seconds=seconds,
                    samples_per_second=record.samples_per_second,
                )
            )

        events.extend(self._system_events())
        events.extend(self._workers_events())
        final = final_event(run)
        if final is None:
            events.extend(self._progress_events(progress))
            return events
        if gone and run.status == "interrupted":
            events.append(
                LogLine(f"ktui: run {run.id}'s process (pid {run.pid}) is gone; marked interrupted")
            )
        if isinstance(final, RunFinished):
            if run.evaluation_skipped:
                events.append(EvaluationSkipped(run.evaluation_skipped))
            events.extend(_evaluation(run))
        self.final = final
        events.append(final)
        return events

    def _snapshot(self) -> RunSnapshot:
        return self.store.snapshot(
            self.run_id, log_after=self._log_id, epoch_after=self._epoch, lr_after=self._rate_id
        )

    def _system_events(self) -> list[Event]:
        """The system samples and step timings recorded since the last poll."""
        from ktui.core.input_bound import diagnose
        from ktui.store.system import read_samples, read_timings

        events: list[Event] = []
        for sample in read_samples(self.store, self.run_id, after=self._sample_time):
            self._sample_time = sample.time
            events.append(SystemSampled(sample))
        for timing in read_timings(self.store, self.run_id):
            if timing.epoch > self._timing_epoch:
                self._timing_epoch = timing.epoch
                data = self.run.data if self.run is not None else None
                events.append(InputTiming(timing, diagnose(timing, data)))
        return events

    def _workers_events(self) -> list[Event]:
        """A multi-worker run's workers as last reported, read at most once per
        :data:`BEAT_INTERVAL` (they report no more often) and sent each time, so a
        silent worker's age keeps counting on the screen."""
        placement = self._placement
        if placement is None or not placement.cluster:
            return []
        now = self._clock()
        if self._workers_read is not None and now - self._workers_read < BEAT_INTERVAL:
            return []
        self._workers_read = now
        try:
            reports = tuple(read_workers(self.store, placement.cluster))
        except StoreError:
            return []  # health is a label: the next read may work
        return [WorkersReported(reports, placement.workers, time.time())]

    def _progress_events(self, progress: RunProgress) -> list[Event]:
        events: list[Event] = []
        phase = (progress.phase, progress.detail)
        if progress.phase in _PHASES and phase != self._phase:
            self._phase = phase
            events.append(PhaseChanged(progress.phase, progress.detail))  # type: ignore[arg-type]
        step = (progress.epoch, progress.step)
        if (
            self._started
            and progress.phase in _TRAINING_PHASES
            and progress.epoch is not None
            and progress.epoch > self._epoch  # not an epoch whose end is already shown
            and progress.step
            and step != self._step
        ):
            self._step = step
            events.append(
                BatchProgress(
                    epoch=progress.epoch,
                    step=progress.step,
                    steps=progress.steps or 0,
                    logs=dict(progress.logs),
                    samples_per_second=progress.samples_per_second,
                    epoch_elapsed=progress.epoch_elapsed or 0.0,
                )
            )
        return events


class RemoteControls:
    """The controls of a run in another process: the methods of
    :class:`~ktui.core.controls.RunControls`, sent as commands through the store.

    Each request raises :class:`StoreError` when the run is no longer live (it
    ended, or its process is gone), with a message for the user.
    """

    def __init__(self, store: RunStore, run_id: int) -> None:
        self.store = store
        self.run_id = run_id
        phase = store.progress(run_id).phase
        pending = [c.kind for c in store.commands(run_id, pending=True)]
        self._stop = phase == "stopping" or "stop" in pending
        self._paused = phase == "paused"
        for kind in pending:  # what is still on its way counts as asked for
            if kind == "pause":
                self._paused = True
            elif kind == "resume":
                self._paused = False

    def _send(self, kind: CommandKind, value: float | None = None) -> None:
        send_command(self.store, self.run_id, kind, value)

    def stop(self) -> None:
        """Ask the run to end after the current batch (also releases a pause)."""
        self._send("stop")
        self._stop = True
        self._paused = False

    def pause(self) -> None:
        """Hold the run before its next batch."""
        if self._stop:
            return
        self._send("pause")
        self._paused = True

    def resume(self) -> None:
        """Let a paused run continue."""
        self._send("resume")
        self._paused = False

    def set_learning_rate(self, value: float) -> None:
        """Use ``value`` as the learning rate from the run's next batch on (ValueError if
        it is not a positive number)."""
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"learning rate must be a positive number, got {value!r}")
        self._send("learning_rate", value)

    @property
    def stop_requested(self) -> bool:
        """True once a stop was asked for (here or, when attached, already before)."""
        return self._stop

    @property
    def paused(self) -> bool:
        """True while a pause is asked for and not yet resumed."""
        return self._paused

    def observe(self, event: Event) -> None:
        """Keep ``paused``/``stop_requested`` in step with the run: pass it the
        follower's events (another ktui may pause or stop the same run)."""
        match event:
            case PhaseChanged(phase="paused"):
                self._paused = True
            case PhaseChanged(phase="running"):
                self._paused = False
            case PhaseChanged(phase="stopping"):
                self._stop, self._paused = True, False
            case RunFinished() | RunFailed():
                self._paused = False
            case (
                PhaseChanged()
                | RunStarted()
                | BatchProgress()
                | EpochEnded()
                | LearningRateChanged()
                | LogLine()
                | EvaluationReady()
                | EvaluationSkipped()
                | SystemSampled()
                | InputTiming()
                | WorkersReported()
            ):
                pass  # nothing that changes whether it is paused or stopping
            case _:
                assert_never(event)


def controls_for(store: RunStore, run_id: int) -> RemoteControls:
    """Controls that steer run ``run_id`` through the store, like a ``RunControls``."""
    return RemoteControls(store, run_id)


def _evaluation(run: Run) -> list[Event]:
    """The run's confusion matrix, as the engine sent it, when its folder has one."""
    from ktui.core import insight  # numpy: only once a run has ended

    path = run.folder / insight.PREDICTIONS_FILE
    if not path.is_file():
        return []
    try:
        return [insight.load_evaluation(path).to_event(path)]
    except (KtuiError, OSError, ValueError) as exc:
        return [LogLine(f"ktui: could not read the saved predictions {path}: {exc}")]


def _int(value: object) -> int:
    return int(value) if isinstance(value, int | float) and math.isfinite(value) else 0


def _known(value: object, *, zero: bool = False) -> int | None:
    """A recorded count, None when unknown (an older ktui recorded 0 for that)."""
    count = _int(value)
    return count if count > 0 or (zero and count == 0 and value is not None) else None
