"""Shapes and layers in words: a shape typed in the form, and what each layer of a
model does to the shape before it.

Plain Python: no TensorFlow, no Textual.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Literal

from ktui.core.events import LayerInfo

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


def dims_text(values: Sequence[int | None]) -> str:
    """Dimensions as ``28×28`` (``?`` for one that is not known)."""
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
            f"{text}: {prefix}each sample is a {dims_text(rest)} grid: "
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
            lines.append(f"{text}: {prefix}each sample has {dims_text(rest)} numbers.")
    elif rest:
        lines.append(f"{text}: {prefix}each sample has {dims_text(rest)} numbers.")
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
            words = f"{per_sample[0]} maps of {dims_text(per_sample[1:])}"
        elif order == "channels_last":
            words = f"{per_sample[2]} maps of {dims_text(per_sample[:2])}"
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
