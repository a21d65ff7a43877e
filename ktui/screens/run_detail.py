"""One recorded run in full: values, details, result, curves, epochs and log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, cast

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Header, RichLog, Static, TabbedContent, TabPane

from ktui.core import backends
from ktui.core.errors import StoreError
from ktui.core.format import format_metric, format_seconds, recorded_count
from ktui.presentation import (
    format_best,
    format_duration,
    format_epochs,
    format_error_percent,
    format_tags,
    format_time,
    format_value,
    status_theme_variable,
)
from ktui.screens.report import export_report
from ktui.screens.run_actions import confirm_delete, edit_rerun, rerun
from ktui.store import EpochRecord, LearningRateRecord, Run, RunStore
from ktui.widgets.chart import MetricChart, Series, metric_groups
from ktui.widgets.footer import KtuiFooter
from ktui.widgets.ids import data_id

if TYPE_CHECKING:
    from ktui.app import KtuiApp

LOG_LINES = 2000
"""The last lines of the log shown (``ktui runs show --log`` prints them all)."""

POLL_SECONDS = 2.0
"""How often a run that is still going is re-read."""

_TAB_FOCUS = {"overview": "#detail-overview", "epochs": "#detail-epochs", "log": "#detail-log"}
"""What takes the keys when a tab is chosen with 1 to 4 (the curves have no keys of their own)."""


class RunDetailScreen(Screen[None]):
    """Everything recorded about one run; r, e and delete act on it."""

    # Up, down and page keys scroll the overview at once.
    AUTO_FOCUS = "#detail-overview"

    BINDINGS = [
        Binding("r", "rerun", "Re-run"),
        Binding("e", "edit", "Edit & re-run"),
        Binding("d,delete", "delete", "Delete"),
        Binding("y", "log_y", "Log y"),
        Binding("m", "smoothing", "Smooth"),
        Binding("x", "report", "Report"),
        Binding("1", "tab('overview')", "Overview", show=False),
        Binding("2", "tab('curves')", "Curves", show=False),
        Binding("3", "tab('epochs')", "Epochs", show=False),
        Binding("4", "tab('log')", "Log", show=False),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, run_id: int) -> None:
        super().__init__()
        self.run_id = run_id
        self.run: Run | None = None
        self.epochs: list[EpochRecord] = []
        self.learning_rates: list[LearningRateRecord] = []
        """The run's learning-rate changes, as recorded (rows, not log lines)."""
        self._metric_columns: list[str] = []
        self._log_size = 0
        self._tags: list[str] = []
        self._note = ""

    @property
    def ktui(self) -> KtuiApp:
        return cast("KtuiApp", self.app)

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield Static("", id="detail-title")
        with TabbedContent(id="detail-tabs"):
            with TabPane("1 Overview", id="overview"), VerticalScroll(id="detail-overview"):
                yield Static("", id="detail-result")
                yield Static("Hyperparameters", classes="section-title")
                yield DataTable(id="detail-values", cursor_type="none", zebra_stripes=True)
                yield Static("Details", classes="section-title")
                yield Static("", id="detail-info")
            with TabPane("2 Curves", id="curves"):
                yield Grid(id="detail-charts")
            with TabPane("3 Epochs", id="epochs"):
                yield DataTable(id="detail-epochs", cursor_type="row", zebra_stripes=True)
            with TabPane("4 Log", id="log"):
                yield RichLog(id="detail-log", max_lines=LOG_LINES, wrap=False, markup=False)
        yield KtuiFooter()

    def on_mount(self) -> None:
        self.query_one("#detail-values", DataTable).add_columns(
            "name", "value", "preset default", ""
        )
        if not self.load():
            return
        if self.run is not None and self.run.status == "running":
            self.set_interval(POLL_SECONDS, self._poll)

    # ------------------------------------------------------------------ data
    def load(self) -> bool:
        """Read the run and show it; False (and a message) if it cannot be read."""
        store = self.ktui.store
        if store is None:
            self._problem("Runs are not recorded in this session (no run store).")
            return False
        try:
            run = store.get_run(self.run_id)
            epochs = store.epochs(self.run_id)
            self.learning_rates = store.learning_rate_changes(self.run_id)
            self._tags = store.tags(self.run_id).get(self.run_id, [])
            self._note = store.notes(self.run_id).get(self.run_id, "")
        except StoreError as exc:
            self._problem(f"Could not read run {self.run_id}: {exc}")
            return False
        self.run = run
        self._show_title(run)
        self._show_overview(run)
        self._add_epochs(epochs)
        self._show_log(store)
        return True

    def _poll(self) -> None:
        """Follow a run that is still going: new epochs, new log lines, its end."""
        store = self.ktui.store
        if store is None or self.run is None or self.run.status != "running":
            return
        try:
            run = store.get_run(self.run_id)
            epochs = store.epochs(self.run_id)
            self.learning_rates = store.learning_rate_changes(self.run_id)
        except StoreError:
            return  # deleted or unreadable for a moment; the next poll tries again
        self.run = run
        self._show_title(run)
        self._show_overview(run)
        self._add_epochs(epochs[len(self.epochs) :])
        self._show_log(store)

    def _problem(self, message: str) -> None:
        self.query_one("#detail-title", Static).update(Text(message, style="bold"))
        self.query_one("#detail-tabs").display = False
        self.notify(message, severity="error", timeout=10)

    # ------------------------------------------------------------------ parts
    def _show_title(self, run: Run) -> None:
        color = self.app.theme_variables.get(status_theme_variable(run.status) or "", "")
        title = Text()
        title.append(f"Run {run.id}", style="bold")
        title.append(f" · {run.preset} · ")
        title.append(run.status, style=f"bold {color}")
        title.append(f" · started {format_time(run.started_at)} · {format_duration(run)}")
        if self._tags:
            title.append(f" · tags {format_tags(self._tags)}")
        if self._note:
            title.append(f"\n{self._note}", style="italic")
        self.query_one("#detail-title", Static).update(title)

    def _show_overview(self, run: Run) -> None:
        self.query_one("#detail-result", Static).update(_result(run, self.app.theme_variables))
        self.query_one("#detail-info", Static).update(_info_grid(run, self.learning_rates))
        table = self.query_one("#detail-values", DataTable)
        table.clear()
        accent = self.app.theme_variables.get("text-accent", "")
        for name, value in run.values.items():
            known = name in run.defaults
            changed = bool(run.defaults) and (not known or run.defaults[name] != value)
            style = f"bold {accent}" if changed else ""
            table.add_row(
                Text(name, style=style),
                Text(format_value(value), style=style),
                Text(format_value(run.defaults[name]) if known else "—"),
                Text("changed" if changed else "", style=accent),
                key=name,
            )

    def _add_epochs(self, new: list[EpochRecord]) -> None:
        if not new and self.epochs:
            return
        self.epochs.extend(new)
        table = self.query_one("#detail-epochs", DataTable)
        names = list(dict.fromkeys(n for e in self.epochs for n in e.metrics))
        ordered = [n for group in metric_groups(names).values() for n in group]
        if ordered != self._metric_columns:
            # New metric names (or the first epochs): lay the table out again.
            self._metric_columns = ordered
            table.clear(columns=True)
            # Text, not str: a metric's name is shown as it is, never read as markup.
            table.add_columns("epoch", *(Text(name) for name in ordered), "lr", "time")
            new = self.epochs
        for record in new:
            table.add_row(
                Text(str(record.epoch), justify="right"),
                *(
                    Text(format_metric(record.metrics.get(n)), justify="right")
                    for n in self._metric_columns
                ),
                Text("—" if record.learning_rate is None else f"{record.learning_rate:.3g}"),
                Text("—" if record.seconds is None else format_seconds(record.seconds)),
            )
        self._show_charts()

    def _show_charts(self) -> None:
        grid = self.query_one("#detail-charts", Grid)
        groups = metric_groups(self._metric_columns)
        xs = [float(e.epoch) for e in self.epochs]
        charts = {chart.id: chart for chart in grid.query(MetricChart)}
        for base, names in groups.items():
            series: dict[str, Series] = {}
            for name in names:
                ys = [e.metrics.get(name, float("nan")) for e in self.epochs]
                # The training curve is the fainter one when there is a validation curve.
                secondary = len(names) > 1 and not name.startswith("val_")
                series[name] = Series(xs, ys, color=0, secondary=secondary)
            chart_id = data_id("chart", base)
            chart = charts.get(chart_id)
            if chart is None:
                chart = MetricChart(base, id=chart_id)
                grid.mount(chart)
            chart.set_series(series)
        if not groups and not charts:
            grid.mount(MetricChart("curves", id="chart-none"))
        grid.set_class(len(groups) <= 1, "-single")

    def _show_log(self, store: RunStore) -> None:
        log = self.query_one("#detail-log", RichLog)
        try:
            total = store.log_size(self.run_id)
            if total == self._log_size:
                return
            if self._log_size == 0:
                lines = store.log(self.run_id, tail=LOG_LINES)
                if total > len(lines):
                    log.write(
                        Text(
                            f"(the last {len(lines):,} of {total:,} lines; "
                            f"`ktui runs show {self.run_id} --log` prints them all)",
                            style="italic",
                        )
                    )
            else:
                lines = store.log(self.run_id, tail=total - self._log_size)
        except StoreError as exc:
            log.write(Text(f"Could not read the log: {exc}", style="bold"))
            return
        self._log_size = total
        for line in lines:
            log.write(Text(line))
        if not total:
            log.write(Text("(no log lines were recorded)", style="italic"))

    # ------------------------------------------------------------------ actions
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("rerun", "edit", "delete", "log_y", "smoothing", "report"):
            return True if self.run is not None else None
        return True

    def action_tab(self, tab: str) -> None:
        """Show one of the tabs (1 to 4); the keys then scroll what it shows."""
        self.query_one("#detail-tabs", TabbedContent).active = tab
        target = _TAB_FOCUS.get(tab)
        if target is not None:
            self.query_one(target).focus()

    def action_log_y(self) -> None:
        """Logarithmic y axis on the curves, or back to linear."""
        charts = list(self.query(MetricChart))
        value = not all(chart.log_y for chart in charts)
        for chart in charts:
            chart.log_y = value
        self.action_tab("curves")

    def action_smoothing(self) -> None:
        """Smooth the curves (moving average), or show them raw."""
        charts = list(self.query(MetricChart))
        value = not all(chart.smoothing for chart in charts)
        for chart in charts:
            chart.smoothing = value
        self.action_tab("curves")

    def action_rerun(self) -> None:
        """Run this run again with the same values."""
        if self.run is not None:
            rerun(self, self.run)

    def action_edit(self) -> None:
        """Open the form with this run's values, to change one and run."""
        if self.run is not None:
            edit_rerun(self, self.run)

    def action_delete(self) -> None:
        """Delete this run, after asking; then back to the list."""
        if self.run is not None:
            confirm_delete(self, self.run, self._deleted)

    def action_report(self) -> None:
        """Write this run as a self-contained HTML report (in its folder)."""
        if self.run is not None:
            export_report(self, [self.run.id])

    def _deleted(self, run_id: int) -> None:
        self.app.pop_screen()

    def action_back(self) -> None:
        """Back to the list of runs."""
        self.app.pop_screen()


def _result(run: Run, theme: dict[str, str]) -> Text:
    """The run's outcome in one line: the test figures, or the error."""
    if run.status == "failed":
        text = Text(f"Failed: {run.error or 'no message was recorded'}", style="bold")
        text.stylize(theme.get("text-error", ""))
        return text
    if run.status == "pruned" and run.error:
        # The sweep's reason first: why this run has fewer epochs than planned.
        text = Text(f"Pruned: {run.error}", style="bold")
        text.stylize(theme.get("text-warning", ""))
        rest = _result(replace(run, status="stopped", error=None), theme)
        return text + Text(" · ") + rest
    if run.test_accuracy is not None:
        return Text(
            f"Test loss {format_metric(run.test_loss)} · accuracy {run.test_accuracy * 100:.2f}% · "
            f"error {format_error_percent(run)}%",
            style="bold",
        )
    if run.test_loss is not None:
        return Text(f"Test loss {format_metric(run.test_loss)}", style="bold")
    if run.status == "running":
        return Text("Still training.", style="italic")
    return Text(f"No test result ({run.status} before the test set was evaluated).", style="italic")


def _learning_rate_text(change: LearningRateRecord) -> str:
    """``0.01 → 0.001 at epoch 3, step 2 (command)``, or why it failed."""
    before = "?" if change.before is None else f"{change.before:.3g}"
    where = f"at epoch {change.epoch}, step {change.step} ({change.source})"
    if change.after is None:
        return f"not changed {where}: {change.error}"
    return f"{before} → {change.after:.3g} {where}"


def _info_grid(run: Run, learning_rates: Sequence[LearningRateRecord] = ()) -> Table:
    """Key/value lines: times, data, device, versions, model, sizes, best, error."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    rows: list[tuple[str, str]] = [
        ("status", run.status),
        ("started", format_time(run.started_at, seconds=True)),
        ("ended", format_time(run.ended_at, seconds=True)),
        ("duration", format_duration(run)),
        ("epochs", format_epochs(run)),
        ("best", format_best(run, epoch=True)),
    ]
    if run.test_loss is not None:
        rows.append(("test loss", format_metric(run.test_loss)))
    if run.test_accuracy is not None:
        rows.append(("test accuracy", f"{run.test_accuracy * 100:.2f}%"))
        rows.append(("test error", f"{format_error_percent(run)}%"))
    rows += [
        ("data", run.data or "—"),
        *([("data as typed", run.data_source)] if run.data_source else []),
        *([("seed", str(run.info["seed"]))] if run.info.get("seed") is not None else []),
        *[("learning rate", _learning_rate_text(change)) for change in learning_rates],
        ("device", run.device or "—"),
        ("backend", backends.recorded(run.versions)),
        ("versions", " · ".join(f"{k} {v}" for k, v in run.versions.items()) or "—"),
    ]
    if run.model:
        layers = len(run.model.get("layers", ()))
        params = run.model.get("total_params", 0)
        rows.append(("model", f"{layers} layers, {params:,} parameters"))
    info = run.info
    if info:
        rows.append(
            (
                "samples",
                f"train {recorded_count(info, 'train_samples')} · validation "
                f"{recorded_count(info, 'validation_samples')} · test "
                f"{recorded_count(info, 'test_samples')}"
                f" · batch {recorded_count(info, 'batch_size')}",
            )
        )
    if run.status == "running" and run.pid:
        rows.append(("process", f"{run.pid} on {run.host}"))
    rows.append(("folder", str(run.folder)))
    if run.error:
        rows.append(("error", run.error))
    for key, value in rows:
        grid.add_row(key, Text(value))
    if run.traceback:
        grid.add_row("traceback", Text(run.traceback.rstrip(), style="dim"))
    return grid
