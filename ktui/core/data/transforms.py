"""Preprocessing steps declared in a preset (reshape, flatten, astype, scale, one_hot).

:func:`parse_transform` checks a step as written; :func:`apply_transforms` runs the
steps on a :class:`~ktui.core.data.dataset.Dataset`; :func:`transformed_shape` says,
without any data, what one sample's shape becomes (for the shape check before a run).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ktui.core.data.checks import label_problem, labels_hint
from ktui.core.data.dataset import Array, Dataset
from ktui.core.errors import DataError

__all__ = [
    "TRANSFORM_OPS",
    "Transform",
    "TransformSpecError",
    "apply_transforms",
    "parse_transform",
    "transformed_shape",
]


class TransformSpecError(ValueError):
    """A transform declared in a preset is malformed.

    ``key`` is the full key path (e.g. ``"data.transforms[1].shape"``) and ``problem``
    says what was expected and what was found. The preset loader wraps this into a
    :class:`~ktui.core.errors.PresetError` that also names the file.
    """

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}")


# op -> (required args, optional args)
_OP_ARGS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "reshape": (frozenset({"shape"}), frozenset()),
    "flatten": (frozenset(), frozenset()),
    "astype": (frozenset({"dtype"}), frozenset()),
    "scale": (frozenset({"divide"}), frozenset()),
    "one_hot": (frozenset(), frozenset({"num_classes"})),
}

#: The preprocessing steps a preset may declare.
TRANSFORM_OPS: frozenset[str] = frozenset(_OP_ARGS)

_ARG_EXAMPLES = {
    "shape": "shape = [28, 28, 1]",
    "dtype": 'dtype = "float32"',
    "divide": "divide = 255",
}


def _is_int(value: object) -> bool:
    # TOML booleans are Python bools, which are ints; a preset saying `true` where a
    # number is expected is a mistake, not the number 1.
    return isinstance(value, int) and not isinstance(value, bool)


def _check_arg(op: str, name: str, value: object, key: str) -> Any:
    """Validate one transform argument and return its normalised form."""
    if name == "shape":
        if not isinstance(value, list | tuple) or not all(
            _is_int(d) and (d >= 1 or d == -1) for d in value
        ):
            raise TransformSpecError(
                key, f"expected a list of positive integers (one may be -1), got {value!r}"
            )
        if list(value).count(-1) > 1:
            raise TransformSpecError(key, f"only one dimension may be -1, got {value!r}")
        return [int(d) for d in value]
    if name == "dtype":
        problem = f"expected a numpy dtype name such as 'float32' or 'uint8', got {value!r}"
        if not isinstance(value, str):
            raise TransformSpecError(key, problem)
        try:
            dtype = np.dtype(value)
        except (TypeError, ValueError):
            raise TransformSpecError(key, problem) from None
        # Only numbers make sense as model input; 'U10' or 'object' would fail later.
        if dtype.kind not in "biuf":
            raise TransformSpecError(key, problem)
        return value
    if name == "divide":
        # bool is excluded explicitly: isinstance(True, int) holds.
        if isinstance(value, bool) or not isinstance(value, int | float):
            ok = False
        else:
            ok = value != 0 and math.isfinite(value)
        if not ok:
            raise TransformSpecError(key, f"expected a nonzero number such as 255, got {value!r}")
        return value
    if name == "num_classes":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise TransformSpecError(key, f"expected a whole number >= 1, got {value!r}")
        return value
    raise AssertionError(f"no validator for {op}.{name}")  # pragma: no cover - table bug


def _check_args(op: str, args: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Validate the arguments of a known ``op``; keys in errors are ``where.<arg>``."""
    required, optional = _OP_ARGS[op]
    allowed = required | optional
    for name in args:
        if name not in allowed:
            takes = f"it takes {', '.join(sorted(allowed))}" if allowed else "it takes none"
            raise TransformSpecError(
                f"{where}.{name}", f"unknown setting for op {op!r} ({takes}), got {args[name]!r}"
            )
    for name in sorted(required):
        if name not in args:
            raise TransformSpecError(
                f"{where}.{name}", f"missing; op {op!r} needs it, e.g. {_ARG_EXAMPLES[name]}"
            )
    return {name: _check_arg(op, name, value, f"{where}.{name}") for name, value in args.items()}


def _format_shape(shape: Sequence[int]) -> str:
    """``[784]`` -> ``"(784,)"``, ``[28, 28, 1]`` -> ``"(28, 28, 1)"`` (Python tuple style)."""
    return str(tuple(shape))


@dataclass(frozen=True)
class Transform:
    """One preprocessing step, declared in a preset (not hidden code).

    ``op`` is one of :data:`TRANSFORM_OPS`; ``args`` its settings (stored as a plain
    dict). Constructing a Transform validates it and raises :class:`TransformSpecError`
    when it is malformed; :func:`parse_transform` does the same with full key paths.
    """

    op: str
    # hash=False: a dict cannot be hashed; equality still compares the args.
    args: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.op not in TRANSFORM_OPS:
            ops = ", ".join(sorted(TRANSFORM_OPS))
            raise TransformSpecError("transform.op", f"expected one of {ops}, got {self.op!r}")
        object.__setattr__(self, "args", _check_args(self.op, self.args, "transform"))

    def describe(self) -> str:
        """Human text such as ``"reshape x to (784,)"`` or ``"one-hot y (10 classes)"``."""
        if self.op == "reshape":
            return f"reshape x to {_format_shape(self.args['shape'])}"
        if self.op == "flatten":
            return "flatten x"
        if self.op == "astype":
            return f"cast x to {self.args['dtype']}"
        if self.op == "scale":
            return f"divide x by {self.args['divide']:g}"
        if "num_classes" in self.args:
            return f"one-hot y ({self.args['num_classes']} classes)"
        return "one-hot y"


def parse_transform(raw: object, where: str) -> Transform:
    """Build a :class:`Transform` from a TOML table like ``{op = "reshape", shape = [784]}``.

    ``where`` is the key path of the table (e.g. ``"data.transforms[1]"``); errors are
    :class:`TransformSpecError` with ``key`` set to the offending key path.
    """
    if not isinstance(raw, Mapping):
        raise TransformSpecError(
            where, f'expected a table like {{op = "reshape", shape = [784]}}, got {raw!r}'
        )
    ops = ", ".join(sorted(TRANSFORM_OPS))
    if "op" not in raw:
        raise TransformSpecError(f"{where}.op", f"missing; expected one of {ops}")
    op = raw["op"]
    if not isinstance(op, str) or op not in TRANSFORM_OPS:
        raise TransformSpecError(f"{where}.op", f"expected one of {ops}, got {op!r}")
    args = _check_args(op, {str(k): v for k, v in raw.items() if k != "op"}, where)
    return Transform(op, args)


class _StepProblem(Exception):
    """Internal: a transform step does not fit the data; the caller adds the step name."""


def _reshape(x: Array, name: str, shape: list[int]) -> Array:
    per_sample = math.prod(x.shape[1:])
    known = math.prod(d for d in shape if d != -1)
    fits = per_sample % known == 0 if -1 in shape else per_sample == known
    if not fits:
        raise _StepProblem(
            f"{name} has shape {tuple(x.shape)}; its {per_sample} values per sample "
            f"cannot become {_format_shape(shape)}"
        )
    return x.reshape((len(x), *shape))


def _scale(x: Array, divide: float) -> Array:
    # Keep float32 for the usual uint8 images: numpy would promote ints to float64,
    # doubling memory for no benefit to the model.
    if x.dtype.kind in "biu" or x.dtype == np.float32:
        return x.astype(np.float32) / np.float32(divide)
    return x / divide


def _labels(y: Array, name: str) -> Array:
    """Integer labels of shape (n,) from ``y`` of shape (n,) or (n, 1)."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise _StepProblem(
            f"{name} has shape {tuple(y.shape)}; one_hot expects labels of shape (n,) or "
            "(n, 1) (is y already one-hot?)"
        )
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise _StepProblem(f"{name} holds non-integer values; one_hot expects class labels")
    elif y.dtype.kind not in "biu":
        raise _StepProblem(f"{name} has dtype {y.dtype}; one_hot expects integer class labels")
    labels = y.astype(np.int64)
    if labels.size and labels.min() < 0:
        raise _StepProblem(f"{name} holds the negative label {labels.min()}")
    return labels


def _one_hot(ds: Dataset, num_classes: int | None, classes: int | None) -> Dataset:
    train = _labels(ds.y_train, "y_train")
    test = _labels(ds.y_test, "y_test")
    # The model decides how many classes there are: inferring it from the largest
    # label makes a small data set (or one without the last class) one-hot into too
    # few columns, which Keras reports as a shape error mid-run.
    width = num_classes if num_classes is not None else classes
    if width is None:
        both = np.concatenate([train, test])
        width = int(both.max()) + 1 if both.size else 1
    for name, labels in (("y_train", train), ("y_test", test)):
        problem = label_problem(labels, name, width)
        if problem is not None:
            raise DataError(f"{ds.origin}: {problem}", hint=labels_hint(width))
    eye = np.eye(width, dtype=np.float32)
    return dataclasses.replace(ds, y_train=eye[train], y_test=eye[test])


def _apply_one(ds: Dataset, t: Transform, classes: int | None) -> Dataset:
    args = t.args
    if t.op == "one_hot":
        return _one_hot(ds, args.get("num_classes"), classes)

    def step(x: Array, name: str) -> Array:
        if t.op in ("reshape", "flatten") and x.ndim == 0:
            raise _StepProblem(f"{name} is a single number, not an array of samples")
        if t.op == "reshape":
            return _reshape(x, name, args["shape"])
        if t.op == "flatten":
            # Explicit size instead of -1: numpy cannot infer -1 for zero-sized arrays.
            return x.reshape(len(x), math.prod(x.shape[1:]))
        if t.op == "astype":
            return x.astype(args["dtype"])
        return _scale(x, args["divide"])

    return dataclasses.replace(
        ds, x_train=step(ds.x_train, "x_train"), x_test=step(ds.x_test, "x_test")
    )


def apply_transforms(
    ds: Dataset, transforms: Sequence[Transform], *, classes: int | None = None
) -> Dataset:
    """Apply preprocessing steps in order to both splits; ``ds`` itself is not changed.

    ``x`` steps (reshape, flatten, astype, scale) apply to ``x_train`` and ``x_test``;
    ``one_hot`` applies to ``y_train`` and ``y_test``. A step that does not fit the
    data raises :class:`DataError` naming the step (``data.transforms[i]``, counting
    from 0 like the preset key paths) and the actual array shape.

    ``classes`` is the number of classes the model outputs (its last layer's units),
    used by ``one_hot`` when the step gives no ``num_classes``; a label that does not
    fit raises a :class:`DataError` naming the data, the array, the label and where.
    """
    for i, t in enumerate(transforms):
        try:
            ds = _apply_one(ds, t, classes)
        except (_StepProblem, ValueError, TypeError) as exc:
            raise DataError(
                f"data.transforms[{i}] ({t.describe()}) does not fit the data: {exc}",
                hint="Fix or remove this step in the preset's [data] transforms.",
            ) from exc
    return ds


def transformed_shape(
    shape: tuple[int, ...], transforms: Sequence[Transform]
) -> tuple[int, ...] | None:
    """One sample's shape after ``transforms``, from its raw ``shape``, without data.

    None when a step does not fit (:func:`apply_transforms` then says why, with the
    data at hand). Only reshape and flatten change a sample's shape.
    """
    for t in transforms:
        if t.op == "flatten":
            shape = (math.prod(shape),)
        elif t.op == "reshape":
            target: list[int] = t.args["shape"]
            per_sample = math.prod(shape)
            known = math.prod(d for d in target if d != -1)
            if -1 in target:
                if known == 0 or per_sample % known:
                    return None
                target = [per_sample // known if d == -1 else d for d in target]
            elif per_sample != known:
                return None
            shape = tuple(target)
    return shape
