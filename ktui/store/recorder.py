"""Records a training run's event stream into the run store while it happens.

A :class:`RunRecorder` is a :data:`~ktui.core.events.Listener`: hand it (with the
display's listener, see :func:`fan_out`) to ``Trainer.run`` and pass
``artifacts=recorder.folder`` so the model is saved in the run's folder::

    recorder = RunRecorder.for_config(store, config)
    trainer.run(config, fan_out(recorder, show), controls, artifacts=recorder.folder)
    lost = recorder.close()  # waits (bounded) for the writes; says what is missing

Each epoch is written when it ends; log lines are buffered and written with the
next epoch (or the end), never one transaction per line. The training thread only
queues the writes: a :class:`~ktui.store.writer.StoreWriter` runs them in order on
its own thread and connection, and keeps retrying those that fail because the store
is locked or its disk is full, so a stuck store never stalls the training and never
drops an epoch. The first failure is said at once through ``warn`` (and kept in
:attr:`RunRecorder.warnings`); :meth:`RunRecorder.close` says exactly what could not
be kept. The recorder never raises into the training.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, assert_never

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
    WorkersReported,
)
from ktui.core.files import is_disk_full, make_private, private_dir, write_private
from ktui.core.metrics import MetricPolicy
from ktui.core.presets import RunConfig
from ktui.store.db import RunStore
from ktui.store.export import history_csv
from ktui.store.placement import record_placement
from ktui.store.records import EpochRecord
from ktui.store.system import SystemRecorder
from ktui.store.writer import WRITE_BUSY_TIMEOUT, StoreWriter

FINAL_WAIT = 1.0
"""Seconds the final event waits for the queued writes, so the store normally has the
run's end before the display learns of it; a stuck store costs no more than this."""

CLOSE_WAIT = 30.0
"""Seconds :meth:`RunRecorder.close` waits by default for writes a stuck store holds up."""

ABANDON_WAIT = 2.0
"""Seconds :meth:`RunRecorder.abandon` waits for the interrupted status to be written."""

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
        trainer reports (finished or stopped), with all its finished epochs; or to
        ``"pruned"`` when a sweep's pruner stopped the run, with :attr:`end_reason`."""
        self.end_reason = ""
        """Why the run ended as :attr:`end_as` (kept as the run's message), when set."""
        self.lost: list[str] = []
        """What :meth:`close` found could not be written to the store."""
        self._warn = warn
        self._lock = threading.Lock()  # guards the log buffer and the counters
        self._write_lock = threading.Lock()  # keeps store writes in event order
        self._pending: list[str] = []
        self._kept: list[str] = []  # every line handed to the store: log.txt is made of them
        self._log_chars = 0
        self._dropped = 0
        self._history: list[EpochRecord] = []
        # Its own connection with a short busy timeout: a failed try is just retried,
        # and this process's other users of ``store`` never wait behind it.
        self._writer = StoreWriter(
            store.path,
            busy_timeout=min(store.busy_timeout, WRITE_BUSY_TIMEOUT),
            warn=self._problem,
            label=f"run {self.run_id}",
        )
        self._closed = False
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
            case PhaseChanged() | BatchProgress() | EvaluationReady() | WorkersReported():
                # Progress and phases are not kept; predictions are in their file; the
                # workers keep their own rows.
                return
            case RunStarted() | EpochEnded() | RunFinished() | RunFailed():
                pass
            case _:
                assert_never(event)
        if isinstance(event, RunFinished) and self.end_as is not None:
            event = replace(event, status=self.end_as, message=self.end_reason or event.message)
        with self._write_lock:
            if self.final is not None:
                return
            try:
                self._record(event)
            except Exception as exc:  # noqa: BLE001 - the training must never see it
                self._problem(
                    f"ktui: could not record {_describe(event)} of run {self.run_id}: {exc}"
                )
            if isinstance(event, RunFinished | RunFailed):
                self.final = event
                self._write_files()
        if isinstance(event, RunFinished | RunFailed) and self._writer.wait(FINAL_WAIT):
            # Everything is written: the writer's thread and connection are done. (When
            # the store is stuck they stay, for the caller's bounded close().)
            self.close(0)

    def _record_fact(self, event: LearningRateChanged | EvaluationSkipped) -> None:
        """A learning-rate change or a skipped evaluation: one row, queued like the rest
        (the training thread never waits for the store)."""
        with self._write_lock:
            if self.final is not None:
                return
            run_id, submit = self.run_id, self._writer.submit
            try:
                if isinstance(event, EvaluationSkipped):
                    reason = event.reason
                    submit(
                        "the skipped evaluation",
                        lambda store: store.set_evaluation_skipped(run_id, reason),
                    )
                else:
                    change = event

                    def write(store: RunStore) -> None:
                        store.add_learning_rate_change(
                            run_id,
                            epoch=change.epoch,
                            step=change.step,
                            before=change.previous,
                            after=None if change.failed else change.value,
                            source=change.source,
                            error=change.error,
                        )

                    submit(
                        f"the learning-rate change at epoch {change.epoch}, step {change.step}",
                        write,
                    )
            except Exception as exc:  # noqa: BLE001 - the training must never see it
                what = (
                    "evaluation" if isinstance(event, EvaluationSkipped) else "learning-rate change"
                )
                self._problem(f"ktui: could not record the {what} of run {run_id}: {exc}")

    def _record(self, event: RunStarted | EpochEnded | RunFinished | RunFailed) -> None:
        """Queue the store write for ``event``; the writer's thread runs it."""
        run_id, submit = self.run_id, self._writer.submit
        if isinstance(event, RunStarted):
            info = {
                "train_samples": event.train_samples,
                "validation_samples": event.validation_samples,
                "test_samples": event.test_samples,
                "batch_size": event.batch_size,
                "steps_per_epoch": event.steps_per_epoch,
                "epochs": event.epochs,
                "seed": event.seed,
            }
            submit(
                "the start",
                lambda store: store.set_details(
                    run_id,
                    values=event.values,
                    data=event.data,
                    device=event.device,
                    versions=event.versions,
                    model=asdict(event.model),
                    info=info,
                    epochs=event.epochs,
                ),
            )
            placement = event.placement
            if placement is not None:
                submit("where it runs", lambda store: record_placement(store, run_id, placement))
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
            submit(
                f"epoch {event.epoch}",
                lambda store: store.add_epoch(
                    run_id,
                    event.epoch,
                    event.metrics,
                    learning_rate=event.learning_rate,
                    seconds=event.seconds,
                    samples_per_second=event.samples_per_second,
                    log=lines,
                ),
            )
        elif isinstance(event, RunFinished):
            lines = self._take(final=True)
            submit(
                "the end",
                lambda store: store.finish_run(
                    run_id,
                    event.status,
                    test_loss=event.test_loss,
                    test_accuracy=event.test_accuracy,
                    seconds=event.seconds,
                    log=lines,
                    message=event.message,
                ),
            )
        else:
            lines = self._take(final=True)
            submit(
                "the end",
                lambda store: store.fail_run(
                    run_id,
                    event.message,
                    error_type=event.error_type,
                    traceback=event.traceback,
                    log=lines,
                ),
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
            self._kept.extend(lines)
        return lines

    def _flush(self) -> None:
        lines = self._take()
        if lines:
            run_id = self.run_id
            self._writer.submit(
                f"{len(lines)} log line(s)", lambda store: store.append_log(run_id, lines)
            )

    @property
    def pending_lines(self) -> int:
        """How many log lines wait for the next write."""
        with self._lock:
            return len(self._pending)

    def flush(self) -> None:
        """Queue the buffered log lines now (they are otherwise written with the next epoch)."""
        with self._write_lock:
            self._flush()

    def abandon(self) -> None:
        """Mark the run ``interrupted`` now, when its process gives up on it (quit mid-run).

        Without this the next ktui would find out from the dead process id; with it,
        the run is right at once. Waits at most :data:`ABANDON_WAIT` seconds for the
        store. Does nothing after the run ended.
        """
        with self._write_lock:
            if self.final is not None:
                return
            self._flush()
            run_id = self.run_id
            self._writer.submit(
                "the interrupted status", lambda store: store.set_status(run_id, "interrupted")
            )
            self._write_files()
        self._writer.wait(ABANDON_WAIT)

    def update_model(self, model: dict[str, Any]) -> None:
        """Record a fuller model summary than the one the run started with (a model
        that Keras builds only at its first batch); queued like every other write."""
        run_id = self.run_id
        self._writer.submit("the model", lambda store: store.set_details(run_id, model=model))

    # -- the writes in flight -----------------------------------------------------------
    def wait(self, timeout: float = CLOSE_WAIT) -> bool:
        """Wait up to ``timeout`` seconds for the queued writes; True when all are done."""
        return self._writer.wait(timeout)

    @property
    def waiting(self) -> list[str]:
        """What is queued for the store and not written yet (``epoch 3``, ``the end``)."""
        return self._writer.pending

    @property
    def store_problem(self) -> str | None:
        """Why the store refuses writes right now (busy, disk full), else ``None``."""
        return self._writer.problem

    def close(self, timeout: float = CLOSE_WAIT) -> list[str]:
        """Wait up to ``timeout`` seconds for the queued writes, then stop the writer.

        Returns what could not be written (``["epoch 3", "the end"]``; empty when the
        store has everything), also kept in :attr:`lost`. When something is missing it
        is said once through ``warn``, with where the epochs still are. Idempotent.
        """
        if self._closed:
            return self.lost
        self._closed = True
        problem = self._writer.problem
        self.lost = lost = self._writer.close(timeout)
        if lost:
            why = f" ({problem})" if problem else ""
            history = self.folder / "history.csv"
            where = (
                f" Every finished epoch is in {history}."
                if self._history and FILES not in lost and history.exists()
                else ""
            )
            self._problem(
                f"ktui: run {self.run_id} is not completely recorded in {self.store.path}: "
                f"{describe_lost(lost)} could not be written{why}.{where}"
            )
        return lost

    # -- the run folder -----------------------------------------------------------------
    def _write_files(self) -> None:
        """history.csv and log.txt beside the model, made from what the recorder saw (so
        they are complete even when the store is not); then the folder is made
        owner-only, with what other code wrote there. Written now, not behind the store's
        queue; on a full disk they join the queue and are tried again."""
        folder, run_id = self.folder, self.run_id
        history = history_csv(self._history)
        with self._lock:
            log = "".join(line + "\n" for line in self._kept)

        def write(_store: RunStore) -> None:
            try:
                private_dir(folder)
                write_private(folder / "history.csv", history)
                write_private(folder / "log.txt", log)
            except OSError as exc:
                if is_disk_full(exc):
                    raise  # the writer tries again once there is space
                self._problem(
                    f"ktui: could not write the history and log files of run {run_id} into "
                    f"{folder}: {exc}. They are kept in the store (ktui runs export)."
                )
                return
            # The model, predictions and TensorBoard files were written by other code,
            # with the umask's modes: owner-only, like everything else of the run.
            make_private(folder)

        try:
            write(self.store)
        except OSError:
            self._writer.submit(FILES, write)

    def _problem(self, message: str) -> None:
        """Keep ``message`` (it starts with ``ktui:``) and pass it to ``warn``."""
        self.warnings.append(message)
        if self._warn is not None:
            try:
                self._warn(message)
            except Exception:  # noqa: BLE001 - a broken display must not stop the record
                pass


FILES = "history.csv and log.txt"
"""How the run folder's files are named in the list of what could not be written."""

_EPOCH = re.compile(r"epoch (\d+)")


def describe_lost(lost: list[str]) -> str:
    """``["epoch 3", "epoch 4", "epoch 5", "the end"]`` as ``epochs 3–5 and the end``."""
    epochs = sorted({int(m[1]) for what in lost if (m := _EPOCH.fullmatch(what))})
    parts: list[str] = []
    if epochs:
        spans: list[list[int]] = []
        for number in epochs:
            if spans and number == spans[-1][1] + 1:
                spans[-1][1] = number
            else:
                spans.append([number, number])
        text = ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in spans)
        parts.append(("epoch " if len(epochs) == 1 else "epochs ") + text)
    parts += [what for what in lost if not _EPOCH.fullmatch(what)]
    if len(parts) <= 1:
        return parts[0] if parts else "nothing"
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _describe(event: Event) -> str:
    if isinstance(event, EpochEnded):
        return f"epoch {event.epoch}"
    if isinstance(event, RunStarted):
        return "the start"
    return "the end"
