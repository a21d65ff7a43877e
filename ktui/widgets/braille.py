"""A small braille rasteriser: polylines onto a canvas of 2 × 4 dots per cell.

Plain Python (no Textual, no rich). A :class:`Canvas` maps data coordinates to
dots and draws curves; the chart widget (:mod:`ktui.widgets.chart`) turns the
cells it returns into styled text, and places its tick labels with the same
mapping (:meth:`Canvas.row_of`, :meth:`Canvas.col_of`) so ticks and curves meet.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

RGB = tuple[int, int, int]

BRAILLE_BLANK = 0x2800
"""The code point of the empty braille cell; a cell's dots are added to it."""

_BRAILLE_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
"""Braille dot bits by [row from the top][column] within a cell (2 × 4 dots)."""

Cell = tuple[int, int]
"""A canvas cell: (column, row from the bottom)."""

Cells = dict[Cell, tuple[int, RGB]]
"""Canvas cells (column, row from the bottom) → (braille dots, colour)."""


@dataclass(frozen=True)
class Line:
    """A polyline to draw: ``(xs[i], ys[i])`` joined in order, in one colour."""

    xs: Sequence[float]
    ys: Sequence[float]
    rgb: RGB


@dataclass(frozen=True)
class Canvas:
    """``cols`` × ``rows`` cells showing ``xlim`` across and ``ylim`` up.

    ``ylim`` is in data units; with ``log_y`` the y mapping is logarithmic (and
    every y drawn must be > 0). The lowest and highest values land on the
    first and last dot, rounded half up in between.
    """

    cols: int
    rows: int
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    log_y: bool = False

    def _y(self, y: float) -> float:
        return math.log10(y) if self.log_y else y

    def x_dot(self, x: float) -> int:
        """The dot column (0 = left) of ``x``."""
        x0, x1 = self.xlim
        scale = (2 * self.cols - 1) / (x1 - x0) if x1 != x0 else 0.0
        return math.floor(round(0.5 + (x - x0) * scale, 8))

    def y_dot(self, y: float) -> int:
        """The dot row (0 = bottom) of ``y``."""
        y0, y1 = self._y(self.ylim[0]), self._y(self.ylim[1])
        scale = (4 * self.rows - 1) / (y1 - y0) if y1 != y0 else 0.0
        return math.floor(round(0.5 + (self._y(y) - y0) * scale, 8))

    def col_of(self, x: float) -> int:
        """The cell column of ``x`` (where its dots are drawn)."""
        return self.x_dot(x) >> 1

    def row_of(self, y: float) -> int:
        """The cell row, from the bottom, of ``y`` (where its dots are drawn)."""
        return self.y_dot(y) >> 2

    def draw(self, lines: Iterable[Line]) -> Cells:
        """Draw ``lines`` in order; a cell shared by several shows the last one's dots."""
        x0, x1 = self.xlim
        y0, y1 = self._y(self.ylim[0]), self._y(self.ylim[1])
        width, height = 2 * self.cols, 4 * self.rows
        sx = (width - 1) / (x1 - x0) if x1 != x0 else 0.0
        sy = (height - 1) / (y1 - y0) if y1 != y0 else 0.0
        cells: Cells = {}
        for line in lines:
            ys = [math.log10(y) for y in line.ys] if self.log_y else line.ys
            # The same mapping as x_dot/y_dot, inlined: this is the hot loop.
            px = [math.floor(round(0.5 + (x - x0) * sx, 8)) for x in line.xs]
            py = [math.floor(round(0.5 + (y - y0) * sy, 8)) for y in ys]
            for cell, mask in line_cells(px, py, width, height).items():
                cells[cell] = (mask, line.rgb)
        return cells


def line_cells(px: list[int], py: list[int], width: int, height: int) -> dict[Cell, int]:
    """The braille dots of the polyline through the dots ``(px[i], py[i])``, by cell.

    Dots outside ``width`` × ``height`` are dropped, so a curve may leave the canvas.
    """
    bits = _BRAILLE_BITS
    owned: dict[Cell, int] = {}
    dots: list[tuple[int, int]] = list(zip(px[:1], py[:1], strict=True))
    for i in range(1, len(px)):
        ax, ay, bx, by = px[i - 1], py[i - 1], px[i], py[i]
        dx, dy = bx - ax, by - ay
        steps = max(abs(dx), abs(dy))
        if steps == 0:
            continue
        # Integer interpolation, rounded half up: no floats in the inner loop.
        twice = 2 * steps
        dots += [
            (ax + (2 * dx * k + steps) // twice, ay + (2 * dy * k + steps) // twice)
            for k in range(1, steps + 1)
        ]
    for x, y in dots:
        if 0 <= x < width and 0 <= y < height:
            cell = (x >> 1, y >> 2)
            owned[cell] = owned.get(cell, 0) | bits[3 - (y & 3)][x & 1]
    return owned
