"""What a trained classifier got right and wrong on the test set: the confusion matrix,
precision and recall, the wrong predictions, and the evaluation saved with a run
(``predictions.npz``).

Plain Python and numpy: no TensorFlow, no Textual.
"""

from __future__ import annotations

import math
import os
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ktui.core.errors import KtuiError
from ktui.core.events import EvaluationReady
from ktui.core.files import PRIVATE_FILE
from ktui.core.insight.labels import (
    Array,
    FloatArray,
    IntArray,
    labels_from,
    predictions_from,
)

PREDICTIONS_FILE = "predictions.npz"
"""The file name of a saved :class:`Evaluation` inside a run's folder."""

MAX_SAVED_IMAGES = 200
"""At most this many misclassified test images are kept with an evaluation: enough
to browse, small enough (about 600 kB for 28×28 float32) to save with every run."""

_FORMAT_VERSION = 1


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
        # Written beside and renamed, so a reader never sees half a file; owner-only
        # (the mistakes hold the person's own images), whatever the umask.
        partial = path.with_name(path.name + ".partial")
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
            with os.fdopen(fd, "wb") as f:
                np.savez_compressed(f, **arrays)
            os.chmod(partial, PRIVATE_FILE)
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
