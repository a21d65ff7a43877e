"""What a sweep's trials say about its hyperparameters: their importance to the
objective (Optuna's PED-ANOVA evaluator) as a bar list, and a parallel-coordinates
view, one line per trial across the hyperparameters' axes with the best highlighted.

Opened from the leaderboard (``i``). The sweep is read once on the UI thread (two
queries); the importance, which loads Optuna, is computed in a thread worker that
only posts its result back.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, Static

from ktui.core.errors import KtuiError
from ktui.core.sweep import TrialRow
from ktui.core.sweep_insight import (
    EVALUATOR,
    importance_bars,
    importances,
    parallel_coordinates,
)
from ktui.store import RunStore
from ktui.store.sweeps import SweepRecord, SweepStore, leaderboard_rows
from ktui.widgets.footer import KtuiFooter
from ktui.widgets.parallel import ParallelCoordinates

#: The importance bars' width at most (narrower on a narrow terminal).
BAR_WIDTH = 30


class SweepInsightScreen(Screen[None]):
    """A sweep's parameter importance and parallel coordinates."""

    BINDINGS = [
        Binding("r", "reload", "Reload"),
        Binding("escape", "back", "Back"),
    ]

    @dataclass
    class Computed(Message):
        """The importance, computed off the UI thread (or why there is none)."""

        values: dict[str, float]
        error: str = ""

    def __init__(self, store: RunStore, sweep_id: int) -> None:
        super().__init__()
        self.sweeps = SweepStore(store)
        self.sweep_id = sweep_id
        self.sweep: SweepRecord | None = None
        self.rows: list[TrialRow] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="insight-title")
        yield Static("Importance: computing…", id="importance")
        yield ParallelCoordinates(id="parallel")
        yield Static("", id="parallel-legend")
        yield KtuiFooter()

    def on_mount(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        """Read the sweep again and redraw both views."""
        title = self.query_one("#insight-title", Static)
        try:
            self.sweep = self.sweeps.get(self.sweep_id)
            self.rows = leaderboard_rows(self.sweep, self.sweeps.trials(self.sweep_id))
        except KtuiError as exc:
            title.update(f"Cannot read sweep {self.sweep_id}: {exc}")
            return
        sweep = self.sweep
        s = sweep.settings
        title.update(
            f"Sweep {sweep.id} · {sweep.preset} · {s.objective} ({s.direction}) · "
            f"{sum(1 for r in self.rows if r.state == 'finished')} finished trials"
        )
        axes, lines = parallel_coordinates(self.rows, sweep.spec.params, s.direction)
        self.query_one(ParallelCoordinates).show(axes, lines)
        top = next((line for line in lines if line.best), None)
        legend = f"{len(lines)} trials: dim is the worst {s.objective}, bright the best"
        if top is not None:
            best = f"best: trial {top.number} ({s.objective} {top.objective:.4g}) in yellow"
            legend = f"{best} · {legend}"
        self.query_one("#parallel-legend", Static).update(legend)
        self._compute()

    @work(thread=True, exclusive=True, group="importance", exit_on_error=False)
    def _compute(self) -> None:
        sweep = self.sweep
        if sweep is None:
            return
        try:
            values = importances(self.rows, sweep.spec.params, sweep.settings.direction)
        except KtuiError as exc:
            self.post_message(self.Computed({}, str(exc)))
            return
        self.post_message(self.Computed(values))

    def on_sweep_insight_screen_computed(self, message: Computed) -> None:
        box = self.query_one("#importance", Static)
        if message.error:
            box.update(f"Importance: none yet ({message.error}).")
            return
        width = max(10, min(BAR_WIDTH, self.size.width - 40))
        bars = "\n".join(importance_bars(message.values, width))
        box.update(f"Importance (Optuna's {EVALUATOR} evaluator):\n{bars}")

    def action_back(self) -> None:
        """Back to the leaderboard."""
        self.app.pop_screen()
