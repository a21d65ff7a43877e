"""What Keras knows about a running ``model.fit``'s inputs: batch size, samples, a description.

``ktui.Dashboard`` is a callback: Keras tells it the epochs and steps
(``self.params``), nothing about the data. The rest is read, best effort, from
``fit``'s own frame (its arguments and its epoch iterator's data adapter) and from
the data itself — arrays, a ``tf.data.Dataset``, a ``keras.utils.PyDataset`` or a
generator. What cannot be told is ``None`` ("unknown"), never a made-up 0.

Nothing here raises: every helper answers ``None`` (or a shorter description) when
the data is of a kind it does not know, so watching a ``fit`` never breaks it.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: How far up the stack :func:`fit_arguments` looks for ``Model.fit``.
_FIT_FRAMES = 16

#: How many stages of a ``tf.data`` pipeline are walked to find its batching stage.
_PIPELINE_DEPTH = 64

#: Pipeline stages after which the batching stage's size no longer tells the batches
#: that come out (they split, merge or regroup elements).
_REGROUPING = ("Unbatch", "Rebatch", "Window", "FlatMap", "Interleave", "Zip", "Concatenate")


@dataclass(frozen=True)
class FitInputs:
    """What a ``fit`` is given, as far as it can be told (``None``: unknown)."""

    batch_size: int | None
    """Samples per batch (the first batch's, for a dataset or generator)."""
    train_samples: int | None
    """Training samples per epoch."""
    validation_samples: int | None
    """Validation samples (0 without validation)."""
    data: str
    """A few words on the training data: shapes and dtypes, and what kind it is."""


def fit_arguments(model: Any, *, depth: int = 1) -> dict[str, Any]:
    """The local variables of the ``Model.fit`` call running ``model``, or ``{}``.

    Keras tells callbacks only the epochs and steps; the batch size, the data and the
    validation settings are ``fit``'s arguments. ``depth`` frames above this one are
    skipped first (the caller's own). Any other backend or version just gives less.
    """
    try:
        frame = sys._getframe(depth)
    except ValueError:
        return {}
    for _ in range(_FIT_FRAMES):
        frame = frame.f_back  # type: ignore[assignment]
        if frame is None:
            break
        if frame.f_code.co_name == "fit" and frame.f_locals.get("self") is model:
            return dict(frame.f_locals)
    return {}


def describe_fit(fit: Mapping[str, Any], params: Mapping[str, Any] | None = None) -> FitInputs:
    """Batch size, samples and a description of the data of the ``fit`` whose
    arguments are ``fit`` (see :func:`fit_arguments`) and whose callback params are
    ``params``; never raises."""
    params = params or {}
    x = fit.get("x")
    try:
        batch_size = _batch_size(fit, x)
    except Exception:  # noqa: BLE001 - best effort
        batch_size = None
    try:
        samples = data_samples(x, steps=_positive(params.get("steps")))
    except Exception:  # noqa: BLE001
        samples = None
    try:
        validation = _validation_samples(fit)
    except Exception:  # noqa: BLE001
        validation = None
    try:
        data = describe_data(x, batch=_first_batch(fit, x))
    except Exception:  # noqa: BLE001
        data = type(x).__name__ if x is not None else ""
    return FitInputs(batch_size, samples, validation, data)


def sample_count(array: Any) -> int | None:
    """The length of an array (or the first of a list, tuple or dict of arrays)."""
    if isinstance(array, list | tuple) and array:
        return sample_count(array[0])
    if isinstance(array, dict) and array:
        return sample_count(next(iter(array.values())))
    shape = getattr(array, "shape", None)
    with contextlib.suppress(Exception):
        if shape is not None and len(shape) > 0 and shape[0] is not None:
            return int(shape[0])
    return None


def data_samples(data: Any, *, steps: int | None = None) -> int | None:
    """Samples in one pass over ``data`` (arrays or a ``tf.data.Dataset``); ``None``
    when it cannot be told without reading it (a generator, a ``PyDataset``).

    For a dataset this is what went into its batching stage, when nothing after that
    stage changes the number of batches and ``fit`` runs over all of them (``steps``).
    """
    dataset = _tf_dataset(data)
    if dataset is None:
        if _is_py_dataset(data) or _is_iterator(data):
            return None
        return sample_count(data)
    stage = _batching_stage(dataset)
    if stage is None:
        return None
    batches = _cardinality(dataset)
    if batches is None or batches != _cardinality(stage) or (steps and steps != batches):
        return None
    return _cardinality(stage._input_dataset)


def describe_data(data: Any, *, batch: Any = None) -> str:
    """``x (180, 8) float32`` for arrays; for a dataset, a ``PyDataset`` or a generator,
    what kind it is and the shapes of its batches (``batch``: one of them, if known)."""
    if data is None:
        return ""
    dataset = _tf_dataset(data)
    if dataset is not None:
        return f"tf.data.Dataset of {_describe_structure(dataset.element_spec)}"
    if _is_py_dataset(data):
        kind = f"PyDataset {type(data).__name__}"
        with contextlib.suppress(Exception):
            kind += f", {len(data):,} batches"
        return kind + (f" of {_describe_structure(batch)}" if batch is not None else "")
    if _is_iterator(data):
        kind = f"generator {type(data).__name__}"
        return kind + (f" of {_describe_structure(batch)}" if batch is not None else "")
    if getattr(data, "shape", None) is not None:
        return _describe_structure((data,))
    if isinstance(data, list | tuple | dict):
        return _describe_structure(data if isinstance(data, dict) else tuple(data), "x")
    return type(data).__name__


# -- batch size ------------------------------------------------------------------------
def _batch_size(fit: Mapping[str, Any], x: Any) -> int | None:
    adapter = _adapter(fit)
    with contextlib.suppress(Exception):
        size = adapter.batch_size if adapter is not None else None
        if isinstance(size, int) and _positive(size):
            return size
    size = _positive(fit.get("batch_size"))
    if size and _tf_dataset(x) is None and not _is_py_dataset(x) and not _is_iterator(x):
        return size  # fit's own batching of arrays (Keras ignores it for datasets)
    dataset = _tf_dataset(x)
    if dataset is not None:
        stage = _batching_stage(dataset)
        if stage is not None:
            return _static_int(stage._batch_size)
        return None
    batch = _first_batch(fit, x)
    return sample_count(batch[0] if isinstance(batch, tuple) and batch else batch)


def _first_batch(fit: Mapping[str, Any], x: Any) -> Any:
    """One batch of a generator or ``PyDataset`` without taking it from the training.

    Keras's generator adapter keeps the batches it peeked at; a ``PyDataset`` is
    indexable, and Keras itself reads its first batch to learn its shapes.
    """
    adapter = _adapter(fit)
    peeked = getattr(adapter, "_first_batches", None)
    if isinstance(peeked, list) and peeked:
        return peeked[0]
    if _is_py_dataset(x):
        with contextlib.suppress(Exception):
            return x[0]
    return None


def _adapter(fit: Mapping[str, Any]) -> Any:
    return getattr(fit.get("epoch_iterator"), "data_adapter", None)


def _validation_samples(fit: Mapping[str, Any]) -> int | None:
    data = fit.get("validation_data")
    if data is None:
        return 0
    if isinstance(data, list | tuple):
        return sample_count(data[0]) if data else 0
    return data_samples(data, steps=_positive(fit.get("validation_steps")))


# -- tf.data -----------------------------------------------------------------------------
def _tf_dataset(data: Any) -> Any:
    # Only a script that already imported TensorFlow can hand fit a tf.data.Dataset.
    tf = sys.modules.get("tensorflow")
    dataset_type = getattr(getattr(tf, "data", None), "Dataset", None)
    if dataset_type is not None and isinstance(data, dataset_type):
        return data
    return None


def _batching_stage(dataset: Any) -> Any:
    """The pipeline's ``batch``/``padded_batch`` stage, when nothing after it regroups.

    ``tf.data`` keeps its stages as ``_input_dataset`` links; a stage that batches has
    a ``_batch_size``. Private attributes, read only to tell a person their batch size.
    """
    node = dataset
    for _ in range(_PIPELINE_DEPTH):
        if hasattr(node, "_batch_size") and hasattr(node, "_input_dataset"):
            return node
        if any(word in type(node).__name__ for word in _REGROUPING):
            return None
        node = getattr(node, "_input_dataset", None)
        if node is None:
            return None
    return None


def _cardinality(dataset: Any) -> int | None:
    with contextlib.suppress(Exception):
        value = int(dataset.cardinality())
        return value if value >= 0 else None  # -1 infinite, -2 unknown
    return None


def _static_int(value: Any) -> int | None:
    tf = sys.modules.get("tensorflow")
    with contextlib.suppress(Exception):
        static = tf.get_static_value(value) if tf is not None else value
        return _positive(int(static))
    return None


# -- kinds of data -----------------------------------------------------------------------
def _is_py_dataset(data: Any) -> bool:
    keras = sys.modules.get("keras")
    py_dataset = getattr(getattr(keras, "utils", None), "PyDataset", None)
    return py_dataset is not None and isinstance(data, py_dataset)


def _is_iterator(data: Any) -> bool:
    return hasattr(data, "__next__") and hasattr(data, "__iter__")


def _positive(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if value > 0 else None


# -- descriptions ------------------------------------------------------------------------
_ROLES = ("x", "y", "sample_weight")


def _describe_structure(item: Any, role: str | None = None) -> str:
    """``x (None, 8) float32, y (None, 3) float32`` for a batch or an element spec."""
    if isinstance(item, dict):
        return ", ".join(f"{key} {_shape_text(value)}" for key, value in item.items())
    if isinstance(item, tuple) and role is None:
        parts = []
        for index, part in enumerate(item[: len(_ROLES)]):
            parts.append(_describe_structure(part, _ROLES[index]))
        return ", ".join(parts)
    if isinstance(item, list | tuple):
        return f"{role} [" + ", ".join(_shape_text(part) for part in item) + "]"
    return f"{role or 'x'} {_shape_text(item)}"


def _shape_text(item: Any) -> str:
    if isinstance(item, dict):
        return "{" + ", ".join(f"{key}: {_shape_text(value)}" for key, value in item.items()) + "}"
    if isinstance(item, list | tuple):
        return "[" + ", ".join(_shape_text(part) for part in item) + "]"
    shape = getattr(item, "shape", None)
    if shape is None:
        return type(item).__name__
    with contextlib.suppress(Exception):
        dims = shape.as_list() if hasattr(shape, "as_list") else list(shape)
        shape = tuple(None if d is None else int(d) for d in dims)
    dtype = getattr(item, "dtype", "")
    name = getattr(dtype, "name", None) or str(dtype)
    return f"{shape} {name}".strip()
