"""The report's pictures, drawn with matplotlib: curves as SVG or PNG, images as PNG.

matplotlib is an optional dependency (``ktui[report]``); :func:`require_matplotlib`
turns its absence into a message saying how to install it. Figures are made with
:class:`matplotlib.figure.Figure` directly, never through pyplot, so no global figure
state is touched and drawing from a worker thread is safe.
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ktui.core.errors import KtuiError

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
"""One colour per run (matplotlib's tab10, reordered so two runs are blue and red)."""

CHART_SIZE = (5.6, 3.0)
"""Inches; at 100 dpi a 560×300 chart, two to a row in the report's 72rem column."""

TITLE_Y = 1.0
"""Where a chart's title sits (axes fraction), given rather than left to matplotlib:
placing it itself, matplotlib measures every tick label of the top axis to keep clear
of them (a fifth of drawing a curve chart), and these charts have none up there, so it
lands at 1.0 anyway (the SVG is the same, byte for byte)."""


def require_matplotlib() -> Any:
    """Import what draws the report's charts — matplotlib's :class:`~matplotlib.figure.Figure`
    and its SVG backend, never pyplot (no GUI toolkit is looked for) — or say how to get it."""
    try:
        import matplotlib
        import matplotlib.backends.backend_svg
        import matplotlib.figure  # noqa: F401 - imported here, used by the figures
    except ImportError:
        raise KtuiError(
            "reports need matplotlib, which is not installed",
            hint="Install it with `pip install 'ktui[report]'` (or `pip install matplotlib`).",
        ) from None
    # SVG text stays text (small files, selectable), and ids are stable from run to run.
    matplotlib.rcParams["svg.fonttype"] = "none"
    matplotlib.rcParams["svg.hashsalt"] = "ktui"
    return matplotlib


@dataclass(frozen=True)
class Curve:
    """One line of a chart: a run's training or validation values by epoch."""

    label: str
    epochs: Sequence[int]
    values: Sequence[float]
    color: str
    validation: bool


def curve_figure(metric: str, curves: Sequence[Curve]) -> Any:
    """A chart of ``metric`` by epoch: training solid, validation dashed, one colour per run."""
    require_matplotlib()
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=CHART_SIZE, dpi=100)
    # Fixed margins, the legend outside on the right: matplotlib's automatic layout
    # and its "best" legend spot cost most of a report's time (0.3 s a chart of 4 runs).
    fig.subplots_adjust(left=0.1, right=0.7, top=0.9, bottom=0.16)
    ax = fig.add_subplot()
    for curve in curves:
        ax.plot(
            list(curve.epochs),
            list(curve.values),
            color=curve.color,
            linestyle="--" if curve.validation else "-",
            linewidth=1.6,
            marker="o" if len(curve.epochs) <= 20 else None,
            markersize=3,
            label=curve.label,
        )
    ax.set_title(metric, y=TITLE_Y)
    ax.set_xlabel("epoch")
    ax.grid(True, alpha=0.3)
    # Epochs are whole numbers: no tick at 1.5.
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if curves:
        ax.legend(fontsize="small", frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def importance_figure(values: Sequence[tuple[str, float]]) -> Any:
    """Horizontal bars: each hyperparameter's share of the objective's variation, the
    most important at the top."""
    require_matplotlib()
    from matplotlib.figure import Figure

    rows = list(values)
    height = max(1.4, 0.45 * len(rows) + 0.8)
    fig = Figure(figsize=(CHART_SIZE[0], height), dpi=100)
    fig.subplots_adjust(left=0.28, right=0.95, top=1 - 0.5 / height, bottom=0.5 / height)
    ax = fig.add_subplot()
    names = [name for name, _ in reversed(rows)]
    shares = [share for _, share in reversed(rows)]
    bars = ax.barh(names, shares, color=PALETTE[0])
    ax.bar_label(bars, labels=[f"{v:.0%}" for v in shares], padding=3, fontsize="small")
    ax.set_xlim(0, max([1.0, *shares]) * 1.12)
    ax.set_xlabel("share of the objective's variation")
    ax.grid(True, axis="x", alpha=0.3)
    return fig


@dataclass(frozen=True)
class ParallelLine:
    """One trial across the axes of a parallel-coordinates plot."""

    positions: Sequence[float | None]
    """0–1 on each axis; None where the trial has no value (the line breaks there)."""
    shade: float | None
    """0 (worst) – 1 (best) for a scored finished trial; None draws it grey (pruned,
    stopped, failed)."""
    gid: str = ""
    """The line's id in the SVG (``trial-7``), so a reader can find each trial."""


def parallel_figure(
    names: Sequence[str],
    ticks: Sequence[Sequence[tuple[float, str]]],
    lines: Sequence[ParallelLine],
) -> Any:
    """Parallel coordinates: one vertical axis per name (values placed 0–1 with their
    tick labels), one polyline per trial, the best in the brightest colour."""
    require_matplotlib()
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    width = max(CHART_SIZE[0], 1.6 * len(names) + 1.0)
    fig = Figure(figsize=(min(width, 11.0), 3.6), dpi=100)
    fig.subplots_adjust(left=0.06, right=0.94, top=0.86, bottom=0.08)
    ax = fig.add_subplot()
    xs = list(range(len(names)))
    cmap = colormaps["viridis"]
    # grey (unscored) first, then the scored ones worst to best, so the best is on top
    ordered = sorted(lines, key=lambda line: -1.0 if line.shade is None else line.shade)
    for line in ordered:
        ys = [float("nan") if p is None else p for p in line.positions]
        if line.shade is None:
            ax.plot(
                xs,
                ys,
                color="#9aa0a6",
                linewidth=1.0,
                linestyle="--",
                alpha=0.7,
                gid=line.gid or None,
            )
        else:
            color = cmap(0.15 + 0.8 * line.shade)
            ax.plot(xs, ys, color=color, linewidth=1.6, alpha=0.9, gid=line.gid or None)
    for x, axis_ticks in zip(xs, ticks, strict=False):
        ax.axvline(x, color="#57606a", linewidth=1.0)
        for y, label in axis_ticks:
            ax.text(x + 0.04, y, label, fontsize="x-small", va="center", ha="left")
    ax.set_xlim(-0.1, len(names) - 0.6)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xticks(xs, list(names))
    ax.xaxis.tick_top()
    ax.set_yticks([])
    for side in ("left", "right", "bottom", "top"):
        ax.spines[side].set_visible(False)
    return fig


def series_figure(
    title: str,
    series: Sequence[tuple[str, Sequence[float], Sequence[float | None]]],
    *,
    xlabel: str = "minutes",
    ylabel: str = "",
    ylim: tuple[float, float] | None = None,
) -> Any:
    """Lines over time (or epochs): ``(label, xs, ys)`` per line, gaps where y is None."""
    require_matplotlib()
    from matplotlib.figure import Figure

    fig = Figure(figsize=CHART_SIZE, dpi=100)
    fig.subplots_adjust(left=0.12, right=0.7, top=0.9, bottom=0.16)
    ax = fig.add_subplot()
    for index, (label, xs, ys) in enumerate(series):
        values = [float("nan") if y is None else y for y in ys]
        ax.plot(list(xs), values, color=PALETTE[index % len(PALETTE)], linewidth=1.4, label=label)
    ax.set_title(title, y=TITLE_Y)
    ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.grid(True, alpha=0.3)
    if series:
        ax.legend(fontsize="small", frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def wait_figure(epochs: Sequence[int], waiting: Sequence[float], computing: Sequence[float]) -> Any:
    """Per epoch, the share of step time spent waiting for data (stacked on computing)."""
    require_matplotlib()
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=CHART_SIZE, dpi=100)
    fig.subplots_adjust(left=0.12, right=0.7, top=0.9, bottom=0.16)
    ax = fig.add_subplot()
    ax.bar(list(epochs), list(computing), color=PALETTE[0], label="computing")
    ax.bar(list(epochs), list(waiting), bottom=list(computing), color=PALETTE[1], label="waiting")
    ax.set_title("step time: waiting for data vs computing", y=TITLE_Y)
    ax.set_xlabel("epoch")
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize="small", frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


_SVG_START = re.compile(r"<svg\b")
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)


def figure_svg(fig: Any) -> str:
    """The figure as an ``<svg>`` element to put inline in HTML: no XML prolog or
    doctype, and no metadata block (it names external vocabularies by URL)."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    match = _SVG_START.search(text)
    text = text[match.start() :] if match else text
    return _METADATA.sub("", text).strip()


def figure_png(fig: Any, dpi: int = 100) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()


IMAGE_SCALE = 4
"""Each pixel of a wrong prediction drawn as a 4×4 block: a 28×28 digit becomes 112×112."""


def image_png(pixels: np.ndarray[Any, Any]) -> bytes:
    """An image (``(h, w)`` grey or ``(h, w, 3)`` colour, floats in [0, 1]) as PNG bytes,
    each pixel enlarged to a block so small images stay sharp in any viewer.

    Written directly (8-bit grey or RGB, zlib through the standard library) rather than
    through matplotlib's ``imsave``, which costs a millisecond or two an image in
    colour-mapping and Pillow: a report of 4 runs has 32 of them.
    """
    a = np.clip(np.asarray(pixels, dtype=np.float64), 0.0, 1.0)
    a = np.repeat(np.repeat(a, IMAGE_SCALE, axis=0), IMAGE_SCALE, axis=1)
    levels = np.round(a * 255).astype(np.uint8)
    if levels.ndim == 3 and levels.shape[2] == 1:
        levels = levels[:, :, 0]
    colour = 2 if levels.ndim == 3 else 0  # PNG colour types: RGB, greyscale
    height, width = levels.shape[:2]
    rows = levels.reshape(height, -1)
    # Each row starts with its filter type (0: none).
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1).tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )
