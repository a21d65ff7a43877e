"""The run history: every recorded run in a sortable, filterable table.

From here a run opens in detail (:mod:`ktui.screens.run_detail`), two to four
marked runs are compared (:mod:`ktui.screens.compare`), and a run is re-run
(same values, or through the pre-filled form) or deleted after asking
(:mod:`ktui.screens.run_actions`). The table itself, its columns and their sorting
are :mod:`ktui.screens.runs_table`.

The screen reads only what is on screen: one window of run summaries
(``RunStore.list_runs`` with a limit and an offset, sorted and filtered in SQL
through the store's indexes; never the epochs), their tags and notes, and the
counts. Moving past the window reads the next one (see
:class:`~ktui.screens.runs_table.RunsTable`), so the screen opens and answers keys
at once with 100,000 runs. Marks for comparison are run ids: they stay across
pages, sorts and filters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Header, Label, Select, Static

from ktui.core.errors import StoreError
from ktui.navigation import OpenCompare, OpenRunDetail, OpenSweep, OpenSweeps, OpenTraining
from ktui.presentation import (
    format_best,
    format_duration,
    format_error_percent,
    format_tags,
    format_time,
    values_text,
)
from ktui.screens.run_actions import confirm_delete, edit_rerun, rerun
from ktui.screens.runs_table import (
    COLUMNS,
    MAX_COMPARE,
    MIN_COMPARE,
    SORT_COLUMNS,
    WINDOW,
    RunsTable,
    Window,
)
from ktui.store import STATUSES, RunStore, RunSummary
from ktui.store.sweeps import SweepStore
from ktui.widgets.footer import KtuiFooter

if TYPE_CHECKING:
    from ktui.app import KtuiApp

POLL_SECONDS = 2.0
"""How often the list is re-read while some run is still going."""

_TABLE_ACTIONS = frozenset(
    ("open", "mark", "compare", "rerun", "edit", "delete", "sort", "reverse", "sweep")
)


class RunsScreen(Screen[None]):
    """Every recorded run: sort, filter, open, compare, re-run, delete."""

    # The table, not the first filter: one focus change (and footer rebuild) fewer.
    AUTO_FOCUS = "#runs-table"

    BINDINGS = [
        # priority: the table would take Enter itself and the footer would not show it.
        # In the order the footer shows them: what fits in 80 columns comes first.
        Binding("enter", "open", "Details", priority=True),
        Binding("space", "mark", "Mark"),
        Binding("c", "compare", "Compare"),
        Binding("s", "sort", "Sort"),
        Binding("S", "reverse", "Reverse", show=False),
        Binding("f", "filter", "Filter"),
        Binding("r", "rerun", "Re-run"),
        Binding("e", "edit", "Edit & re-run"),
        Binding("d,delete", "delete", "Delete"),
        Binding("w", "sweeps", "Sweeps"),
        Binding("l", "sweep", "Trial's sweep", show=False),  # the footer has no room left
        Binding("escape", "back", "Back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.runs: list[RunSummary] = []
        """The runs of the window shown, as last read."""
        self.tags: dict[int, list[str]] = {}
        """The tags of the window's tagged runs, as last read."""
        self.notes: dict[int, str] = {}
        """The notes of the window's runs that have one."""
        self.total = 0
        """How many runs the store has."""
        self.matching = 0
        """How many runs the filters leave (the length of the list)."""
        self.running = 0
        """How many runs are going (they are followed while there are some)."""
        self.sort_key = "id"
        self.sort_reverse = False
        self.preset_filter: str | None = None
        self.status_filter: str | None = None
        self.tag_filter: str | None = None
        self._by_id: dict[int, RunSummary] = {}
        self._presets_offered: tuple[str, ...] = ()
        self._best_metrics: list[str] = []
        self._deleted_row = 0
        self._tags_offered: tuple[str, ...] = ()
        self._asked = 0
        """How many reads of the list were asked (see :class:`_Ask`)."""

    @property
    def ktui(self) -> KtuiApp:
        return cast("KtuiApp", self.app)

    @property
    def store(self) -> RunStore | None:
        return self.ktui.store

    @property
    def table(self) -> RunsTable:
        """The runs table."""
        return self.query_one("#runs-table", RunsTable)

    @property
    def view(self) -> list[RunSummary]:
        """The runs shown, filtered and sorted."""
        return self.table.view

    @property
    def marked(self) -> list[int]:
        """Run ids marked for comparison, in the order they were marked."""
        return self.table.marked

    @property
    def loaded(self) -> bool:
        """True once every row of the view is in the table."""
        return self.table.loaded

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Horizontal(id="runs-filters"):
            yield Label("Preset", classes="filter-label")
            yield Select[str](
                [("all presets", "")],
                value="",
                allow_blank=False,
                compact=True,
                id="filter-preset",
            )
            yield Label("Status", classes="filter-label")
            yield Select[str](
                [("all statuses", ""), *((status, status) for status in STATUSES)],
                value="",
                allow_blank=False,
                compact=True,
                id="filter-status",
            )
            # Shown once some run has a tag (`ktui runs tag`).
            yield Label("Tag", classes="filter-label", id="filter-tag-label")
            yield Select[str](
                [("all tags", "")],
                value="",
                allow_blank=False,
                compact=True,
                id="filter-tag",
            )
        yield RunsTable(id="runs-table")
        yield Static("", id="runs-empty")
        yield Static("", id="runs-count")
        yield Static("", id="runs-current")
        yield KtuiFooter()

    def on_mount(self) -> None:
        self._show_tag_filter(False)
        self.table.show([], sort_key=self.sort_key, sort_reverse=self.sort_reverse, tags={})
        if self.store is None:
            self._show_empty(
                "Runs are not recorded in this session (it has no run store), so there is "
                "no history to show."
            )
            return
        self.set_interval(POLL_SECONDS, self._poll)

    def on_screen_resume(self) -> None:
        # Also sent when the screen is first shown, so the runs are read once here.
        # Back from a run, the form, a detail or a comparison, the store may have changed.
        # Read on the spot, not in a thread: the screen is then laid out and drawn once,
        # with its rows (read in a thread, it was drawn empty first, then again: 485
        # against 259 ms CPU time to the first key, 100,000 runs, at load 7, 2026-12-02).
        # The polls while runs go are read in a thread (_poll).
        if self.store is not None:
            self.reload()

    # ------------------------------------------------------------------ data
    def _filters(self) -> dict[str, object]:
        return {"preset": self.preset_filter, "status": self.status_filter, "tag": self.tag_filter}

    def _ask(self, *, keep_cursor: bool, same_window: bool) -> _Ask:
        """What a read of the list is for, taken on the event loop (see :meth:`_read`)."""
        current = self.current_run() if keep_cursor else None
        self._asked += 1
        return _Ask(
            serial=self._asked,
            filters=self._filters(),
            sort_key=self.sort_key,
            sort_reverse=self.sort_reverse,
            start=self.table.start if same_window and self.view else 0,
            current=None if current is None else current.id,
            marked=tuple(self.marked),
            same_window=same_window,
        )

    def _read_window(
        self,
        store: RunStore,
        start: int,
        count: int,
        *,
        ask: _Ask | None = None,
    ) -> tuple[list[RunSummary], dict[int, list[str]]]:
        """The runs at ``start`` in the list as it is sorted and filtered (as ``ask``
        says, else as the screen is now), and their tags."""
        filters = self._filters() if ask is None else ask.filters
        runs = store.list_runs(
            **filters,  # type: ignore[arg-type]
            sort=self.sort_key if ask is None else ask.sort_key,  # type: ignore[arg-type]
            reverse=self.sort_reverse if ask is None else ask.sort_reverse,
            limit=count,
            offset=start,
        )
        return runs, store.tags_of(run.id for run in runs)

    def _fetch(self, start: int, count: int) -> Window:
        """The table's ``fetch``: another window, read on the event loop when the cursor
        moves past this one or ahead of it in a thread worker (so it only reads)."""
        store = self.store
        if store is None:
            return Window([], {})
        runs, tags = self._read_window(store, start, count)
        return Window(runs, tags, store.notes_of(run.id for run in runs))

    def on_runs_table_moved(self, message: RunsTable.Moved) -> None:
        # The table shows another window: what the screen knows of it follows.
        window = message.window
        self.runs, self.tags, self.notes = window.runs, dict(window.tags), window.notes
        self._by_id = {run.id: run for run in window.runs}
        self._asked += 1  # a poll read in a thread meanwhile is of the window before

    def reload(self) -> None:
        """Read the window again and show it (the cursor stays on its run)."""
        self._read(keep_cursor=True, same_window=True)

    def _read(self, *, keep_cursor: bool, same_window: bool) -> None:
        """Read the counts, the filters' choices and a window of the list, and show them.

        ``same_window``: the window the table has (a poll, a return to the screen);
        else the one that starts the list, or has the highlighted run when it is
        further down (a new sort or filter).
        """
        store = self.store
        if store is None:
            return
        ask = self._ask(keep_cursor=keep_cursor, same_window=same_window)
        try:
            found = self._gather(store, ask)
        except StoreError as exc:
            found = _Found(error=str(exc))
        self._take(ask, found)

    def _read_in_background(self) -> None:
        """:meth:`reload` with the store read in a thread worker; shown on the loop."""
        store = self.store
        if store is not None:
            self._gather_in_thread(store, self._ask(keep_cursor=True, same_window=True))

    @work(thread=True, exclusive=True, group="runs-read", exit_on_error=False)
    def _gather_in_thread(self, store: RunStore, ask: _Ask) -> None:
        try:
            found = self._gather(store, ask)
        except StoreError as exc:
            found = _Found(error=str(exc))
        except Exception as exc:  # noqa: BLE001 - said on the screen, not lost in a thread
            found = _Found(error=f"{type(exc).__name__}: {exc}")
        self.post_message(self._Read(ask, found))

    @dataclass
    class _Read(Message, bubble=False):
        """What the thread worker read, for :meth:`_take` on the loop."""

        ask: _Ask
        found: _Found

    def on_runs_screen__read(self, message: _Read) -> None:
        if message.ask.serial == self._asked:  # else the list was read again since
            self._take(message.ask, message.found)

    def _gather(self, store: RunStore, ask: _Ask) -> _Found:
        """Everything :meth:`_take` shows, read from the store (only reads: it runs in
        a thread worker too)."""
        filters = ask.filters
        total = store.count_runs()
        matching = store.count_runs(**filters)  # type: ignore[arg-type]
        running = store.count_runs(status="running")
        presets = store.presets_used()
        tag_names = store.tag_names()
        start = max(0, min(ask.start, matching - WINDOW))
        runs, tags = self._read_window(store, start, WINDOW, ask=ask)
        current = ask.current
        if current is not None and current not in {run.id for run in runs}:
            where = store.run_position(
                current,
                **filters,  # type: ignore[arg-type]
                sort=ask.sort_key,  # type: ignore[arg-type]
                reverse=ask.sort_reverse,
            )
            if where is not None and where >= WINDOW:
                start = max(0, min(where - WINDOW // 2, matching - WINDOW))
                runs, tags = self._read_window(store, start, WINDOW, ask=ask)
        return _Found(
            total=total,
            matching=matching,
            running=running,
            presets=presets,
            tag_names=tag_names,
            start=start,
            runs=runs,
            tags=tags,
            notes=store.notes_of(run.id for run in runs),
            metrics=store.best_metrics(**filters),  # type: ignore[arg-type]
            gone=[run_id for run_id in ask.marked if not store.has_run(run_id)],
        )

    def _take(self, ask: _Ask, found: _Found) -> None:
        """Show what :meth:`_gather` read for ``ask``."""
        if found.error:
            self._show_empty(f"Could not read the run store: {found.error}")
            return
        self.total, self.matching, self.running = found.total, found.matching, found.running
        self.notes = found.notes
        self._best_metrics = found.metrics
        self.marked[:] = [run_id for run_id in self.marked if run_id not in found.gone]
        self._offer_presets(found.presets)
        self._offer_tags(found.tag_names)
        runs, tags, start = found.runs, found.tags, found.start
        if ask.same_window and start == self.table.start:
            if runs == self.runs and tags == self.tags and self.view:
                self.table.refresh_running(self.runs)
                self._show_status()
                return
            if self._update_in_place(runs, tags):
                self._show_status()
                return
        cursor = ask.current
        if ask.same_window:
            # Read in a thread, the cursor may have moved since: it stays where it is now.
            now = self.current_run()
            cursor = cursor if now is None else now.id
        self.runs = runs
        self.tags = tags
        self._by_id = {run.id: run for run in runs}
        self._show_view(runs, cursor, start=start)

    def _poll(self) -> None:
        """While a run is going, follow it (epochs, best, status, duration)."""
        # Hidden under another screen, nothing is read: it is read again on return.
        if self.is_current and self.running:
            self._read_in_background()

    def _update_in_place(self, runs: list[RunSummary], tags: dict[int, list[str]]) -> bool:
        """Runs that only progressed (epochs, best, duration) get their cells updated.

        The rows stay where they are until the next sort or filter; a new, deleted
        or ended run, or other tags, lay the table out again (False).
        """
        old = self._by_id
        if len(runs) != len(old) or self.matching != self.table.total:
            return False
        if any(run.id not in old or old[run.id].status != run.status for run in runs):
            return False
        if not self.table.update_in_place(runs, tags):
            return False
        self.runs = runs
        self._by_id = {run.id: run for run in runs}
        self._show_current()
        return True

    def _offer_presets(self, names: list[str]) -> None:
        presets = tuple(names)
        if presets == self._presets_offered:
            return
        self._presets_offered = presets
        select = cast("Select[str]", self.query_one("#filter-preset", Select))
        keep = self.preset_filter
        with self.prevent(Select.Changed):
            select.set_options([("all presets", ""), *((name, name) for name in presets)])
            select.value = keep if keep in presets else ""
        if keep not in presets:
            self.preset_filter = None

    def _offer_tags(self, names: list[str]) -> None:
        offered = tuple(names)
        self._show_tag_filter(bool(offered))
        if offered == self._tags_offered:
            return
        self._tags_offered = offered
        select = cast("Select[str]", self.query_one("#filter-tag", Select))
        keep = self.tag_filter
        with self.prevent(Select.Changed):
            select.set_options([("all tags", ""), *((tag, tag) for tag in offered)])
            select.value = keep if keep in offered else ""
        if keep not in offered:
            self.tag_filter = None

    def _show_tag_filter(self, shown: bool) -> None:
        self.query_one("#filter-tag-label").display = shown
        self.query_one("#filter-tag").display = shown

    def _apply(self, *, keep_cursor: bool) -> None:
        """Filter, sort and show; the highlighted run stays highlighted if it is shown."""
        self._read(keep_cursor=keep_cursor, same_window=False)

    def _show_view(self, view: list[RunSummary], cursor_run: int | None, *, start: int = 0) -> None:
        empty = self.query_one("#runs-empty", Static)
        table = self.table
        table.show(
            view,
            sort_key=self.sort_key,
            sort_reverse=self.sort_reverse,
            tags=self.tags,
            cursor_run=cursor_run,
            start=start,
            total=self.matching,
            fetch=self._fetch,
            any_tags=bool(self._tags_offered),
            metrics=self._best_metrics,
        )
        # Shown again after a store that could not be read (see _show_empty).
        table.display = True
        self.query_one("#runs-filters").display = True
        if not view:
            if not self.total:
                message = "No runs recorded yet. Train one from a preset (esc, then Enter)."
            else:
                message = "No run matches the filters (f changes them)."
            empty.update(Text(message, style="italic"))
            empty.display = True
        else:
            empty.display = False
        self._show_status()

    def on_runs_table_filled(self, _: RunsTable.Filled) -> None:
        self._show_current()
        self._show_status()

    def on_resize(self) -> None:
        # The hyperparameters column is sized to the screen: lay the table out again.
        if self.view and self.app.size.width != self.table.laid_out_for:
            current = self.current_run()
            cursor = None if current is None else current.id
            self._show_view(self.view, cursor, start=self.table.start)

    def _show_empty(self, message: str) -> None:
        self.table.display = False
        self.query_one("#runs-filters").display = False
        empty = self.query_one("#runs-empty", Static)
        empty.update(Text(message, style="italic"))
        empty.display = True
        self.query_one("#runs-current", Static).update("")

    # ------------------------------------------------------------------ status lines
    def _show_status(self) -> None:
        column = SORT_COLUMNS[self.sort_key]
        order = column.reverse if self.sort_reverse else column.natural
        shown = self.matching
        total = self.total
        count = f"{shown:,} of {total:,} runs" if shown != total else f"{total:,} runs"
        text = Text(f"{count} · sorted by {column.label}, {order}")
        if shown > len(self.view) and self.view:
            # Only a window is in the table: say where in the list the cursor is.
            text.append(f" · row {self.table.position + 1:,}")
        if self.marked:
            text.append(f" · marked {', '.join(map(str, sorted(self.marked)))}", style="bold")
        self.query_one("#runs-count", Static).update(text)

    def _show_current(self) -> None:
        run = self.current_run()
        line = self.query_one("#runs-current", Static)
        if run is None:
            line.update("")
            return
        text = Text()
        text.append(f"run {run.id}", style="bold")
        text.append(f" · {run.preset} · {run.status} · {values_text(run)}")
        if run.best_metric is not None:
            text.append(f" · best {format_best(run, epoch=True)}")
        if run.test_error_percent is not None:
            text.append(f" · test error {format_error_percent(run)}%")
        if run.error:
            text.append(f" · {run.error}", style=self.app.theme_variables.get("text-error", ""))
        text.append(f" · started {format_time(run.started_at)} · {format_duration(run)}")
        if run.backend != "—":
            text.append(f" · {run.backend}")
        if run.id in self.tags:
            text.append(f" · tags {format_tags(self.tags[run.id])}")
        if run.id in self.notes:
            text.append(f" · {self.notes[run.id]}", style="italic")
        line.update(text)

    @on(DataTable.RowHighlighted, "#runs-table")
    def _highlighted(self, _: DataTable.RowHighlighted) -> None:
        self._show_current()
        if self.matching > len(self.view):
            self._show_status()

    @on(DataTable.RowSelected, "#runs-table")
    def _selected(self, _: DataTable.RowSelected) -> None:
        self.action_open()

    # ------------------------------------------------------------------ selection
    def current_run(self) -> RunSummary | None:
        """The highlighted run, or None when the table is empty."""
        return self.table.current_run()

    # ------------------------------------------------------------------ sorting and filters
    @on(DataTable.HeaderSelected, "#runs-table")
    def _header(self, event: DataTable.HeaderSelected) -> None:
        key = event.column_key.value
        if key not in SORT_COLUMNS:
            return
        if key == self.sort_key:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_key, self.sort_reverse = key, False
        self._sorted()

    def action_sort(self) -> None:
        """Sort by the next column."""
        keys = [column.key for column in COLUMNS]
        self.sort_key = keys[(keys.index(self.sort_key) + 1) % len(keys)]
        self.sort_reverse = False
        self._sorted()

    def action_reverse(self) -> None:
        """Reverse the order."""
        self.sort_reverse = not self.sort_reverse
        self._sorted()

    def sort_by(self, key: str, *, reverse: bool = False) -> None:
        """Sort by column ``key`` (one of :data:`SORT_COLUMNS`)."""
        if key not in SORT_COLUMNS:
            raise ValueError(f"no column {key!r}")
        self.sort_key, self.sort_reverse = key, reverse
        self._sorted()

    def _sorted(self) -> None:
        self._apply(keep_cursor=True)

    def action_filter(self) -> None:
        """Move to the filters (Tab to the next one, Enter opens one, Esc goes back)."""
        self.query_one("#filter-preset", Select).focus()

    @on(Select.Changed, "#filter-preset")
    def _preset_changed(self, event: Select.Changed) -> None:
        # A Select also reports its first value when it is mounted: not a change.
        if _chosen(event.value) != self.preset_filter:
            self.preset_filter = _chosen(event.value)
            self._apply(keep_cursor=True)

    @on(Select.Changed, "#filter-status")
    def _status_changed(self, event: Select.Changed) -> None:
        if _chosen(event.value) != self.status_filter:
            self.status_filter = _chosen(event.value)
            self._apply(keep_cursor=True)

    @on(Select.Changed, "#filter-tag")
    def _tag_changed(self, event: Select.Changed) -> None:
        if _chosen(event.value) != self.tag_filter:
            self.tag_filter = _chosen(event.value)
            self._apply(keep_cursor=True)

    def set_filters(
        self, *, preset: str | None = None, status: str | None = None, tag: str | None = None
    ) -> None:
        """Show only ``preset``'s runs with ``status`` and ``tag`` (None: any), as the
        filter bar does."""
        self.query_one("#filter-preset", Select).value = preset or ""
        self.query_one("#filter-status", Select).value = status or ""
        self.query_one("#filter-tag", Select).value = tag or ""

    # ------------------------------------------------------------------ actions
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in _TABLE_ACTIONS:
            # Greyed out while a filter has the focus: its keys (Enter opens it, letters
            # search its choices) must reach it.
            if self.store is None:
                return False
            return True if isinstance(self.focused, DataTable) else None
        return True

    def action_back(self) -> None:
        """Back to the table from the filters; back to the previous screen from the table."""
        if not isinstance(self.focused, DataTable) and self.store is not None:
            self.table.focus()
            return
        self.app.pop_screen()

    def action_open(self) -> None:
        """Open the highlighted run: all its values, epochs, curves and log."""
        run = self.current_run()
        if run is None:
            return
        if run.status == "running" and self.store is not None:
            # A live run opens as it is shown while training: followed, and steerable.
            self.post_message(OpenTraining(None, attach=run.id))
            return
        self.post_message(OpenRunDetail(run.id))

    def action_sweeps(self) -> None:
        """The recorded sweeps; enter opens one's leaderboard."""
        self.post_message(OpenSweeps())

    def action_sweep(self) -> None:
        """The leaderboard of the sweep the highlighted run is a trial of."""
        run = self.current_run()
        if run is None or self.store is None:
            return
        try:
            found = SweepStore(self.store).sweep_of_run(run.id)
        except StoreError as exc:
            self.notify(f"Cannot read run {run.id}'s sweep: {exc}", severity="error")
            return
        if found is None:
            self.notify(
                f"Run {run.id} is not a trial of a sweep; w lists the sweeps.", severity="warning"
            )
            return
        self.post_message(OpenSweep(found[0]))

    def action_mark(self) -> None:
        """Mark or unmark the highlighted run for comparison, then go to the next one."""
        run = self.current_run()
        if run is None:
            return
        if run.id not in self.marked and len(self.marked) >= MAX_COMPARE:
            self.notify(
                f"At most {MAX_COMPARE} runs can be compared; unmark one first (space).",
                severity="warning",
            )
            return
        table = self.table
        table.toggle_mark(run.id)
        table.action_cursor_down()
        self._show_status()

    def action_compare(self) -> None:
        """Compare the marked runs (2 to 4): curves overlaid, differing values side by side."""
        count = len(self.marked)
        if not MIN_COMPARE <= count <= MAX_COMPARE:
            self.notify(
                f"Mark {MIN_COMPARE} to {MAX_COMPARE} runs with space to compare them "
                f"({count} marked).",
                severity="warning",
            )
            return
        self.post_message(OpenCompare(sorted(self.marked)))

    def action_rerun(self) -> None:
        """Run the highlighted run again with the same preset, values and data."""
        run = self.current_run()
        if run is not None:
            rerun(self, run)

    def action_edit(self) -> None:
        """Open the form with the highlighted run's values, to change one and run."""
        run = self.current_run()
        if run is not None:
            edit_rerun(self, run)

    def action_delete(self) -> None:
        """Delete the highlighted run, after asking."""
        run = self.current_run()
        if run is not None:
            self._deleted_row = self.table.cursor_row
            confirm_delete(self, run, self._deleted)

    def _deleted(self, run_id: int) -> None:
        self.tags.pop(run_id, None)
        if run_id in self.marked:
            self.marked.remove(run_id)
        # The window is read again: the run after it moves up into the table.
        self._read(keep_cursor=False, same_window=True)
        self.table.go_to(self.table.start + min(self._deleted_row, max(0, len(self.view) - 1)))
        self._show_status()
        self._show_current()


def _chosen(value: object) -> str | None:
    """A filter's value: the choice, or None for "all" (the empty value)."""
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class _Ask:
    """What one read of the list is for: the sort and filters, the window and the
    highlighted run as they were when it was asked (on the event loop)."""

    serial: int
    """Counts the reads asked: a read from a thread shown after a newer one is dropped."""
    filters: dict[str, object]
    sort_key: str
    sort_reverse: bool
    start: int
    current: int | None
    marked: tuple[int, ...]
    same_window: bool


@dataclass
class _Found:
    """What one read of the list found (or ``error``: why the store could not be read)."""

    total: int = 0
    matching: int = 0
    running: int = 0
    presets: list[str] = field(default_factory=list)
    tag_names: list[str] = field(default_factory=list)
    start: int = 0
    runs: list[RunSummary] = field(default_factory=list)
    tags: dict[int, list[str]] = field(default_factory=dict)
    notes: dict[int, str] = field(default_factory=dict)
    metrics: list[str] = field(default_factory=list)
    gone: list[int] = field(default_factory=list)
    error: str = ""
