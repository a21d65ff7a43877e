"""Pictures for the terminal, as rich renderables: images, heat maps and bar charts.

Used by the dashboard's insight screens and by ``ktui runs show --confusion``. This
module needs rich and numpy only (no Textual, no TensorFlow), so the command line
can print a confusion matrix without starting anything heavy.

Images are drawn with the upper half block ``▀``: its foreground is the upper
pixel and its background the lower one, so a 28×28 image takes 28 columns × 14
rows and keeps its proportions (a terminal cell is about twice as high as wide).
Without colour (``NO_COLOR``, a dumb terminal) each cell is one character of the
density ramp ``" ░▒▓█"`` for the mean of its two pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
from rich.color import Color
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style
from rich.table import Table
from rich.text import Text

from ktui.core.insight import Evaluation, image_view

__all__ = [
    "HALF_BLOCK",
    "RAMP",
    "Picture",
    "bar_chart",
    "confusion_caption",
    "confusion_lines",
    "confusion_table",
    "grey_level",
    "metrics_table",
    "ramp_char",
]

RGB: TypeAlias = tuple[int, int, int]
Mode: TypeAlias = Literal["auto", "blocks", "ramp"]

HALF_BLOCK = "▀"
"""Drawn with fg = upper pixel, bg = lower pixel."""

RAMP = " ░▒▓█"
"""Density ramp from dark (0) to bright (1), for terminals without colour."""

CLI_HEAT: RGB = (1, 120, 212)
"""The heat colour where no theme is known (``ktui runs show``): Textual's default
primary blue, so the command line and the dashboard look alike."""
CLI_BASE: RGB = (24, 40, 60)
"""The faintest heat shade on the command line (a count of almost nothing)."""


def grey_level(value: float) -> int:
    """A value in [0, 1] as a grey level 0..255 (clipped; NaN is 0)."""
    if not math.isfinite(value):
        return 0
    return int(round(min(max(value, 0.0), 1.0) * 255))


def ramp_char(value: float) -> str:
    """The density-ramp character of a value in [0, 1]."""
    return RAMP[round(grey_level(value) / 255 * (len(RAMP) - 1))]


@lru_cache(maxsize=8192)
def _style(top: int | RGB, bottom: int | RGB | None) -> Style:
    # A 28×28 image has 392 cells but few distinct pairs (the background repeats), so
    # the styles are shared between cells, pictures and redraws.
    upper = (top, top, top) if isinstance(top, int) else top
    lower = (bottom, bottom, bottom) if isinstance(bottom, int) else bottom
    return Style(
        color=Color.from_rgb(*upper),
        bgcolor=None if lower is None else Color.from_rgb(*lower),
    )


class Picture:
    """An image drawn in the terminal (see the module's docstring).

    ``sample`` is anything :func:`ktui.core.insight.image_view` reads: ``(h, w)`` grey,
    one or three channels first or last, or a flat vector of a perfect square
    length (784 → 28×28); floats in [0, 1] or integers 0..255. ``scale`` > 1 shrinks
    the image by averaging ``scale × scale`` pixels. ``mode`` ``"auto"`` draws half
    blocks when the console has colour and the ramp when it has not. Raises
    ``ValueError`` for a sample that is not an image.
    """

    def __init__(self, sample: npt.ArrayLike, *, mode: Mode = "auto", scale: int = 1) -> None:
        view = image_view(np.asarray(sample))
        if view is None:
            raise ValueError(f"an array of shape {np.shape(sample)} is not an image")
        pixels = view.pixels
        if scale > 1:
            h, w = (pixels.shape[0] // scale) * scale, (pixels.shape[1] // scale) * scale
            if h and w:
                cropped = pixels[:h, :w]
                pixels = cropped.reshape(h // scale, scale, w // scale, scale, *pixels.shape[2:])
                pixels = pixels.mean(axis=(1, 3))
        self.pixels = pixels
        self.note = view.note
        """How the sample was read (e.g. "a vector of 784 values, drawn as 28×28")."""
        self.mode = mode
        self._lines: dict[bool, list[list[Segment]]] = {}

    @property
    def width(self) -> int:
        """Columns it takes: one per pixel."""
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        """Rows it takes: one per two pixels."""
        return (int(self.pixels.shape[0]) + 1) // 2

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(self.width, self.width)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        ramp = self.mode == "ramp" or (
            self.mode == "auto" and (console.no_color or console.color_system is None)
        )
        for line in self.lines(ramp=ramp):
            yield from line
            yield Segment.line()

    def lines(self, *, ramp: bool = False) -> list[list[Segment]]:
        """The picture's rows of segments (adjacent cells of one style merged).

        Computed once per mode and kept: a screen redraws its pictures often.
        """
        cached = self._lines.get(ramp)
        if cached is None:
            cached = self._lines[ramp] = self._ramp_lines() if ramp else self._block_lines()
        return cached

    def _levels(self) -> npt.NDArray[np.uint8]:
        """Grey (or RGB) levels 0..255 of every pixel, in one vectorised step."""
        px = np.nan_to_num(self.pixels, nan=0.0)
        return np.asarray(np.rint(np.clip(px, 0.0, 1.0) * 255), dtype=np.uint8)

    def _ramp_lines(self) -> list[list[Segment]]:
        levels = self._levels().astype(np.float64)
        if levels.ndim == 3:
            levels = levels.mean(axis=-1)
        if levels.shape[0] % 2:  # an odd last row stands alone
            levels = np.vstack([levels, levels[-1:]])
        pairs = (levels[0::2] + levels[1::2]) / 2 / 255 * (len(RAMP) - 1)
        index = np.rint(pairs).astype(np.int64).tolist()
        return [[Segment("".join(RAMP[i] for i in row))] for row in index]

    def _block_lines(self) -> list[list[Segment]]:
        levels = self._levels()
        rows = levels.shape[0]
        out: list[list[Segment]] = []
        for y in range(0, rows, 2):
            # Plain Python ints (or RGB tuples) are what the style cache is keyed on.
            upper = _cells(levels[y])
            lower = _cells(levels[y + 1]) if y + 1 < rows else [None] * len(upper)
            segments: list[Segment] = []
            run_style: Style | None = None
            run = 0
            for top, bottom in zip(upper, lower, strict=True):
                style = _style(top, bottom)
                if style is run_style:
                    run += 1
                    continue
                if run_style is not None:
                    segments.append(Segment(HALF_BLOCK * run, run_style))
                run_style, run = style, 1
            if run_style is not None:
                segments.append(Segment(HALF_BLOCK * run, run_style))
            out.append(segments)
        return out


def _cells(row: npt.NDArray[np.uint8]) -> list[Any]:
    """One row of levels as ints (grey) or RGB tuples (colour)."""
    if row.ndim == 1:
        return list(row.tolist())
    return [tuple(pixel) for pixel in row[:, :3].tolist()]


# --------------------------------------------------------------------------- heat maps
def _blend(a: RGB, b: RGB, amount: float) -> RGB:
    t = min(max(amount, 0.0), 1.0)
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def _readable_on(bg: RGB) -> RGB:
    """Black or white text, whichever reads better on ``bg``."""
    luminance = (0.2126 * bg[0] + 0.7152 * bg[1] + 0.0722 * bg[2]) / 255
    return (0, 0, 0) if luminance > 0.5 else (255, 255, 255)


def _short(name: str, width: int) -> str:
    return name if len(name) <= width else name[: max(1, width - 1)] + "…"


def confusion_table(
    evaluation: Evaluation,
    *,
    heat: RGB | None = CLI_HEAT,
    base: RGB = CLI_BASE,
    name_width: int = 12,
) -> Table:
    """The confusion matrix as a heat map with counts.

    Rows are true classes (with their names), columns predicted classes (by number,
    to stay narrow). A cell's shade is its share of the row: a strong diagonal
    means each class is mostly predicted as itself. ``heat`` None draws no shades
    (counts only; the diagonal is bold).
    """
    table = Table(box=None, padding=0, show_edge=False, pad_edge=False)
    matrix = evaluation.matrix
    # Cells carry their own padding so that shaded neighbours join into one heat map.
    width = max(len(str(evaluation.classes - 1)), *(len(f"{int(c):,}") for c in matrix.flat))
    table.add_column("true \\ pred ", justify="left", no_wrap=True)
    for j in range(evaluation.classes):
        table.add_column(f" {j:>{width}} ", justify="right", no_wrap=True)
    for i, name in enumerate(evaluation.labels):
        total = int(matrix[i].sum())
        cells: list[Text] = []
        for j in range(evaluation.classes):
            count = int(matrix[i, j])
            style = Style(bold=i == j, dim=count == 0)
            if heat is not None and count and total:
                bg = _blend(base, heat, count / total)
                style += Style(bgcolor=Color.from_rgb(*bg), color=Color.from_rgb(*_readable_on(bg)))
            cells.append(Text(f" {count:>{width},} ", style=style))
        label = name if name == str(i) else f"{i} {_short(name, name_width)}"
        table.add_row(Text(label + " "), *cells)
    return table


def confusion_caption(*, shaded: bool = True) -> Text:
    """How to read :func:`confusion_table` (printed under it, as wide as the room allows)."""
    return Text(
        "rows: true class · columns: predicted" + ("\nshade: share of the row" if shaded else ""),
        style="dim italic",
    )


def _percent(value: float) -> str:
    return "—" if not math.isfinite(value) else f"{value * 100:.1f}%"


def metrics_table(evaluation: Evaluation, *, name_width: int = 12) -> Table:
    """Per-class precision, recall and support, then the overall accuracy."""
    table = Table(
        box=None,
        padding=(0, 1),
        show_edge=False,
        pad_edge=False,
        caption="precision: right ÷ predicted as it · recall: right ÷ truly it · — : 0 ÷ 0",
        caption_justify="left",
    )
    table.add_column("class", no_wrap=True)
    table.add_column("precision", justify="right", no_wrap=True)
    table.add_column("recall", justify="right", no_wrap=True)
    table.add_column("support", justify="right", no_wrap=True)
    precision, recall, support = evaluation.precision, evaluation.recall, evaluation.support
    for i, name in enumerate(evaluation.labels):
        label = name if name == str(i) else f"{i} {_short(name, name_width)}"
        table.add_row(label, _percent(precision[i]), _percent(recall[i]), f"{int(support[i]):,}")
    table.add_row(
        Text("accuracy", style="bold"),
        "",
        Text(_percent(evaluation.accuracy), style="bold"),
        Text(f"{evaluation.samples:,}", style="bold"),
    )
    return table


def confusion_lines(evaluation: Evaluation) -> list[str]:
    """The matrix and the per-class figures as plain aligned text (for pipes and logs)."""
    n = evaluation.classes
    names = [name if name == str(i) else f"{i} {name}" for i, name in enumerate(evaluation.labels)]
    first = max(len("true \\ pred"), *(len(name) for name in names))
    width = max(len(str(n - 1)), *(len(f"{int(c):,}") for c in evaluation.matrix.flat))
    lines = ["true \\ pred".ljust(first) + "".join(f"  {j:>{width}}" for j in range(n))]
    for i, name in enumerate(names):
        row = evaluation.matrix[i]
        lines.append(name.ljust(first) + "".join(f"  {int(c):>{width},}" for c in row))
    lines.append("")
    lines.append(f"{'class'.ljust(first)}  precision     recall    support")
    precision, recall, support = evaluation.precision, evaluation.recall, evaluation.support
    for i, name in enumerate(names):
        lines.append(
            f"{name.ljust(first)}  {_percent(precision[i]):>9}  {_percent(recall[i]):>9}  "
            f"{int(support[i]):>9,}"
        )
    lines.append(
        f"{'accuracy'.ljust(first)}  {'':>9}  {_percent(evaluation.accuracy):>9}  "
        f"{evaluation.samples:>9,}"
    )
    return lines


# --------------------------------------------------------------------------- bar charts
_EIGHTHS = " ▏▎▍▌▋▊▉█"


def _bar(fraction: float, width: int) -> str:
    """A bar ``fraction`` of ``width`` cells long, to an eighth of a cell."""
    eighths = round(min(max(fraction, 0.0), 1.0) * width * 8)
    full, part = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[part] if part else "")


def bar_chart(
    labels: Sequence[str], counts: Sequence[int], *, width: int = 40, style: str | Style = ""
) -> Text:
    """One horizontal bar per label, scaled to the largest count, with count and share.

    ``width`` is the whole line's width; the bars get what the labels and numbers
    leave. When that is under 8 cells the shares are left out to make room.
    """
    total = sum(int(c) for c in counts)
    top = max((int(c) for c in counts), default=0)
    name_width = max((len(label) for label in labels), default=0)
    numbers = [f"{int(c):,} ({(int(c) / total * 100) if total else 0:.1f}%)" for c in counts]
    if width - name_width - max((len(n) for n in numbers), default=0) - 3 < 8:
        numbers = [f"{int(c):,}" for c in counts]
    number_width = max((len(n) for n in numbers), default=0)
    bar_width = max(4, width - name_width - number_width - 3)
    text = Text(no_wrap=True, overflow="ellipsis")
    for index, (label, count, number) in enumerate(zip(labels, counts, numbers, strict=True)):
        if index:
            text.append("\n")
        text.append(f"{label:>{name_width}} ")
        bar = _bar(int(count) / top if top else 0.0, bar_width)
        text.append(bar.ljust(bar_width), style=style)
        text.append(f" {number:>{number_width}}")
    return text
