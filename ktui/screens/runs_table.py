"""The runs table of the history screen: its columns, their sorting, and a DataTable
that shows 100,000 run summaries without making the screen wait.

:class:`RunsTable` holds a *window* of the list, at most :data:`WINDOW` rows: the
screen gives it the window's runs (filtered and sorted by the store, in SQL), the
total count and a ``fetch(offset, count)`` that reads another window. When the
cursor moves past either end of the window (↑ ↓, page keys, ctrl+home/end) the
table reads the window around its new place and shows that, so moving anywhere in
100,000 runs costs one page query and a window of rows. When the cursor comes within
:data:`READ_AHEAD` rows of the window's edge, the next window is read in a thread
worker, so that moving on into it only swaps the rows (no query on the event loop).
It lays its columns out for the screen's width, fills the first window a chunk at a
time, and posts :class:`RunsTable.Filled` after each chunk (and
:class:`RunsTable.Moved` with another window) so its screen can update what depends
on the cursor. It reads nothing itself: the screen owns the store.

:func:`filter_runs` and :func:`sort_runs` are the same orders in memory (the
store's tests check them against each other).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from rich.text import Text
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import DataTable

from ktui.core.backends import compact
from ktui.core.format import format_metric
from ktui.presentation import (
    STATUS_TONE,
    format_best,
    format_duration,
    format_error_percent,
    format_tags,
    format_time,
    values_text,
)
from ktui.store import RunSummary

FIRST_CHUNK = 160
"""Rows put in the table before the screen is first drawn: the whole window
(:data:`WINDOW`). Measured at 120x40 on 1,000 runs: ready for keys 192 ms against
170 ms with 60 rows first, but every row is in then (192 ms against 395 ms) and no key
waits behind a later chunk (p95 111 ms while 100 rows followed; 77 ms in chunks of 25)."""

CHUNK = 150
"""Rows added per step after the first paint. A DataTable row costs about 0.2 ms to add
and measure, and each step re-renders what the table shows: 150 rows keep a key
pressed meanwhile waiting at most ~50 ms, in few enough steps."""

WINDOW = 160
"""Rows held in the table at once: four screens' worth at 40 lines. Moving out of
them reads the next window (one indexed page query and 160 rows added: ~40 ms on
a loaded 2-core machine, plus the repaint); moving down, most of it lies ahead."""

MARGIN = 8
"""Rows kept behind the cursor when a window is read while moving down (or up)."""

READ_AHEAD = 48
"""Rows from the window's edge at which the next window is read in a thread: more than
a page at 40 lines, so that a page key still lands in a window already read."""

AHEAD_MAX_AGE = 5.0
"""Seconds a window read ahead is used for; older, it is read again (runs progress)."""

MIN_COMPARE, MAX_COMPARE = 2, 4
"""How many marked runs can be compared (the compare screen takes as many)."""

VALUES_WIDTH = (12, 40)
"""The hyperparameters column gets what the screen's width leaves, within these bounds;
longer texts are cut with "…" (the line under the table has them all)."""


# --------------------------------------------------------------------------- columns and sorting
@dataclass(frozen=True)
class Column:
    """A column of the runs table; ``key`` is also what it sorts by."""

    key: str
    label: str
    natural: str
    """How the column sorts by default, for the status line ("newest first")."""
    reverse: str
    right: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("id", "id", "newest first", "oldest first", right=True),
    Column("preset", "preset", "A to Z", "Z to A"),
    Column("values", "hyperparameters", "A to Z", "Z to A"),
    Column("best", "best", "best first", "worst first"),
    Column("test_error", "err %", "lowest first", "highest first", right=True),
    Column("status", "status", "A to Z", "Z to A"),
    Column("started", "started", "newest first", "oldest first"),
    Column("duration", "duration", "longest first", "shortest first", right=True),
)
"""The columns after the mark column, in order; ``s`` cycles through them."""

TAGS_COLUMN = "tags"
"""The tags column's key, after the status: shown only when some run in the store has
tags (it does not sort)."""

BACKEND_COLUMN = "backend"
"""The backend column's key (``tf 2.21.0``), after the status and the tags: the backend
and its version each run recorded (it does not sort)."""

SORT_COLUMNS: dict[str, Column] = {column.key: column for column in COLUMNS}


def _sort_value(run: RunSummary, key: str, now: float) -> Any:
    """The value sorted on, oriented so that ascending is the natural order; None sorts last."""
    if key == "id":
        return -run.id
    if key == "started":
        return -run.started_at
    if key == "preset":
        return run.preset
    if key == "status":
        return run.status
    if key == "values":
        return values_text(run)
    if key == "best":
        if run.best_value is None or run.best_metric is None:
            return None
        return run.best_value if run.policy.lower_is_better(run.best_metric) else -run.best_value
    if key == "test_error":
        return None if run.test_accuracy is None else -run.test_accuracy
    if key == "duration":
        end = run.ended_at if run.ended_at is not None else now
        return -(end - run.started_at)
    raise ValueError(f"cannot sort runs by {key!r}")


def sort_runs(
    runs: Sequence[RunSummary], key: str, *, reverse: bool = False, now: float | None = None
) -> list[RunSummary]:
    """Runs in the order ``RunStore.list_runs(sort=key, reverse=reverse)`` gives.

    Natural directions as the store's (newest, best, lowest error, longest first;
    text A to Z); missing values last either way; ties newest first (oldest first
    when reversed). ``values`` (the hyperparameters text) sorts A to Z.
    """
    now = time.time() if now is None else now
    ordered = sorted(runs, key=lambda run: run.id, reverse=not reverse)
    keyed = [(_sort_value(run, key, now), run) for run in ordered]
    present = [(value, run) for value, run in keyed if value is not None]
    missing = [run for value, run in keyed if value is None]
    # sorted() is stable, also with reverse=True: the id order above breaks ties.
    present.sort(key=lambda pair: pair[0], reverse=reverse)
    return [run for _, run in present] + missing


def filter_runs(
    runs: Sequence[RunSummary],
    *,
    preset: str | None = None,
    status: str | None = None,
    tag: str | None = None,
    tags: Mapping[int, Sequence[str]] | None = None,
) -> list[RunSummary]:
    """The runs of ``preset`` with ``status`` and tagged ``tag`` (None: any); ``tags``
    holds each run's tags."""
    tags = tags or {}
    return [
        run
        for run in runs
        if (preset is None or run.preset == preset)
        and (status is None or run.status == status)
        and (tag is None or tag in tags.get(run.id, ()))
    ]


@dataclass(frozen=True)
class Window:
    """A piece of the list as read from the store: its runs, their tags and notes."""

    runs: list[RunSummary]
    tags: dict[int, list[str]]
    notes: dict[int, str] = field(default_factory=dict)


Fetch = Callable[[int, int], Window]
"""``fetch(offset, count)``: the runs at ``offset`` in the list, with their tags and
notes. It is called on the event loop and in thread workers (reading ahead), so it
only reads: it changes nothing of the screen's."""


# --------------------------------------------------------------------------- the widget
class RunsTable(DataTable[Text]):
    """The runs shown, one row each, keyed by run id, with a mark column for comparing."""

    class Filled(Message):
        """Another chunk of rows is in (the cursor may have moved onto its run)."""

    @dataclass
    class Moved(Message):
        """Another window of the list is in the table (the cursor moved past the last)."""

        window: Window

    @dataclass
    class _ReadAhead(Message, bubble=False):
        """A window read ahead by the thread worker, for the table's own use."""

        generation: int
        start: int
        window: Window

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's word
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.view: list[RunSummary] = []
        """The runs in the table (the window), in order."""
        self.start = 0
        """Where the window starts in the whole list."""
        self.total = 0
        """How many runs the whole list has (filters applied)."""
        self._fetch: Fetch | None = None
        self.marked: list[int] = []
        """Run ids marked for comparison, in the order they were marked."""
        self.tags: dict[int, list[str]] = {}
        """Each tagged run's tags."""
        self.sort_key = "id"
        self.sort_reverse = False
        self._by_id: dict[int, RunSummary] = {}
        self._generation = 0
        self._filled = 0
        self._cursor_target: int | None = None
        self._best_metric: str | None = None
        self._values_width = VALUES_WIDTH[0]
        self._laid_out_for = 0
        self._show_tags = False
        self._any_tags = False
        self._metrics: set[str] | None = None
        self._ahead: tuple[int, float, Window] | None = None
        """(start, when read, window) read ahead for the rows shown now."""
        self._asked: tuple[int, int] | None = None
        """(generation, start) of the last window asked of the thread worker."""

    @property
    def loaded(self) -> bool:
        """True once every row of the view is in the table."""
        return self._filled >= len(self.view)

    @property
    def position(self) -> int:
        """The cursor's row in the whole list (0 first)."""
        return self.start + self.cursor_row

    @property
    def laid_out_for(self) -> int:
        """The screen width the columns were laid out for."""
        return self._laid_out_for

    # ------------------------------------------------------------------ showing
    def show(
        self,
        view: Sequence[RunSummary],
        *,
        sort_key: str,
        sort_reverse: bool,
        tags: Mapping[int, list[str]],
        cursor_run: int | None = None,
        start: int = 0,
        total: int | None = None,
        fetch: Fetch | None = None,
        any_tags: bool | None = None,
        metrics: Sequence[str] | None = None,
    ) -> None:
        """Show ``view``, the window of the list that starts at ``start`` (of ``total``
        runs; ``fetch`` reads other windows), the cursor on ``cursor_run`` once its row
        is in. ``any_tags``: whether some run in the store has tags (the tags column is
        shown then); by default, whether some run of ``view`` has. ``metrics``: the
        metrics the whole list's runs are judged by (by default, ``view``'s)."""
        self._metrics = None if metrics is None else set(metrics)
        self._any_tags = bool(tags) if any_tags is None else any_tags
        self.start = start
        self.total = len(view) if total is None else total
        self._fetch = fetch
        self.view = list(view)
        self._by_id = {run.id: run for run in self.view}
        self.tags = dict(tags)
        self.sort_key, self.sort_reverse = sort_key, sort_reverse
        self._generation += 1
        self._ahead = None  # another sort, filter or read: what was read ahead is not it
        self._filled = 0
        self._cursor_target = cursor_run
        self._layout_columns()
        self._fill(self._generation, FIRST_CHUNK)

    def _fill(self, generation: int, count: int) -> None:
        """Add the next ``count`` rows; the rest follow after the next repaint."""
        if generation != self._generation or not self.is_mounted:
            return  # a newer sort or filter started over
        if count == CHUNK:
            _pause_gc()
        end = min(len(self.view), self._filled + count)
        styles = self._status_styles()
        for run in self.view[self._filled : end]:
            self.add_row(*self._cells(run, styles), key=str(run.id))
        self._filled = end
        target = self._cursor_target
        if target is not None and str(target) in self.rows:
            self.move_cursor(row=self.get_row_index(str(target)), animate=False)
            self._cursor_target = None
        if end < len(self.view):
            self.call_after_refresh(self._fill, generation, CHUNK)
        else:
            self._cursor_target = None
            _resume_gc()
            self._read_ahead_if_near()
        self.post_message(self.Filled())

    # ------------------------------------------------------------------ moving through the list
    def go_to(self, position: int) -> None:
        """Put the cursor on row ``position`` of the whole list, reading the window
        around it when it is not in the table."""
        if not self.total:
            return
        position = max(0, min(self.total - 1, position))
        in_table = self.start <= position < self.start + self._filled
        if not in_table and not self._load_window(position, self._window_start(position)):
            position = max(self.start, min(self.start + self._filled - 1, position))
        self.move_cursor(row=position - self.start, animate=False)
        self._read_ahead_if_near()

    def _window_start(self, position: int) -> int:
        """Where the window for ``position`` starts: moving on down (up) by a row or a
        page, most of it lies ahead; a jump puts ``position`` in its middle."""
        end = self.start + self._filled
        if end <= position < end + WINDOW // 2:
            start = position - MARGIN
        elif self.start - WINDOW // 2 <= position < self.start:
            start = position - WINDOW + 1 + MARGIN
        else:
            start = position - WINDOW // 2
        return max(0, min(start, self.total - WINDOW))

    def _load_window(self, position: int, start: int) -> bool:
        """Show the window that starts at ``start``, or the one read ahead when it has
        ``position``, at once (False: it could not be read)."""
        if self._fetch is None:
            return position < self.start + self._filled
        ahead, self._ahead = self._ahead, None
        if (
            ahead is not None
            and time.monotonic() - ahead[1] < AHEAD_MAX_AGE
            and ahead[0] <= position < ahead[0] + len(ahead[2].runs)
        ):
            start, window = ahead[0], ahead[2]
        else:
            try:
                window = self._fetch(start, WINDOW)
            except Exception:  # noqa: BLE001 - the screen says why on its next read
                return False
        runs = window.runs
        if not runs:
            return False
        self.view = runs
        self._by_id = {run.id: run for run in runs}
        self.tags = dict(window.tags)
        self.start = start
        self._generation += 1
        self._cursor_target = None
        self.clear(columns=False)
        styles = self._status_styles()
        for run in runs:
            self.add_row(*self._cells(run, styles), key=str(run.id))
        self._filled = len(runs)
        self.post_message(self.Moved(window))
        return True

    # ------------------------------------------------------------------ reading ahead
    def _read_ahead_if_near(self) -> None:
        """Within :data:`READ_AHEAD` rows of the window's end (start), have the window
        after (before) it read in a thread, where the next move past the edge puts it."""
        if self._fetch is None or not self.loaded or not self.view:
            return
        end = self.start + self._filled
        position = self.position
        if end < self.total and end - position <= READ_AHEAD:
            self._read_ahead(self._window_start(end))
        elif self.start > 0 and position - self.start < READ_AHEAD:
            self._read_ahead(self._window_start(self.start - 1))

    def _read_ahead(self, start: int) -> None:
        asked = (self._generation, start)
        if asked == self._asked or (self._ahead is not None and self._ahead[0] == start):
            return
        self._asked = asked
        assert self._fetch is not None
        self.run_worker(
            partial(self._read_in_thread, self._fetch, *asked),
            thread=True,
            group="runs-read-ahead",
            description=f"read runs {start}–{start + WINDOW} ahead",
            exit_on_error=False,
        )

    def _read_in_thread(self, fetch: Fetch, generation: int, start: int) -> None:
        """In a thread worker: read the window, hand it to the table (or nothing: the
        move past the edge then reads it on the spot and the screen says what failed)."""
        try:
            window = fetch(start, WINDOW)
        except Exception:  # noqa: BLE001 - see above
            return
        self.post_message(self._ReadAhead(generation, start, window))

    def on_runs_table__read_ahead(self, message: _ReadAhead) -> None:
        if message.generation == self._generation and message.window.runs:
            self._ahead = (message.start, time.monotonic(), message.window)

    def watch_cursor_coordinate(
        self, old_coordinate: Coordinate, new_coordinate: Coordinate
    ) -> None:
        super().watch_cursor_coordinate(old_coordinate, new_coordinate)
        if old_coordinate.row != new_coordinate.row:
            self._read_ahead_if_near()

    def action_cursor_down(self) -> None:
        if self.cursor_row + 1 < self._filled or self._fetch is None:
            super().action_cursor_down()
        else:
            self._set_hover_cursor(False)
            self.go_to(self.position + 1)

    def action_cursor_up(self) -> None:
        if self.cursor_row > 0 or self.start == 0:
            super().action_cursor_up()
        else:
            self._set_hover_cursor(False)
            self.go_to(self.position - 1)

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def action_page_down(self) -> None:
        if self.cursor_row + self._page() < self._filled or self._fetch is None:
            super().action_page_down()
        else:
            self._set_hover_cursor(False)
            self.go_to(self.position + self._page())

    def action_page_up(self) -> None:
        if self.cursor_row - self._page() >= 0 or self.start == 0:
            super().action_page_up()
        else:
            self._set_hover_cursor(False)
            self.go_to(self.position - self._page())

    def action_scroll_top(self) -> None:
        self._set_hover_cursor(False)
        self.go_to(0)

    def action_scroll_bottom(self) -> None:
        self._set_hover_cursor(False)
        self.go_to(self.total - 1)

    def on_unmount(self) -> None:
        _resume_gc()  # closed while filling

    def update_in_place(self, runs: Sequence[RunSummary], tags: Mapping[int, list[str]]) -> bool:
        """Runs that only progressed (epochs, best, duration) get their cells updated.

        The rows stay where they are until the next sort or filter; a new, deleted
        or ended run, or changed tags, need the table laid out again (False).
        """
        old = self._by_id
        if not self.view or not self.loaded or dict(tags) != self.tags:
            return False
        by_id = {run.id: run for run in runs}
        if any(
            run_id not in by_id or by_id[run_id].status != run.status for run_id, run in old.items()
        ):
            return False
        styles = self._status_styles()
        self.view = [by_id[run.id] for run in self.view]
        self._by_id = {run.id: run for run in self.view}
        keys = [str(key.value) for key in self.columns]
        for run in self.view:
            if run == old[run.id] or str(run.id) not in self.rows:
                continue
            before = self.get_row(str(run.id))
            for key, cell, was in zip(keys, self._cells(run, styles), before, strict=True):
                if cell != was:
                    self.update_cell(str(run.id), key, cell)
        return True

    def refresh_running(self, runs: Sequence[RunSummary]) -> None:
        """Only the durations of running runs change without the store changing."""
        for run in runs:
            if run.status == "running" and str(run.id) in self.rows:
                self.update_cell(str(run.id), "duration", Text(format_duration(run)))

    def current_run(self) -> RunSummary | None:
        """The highlighted run, or None when the table is empty."""
        if not self.row_count or not self.display:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:  # noqa: BLE001 - an empty or shrinking table has no cursor cell
            return None
        return self._by_id.get(int(key)) if key is not None else None

    def toggle_mark(self, run_id: int) -> None:
        """Mark or unmark ``run_id`` (the caller checks how many may be marked)."""
        if run_id in self.marked:
            self.marked.remove(run_id)
        else:
            self.marked.append(run_id)
        if str(run_id) in self.rows:
            self.update_cell(str(run_id), "mark", self._mark_cell(run_id))

    def remove_run(self, run_id: int) -> None:
        """Take a deleted run out; the cursor stays on the same row number."""
        index = self.cursor_row
        if run_id in self._by_id:
            self.total = max(0, self.total - 1)
        self.view = [run for run in self.view if run.id != run_id]
        self._by_id.pop(run_id, None)
        if run_id in self.marked:
            self.marked.remove(run_id)
        if str(run_id) in self.rows:
            self.remove_row(str(run_id))
            self._filled -= 1
            if self.row_count:
                self.move_cursor(row=min(index, self.row_count - 1), animate=False)

    # ------------------------------------------------------------------ layout
    def _status_styles(self) -> dict[str, str]:
        variables = self.app.theme_variables
        return {status: variables.get(f"text-{tone}", "") for status, tone in STATUS_TONE.items()}

    def _layout_columns(self) -> None:
        """Empty the table and lay its columns out for the view and the screen's width.

        The columns up to the status (and the tags) fit in the width when they can: the
        hyperparameters column gets what the others leave; when every run shown is
        judged by the same metric, its name goes in the header, not in each cell.
        The started and duration columns may need scrolling right (→) on a
        narrow screen; the line under the table always has them.
        """
        self.clear(columns=True)
        metrics = self._metrics
        if metrics is None:
            metrics = {run.best_metric for run in self.view if run.best_metric is not None}
        metrics = set(metrics)
        self._best_metric = metrics.pop() if len(metrics) == 1 else None
        labels = {column.key: self._label(column) for column in COLUMNS}
        if self._best_metric is not None:
            labels["best"] = self._label(SORT_COLUMNS["best"], f"best {self._best_metric}")

        def widest(key: str, cells: Sequence[str]) -> int:
            return max([labels[key].cell_len, *(len(cell) for cell in cells)])

        sample = self.view
        fixed = 1 + 2  # the mark column and its padding
        fixed += widest("id", [str(run.id) for run in sample[:1]]) + 2
        fixed += widest("preset", [run.preset for run in sample]) + 2
        fixed += widest("best", [self._best_text(run) for run in sample]) + 2
        fixed += widest("test_error", [format_error_percent(run) for run in sample]) + 2
        fixed += widest("status", [run.status for run in sample]) + 2
        # A store that never used tags keeps the table it always had.
        self._show_tags = self._any_tags
        if self._show_tags:
            tags = [format_tags(self.tags.get(run.id, ())) for run in sample]
            fixed += max([len(TAGS_COLUMN), *map(len, tags)]) + 2
        room = self.app.size.width - 2 - fixed - 2  # the scrollbar, the column's padding
        low, high = VALUES_WIDTH
        if room < labels["values"].cell_len:
            labels["values"] = self._label(SORT_COLUMNS["values"], "values")
        self._values_width = max(low, min(high, room))
        self._laid_out_for = self.app.size.width
        self.add_column(" ", key="mark")
        for column in COLUMNS:
            self.add_column(labels[column.key], key=column.key)
            if column.key == "status":
                if self._show_tags:
                    self.add_column(TAGS_COLUMN, key=TAGS_COLUMN)
                self.add_column(BACKEND_COLUMN, key=BACKEND_COLUMN)

    def _best_text(self, run: RunSummary) -> str:
        if self._best_metric is not None:
            return format_metric(run.best_value) if run.best_value is not None else "—"
        return format_best(run)

    def _cells(self, run: RunSummary, styles: dict[str, str]) -> list[Text]:
        values = values_text(run)
        if len(values) > self._values_width:
            values = values[: self._values_width - 1] + "…"
        cells = [
            self._mark_cell(run.id),
            Text(str(run.id), justify="right"),
            Text(run.preset),
            Text(values),
            Text(self._best_text(run)),
            Text(format_error_percent(run), justify="right"),
            Text(run.status, style=styles.get(run.status, "")),
            Text(compact(run.backend), style="dim"),
            Text(format_time(run.started_at)),
            Text(format_duration(run), justify="right"),
        ]
        if self._show_tags:
            cells.insert(7, Text(format_tags(self.tags.get(run.id, ()))))
        return cells

    def _mark_cell(self, run_id: int) -> Text:
        if run_id in self.marked:
            return Text("●", style=f"bold {self.app.theme_variables.get('text-accent', '')}")
        return Text(" ")

    def _label(self, column: Column, text: str | None = None) -> Text:
        """A header; the sorted column's has an arrow (▼ natural order, ▲ reversed)."""
        label = column.label if text is None else text
        if column.key != self.sort_key:
            return Text(label)
        return Text(label + (" ▲" if self.sort_reverse else " ▼"), style="bold")


_gc_paused = False


def _pause_gc() -> None:
    """Hold Python's cyclic garbage collector while rows are added in the background.

    Adding a thousand rows grows the heap by about half, which triggers a full
    collection (60-110 ms here) in the middle of the filling, just as keys are
    being pressed. Textual pauses it the same way for smooth scrolling
    (``App.PAUSE_GC_ON_SCROLL``); the filling lasts well under a second.
    """
    global _gc_paused
    if not _gc_paused and gc.isenabled():
        gc.disable()
        _gc_paused = True


def _resume_gc() -> None:
    global _gc_paused
    if _gc_paused:
        _gc_paused = False
        gc.enable()
