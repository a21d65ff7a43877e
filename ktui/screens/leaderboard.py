"""The leaderboard of a sweep: its trials ranked by the objective, live.

Reads the sweep from the store once a second while the sweep runs (one query for the
sweep, one for its trials, in a thread worker that only posts a message back); the
table recomputes only when the trials changed and draws only the lines on screen.
``enter`` posts :class:`LeaderboardScreen.OpenRun` for the app to open the trial's
run; ``c`` compares the marked trials' runs and ``i`` opens the importance and
parallel coordinates, both through the app's navigator (screens never import each
other); ``m`` switches the metric the sparklines draw (one query for every trial).

Steering writes to the store on the UI thread (one short transaction each), exactly as
``ktui sweeps stop-trial``, ``rerun-trial`` and ``change --param`` do: the sweep's
workers read it before their next trial.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, Static

from ktui.core.errors import KtuiError
from ktui.core.format import format_seconds
from ktui.core.presets import PresetCatalog
from ktui.core.sweep import (
    TRIAL_STATES,
    TrialRow,
    best,
    eta_seconds,
    parse_change,
    sweep_preset,
    trial_progress,
)
from ktui.navigation import OpenCompare, OpenSweepInsight
from ktui.screens.dialogs import AskDialog
from ktui.screens.report import export_sweep_report
from ktui.store import RunStore
from ktui.store.sweeps import SweepRecord, SweepStore, leaderboard_rows
from ktui.widgets.footer import KtuiFooter
from ktui.widgets.leaderboard import SORTS, LeaderboardTable

#: How many runs the compare view takes (as from the runs screen).
MIN_COMPARE, MAX_COMPARE = 2, 4


def _message(exc: KtuiError) -> str:
    """An error with its hint, for a notification."""
    return str(exc).replace("\n  ", " ")

#: Seconds between two looks at the store while the sweep runs.
REFRESH = 1.0


class LeaderboardScreen(Screen[None]):
    """One sweep's trials, ranked, with its progress and ETA."""

    BINDINGS = [
        # In the order the footer shows them: what fits in 80 columns comes first.
        Binding("enter", "open", "Open trial", priority=True),
        Binding("space", "mark", "Mark"),
        Binding("c", "compare", "Compare"),
        Binding("i", "insight", "Importance"),
        Binding("x", "stop_trial", "Stop trial"),
        Binding("r", "rerun_trial", "Re-run trial"),
        Binding("p", "change_param", "Change range"),
        Binding("s", "sort", "Sort"),
        Binding("S", "reverse", "Reverse", show=False),
        Binding("f", "filter", "Filter"),
        Binding("m", "metric", "Metric"),
        # x is this screen's stop-trial key; w writes the report (x on the run screens).
        Binding("w", "report", "Report"),
        Binding("escape", "back", "Back"),
    ]

    @dataclass
    class OpenRun(Message):
        """Open a trial's run: live when it is going, its detail otherwise."""

        run_id: int
        live: bool

    def __init__(
        self, store: RunStore, sweep_id: int, catalog: PresetCatalog | None = None
    ) -> None:
        super().__init__()
        self.catalog = catalog
        """Presets, to check a changed range against the sweep's (None: no changes)."""
        self.sweeps = SweepStore(store)
        self.sweep_id = sweep_id
        self.sweep: SweepRecord | None = None
        self.rows: list[TrialRow] = []
        """The trials as last read from the store."""
        self.changes: list[str] = []
        """The sweep's history of changes as last read (creation left out)."""
        self.metric: str | None = None
        """The metric the sparklines draw (None: the sweep's objective)."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="sweep-status")
        yield LeaderboardTable(id="leaderboard")
        yield Static("", id="trial-detail")
        yield KtuiFooter()

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
        changes: list[str] = field(default_factory=list)
        """The sweep's history of changes, oldest first, creation left out."""
        metric: str | None = None
        """The metric whose curves ``rows`` carry (None: the objective)."""

    def on_mount(self) -> None:
        self.refresh_board()  # the first read on the spot: the screen opens complete
        self.set_interval(REFRESH, self._read_in_background)
        self.table.focus()

    def _read(self) -> Read:
        try:
            sweep = self.sweeps.get(self.sweep_id)
            rows = leaderboard_rows(sweep, self.sweeps.trials(self.sweep_id))
            changes = [text for _, text in self.sweeps.changes(self.sweep_id)[1:]]
            metric = self.metric
            if metric is not None:
                # Another metric than the objective: its curves from the runs' epochs.
                curves = self.sweeps.metric_curves(self.sweep_id, metric)
                rows = [
                    replace(r, curve=curves.get(r.run_id, ()) if r.run_id is not None else ())
                    for r in rows
                ]
            return self.Read(sweep, rows, changes=changes, metric=metric)
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
        if message.metric != self.metric:
            return  # read before the person switched the metric: the next read counts
        self.sweep, self.rows = message.sweep, message.rows
        self.changes = message.changes
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
            curve=f"{self.metric or s.objective} curve",
        )
        started = sum(1 for r in rows if r.state != "queued")
        top = best(rows, s.direction)
        now = time.time()
        eta = (
            eta_seconds(rows, s.trials, s.workers, now, s.deadline(sweep.created_at))
            if sweep.status == "running"
            else None
        )
        parts = [
            f"Sweep {sweep.id} · {sweep.preset} · {sweep.status}",
            trial_progress(started, s.trials)
            + (f" in {format_seconds(s.time_budget)}" if s.time_budget is not None else ""),
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
        marked = self.table.marked
        marks = f" · marked {', '.join(map(str, marked))}" if marked else ""
        changes = ""
        if self.changes:
            before = len(self.changes) - 1
            more = f" (and {before} before: `ktui sweeps show {sweep.id}`)" if before else ""
            changes = f"\nlast change: {self.changes[-1]}{more}"
        self.query_one("#sweep-status", Static).update(
            " · ".join(parts) + sort + filters + marks + reason + changes
        )
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

    def action_metric(self) -> None:
        """Draw the sparklines of the next metric the trials logged (then the objective)."""
        sweep = self.sweep
        if sweep is None:
            return
        try:
            names = self.sweeps.metric_names(self.sweep_id)
        except KtuiError as exc:
            self.notify(_message(exc), severity="warning")
            return
        cycle: list[str | None] = [None, *[n for n in names if n != sweep.settings.objective]]
        index = cycle.index(self.metric) if self.metric in cycle else 0
        self.metric = cycle[(index + 1) % len(cycle)]
        self.refresh_board()

    # -- marking and comparing ----------------------------------------------------------
    def action_mark(self) -> None:
        """Mark or unmark the highlighted trial for comparison, then go to the next one."""
        row = self.table.current
        if row is None:
            return
        if row.run_id is None:
            self.notify(f"Trial {row.number} has no run yet to compare.", severity="warning")
            return
        table = self.table
        if row.number not in table.marked and len(table.marked) >= MAX_COMPARE:
            self.notify(
                f"At most {MAX_COMPARE} trials can be compared; unmark one first (space).",
                severity="warning",
            )
            return
        table.toggle_mark(row.number)
        self.redraw()
        table.action_move(1)

    def action_compare(self) -> None:
        """Compare the marked trials' runs (2 to 4) in the compare view."""
        runs = {r.number: r.run_id for r in self.rows}
        ids = [runs[n] for n in self.table.marked if runs.get(n) is not None]
        if not MIN_COMPARE <= len(ids) <= MAX_COMPARE:
            self.notify(
                f"Mark {MIN_COMPARE} to {MAX_COMPARE} trials with space to compare them "
                f"({len(ids)} marked).",
                severity="warning",
            )
            return
        self.post_message(OpenCompare([i for i in ids if i is not None]))

    def action_insight(self) -> None:
        """Open the importance of each hyperparameter and the parallel coordinates."""
        self.post_message(OpenSweepInsight(self.sweep_id))

    # -- steering ---------------------------------------------------------------------
    def action_stop_trial(self) -> None:
        """Stop the highlighted trial after its current batch (the sweep goes on)."""
        row = self.table.current
        if row is None:
            return
        try:
            run_id = self.sweeps.stop_trial(self.sweep_id, row.number)
        except KtuiError as exc:
            self.notify(str(exc), severity="warning")
            return
        self.notify(f"Trial {row.number} (run {run_id}) stops after its current batch.")
        self.refresh_board()

    def action_rerun_trial(self) -> None:
        """Try the highlighted trial's values again, as one more trial of the sweep."""
        row = self.table.current
        if row is None:
            return
        try:
            text = self.sweeps.rerun_trial(self.sweep_id, row.number)
            sweep = self.sweeps.get(self.sweep_id)
        except KtuiError as exc:
            self.notify(_message(exc), severity="warning", timeout=8)
            return
        later = (
            f" The sweep is {sweep.status}: `ktui sweeps resume {sweep.id}` runs it."
            if sweep.status != "running"
            else ""
        )
        self.notify(f"{text[0].upper()}{text[1:]}.{later}", timeout=8)
        self.refresh_board()

    def action_change_param(self) -> None:
        """Change how a swept hyperparameter varies, for the trials not started yet."""
        sweep = self.sweep
        if sweep is None:
            return
        if self.catalog is None:
            self.notify("This leaderboard cannot change the sweep.", severity="warning")
            return
        try:
            preset = sweep_preset(self.catalog, sweep.spec)
        except KtuiError as exc:
            self.notify(_message(exc), severity="warning")
            return
        param = sweep.spec.params[0]  # the text starts as the first one's, to edit

        def check(text: str) -> str | None:
            try:
                parse_change(preset, sweep.spec, text, sweep.id)
            except KtuiError as exc:
                return _message(exc)
            return None

        def apply(text: str | None) -> None:
            if not text:
                return
            try:
                change = self.sweeps.change_param(
                    sweep.id, parse_change(preset, sweep.spec, text, sweep.id)
                )
            except KtuiError as exc:
                self.notify(_message(exc), severity="error", timeout=8)
                return
            self.notify(f"{change}; trials not started yet follow it.", timeout=8)
            self.refresh_board()

        swept = ", ".join(p.describe() for p in sweep.spec.params)
        self.app.push_screen(
            AskDialog(
                f"Change how a hyperparameter varies (now {swept}). "
                "NAME=A,B,C, NAME=MIN..MAX or NAME=MIN..MAX:log:",
                value=param.describe(),
                check=check,
            ),
            apply,
        )

    def action_back(self) -> None:
        """Back to the previous screen (or quit, when this is the first)."""
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()
        else:
            self.app.exit(0)
