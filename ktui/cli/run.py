"""``ktui run``: train a preset with a rich progress display, or plain lines in a log.

Training runs in a background thread; the main thread draws the events and is the
one that receives Ctrl+C, which asks the run to stop after the current batch.

``ktui run --detach`` checks everything, records the run, and starts the training
in a process of its own session (no terminal: a dropped SSH connection does not
reach it) that writes its output to ``output.log`` in the run's folder. Every run
also polls the store for control commands (:class:`~ktui.store.CommandBridge`), so
another ktui can pause, stop or re-tune it.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from ktui.core import data as data_mod
from ktui.core.capture import STDERR
from ktui.core.controls import RunControls
from ktui.core.errors import KtuiError
from ktui.core.events import (
    BatchProgress,
    EpochEnded,
    Event,
    InputTiming,
    LearningRateChanged,
    LogLine,
    PhaseChanged,
    RunFailed,
    RunFinished,
    RunStarted,
    SystemSampled,
)
from ktui.core.format import epoch_line, format_count, format_metric, format_rate, result_line
from ktui.core.paths import logs_dir, store_path
from ktui.core.presets import PresetCatalog, RunConfig
from ktui.core.shapes import check_model
from ktui.core.system import SystemSample, compact_line
from ktui.core.trainer import Trainer
from ktui.store import CommandBridge, RunRecorder, RunStore, fan_out

#: Exit code of a run stopped because its terminal hung up (128 + SIGHUP).
HANGUP_EXIT = 129

#: Exit code of a run stopped by SIGTERM (128 + 15), as shells report a process it ended.
SIGTERM_EXIT = 128 + signal.SIGTERM

#: The file a detached run's output goes to, in its run folder.
OUTPUT_FILE = "output.log"


def prepare(
    catalog: PresetCatalog, name: str, assignments: Sequence[str], data: str | None
) -> RunConfig:
    """Everything that can be refused before TensorFlow is imported."""
    preset = catalog.get(name)
    values = preset.parse_assignments(assignments)
    config = preset.resolve(values, data=data)
    status = data_mod.locate(config.data)
    if status.state == "missing":
        raise KtuiError(
            status.message,
            hint="Put a .npz with x_train, y_train, x_test, y_test there, "
            "or pass --data PATH.npz (or random, mnist, fashion_mnist).",
        )
    # The layers against the data's shape, without TensorFlow (kernel_size = 28 on 28×28).
    check_model(config)
    return config


def check_tensorboard(wanted: bool) -> None:
    """Refuse ``--tensorboard`` before training when TensorBoard is not installed."""
    import importlib.util

    if wanted and importlib.util.find_spec("tensorboard") is None:
        raise KtuiError(
            "--tensorboard needs the tensorboard package, which is not installed",
            hint="Install it with `pip install tensorboard` "
            "(or `pip install 'ktui[tensorboard]'`).",
        )


def run_headless(
    catalog: PresetCatalog,
    name: str,
    assignments: Sequence[str],
    data: str | None,
    *,
    show_log: bool = False,
    trainer: Trainer | None = None,
    out: TextIO | None = None,
    store: Path | None = None,
    run_id: int | None = None,
    tensorboard: bool = False,
) -> int:
    """Run a preset to the end, drawing progress on ``out`` and recording it in the run
    store (``store``, else :func:`~ktui.core.paths.store_path`); returns the exit code.

    ``run_id`` makes this the training process of a detached run: it records into
    that run (created by :func:`start_detached`) and ignores hang-ups. Otherwise a
    hang-up (SIGHUP: the terminal or SSH session went away) stops the run after the
    current batch, like Ctrl+C, and records it ``interrupted`` with its epochs.
    """
    check_tensorboard(tensorboard)
    if run_id is not None:
        # No terminal to lose; a stray SIGHUP (kill -HUP to a process group) is not a stop.
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        config = prepare(catalog, name, assignments, data)
    except KtuiError as exc:
        if run_id is not None:  # the parent checked this; if it changed since, say so
            with contextlib.suppress(KtuiError), RunStore(store_path(store)) as runs:
                runs.adopt_run(run_id)
                runs.fail_run(run_id, str(exc), error_type=type(exc).__name__)
        raise
    # Before TensorFlow loads: a store that cannot be used stops the run right here.
    runs = RunStore(store_path(store))
    runs.mark_interrupted()
    recorder = RunRecorder.for_config(runs, config, run_id=run_id)
    log_path = logs_dir() / f"{datetime.now():%Y%m%d-%H%M%S}-{config.preset.name}.log"
    STDERR.start(log_path)
    out = out or sys.stdout
    display = HeadlessDisplay(Console(file=out, highlight=False), show_log=show_log)
    events: queue.Queue[Event] = queue.Queue()
    controls = RunControls()
    # Started before TensorFlow loads: the run can be followed and stopped from the start.
    bridge = CommandBridge(
        runs,
        recorder.run_id,
        controls,
        recorder=recorder,
        notify=fan_out(recorder, events.put),
        warn=lambda text: recorder(LogLine(text)),
    ).start()
    bridge(PhaseChanged("preparing data", "loading TensorFlow"))
    hung_up = False

    def on_hangup(signum: int, frame: object) -> None:
        nonlocal hung_up
        if hung_up:
            return
        hung_up = True
        recorder.end_as = "interrupted"
        display.mute()
        controls.stop()

    previous_hup = signal.signal(signal.SIGHUP, on_hangup) if run_id is None else None
    # Loading TensorFlow takes seconds; a SIGTERM meanwhile stops the run before it
    # trains (and is recorded) instead of killing the process with the run 'running'.
    signals: list[int] = []  # the signals that asked for a stop, for the exit code

    def on_early_term(signum: int, frame: object) -> None:
        signals.append(signum)
        controls.stop()

    previous_term = signal.signal(signal.SIGTERM, on_early_term)
    try:
        return _train(
            config,
            runs,
            recorder,
            bridge,
            controls,
            events,
            display,
            log_path,
            trainer,
            show_log,
            lambda: hung_up,
            tensorboard,
            signals,
        )
    finally:
        bridge.close()
        signal.signal(signal.SIGTERM, previous_term)
        if previous_hup is not None:
            signal.signal(signal.SIGHUP, previous_hup)


def _train(
    config: RunConfig,
    runs: RunStore,
    recorder: RunRecorder,
    bridge: CommandBridge,
    controls: RunControls,
    events: queue.Queue[Event],
    display: HeadlessDisplay,
    log_path: Path,
    trainer: Trainer | None,
    show_log: bool,
    hung_up: Callable[[], bool],
    tensorboard: bool = False,
    signals: list[int] | None = None,
) -> int:
    """The body of :func:`run_headless` once the run is recorded: train and draw."""
    if trainer is None:
        display.note("Loading TensorFlow…")
        try:
            from ktui.training.engine import KerasTrainer
        except ImportError as exc:
            recorder(RunFailed(f"TensorFlow could not be loaded: {exc}", "ImportError", ""))
            raise KtuiError(
                f"TensorFlow could not be loaded ({type(exc).__name__}: {exc})",
                hint=f"Install it with `pip install tensorflow`; details are in {log_path}.",
            ) from None

        trainer = KerasTrainer(tensorboard=tensorboard)

    worker = threading.Thread(
        target=trainer.run,
        # The recorder first: the run's end is committed before the loop below sees it.
        args=(config, fan_out(recorder, bridge, events.put), controls),
        kwargs={"artifacts": recorder.folder},
        name="ktui-train",
        daemon=True,
    )
    for line in STDERR.lines():  # what loading TensorFlow wrote belongs to the run's log
        recorder(LogLine(line))
    # Ctrl+C, and SIGTERM (a batch system ending the job), stop after the current batch;
    # a second one quits at once. The handler only asks: a KeyboardInterrupt landing in
    # the middle of drawing would skip the stop and lose what the run reached.
    interrupts = 0
    signals = [] if signals is None else signals

    def on_signal(signum: int, frame: object) -> None:
        nonlocal interrupts
        interrupts += 1
        signals.append(signum)
        if interrupts > 1:
            raise KeyboardInterrupt
        display.announced_stop = True  # the loop below says it, with how to quit now
        controls.stop()

    previous_term = signal.signal(signal.SIGTERM, on_signal)
    previous_int = signal.signal(signal.SIGINT, on_signal)
    worker.start()
    final: Event | None = None
    announced = False
    try:
        while final is None:
            if interrupts and not announced and not hung_up():
                announced = True
                display.note("Stopping after the current batch… (Ctrl+C again to quit now)")
            try:
                event = events.get(timeout=0.2)
            except queue.Empty:
                if not worker.is_alive() and events.empty():
                    # Trainer.run never raises; if it did, the traceback is in the log.
                    event = RunFailed(
                        message="the training thread ended without a result "
                        f"(a bug in ktui; see {log_path})",
                        error_type="RuntimeError",
                        traceback="",
                    )
                    recorder(event)
                else:
                    continue
            try:
                display.show(event)
            except OSError:
                if not hung_up():
                    raise  # else: the terminal went away while drawing; draw no more
            if isinstance(event, RunFinished | RunFailed):
                final = event
    except KeyboardInterrupt:
        recorder.abandon()  # recorded as interrupted now, with its finished epochs
        display.note("Stopped at once; the current epoch is lost.")
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)
        with contextlib.suppress(OSError):
            display.close()
    if STDERR.line_count and not show_log:
        display.note(
            f"TensorFlow wrote {STDERR.line_count} line(s); they are in {log_path} "
            "(run with --log to see them)."
        )
    for warning in recorder.warnings:
        display.note(warning)
    display.note(
        f"Recorded as run {recorder.run_id} in {runs.path} (ktui runs show {recorder.run_id})."
    )
    bridge.close()
    runs.close()
    if hung_up():
        return HANGUP_EXIT
    return exit_code(final, signals[0] if signals else None)


def exit_code(final: Event | None, stopped_by: int | None = None) -> int:
    """``ktui run``'s exit code: 0 finished, 1 failed, 130 stopped (by Ctrl+C or from
    another ktui), 143 stopped by SIGTERM (``stopped_by``), 129 interrupted by a hang-up.

    Errors found before training (a bad preset, ``--set`` or data path) exit with 2
    from :func:`ktui.cli.main`.
    """
    if isinstance(final, RunFinished):
        if final.status == "stopped" and stopped_by == signal.SIGTERM:
            return SIGTERM_EXIT
        return {"finished": 0, "interrupted": HANGUP_EXIT}.get(final.status, 130)
    return 1


def start_detached(
    catalog: PresetCatalog,
    name: str,
    assignments: Sequence[str],
    data: str | None,
    *,
    store: Path | None = None,
    presets: Sequence[Path] = (),
    show_log: bool = False,
    tensorboard: bool = False,
    out: TextIO | None = None,
) -> int:
    """``ktui run --detach``: check everything, record the run, start its training in
    a process of its own session, print the run id and return at once (exit code 0).

    Everything that ``ktui run`` refuses is refused here, before any process starts.
    The training process (``ktui run ... --run-id N``) has no terminal: its stdin is
    ``/dev/null`` and its output goes to ``output.log`` in the run's folder.
    """
    config = prepare(catalog, name, assignments, data)
    check_tensorboard(tensorboard)
    path = store_path(store).resolve()
    run_id, pid, output = launch_detached(
        config,
        assignments,
        data,
        store=path,
        presets=presets,
        show_log=show_log,
        tensorboard=tensorboard,
    )
    store_option = f" --store {path}" if store is not None else ""
    print(
        f"Started run {run_id} in the background (pid {pid}). "
        f"Follow it with `ktui{store_option} attach {run_id}`; its output goes to {output}.",
        file=out or sys.stdout,
    )
    return 0


def launch_detached(
    config: RunConfig,
    assignments: Sequence[str],
    data: str | None,
    *,
    store: Path,
    presets: Sequence[Path] = (),
    show_log: bool = False,
    tensorboard: bool = False,
    env: Mapping[str, str] | None = None,
) -> tuple[int, int, Path]:
    """Record a run of ``config`` and start its training process in a session of its
    own; returns (run id, pid, the file its output goes to). Used by ``ktui run
    --detach`` and by the dashboard's "start in background". ``env`` is added to the
    process's environment (``CUDA_VISIBLE_DEVICES`` of the form's devices)."""
    # The preset's own file, so the child finds exactly this preset wherever it lives.
    source = Path(config.preset.source)
    name = str(source.resolve()) if source.is_file() else config.preset.name
    path = store
    runs = RunStore(path)
    try:
        runs.mark_interrupted()
        run_id = runs.create_run(
            config.preset.name,
            values=config.values,
            defaults=config.preset.defaults(),
            data=config.data.describe(),
            epochs=config.epochs,
        )
        output = runs.folder(run_id) / OUTPUT_FILE
        argv = [sys.executable, "-m", "ktui", "--store", str(path)]
        for folder in presets:
            argv += ["--presets", str(Path(folder).resolve())]
        argv += ["run", name]
        for assignment in assignments:
            argv += ["--set", assignment]
        if data is not None:
            argv += ["--data", data]
        if show_log:
            argv.append("--log")
        if tensorboard:
            argv.append("--tensorboard")
        argv += ["--run-id", str(run_id)]
        try:
            fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                child = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=fd,
                    stderr=fd,
                    # Its own session: no controlling terminal, not in the shell's
                    # process group, so neither a hang-up nor Ctrl+C here reaches it.
                    start_new_session=True,
                    close_fds=True,
                    env={**os.environ, **env} if env else None,
                )
            finally:
                os.close(fd)
        except OSError as exc:
            runs.fail_run(
                run_id, f"could not start the training process: {exc}", error_type="OSError"
            )
            raise KtuiError(f"could not start a background run: {exc}") from None
        # The row names the training process from now on, so it is followed (and, if
        # it dies, marked interrupted) by its own pid, not this short-lived one's.
        runs.adopt_run(run_id, pid=child.pid)
    finally:
        runs.close()
    return run_id, child.pid, output


class HeadlessDisplay:
    """Draws a run's events: a live bar on a terminal, one plain line per epoch otherwise."""

    def __init__(self, console: Console, *, show_log: bool = False) -> None:
        self.console = console
        self.muted = False
        """The terminal is gone: nothing more is drawn (see :meth:`mute`)."""
        self.announced_stop = False
        self._paused = False
        self.live = console.is_terminal and not console.is_dumb_terminal
        if not console.is_terminal:
            # Plain lines for a log file or a pipe: never wrapped at rich's 80 columns.
            console.soft_wrap = True
        self.show_log = show_log
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._epochs = 0
        self._started = time.monotonic()
        self._sample: SystemSample | None = None
        self._noted_gpu = False
        """The newest system sample (set from the sampler's thread; read per epoch)."""

    def mute(self) -> None:
        """The terminal hung up: draw nothing more (called from a signal handler).

        Output that would go to the terminal goes to ``/dev/null`` instead: a write to
        a hung-up terminal fails, and Python would even fail its exit flushing it.
        """
        self.muted = True
        STDERR.lose_terminal()
        with contextlib.suppress(Exception):
            fileno = self.console.file.fileno()
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, fileno)
            os.close(null)

    def note(self, text: str) -> None:
        """A line of ktui's own, between the epoch lines."""
        # markup=False: notes carry paths and messages, whose [brackets] are not markup.
        self.console.print(text, style="dim" if self.live else None, markup=False)

    def show(self, event: Event) -> None:
        """Draw one event."""
        if isinstance(event, SystemSampled):
            self._sample = event.sample  # drawn with the epoch's line, never mid-bar
            return
        if isinstance(event, InputTiming):
            self._system_line(event)
        elif isinstance(event, PhaseChanged):
            if event.phase == "running" and self._paused:
                self.note("Resumed.")  # a pause and resume from another ktui
            self._paused = event.phase == "paused"
            if event.phase in ("preparing data", "building model", "evaluating", "paused"):
                detail = f": {event.detail}" if event.detail else ""
                self.note(f"{event.phase.capitalize()}{detail}…")
            elif event.phase == "stopping" and not self.announced_stop:
                # A stop from elsewhere: another ktui, or a SIGTERM to a detached run.
                self.announced_stop = True
                self.note(f"Stopping {event.detail or 'after the current batch'}…")
        elif isinstance(event, RunStarted):
            self._started_run(event)
        elif isinstance(event, BatchProgress):
            if self._progress is not None and self._task is not None:
                loss = event.logs.get("loss")
                self._progress.update(
                    self._task,
                    completed=event.step,
                    total=event.steps,
                    description=f"Epoch {event.epoch}/{self._epochs}",
                    rate=format_rate(event.samples_per_second),
                    loss="" if loss is None else f"loss {format_metric(loss)}",
                )
        elif isinstance(event, EpochEnded):
            self._print(epoch_line(event))
            if self._progress is not None and self._task is not None:
                self._progress.reset(
                    self._task, description=f"Epoch {event.epoch + 1}/{self._epochs}"
                )
        elif isinstance(event, LearningRateChanged):
            if event.value != event.value:  # NaN: the change could not be made
                self.note(f"Could not change the learning rate: {event.error}")
            else:
                self.note(
                    f"Learning rate set to {event.value:g} at epoch {event.epoch}, "
                    f"step {event.step}"
                )
        elif isinstance(event, LogLine):
            if self.show_log:
                self._print(f"[tf] {event.text}", style="dim")
        elif isinstance(event, RunFinished):
            self.close()
            if event.status == "stopped":
                self.note(f"Stopped after {event.epochs_completed} epoch(s).")
            elif event.status == "interrupted":
                self.note(f"Interrupted after {event.epochs_completed} epoch(s).")
            self.console.print(
                result_line(event), style="bold" if self.live else None, markup=False
            )
        elif isinstance(event, RunFailed):
            self.close()
            if self.muted:
                for line in event.traceback.splitlines():
                    STDERR.write_line(line)
                return
            err = Console(file=STDERR.terminal, highlight=False, soft_wrap=True)
            err.print(f"ktui: training failed: {event.message}", markup=False)
            if event.traceback:
                where = STDERR.log_path or "the log"
                err.print(
                    f"(the traceback is in {where}; this is a bug in ktui or the model)",
                    markup=False,
                )
                for line in event.traceback.splitlines():
                    STDERR.write_line(line)

    def _system_line(self, event: InputTiming) -> None:
        """After each epoch: ``  system: CPU 187% | RSS 1.2 GiB | … | data wait 3%``,
        and the input-bound line when there is one. Plain text, also in a log file."""
        sample = self._sample
        if sample is not None and sample.gpu_note and not self._noted_gpu:
            self._noted_gpu = True
            self._print(f"  system: {sample.gpu_note}", style="dim")
        parts = [compact_line(sample)] if sample is not None else []
        share = event.timing.waiting_share
        if share is not None:
            parts.append(f"data wait {share * 100:.0f}%")
        if parts:
            self._print("  system: " + " | ".join(p for p in parts if p), style="dim")
        if event.verdict is not None:
            self._print(f"  {event.verdict}", style="bold yellow" if self.live else None)

    def close(self) -> None:
        """Remove the live bar (idempotent)."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def _print(self, text: str, style: str | None = None) -> None:
        if self._progress is not None:
            self._progress.console.print(text, style=style, markup=False)
        else:
            self.console.print(text, style=style, markup=False)

    def _started_run(self, event: RunStarted) -> None:
        self._epochs = event.epochs
        values = ", ".join(f"{k}={v}" for k, v in event.values.items())
        title = Text(event.preset, style="bold" if self.live else "")
        title.append(f" on {event.data} · {event.device}")
        self.console.print(title)
        self.console.print(values, markup=False, style="dim" if self.live else None)
        if self.live:
            table = Table(box=None, header_style="bold", pad_edge=False)
            table.add_column("layer")
            table.add_column("output shape")
            table.add_column("params", justify="right")
            for layer in event.model.layers:
                table.add_row(
                    f"{layer.name} ({layer.kind})", layer.output_shape, f"{layer.params:,}"
                )
            self.console.print(table)
        self.console.print(
            f"{event.model.total_params:,} parameters · {format_count(event.train_samples)}"
            f" training samples · batch {format_count(event.batch_size)}"
            f" → {event.steps_per_epoch} steps per epoch"
            f" · {event.epochs} epochs",
            markup=False,
        )
        if self.live:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[loss]}"),
                TextColumn("{task.fields[rate]}", style="dim"),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self._task = self._progress.add_task(
                f"Epoch 1/{event.epochs}", total=event.steps_per_epoch, loss="", rate=""
            )
            self._progress.start()
