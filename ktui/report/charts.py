"""The report's pictures, drawn with matplotlib: curves as SVG or PNG, images as PNG.

matplotlib is an optional dependency (``ktui[report]``); :func:`require_matplotlib`
turns its absence into a message saying how to install it. Figures are made with
:class:`matplotlib.figure.Figure` directly, never through pyplot, so no global figure
state is touched and drawing from a worker thread is safe.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ktui.core.errors import KtuiError

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
"""One colour per run (matplotlib's tab10, reordered so two runs are blue and red)."""

CHART_SIZE = (5.6, 3.0)
"""Inches; at 100 dpi a 560×300 chart, two to a row in the report's 72rem column."""


def require_matplotlib() -> Any:
    """Import matplotlib (for its side effect of being usable) or say how to get it."""
    try:
        import matplotlib
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
    ax.set_title(metric)
    ax.set_xlabel("epoch")
    ax.grid(True, alpha=0.3)
    # Epochs are whole numbers: no tick at 1.5.
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if curves:
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
    each pixel enlarged to a block so small images stay sharp in any viewer."""
    require_matplotlib()
    from matplotlib.image import imsave

    a = np.clip(np.asarray(pixels, dtype=np.float64), 0.0, 1.0)
    a = np.repeat(np.repeat(a, IMAGE_SCALE, axis=0), IMAGE_SCALE, axis=1)
    buffer = io.BytesIO()
    if a.ndim == 2:
        imsave(buffer, a, cmap="gray", vmin=0.0, vmax=1.0, format="png")
    else:
        imsave(buffer, a, format="png")
    return buffer.getvalue()
