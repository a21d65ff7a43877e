"""Where a sweep's workers run and how they are told apart (issue 12 item 2, issue 14).

A sweep's coordinator gives each of its worker processes one GPU of the machine
(:func:`plan_devices`, :func:`worker_environment`); every worker, whichever host it
runs on, names itself by host, pid and GPU (:func:`worker_label`) and sends a
heartbeat while it trains, by which a trial of another host is judged alive
(:func:`heartbeat_timeout`). Plain Python: no TensorFlow, Keras or Textual.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence

from ktui.core.errors import KtuiError

#: The environment variable that changes how long a trial of another host may go
#: without a heartbeat before it is taken for dead (seconds).
HEARTBEAT_ENV = "KTUI_SWEEP_HEARTBEAT_TIMEOUT"

#: Seconds without a heartbeat after which another host's trial is ``interrupted``:
#: long enough for a busy machine or a slow network to miss a few beats (every
#: :func:`heartbeat_interval`), short enough that a dead host's trial is re-run soon.
DEFAULT_HEARTBEAT_TIMEOUT = 60.0


def plan_devices(workers: int, gpus: Sequence[int] | None) -> list[str | None]:
    """The ``CUDA_VISIBLE_DEVICES`` value of each of ``workers`` worker processes.

    ``gpus`` are the machine's GPU indices the coordinator may use (as ``nvidia-smi``
    numbers them; ``None`` or empty: no GPU). Worker ``k`` gets GPU ``gpus[k % n]``:
    one worker per GPU, and more workers than GPUs share them evenly. ``None`` for a
    worker means its environment is left as it is (no GPU to give).
    """
    if workers < 0:
        raise ValueError(f"workers must be 0 or more, got {workers}")
    if not gpus:
        return [None] * workers
    return [str(gpus[k % len(gpus)]) for k in range(workers)]


def worker_environment(device: str | None, base: Mapping[str, str]) -> dict[str, str]:
    """The environment of a worker process given ``device`` (see :func:`plan_devices`).

    CUDA numbers devices fastest first unless told otherwise, while ``nvidia-smi``
    and NVML number them by PCI bus; ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` makes the
    index given here the GPU ``nvidia-smi`` shows under it (unless already chosen).
    """
    env = dict(base)
    if device is not None:
        env["CUDA_VISIBLE_DEVICES"] = device
        env.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    return env


def worker_device(environ: Mapping[str, str] | None = None) -> str | None:
    """The GPU(s) this worker process was given (``CUDA_VISIBLE_DEVICES``), if any."""
    value = (os.environ if environ is None else environ).get("CUDA_VISIBLE_DEVICES")
    return value.strip() if value and value.strip() else None


def worker_label(host: str | None, pid: int | None, device: str | None) -> str:
    """A worker as the leaderboard shows it: ``gpubox2/4711 GPU1`` (the host name up
    to its first dot; ``cpu`` when its GPUs were hidden with ``-1``)."""
    if host is None and pid is None:
        return ""
    name = (host or "?").split(".")[0]
    text = f"{name}/{pid}" if pid is not None else name
    if device is not None:
        text += " cpu" if device.startswith("-") else f" GPU{device}"
    return text


def heartbeat_timeout(environ: Mapping[str, str] | None = None) -> float:
    """Seconds a trial of another host may go without a heartbeat
    (``$KTUI_SWEEP_HEARTBEAT_TIMEOUT``, else :data:`DEFAULT_HEARTBEAT_TIMEOUT`)."""
    text = (os.environ if environ is None else environ).get(HEARTBEAT_ENV, "").strip()
    if not text:
        return DEFAULT_HEARTBEAT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 1:
        raise KtuiError(
            f"{HEARTBEAT_ENV}={text!r} is not a number of seconds of at least 1",
            hint=f"Unset it (default {DEFAULT_HEARTBEAT_TIMEOUT:g} s) or give e.g. "
            f"{HEARTBEAT_ENV}=120.",
        )
    return value


def heartbeat_interval(timeout: float) -> float:
    """Seconds between two heartbeats: six beats a timeout, so a few may be missed."""
    return max(0.2, min(10.0, timeout / 6))
