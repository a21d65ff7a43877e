"""A parallel-coordinates view of a sweep drawn in the terminal: one vertical axis per
hyperparameter and one for the objective, one braille polyline per trial across them,
coloured from the worst objective (dim) to the best (bright), the best trial drawn
last and highlighted.

It is given the axes and polylines of :func:`ktui.core.sweep_insight.parallel_coordinates`
(it never reads the store) and redraws them to its size, so it fits 80×24 as well as
a wide terminal.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widget import Widget

from ktui.core.sweep_insight import Axis, Polyline
from ktui.widgets.braille import RGB, Canvas, Line

#: The colours of the worst and best lines (a trial in between is a blend).
WORST: RGB = (70, 80, 120)
BEST: RGB = (90, 170, 255)
#: The best trial's own colour, so it stands out from the next best.
HIGHLIGHT: RGB = (255, 200, 40)
AXIS: RGB = (110, 110, 110)

#: Lines above and below the plot: the axis names and top labels; the bottom labels.
_HEAD, _FOOT = 2, 1


def _blend(shade: float) -> RGB:
    r = [round(a + (b - a) * shade) for a, b in zip(WORST, BEST, strict=True)]
    return (r[0], r[1], r[2])


def _hex(rgb: RGB) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


class ParallelCoordinates(Widget):
    """Trials across their hyperparameters' axes; set :meth:`show` to draw."""

    DEFAULT_CSS = """
    ParallelCoordinates { height: 1fr; min-height: 8; }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self.axes: list[Axis] = []
        self.lines: list[Polyline] = []

    def show(self, axes: Sequence[Axis], lines: Sequence[Polyline]) -> None:
        """Draw these axes and trials."""
        self.axes, self.lines = list(axes), list(lines)
        self.refresh()

    def _labels(self, width: int, columns: list[int], texts: list[str]) -> Text:
        """A line with each text centred on its axis's column, never overlapping."""
        line = [" "] * width
        free = 0
        for column, text in zip(columns, texts, strict=True):
            start = max(free, min(width - len(text), column - len(text) // 2))
            text = text[: max(0, width - start)]
            line[start : start + len(text)] = list(text)
            free = start + len(text) + 1
        return Text("".join(line))

    def render(self) -> Text:
        width, height = self.size.width, self.size.height
        rows = height - _HEAD - _FOOT
        if not self.axes or not self.lines or width < 10 or rows < 2:
            return Text("No trial has an objective yet.", style="italic")
        count = len(self.axes)
        # Room for half a label either side of the first and last axes.
        margin = min(8, max(len(a.name) for a in (self.axes[0], self.axes[-1])) // 2 + 1)
        cols = max(4, width - 2 * margin)
        canvas = Canvas(cols, rows, (0.0, float(count - 1)), (0.0, 1.0))
        xs = [float(i) for i in range(count)]
        drawn = [Line([x, x], [0.0, 1.0], AXIS) for x in xs]
        for poly in self.lines:
            rgb = HIGHLIGHT if poly.best else _blend(poly.shade)
            drawn.append(Line(xs, list(poly.positions), rgb))
        cells = canvas.draw(drawn)
        columns = [margin + canvas.col_of(x) for x in xs]
        out = Text()
        out.append(self._labels(width, columns, [a.name for a in self.axes]))
        out.stylize("bold")
        out.append("\n")
        out.append(self._labels(width, columns, [a.high for a in self.axes]))
        out.append("\n")
        for row in range(rows - 1, -1, -1):
            line = Text(" " * margin)
            for col in range(cols):
                cell = cells.get((col, row))
                if cell is None:
                    line.append(" ")
                else:
                    mask, rgb = cell
                    line.append(chr(0x2800 + mask), style=_hex(rgb))
            out.append(line)
            out.append("\n")
        out.append(self._labels(width, columns, [a.low for a in self.axes]))
        return out
