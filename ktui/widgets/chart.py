"""A line chart of training curves, drawn with plotext (through textual-plotext).

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
style change. A rebuild lets plotext lay out the axes and rasterise the lines,
then turns plotext's cell matrix into strips directly (skipping plotext's ANSI
text and its re-parsing, which cost as much as the plot itself). Colours are a
fixed palette, and the axes and text take the widget's own (theme) colours, so
the same data always gives the same picture.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.color import Color as RichColor
from rich.segment import Segment
from rich.style import Style
from textual.reactive import reactive
from textual.strip import Strip
from textual_plotext import PlotextPlot

RGB = tuple[int, int, int]

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


# --------------------------------------------------------------------------- maths
def ema(values: Sequence[float], weight: float) -> list[float]:
    """Exponential moving average: ``s[0] = v[0]``, ``s[i] = w·s[i-1] + (1-w)·v[i]``.

    ``weight`` is clamped to [0, 1); 0 returns the values unchanged. A value that
    is not finite (NaN, ±inf) does not enter the average: its position gets NaN,
    so it is not drawn, and the average carries on from the last finite value.
    """
    w = min(max(float(weight), 0.0), 0.999)
    out: list[float] = []
    last: float | None = None
    for value in values:
        v = float(value)
        if not math.isfinite(v):
            out.append(math.nan)
            continue
        last = v if last is None else w * last + (1.0 - w) * v
        out.append(last)
    return out


@dataclass(frozen=True)
class Drawable:
    """The points of a series that can be drawn, and how many could not."""

    xs: list[float]
    ys: list[float]
    not_finite: int = 0
    """Points with a NaN or infinite x or y."""
    not_positive: int = 0
    """Points left out because the y scale is logarithmic and y <= 0."""


def drawable(xs: Sequence[float], ys: Sequence[float], *, log_y: bool = False) -> Drawable:
    """Keep the points that can be drawn: finite, and with y > 0 on a log scale."""
    keep_x: list[float] = []
    keep_y: list[float] = []
    not_finite = not_positive = 0
    for x, y in zip(xs, ys, strict=False):
        fx, fy = float(x), float(y)
        if not (math.isfinite(fx) and math.isfinite(fy)):
            not_finite += 1
        elif log_y and fy <= 0.0:
            not_positive += 1
        else:
            keep_x.append(fx)
            keep_y.append(fy)
    return Drawable(keep_x, keep_y, not_finite, not_positive)


def thin(xs: list[float], ys: list[float], limit: int) -> tuple[list[float], list[float]]:
    """At most about ``limit`` points: every k-th one and always the last.

    More points than the chart has dots only cost time; a 10,000-epoch run
    draws as fast as a 300-epoch one.
    """
    if limit < 2 or len(xs) <= limit:
        return xs, ys
    step = math.ceil(len(xs) / limit)
    tx, ty = xs[::step], ys[::step]
    if tx[-1] != xs[-1]:
        tx.append(xs[-1])
        ty.append(ys[-1])
    return tx, ty


def integer_ticks(low: float, high: float, most: int) -> list[float]:
    """Whole-number x ticks (epochs) from ``low`` to ``high``, at most ``most`` of them,
    spaced 1, 2 or 5 × 10^k apart."""
    if most < 1 or not (math.isfinite(low) and math.isfinite(high)):
        return []
    lo, hi = math.ceil(low), math.floor(high)
    if hi < lo:
        return []
    span = hi - lo
    step = 1
    while span / step > max(most - 1, 1):
        for factor in (2, 2.5, 2):  # 1 → 2 → 5 → 10 → 20 → 50 ...
            step = int(step * factor)
            if span / step <= max(most - 1, 1):
                break
    first = math.ceil(lo / step) * step
    return [float(t) for t in range(first, hi + 1, step)]


def metric_groups(names: Iterable[str]) -> dict[str, list[str]]:
    """Metrics grouped one chart each: ``{"loss": ["loss", "val_loss"], "accuracy": [...]}``.

    ``loss`` comes first, then the other metrics by name; in a group the training
    metric comes before the validation one (``val_`` + its name).
    """
    groups: dict[str, list[str]] = {}
    for name in dict.fromkeys(names):
        groups.setdefault(name.removeprefix("val_"), []).append(name)
    order = sorted(groups, key=lambda base: (base != "loss", base))
    return {base: sorted(groups[base], key=lambda n: n.startswith("val_")) for base in order}


def _blend(rgb: RGB, background: RGB | None, amount: float) -> RGB:
    """``rgb`` moved ``amount`` of the way towards ``background`` (mid grey if unknown)."""
    target = background if background is not None else (128, 128, 128)
    return (
        round(rgb[0] + (target[0] - rgb[0]) * amount),
        round(rgb[1] + (target[1] - rgb[1]) * amount),
        round(rgb[2] + (target[2] - rgb[2]) * amount),
    )


# --------------------------------------------------------------------------- widget
@dataclass(frozen=True)
class _Curve:
    name: str
    xs: list[float]
    ys: list[float]
    rgb: RGB
    legend: bool


class MetricChart(PlotextPlot):
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
                color = _blend(color, background, _SECONDARY_FADE)
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
                            _blend(color, background, _RAW_FADE),
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
        """The axes (laid out by plotext) with the curves (rasterised here) inside."""
        # plotext's figure is untyped, and the matrix is not part of its public API:
        # Any, and kept to the few attributes textual-plotext itself relies on.
        plt: Any = self.plt
        # A fresh figure each time: plotext keeps computed limits between builds.
        plt.clear_figure()
        plt.theme("clear")  # no colours of its own: axes and ticks take the widget's style
        plt.plotsize(width, height)
        plt._set_size(width, height)  # as textual-plotext does; plotsize alone is not enough
        low = min(min(c.xs) for c in curves)
        high = max(max(c.xs) for c in curves)
        bottom = min(min(c.ys) for c in curves)
        top = max(max(c.ys) for c in curves)
        ticks = integer_ticks(low, high, most=max(2, width // 8))
        if ticks:
            plt.xticks(ticks, [f"{t:g}" for t in ticks])
        if low == high:
            plt.xlim(low - 1, high + 1)
        if self.log_y:
            plt.yscale("log")
        # Only the two corners of the data go to plotext: it chooses the limits, ticks
        # and labels (in log space too) exactly as for the full data, at a fraction of
        # the cost of its line drawing (~85% of its time for 4 × 100 points).
        plt.scatter([low, high], [bottom, top], marker="dot")
        plt._set_sizes()
        plt._build_matrix()
        monitor = plt.monitor
        matrix = monitor.matrix
        cols, rows = matrix.Cols_canvas, matrix.Rows_canvas
        cells = _rasterise(
            curves,
            len(cols),
            len(rows),
            (float(monitor.xlim[0][0]), float(monitor.xlim[0][1])),
            (float(monitor.ylim[0][0]), float(monitor.ylim[0][1])),
            log_y=self.log_y,
        )
        return _compose(matrix, cells, width, height, base)

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
                color = _blend(color, background, _SECONDARY_FADE)
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


_BRAILLE_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
"""Braille dot bits by [row from the top][column] within a cell (2 × 4 dots)."""

Cell = tuple[int, int]
"""A canvas cell: (column, row from the bottom)."""

Cells = dict[Cell, tuple[int, RGB]]
"""Canvas cells (column, row from the bottom) → (braille dots, colour)."""


def _rasterise(
    curves: Sequence[_Curve],
    cols: int,
    rows: int,
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    *,
    log_y: bool,
) -> Cells:
    """Draw ``curves`` as braille lines on a ``cols`` × ``rows`` canvas.

    Coordinates map to dots the way plotext maps them (so the curves meet its
    ticks); a cell shared by several curves shows the dots of the last one drawn.
    """
    width_px, height_px = 2 * cols, 4 * rows
    x0, x1 = xlim
    y0, y1 = ylim
    sx = (width_px - 1) / (x1 - x0) if x1 != x0 else 0.0
    sy = (height_px - 1) / (y1 - y0) if y1 != y0 else 0.0
    cells: Cells = {}
    for curve in curves:
        ys = [math.log10(y) for y in curve.ys] if log_y else curve.ys
        px = [math.floor(round(0.5 + (x - x0) * sx, 8)) for x in curve.xs]
        py = [math.floor(round(0.5 + (y - y0) * sy, 8)) for y in ys]
        for cell, mask in _line_cells(px, py, width_px, height_px).items():
            cells[cell] = (mask, curve.rgb)
    return cells


def _line_cells(px: list[int], py: list[int], width_px: int, height_px: int) -> dict[Cell, int]:
    """The braille dots of the polyline through the dots ``(px[i], py[i])``, by cell."""
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
        if 0 <= x < width_px and 0 <= y < height_px:
            cell = (x >> 1, y >> 2)
            owned[cell] = owned.get(cell, 0) | bits[3 - (y & 3)][x & 1]
    return owned


def _compose(matrix: Any, cells: Cells, width: int, height: int, base: Style) -> list[Strip]:
    """plotext's frame cells with the rasterised canvas cells, as strips, top row first.

    The work is proportional to the cells outside the canvas plus the cells the
    curves touch, not to the canvas's area.
    """
    canvas_cols, canvas_rows = matrix.Cols_canvas, matrix.Rows_canvas
    col_start, col_end = canvas_cols.start, canvas_cols.stop
    frame_styles: dict[tuple[Any, Any, Any], Style] = {}
    curve_styles: dict[RGB, Style] = {}
    by_row: dict[int, list[tuple[int, int, RGB]]] = {}
    for (col, row), (mask, rgb) in cells.items():
        by_row.setdefault(row + canvas_rows.start, []).append((col + col_start, mask, rgb))

    def frame(row: int, cols: range, out: list[Segment]) -> None:
        markers = matrix.marker[row]
        fgs, sts, bgs = matrix.fullground[row], matrix.style[row], matrix.background[row]
        text: list[str] = []
        current: Style | None = None
        for col in cols:
            key = (fgs[col], sts[col], bgs[col])
            style = frame_styles.get(key)
            if style is None:
                style = frame_styles[key] = _cell_style(base, *key)
            if style is not current:
                if text and current is not None:
                    out.append(Segment("".join(text), current))
                text, current = [], style
            text.append(markers[col])
        if text and current is not None:
            out.append(Segment("".join(text), current))

    strips: list[Strip] = []
    for row in range(matrix.rows - 1, -1, -1):
        segments: list[Segment] = []
        if row not in canvas_rows:
            frame(row, range(matrix.cols), segments)
        else:
            frame(row, range(col_start), segments)
            at = col_start
            for col, mask, rgb in sorted(by_row.get(row, ())):
                if col > at:
                    segments.append(Segment(" " * (col - at), base))
                style = curve_styles.get(rgb)
                if style is None:
                    style = curve_styles[rgb] = base + Style(color=RichColor.from_rgb(*rgb))
                char = chr(0x2800 + mask)
                if col == at and segments and segments[-1].style is style:
                    segments[-1] = Segment(segments[-1].text + char, style)
                else:
                    segments.append(Segment(char, style))
                at = col + 1
            if col_end > at:
                segments.append(Segment(" " * (col_end - at), base))
            frame(row, range(col_end, matrix.cols), segments)
        strips.append(_fit(Strip(segments), width, base))
    return strips[:height]


def _cell_style(base: Style, fg: Any, style: Any, bg: Any) -> Style:
    extra = Style(color=_plotext_color(fg), bgcolor=_plotext_color(bg))
    if isinstance(style, str):
        extra += _STYLE_WORDS.get(style, Style())
    return base + extra


_STYLE_WORDS: dict[str, Style] = {
    "bold": Style(bold=True),
    "italic": Style(italic=True),
    "dim": Style(dim=True),
    "underline": Style(underline=True),
    "inverted": Style(reverse=True),
}


def _plotext_color(color: Any) -> RichColor | None:
    """A plotext colour (RGB tuple, 0-255 code, name or "default") as a rich colour."""
    if isinstance(color, tuple) and len(color) == 3:
        return RichColor.from_rgb(*color)
    if isinstance(color, int) and 0 <= color <= 255:
        return RichColor.from_ansi(color)
    return None  # "default" (and names, which the "clear" theme never produces)
