"""The leaderboard's table: a sweep's trials ranked, one row each, with a sparkline
of the objective per epoch.

It is given plain :class:`~ktui.core.sweep.TrialRow` objects (it never reads the
store) and redraws only when they change, so a screen may hand it the same 1,000
trials every second for nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from ktui.core.sweep import Direction, TrialRow, rank

#: The columns a person can sort by, in the order ``s`` steps through them.
SORTS = ("rank", "trial", "state", "objective", "epochs")

#: Eight heights of a one-line sparkline.
_BARS = "▁▂▃▄▅▆▇█"

#: Rows drawn at once when the trials change; the rest follow in chunks of
#: :data:`CHUNK` between key presses, so 1,000 trials never hold the keyboard up
#: (a DataTable row of ten cells costs about a millisecond to add).
FIRST_PAGE = 60
CHUNK = 80

#: Points of a curve drawn in its sparkline (the latest ones).
SPARK_WIDTH = 12

#: Each state's colour (theme variables' names in Rich's terms are not available to a
#: Text, so plain colour names that read on dark and light themes).
STATE_STYLE = {
    "finished": "green",
    "pruned": "yellow",
    "running": "bold cyan",
    "failed": "red",
    "stopped": "magenta",
    "interrupted": "red",
    "queued": "dim",
}


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


class LeaderboardTable(DataTable[Any]):
    """A sweep's trials, best first by default; ``sort_by`` and ``state_filter`` change
    what it shows (set them, then :meth:`show`)."""

    DEFAULT_CSS = """
    LeaderboardTable { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.sort_by = "rank"
        self.reverse = False
        self.state_filter: str | None = None
        """Show only trials in this state (``None``: all)."""
        self.shown: list[TrialRow] = []
        """The rows on screen, in their order."""
        self._key: tuple[Any, ...] | None = None
        self._columns: tuple[str, ...] = ()
        self._cells: list[tuple[str, tuple[Any, ...]]] = []
        self._added = 0
        self._generation = 0

    def show(
        self,
        rows: Sequence[TrialRow],
        *,
        params: Sequence[str],
        objective: str,
        direction: Direction,
    ) -> None:
        """Draw ``rows`` (sorted and filtered as asked); nothing happens if nothing changed."""
        key = (tuple(rows), self.sort_by, self.reverse, self.state_filter, tuple(params))
        if key == self._key:
            return
        self._key = key
        columns = ("#", "trial", "state", objective, "epochs", "curve", *params, "why")
        if columns != self._columns:
            self.clear(columns=True)
            for name in columns:
                self.add_column(name, key=name)
            self._columns = columns
        ranked = rank(rows, direction)
        places = {row.number: place for place, row in enumerate(ranked, 1)}
        chosen = [r for r in ranked if self.state_filter in (None, r.state)]
        chosen = self._sorted(chosen, places, direction)
        cursor = self.cursor_row
        self.clear()
        self.shown = chosen
        self._cells = [
            (
                str(row.number),
                (
                    str(places[row.number]),
                    str(row.number),
                    Text(row.state, style=STATE_STYLE.get(row.state, "")),
                    _value(row.objective),
                    f"{row.epochs}/{row.epochs_planned}" if row.epochs_planned else str(row.epochs),
                    sparkline(row.curve),
                    *[_param(row.params.get(p, "")) for p in params],
                    row.reason if row.state != "finished" else "",
                ),
            )
            for row in chosen
        ]
        self._added = 0
        self._generation += 1
        self._add_rows(self._generation, FIRST_PAGE)
        if chosen:
            self.move_cursor(row=min(max(cursor, 0), self.row_count - 1))

    def _add_rows(self, generation: int, count: int) -> None:
        """Add the next ``count`` rows, then schedule the next chunk (until all are in)."""
        if generation != self._generation:
            return  # the trials changed since: that drawing took over
        end = min(len(self._cells), self._added + count)
        for key, cells in self._cells[self._added : end]:
            self.add_row(*cells, key=key)
        self._added = end
        if end < len(self._cells):
            self.set_timer(0.01, lambda: self._add_rows(generation, CHUNK))

    @property
    def complete(self) -> bool:
        """Whether every row of :attr:`shown` is in the table."""
        return self._added == len(self._cells)

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

    @property
    def current(self) -> TrialRow | None:
        """The highlighted trial."""
        if not self.shown or self.cursor_row < 0 or self.cursor_row >= min(
            len(self.shown), self.row_count
        ):
            return None
        return self.shown[self.cursor_row]
