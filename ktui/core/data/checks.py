"""Checks that a data set can be trained on: numbers, matching lengths, finite values,
labels that fit the model's classes.

All checks are vectorised and make no full copies of large arrays: finiteness is
decided from ``min``/``max`` (NaN propagates through both, ±inf shows in them), and
only when that fails is the first bad element looked for, chunk by chunk.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from ktui.core.data.dataset import ARRAY_KEYS, Array, Dataset
from ktui.core.errors import DataError

__all__ = [
    "check_splits",
    "check_targets",
    "check_validation_split",
    "first_nonfinite",
    "label_problem",
    "labels_hint",
    "labels_of",
]


def check_splits(arrays: Mapping[str, Array], where: str, what_to_do: str) -> None:
    """Check the four arrays are numeric, x/y agree in length with >= 1 sample, and
    hold no NaN or infinity (named by array, sample and position)."""
    for key in ARRAY_KEYS:
        a = arrays[key]
        if a.ndim == 0:
            raise DataError(
                f"{where}: {key} is a single number, not an array of samples", hint=what_to_do
            )
        if a.dtype.kind not in "biuf":
            raise DataError(
                f"{where}: {key} has dtype {a.dtype}; expected numbers", hint=what_to_do
            )
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if len(x) != len(y):
            raise DataError(
                f"{where}: x_{split} has {len(x)} samples (shape {tuple(x.shape)}) but "
                f"y_{split} has {len(y)} (shape {tuple(y.shape)})",
                hint=what_to_do,
            )
        if len(x) == 0:
            raise DataError(f"{where}: x_{split} and y_{split} hold no samples", hint=what_to_do)
    for key in ARRAY_KEYS:
        found = first_nonfinite(arrays[key])
        if found is not None:
            index, value = found
            raise DataError(
                f"{where}: {key} has {value} in sample {index[0]} (at {key}{list(index)})",
                hint="NaN or infinity cannot be trained on: fix or drop these samples "
                "(e.g. x[np.isfinite(x).all(axis=...)]) and save the file again.",
            )


#: Elements examined at once when looking for the first non-finite value: bounds the
#: temporary boolean array to a few MB whatever the size of the data.
_CHUNK = 1 << 22


def first_nonfinite(a: Array) -> tuple[tuple[int, ...], str] | None:
    """The index and text (``"nan"``, ``"inf"``, ``"-inf"``) of ``a``'s first non-finite
    element, or None when every element is finite (always for integer arrays)."""
    if a.dtype.kind != "f" or a.size == 0:
        return None
    # Two reductions without temporaries: NaN propagates through min and max, and an
    # infinity is the min or the max. Only a failing array is scanned further.
    if np.isfinite(np.min(a)) and np.isfinite(np.max(a)):
        return None
    flat = a.reshape(-1)  # a view for the contiguous arrays np.load returns
    for start in range(0, flat.size, _CHUNK):
        bad = np.flatnonzero(~np.isfinite(flat[start : start + _CHUNK]))
        if bad.size:
            at = start + int(bad[0])
            index = tuple(int(i) for i in np.unravel_index(at, a.shape))
            return index, str(float(flat[at]))
    return None  # pragma: no cover - min/max said there is one


def labels_of(y: Array) -> Array | None:
    """``y`` as a vector of integer class labels, or None when it is not one (one-hot
    rows, fractions): ``(n,)`` or ``(n, 1)``, integers or whole floats."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        return None
    if y.dtype.kind == "f":
        if not np.all(y == np.round(y)):
            return None
    elif y.dtype.kind not in "biu":
        return None
    return y.astype(np.int64)


def label_problem(labels: Array, name: str, classes: int) -> str | None:
    """Say which label of ``name`` does not fit ``classes`` classes (0..classes-1)."""
    bad = np.flatnonzero((labels < 0) | (labels >= classes))
    if not bad.size:
        return None
    at = int(bad[0])
    others = f" ({bad.size - 1} more like it)" if bad.size > 1 else ""
    return (
        f"{name} has label {int(labels[at])} at index {at}{others}, but the preset has "
        f"{classes} classes (0–{classes - 1})"
    )


def labels_hint(classes: int) -> str:
    """What to do about labels that do not fit ``classes``."""
    return (
        f"Labels must be whole numbers from 0 to {classes - 1}. Fix the data, or give "
        "the model's last layer as many units as there are classes."
    )


def check_targets(ds: Dataset, *, classes: int | None, loss: str) -> None:
    """Check the (transformed) targets fit a model with ``classes`` outputs.

    ``classes`` is the width of the model's last layer (None: unknown, nothing is
    checked); ``loss`` is the compile loss. One-hot targets must have ``classes``
    columns; integer labels for a sparse loss must be 0..classes-1; targets for binary
    cross-entropy with one output must lie in [0, 1]. A :class:`DataError` names the
    data's origin, the array and the offending value.
    """
    if classes is None:
        return
    for name in ("y_train", "y_test"):
        y: Array = getattr(ds, name)
        if y.ndim == 2 and y.shape[1] > 1:
            if y.shape[1] != classes:
                raise DataError(
                    f"{ds.origin}: {name} has {y.shape[1]} columns (one per class) but the "
                    f"model's last layer has {classes} units",
                    hint="Make the last layer's units the number of classes, or fix the "
                    "preset's one_hot num_classes.",
                )
            continue
        labels = labels_of(y)
        if labels is None:
            continue
        if classes == 1 and "binary" in loss:
            bad = np.flatnonzero((y < 0) | (y > 1))
            if bad.size:
                at = int(bad[0])
                raise DataError(
                    f"{ds.origin}: {name} has {y.reshape(len(y), -1)[at].tolist()} at index "
                    f"{at}, but binary cross-entropy with one output expects 0 or 1",
                    hint="Use labels 0 and 1, or one_hot the labels with a last layer of "
                    "one unit per class and categorical_crossentropy.",
                )
        elif classes > 1 and "sparse" in loss:
            problem = label_problem(labels, name, classes)
            if problem is not None:
                raise DataError(f"{ds.origin}: {problem}", hint=labels_hint(classes))


def check_validation_split(ds: Dataset, fraction: float) -> None:
    """Refuse a ``fit.validation`` fraction that leaves no training or no validation
    sample (Keras keeps the first ``floor(n × (1 - fraction))`` samples for training)."""
    n = ds.train_samples
    kept = math.floor(n * (1.0 - fraction))
    if 0 < kept < n:
        return
    samples = "sample" if n == 1 else "samples"
    raise DataError(
        f"{ds.origin}: x_train has {n} {samples}, too few to keep {fraction:g} of them "
        f"for validation and train on the rest (fit.validation = {fraction:g})",
        hint='Use more training samples, another fraction, or validation = "test" or "none".',
    )
