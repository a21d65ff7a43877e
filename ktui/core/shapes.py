"""The model's shapes, followed layer by layer in plain Python, so a preset whose
layers do not fit its data is refused before Start, without TensorFlow.

:func:`check_model` walks one sample's shape through the preset's layers the way
Keras computes output shapes — Conv1D/2D/3D (and their transposed, separable and
depthwise kinds), Max/AveragePooling, global pooling, Flatten, Reshape, Dense,
Dropout and the other shape-keeping layers, RNNs, Embedding, RepeatVector,
UpSampling, Permute — and raises a :class:`~ktui.core.errors.PresetError` naming the
layer when a kernel or pool is larger than what remains of the image, a layer gets
the wrong number of dimensions, or the output cannot match the targets. A layer it
does not know ends the walk: Keras still checks the rest when it builds the model.

``data_format`` is followed per layer (``channels_last`` unless the layer says
``channels_first``, Keras's default).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ktui.core import data as data_mod
from ktui.core.errors import PresetError
from ktui.core.presets import LayerSpec, Preset, RunConfig

__all__ = ["check_model", "default_misfits", "model_input_shape", "output_shapes"]

Shape = tuple[int, ...]


_ADVICE = (
    '; make a kernel_size or pool_size smaller, use padding = "same", or reshape '
    "the data in [data] transforms"
)


class _Misfit(Exception):
    """A layer does not fit the shape it gets; the message says why (without the key)."""


def _fmt(shape: Sequence[int]) -> str:
    return "×".join(str(d) for d in shape) if shape else "a single number"


def _tuple(value: Any, rank: int, default: int | None = None) -> tuple[int, ...] | None:
    """Keras's int-or-list arguments (kernel_size, strides) as ``rank`` ints."""
    if value is None:
        return None if default is None else (default,) * rank
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,) * rank
    if (
        isinstance(value, list | tuple)
        and len(value) == rank
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        return tuple(value)
    return None


def _spatial(
    args: Mapping[str, Any], shape: Shape, rank: int, kind: str
) -> tuple[Shape, int, bool]:
    """Split ``shape`` into spatial dims and channels, following ``data_format``."""
    if len(shape) != rank + 1:
        what = {1: "steps", 2: "rows and columns", 3: "depth, rows and columns"}[rank]
        raise _Misfit(
            f"{kind} needs {rank + 1} dimensions per sample ({what}, and channels), but "
            f"gets {_fmt(shape)}; reshape the data in [data] transforms (e.g. shape = "
            f"{[*([28] * rank), 1]!s}) or change the layers before it"
        )
    first = args.get("data_format") == "channels_first"
    if first:
        return shape[1:], shape[0], True
    return shape[:-1], shape[-1], False


def _join(spatial: Sequence[int], channels: int, first: bool) -> Shape:
    return (channels, *spatial) if first else (*spatial, channels)


def _window_out(
    kind: str,
    what: str,
    size: Sequence[int],
    spatial: Sequence[int],
    strides: Sequence[int],
    padding: str,
    dilation: Sequence[int] | None = None,
) -> list[int]:
    """Output size per spatial dim of a convolution or pooling window (Keras's rule)."""
    dilation = dilation or (1,) * len(size)
    if padding != "valid":  # same, causal: every position has an output
        return [(n - 1) // s + 1 for n, s in zip(spatial, strides, strict=True)]
    reach = [d * (k - 1) + 1 for k, d in zip(size, dilation, strict=True)]
    if any(r > n for r, n in zip(reach, spatial, strict=True)):
        dilated = " dilated" if any(d > 1 for d in dilation) else ""
        raise _Misfit(
            f"{kind} {what} {_fmt(reach)}{dilated} is larger than the {_fmt(spatial)} "
            f"{'steps' if len(spatial) == 1 else 'image'} it gets"
        )
    return [(n - r) // s + 1 for n, r, s in zip(spatial, reach, strides, strict=True)]


def _rank(kind: str) -> int:
    for rank in (1, 2, 3):
        if f"{rank}D" in kind:
            return rank
    return 0


def _conv(kind: str, args: Mapping[str, Any], shape: Shape) -> Shape | None:
    rank = _rank(kind)
    spatial, channels, first = _spatial(args, shape, rank, kind)
    kernel = _tuple(args.get("kernel_size"), rank)
    strides = _tuple(args.get("strides"), rank, 1)
    dilation = _tuple(args.get("dilation_rate"), rank, 1)
    if kernel is None or strides is None or dilation is None:
        return None
    padding = str(args.get("padding", "valid")).lower()
    if "Transpose" in kind:
        # Keras's deconv_output_length without output_padding.
        reach = [d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True)]
        if padding == "valid":
            out = [n * s + max(r - s, 0) for n, r, s in zip(spatial, reach, strides, strict=True)]
        else:
            out = [n * s for n, s in zip(spatial, strides, strict=True)]
    else:
        out = _window_out(kind, "kernel_size", kernel, spatial, strides, padding, dilation)
    filters = (
        channels * int(args.get("depth_multiplier", 1))
        if "Depthwise" in kind
        else args.get("filters")
    )
    return _join(out, filters, first) if isinstance(filters, int) else None


def _pool(kind: str, args: Mapping[str, Any], shape: Shape) -> Shape | None:
    rank = _rank(kind)
    spatial, channels, first = _spatial(args, shape, rank, kind)
    pool = _tuple(args.get("pool_size"), rank, 2)
    strides = _tuple(args.get("strides"), rank) or pool
    if pool is None or strides is None:
        return None
    padding = str(args.get("padding", "valid")).lower()
    return _join(_window_out(kind, "pool_size", pool, spatial, strides, padding), channels, first)


def _global_pool(kind: str, args: Mapping[str, Any], shape: Shape) -> Shape | None:
    if args.get("keepdims"):
        return None
    _, channels, _ = _spatial(args, shape, _rank(kind), kind)
    return (channels,)


def _upsample(kind: str, args: Mapping[str, Any], shape: Shape) -> Shape | None:
    rank = _rank(kind)
    spatial, channels, first = _spatial(args, shape, rank, kind)
    size = _tuple(args.get("size"), rank, 2)
    if size is None:
        return None
    return _join([n * s for n, s in zip(spatial, size, strict=True)], channels, first)


def _dense(kind: str, args: Mapping[str, Any], shape: Shape) -> Shape | None:
    units = args.get("units")
    if not shape:
        raise _Misfit(f"{kind} needs at least one dimension per sample, gets a single number")
    return (*shape[:-1], units) if isinstance(units, int) else None


def _flatten(kind: str, args: Mapping[str, Any], shape: Shape) -> Shape | None:
    return (math.prod(shape),)


def _reshape(kind: str, args: Mapping[str, Any], shape: Shape) -> Shape | None:
    target = args.get("target_shape")
    if not isinstance(target, list | tuple) or not all(isinstance(d, int) for d in target):
        return None
    size = math.prod(shape)
    known = math.prod(d for d in target if d != -1)
    if -1 in target:
        if known == 0 or size % known:
            raise _Misfit(f"Reshape cannot make {_fmt(shape)} ({size} values) into {list(target)}")
        return tuple(size // known if d == -1 else d for d in target)
    if known != size:
        raise _Misfit(
            f"Reshape target_shape {list(target)} holds {known} values, but it gets "
            f"{_fmt(shape)} ({size} values)"
        )
    return tuple(target)


def _rnn(kind: str, args: Mapping[str, Any], shape: Shape) -> Shape | None:
    if len(shape) != 2:
        raise _Misfit(
            f"{kind} needs 2 dimensions per sample (steps and features), but gets {_fmt(shape)}"
        )
    units = args.get("units")
    if not isinstance(units, int):
        return None
    return (shape[0], units) if args.get("return_sequences") else (units,)


def _embedding(kind: str, args: Mapping[str, Any], shape: Shape) -> Shape | None:
    dim = args.get("output_dim")
    return (*shape, dim) if isinstance(dim, int) else None


def _repeat(kind: str, args: Mapping[str, Any], shape: Shape) -> Shape | None:
    n = args.get("n")
    if len(shape) != 1:
        raise _Misfit(f"RepeatVector needs 1 dimension per sample, but gets {_fmt(shape)}")
    return (n, shape[0]) if isinstance(n, int) else None


def _permute(kind: str, args: Mapping[str, Any], shape: Shape) -> Shape | None:
    dims = args.get("dims")
    if not isinstance(dims, list | tuple) or sorted(dims) != list(range(1, len(shape) + 1)):
        return None
    return tuple(shape[d - 1] for d in dims)


def _same(kind: str, args: Mapping[str, Any], shape: Shape) -> Shape | None:
    return shape


_Rule = Callable[[str, Mapping[str, Any], Shape], "Shape | None"]

_SAME = frozenset(
    [
        "Dropout",
        "SpatialDropout1D",
        "SpatialDropout2D",
        "SpatialDropout3D",
        "GaussianDropout",
        "GaussianNoise",
        "AlphaDropout",
        "Activation",
        "ActivityRegularization",
        "BatchNormalization",
        "LayerNormalization",
        "GroupNormalization",
        "RMSNormalization",
        "UnitNormalization",
        "ReLU",
        "LeakyReLU",
        "PReLU",
        "ELU",
        "Softmax",
        "Rescaling",
        "Identity",
        "Masking",
    ]
)

_RULES: dict[str, _Rule] = {name: _same for name in _SAME}
_RULES.update(
    {
        "Dense": _dense,
        "Flatten": _flatten,
        "Reshape": _reshape,
        "LSTM": _rnn,
        "GRU": _rnn,
        "SimpleRNN": _rnn,
        "Embedding": _embedding,
        "RepeatVector": _repeat,
        "Permute": _permute,
    }
)
for _rank_n in (1, 2, 3):
    for _name in ("Conv", "Convolution"):
        _RULES[f"{_name}{_rank_n}D"] = _conv
        _RULES[f"{_name}{_rank_n}DTranspose"] = _conv
    for _name in ("MaxPooling", "MaxPool", "AveragePooling", "AvgPool"):
        _RULES[f"{_name}{_rank_n}D"] = _pool
    for _name in ("GlobalMaxPooling", "GlobalMaxPool", "GlobalAveragePooling", "GlobalAvgPool"):
        _RULES[f"{_name}{_rank_n}D"] = _global_pool
    _RULES[f"UpSampling{_rank_n}D"] = _upsample
for _name in (
    "SeparableConv1D",
    "SeparableConv2D",
    "SeparableConvolution1D",
    "SeparableConvolution2D",
    "DepthwiseConv1D",
    "DepthwiseConv2D",
):
    _RULES[_name] = _conv


def output_shapes(
    layers: Sequence[LayerSpec], input_shape: Shape, *, source: str = "<preset>"
) -> list[Shape]:
    """Each layer's output shape per sample, as far as they can be followed.

    The list stops before the first layer this module does not know. A layer that
    does not fit raises :class:`PresetError` (``source``: the preset file) at its key.
    """
    shapes: list[Shape] = []
    shape = input_shape
    origin = f"the input ({_fmt(input_shape)} per sample)"
    for spec in layers:
        rule = _RULES.get(spec.kind)
        if rule is None:
            break
        try:
            out = rule(spec.kind, spec.args, shape)
        except _Misfit as exc:
            raise PresetError(source, spec.key, f"{exc} from {origin}{_ADVICE}") from None
        except (TypeError, ValueError):  # an argument of a type the rules did not expect
            break
        if out is None:
            break
        if any(d < 1 for d in out):
            raise PresetError(
                source, spec.key, f"{spec.kind} would output {_fmt(out)} from {origin}"
            )
        shapes.append(out)
        shape = out
        origin = f"{spec.key} ({spec.kind}, {_fmt(out)})"
    return shapes


def model_input_shape(config: RunConfig) -> Shape | None:
    """One sample's shape as the model gets it: the data's sample shape (read without
    loading the data) through the preset's transforms; None when it cannot be told."""
    raw = data_mod.sample_shape(config.data)
    if raw is None:
        return None
    return data_mod.transformed_shape(raw, config.transforms)


def check_model(config: RunConfig, input_shape: Shape | None = None) -> None:
    """Raise :class:`PresetError` when the model's layers do not fit ``input_shape``
    (one sample after the transforms; by default :func:`model_input_shape`).

    Also checks a declared ``model.input_shape`` against the data, and that a
    classifier (one-hot or sparse labels) outputs one vector per sample.
    """
    shape = input_shape if input_shape is not None else model_input_shape(config)
    if shape is None:
        return
    source = config.preset.source
    if config.input_shape is not None and tuple(config.input_shape) != tuple(shape):
        raise PresetError(
            source,
            "model.input_shape",
            f"is {list(config.input_shape)} but each sample of {config.data.describe()} "
            f"is {_fmt(shape)} after the transforms; change a reshape step in [data] "
            "transforms or model.input_shape",
        )
    shapes = output_shapes(config.layers, shape, source=source)
    if len(shapes) != len(config.layers) or not shapes:
        return  # an unknown layer: Keras checks the rest
    out = shapes[-1]
    one_hot = any(t.op == "one_hot" for t in config.transforms)
    if len(out) > 1 and (one_hot or "categorical" in config.loss.lower()):
        raise PresetError(
            source,
            config.layers[-1].key,
            f"the model outputs {_fmt(out)} per sample, but a classifier's targets are one "
            "row of class scores per sample; add a Flatten (or a global pooling) layer "
            "before the Dense layers",
        )


def default_misfits(presets: Iterable[Preset]) -> list[PresetError]:
    """The presets whose default values make a model that does not fit their data."""
    found: list[PresetError] = []
    for preset in presets:
        try:
            check_model(preset.resolve())
        except PresetError as exc:
            found.append(exc)
    return found
