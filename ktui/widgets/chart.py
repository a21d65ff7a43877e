"""A line chart of training curves, drawn as braille dots with its own axes.

Feed it named series of (epochs, values) and it overlays them, with a title line
above and a legend below::

    chart = MetricChart("loss", id="loss-chart")
    chart.set_series({
        "run 3 loss": Series(xs, train_losses, color=0, secondary=True),
        "run 3 val_loss": (xs, val_losses),   # a plain (xs, ys) pair works too
    })
    chart.append("run 3 val_loss", 11, 0.231)  # one more point, while a run trains
    chart.toggle_log_y()      # or chart.log_y = True
    chart.toggle_smoothing()  # EMA with chart.smoothing_weight; the raw curve stays faint

The chart owns two toggles, :attr:`MetricChart.log_y` and
:attr:`MetricChart.smoothing`; screens bind keys to :meth:`~MetricChart.toggle_log_y`
and :meth:`~MetricChart.toggle_smoothing`. Values a log scale cannot show (zero,
negative) and values that are not finite (a diverged NaN loss) are left out and
counted in :attr:`MetricChart.note`, never raised.

Drawing is cached: the chart is rebuilt only when its data, size, toggles or
style change. The numbers (smoothing, ticks) are in :mod:`ktui.widgets.chart_math`
and the dots in :mod:`ktui.widgets.braille`; this module lays out the axes and
turns both into strips. Colours are a fixed palette, and the axes and text take
the widget's own (theme) colours, so the same data always gives the same picture.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.color import Color as RichColor
from rich.segment import Segment
from rich.style import Style
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from ktui.widgets.braille import BRAILLE_BLANK, Canvas, Cells, Line
from ktui.widgets.chart_math import (
    RGB,
    Axis,
    axis,
    blend,
    drawable,
    ema,
    integer_ticks,
    metric_groups,
    nice_ticks,
    thin,
    tick_labels,
)

__all__ = [
    "DEFAULT_SMOOTHING",
    "PALETTE",
    "MetricChart",
    "Series",
    "SeriesData",
    "drawable",
    "ema",
    "integer_ticks",
    "metric_groups",
    "thin",
]


PALETTE: tuple[RGB, ...] = (
    (0, 150, 230),  # blue
    (240, 130, 40),  # orange
    (60, 185, 90),  # green
    (230, 60, 110),  # pink-red
    (160, 110, 230),  # violet
    (230, 200, 40),  # yellow
    (40, 200, 200),  # teal
    (170, 170, 170),  # grey
)
"""Series colours, in order; chosen to read on both dark and light backgrounds."""

DEFAULT_SMOOTHING = 0.6
"""The EMA weight of a new chart (TensorBoard's default)."""

_SECONDARY_FADE = 0.35
"""How far a secondary curve's colour is blended into the background."""

_RAW_FADE = 0.7
"""How far the raw curve behind a smoothed one is blended into the background."""

_RIGHT_MARGIN = 2
"""Columns right of the canvas, so the last x label can be centred on its tick."""

_X_TICK_SPACING = 8
"""About one x label per this many columns."""


@dataclass(frozen=True)
class Series:
    """One curve: ``xs[i]`` against ``ys[i]``.

    ``color`` indexes :data:`PALETTE` (default: the series' position). A
    ``secondary`` series is drawn in a fainter shade of its colour, under the
    others, e.g. a run's training curve beside its validation curve.
    """

    xs: Sequence[float]
    ys: Sequence[float]
    color: int | None = None
    secondary: bool = False


SeriesData = Series | tuple[Sequence[float], Sequence[float]]
"""What :meth:`MetricChart.set_series` takes per name."""


# --------------------------------------------------------------------------- widget
@dataclass(frozen=True)
class _Curve:
    name: str
    xs: list[float]
    ys: list[float]
    rgb: RGB
    legend: bool


class MetricChart(Widget):
    """Several named series overlaid in one line chart, with a title and a legend.

    Feed it with :meth:`set_series` (replaces everything) or :meth:`append`
    (one point of one series, for live runs); toggle :attr:`log_y` and
    :attr:`smoothing`. See the module's docstring for an example.
    """

    DEFAULT_CSS = """
    MetricChart {
        width: 1fr;
        height: 1fr;
        min-height: 6;
    }
    """

    log_y: reactive[bool] = reactive(False)
    """Logarithmic y axis; points with y <= 0 are left out (counted in :attr:`note`)."""

    smoothing: reactive[bool] = reactive(False)
    """Draw each series as its exponential moving average, the raw curve faint behind."""

    smoothing_weight: reactive[float] = reactive(DEFAULT_SMOOTHING)
    """The EMA weight (0 = none, towards 1 = smoother)."""

    title: reactive[str] = reactive("")
    """Shown on the chart's first line."""

    empty_text: reactive[str] = reactive("No epochs yet.")
    """Shown instead of axes while there is nothing to draw."""

    def __init__(
        self,
        title: str = "",
        *,
        series: Mapping[str, SeriesData] | None = None,
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's name
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._series: dict[str, Series] = {}
        self._version = 0
        self._cache_key: tuple[Any, ...] | None = None
        self._strips: list[Strip] = []
        self.note = ""
        """What was left out of the last drawing (e.g. "2 values ≤ 0 not shown"), or ""."""
        self.set_reactive(MetricChart.title, title)
        if series:
            self.set_series(series)

    # ------------------------------------------------------------------ data
    @property
    def series(self) -> dict[str, Series]:
        """The chart's series by name (a copy)."""
        return dict(self._series)

    def set_series(self, series: Mapping[str, SeriesData]) -> None:
        """Replace all series; ``series`` maps a legend name to a :class:`Series`
        or an ``(xs, ys)`` pair. Order is drawing and legend order."""
        self._series = {name: _as_series(data) for name, data in series.items()}
        self._changed()

    def append(self, name: str, x: float, y: float) -> None:
        """Add one point to series ``name`` (created if new)."""
        old = self._series.get(name)
        if old is None:
            self._series[name] = Series([x], [y])
        else:
            self._series[name] = Series(
                [*old.xs, x], [*old.ys, y], color=old.color, secondary=old.secondary
            )
        self._changed()

    def clear(self) -> None:
        """Remove every series."""
        self._series = {}
        self._changed()

    def toggle_log_y(self) -> None:
        """Switch the y axis between linear and logarithmic."""
        self.log_y = not self.log_y

    def toggle_smoothing(self) -> None:
        """Switch exponential-moving-average smoothing on or off."""
        self.smoothing = not self.smoothing

    def _changed(self) -> None:
        self._version += 1
        self.refresh()

    # ------------------------------------------------------------------ drawing
    def render_line(self, y: int) -> Strip:
        """One line of the chart (the whole chart is built once per change)."""
        style = self.rich_style
        key = (
            self.size,
            self._version,
            self.log_y,
            self.smoothing,
            self.smoothing_weight,
            self.title,
            self.empty_text,
            style,
        )
        if key != self._cache_key:
            self._strips = self.build_strips(self.size.width, self.size.height, style)
            self._cache_key = key
        if 0 <= y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.size.width, style)

    def build_strips(self, width: int, height: int, base: Style) -> list[Strip]:
        """Draw the chart at ``width`` × ``height`` cells (what :meth:`render_line` caches)."""
        if width <= 0 or height <= 0:
            return []
        background = _rgb(base.bgcolor)
        curves, note = self._curves(background, limit=max(2 * width, 16))
        self.note = note
        title = self._title_strip(width, base)
        legend = self._legend_strips(width, base, max_lines=max(1, (height - 1) // 3))
        lines: list[Strip] = [title]
        plot_height = height - 1 - len(legend) - (1 if note else 0)
        if not curves or plot_height < 3 or width < 12:
            message = self.empty_text if not curves else "(too small to draw)"
            lines += _message_strips(message, width, max(height - 1, 0), base)
            return lines[:height]
        lines += self._plot_strips(curves, width, plot_height, base)
        if note:
            lines.append(_text_strip(note, width, base + Style(dim=True, italic=True)))
        lines += legend
        return lines[:height]

    def _curves(self, background: RGB | None, *, limit: int) -> tuple[list[_Curve], str]:
        """What to draw, back to front, and the note about left-out points."""
        back: list[_Curve] = []
        front: list[_Curve] = []
        not_finite = not_positive = 0
        for index, (name, series) in enumerate(self._series.items()):
            color = PALETTE[(index if series.color is None else series.color) % len(PALETTE)]
            if series.secondary:
                color = blend(color, background, _SECONDARY_FADE)
            raw = drawable(series.xs, series.ys, log_y=self.log_y)
            not_finite += raw.not_finite
            not_positive += raw.not_positive
            target = back if series.secondary else front
            if self.smoothing:
                smooth = drawable(
                    series.xs, ema(series.ys, self.smoothing_weight), log_y=self.log_y
                )
                if raw.xs:
                    back.insert(
                        0,
                        _Curve(
                            "",
                            *thin(raw.xs, raw.ys, limit),
                            blend(color, background, _RAW_FADE),
                            False,
                        ),
                    )
                if smooth.xs:
                    target.append(_Curve(name, *thin(smooth.xs, smooth.ys, limit), color, True))
            elif raw.xs:
                target.append(_Curve(name, *thin(raw.xs, raw.ys, limit), color, True))
        parts = []
        if not_positive:
            parts.append(
                f"{not_positive} value{'s' if not_positive != 1 else ''} ≤ 0 not shown (log scale)"
            )
        if not_finite:
            parts.append(f"{not_finite} NaN/inf value{'s' if not_finite != 1 else ''} not shown")
        return back + front, "; ".join(parts)

    def _plot_strips(
        self, curves: list[_Curve], width: int, height: int, base: Style
    ) -> list[Strip]:
        """The canvas with its y axis on the left and its x axis below, top row first."""
        rows = height - 2  # the x axis line and its labels take the last two
        low = min(min(c.xs) for c in curves)
        high = max(max(c.xs) for c in curves)
        if low == high:  # one epoch: give it room either side
            low, high = low - 1, high + 1
        bottom = min(min(c.ys) for c in curves)
        top = max(max(c.ys) for c in curves)
        # About one label every third row: readable, and never two on one row.
        y_axis = axis(bottom, top, max(2, rows // 3 + 1) if rows >= 2 else 1, log=self.log_y)
        label_width = max((len(label) for label in y_axis.labels), default=0)
        cols = width - label_width - 1 - _RIGHT_MARGIN
        if cols < 2:
            return _message_strips("(too small to draw)", width, height, base)
        canvas = Canvas(cols, rows, (low, high), (y_axis.low, y_axis.high), log_y=self.log_y)
        cells = canvas.draw(Line(c.xs, c.ys, c.rgb) for c in curves)
        axis_style = base + Style(dim=True)
        strips = _canvas_strips(canvas, cells, y_axis, label_width, base, axis_style)
        strips += _x_axis_strips(canvas, low, high, label_width, width, base, axis_style)
        return [_fit(strip, width, base) for strip in strips]

    def _title_strip(self, width: int, base: Style) -> Strip:
        segments = [Segment(self.title, base + Style(bold=True))]
        tags = []
        if self.log_y:
            tags.append("log y")
        if self.smoothing:
            tags.append(f"smoothed {self.smoothing_weight:g}")
        if tags:
            segments.append(Segment(f"  ({', '.join(tags)})", base + Style(dim=True)))
        return _fit(Strip(segments), width, base)

    def _legend_strips(self, width: int, base: Style, *, max_lines: int) -> list[Strip]:
        background = _rgb(base.bgcolor)
        lines: list[list[Segment]] = [[]]
        used = 0
        for index, (name, series) in enumerate(self._series.items()):
            color = PALETTE[(index if series.color is None else series.color) % len(PALETTE)]
            if series.secondary:
                color = blend(color, background, _SECONDARY_FADE)
            mark = "╌╌ " if series.secondary else "━━ "
            item = len(mark) + len(name) + 2
            if used and used + item > width:
                if len(lines) == max_lines:
                    lines[-1].append(Segment(" …", base + Style(dim=True)))
                    break
                lines.append([])
                used = 0
            lines[-1] += [
                Segment(mark, base + Style(color=RichColor.from_rgb(*color), bold=True)),
                Segment(name + "  ", base),
            ]
            used += item
        if not lines[0]:
            return []
        return [_fit(Strip(segments), width, base) for segments in lines]


# --------------------------------------------------------------------------- helpers
def _as_series(data: SeriesData) -> Series:
    if isinstance(data, Series):
        return data
    xs, ys = data
    return Series(list(xs), list(ys))


def _rgb(color: RichColor | None) -> RGB | None:
    if color is None or color.triplet is None:
        return None
    return (color.triplet.red, color.triplet.green, color.triplet.blue)


def _fit(strip: Strip, width: int, base: Style) -> Strip:
    return strip.crop_extend(0, width, base)


def _text_strip(text: str, width: int, style: Style) -> Strip:
    return _fit(Strip([Segment(text, style)]), width, style)


def _message_strips(message: str, width: int, height: int, base: Style) -> list[Strip]:
    if height <= 0:
        return []
    blank = Strip.blank(width, base)
    lines = [blank] * height
    text = message[:width]
    pad = max(0, (width - len(text)) // 2)
    lines[height // 2] = _text_strip(" " * pad + text, width, base + Style(dim=True))
    return lines


def _canvas_strips(
    canvas: Canvas,
    cells: Cells,
    y_axis: Axis,
    label_width: int,
    base: Style,
    axis_style: Style,
) -> list[Strip]:
    """The canvas rows, each with its y label (if a tick is on it) and the axis line.

    The work is proportional to the rows plus the cells the curves touch, not to
    the canvas's area.
    """
    labels: dict[int, str] = {}
    for tick, label in zip(y_axis.ticks, y_axis.labels, strict=True):
        # The row where the curves draw this value, so a label reads off a curve.
        labels.setdefault(canvas.row_of(tick), label)
    by_row: dict[int, list[tuple[int, int, RGB]]] = {}
    for (col, row), (mask, rgb) in cells.items():
        by_row.setdefault(row, []).append((col, mask, rgb))
    curve_styles: dict[RGB, Style] = {}
    strips: list[Strip] = []
    for row in range(canvas.rows - 1, -1, -1):
        row_label = labels.get(row)
        segments = [
            Segment((row_label or "").rjust(label_width), base),
            Segment("┤" if row_label is not None else "│", axis_style),
        ]
        at = 0
        for col, mask, rgb in sorted(by_row.get(row, ())):
            if col > at:
                segments.append(Segment(" " * (col - at), base))
            style = curve_styles.get(rgb)
            if style is None:
                style = curve_styles[rgb] = base + Style(color=RichColor.from_rgb(*rgb))
            char = chr(BRAILLE_BLANK + mask)
            last = segments[-1]
            if col == at and last.style is style:
                segments[-1] = Segment(last.text + char, style)
            else:
                segments.append(Segment(char, style))
            at = col + 1
        if canvas.cols > at:
            segments.append(Segment(" " * (canvas.cols - at), base))
        strips.append(Strip(segments))
    return strips


def _x_axis_strips(
    canvas: Canvas,
    low: float,
    high: float,
    label_width: int,
    width: int,
    base: Style,
    axis_style: Style,
) -> list[Strip]:
    """The x axis line with a mark at each tick, and the tick labels under them."""
    most = max(2, canvas.cols // _X_TICK_SPACING)
    ticks = integer_ticks(low, high, most)
    labels = [f"{t:g}" for t in ticks]
    if len(ticks) < 2:  # less than an epoch (the live loss by batch): fractions
        ticks = nice_ticks(low, high, most)
        labels = tick_labels(ticks)
    line = ["─"] * canvas.cols
    text = [" "] * width
    free = 0  # the first column a label may use (one space after the previous)
    for tick, label in zip(ticks, labels, strict=True):
        col = canvas.col_of(tick)
        if not 0 <= col < canvas.cols:
            continue
        line[col] = "┬"
        at = label_width + 1 + col
        start = min(max(at - (len(label) - 1) // 2, free), width - len(label))
        if start < free or start > at:  # no room for it beside its neighbour
            continue
        text[start : start + len(label)] = label
        free = start + len(label) + 1
    return [
        Strip([Segment(" " * label_width + "└" + "".join(line), axis_style)]),
        Strip([Segment("".join(text), base)]),
    ]
