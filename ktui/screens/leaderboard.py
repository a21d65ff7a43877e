"""The leaderboard of a sweep: its trials ranked by the objective, live.

Reads the sweep from the store once a second while the sweep runs (one query for the
sweep, one for its trials, in a thread worker that only posts a message back); the
table recomputes only when the trials changed and draws only the lines on screen. ``enter`` posts
:class:`LeaderboardScreen.OpenRun` for the app to open the trial's run (screens never
import each other).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from ktui.core.errors import KtuiError
from ktui.core.format import format_seconds
from ktui.core.sweep import TRIAL_STATES, TrialRow, best, eta_seconds
from ktui.screens.report import export_sweep_report
from ktui.store import RunStore
from ktui.store.sweeps import SweepRecord, SweepStore, leaderboard_rows
from ktui.widgets.leaderboard import SORTS, LeaderboardTable

#: Seconds between two looks at the store while the sweep runs.
REFRESH = 1.0


class LeaderboardScreen(Screen[None]):
    """One sweep's trials, ranked, with its progress and ETA."""

    BINDINGS = [
        Binding("enter", "open", "Open trial", priority=True),
        Binding("s", "sort", "Sort"),
        Binding("S", "reverse", "Reverse", show=False),
        Binding("f", "filter", "Filter"),
        Binding("x", "report", "Report"),
        Binding("escape", "back", "Back"),
    ]

    @dataclass
    class OpenRun(Message):
        """Open a trial's run: live when it is going, its detail otherwise."""

        run_id: int
        live: bool

    def __init__(self, store: RunStore, sweep_id: int) -> None:
        super().__init__()
        self.sweeps = SweepStore(store)
        self.sweep_id = sweep_id
        self.sweep: SweepRecord | None = None
        self.rows: list[TrialRow] = []
        """The trials as last read from the store."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="sweep-status")
        yield LeaderboardTable(id="leaderboard")
        yield Static("", id="trial-detail")
        yield Footer()

    @property
    def table(self) -> LeaderboardTable:
        """The trials' table."""
        return self.query_one(LeaderboardTable)

    @dataclass
    class Read(Message):
        """The sweep as read from the store by the refresh worker (or why it could not be)."""

        sweep: SweepRecord | None
        rows: list[TrialRow]
        error: str = ""

    def on_mount(self) -> None:
        self.refresh_board()  # the first read on the spot: the screen opens complete
        self.set_interval(REFRESH, self._read_in_background)
        self.table.focus()

    def _read(self) -> Read:
        try:
            sweep = self.sweeps.get(self.sweep_id)
            return self.Read(sweep, leaderboard_rows(sweep, self.sweeps.trials(self.sweep_id)))
        except KtuiError as exc:
            return self.Read(None, [], str(exc))

    def refresh_board(self) -> None:
        """Read the sweep and its trials now and redraw what changed."""
        self.on_leaderboard_screen_read(self._read())

    @work(thread=True, exclusive=True, group="leaderboard", exit_on_error=False)
    def _read_in_background(self) -> None:
        """While the sweep runs, read it off the UI thread (1,000 trials: tens of ms)."""
        if self.sweep is not None and self.sweep.status != "running":
            return
        self.post_message(self._read())

    def on_leaderboard_screen_read(self, message: Read) -> None:
        if message.sweep is None:
            self.query_one("#sweep-status", Static).update(
                f"Cannot read sweep {self.sweep_id}: {message.error}"
            )
            return
        self.sweep, self.rows = message.sweep, message.rows
        self.redraw()

    def redraw(self) -> None:
        """Draw the rows last read (a sort or a filter needs no new read)."""
        sweep, rows = self.sweep, self.rows
        if sweep is None:
            return
        s = sweep.settings
        self.table.show(
            rows,
            params=[p.name for p in sweep.spec.params],
            objective=s.objective,
            direction=s.direction,
        )
        started = sum(1 for r in rows if r.state != "queued")
        top = best(rows, s.direction)
        now = time.time()
        eta = eta_seconds(rows, s.trials, s.workers, now) if sweep.status == "running" else None
        parts = [
            f"Sweep {sweep.id} · {sweep.preset} · {sweep.status}",
            f"trial {started} of {s.trials}",
            f"best {s.objective} "
            + (f"{top.objective:.4g} (trial {top.number})" if top and top.objective else "—"),
            f"elapsed {format_seconds((sweep.ended_at or now) - sweep.created_at)}",
        ]
        if eta is not None:
            parts.append(f"ETA {format_seconds(eta)}")
        shown = self.table.state_filter
        filters = f" · only {shown}" if shown else ""
        sort = f" · sorted by {self.table.sort_by}{' (reversed)' if self.table.reverse else ''}"
        reason = f"\n{sweep.reason}" if sweep.reason else ""
        self.query_one("#sweep-status", Static).update(" · ".join(parts) + sort + filters + reason)
        self._detail()

    def _detail(self) -> None:
        row = self.table.current
        text = ""
        if row is not None:
            values = ", ".join(f"{k}={v}" for k, v in row.params.items())
            run = f"run {row.run_id}" if row.run_id is not None else "no run yet"
            text = f"trial {row.number} ({run}): {row.state}"
            if values:
                text += f" · {values}"
            if row.reason:
                text += f"\n{row.reason}"
        self.query_one("#trial-detail", Static).update(text)

    def on_leaderboard_table_highlighted(self) -> None:
        self._detail()

    def action_sort(self) -> None:
        """Sort by the next column (rank, trial, state, objective, epochs)."""
        table = self.table
        table.sort_by = SORTS[(SORTS.index(table.sort_by) + 1) % len(SORTS)]
        self.redraw()

    def action_reverse(self) -> None:
        """Reverse the order."""
        self.table.reverse = not self.table.reverse
        self.redraw()

    def action_filter(self) -> None:
        """Show only one state, the next one each time (then all again)."""
        table = self.table
        present = {r.state for r in self.rows}
        cycle: list[str | None] = [None, *[s for s in TRIAL_STATES if s in present]]
        index = cycle.index(table.state_filter) if table.state_filter in cycle else 0
        table.state_filter = cycle[(index + 1) % len(cycle)]
        self.redraw()

    def action_open(self) -> None:
        """Open the highlighted trial's run."""
        row = self.table.current
        if row is None or row.run_id is None:
            self.notify("This trial has no run yet.", severity="warning")
            return
        self.post_message(self.OpenRun(row.run_id, live=row.state == "running"))

    def action_report(self) -> None:
        """Write the sweep's report (leaderboard, importance, parallel coordinates)."""
        export_sweep_report(self, self.sweep_id)

    def action_back(self) -> None:
        """Back to the previous screen (or quit, when this is the first)."""
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()
        else:
            self.app.exit(0)
