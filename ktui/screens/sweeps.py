"""The recorded sweeps, newest first: status, trials done of the budget, best objective.

``enter`` opens a sweep's leaderboard (posting :class:`~ktui.navigation.OpenSweep`:
screens never import each other). Read once when the screen opens and again every
few seconds while a sweep is running (a sweep's rows are few: one query for the
sweeps, one per sweep for its trials).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static

from ktui.core.errors import KtuiError
from ktui.core.format import format_seconds
from ktui.core.sweep import best
from ktui.navigation import OpenSweep
from ktui.store.sweeps import SweepStore, leaderboard_rows
from ktui.widgets.footer import KtuiFooter

if TYPE_CHECKING:
    from ktui.app import KtuiApp

#: Seconds between two reads while some sweep is running.
REFRESH = 2.0

COLUMNS = ("id", "preset", "status", "trials", "best", "objective", "params", "elapsed")


class SweepsScreen(Screen[None]):
    """Every recorded sweep; ``enter`` opens its leaderboard."""

    AUTO_FOCUS = "#sweeps-table"

    BINDINGS = [
        Binding("enter", "open", "Leaderboard", priority=True),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.sweep_ids: list[int] = []
        """The sweeps in the table's order."""
        self._sweep_running = False

    @property
    def ktui(self) -> KtuiApp:
        return cast("KtuiApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield Static("", id="sweeps-status")
        table: DataTable[str] = DataTable(id="sweeps-table", cursor_type="row", zebra_stripes=True)
        table.add_columns(*COLUMNS)
        yield table
        yield KtuiFooter()

    def on_mount(self) -> None:
        self.read()
        self.set_interval(REFRESH, self._refresh_running)

    def _refresh_running(self) -> None:
        if self._sweep_running:
            self.read()

    def read(self) -> None:
        """Read the sweeps from the store and fill the table (the cursor stays)."""
        status = self.query_one("#sweeps-status", Static)
        store = self.ktui.store
        if store is None:
            status.update("No run store is open, so there are no sweeps to show.")
            return
        sweeps = SweepStore(store)
        try:
            records = sweeps.all()
            rows = []
            now = time.time()
            for sweep in records:
                trials = leaderboard_rows(sweep, sweeps.trials(sweep.id))
                done = sum(1 for r in trials if r.state not in ("queued", "running"))
                top = best(trials, sweep.settings.direction)
                shown = sweeps.shown_status(sweep)
                rows.append(
                    (
                        str(sweep.id),
                        sweep.preset,
                        shown,
                        f"{done}/{'∞' if sweep.settings.trials is None else sweep.settings.trials}",
                        "—" if top is None or top.objective is None else f"{top.objective:.4g}",
                        sweep.settings.objective,
                        " ".join(p.describe() for p in sweep.spec.params),
                        format_seconds((sweep.ended_at or now) - sweep.created_at),
                    )
                )
        except KtuiError as exc:
            status.update(f"Cannot read the sweeps: {exc}")
            return
        self._sweep_running = any(row[2] == "running" for row in rows)
        table = self.query_one("#sweeps-table", DataTable)
        cursor = table.cursor_row
        table.clear()
        for row in rows:
            table.add_row(*row, key=row[0])
        self.sweep_ids = [r.id for r in records]
        if rows:
            table.move_cursor(row=min(cursor, len(rows) - 1))
            status.update(
                f"{len(rows)} sweep{'s' if len(rows) != 1 else ''} · enter opens a "
                "sweep's leaderboard"
            )
        else:
            status.update(
                "No sweeps yet. Start one from a preset's form (F4: sweep mode) or with "
                "`ktui sweep PRESET --param NAME=A,B,C`."
            )

    def action_open(self) -> None:
        """Open the highlighted sweep's leaderboard."""
        table = self.query_one("#sweeps-table", DataTable)
        if not self.sweep_ids or table.cursor_row < 0:
            return
        self.post_message(OpenSweep(self.sweep_ids[min(table.cursor_row, len(self.sweep_ids) - 1)]))

    def action_back(self) -> None:
        """Back to the previous screen."""
        self.app.pop_screen()
