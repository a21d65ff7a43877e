"""What a run trains on, asked of the Keras backend in use: devices, memory, versions.

Keras 3 runs on TensorFlow, JAX or PyTorch; this module imports only the one Keras
loaded (``keras.backend.backend()``), so a JAX or PyTorch environment needs no
TensorFlow. Device lists come from ``keras.distribution.list_devices()`` where the
backend has it (TensorFlow, JAX) and from the backend's own API otherwise (PyTorch);
the accelerator's model name and memory always from the backend's own API. Every
question is best effort: a backend that cannot answer one gives a shorter
description, never an error (a run must not fail for the sake of a label).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import platform
from dataclasses import dataclass
from typing import Any

import keras

import ktui

#: Device kinds that are accelerators, as ``keras.distribution.list_devices`` names them.
_ACCELERATORS = ("gpu", "cuda", "tpu", "mps")


@dataclass(frozen=True)
class DeviceInfo:
    """The devices a run trains on."""

    kind: str
    """``CPU``, ``GPU`` or ``TPU``."""
    name: str
    """The accelerator's model (``NVIDIA H200``), or the CPU's architecture."""
    count: int
    """How many devices of that kind the backend sees."""
    memory_bytes: int | None = None
    """The first accelerator's memory, when the backend tells."""

    def describe(self) -> str:
        """``GPU (NVIDIA H200, 140 GiB) +1`` or ``CPU (x86_64, 2 cores)``."""
        details = [self.name] if self.name else []
        if self.memory_bytes:
            details.append(f"{self.memory_bytes / 2**30:.0f} GiB")
        if self.kind == "CPU":
            cores = os.cpu_count()
            if cores:
                details.append(f"{cores} core{'s' if cores != 1 else ''}")
        text = f"{self.kind} ({', '.join(details)})" if details else self.kind
        return text + (f" +{self.count - 1}" if self.count > 1 else "")


def backend() -> str:
    """The backend Keras runs on in this process: ``tensorflow``, ``jax`` or ``torch``."""
    return str(keras.backend.backend())


def backend_version(name: str | None = None) -> str:
    """The installed version of the backend's package (``?`` if it has none)."""
    name = name or backend()
    try:
        module = importlib.import_module(name)
    except ImportError:
        return "?"
    return str(getattr(module, "__version__", "?"))


def _listed() -> list[str]:
    """``keras.distribution.list_devices()``: ``["cpu:0"]``, ``["gpu:0", "gpu:1"]``…"""
    with contextlib.suppress(Exception):  # PyTorch has no distribution support
        return [str(d).lower() for d in keras.distribution.list_devices()]
    return []


def _accelerator_details(name: str, index: int = 0) -> tuple[str, int | None]:
    """The first accelerator's model name and memory, from the backend itself."""
    label, memory = "", None
    with contextlib.suppress(Exception):
        if name == "jax":
            import jax

            device = jax.devices()[index]
            label = str(getattr(device, "device_kind", "") or "")
            stats = device.memory_stats() or {}
            memory = int(stats["bytes_limit"]) if "bytes_limit" in stats else None
        elif name == "torch":
            import torch

            if torch.cuda.is_available():
                properties = torch.cuda.get_device_properties(index)
                label, memory = str(properties.name), int(properties.total_memory)
        elif name == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                details: dict[str, Any] = tf.config.experimental.get_device_details(gpus[index])
                label = str(details.get("device_name", "") or "")
    return label, memory


def _torch_devices() -> list[str]:
    with contextlib.suppress(Exception):
        import torch

        if torch.cuda.is_available():
            return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return ["mps:0"]
    return ["cpu:0"]


def device_info() -> DeviceInfo:
    """The devices the backend in use trains on (accelerators when it has any)."""
    name = backend()
    listed = _torch_devices() if name == "torch" else _listed()
    accelerators = [d for d in listed if d.split(":")[0] in _ACCELERATORS]
    if accelerators:
        kind = accelerators[0].split(":")[0]
        label, memory = _accelerator_details(name)
        return DeviceInfo(
            kind="TPU" if kind == "tpu" else "GPU",
            name=label or accelerators[0],
            count=len(accelerators),
            memory_bytes=memory,
        )
    return DeviceInfo(kind="CPU", name=platform.machine(), count=1)


def describe_device() -> str:
    """The device line a run is recorded with: ``GPU (NVIDIA H200, 140 GiB)``, ``CPU (x86_64,
    2 cores)``."""
    try:
        return device_info().describe()
    except Exception:  # noqa: BLE001 - a label is not worth a failed run
        return f"CPU ({platform.machine()})"


def versions() -> dict[str, str]:
    """The versions a run is recorded with, the backend among them.

    ``backend`` names the backend and the backend's own entry gives its version, e.g.
    ``{"ktui": "0.1.0", "keras": "3.15.0", "backend": "jax", "jax": "0.10.2", ...}``.
    """
    name = backend()
    return {
        "ktui": ktui.__version__,
        "keras": keras.__version__,
        "backend": name,
        name: backend_version(name),
        "python": platform.python_version(),
    }


def memory_in_use() -> int | None:
    """Bytes the backend holds on its first accelerator now, or None (CPU, or it does
    not say)."""
    name = backend()
    with contextlib.suppress(Exception):
        if name == "jax":
            import jax

            device = jax.devices()[0]
            if device.platform != "cpu":
                return int((device.memory_stats() or {}).get("bytes_in_use", 0)) or None
        elif name == "torch":
            import torch

            if torch.cuda.is_available():
                return int(torch.cuda.memory_allocated())
        elif name == "tensorflow":
            import tensorflow as tf

            if tf.config.list_logical_devices("GPU"):
                return int(tf.config.experimental.get_memory_info("GPU:0")["current"])
    return None
