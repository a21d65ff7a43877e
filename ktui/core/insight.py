"""What a trained classifier got right and wrong, and what the data looks like.

Plain Python and numpy (no TensorFlow, no Textual): the training engine builds an
:class:`Evaluation` from the test set's predictions and saves it as
``predictions.npz`` in the run's folder; the dashboard and ``ktui runs show
--confusion`` read it back without loading the model or the data again.

Conventions:

* Labels may be integers (shape ``(n,)`` or ``(n, 1)``) or one-hot (``(n, k)``);
  :func:`labels_from` turns either into integers.
* Predictions are a softmax (``(n, k)``, the class is the argmax) or a sigmoid
  (``(n, 1)`` or ``(n,)``, class 1 when the output is at least 0.5).
* In a confusion matrix, row ``i`` is the true class and column ``j`` the
  predicted class: ``matrix[i, j]`` test samples of class ``i`` were predicted ``j``.
* Precision or recall that would divide by zero (a class never predicted, or
  absent from the test set) is NaN, shown as "—"; nothing raises.
"""

from __future__ import annotations

import math
import re
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from ktui.core.errors import KtuiError
from ktui.core.events import EvaluationReady, LayerInfo

Array: TypeAlias = npt.NDArray[Any]
IntArray: TypeAlias = npt.NDArray[np.int64]
FloatArray: TypeAlias = npt.NDArray[np.float64]

__all__ = [
    "FASHION_MNIST_CLASSES",
    "MAX_SAVED_IMAGES",
    "PREDICTIONS_FILE",
    "ArrayStats",
    "ArraysSummary",
    "DataPreview",
    "Evaluation",
    "ImageView",
    "Mistakes",
    "class_names",
    "classification_problem",
    "confusion_matrix",
    "describe_arrays",
    "evaluate",
    "explain_layer",
    "explain_shape",
    "image_view",
    "label_counts",
    "labels_from",
    "load_evaluation",
    "parse_shape",
    "preview_dataset",
    "precision_recall",
    "predictions_from",
    "preview_indices",
]

PREDICTIONS_FILE = "predictions.npz"
"""The file name of a saved :class:`Evaluation` inside a run's folder."""

MAX_SAVED_IMAGES = 200
"""At most this many misclassified test images are kept with an evaluation: enough
to browse, small enough (about 600 kB for 28×28 float32) to save with every run."""

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

_FORMAT_VERSION = 1


# --------------------------------------------------------------------------- labels
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


# --------------------------------------------------------------------------- confusion
def confusion_matrix(y_true: Array, y_pred: Array, classes: int) -> IntArray:
    """``classes × classes`` counts: row = true class, column = predicted class.

    Both inputs are integer labels (see :func:`labels_from`); a label outside
    ``0..classes-1`` raises ``ValueError``.
    """
    t = labels_from(y_true)
    p = labels_from(y_pred)
    if t.shape != p.shape:
        raise ValueError(f"{len(t)} true labels but {len(p)} predictions")
    for name, labels in (("true", t), ("predicted", p)):
        if labels.size and (labels.min() < 0 or labels.max() >= classes):
            raise ValueError(
                f"{name} labels go from {labels.min()} to {labels.max()}, outside 0..{classes - 1}"
            )
    # One pass over the samples: each (true, predicted) pair is a cell index.
    counts = np.bincount(t * classes + p, minlength=classes * classes)
    return counts.reshape(classes, classes).astype(np.int64)


def precision_recall(matrix: Array) -> tuple[FloatArray, FloatArray]:
    """Per-class precision (correct / predicted as it) and recall (correct / truly it).

    Where the denominator is 0 the value is NaN (undefined), never an error.
    """
    m = np.asarray(matrix, dtype=np.float64)
    correct = np.diag(m)
    predicted = m.sum(axis=0)
    actual = m.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, correct / np.where(predicted > 0, predicted, 1), np.nan)
        recall = np.where(actual > 0, correct / np.where(actual > 0, actual, 1), np.nan)
    return precision, recall


@dataclass(frozen=True, eq=False)
class Mistakes:
    """The misclassified test samples, most confident first.

    ``index`` is the position in the test set; ``probability`` what the model gave
    its (wrong) prediction. ``images`` holds the test inputs of the first
    ``len(images)`` mistakes (as the model saw them, after the preset's transforms),
    or is None when they were not kept.
    """

    index: IntArray
    true: IntArray
    predicted: IntArray
    probability: FloatArray
    images: Array | None = None

    def __len__(self) -> int:
        return len(self.index)

    def image(self, position: int) -> Array | None:
        """The input of mistake ``position``, or None when it was not kept."""
        if self.images is None or position >= len(self.images):
            return None
        return np.asarray(self.images[position])


def _empty_mistakes() -> Mistakes:
    return Mistakes(
        np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    )


@dataclass(frozen=True, eq=False)
class Evaluation:
    """A classifier's test-set results: the confusion matrix and its mistakes."""

    labels: tuple[str, ...]
    """Class names, index = class."""
    matrix: IntArray
    """Row = true class, column = predicted class (see :func:`confusion_matrix`)."""
    mistakes: Mistakes = field(default_factory=_empty_mistakes)
    binary: bool = False
    """A single sigmoid output (threshold 0.5) rather than a softmax."""
    data: str = ""
    """Where the test set came from, for titles."""
    images_total: int = 0
    """How many mistakes there were in all; ``mistakes`` may hold fewer images."""

    @property
    def classes(self) -> int:
        """Number of classes."""
        return len(self.labels)

    @property
    def samples(self) -> int:
        """Test samples counted in the matrix."""
        return int(self.matrix.sum())

    @property
    def correct(self) -> int:
        """Test samples predicted right (the diagonal)."""
        return int(np.trace(self.matrix))

    @property
    def accuracy(self) -> float:
        """Correct / samples (NaN with no samples)."""
        return self.correct / self.samples if self.samples else math.nan

    @property
    def support(self) -> IntArray:
        """Test samples of each true class."""
        return np.asarray(self.matrix.sum(axis=1), dtype=np.int64)

    @property
    def precision(self) -> FloatArray:
        """Per-class precision (NaN for a class never predicted)."""
        return precision_recall(self.matrix)[0]

    @property
    def recall(self) -> FloatArray:
        """Per-class recall (NaN for a class absent from the test set)."""
        return precision_recall(self.matrix)[1]

    def top_confusions(self, count: int = 3) -> list[tuple[int, int, int]]:
        """The most frequent mistakes as ``(true, predicted, samples)``, largest first."""
        off = self.matrix.copy()
        np.fill_diagonal(off, 0)
        order = np.argsort(-off, axis=None, kind="stable")[:count]
        pairs = [(int(i), int(j)) for i, j in zip(*np.unravel_index(order, off.shape), strict=True)]
        return [(i, j, int(off[i, j])) for i, j in pairs if off[i, j] > 0]

    def to_event(self, path: Path | None, seconds: float = 0.0, note: str = "") -> EvaluationReady:
        """The plain-data event that tells listeners this evaluation exists."""
        return EvaluationReady(
            labels=self.labels,
            matrix=tuple(tuple(int(c) for c in row) for row in self.matrix),
            accuracy=float(self.accuracy),
            binary=self.binary,
            misclassified=self.samples - self.correct,
            path=None if path is None else str(path),
            seconds=seconds,
            note=note,
        )

    @classmethod
    def from_event(cls, event: EvaluationReady) -> Evaluation:
        """The matrix of an event, without mistakes (those are in the saved file)."""
        return cls(
            labels=tuple(event.labels),
            matrix=np.asarray(event.matrix, dtype=np.int64).reshape(
                len(event.labels), len(event.labels)
            ),
            binary=event.binary,
        )

    def save(self, path: Path) -> None:
        """Write to ``path`` (a ``.npz``; plain arrays only, so loading runs no code)."""
        arrays: dict[str, Any] = {  # Any: numpy types the kwargs as allow_pickle
            "version": np.array(_FORMAT_VERSION),
            "labels": np.array(self.labels, dtype=str),
            "matrix": self.matrix.astype(np.int64),
            "binary": np.array(self.binary),
            "data": np.array(self.data),
            "images_total": np.array(self.images_total),
            "mistake_index": self.mistakes.index,
            "mistake_true": self.mistakes.true,
            "mistake_predicted": self.mistakes.predicted,
            "mistake_probability": self.mistakes.probability,
        }
        if self.mistakes.images is not None:
            arrays["mistake_images"] = self.mistakes.images
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written beside and renamed, so a reader never sees half a file.
        partial = path.with_name(path.name + ".partial")
        try:
            with partial.open("wb") as f:
                np.savez_compressed(f, **arrays)
            partial.replace(path)
        except OSError:
            partial.unlink(missing_ok=True)  # a full disk must not leave half a file
            raise


def evaluate(
    y_true: Array,
    probabilities: Array,
    *,
    labels: Sequence[str] | None = None,
    x: Array | None = None,
    keep_images: int = MAX_SAVED_IMAGES,
    data: str = "",
) -> Evaluation:
    """Compare predictions with the true labels.

    ``probabilities`` is the model's output for the test set (softmax or sigmoid);
    ``x`` the test inputs, of which the ``keep_images`` most confident mistakes are
    kept for browsing. ``labels`` names the classes (default: their numbers).
    """
    true = labels_from(y_true)
    predicted, confidence = predictions_from(probabilities)
    p = np.asarray(probabilities)
    binary = not (p.ndim == 2 and p.shape[1] > 1)
    classes = 2 if binary else int(p.shape[1])
    if labels is None:
        labels = tuple(str(i) for i in range(classes))
    if len(labels) != classes:
        raise ValueError(f"{len(labels)} class names for {classes} classes")
    matrix = confusion_matrix(true, predicted, classes)
    wrong = np.flatnonzero(true != predicted)
    # Most confident mistakes first; the stable sort keeps test order among ties.
    order = wrong[np.argsort(-confidence[wrong], kind="stable")]
    images = None
    if x is not None and keep_images > 0:
        kept = np.asarray(x)[order[:keep_images]]
        # float64 inputs would double the file for no visible difference.
        images = kept.astype(np.float32) if kept.dtype == np.float64 else kept
    mistakes = Mistakes(
        index=order.astype(np.int64),
        true=true[order],
        predicted=predicted[order],
        probability=confidence[order].astype(np.float64),
        images=images,
    )
    return Evaluation(
        labels=tuple(labels),
        matrix=matrix,
        mistakes=mistakes,
        binary=binary,
        data=data,
        images_total=len(order),
    )


def load_evaluation(path: Path) -> Evaluation:
    """Read a saved :class:`Evaluation`; a missing or damaged file is a :class:`KtuiError`."""
    if not path.is_file():
        raise KtuiError(
            f"no saved predictions at {path}",
            hint="Predictions are saved after a classification run that reached its test "
            "evaluation and was recorded in the run store.",
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            files = set(npz.files)
            needed = {"labels", "matrix", "mistake_index", "mistake_true", "mistake_predicted"}
            if not needed <= files:
                raise KtuiError(
                    f"{path} is not a ktui predictions file (missing "
                    f"{', '.join(sorted(needed - files))})"
                )
            labels = tuple(str(s) for s in npz["labels"].tolist())
            matrix = np.asarray(npz["matrix"], dtype=np.int64)
            if matrix.shape != (len(labels), len(labels)):
                raise KtuiError(
                    f"{path}: the matrix has shape {matrix.shape} for {len(labels)} classes"
                )
            mistakes = Mistakes(
                index=np.asarray(npz["mistake_index"], dtype=np.int64),
                true=np.asarray(npz["mistake_true"], dtype=np.int64),
                predicted=np.asarray(npz["mistake_predicted"], dtype=np.int64),
                probability=np.asarray(npz["mistake_probability"], dtype=np.float64),
                images=np.asarray(npz["mistake_images"]) if "mistake_images" in files else None,
            )
            return Evaluation(
                labels=labels,
                matrix=matrix,
                mistakes=mistakes,
                binary=bool(npz["binary"]) if "binary" in files else len(labels) == 2,
                data=str(npz["data"]) if "data" in files else "",
                images_total=int(npz["images_total"]) if "images_total" in files else 0,
            )
    except KtuiError:
        raise
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise KtuiError(
            f"{path} cannot be read ({type(exc).__name__}: {exc})",
            hint="The file is damaged; run the training again to make a new one.",
        ) from exc


# --------------------------------------------------------------------------- images
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


# --------------------------------------------------------------------------- arrays
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
            not_images = f"random numbers, {_dims(shape)} per sample: not images"
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


# --------------------------------------------------------------------------- shapes
_SHAPE = re.compile(r"^\(\s*((?:None|\d+)(?:\s*,\s*(?:None|\d+))*)?\s*,?\s*\)$")


def parse_shape(text: str) -> tuple[int | None, ...] | None:
    """``"(None, 1, 28, 28)"`` → ``(None, 1, 28, 28)``; None when it is not a shape."""
    match = _SHAPE.match(text.strip())
    if match is None:
        return None
    body = match.group(1)
    if not body:
        return ()
    return tuple(None if part.strip() == "None" else int(part) for part in body.split(","))


def _dims(values: Sequence[int | None]) -> str:
    return "×".join("?" if v is None else str(v) for v in values)


ImageOrder = Literal["channels_first", "channels_last"]


def image_order(shape: Sequence[int | None]) -> ImageOrder | None:
    """Guess the channel position of an image batch shape ``(None, a, b, c)``.

    1 or 3 channels at one end and not the other decide it; otherwise None.
    """
    if len(shape) != 4:
        return None
    first, last = shape[1], shape[3]
    if first in (1, 3) and last not in (1, 3):
        return "channels_first"
    if last in (1, 3) and first not in (1, 3):
        return "channels_last"
    return None


def explain_shape(text: str, order: ImageOrder | None = None) -> list[str]:
    """The input shape of a model in words, as the seed explains ``shape (2, 3)``.

    ``order`` says whether images are channels first ('th') or last ('tf'); it is
    guessed from the shape when not given.
    """
    shape = parse_shape(text)
    if shape is None:
        return [f"{text}: the shape of each batch of inputs."]
    lines: list[str] = []
    rest: Sequence[int | None] = shape
    prefix = ""
    if shape and shape[0] is None:
        prefix = "None = any number of samples (the batch size is chosen when training); "
        rest = shape[1:]
    if len(rest) == 1:
        lines.append(f"{text}: {prefix}each sample is a vector of {rest[0]} numbers.")
    elif len(rest) == 2:
        lines.append(
            f"{text}: {prefix}each sample is a {_dims(rest)} grid: "
            f"{rest[0]} rows of {rest[1]} numbers."
        )
    elif len(rest) == 3:
        order = order or image_order(shape)
        if order == "channels_first":
            channels, rows, cols = rest
            lines.append(
                f"{text}: {prefix}{_channels(channels)}; {rows} rows; {cols} columns — "
                "channels first ('th' ordering: [samples][channels][rows][cols])."
            )
            lines.append(
                "TensorFlow's default is channels last ('tf' ordering: "
                "[samples][rows][cols][channels]), so layers that look at images are given "
                "data_format='channels_first'."
            )
        elif order == "channels_last":
            rows, cols, channels = rest
            lines.append(
                f"{text}: {prefix}{rows} rows; {cols} columns; {_channels(channels)} — "
                "channels last ('tf' ordering: [samples][rows][cols][channels]), "
                "TensorFlow's default."
            )
            lines.append(
                "The seed's 'th' ordering puts the channels first: [samples][channels][rows][cols]."
            )
        else:
            lines.append(f"{text}: {prefix}each sample has {_dims(rest)} numbers.")
    elif rest:
        lines.append(f"{text}: {prefix}each sample has {_dims(rest)} numbers.")
    else:
        lines.append(f"{text}: {prefix}each sample is a single number.")
    lines.append(
        "A shape lists how many elements each dimension has: shape (2, 3) means the first "
        "dimension has 2 elements and the second has 3."
    )
    return lines


def _channels(count: int | None) -> str:
    if count == 1:
        return "1 channel (grey levels)"
    if count == 3:
        return "3 channels (red, green, blue)"
    return f"{count} channels"


def explain_layer(layer: LayerInfo, previous: str | None, order: ImageOrder | None = None) -> str:
    """A few words on a layer's output and where its parameters come from.

    ``previous`` is the shape coming into the layer (the model's input for the first).
    The parameter arithmetic is only shown when it checks out against the count.
    """
    out = parse_shape(layer.output_shape) or ()
    before = parse_shape(previous) if previous else None
    per_sample = out[1:] if out and out[0] is None else out
    words = ""
    if len(per_sample) == 1:
        words = f"{per_sample[0]} numbers per sample"
    elif len(per_sample) == 3:
        # 32 maps of 24×24 cannot tell their order; the input that made them can.
        order = order or image_order(out) or image_order(before or ())
        if order == "channels_first":
            words = f"{per_sample[0]} maps of {_dims(per_sample[1:])}"
        elif order == "channels_last":
            words = f"{per_sample[2]} maps of {_dims(per_sample[:2])}"
    how = "no weights" if layer.params == 0 else _params_formula(layer, before, out, order)
    return " · ".join(part for part in (words, how or "") if part)


def _params_formula(
    layer: LayerInfo,
    before: tuple[int | None, ...] | None,
    out: tuple[int | None, ...],
    order: ImageOrder | None,
) -> str | None:
    if not before or not out:
        return None
    if layer.kind == "Dense" and isinstance(before[-1], int) and isinstance(out[-1], int):
        inputs, units = before[-1], out[-1]
        if inputs * units + units == layer.params:
            return f"{inputs}×{units} weights + {units} biases"
    if layer.kind == "Conv2D" and len(before) == 4 and len(out) == 4:
        order = order or image_order(before)
        channel_axis = 1 if order == "channels_first" else 3
        channels, filters = before[channel_axis], out[channel_axis]
        if isinstance(channels, int) and isinstance(filters, int) and channels and filters:
            window = (layer.params - filters) / (filters * channels)
            side = math.isqrt(int(window)) if window >= 1 else 0
            if side * side == window:
                return f"{filters} filters × {channels}×{side}×{side} weights + {filters} biases"
    return None
