"""A sample as a picture: scaled to 0..1 and laid out in rows, or not an image at all.

Plain Python and numpy: no TensorFlow, no Textual.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ktui.core.insight.labels import (
    Array,
    FloatArray,
    IntArray,
)


@dataclass(frozen=True, eq=False)
class ImageView:
    """One sample as a picture: ``pixels`` is ``(h, w)`` grey or ``(h, w, 3)`` colour,
    floats in [0, 1]; ``note`` says how the sample was read (``""`` when plainly)."""

    pixels: FloatArray
    note: str = ""


MIN_VECTOR_SIDE = 8
"""A flat vector is drawn as a square only from 8×8 = 64 values on: fewer would be a
feature vector, not an image."""


def _unit(values: Array) -> tuple[FloatArray, str]:
    """Values in [0, 1]: integers and floats up to 255 are divided by 255, floats already
    in [0, 1] kept, anything else stretched from its min to its max (and said so)."""
    a = np.asarray(values)
    f = a.astype(np.float64)
    finite = f[np.isfinite(f)]
    if f.size == 0 or finite.size == 0:
        return np.zeros_like(f), ""
    low, high = float(finite.min()), float(finite.max())
    f = np.nan_to_num(f, nan=low, posinf=high, neginf=low)
    if a.dtype.kind in "biu" or (low >= 0 and high > 1 and high <= 255):
        return np.clip(f / 255.0, 0.0, 1.0), ""
    if low >= 0 and high <= 1:
        return f, ""
    span = high - low
    return (f - low) / span if span else np.zeros_like(f), f"values {low:.3g}…{high:.3g} stretched"


def image_view(sample: Array) -> ImageView | None:
    """Read one input sample as an image, or None when it is not one.

    Accepted: ``(h, w)``; one or three channels first ``(1|3, h, w)`` or last
    ``(h, w, 1|3)``; a flat vector whose length is a perfect square of at least 64
    (``784`` → 28×28, said in the note).
    """
    a = np.asarray(sample)
    note = ""
    if a.ndim == 1:
        side = math.isqrt(a.shape[0])
        if side < MIN_VECTOR_SIDE or side * side != a.shape[0]:
            return None
        a = a.reshape(side, side)
        note = f"a vector of {side * side} values, drawn as {side}×{side}"
    elif a.ndim == 3:
        if a.shape[0] in (1, 3) and a.shape[2] not in (1, 3):
            a = np.moveaxis(a, 0, -1)
            note = "channels first"
        elif a.shape[2] not in (1, 3):
            return None
        if a.shape[2] == 1:
            a = a[:, :, 0]
    elif a.ndim != 2:
        return None
    if min(a.shape[:2]) < 1:
        return None
    pixels, stretched = _unit(a)
    return ImageView(pixels, "; ".join(n for n in (note, stretched) if n))


def preview_indices(labels: IntArray | None, count: int, limit: int = 12) -> list[int]:
    """Which samples a data preview shows: the first of each class, in class order
    (up to ``limit``), or simply the first ones when there are no labels."""
    if labels is None or labels.size == 0:
        return list(range(min(count, limit)))
    chosen: list[int] = []
    for cls in np.unique(labels)[:limit]:
        chosen.append(int(np.flatnonzero(labels == cls)[0]))
    return chosen
