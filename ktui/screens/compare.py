"""Two to four runs side by side: their curves overlaid, their differences in a table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static

from ktui.core import backends
from ktui.core.errors import StoreError
from ktui.presentation import (
    format_best,
    format_duration,
    format_epochs,
    format_error_percent,
    format_value,
)
from ktui.screens.report import export_report
from ktui.screens.runs_table import MAX_COMPARE, MIN_COMPARE
from ktui.store import EpochRecord, Run
from ktui.widgets.chart import PALETTE, MetricChart, Series, metric_groups
from ktui.widgets.footer import KtuiFooter
from ktui.widgets.ids import data_id

if TYPE_CHECKING:
    from ktui.app import KtuiApp


class CompareScreen(Screen[None]):
    """Curves of 2 to 4 runs, one chart per metric, and a table of what differs."""

    BINDINGS = [
        Binding("y", "log_y", "Log y"),
        Binding("m", "smoothing", "Smooth"),
        Binding("z", "zoom", "Zoom chart"),
        Binding("x", "report", "Report"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, run_ids: Sequence[int]) -> None:
        super().__init__()
        self.run_ids = list(run_ids)
        self.runs: list[Run] = []
        self.epochs: dict[int, list[EpochRecord]] = {}

    @property
    def ktui(self) -> KtuiApp:
        return cast("KtuiApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Vertical(id="compare-body"):
            yield Static("", id="compare-title")
            yield DataTable(id="compare-table", cursor_type="none", zebra_stripes=True)
            yield Grid(id="compare-charts")
        yield KtuiFooter()

    def on_mount(self) -> None:
        if not MIN_COMPARE <= len(self.run_ids) <= MAX_COMPARE:
            self._problem(
                f"Compare takes {MIN_COMPARE} to {MAX_COMPARE} runs, not {len(self.run_ids)}: "
                "mark them with space in the list of runs, then press c."
            )
            return
        store = self.ktui.store
        if store is None:
            self._problem("Runs are not recorded in this session (no run store).")
            return
        try:
            self.runs = [store.get_run(run_id) for run_id in self.run_ids]
            self.epochs = {run_id: store.epochs(run_id) for run_id in self.run_ids}
        except StoreError as exc:
            self._problem(f"Could not read the runs: {exc}")
            return
        ids = ", ".join(str(run.id) for run in self.runs)
        self.query_one("#compare-title", Static).update(
            Text.assemble(("Comparing runs ", "bold"), (ids, "bold"))
        )
        self._fill_table()
        self._add_charts()

    def _problem(self, message: str) -> None:
        self.query_one("#compare-title", Static).update(Text(message, style="bold"))
        self.query_one("#compare-table").display = False
        self.notify(message, severity="warning", timeout=10)

    # ------------------------------------------------------------------ table
    def _fill_table(self) -> None:
        table = self.query_one("#compare-table", DataTable)
        table.add_column("", key="name")
        for index, run in enumerate(self.runs):
            color = "#{:02x}{:02x}{:02x}".format(*PALETTE[index % len(PALETTE)])
            table.add_column(Text(f"run {run.id}", style=f"bold {color}"), key=str(run.id))
        accent = self.app.theme_variables.get("text-accent", "")

        def row(label: str, cells: Sequence[str], *, highlight: bool = False) -> None:
            style = f"bold {accent}" if highlight else ""
            table.add_row(Text(label, style="bold"), *(Text(c, style=style) for c in cells))

        for label, cells in (
            ("preset", [run.preset for run in self.runs]),
            ("data", [run.data or "—" for run in self.runs]),
            ("backend", [backends.recorded(run.versions) for run in self.runs]),
        ):
            if len(set(cells)) > 1:
                row(label, cells, highlight=True)
        names: dict[str, None] = {}
        for run in self.runs:
            names.update(dict.fromkeys(run.values))
        differing = 0
        for name in names:
            cells = [
                format_value(run.values[name]) if name in run.values else "—" for run in self.runs
            ]
            if len(set(cells)) > 1:
                row(name, cells, highlight=True)
                differing += 1
        if not differing:
            table.add_row(
                Text("(same hyperparameters)", style="italic"), *(Text("") for _ in self.runs)
            )
        row("best", [format_best(run, epoch=True) for run in self.runs])
        row("test err %", [format_error_percent(run) for run in self.runs])
        row("epochs", [format_epochs(run) for run in self.runs])
        row("duration", [format_duration(run) for run in self.runs])
        statuses = [run.status for run in self.runs]
        if len(set(statuses)) > 1 or statuses[0] != "finished":
            row("status", statuses)

    # ------------------------------------------------------------------ charts
    def _add_charts(self) -> None:
        grid = self.query_one("#compare-charts", Grid)
        names: dict[str, None] = {}
        for records in self.epochs.values():
            for record in records:
                names.update(dict.fromkeys(record.metrics))
        groups = metric_groups(names)
        charts = []
        for base, group in groups.items():
            series: dict[str, Series] = {}
            for index, run in enumerate(self.runs):
                records = self.epochs[run.id]
                xs = [float(r.epoch) for r in records]
                for name in group:
                    if not any(name in r.metrics for r in records):
                        continue
                    ys = [r.metrics.get(name, float("nan")) for r in records]
                    secondary = len(group) > 1 and not name.startswith("val_")
                    series[f"run {run.id} {name}"] = Series(
                        xs, ys, color=index, secondary=secondary
                    )
            chart = MetricChart(base, id=data_id("chart", base), series=series)
            chart.can_focus = True  # Tab picks the chart that z zooms
            chart.empty_text = "No epochs were recorded."
            charts.append(chart)
        if not charts:
            charts.append(MetricChart("curves", id="chart-none"))
        grid.mount_all(charts)
        grid.set_class(len(charts) == 1, "-single")

    # ------------------------------------------------------------------ actions
    def _charts(self) -> list[MetricChart]:
        return list(self.query(MetricChart))

    def action_log_y(self) -> None:
        """Logarithmic y axis on every chart, or back to linear."""
        charts = self._charts()
        value = not all(chart.log_y for chart in charts)
        for chart in charts:
            chart.log_y = value

    def action_smoothing(self) -> None:
        """Smooth every curve (moving average), or show them raw."""
        charts = self._charts()
        value = not all(chart.smoothing for chart in charts)
        for chart in charts:
            chart.smoothing = value

    def action_zoom(self) -> None:
        """Show the focused chart (Tab chooses) on the whole screen, or back."""
        if self.maximized is not None:
            self.minimize()
            return
        charts = self._charts()
        if not charts:
            return
        target = self.focused if isinstance(self.focused, MetricChart) else charts[0]
        self.maximize(target, container=False)

    def action_report(self) -> None:
        """Write these runs as one self-contained HTML report (beside the run folders)."""
        if self.runs:
            export_report(self, [run.id for run in self.runs])

    def action_back(self) -> None:
        """Back from a zoomed chart, or back to the list of runs."""
        if self.maximized is not None:
            self.minimize()
            return
        self.app.pop_screen()
