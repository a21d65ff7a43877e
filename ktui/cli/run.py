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
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TextIO, assert_never

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

from ktui.core import backends
from ktui.core import data as data_mod
from ktui.core.capture import STDERR
from ktui.core.controls import RunControls
from ktui.core.distribute import (
    Cluster,
    WorkerReport,
    cluster_from_environment,
    health_line,
    parse_tf_config,
    per_replica_text,
)
from ktui.core.errors import KtuiError
from ktui.core.events import (
    BatchProgress,
    EpochEnded,
    EvaluationReady,
    EvaluationSkipped,
    Event,
    InputTiming,
    LearningRateChanged,
    LogLine,
    PhaseChanged,
    RunFailed,
    RunFinished,
    RunStarted,
    SystemSampled,
    WorkersReported,
)
from ktui.core.files import is_complete_model
from ktui.core.format import epoch_line, format_count, format_metric, format_rate, result_line
from ktui.core.paths import logs_dir, store_path
from ktui.core.presets import PresetCatalog, RunConfig
from ktui.core.shapes import check_model
from ktui.core.store_url import StoreLocation
from ktui.core.system import SystemSample, compact_line
from ktui.core.trainer import Trainer
from ktui.runs import (
    RecordedRun,
    StopOnSignals,
    assignments,
    ignoring_hangups,
    launch_detached,
    plan_recorded,
    record_run,
)
from ktui.store import RunStore, fan_out
from ktui.store.placement import WorkerBeat, clear_workers
from ktui.store.recorder import CLOSE_WAIT, RunRecorder, describe_lost

#: Exit code of a run stopped because its terminal hung up (128 + SIGHUP).
HANGUP_EXIT = 129

#: Exit code of a run that trained but could not be kept whole (store or disk trouble).
INCOMPLETE_EXIT = 4

#: Exit code of a run stopped by SIGTERM (128 + 15), as shells report a process it ended.
SIGTERM_EXIT = 128 + signal.SIGTERM
#: ``ktui run``'s exit code for a run whose loss became NaN or infinite (recorded
#: ``diverged``): not a failure of ktui (1) nor a refusal (2), and no signal's 128 + N.
DIVERGED_EXIT = 3

#: Seconds the display waits for an epoch to be in the store before printing it, so a
#: printed epoch is a stored one (it normally takes a millisecond; a stuck store was
#: already reported, and the line is printed anyway).
EPOCH_PRINT_WAIT = 0.5


def prepare(
    catalog: PresetCatalog,
    name: str,
    assignments: Sequence[str],
    data: str | None,
    backend: str | None = None,
    strategy: str | None = None,
    seed: int | None = None,
) -> RunConfig:
    """Everything that can be refused before Keras is imported (``backend``: ``--backend``;
    a backend that is not installed is refused here, with how to install it; ``strategy``:
    ``--strategy``, whose ``TF_CONFIG`` and port are checked here; ``seed``: a re-run's
    recorded seed, over the preset's)."""
    preset = catalog.get(name)
    values = preset.parse_assignments(assignments)
    config = preset.resolve(values, data=data, backend=backend, strategy=strategy)
    if seed is not None:
        config = replace(config, seed=seed)
    return check_config(config, from_option=backend is not None)


def check_config(config: RunConfig, *, from_option: bool = False) -> RunConfig:
    """Refuse ``config`` (a :class:`KtuiError` saying what to do) for what would fail
    once Keras loads: a backend not installed (``from_option``: it came from
    ``--backend``), a strategy the backend lacks, a ``TF_CONFIG`` that is malformed or
    names a port in use, data that is missing, layers that do not fit the data."""
    choice = backend_choice(config, from_option=from_option)
    backends.require(choice)
    if config.strategy != "auto" and choice.name == "torch":
        raise KtuiError(
            f"the {config.strategy} strategy is not available on the PyTorch backend "
            "(Keras distributes only TensorFlow and JAX)",
            hint="Use --backend tensorflow or --backend jax, or --strategy auto.",
        )
    if config.strategy == "multiworker":
        cluster_from_environment()  # a malformed TF_CONFIG or a taken port: said now
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


def backend_choice(config: RunConfig, *, from_option: bool = False) -> backends.BackendChoice:
    """The backend ``config`` runs on: ``--backend`` (``from_option``), the preset's
    ``backend`` key, else Keras's own setting or the first installed."""
    source = "--backend" if from_option else f"{config.preset.source}: backend"
    return backends.choose(config.backend, source=source)


def check_tensorboard(wanted: bool) -> None:
    """Refuse ``--tensorboard`` before training when TensorBoard is not installed."""
    import importlib.util

    # tensorboardX writes the event files on every backend (tf.summary needs TensorFlow).
    if wanted and importlib.util.find_spec("tensorboardX") is None:
        raise KtuiError(
            "--tensorboard needs the tensorboardX package, which is not installed",
            hint="Install it with `pip install tensorboardX` "
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
    store: StoreLocation | str | None = None,
    run_id: int | None = None,
    tensorboard: bool = False,
    backend: str | None = None,
    strategy: str | None = None,
    config: RunConfig | None = None,
    seed: int | None = None,
) -> int:
    """Run a preset to the end, drawing progress on ``out`` and recording it in the run
    store (``store``, else :func:`~ktui.core.paths.store_path`); returns the exit code.
    ``config`` (a re-run's, already checked) is run instead of resolving ``name``.

    ``run_id`` makes this the training process of a detached run: it records into
    that run (created by :func:`~ktui.runs.launch_detached`) and ignores hang-ups.
    Otherwise a hang-up (SIGHUP: the terminal or SSH session went away) stops the run
    after the current batch, like Ctrl+C, and records it ``interrupted`` with its epochs.
    """
    check_tensorboard(tensorboard)
    with ignoring_hangups() if run_id is not None else contextlib.nullcontext():
        try:
            if config is None:
                config = prepare(catalog, name, assignments, data, backend, strategy, seed)
        except KtuiError as exc:
            if run_id is not None:  # the parent checked this; if it changed since, say so
                with contextlib.suppress(KtuiError), RunStore(store_path(store)) as runs:
                    runs.adopt_run(run_id)
                    runs.fail_run(run_id, str(exc), error_type=type(exc).__name__)
            raise
        # Before TensorFlow loads: a store that cannot be used stops the run right here.
        runs = RunStore(store_path(store))
        runs.mark_interrupted()
        log_path = logs_dir() / f"{datetime.now():%Y%m%d-%H%M%S}-{config.preset.name}.log"
        display = HeadlessDisplay(
            Console(file=out or sys.stdout, highlight=False), show_log=show_log
        )
        cluster = (
            parse_tf_config(os.environ.get("TF_CONFIG"))
            if config.strategy == "multiworker"
            else None
        )
        if cluster is not None and not cluster.is_chief:
            # Only the chief records the run: this worker trains, shows and reports.
            runs.close()
            return _run_worker(config, cluster, store, display, log_path, trainer, show_log)
        events: queue.Queue[Event] = queue.Queue()
        controls = RunControls()
        # Store trouble met while training is said at once, between the epoch lines.
        notices: queue.Queue[str] = queue.Queue()

        def say_notices() -> None:
            while not notices.empty():
                with contextlib.suppress(OSError):
                    display.note(notices.get_nowait())

        beat: WorkerBeat | None = None
        if cluster is not None:
            clear_workers(runs, cluster.key)  # a former run of this cluster starts afresh
            beat = WorkerBeat(
                runs.path,
                cluster.key,
                cluster.rank,
                on_dead=lambda report: worker_died(report),
                warn=notices.put,
            )
            display.health = lambda: health_line(beat.reports, cluster.size) if beat else ""
        recorded = record_run(
            runs,
            config,
            controls,
            display=events.put if beat is None else fan_out(events.put, beat),
            run_id=run_id,
            warn=notices.put,
        )

        def worker_died(report: WorkerReport) -> None:
            assert cluster is not None
            failure = _dead_worker_failure(cluster, report)
            recorded.recorder(failure)  # the store first: the display may end the process
            events.put(failure)

        if beat is not None:
            beat.start()
        STDERR.start(log_path)

        def hang_up() -> None:
            recorded.hang_up()
            display.mute()

        # From before TensorFlow loads to the end: Ctrl+C or SIGTERM while it loads stops
        # the run (recorded stopped, 0 epochs, no model) instead of killing the process
        # with the run left 'running'; a second one quits at once.
        signals = StopOnSignals(
            controls,
            on_stop=lambda: setattr(display, "announced_stop", True),
            hang_up=hang_up if run_id is None else None,
        )
        try:
            with signals:
                # Started before TensorFlow loads: the run can be followed and stopped now.
                recorded.bridge(PhaseChanged("preparing data", "loading Keras"))
                return _train(
                    config,
                    runs,
                    recorded,
                    events,
                    display,
                    log_path,
                    trainer,
                    show_log,
                    signals,
                    say_notices,
                    tensorboard,
                )
        except KeyboardInterrupt:
            recorded.abandon()  # recorded as interrupted now, with its finished epochs
            with contextlib.suppress(OSError):
                display.close()
                display.note("Stopped at once; the current epoch is lost.")
            # Bounded: quitting now must not wait long for a stuck store; what it could
            # not take is said.
            recorded.close(timeout=1.0)
            say_notices()
            return 130
        finally:
            recorded.close()
            if beat is not None:
                beat.close()


#: ``RunFailed.error_type`` of a run that lost a worker (see :func:`_dead_worker_failure`).
WORKER_LOST = "WorkerLost"


def _dead_worker_failure(cluster: Cluster, report: WorkerReport) -> RunFailed:
    """The run's end when another worker of its cluster is gone: it names the worker."""
    return RunFailed(
        message=f"worker {cluster.describe(report.rank)} on {report.host} (pid {report.pid}) "
        f"stopped reporting {report.age():.0f} s ago at epoch {report.epoch}, step "
        f"{report.step}: its process ended or its host is unreachable. The other workers "
        "would wait for it forever, so the run ends here; restart every worker to run again",
        error_type=WORKER_LOST,
        traceback="",
    )


def _run_worker(
    config: RunConfig,
    cluster: Cluster,
    store: StoreLocation | str | None,
    display: HeadlessDisplay,
    log_path: Path,
    trainer: Trainer | None,
    show_log: bool,
) -> int:
    """A worker of a multi-worker run that is not its chief: it trains its part and
    draws it, reports its step to the store (:class:`WorkerBeat`) and records nothing
    else — the chief records the run. Its stop (Ctrl+C) is agreed on with the others."""
    events: queue.Queue[Event] = queue.Queue()
    controls = RunControls()
    beat = WorkerBeat(
        store_path(store),
        cluster.key,
        cluster.rank,
        on_dead=lambda report: events.put(_dead_worker_failure(cluster, report)),
        warn=lambda text: events.put(LogLine(text)),
    )
    display.health = lambda: health_line(beat.reports, cluster.size)
    listener = fan_out(events.put, beat)
    display.note(f"Worker {cluster.describe()}: the chief (w0) records the run.")
    final: Event | None = None
    with StopOnSignals(controls) as signals:
        beat.start()
        try:
            STDERR.start(log_path)  # before TensorFlow loads: its lines go to the log
            if trainer is None:
                name = backends.activate(backend_choice(config)).name
                display.note(f"Loading Keras ({name})…")
                from ktui.training.engine import KerasTrainer

                trainer = KerasTrainer()
            worker = threading.Thread(
                target=trainer.run, args=(config, listener, controls), daemon=True
            )
            worker.start()
            while final is None:
                try:
                    event = events.get(timeout=0.2)
                except queue.Empty:
                    if not worker.is_alive() and events.empty():
                        final = RunFailed("the training thread ended without a result", "", "")
                        display.show(final)
                    continue
                if isinstance(event, LogLine) and event.text.startswith("ktui:"):
                    display.note(event.text)
                    continue
                display.show(event)
                if isinstance(event, RunFinished | RunFailed):
                    final = event
        finally:
            beat.close()
            display.close()
    if isinstance(final, RunFailed) and final.error_type == WORKER_LOST:
        _leave_now(1)
    return exit_code(final, signals.received[0] if signals.received else None)


def _leave_now(code: int) -> None:
    """End the process now: its training thread waits in a collective for a worker that
    is gone, and would hold the interpreter's exit (TensorFlow joins its threads)."""
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def _train(
    config: RunConfig,
    runs: RunStore,
    recorded: RecordedRun,
    events: queue.Queue[Event],
    display: HeadlessDisplay,
    log_path: Path,
    trainer: Trainer | None,
    show_log: bool,
    signals: StopOnSignals,
    say_notices: Callable[[], None],
    tensorboard: bool = False,
) -> int:
    """The body of :func:`run_headless` once the run is recorded: train and draw."""
    recorder = recorded.recorder
    # Keras's trainer saves model.keras into the run's folder; another one may not.
    saves_model = trainer is None
    if trainer is None:
        # Keras reads KERAS_BACKEND once, at its import: set it first.
        backend = backends.activate(backend_choice(config)).name
        display.note(f"Loading Keras ({backend})…")
        try:
            from ktui.training.engine import KerasTrainer
        except ImportError as exc:
            message = f"Keras could not be loaded with the {backend} backend"
            recorder(RunFailed(f"{message}: {exc}", "ImportError", ""))
            raise KtuiError(
                f"{message} ({type(exc).__name__}: {exc})",
                hint=f"{backends.install_hint(backend)} Details are in {log_path}.",
            ) from None

        trainer = KerasTrainer(tensorboard=tensorboard)

    worker = threading.Thread(
        target=recorded.train, args=(config, trainer), name="ktui-train", daemon=True
    )
    for line in STDERR.lines():  # what loading TensorFlow wrote belongs to the run's log
        recorder(LogLine(line))
    worker.start()
    final: Event | None = None
    announced = False
    try:
        while final is None:
            if signals.count and not announced and not signals.hung_up:
                announced = True
                display.note("Stopping after the current batch… (Ctrl+C again to quit now)")
            say_notices()
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
            if isinstance(event, EpochEnded):
                recorder.wait(EPOCH_PRINT_WAIT)
                say_notices()
            try:
                display.show(event)
            except OSError:
                if not signals.hung_up:
                    raise  # else: the terminal went away while drawing; draw no more
            if isinstance(event, RunFinished | RunFailed):
                final = event
    finally:
        with contextlib.suppress(OSError):
            display.close()
    if STDERR.line_count and not show_log:
        display.note(
            f"{backends.writer(backends.current())} wrote {STDERR.line_count} line(s); "
            f"they are in {log_path} "
            "(run with --log to see them)."
        )
    lost = _keep(recorder, final, display, say_notices, saves_model=saves_model)
    if lost:
        display.note(
            f"Recorded in part as run {recorder.run_id} in {runs.path} "
            f"(ktui runs show {recorder.run_id})."
        )
    else:
        display.note(
            f"Recorded as run {recorder.run_id} in {runs.path} (ktui runs show {recorder.run_id})."
        )
    recorded.close()
    runs.close()
    if isinstance(final, RunFailed) and final.error_type == WORKER_LOST:
        _leave_now(1)  # the store has the run's end (recorded.close() waited for it)
    if signals.hung_up:
        return HANGUP_EXIT
    code = exit_code(final, signals.received[0] if signals.received else None)
    return INCOMPLETE_EXIT if lost and code == 0 else code


def _keep(
    recorder: RunRecorder,
    final: Event | None,
    display: HeadlessDisplay,
    say: Callable[[], None],
    *,
    saves_model: bool,
) -> list[str]:
    """Wait (bounded) for the store to take the run's last writes; say what is missing
    (store writes, and a model that should have been saved); returns it."""
    say()
    waiting = [] if recorder.wait(1.0) else recorder.waiting
    if waiting:
        problem = recorder.store_problem
        display.note(
            f"Waiting up to {CLOSE_WAIT:g} s for the run store to take "
            f"{describe_lost(waiting)}" + (f" ({problem})…" if problem else "…")
        )
    lost = list(recorder.close(CLOSE_WAIT))
    say()
    model = recorder.folder / "model.keras"
    if (
        saves_model
        and isinstance(final, RunFinished)
        and final.epochs_completed > 0
        and not is_complete_model(model)
    ):
        lost.append("model.keras")
        display.note(
            f"ktui: the trained model could not be saved to {model} "
            "(the run's log says why; a full disk is the usual cause)."
        )
    return lost


def exit_code(final: Event | None, stopped_by: int | None = None) -> int:
    """``ktui run``'s exit code: 0 finished, 1 failed, 130 stopped (by Ctrl+C or from
    another ktui), 143 stopped by SIGTERM (``stopped_by``), 129 interrupted by a hang-up,
    3 stopped because the loss diverged, 0 for a sweep's trial its pruner stopped. A run
    that finished but could not be kept whole
    (epochs or its end not in the store, the model not saved) exits with
    :data:`INCOMPLETE_EXIT` instead of 0 (see :func:`_train`).

    Errors found before training (a bad preset, ``--set`` or data path) exit with 2
    from :func:`ktui.cli.main`.
    """
    if isinstance(final, RunFinished):
        if final.status == "stopped" and stopped_by == signal.SIGTERM:
            return SIGTERM_EXIT
        # A pruned trial ended where its sweep wanted it to: a success for the sweep.
        return {
            "finished": 0,
            "pruned": 0,
            "interrupted": HANGUP_EXIT,
            "diverged": DIVERGED_EXIT,
        }.get(final.status, 130)
    return 1


def start_detached(
    catalog: PresetCatalog,
    name: str,
    assignments: Sequence[str],
    data: str | None,
    *,
    store: StoreLocation | str | None = None,
    presets: Sequence[Path] = (),
    show_log: bool = False,
    tensorboard: bool = False,
    out: TextIO | None = None,
    backend: str | None = None,
    strategy: str | None = None,
    config: RunConfig | None = None,
) -> int:
    """``ktui run --detach``: check everything, record the run, start its training in
    a process of its own session, print the run id and return at once (exit code 0).

    Everything that ``ktui run`` refuses is refused here, before any process starts.
    The training process (``ktui run ... --run-id N``) has no terminal: its stdin is
    ``/dev/null`` and its output goes to ``output.log`` in the run's folder.
    ``config`` (a re-run's, already checked; ``assignments`` are its values) is
    started instead of resolving ``name``.
    """
    if config is None:
        config = prepare(catalog, name, assignments, data, backend, strategy)
    check_tensorboard(tensorboard)
    path = store_path(store).resolve()
    started = launch_detached(
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
        f"Started run {started.run_id} in the background (pid {started.pid}). "
        f"Follow it with `ktui{store_option} attach {started.run_id}`; "
        f"its output goes to {started.output}.",
        file=out or sys.stdout,
    )
    return 0


def rerun_command(
    catalog: PresetCatalog,
    id_text: str,
    overrides: Sequence[str],
    *,
    store: StoreLocation | str | None = None,
    presets: Sequence[Path] = (),
    detach: bool = False,
    show_log: bool = False,
    out: TextIO | None = None,
) -> int:
    """``ktui runs rerun ID``: train recorded run ``ID`` again as ``ktui run`` would —
    its values (``overrides``, ``--set``, over them), data, seed, Keras backend,
    strategy and GPUs, by the planner every re-run uses — in the foreground, or in the
    background with ``detach``. A multi-worker run needs ``TF_CONFIG`` here."""
    from ktui.cli.runs import parse_run_id

    run_id = parse_run_id(id_text)
    location = store_path(store)
    if not location.exists():
        raise KtuiError(
            f"no run with id {run_id} in {location}",
            hint="The store does not exist yet: `ktui run` creates it with the first run.",
        )
    with RunStore(location, read_only=True) as runs:
        plan = plan_recorded(catalog.presets, runs, run_id)
    changed = plan.preset.parse_assignments(overrides)
    problem = plan.cluster_problem(os.environ)
    if problem is not None:
        raise problem
    # Before Keras loads: the GPUs the run had (a detached child inherits them).
    os.environ.update(plan.devices_environment)
    config = check_config(plan.config(changed))
    console = Console(file=out or sys.stdout, highlight=False, soft_wrap=True)
    where = [config.strategy]
    if config.backend is not None:
        where.append(config.backend)
    if plan.devices is not None:
        where.append(f"CUDA_VISIBLE_DEVICES={plan.devices}")
    seed = "" if config.seed is None else f", seed {config.seed}"
    console.print(
        f"Re-running run {run_id} ({config.preset.name}{seed}; {', '.join(where)}).",
        markup=False,
    )
    for note in plan.notes:
        console.print(f"  It cannot keep everything: {note}.", markup=False)
    if detach:
        return start_detached(
            catalog,
            config.preset.name,
            assignments(config.preset, config.values),
            plan.data,
            store=store,
            presets=presets,
            show_log=show_log,
            out=out,
            config=config,
        )
    return run_headless(
        catalog,
        config.preset.name,
        [],
        plan.data,
        show_log=show_log,
        out=out,
        store=store,
        config=config,
    )


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
        self.health: Callable[[], str] | None = None
        """The workers' health line of a multi-worker run, drawn after each epoch."""

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
        match event:
            case SystemSampled():
                self._sample = event.sample  # drawn with the epoch's line, never mid-bar
            case InputTiming():
                self._system_line(event)
            case PhaseChanged():
                self._phase(event)
            case RunStarted():
                self._started_run(event)
            case BatchProgress():
                self._batch(event)
            case EpochEnded():
                self._print(epoch_line(event))
                if self.health is not None:
                    with contextlib.suppress(Exception):  # a line is not worth the run
                        self._print(f"  workers: {self.health()}", style="dim")
                if self._progress is not None and self._task is not None:
                    self._progress.reset(
                        self._task, description=f"Epoch {event.epoch + 1}/{self._epochs}"
                    )
            case LearningRateChanged():
                self._learning_rate(event)
            case LogLine():
                if self.show_log:
                    self._print(f"[tf] {event.text}", style="dim")
            case EvaluationSkipped():
                if self.show_log:  # as before it was an event: a line of the run's log
                    self._print(f"[tf] ktui: no confusion matrix: {event.reason}", style="dim")
            case EvaluationReady():
                pass  # shown by `ktui runs show ID --confusion`
            case WorkersReported():
                pass  # this process reads its cluster's health itself (``health``)
            case RunFinished():
                self._finished(event)
            case RunFailed():
                self._failed(event)
            case _:
                assert_never(event)

    def _phase(self, event: PhaseChanged) -> None:
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

    def _batch(self, event: BatchProgress) -> None:
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

    def _learning_rate(self, event: LearningRateChanged) -> None:
        if event.failed:
            self.note(f"Could not change the learning rate: {event.error}")
        else:
            by = " (by the model's schedule)" if event.source == "schedule" else ""
            self.note(
                f"Learning rate set to {event.value:g}{by} at epoch {event.epoch}, "
                f"step {event.step}"
            )

    def _finished(self, event: RunFinished) -> None:
        self.close()
        if event.status == "stopped" and event.epochs_completed == 0:
            self.note("Stopped before its first epoch ended: 0 epochs, no model saved.")
        elif event.status == "stopped":
            self.note(f"Stopped after {event.epochs_completed} epoch(s).")
        elif event.status == "interrupted":
            self.note(f"Interrupted after {event.epochs_completed} epoch(s).")
        elif event.status == "diverged":
            self.note(f"Diverged: {event.message}.")
        elif event.status == "pruned":
            self.note(f"Pruned after {event.epochs_completed} epoch(s): {event.message}.")
        self.console.print(result_line(event), style="bold" if self.live else None, markup=False)

    def _failed(self, event: RunFailed) -> None:
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
        placement = event.placement
        batch = f"batch {format_count(event.batch_size)}"
        if placement is not None and placement.replicas > 1 and event.batch_size:
            batch = per_replica_text(event.batch_size, placement.replicas)
        self.console.print(
            f"{event.model.total_params:,} parameters · {format_count(event.train_samples)}"
            f" training samples · {batch}"
            f" → {event.steps_per_epoch} steps per epoch"
            f" · {event.epochs} epochs",
            markup=False,
        )
        if placement is not None and placement.strategy != "auto":
            self.console.print(f"Where: {placement.describe()}", markup=False)
            for note in placement.notes:
                self.note(f"ktui: {note}")
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
