"""Will it fit? The memory one training step needs, from the model's summary alone.

:func:`estimate` adds up, for float32 training,

* the weights, their gradients and the optimizer's slots (Adam keeps two per weight,
  momentum SGD and RMSprop one, plain SGD none);
* the activations the backward pass needs: every layer's output for the whole batch
  is kept from the forward pass until its gradient is computed, plus the input batch;
* working space for the backward pass: the gradient of the largest activation and
  the one it is computed from (two of the largest layer output).

It reads only a :class:`~ktui.core.events.ModelSummary` (output shapes as Keras
prints them, parameter counts), so the form can ask before anything trains. What it
leaves out, on purpose: the framework's own allocations (kernels, cuDNN workspaces,
the allocator's rounding and caching), which depend on the device and the backend;
the estimate is what the model needs, and the real peak is shown beside it once the
first batches have run. The tolerance found against a measured peak on CPU is in
``tests/test_memory_estimate.py``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ktui.core.events import ModelSummary

__all__ = [
    "MemoryEstimate",
    "estimate",
    "fit_verdict",
    "largest_batch_that_fits",
    "optimizer_slots",
    "out_of_memory_message",
    "output_elements",
]

#: Bytes per number: ktui trains in float32.
FLOAT_BYTES = 4

#: Slots (extra numbers per weight) each optimizer keeps. Keras 3's names, lower case.
_SLOTS = {
    "sgd": 0,
    "adam": 2,
    "adamw": 2,
    "nadam": 2,
    "adamax": 2,
    "adadelta": 2,
    "adagrad": 1,
    "rmsprop": 1,
    "lion": 1,
    "ftrl": 2,
    "lamb": 2,
    "adafactor": 2,
}

#: Fraction of a device's free memory a run may plan on: the framework's own kernels
#: and allocator caching need the rest.
HEADROOM = 0.9

_TUPLE = re.compile(r"\(([^()]*)\)")


def optimizer_slots(name: str) -> int:
    """Numbers per weight the optimizer keeps (Adam: 2). Unknown ones count as 2."""
    return _SLOTS.get(name.strip().lower().replace("_", ""), 2)


def output_elements(shape: str) -> int | None:
    """Numbers per sample in a printed output shape: ``(None, 28, 28, 32)`` → 25088.

    Several outputs (``[(None, 3), (None, 4)]``) add up; an unknown shape (``?``) is
    None. The leading ``None`` (the batch) is left out.
    """
    tuples = _TUPLE.findall(shape)
    if not tuples:
        return None
    total = 0
    for inner in tuples:
        dims = [d.strip() for d in inner.split(",") if d.strip()]
        if dims and dims[0] == "None":
            dims = dims[1:]
        if any(not d.isdigit() for d in dims):
            return None  # an unknown dimension other than the batch
        total += math.prod(int(d) for d in dims)
    return total


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a training step at ``batch_size`` needs, by what holds them."""

    batch_size: int
    weights: int
    gradients: int
    optimizer: int
    activations: int
    """Layer outputs kept for the backward pass, and the input batch."""
    workspace: int
    """The backward pass's largest activation gradient, twice."""
    complete: bool = True
    """False when some layer's output shape was unknown (the estimate is then low)."""

    @property
    def total(self) -> int:
        """Everything above, bytes."""
        return self.weights + self.gradients + self.optimizer + self.activations + self.workspace

    def describe(self) -> str:
        """``≈ 1.2 GiB for a batch of 128 (weights 12 MiB, optimizer 24 MiB, …)``."""
        parts = [
            f"weights {_size(self.weights)}",
            f"gradients {_size(self.gradients)}",
            f"optimizer {_size(self.optimizer)}",
            f"activations {_size(self.activations + self.workspace)}",
        ]
        low = "" if self.complete else " at least"
        return f"≈{low} {_size(self.total)} for a batch of {self.batch_size} ({', '.join(parts)})"


def _size(value: float) -> str:
    if value >= 2**30:
        return f"{value / 2**30:.1f} GiB"
    if value >= 2**20:
        return f"{value / 2**20:.0f} MiB"
    return f"{value / 2**10:.0f} KiB"


def estimate(summary: ModelSummary, batch_size: int, optimizer: str = "adam") -> MemoryEstimate:
    """The memory one training step of ``summary``'s model needs at ``batch_size``."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    params = summary.total_params
    trainable = summary.trainable_params
    per_sample = [output_elements(layer.output_shape) for layer in summary.layers]
    known = [n for n in per_sample if n is not None]
    input_elements = output_elements(summary.input_shape) if summary.input_shape else None
    kept = sum(known) + (input_elements or 0)
    largest = max(known, default=0)
    return MemoryEstimate(
        batch_size=batch_size,
        weights=params * FLOAT_BYTES,
        gradients=trainable * FLOAT_BYTES,
        optimizer=trainable * optimizer_slots(optimizer) * FLOAT_BYTES,
        activations=kept * batch_size * FLOAT_BYTES,
        workspace=2 * largest * batch_size * FLOAT_BYTES,
        complete=len(known) == len(per_sample) and input_elements is not None,
    )


def largest_batch_that_fits(
    summary: ModelSummary, available: int, optimizer: str = "adam", at_most: int = 2**16
) -> int | None:
    """The largest power-of-two batch size whose estimate fits in ``available`` bytes
    (with :data:`HEADROOM`), or None if not even a batch of 1 does."""
    budget = available * HEADROOM
    best = None
    size = 1
    while size <= at_most:
        if estimate(summary, size, optimizer).total > budget:
            break
        best = size
        size *= 2
    return best


def fit_verdict(
    summary: ModelSummary,
    batch_size: int,
    optimizer: str,
    available: int | None,
    device: str = "this device",
) -> str:
    """One line for the form: the estimate and whether it fits on ``device``
    (``Memory ≈ 233 KiB a step at batch_size 200: fits (16.0 GiB free on this machine)``).

    ``available`` is the device's free memory in bytes (None when unknown: the
    estimate alone is said).
    """
    guess = estimate(summary, batch_size, optimizer)
    low = "" if guess.complete else " at least"
    text = f"Memory ≈{low} {_size(guess.total)} a step at batch_size {batch_size}"
    if available is None:
        return text
    if guess.total <= available * HEADROOM:
        return f"{text}: fits ({_size(available)} free on {device})"
    better = largest_batch_that_fits(summary, available, optimizer)
    advice = (
        f"batch_size {better} would fit"
        if better is not None
        else "the weights alone do not fit; a smaller model is needed"
    )
    return f"{text}: does NOT fit ({_size(available)} free on {device}); {advice}"


def out_of_memory_message(
    summary: ModelSummary, batch_size: int, optimizer: str, device_total: int | None
) -> str:
    """What to say when a step ran out of device memory: which batch size would fit.

    ``device_total`` is the device's whole memory in bytes (None when unknown: the
    advice is then to halve the batch).
    """
    head = f"The device ran out of memory at batch_size {batch_size}"
    if device_total is None:
        return f"{head}; try batch_size {max(1, batch_size // 2)} (half) or a smaller model."
    better = largest_batch_that_fits(summary, device_total, optimizer)
    if better is None:
        return f"{head}: the model's weights alone do not fit in {_size(device_total)}."
    if better >= batch_size:
        # the estimate said it fits: the framework's own memory or another process
        # took the rest, and only a smaller batch is sure to help
        needed = _size(estimate(summary, batch_size, optimizer).total)
        return (
            f"{head}, though the model's estimate is only {needed} of "
            f"{_size(device_total)}: the framework or other processes hold the rest; "
            f"try batch_size {max(1, batch_size // 2)} (half)."
        )
    needed = _size(estimate(summary, better, optimizer).total)
    return (
        f"{head}; batch_size {better} would have fitted in {_size(device_total)} "
        f"(it needs about {needed})."
    )
