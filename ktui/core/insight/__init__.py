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

The modules, one job each: :mod:`.labels` (labels and predictions as classes),
:mod:`.evaluation` (confusion matrix, precision and recall, wrong predictions, the
saved evaluation), :mod:`.images` (a sample as a picture), :mod:`.datasets` (what
the data looks like) and :mod:`.explain` (shapes and layers in words). Their public
names are here too: ``from ktui.core import insight``, then ``insight.evaluate(...)``.
"""

from __future__ import annotations

from ktui.core.insight.datasets import (
    ArraysSummary,
    ArrayStats,
    DataPreview,
    describe_arrays,
    preview_dataset,
)
from ktui.core.insight.evaluation import (
    MAX_SAVED_IMAGES,
    PREDICTIONS_FILE,
    Evaluation,
    Mistakes,
    confusion_matrix,
    evaluate,
    load_evaluation,
    precision_recall,
)
from ktui.core.insight.explain import (
    ImageOrder,
    explain_layer,
    explain_shape,
    image_order,
    parse_shape,
)
from ktui.core.insight.images import MIN_VECTOR_SIDE, ImageView, image_view, preview_indices
from ktui.core.insight.labels import (
    FASHION_MNIST_CLASSES,
    class_names,
    classification_problem,
    label_counts,
    labels_from,
    predictions_from,
)

__all__ = [
    "ArrayStats",
    "ArraysSummary",
    "DataPreview",
    "Evaluation",
    "FASHION_MNIST_CLASSES",
    "ImageOrder",
    "ImageView",
    "MAX_SAVED_IMAGES",
    "MIN_VECTOR_SIDE",
    "Mistakes",
    "PREDICTIONS_FILE",
    "class_names",
    "classification_problem",
    "confusion_matrix",
    "describe_arrays",
    "evaluate",
    "explain_layer",
    "explain_shape",
    "image_order",
    "image_view",
    "label_counts",
    "labels_from",
    "load_evaluation",
    "parse_shape",
    "precision_recall",
    "predictions_from",
    "preview_dataset",
    "preview_indices",
]
