"""The leaderboard's table: a sweep's trials ranked, one row each, with a sparkline
of the objective per epoch.

It is given plain :class:`~ktui.core.sweep.TrialRow` objects (it never reads the
store), recomputes only when they change, and draws only the lines on screen — a
row's cells and sparkline are built when its line is first drawn — so a screen may
hand it the same 1,000 trials every second for nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ktui.core.sweep import Direction, TrialRow, rank
from ktui.presentation import status_terminal_color

#: The columns a person can sort by, in the order ``s`` steps through them.
SORTS = ("rank", "trial", "state", "objective", "epochs")

#: Eight heights of a one-line sparkline.
_BARS = "▁▂▃▄▅▆▇█"

#: Points of a curve drawn in its sparkline (the latest ones).
SPARK_WIDTH = 12



def sparkline(values: Sequence[float], width: int = SPARK_WIDTH) -> str:
    """A curve as block characters, lowest ``▁`` to highest ``█`` (NaNs as spaces)."""
    points = [v for v in values[-width:]]
    finite = [v for v in points if math.isfinite(v)]
    if not finite:
        return ""
    low, high = min(finite), max(finite)
    span = high - low
    out = []
    for v in points:
        if not math.isfinite(v):
            out.append(" ")
        elif span == 0:
            out.append(_BARS[len(_BARS) // 2])
        else:
            out.append(_BARS[min(len(_BARS) - 1, int((v - low) / span * len(_BARS)))])
    return "".join(out)


def _value(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.4g}"


def _param(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _epochs(row: TrialRow) -> str:
    return f"{row.epochs}/{row.epochs_planned}" if row.epochs_planned else str(row.epochs)


def _why(row: TrialRow) -> str:
    return row.reason if row.state != "finished" else ""


def _spark_length(values: Sequence[float], width: int = SPARK_WIDTH) -> int:
    """How wide :func:`sparkline` draws ``values``, without drawing it."""
    points = values[-width:]
    return len(points) if any(math.isfinite(v) for v in points) else 0


class LeaderboardTable(ScrollView, can_focus=True):
    """A sweep's trials, best first by default; ``sort_by``, ``reverse`` and
    ``state_filter`` change what it shows (set them, then :meth:`show`).

    Virtual: it keeps the rows as data and draws only the lines on screen
    (Textual's line API), so 1,000 trials cost no more to show or re-sort than 20.
    The first line is the header, pinned while the rows scroll.
    """

    DEFAULT_CSS = """
    LeaderboardTable { height: 1fr; }
    """

    BINDINGS = [
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
    ]

    @dataclass
    class Highlighted(Message):
        """The cursor moved onto another trial (or the rows changed under it)."""

        row: TrialRow | None

    cursor_row: reactive[int] = reactive(0)

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self.sort_by = "rank"
        self.reverse = False
        self.state_filter: str | None = None
        """Show only trials in this state (``None``: all)."""
        self.marked: list[int] = []
        """Trial numbers marked (to compare their runs), in the order marked."""
        self.shown: list[TrialRow] = []
        """The rows, in the order shown."""
        self.columns: tuple[str, ...] = ()
        self._marked: set[int] = set()
        self._why = 3
        self._widths: list[int] = []
        self._key: tuple[Any, ...] | None = None
        self._data: tuple[Any, ...] | None = None
        self._ranked: list[TrialRow] = []
        self._places: dict[int, int] = {}
        self._by_worker = False
        self._params: tuple[str, ...] = ()
        self._formatted: dict[int, tuple[str | Text, ...]] = {}
        """The cells of each trial drawn so far, by trial number."""

    def show(
        self,
        rows: Sequence[TrialRow],
        *,
        params: Sequence[str],
        objective: str,
        direction: Direction,
        curve: str = "curve",
    ) -> None:
        """Show ``rows`` (sorted and filtered as asked); nothing happens if nothing changed.
        ``curve`` heads the sparklines' column (which metric they draw)."""
        data = (tuple(rows), tuple(params), objective, direction, curve)
        key = (data, self.sort_by, self.reverse, self.state_filter, tuple(self.marked))
        if key == self._key:
            return
        self._key = key
        if data != self._data:
            # New trials: rank them once; a sort or filter only reorders.
            self._data = data
            # Which worker (host/pid GPU) ran each trial, once more than one did.
            by_worker = len({row.worker for row in rows if row.worker}) > 1
            where = ("worker",) if by_worker else ()
            self.columns = (
                "", "#", "trial", "state", objective, "epochs", curve, *where, *params, "why"
            )  # fmt: skip
            self._ranked = rank(rows, direction)
            self._places = {row.number: place for place, row in enumerate(self._ranked, 1)}
            self._by_worker = by_worker
            self._params = tuple(params)
            # Cells are built when their line is first drawn (a screenful of 1,000);
            # only the widths are measured over every trial, not only those a filter
            # shows: the columns stay put when the filter changes, and a sort or filter
            # costs no measuring.
            self._formatted = {}
            lengths = [self._lengths(row) for row in self._ranked]
            self._widths = [1] + [len(c) for c in self.columns[1:]]  # the mark: one cell
            for cells in lengths:
                for index, length in enumerate(cells[:-1], 1):  # "why" takes the rest
                    if length > self._widths[index]:
                        self._widths[index] = length
            self._why = max((cells[-1] for cells in lengths), default=3)
        chosen = [r for r in self._ranked if self.state_filter in (None, r.state)]
        self.shown = self._sorted(chosen, self._places, direction)
        self._marked = set(self.marked)
        width = sum(w + 2 for w in self._widths) + self._why
        self.virtual_size = Size(width, len(self.shown) + 1)
        self.cursor_row = min(self.cursor_row, max(0, len(self.shown) - 1))
        self.post_message(self.Highlighted(self.current))
        self.refresh()

    def _sorted(
        self, rows: list[TrialRow], places: dict[int, int], direction: Direction
    ) -> list[TrialRow]:
        if self.sort_by == "trial":
            rows = sorted(rows, key=lambda r: r.number)
        elif self.sort_by == "state":
            rows = sorted(rows, key=lambda r: (r.state, places[r.number]))
        elif self.sort_by == "epochs":
            rows = sorted(rows, key=lambda r: (-r.epochs, places[r.number]))
        elif self.sort_by == "objective":
            sign = 1 if direction == "minimize" else -1
            rows = sorted(
                rows,
                key=lambda r: (
                    r.objective is None,
                    sign * r.objective if r.objective is not None else 0.0,
                ),
            )
        return list(reversed(rows)) if self.reverse else rows

    def _format(self, row: TrialRow) -> tuple[str | Text, ...]:
        """The cells of ``row`` after the mark, as drawn (see :meth:`_lengths`)."""
        return (
            str(self._places[row.number]),
            str(row.number),
            Text(row.state, style=status_terminal_color(row.state) or "dim"),
            _value(row.objective),
            _epochs(row),
            sparkline(row.curve),
            *((row.worker,) if self._by_worker else ()),
            *[_param(row.params.get(p, "")) for p in self._params],
            _why(row),
        )

    def _lengths(self, row: TrialRow) -> tuple[int, ...]:
        """How wide each cell of :meth:`_format` is, without building its text and
        sparkline (the same cells: ``tests/test_leaderboard.py`` checks both agree)."""
        return (
            len(str(self._places[row.number])),
            len(str(row.number)),
            len(row.state),
            len(_value(row.objective)),
            len(_epochs(row)),
            _spark_length(row.curve),
            *((len(row.worker),) if self._by_worker else ()),
            *[len(_param(row.params.get(p, ""))) for p in self._params],
            len(_why(row)),
        )

    def _cells(self, index: int) -> tuple[str | Text, ...]:
        """The cells of shown row ``index``, as drawn (built only for lines on screen)."""
        row = self.shown[index]
        formatted = self._formatted.get(row.number)
        if formatted is None:
            formatted = self._formatted[row.number] = self._format(row)
        return ("●" if row.number in self._marked else " ", *formatted)

    @property
    def cells(self) -> list[tuple[str | Text, ...]]:
        """Each shown row's cells, as drawn."""
        return [self._cells(index) for index in range(len(self.shown))]

    def toggle_mark(self, number: int) -> None:
        """Mark trial ``number``, or unmark it (call :meth:`show` after)."""
        if number in self.marked:
            self.marked.remove(number)
        else:
            self.marked.append(number)

    @property
    def current(self) -> TrialRow | None:
        """The highlighted trial."""
        if 0 <= self.cursor_row < len(self.shown):
            return self.shown[self.cursor_row]
        return None

    # -- drawing --------------------------------------------------------------------
    def _line(self, cells: Sequence[str | Text], style: Style) -> list[Segment]:
        segments: list[Segment] = []
        for index, cell in enumerate(cells):
            text = cell if isinstance(cell, Text) else Text(cell)
            width = self._widths[index] if index < len(self._widths) else len(text)
            plain = text.plain.ljust(width) + ("  " if index < len(cells) - 1 else "")
            cell_style = style + Style.parse(str(text.style)) if text.style else style
            segments.append(Segment(plain, cell_style))
        return segments

    def render_line(self, y: int) -> Strip:
        """Line ``y`` of the widget: the header, or the row scrolled there."""
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        base = self.rich_style
        if y == 0:
            segments = self._line(self.columns, base + Style(bold=True))
        else:
            index = scroll_y + y - 1
            if index >= len(self.shown):
                return Strip.blank(width, base)
            style = base
            if index == self.cursor_row:
                style = base + Style(reverse=True)
            elif index % 2:
                style = base + Style(dim=False, bgcolor="grey11")
            segments = self._line(self._cells(index), style)
        strip = Strip(segments).crop(scroll_x, scroll_x + width)
        return strip.extend_cell_length(width, base if y == 0 else style if y else base)

    # -- moving -----------------------------------------------------------------------
    def watch_cursor_row(self, old: int, new: int) -> None:
        visible = max(1, self.size.height - 1)
        top = self.scroll_offset.y
        if new < top:
            self.scroll_to(y=new, animate=False)
        elif new >= top + visible:
            self.scroll_to(y=new - visible + 1, animate=False)
        self.refresh()
        self.post_message(self.Highlighted(self.current))

    def action_move(self, step: int) -> None:
        """Move the cursor ``step`` rows."""
        if self.shown:
            self.cursor_row = max(0, min(len(self.shown) - 1, self.cursor_row + step))

    def action_page(self, pages: int) -> None:
        """Move the cursor a screenful."""
        self.action_move(pages * max(1, self.size.height - 2))

    def action_jump(self, where: int) -> None:
        """To the first (0) or last (-1) row."""
        if self.shown:
            self.cursor_row = 0 if where == 0 else len(self.shown) - 1

    def on_click(self, event: events.Click) -> None:
        index = self.scroll_offset.y + event.y - 1
        if event.y >= 1 and 0 <= index < len(self.shown):
            self.cursor_row = index
