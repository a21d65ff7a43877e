"""Records a training run's event stream into the run store while it happens.

A :class:`RunRecorder` is a :data:`~ktui.core.events.Listener`: hand it (with the
display's listener, see :func:`fan_out`) to ``Trainer.run`` and pass
``artifacts=recorder.folder`` so the model is saved in the run's folder::

    recorder = RunRecorder.for_config(store, config)
    trainer.run(config, fan_out(recorder, show), controls, artifacts=recorder.folder)

Each epoch is committed when it ends; log lines are buffered and written with the
next epoch (or the end), never one transaction per line. The recorder never raises
into the training: a store that fails (full disk, stuck lock) costs the record,
not the run, and the problem is reported through ``warn`` and :attr:`warnings`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, assert_never

from ktui.core.errors import StoreError
from ktui.core.events import (
    BatchProgress,
    EpochEnded,
    EvaluationReady,
    EvaluationSkipped,
    Event,
    FinalStatus,
    InputTiming,
    LearningRateChanged,
    Listener,
    LogLine,
    PhaseChanged,
    RunFailed,
    RunFinished,
    RunStarted,
    SystemSampled,
)
from ktui.core.metrics import MetricPolicy
from ktui.core.presets import RunConfig
from ktui.store.db import EpochRecord, RunStore
from ktui.store.export import history_csv
from ktui.store.system import SystemRecorder

MAX_LOG_CHARS = 4_000_000
"""A run's log beyond this many characters is counted, not kept: a run that warns on
every batch must not fill the disk with the same line."""


def fan_out(*listeners: Listener) -> Listener:
    """One listener that passes each event to ``listeners`` in order.

    Put the recorder first: then the store has the final status before the display
    learns the run is over (and perhaps lets the process exit).
    """

    def listener(event: Event) -> None:
        for each in listeners:
            each(event)

    return listener


class RunRecorder:
    """Turns one run's events into store writes; thread-safe (events come from the
    training thread and, for log lines, from the stderr reader thread)."""

    def __init__(
        self,
        store: RunStore,
        preset: str,
        *,
        values: Mapping[str, Any] | None = None,
        defaults: Mapping[str, Any] | None = None,
        data: str = "",
        epochs: int | None = None,
        warn: Callable[[str], None] | None = None,
        run_id: int | None = None,
        data_source: str | None = None,
        policy: MetricPolicy | None = None,
    ) -> None:
        """Record a new run (status ``running``) at once; raises :class:`StoreError`.

        ``data_source`` is the data source as typed and ``policy`` the run's objective
        (see :meth:`RunStore.create_run`).

        With ``run_id``, record into that existing run instead and make this process
        its owner (:meth:`RunStore.adopt_run`): a detached run's row is created by the
        command that starts it, so it can print the id before the training starts.
        """
        self.store = store
        if run_id is None:
            self.run_id = store.create_run(
                preset,
                values=values,
                defaults=defaults,
                data=data,
                epochs=epochs,
                data_source=data_source,
                policy=policy,
            )
        else:
            store.adopt_run(run_id)
            self.run_id = run_id
        self.folder: Path = store.folder(self.run_id)
        """The run's folder: pass it as ``artifacts`` so ``model.keras`` is saved there."""
        self.warnings: list[str] = []
        """What could not be recorded, as messages for the user."""
        self.final: RunFinished | RunFailed | None = None
        self.end_as: FinalStatus | None = None
        """Set to ``"interrupted"`` when the process's terminal hung up and the run was
        stopped for that: its end is then recorded with this status, whatever the
        trainer reports (finished or stopped), with all its finished epochs."""
        self._warn = warn
        self._lock = threading.Lock()  # guards the log buffer and the counters
        self._write_lock = threading.Lock()  # keeps store writes in event order
        self._pending: list[str] = []
        self._log_chars = 0
        self._dropped = 0
        self._history: list[EpochRecord] = []
        self.system = SystemRecorder(store, self.run_id, on_error=self._problem)
        """Records the run's system samples and step timings (:mod:`ktui.store.system`)."""

    @classmethod
    def for_config(
        cls,
        store: RunStore,
        config: RunConfig,
        *,
        warn: Callable[[str], None] | None = None,
        run_id: int | None = None,
    ) -> RunRecorder:
        """A recorder for a run of ``config``, with its values and the preset's defaults
        (into the existing run ``run_id`` when given, see :class:`RunRecorder`)."""
        return cls(
            store,
            config.preset.name,
            values=config.values,
            defaults=config.preset.defaults(),
            data=config.data.describe(),
            epochs=config.epochs,
            warn=warn,
            run_id=run_id,
            data_source=config.source_text or None,
            policy=config.policy,
        )

    @property
    def artifacts(self) -> Path:
        """Same as :attr:`folder`."""
        return self.folder

    # -- the listener -----------------------------------------------------------------
    def __call__(self, event: Event) -> None:
        """Record ``event``; never raises (problems go to :attr:`warnings`)."""
        if isinstance(event, SystemSampled | InputTiming | RunFinished | RunFailed):
            self.system(event)  # samples come from the sampler's thread: not the lock below
            if isinstance(event, SystemSampled | InputTiming):
                return
        match event:
            case LogLine(text=text):
                self._buffer(text)
                return
            case LearningRateChanged() | EvaluationSkipped():
                if isinstance(event, EvaluationSkipped):
                    # For a person reading the log; the store keeps the reason as data.
                    self._buffer(f"ktui: no confusion matrix: {event.reason}")
                self._record_fact(event)
                return
            case PhaseChanged() | BatchProgress() | EvaluationReady():
                return  # progress and phases are not kept; predictions are in their file
            case RunStarted() | EpochEnded() | RunFinished() | RunFailed():
                pass
            case _:
                assert_never(event)
        if isinstance(event, RunFinished) and self.end_as is not None:
            event = replace(event, status=self.end_as)
        with self._write_lock:
            if self.final is not None:
                return
            try:
                self._record(event)
            except (StoreError, OSError) as exc:
                self._problem(f"could not record {_describe(event)} of run {self.run_id}: {exc}")
            if isinstance(event, RunFinished | RunFailed):
                self.final = event
                self._write_files()

    def _record_fact(self, event: LearningRateChanged | EvaluationSkipped) -> None:
        """A learning-rate change or a skipped evaluation: one row, written at once."""
        with self._write_lock:
            if self.final is not None:
                return
            try:
                if isinstance(event, EvaluationSkipped):
                    self.store.set_evaluation_skipped(self.run_id, event.reason)
                else:
                    self.store.add_learning_rate_change(
                        self.run_id,
                        epoch=event.epoch,
                        step=event.step,
                        before=event.previous,
                        after=None if event.failed else event.value,
                        source=event.source,
                        error=event.error,
                    )
            except (StoreError, OSError) as exc:
                what = (
                    "evaluation" if isinstance(event, EvaluationSkipped) else "learning-rate change"
                )
                self._problem(f"could not record the {what} of run {self.run_id}: {exc}")

    def _record(self, event: RunStarted | EpochEnded | RunFinished | RunFailed) -> None:
        store, run_id = self.store, self.run_id
        if isinstance(event, RunStarted):
            store.set_details(
                run_id,
                values=event.values,
                data=event.data,
                device=event.device,
                versions=event.versions,
                model=asdict(event.model),
                info={
                    "train_samples": event.train_samples,
                    "validation_samples": event.validation_samples,
                    "test_samples": event.test_samples,
                    "batch_size": event.batch_size,
                    "steps_per_epoch": event.steps_per_epoch,
                    "epochs": event.epochs,
                    "seed": event.seed,
                },
                epochs=event.epochs,
            )
            self._flush()
        elif isinstance(event, EpochEnded):
            record = EpochRecord(
                event.epoch,
                dict(event.metrics),
                event.learning_rate,
                event.seconds,
                event.samples_per_second,
            )
            self._history.append(record)
            lines = self._take()
            try:
                store.add_epoch(
                    run_id,
                    event.epoch,
                    event.metrics,
                    learning_rate=event.learning_rate,
                    seconds=event.seconds,
                    samples_per_second=event.samples_per_second,
                    log=lines,
                )
            except StoreError:
                self._give_back(lines)
                raise
        elif isinstance(event, RunFinished):
            store.finish_run(
                run_id,
                event.status,
                test_loss=event.test_loss,
                test_accuracy=event.test_accuracy,
                seconds=event.seconds,
                log=self._take(final=True),
                message=event.message,
            )
        else:
            store.fail_run(
                run_id,
                event.message,
                error_type=event.error_type,
                traceback=event.traceback,
                log=self._take(final=True),
            )

    # -- the log buffer -----------------------------------------------------------------
    def _buffer(self, line: str) -> None:
        with self._lock:
            if self._log_chars + len(line) + 1 > MAX_LOG_CHARS:
                self._dropped += 1
                return
            self._log_chars += len(line) + 1
            self._pending.append(line)

    def _take(self, *, final: bool = False) -> list[str]:
        with self._lock:
            lines, self._pending = self._pending, []
            if final and self._dropped:
                lines.append(
                    f"ktui: {self._dropped} more log line(s) were not kept "
                    f"(the log passed {MAX_LOG_CHARS:,} characters)"
                )
                self._dropped = 0
        return lines

    def _give_back(self, lines: list[str]) -> None:
        with self._lock:
            self._pending[:0] = lines

    def _flush(self) -> None:
        lines = self._take()
        try:
            self.store.append_log(self.run_id, lines)
        except StoreError:
            self._give_back(lines)
            raise

    @property
    def pending_lines(self) -> int:
        """How many log lines wait for the next write."""
        with self._lock:
            return len(self._pending)

    def flush(self) -> None:
        """Write the buffered log lines now (they are otherwise written with the next epoch)."""
        with self._write_lock:
            try:
                self._flush()
            except StoreError as exc:
                self._problem(f"could not record the log of run {self.run_id}: {exc}")

    def abandon(self) -> None:
        """Mark the run ``interrupted`` now, when its process gives up on it (quit mid-run).

        Without this the next ktui would find out from the dead process id; with it,
        the run is right at once. Does nothing after the run ended.
        """
        with self._write_lock:
            if self.final is not None:
                return
            try:
                self._flush()
                self.store.set_status(self.run_id, "interrupted")
            except StoreError as exc:
                self._problem(f"could not mark run {self.run_id} interrupted: {exc}")
            self._write_files()

    # -- the run folder -----------------------------------------------------------------
    def _write_files(self) -> None:
        """history.csv and log.txt beside the model; the store keeps both either way."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / "history.csv").write_text(history_csv(self._history), encoding="utf-8")
            lines = self.store.log(self.run_id)
            (self.folder / "log.txt").write_text(
                "".join(line + "\n" for line in lines), encoding="utf-8"
            )
        except (OSError, StoreError) as exc:
            self._problem(
                f"could not write the history and log files of run {self.run_id} into "
                f"{self.folder}: {exc}. They are kept in the store (ktui runs export)."
            )

    def _problem(self, text: str) -> None:
        message = f"ktui: {text}"
        self.warnings.append(message)
        if self._warn is not None:
            try:
                self._warn(message)
            except Exception:  # noqa: BLE001 - a broken display must not stop the record
                pass


def _describe(event: Event) -> str:
    if isinstance(event, EpochEnded):
        return f"epoch {event.epoch}"
    if isinstance(event, RunStarted):
        return "the start"
    return "the end"
