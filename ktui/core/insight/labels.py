"""Labels and predictions as class numbers, and the classes' names.

Plain Python and numpy: no TensorFlow, no Textual.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

Array: TypeAlias = npt.NDArray[Any]
IntArray: TypeAlias = npt.NDArray[np.int64]
FloatArray: TypeAlias = npt.NDArray[np.float64]

FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
"""Fashion-MNIST's labels 0..9, as its authors name them."""


def class_names(source_kind: str | None, count: int) -> tuple[str, ...]:
    """Names of the classes 0..count-1: Fashion-MNIST's names, else the digits/numbers."""
    if source_kind == "fashion_mnist" and count == len(FASHION_MNIST_CLASSES):
        return FASHION_MNIST_CLASSES
    return tuple(str(i) for i in range(count))


def labels_from(y: Array) -> IntArray:
    """Integer class labels of shape ``(n,)`` from integer, ``(n, 1)`` or one-hot labels.

    Float labels are rounded (binary labels are often stored as 0.0/1.0). Raises
    ``ValueError`` for anything else (NaN, more dimensions).
    """
    a = np.asarray(y)
    if a.ndim == 2 and a.shape[1] > 1:
        return np.asarray(np.argmax(a, axis=1), dtype=np.int64)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise ValueError(f"labels of shape {a.shape} are neither integers nor one-hot")
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)):
            raise ValueError("labels hold NaN or infinite values")
        a = np.rint(a)
    elif a.dtype.kind not in "biu":
        raise ValueError(f"labels of dtype {a.dtype} are not numbers")
    return a.astype(np.int64)


def label_counts(y: Array, classes: int | None = None) -> IntArray:
    """How many samples each class 0..classes-1 has (``classes`` defaults to max + 1)."""
    labels = labels_from(y)
    if labels.size and labels.min() < 0:
        raise ValueError(f"labels hold the negative label {labels.min()}")
    if classes is None:
        a = np.asarray(y)
        classes = a.shape[1] if a.ndim == 2 and a.shape[1] > 1 else int(labels.max(initial=-1)) + 1
    return np.bincount(labels, minlength=classes)[:classes].astype(np.int64)


def predictions_from(probabilities: Array) -> tuple[IntArray, FloatArray]:
    """The predicted class of each sample and the probability the model gave it.

    Softmax ``(n, k)`` with k > 1: the argmax and its probability. Sigmoid ``(n, 1)``
    or ``(n,)``: class 1 when p ≥ 0.5 (probability p), else class 0 (probability 1 - p).
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim == 2 and p.shape[1] > 1:
        predicted = np.argmax(p, axis=1)
        return predicted.astype(np.int64), p[np.arange(len(p)), predicted]
    if p.ndim == 2 and p.shape[1] == 1:
        p = p[:, 0]
    if p.ndim != 1:
        raise ValueError(f"predictions of shape {p.shape} are neither softmax nor sigmoid")
    predicted = (p >= 0.5).astype(np.int64)
    return predicted, np.where(predicted == 1, p, 1.0 - p)


def classification_problem(*, output_units: int, activation: str, has_accuracy: bool) -> str | None:
    """Why a model's test predictions cannot make a confusion matrix, or None if they can.

    A confusion matrix needs a classifier: an accuracy metric, and an output that is
    a softmax over several classes or a single sigmoid (binary).
    """
    if not has_accuracy:
        return "the preset has no accuracy metric, so it is not treated as a classifier"
    if activation == "softmax" and output_units > 1:
        return None
    if activation == "sigmoid" and output_units == 1:
        return None
    return (
        f"the last layer has {output_units} output(s) with activation {activation or 'none'!r}; "
        "a confusion matrix needs a softmax over the classes or a single sigmoid"
    )
