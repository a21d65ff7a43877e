"""The training screen: a live run with its table, sparklines, progress, log and result."""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, assert_never, cast

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.clock import Clock
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Header, ProgressBar, RichLog, Static
from textual.worker import Worker, WorkerState, get_current_worker

from ktui.core.controls import RunControls
from ktui.core.distribute import WORKER_TIMEOUT, health_line
from ktui.core.errors import KtuiError, StoreError, StoreUnavailable
from ktui.core.events import (
    BatchProgress,
    EpochEnded,
    EvaluationReady,
    EvaluationSkipped,
    Event,
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
from ktui.core.format import (
    format_count,
    format_metric,
    format_rate,
    format_seconds,
    order_metrics,
    result_line,
)
from ktui.core.insight import Evaluation
from ktui.core.memory import estimate
from ktui.core.presets import RunConfig
from ktui.messages import RunEvent
from ktui.navigation import (
    EvaluationSource,
    OpenConfusion,
    OpenForm,
    OpenMistakes,
    OpenModel,
    OpenRuns,
)
from ktui.runs import RecordedRun, RerunPlan, plan_config, plan_recorded, record_run
from ktui.screens.dialogs import AskDialog, ConfirmDialog
from ktui.screens.run_actions import start_rerun
from ktui.store.follow import RemoteControls, RunFollower, controls_for
from ktui.widgets.chart import MetricChart, Series, metric_groups
from ktui.widgets.footer import KtuiFooter
from ktui.widgets.ids import data_id
from ktui.widgets.metrics import MetricSparklines
from ktui.widgets.system import SystemPanel

if TYPE_CHECKING:
    from ktui.app import KtuiApp

CHARTS_MIN_WIDTH = 110
"""From this terminal width on, the charts are shown beside the epoch table."""

MAX_CHARTS = 3
"""Charts for the first metrics only (loss, then accuracy, ...): more would be unreadable."""

BATCH_DRAW_INTERVAL = 0.5
"""Seconds between two drawings of batch progress (the engine sends up to 20 a second)."""

FOLLOW_INTERVAL = 0.2
"""How often an attached screen reads the store: an epoch shows within about this."""

_PHASE_STYLE = {
    "preparing data": "yellow",
    "building model": "yellow",
    "running": "green",
    "paused": "bold yellow",
    "stopping": "bold red",
    "evaluating": "cyan",
    "finished": "bold green",
    "stopped": "bold yellow",
    "failed": "bold red",
    "interrupted": "bold red",
    "diverged": "bold red",
    "pruned": "bold yellow",
}


class RunClock:
    """A clock that stands still while the run is paused (and once it has ended).

    The progress bar estimates its ETA from it, so the ETA holds while nothing
    trains instead of counting down, and the pause does not dilute the speed.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._held_at: float | None = None
        self._held_for = 0.0

    def time(self) -> float:
        """Seconds on the underlying clock, less the time spent held."""
        now = self._held_at if self._held_at is not None else self._clock()
        return now - self._held_for

    def hold(self) -> None:
        """Stop the clock (again: no effect)."""
        if self._held_at is None:
            self._held_at = self._clock()

    def release(self) -> None:
        """Let the clock run again (not held: no effect)."""
        if self._held_at is not None:
            self._held_for += self._clock() - self._held_at
            self._held_at = None


class TrainingScreen(Screen[None]):
    """Runs one training in a thread worker and shows it live.

    With ``attach=RUN_ID`` it trains nothing: it follows a run recorded in the store
    by another process (``ktui run --detach``, another ktui, a script's
    ``ktui.Dashboard``), shows the same events, and steers it through the store.
    """

    BINDINGS = [
        Binding("p", "pause", "Pause/resume"),
        Binding("s", "stop", "Stop"),
        Binding("l", "learning_rate", "Learning rate"),
        Binding("r", "rerun", "Re-run"),
        Binding("e", "edit", "Edit & re-run"),
        Binding("h", "runs", "Runs"),
        Binding("m", "model", "Model"),
        Binding("c", "confusion", "Confusion"),
        Binding("w", "mistakes", "Wrong"),
        # While the run goes, c and w are greyed out above; the key then falls through
        # to this hidden binding, which says when they will be there.
        Binding("c,w", "insight_pending", show=False),
        Binding("g", "charts", "Charts"),
        Binding("y", "log_scale", "Log scale", show=False),
        Binding("a", "smoothing", "Smoothing", show=False),
        Binding("escape", "back", "Back"),
    ]

    @dataclass
    class Recorded(Message):
        """The run is being recorded in the store under ``run_id``."""

        run_id: int

    @dataclass
    class Attached(Message):
        """The followed run's controls are ready (they talk to it through the store)."""

        controls: RemoteControls
        started_at: float
        """When the run started (wall clock), for the elapsed time."""

    @dataclass
    class NotRecorded(Message):
        """The store could not take the run; it trains anyway."""

        reason: str

    def __init__(self, config: RunConfig | None, *, attach: int | None = None) -> None:
        super().__init__()
        if config is None and attach is None:
            raise ValueError("a TrainingScreen needs a config to train or a run to attach to")
        self.config = config
        self.attached = attach is not None
        """True when following a run of another process (it outlives this screen)."""
        self.run_id: int | None = attach
        self.preset_name = config.preset.name if config is not None else f"run {attach}"
        self.controls: RunControls | RemoteControls = RunControls()
        self.phase = "preparing data"
        self.started: RunStarted | None = None
        self.epochs: list[EpochEnded] = []
        self.final: Event | None = None
        self.learning_rate: float | None = config.learning_rate if config else None
        self._worker: Worker[None] | None = None
        self._recorded: RecordedRun | None = None
        self._charts: dict[str, MetricChart] = {}
        self._last_batch_draw = 0.0
        self._t0 = 0.0
        self._t_end: float | None = None
        self._columns: list[str] = []
        self._run_clock: RunClock | None = None
        self.evaluation: EvaluationReady | None = None
        """The test set's confusion matrix, once a classification run has one."""
        self.no_evaluation = ""
        """Why the run made no confusion matrix (its :class:`EvaluationSkipped`)."""
        self.input_verdict: str | None = None
        self.worker_health: WorkersReported | None = None
        """A multi-worker run's workers as the store last had them (attached runs)."""
        """The last epoch's input-bound line (``input-bound: 46 % of step time …``)."""

    @property
    def ktui(self) -> KtuiApp:
        return cast("KtuiApp", self.app)

    @property
    def running(self) -> bool:
        """True until the run has ended (finished, stopped or failed)."""
        return self.final is None

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Vertical(id="training-body"):
            yield Static("", id="status")
            with Horizontal(id="progress-row"):
                self._run_clock = RunClock(self.ktui.clock)
                yield ProgressBar(
                    total=None,
                    show_eta=True,
                    id="progress",
                    clock=Clock(get_time=self._run_clock.time),
                )
                yield Static("", id="progress-detail")
            yield Static("", id="result")
            yield MetricSparklines(id="sparklines")
            yield SystemPanel(id="system")
            with Horizontal(id="middle"):
                yield DataTable(id="epochs", cursor_type="row", zebra_stripes=True)
                yield Vertical(id="charts")
            yield RichLog(id="log", max_lines=2000, wrap=False, markup=False)
        yield KtuiFooter()

    def on_mount(self) -> None:
        self._t0 = self.ktui.clock()
        self.query_one("#result", Static).display = False
        log = self.query_one("#log", RichLog)
        log.border_title = "Log (TensorFlow and Python output)"
        self.query_one("#epochs", DataTable).border_title = "Epochs"
        # Charts beside the table where there is room; `g` shows or hides them anywhere.
        self.query_one("#charts").display = self.app.size.width >= CHARTS_MIN_WIDTH
        if self.config is not None:  # the sparklines' "best" by the run's own policy
            self.query_one(MetricSparklines).policy = self.config.policy
        self._show_status()
        self.set_interval(1.0, self._show_status)
        if self.attached:
            self._worker = self._follow()
        else:
            self._worker = self._train()

    # ------------------------------------------------------------------ worker
    @work(
        thread=True, exclusive=True, exit_on_error=False, group="training", description="training"
    )
    def _train(self) -> None:
        # post_message is the only thing the thread does to the UI: it is thread-safe.
        def show(event: Event) -> None:
            self.post_message(RunEvent(event))

        config, controls = self.config, self.controls
        assert config is not None and isinstance(controls, RunControls)  # not attached
        listener: Listener = show
        artifacts = None
        recorded: RecordedRun | None = None
        store = self.ktui.store
        if store is not None:
            try:
                # The run service: recorder, control channel (another ktui attached to
                # this run steers it through the store) and our display, in that order.
                recorded = record_run(
                    store, config, controls, display=show, warn=lambda text: show(LogLine(text))
                )
            except StoreError as exc:
                # Training is still worth doing; say loudly that it is not recorded.
                self.post_message(self.NotRecorded(str(exc)))
            else:
                self._recorded = recorded
                self.post_message(self.Recorded(recorded.run_id))
                listener = recorded.listener
                artifacts = recorded.folder
        try:
            self._run_training(config, controls, listener, show, artifacts)
        finally:
            if recorded is not None:
                # Ends the control channel, then waits (bounded) for writes a stuck
                # store holds up; what could not be written is said in the log.
                recorded.close()

    def _run_training(
        self,
        config: RunConfig,
        controls: RunControls,
        listener: Listener,
        show: Listener,
        artifacts: Path | None,
    ) -> None:
        """Load the trainer (Keras and its backend) and train; failures become a RunFailed."""
        show(PhaseChanged("preparing data", "loading Keras"))
        try:
            trainer = self.ktui.trainer()
        except Exception as exc:  # noqa: BLE001 - e.g. no Keras backend is installed
            message = (
                str(exc)
                if isinstance(exc, KtuiError)
                else f"Keras could not be loaded: {type(exc).__name__}: {exc}"
            )
            listener(
                RunFailed(
                    message=message,
                    error_type=type(exc).__name__,
                    traceback=traceback.format_exc(),
                )
            )
            return
        trainer.run(config, listener, controls, artifacts=artifacts)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="training",
        description="following a run",
    )
    def _follow(self) -> None:
        """Poll the store for the attached run's events until it ends (or we leave)."""
        store = self.ktui.store
        assert store is not None and self.run_id is not None
        worker = get_current_worker()
        try:
            follower = RunFollower(store, self.run_id)
            started_at = store.get_run(self.run_id).started_at
            self.post_message(self.Attached(controls_for(store, self.run_id), started_at))
            away = False
            while not worker.is_cancelled:
                try:
                    events = follower.poll()
                except StoreUnavailable as exc:
                    # A busy store, or a PostgreSQL server restarting: the run goes on
                    # (its epochs wait in its memory), so following waits too.
                    if not away:
                        away = True
                        text = f"ktui: cannot read run {self.run_id} now: {exc}; still trying"
                        self.post_message(RunEvent(LogLine(text)))
                    time.sleep(FOLLOW_INTERVAL)
                    continue
                if away:
                    away = False
                    self.post_message(RunEvent(LogLine("ktui: the run store answers again")))
                for event in events:
                    self.post_message(RunEvent(event))
                if follower.done:
                    return
                time.sleep(FOLLOW_INTERVAL)
        except StoreError as exc:
            self.post_message(RunEvent(LogLine(f"ktui: cannot follow run {self.run_id}: {exc}")))
            self.post_message(RunEvent(RunFailed(str(exc), "StoreError", "")))

    def on_training_screen_attached(self, message: Attached) -> None:
        self.controls = message.controls
        self._t0 = self.ktui.clock() - max(0.0, time.time() - message.started_at)
        self.refresh_bindings()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is not self._worker:
            return
        if event.state == WorkerState.ERROR and self.final is None:
            error = event.worker.error
            self._handle(
                RunFailed(
                    message=f"{type(error).__name__}: {error}",
                    error_type=type(error).__name__,
                    traceback="",
                    epochs_completed=len(self.epochs),
                )
            )

    def hang_up(self) -> None:
        """The terminal went away: stop this screen's own run, to be recorded interrupted."""
        if self.running and not self.attached:
            if self._recorded is not None:
                self._recorded.hang_up()
            else:
                self.controls.stop()

    async def stop_and_wait(self) -> None:
        """Stop the run after the current batch and wait for its thread to end."""
        self.controls.stop()
        if self._worker is not None:
            self.phase = "stopping"
            self._show_status()
            await self._worker.wait()

    # ------------------------------------------------------------------ events
    def on_training_screen_recorded(self, message: Recorded) -> None:
        self.run_id = message.run_id
        self._show_status()

    def on_training_screen_not_recorded(self, message: NotRecorded) -> None:
        self._log(f"ktui: this run is not recorded: {message.reason}")
        self.notify(f"This run is not recorded: {message.reason}", severity="warning", timeout=10)

    def on_run_event(self, message: RunEvent) -> None:
        if isinstance(self.controls, RemoteControls):
            self.controls.observe(message.event)
        self._handle(message.event)

    def _handle(self, event: Event) -> None:
        match event:
            case SystemSampled():
                self.query_one(SystemPanel).add_sample(event.sample)
                return  # every second or two: nothing else changes with it
            case WorkersReported():
                self.worker_health = event
                self._show_status()
                return  # once a second: the keys do not change with it
            case InputTiming():
                if event.verdict != self.input_verdict and event.verdict is not None:
                    self._log(f"ktui: epoch {event.timing.epoch}: {event.verdict}")
                self.input_verdict = event.verdict
            case BatchProgress():
                self._batch(event)
                return  # frequent: neither the status line nor the keys change with it
            case EpochEnded():
                self._epoch(event)
                return
            case LogLine():
                self._log(event.text)
                return
            case PhaseChanged():
                self.phase = event.phase
                if self._run_clock is not None:
                    # Paused: the ETA holds (and the pause does not count against the speed).
                    if event.phase == "paused":
                        self._run_clock.hold()
                    else:
                        self._run_clock.release()
                if event.detail and event.phase == "preparing data":
                    self.query_one("#progress-detail", Static).update(
                        Text(f"{event.detail}…", style="italic")
                    )
            case RunStarted():
                self._run_started(event)
            case LearningRateChanged():
                if event.failed:
                    self.notify(
                        f"Could not change the learning rate: {event.error}", severity="error"
                    )
                else:
                    self.learning_rate = event.value
                    by = {"ktui": "", "command": " (a command)", "schedule": " (the schedule)"}
                    self._log(
                        f"ktui: learning rate set to {event.value:g}{by[event.source]} "
                        f"(epoch {event.epoch}, step {event.step})"
                    )
            case EvaluationSkipped():
                self.no_evaluation = event.reason
                self._log(f"ktui: no confusion matrix: {event.reason}")
            case EvaluationReady():
                self.evaluation = event
                self._log(
                    f"ktui: confusion matrix ready ({event.misclassified:,} wrong); "
                    "c shows it, w the wrong predictions"
                )
            case RunFinished() | RunFailed():
                self._ended(event)
            case _:
                assert_never(event)
        self._show_status()
        # Only where a key may change state: refreshing rebuilds the footer's widgets,
        # far too costly for every batch (it made training under the UI 2.6× slower).
        self.refresh_bindings()

    def _log(self, text: str) -> None:
        self.query_one("#log", RichLog).write(Text(text))

    def _run_started(self, event: RunStarted) -> None:
        self.started = event
        self.preset_name = event.preset
        self.query_one("#progress", ProgressBar).update(
            total=event.steps_per_epoch * event.epochs, progress=0
        )
        self.query_one("#progress-detail", Static).update(
            f"{format_count(event.train_samples)} samples · "
            f"batch {format_count(event.batch_size)} · "
            f"{event.steps_per_epoch} steps/epoch"
        )
        self._log(
            f"ktui: {event.preset} on {event.data} · {event.device} · "
            f"{event.model.total_params:,} parameters"
        )
        if event.batch_size is not None:
            optimizer = self.config.optimizer if self.config is not None else "adam"
            guess = estimate(event.model, event.batch_size, optimizer)
            self.query_one(SystemPanel).estimate = guess.total
            self._log(f"ktui: memory estimate {guess.describe()}")

    def _batch(self, event: BatchProgress) -> None:
        if self.started is None:
            return
        # Drawing costs CPU that training needs (2 cores: TensorFlow uses both), so
        # the bar and the batch curve move a few times a second, not at every message.
        now = time.monotonic()
        if now - self._last_batch_draw < BATCH_DRAW_INTERVAL and event.step < event.steps:
            return
        self._last_batch_draw = now
        loss = event.logs.get("loss")
        if loss is not None and event.steps and "loss" in self._charts:
            # The live loss by batch: x in fractional epochs, faint under the epoch curves.
            x = event.epoch - 1 + event.step / event.steps
            self._charts["loss"].append("loss (batch)", x, loss)
        done = (event.epoch - 1) * event.steps + event.step
        self.query_one("#progress", ProgressBar).update(progress=done)
        self.query_one("#progress-detail", Static).update(
            f"epoch {event.epoch}/{self.started.epochs} · step {event.step}/{event.steps} · "
            f"{format_rate(event.samples_per_second)}"
            + ("" if loss is None else f" · loss {format_metric(loss)}")
        )

    def _epoch(self, event: EpochEnded) -> None:
        self.epochs.append(event)
        self.learning_rate = event.learning_rate
        table = self.query_one("#epochs", DataTable)
        if not self._columns:
            self._columns = list(order_metrics(event.metrics))
            # Text, not str: a metric's name is shown as it is, never read as markup.
            table.add_columns("epoch", *(Text(name) for name in self._columns), "lr", "seconds")
        table.add_row(
            f"{event.epoch}/{event.epochs}",
            *(format_metric(event.metrics.get(name)) for name in self._columns),
            f"{event.learning_rate:.3g}" if math.isfinite(event.learning_rate) else "—",
            format_seconds(event.seconds),
            key=str(event.epoch),
        )
        table.move_cursor(row=table.row_count - 1)
        self._chart_epoch(event)
        self.query_one(MetricSparklines).add_epoch(event.metrics)
        if self.started is not None:
            steps = self.started.steps_per_epoch
            self.query_one("#progress", ProgressBar).update(progress=event.epoch * steps)
            # The epoch's last batch may not have been drawn (updates are coalesced).
            self.query_one("#progress-detail", Static).update(
                f"epoch {event.epoch}/{event.epochs} · step {steps}/{steps} · "
                f"{event.samples_per_second:,.0f} samples/s"
            )

    def _chart_epoch(self, event: EpochEnded) -> None:
        """Add an epoch's metrics to the charts (one per metric, train and val overlaid)."""
        groups = metric_groups(event.metrics)
        holder = self.query_one("#charts")
        for base, names in list(groups.items())[:MAX_CHARTS]:
            chart = self._charts.get(base)
            if chart is None:
                chart = MetricChart(base, id=data_id("chart", base))
                chart.empty_text = "waiting for the first epoch"
                self._charts[base] = chart
                holder.mount(chart)
                if base == "loss":
                    chart.set_series({"loss (batch)": Series([], [], color=7, secondary=True)})
            for name in names:
                chart.append(name, event.epoch, event.metrics[name])

    def action_charts(self) -> None:
        """Show or hide the line charts beside the epoch table."""
        charts = self.query_one("#charts")
        charts.display = not charts.display

    def action_log_scale(self) -> None:
        """Logarithmic y axis on the charts (or back)."""
        for chart in self._charts.values():
            chart.toggle_log_y()

    def action_smoothing(self) -> None:
        """Smooth the curves (moving average; the raw curve stays faint behind)."""
        for chart in self._charts.values():
            chart.toggle_smoothing()

    def _ended(self, event: RunFinished | RunFailed) -> None:
        self.final = event
        self.query_one(SystemPanel).ended()
        self._t_end = self.ktui.clock()
        self._show_final_progress(event)
        result = self.query_one("#result", Static)
        result.display = True
        if isinstance(event, RunFinished) and event.status == "diverged":
            self.phase = event.status
            result.update(Text(f"Diverged: {event.message}", style="bold"))
            result.set_class(True, "failed")
            self.notify(f"The loss diverged: {event.message}.", severity="error")
        elif isinstance(event, RunFinished):
            self.phase = event.status
            pruned = f"Pruned: {event.message}\n" if event.status == "pruned" else ""
            result.update(Text(pruned + result_line(event), style="bold"))
            result.set_class(False, "failed")
        else:
            self.phase = "failed"
            if self.started is None:
                # Nothing ran: an empty bar at "--%" would only add noise.
                self.query_one("#progress-row").display = False
            result.update(Text(f"Training failed: {event.message}", style="bold"))
            result.set_class(True, "failed")
            for line in event.traceback.splitlines():
                self._log(line)
            self.notify("Training failed; the log pane has the details.", severity="error")

    def _show_final_progress(self, event: RunFinished | RunFailed) -> None:
        """The progress row once the run has ended: what was done, no batch, no ETA."""
        if self._run_clock is not None:
            self._run_clock.hold()
        progress = self.query_one("#progress", ProgressBar)
        progress.query("#eta").set(display=False)  # nothing is left to wait for
        if self.started is None:
            return
        status = event.status if isinstance(event, RunFinished) else "failed"
        epochs = self.started.epochs
        done = event.epochs_completed
        if status == "finished" and done == epochs:
            progress.update(progress=epochs * self.started.steps_per_epoch)
        detail = f"{status} · {done}/{epochs} epochs"
        if isinstance(event, RunFinished):
            detail += f" in {format_seconds(event.seconds)}"
        self.query_one("#progress-detail", Static).update(detail)

    # ------------------------------------------------------------------ status line
    def _show_status(self) -> None:
        end = self._t_end if self._t_end is not None else self.ktui.clock()
        elapsed = max(0.0, end - self._t0)
        status = Text()
        status.append("● ", style=_PHASE_STYLE.get(self.phase, ""))
        status.append(self.phase, style=_PHASE_STYLE.get(self.phase, ""))
        status.append(f" · {self.preset_name}")
        if self.run_id is not None and self.config is not None:
            status.append(f" · run {self.run_id}")
        if self.attached:
            status.append(" · attached", style="bold")
        if self.started is not None:
            status.append(f" · {self.started.device}")
            placement = self.started.placement
            if placement is not None and placement.strategy != "auto":
                status.append(f" · {placement.describe()}")
        status.append(f" · elapsed {format_seconds(elapsed)}")
        if self.learning_rate is not None:
            status.append(f" · lr {self.learning_rate:.3g}")
        if self.worker_health is not None and self.final is None:
            # Every worker's health, as the chief's `ktui run` prints it after each epoch.
            workers = self.worker_health
            silent = any(
                r.age(workers.at) >= WORKER_TIMEOUT / 4 and r.phase != "finished"
                for r in workers.reports
            ) or len(workers.reports) < workers.workers
            status.append("\n")
            status.append(
                health_line(workers.reports, workers.workers, now=workers.at),
                style="bold yellow" if silent else "dim",
            )
        if self.input_verdict is not None:
            status.append("\n")
            status.append(self.input_verdict, style="bold yellow")
        self.query_one("#status", Static).update(status)

    # ------------------------------------------------------------------ actions
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Greyed out in the footer rather than hidden, so people learn the keys.
        if action in ("pause", "stop", "learning_rate"):
            return True if self.running and not self.controls.stop_requested else None
        if action in ("rerun", "edit"):
            return True if not self.running else None
        if action in ("confusion", "mistakes"):
            return True if self.evaluation is not None or not self.running else None
        if action == "insight_pending":
            return self.evaluation is None and self.running
        return True

    def action_pause(self) -> None:
        """Pause before the next batch, or resume."""
        try:
            if self.controls.paused:
                self.controls.resume()
                self.notify("Resumed.")
            else:
                self.controls.pause()
                self.notify("Pausing before the next batch.")
        except StoreError as exc:  # an attached run that ended or whose process is gone
            self.notify(str(exc), severity="error", timeout=10)

    def action_stop(self) -> None:
        """Stop after the current batch, after asking."""

        def answer(confirmed: bool | None) -> None:
            if confirmed:
                try:
                    self.controls.stop()
                except StoreError as exc:
                    self.notify(str(exc), severity="error", timeout=10)
                    return
                self.phase = "stopping"
                self._show_status()
                self.refresh_bindings()

        self.app.push_screen(
            ConfirmDialog(
                "Stop the run after the current batch? The test set is still evaluated.",
                confirm="Stop",
            ),
            answer,
        )

    def action_learning_rate(self) -> None:
        """Ask for a new learning rate; it applies from the next batch."""

        def check(text: str) -> str | None:
            try:
                value = float(text)
            except ValueError:
                return "a positive number, e.g. 0.0005"
            if not math.isfinite(value) or value <= 0:
                return "a positive number, e.g. 0.0005"
            return None

        def apply(text: str | None) -> None:
            if text is not None:
                try:
                    self.controls.set_learning_rate(float(text))
                except StoreError as exc:
                    self.notify(str(exc), severity="error", timeout=10)
                    return
                self.notify(f"Learning rate {float(text):g} from the next batch.")

        current = "" if self.learning_rate is None else f"{self.learning_rate:g}"
        self.app.push_screen(
            AskDialog(
                "New learning rate (takes effect on the next batch):", value=current, check=check
            ),
            apply,
        )

    def _rerun_plan(self) -> RerunPlan | None:
        """The re-run of this run, by the planner the history screens use too (notes
        what it cannot keep); for an attached run, from what the store recorded."""
        try:
            if self.config is not None:
                plan = plan_config(self.config)
            else:
                store = self.ktui.store
                if store is None or self.run_id is None:
                    raise KtuiError("this run is not in an open run store")
                plan = plan_recorded(self.ktui.catalog.presets, store, self.run_id)
        except KtuiError as exc:
            self.notify(f"Cannot re-run: {exc}", severity="error", timeout=10)
            return None
        if plan.notes:
            self.notify(
                "The re-run cannot keep everything: " + "; ".join(plan.notes) + ".",
                severity="warning",
                timeout=10,
            )
        return plan

    def action_rerun(self) -> None:
        """Run again with the same values, data and seed."""
        plan = self._rerun_plan()
        if plan is None:
            return
        try:
            config = plan.config()
        except KtuiError as exc:
            self.notify(f"Cannot re-run: {exc}", severity="error", timeout=10)
            return
        start_rerun(self, plan, config, replace=True)

    def action_edit(self) -> None:
        """The form, with this run's values, to change something and run again."""
        plan = self._rerun_plan()
        if plan is not None:
            # A run started here (not attached) goes back to the form it came from, if
            # that is the screen below, with its values as they were.
            self.post_message(
                OpenForm(
                    plan.preset,
                    plan.values,
                    plan.data,
                    replace=True,
                    reuse_below=self.config is not None,
                )
            )

    def action_runs(self) -> None:
        """Open the history of recorded runs (a run that is going carries on)."""
        self.post_message(OpenRuns())

    def action_model(self) -> None:
        """Show the model: layers, output shapes, parameters, the input shape in words."""
        summary = self.started.model if self.started is not None else None
        self.post_message(OpenModel(summary, config=self.config))

    def _insight_source(self) -> EvaluationSource:
        """Where the confusion and mistakes views get this run's evaluation."""
        title = self.preset_name + (f" · run {self.run_id}" if self.run_id else "")
        if self.evaluation is not None:
            event = self.evaluation
            return EvaluationSource(Evaluation.from_event(event), event.path, event.note, title)
        if isinstance(self.final, RunFailed):
            missing = "The run failed before its test set was evaluated."
        elif self.no_evaluation:
            missing = f"This run made none: {self.no_evaluation}"
        else:
            missing = "The run's test set was not evaluated (it stopped before an epoch ended)."
        return EvaluationSource(None, None, missing, title)

    def action_confusion(self) -> None:
        """Show the test set's confusion matrix with precision and recall per class."""
        self.post_message(OpenConfusion(self._insight_source()))

    def action_mistakes(self) -> None:
        """Browse the test images the model got wrong."""
        # The event has the matrix only: the screen reads the mistakes from the file.
        self.post_message(OpenMistakes(self._insight_source()))

    def action_insight_pending(self) -> None:
        """c or w during the run: say when the confusion matrix comes."""
        self.notify(
            "The confusion matrix and the wrong predictions come after the run: "
            "they are computed from the test set once training ends."
        )

    def action_back(self) -> None:
        """Back to the form; a run that is going is stopped first (after asking)."""
        if not self.running or self.attached:  # an attached run carries on without us
            self.app.pop_screen()
            return

        async def answer(confirmed: bool | None) -> None:
            if confirmed:
                await self.stop_and_wait()
                self.app.pop_screen()

        self.app.push_screen(
            ConfirmDialog("A run is going. Stop it and go back?", confirm="Stop"), answer
        )
