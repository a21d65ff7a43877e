"""GPU hygiene and the backend's own view of device memory, for the system sampler.

* :func:`enable_memory_growth`: TensorFlow takes nearly all of a GPU's memory at its
  first use unless told to grow; ktui turns growth on before that first use, so a
  model preview or a second run does not starve the others. ``KTUI_MEMORY_GROWTH=0``
  (or an explicit ``TF_FORCE_GPU_ALLOW_GROWTH``) leaves TensorFlow's choice alone.
* :func:`device_memory_reader`: a callable for
  :class:`~ktui.core.system.SystemSampler` that returns ``(current, peak)`` bytes the
  backend holds on its first accelerator (what the model really uses, not what the
  framework reserved), or None on a CPU run.
* :func:`is_out_of_memory`: whether an exception from ``fit`` is a device
  out-of-memory error, on any backend.

Best effort throughout: a question the backend cannot answer gives None, never an
error (a run must not fail for a figure).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable

import keras

__all__ = [
    "device_memory_reader",
    "device_total_memory",
    "enable_memory_growth",
    "is_out_of_memory",
]


def enable_memory_growth() -> str | None:
    """Turn on TensorFlow's memory growth on every GPU; returns what was done, or None.

    Must run before TensorFlow first touches a GPU (it cannot be changed after):
    call it right after Keras is imported. Other backends are left alone (JAX
    preallocates too; ``XLA_PYTHON_CLIENT_PREALLOCATE=false`` is its switch, read at
    its start, so ktui sets it in the environment of the runs it starts).
    """
    if os.environ.get("KTUI_MEMORY_GROWTH", "1") == "0":
        return None
    if os.environ.get("TF_FORCE_GPU_ALLOW_GROWTH", "true").lower() == "false":
        return None  # the person said what they want
    if keras.backend.backend() != "tensorflow":
        return None
    try:
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        for gpu in gpus:
            tf.config.experimental.set_memory_growth(gpu, True)
    except Exception:  # noqa: BLE001 - already initialised: growth is as it was
        return None
    return f"memory growth on for {len(gpus)} GPU(s)" if gpus else None


def memory_growth_enabled() -> bool | None:
    """Whether TensorFlow's first GPU grows its memory (None: no TF GPU)."""
    with contextlib.suppress(Exception):
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                return bool(tf.config.experimental.get_memory_growth(gpus[0]))
    return None


def device_memory_reader() -> Callable[[], tuple[int, int] | None] | None:
    """A ``() -> (current, peak)`` reader of the backend's first accelerator, or None.

    None when the run trains on the CPU: TensorFlow reports zeros there, which would
    read as "uses nothing".
    """
    name = keras.backend.backend()
    with contextlib.suppress(Exception):
        if name == "tensorflow":
            import tensorflow as tf

            if not tf.config.list_logical_devices("GPU"):
                return None

            def tensorflow_memory() -> tuple[int, int]:
                info = tf.config.experimental.get_memory_info("GPU:0")
                return int(info["current"]), int(info["peak"])

            return tensorflow_memory
        if name == "jax":
            import jax

            device = jax.devices()[0]
            if device.platform == "cpu":
                return None

            def jax_memory() -> tuple[int, int] | None:
                stats = device.memory_stats() or {}
                if "bytes_in_use" not in stats:
                    return None
                current = int(stats["bytes_in_use"])
                return current, int(stats.get("peak_bytes_in_use", current))

            return jax_memory
        if name == "torch":
            import torch

            if not torch.cuda.is_available():
                return None

            def torch_memory() -> tuple[int, int]:
                return int(torch.cuda.memory_allocated()), int(torch.cuda.max_memory_allocated())

            return torch_memory
    return None


def device_free_memory() -> int | None:
    """Bytes free on the first accelerator, from the backend or NVML (None: CPU/unknown)."""
    with contextlib.suppress(Exception):
        if keras.backend.backend() == "torch":
            import torch

            if torch.cuda.is_available():
                return int(torch.cuda.mem_get_info()[0])
    with contextlib.suppress(Exception):
        from ktui.core.system import GpuReader

        reader = GpuReader()
        try:
            gpus = reader.read()
        finally:
            reader.close()
        if gpus and gpus[0].memory_total is not None and gpus[0].memory_used is not None:
            return gpus[0].memory_total - gpus[0].memory_used
    return None


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is the device running out of memory (TensorFlow's
    ``ResourceExhaustedError``, JAX's ``RESOURCE_EXHAUSTED``, PyTorch's
    ``OutOfMemoryError``)."""
    kind = type(exc).__name__
    if kind in ("ResourceExhaustedError", "OutOfMemoryError"):
        return True
    text = str(exc)
    return "RESOURCE_EXHAUSTED" in text or "out of memory" in text.lower() or "OOM when" in text


def device_total_memory() -> int | None:
    """The first visible GPU's whole memory in bytes (NVML, else the backend), or None."""
    with contextlib.suppress(Exception):
        from ktui.core.system import GpuReader

        reader = GpuReader()
        try:
            gpus = reader.read()
        finally:
            reader.close()
        if gpus and gpus[0].memory_total:
            return gpus[0].memory_total
    with contextlib.suppress(Exception):
        name = keras.backend.backend()
        if name == "torch":
            import torch

            if torch.cuda.is_available():
                return int(torch.cuda.get_device_properties(0).total_memory)
        elif name == "jax":
            import jax

            stats = jax.devices()[0].memory_stats() or {}
            if "bytes_limit" in stats:
                return int(stats["bytes_limit"])
    return None

