"""A row of sparklines, one per metric, that grows by one point each epoch."""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Sparkline, Static

from ktui.core.format import format_metric, order_metrics
from ktui.core.metrics import DEFAULT_POLICY, MetricPolicy, best
from ktui.widgets.ids import data_id


class MetricSparklines(Horizontal):
    """One labelled sparkline per metric (train and validation side by side)."""

    DEFAULT_CSS = """
    MetricSparklines { height: auto; }
    MetricSparklines > .metric-cell { width: 1fr; height: auto; padding: 0 1; }
    MetricSparklines .metric-label { height: 1; }
    MetricSparklines Sparkline { height: 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self.history: dict[str, list[float]] = {}
        self.policy: MetricPolicy = DEFAULT_POLICY
        """Which way each metric is better (the run's own, where it set a mode)."""

    def compose(self) -> ComposeResult:
        yield from ()

    def add_epoch(self, metrics: Mapping[str, float]) -> None:
        """Append one epoch's values; creates the cells on the first call."""
        if not self.history:
            for name in order_metrics(metrics):
                self.history[name] = []
                cell = Vertical(
                    Static("", classes="metric-label", id=data_id("label", name)),
                    Sparkline([], id=data_id("spark", name)),
                    classes="metric-cell",
                )
                self.mount(cell)
            self.call_after_refresh(self._redraw)
        for name, value in metrics.items():
            if name in self.history:
                self.history[name].append(value)
        if self.children:
            self._redraw()

    def _redraw(self) -> None:
        # "best" only where the cell has room for it (80 columns hold four short labels).
        cell_width = self.size.width // max(1, len(self.history))
        for name, values in self.history.items():
            if not values:
                continue
            try:
                label = self.query_one(f"#{data_id('label', name)}", Static)
                spark = self.query_one(f"#{data_id('spark', name)}", Sparkline)
            except Exception:  # noqa: BLE001 - cells are mounted on the next refresh
                return
            top = best(name, values, self.policy)
            text = Text.assemble((name, "bold"), f" {format_metric(values[-1])}")
            if cell_width >= len(name) + 22:
                text.append(f"  best {format_metric(top)}", style="dim")
            label.update(text)
            spark.data = list(values)
