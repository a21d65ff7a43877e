"""What the data looks like: each array's shape, type and range, label counts, and a
preview of a few samples.

Plain Python and numpy: no TensorFlow, no Textual.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ktui.core.insight.explain import dims_text
from ktui.core.insight.images import image_view, preview_indices
from ktui.core.insight.labels import (
    Array,
    IntArray,
    class_names,
    label_counts,
    labels_from,
)


@dataclass(frozen=True)
class ArrayStats:
    """Shape, type and range of one array."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    low: float
    high: float
    mean: float

    def describe(self) -> str:
        """``x_train (1000, 20) float32, 0.0003…0.9997, mean 0.4998``."""
        if not self.shape or math.prod(self.shape) == 0:
            return f"{self.name} {self.shape} {self.dtype}, empty"
        return (
            f"{self.name} {self.shape} {self.dtype}, "
            f"{_num(self.low)}…{_num(self.high)}, mean {_num(self.mean)}"
        )


def _num(value: float) -> str:
    if math.isfinite(value) and value == int(value) and abs(value) < 1e9:
        return str(int(value))
    text = f"{value:.4g}"
    # 0.99996 must not read as the whole number 1.
    return f"{value:.6g}" if math.isfinite(value) and float(text) == int(float(text)) else text


def _stats(name: str, a: Array) -> ArrayStats:
    arr = np.asarray(a)
    if arr.size == 0:
        return ArrayStats(name, tuple(arr.shape), str(arr.dtype), math.nan, math.nan, math.nan)
    return ArrayStats(
        name,
        tuple(int(d) for d in arr.shape),
        str(arr.dtype),
        float(arr.min()),
        float(arr.max()),
        float(arr.mean(dtype=np.float64)),
    )


@dataclass(frozen=True, eq=False)
class ArraysSummary:
    """The four arrays of a data set and the class balance of its labels."""

    arrays: tuple[ArrayStats, ...]
    train_counts: IntArray | None
    """Training samples per class, or None when ``y`` is not class labels."""
    test_counts: IntArray | None

    def lines(self) -> list[str]:
        """One line per array, for a plain listing."""
        return [stats.describe() for stats in self.arrays]


def _counts(y: Array) -> IntArray | None:
    try:
        return label_counts(y)
    except ValueError:
        return None


def describe_arrays(dataset: Any) -> ArraysSummary:
    """Shapes, dtypes, ranges and class balance of a :class:`~ktui.core.data.Dataset`."""
    arrays = tuple(
        _stats(name, getattr(dataset, name)) for name in ("x_train", "y_train", "x_test", "y_test")
    )
    return ArraysSummary(arrays, _counts(dataset.y_train), _counts(dataset.y_test))


@dataclass(frozen=True, eq=False)
class DataPreview:
    """What the data preview shows before training: a few samples, the class balance,
    the arrays as read and as the model will see them (after the preset's transforms)."""

    origin: str
    raw: ArraysSummary
    model: ArraysSummary | None
    """After the transforms, or None when they do not fit (``transform_problem`` says why)."""
    transform_problem: str
    labels: tuple[str, ...]
    """Class names, index = class (empty when ``y`` is not class labels)."""
    samples: tuple[tuple[int, int | None, Array], ...]
    """``(index, label, sample)`` of the training samples to draw, or to list as
    numbers when they are not images."""
    image_note: str
    """How the samples are drawn, e.g. "a vector of 784 values, drawn as 28×28"."""
    not_images: str
    """Why the samples are not drawn ("" when they are)."""


def preview_dataset(
    raw: Any, model: Any | None, *, kind: str | None, transform_problem: str = "", limit: int = 12
) -> DataPreview:
    """Build a :class:`DataPreview` from the raw :class:`~ktui.core.data.Dataset` and the
    transformed one. Random data (the dummy preset) is never drawn as pictures."""
    raw_summary = describe_arrays(raw)
    counts = raw_summary.train_counts
    labels = class_names(kind, len(counts)) if counts is not None else ()
    try:
        y = labels_from(raw.y_train)
    except ValueError:
        y = None
    # Samples are copied (np.array): a view would keep the whole data set in memory.
    samples: list[tuple[int, int | None, Array]] = []
    note = not_images = ""
    first = np.asarray(raw.x_train[0]) if len(raw.x_train) else np.zeros(0)
    view = image_view(first) if kind != "random" else None
    if view is None:
        shape = tuple(first.shape)
        if kind == "random":
            not_images = f"random numbers, {dims_text(shape)} per sample: not images"
        else:
            not_images = f"each sample has shape {shape}: not an image"
        # The first few samples as numbers instead.
        for index in range(min(3, len(raw.x_train))):
            label = None if y is None else int(y[index])
            samples.append((index, label, np.array(raw.x_train[index])))
    else:
        note = view.note
        for index in preview_indices(y, len(raw.x_train), limit):
            label = None if y is None else int(y[index])
            samples.append((index, label, np.array(raw.x_train[index])))
    return DataPreview(
        origin=str(raw.origin),
        raw=raw_summary,
        model=None if model is None else describe_arrays(model),
        transform_problem=transform_problem,
        labels=labels,
        samples=tuple(samples),
        image_note=note,
        not_images=not_images,
    )
