"""What the machine is doing while a run trains: CPU, memory and GPUs, sampled in the
background.

:class:`SystemSampler` runs one daemon thread that, every :data:`DEFAULT_INTERVAL`
seconds, reads the training process's CPU % and resident memory and the machine's
CPU % and free/total memory (``psutil``), each visible NVIDIA GPU's utilisation,
memory, power and temperature (NVML through ``nvidia-ml-py``, the optional extra
``ktui[nvml]``, also in ``ktui[gpu]``), and the backend's own view of its device
memory through a callable the training layer hands in (this module never imports
Keras). Each reading is a frozen :class:`SystemSample` given to the listeners, from
the sampler's thread: a listener must be quick and thread-safe (post a message, put on a queue).

Watching never harms training: a failing reading leaves that figure ``None``, a
failing listener is dropped after saying so once (through ``on_error``), and the
thread's own CPU time is counted (:attr:`SystemSampler.cpu_seconds`) so its cost
can be checked, not guessed.

Without ``nvidia-ml-py``, or without an NVIDIA driver or GPU, every sample carries
:attr:`SystemSample.gpu_note`, one line saying which.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psutil

# psutil is imported where a reading is taken, not here: ktui.core.system is also the
# home of SystemSample, which reports and the store read without sampling anything,
# and importing psutil costs a fresh `ktui report` about 25 ms.

__all__ = [
    "DEFAULT_INTERVAL",
    "DeviceMemory",
    "GpuReader",
    "GpuSample",
    "SystemSample",
    "SystemSampler",
    "SystemSummary",
    "compact_line",
    "devices_environment",
    "parse_devices",
    "format_bytes",
    "format_pair",
    "free_memory",
    "summarize",
    "visible_gpu_indices",
]

#: Seconds between samples: often enough for a sparkline over a minute-long epoch,
#: rare enough that reading /proc and NVML costs well under 1 % of one core.
DEFAULT_INTERVAL = 1.5

#: Seconds from the start to the first sample.
FIRST_SAMPLE_AFTER = 0.25

#: Samples kept in memory for the panel's sparklines; older ones live in the store.
HISTORY = 600

DeviceMemory = Callable[[], "tuple[int, int] | None"]
"""The backend's device memory now: ``(current_bytes, peak_bytes)``, or None when it
does not say (a CPU run)."""


@dataclass(frozen=True)
class GpuSample:
    """One GPU's figures at one moment, as NVML reports them (None where it cannot tell)."""

    index: int
    name: str
    utilization: float | None
    """Percent of the last sample period a kernel ran (NVML's ``gpu`` utilisation)."""
    memory_used: int | None
    memory_total: int | None
    power_watts: float | None
    temperature_c: float | None


@dataclass(frozen=True)
class SystemSample:
    """The machine and the training process at one moment."""

    time: float
    """``time.time()`` of the reading."""
    process_cpu: float | None
    """The training process's CPU %, over all its threads (100 = one core busy)."""
    process_rss: int | None
    """The training process's resident memory, bytes."""
    machine_cpu: float | None
    """The whole machine's CPU %, 0–100 over all cores."""
    memory_available: int | None
    """Memory the machine can still give without swapping, bytes."""
    memory_total: int | None
    gpus: tuple[GpuSample, ...] = ()
    gpu_note: str | None = None
    """Why there are no GPU figures, in one line (no NVML, no driver, no GPU)."""
    device_memory: int | None = None
    """Bytes the backend holds on its device now (what the model really uses)."""
    device_memory_peak: int | None = None
    """The most the backend has held on its device so far, bytes."""


def visible_gpu_indices(environ: dict[str, str] | None = None) -> list[int] | None:
    """The NVML indices that ``CUDA_VISIBLE_DEVICES`` lets this process use.

    NVML lists every GPU in the machine whatever that variable says; a run started
    with ``--devices 1`` should show GPU 1 only. None means all of them (unset, or
    given as UUIDs, which are not resolved here); an empty list means none.
    """
    value = (os.environ if environ is None else environ).get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return None
    parts = [p.strip() for p in value.split(",") if p.strip()]
    indices: list[int] = []
    for part in parts:
        if not part.lstrip("-").isdigit():
            return None  # UUIDs or MIG names: show every GPU rather than guess
        index = int(part)
        if index < 0:
            break  # CUDA stops at the first invalid index
        indices.append(index)
    return indices


class GpuReader:
    """NVIDIA GPUs through NVML; :attr:`note` says why there are none.

    ``nvml`` is the ``pynvml`` module (``nvidia-ml-py``); tests hand in a fake. Without
    it, or when NVML cannot start, :meth:`read` returns ``()`` and :attr:`note` says
    which, once, in one line.
    """

    def __init__(self, nvml: Any | None = None, indices: Sequence[int] | None = None) -> None:
        self.note: str | None = None
        self._nvml = nvml
        self._handles: list[tuple[int, Any, str]] = []
        if self._nvml is None:
            try:
                import pynvml  # the optional extra ktui[nvml] (also in ktui[gpu])
            except ImportError:
                self.note = (
                    "no GPU figures: nvidia-ml-py is not installed (pip install 'ktui[nvml]')"
                )
                return
            self._nvml = pynvml
        try:
            self._nvml.nvmlInit()
            count = int(self._nvml.nvmlDeviceGetCount())
        except Exception as exc:  # noqa: BLE001 - NVMLError_LibraryNotFound, DriverNotLoaded…
            self.note = f"no GPU: NVML cannot start ({_nvml_reason(exc)})"
            self._nvml = None
            return
        wanted = visible_gpu_indices() if indices is None else list(indices)
        for index in range(count):
            if wanted is not None and index not in wanted:
                continue
            try:
                handle = self._nvml.nvmlDeviceGetHandleByIndex(index)
                name = self._nvml.nvmlDeviceGetName(handle)
            except Exception:  # noqa: BLE001 - a GPU NVML cannot open is left out
                continue
            if isinstance(name, bytes):  # older nvidia-ml-py returns bytes
                name = name.decode(errors="replace")
            self._handles.append((index, handle, str(name)))
        if not self._handles:
            chosen = os.environ.get("CUDA_VISIBLE_DEVICES")
            self.note = (
                "no GPU: NVML sees none"
                if count == 0 or wanted is None
                else f"no GPU: none of CUDA_VISIBLE_DEVICES={chosen} exists"
            )

    @property
    def names(self) -> list[str]:
        """The visible GPUs' model names, in index order (``NVIDIA H200``)."""
        return [name for _, _, name in self._handles]

    def read(self) -> tuple[GpuSample, ...]:
        """Each visible GPU's figures now."""
        nvml = self._nvml
        if nvml is None:
            return ()
        samples = []
        for index, handle, name in self._handles:
            util = used = total = None
            power = temperature = None
            with contextlib.suppress(Exception):
                util = float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
            with contextlib.suppress(Exception):
                info = nvml.nvmlDeviceGetMemoryInfo(handle)
                used, total = int(info.used), int(info.total)
            with contextlib.suppress(Exception):
                power = float(nvml.nvmlDeviceGetPowerUsage(handle)) / 1000.0  # milliwatts
            with contextlib.suppress(Exception):
                temperature = float(
                    nvml.nvmlDeviceGetTemperature(handle, getattr(nvml, "NVML_TEMPERATURE_GPU", 0))
                )
            samples.append(GpuSample(index, name, util, used, total, power, temperature))
        return tuple(samples)

    def close(self) -> None:
        """Let NVML go (it counts inits; one shutdown per init)."""
        if self._nvml is not None:
            with contextlib.suppress(Exception):
                self._nvml.nvmlShutdown()
            self._nvml = None


def _nvml_reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if "Library Not Found" in text:
        return "no NVIDIA driver library on this machine"
    if "Driver Not Loaded" in text:
        return "the NVIDIA driver is not loaded"
    return text


SampleListener = Callable[[SystemSample], None]


@dataclass
class _Listeners:
    items: list[SampleListener] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class SystemSampler:
    """A background thread that samples the machine every ``interval`` seconds.

    ``start()`` once, ``stop()`` once (also safe if never started). ``device_memory``
    is the backend's ``(current, peak)`` reader from the training layer; ``gpus`` a
    :class:`GpuReader` (built at ``start()`` when not given, so NVML is touched only
    by a run that samples). Listeners get every sample from the sampler's thread.
    """

    def __init__(
        self,
        interval: float = DEFAULT_INTERVAL,
        *,
        device_memory: DeviceMemory | None = None,
        gpus: GpuReader | None = None,
        pid: int | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"the sampling interval must be positive, not {interval}")
        self.interval = interval
        self.device_memory = device_memory
        self.gpus = gpus
        self._pid = pid
        self._on_error = on_error
        self._listeners = _Listeners()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._history: list[SystemSample] = []
        self._history_lock = threading.Lock()
        self._process: psutil.Process | None = None
        self.cpu_seconds = 0.0
        """CPU time the sampler's own thread has used, seconds."""
        self.samples_taken = 0

    # ------------------------------------------------------------------ listeners
    def add_listener(self, listener: SampleListener) -> None:
        """Call ``listener(sample)`` for every sample, from the sampler's thread."""
        with self._listeners.lock:
            self._listeners.items.append(listener)

    def remove_listener(self, listener: SampleListener) -> None:
        """Stop calling ``listener`` (no error if it was not added)."""
        with self._listeners.lock, contextlib.suppress(ValueError):
            self._listeners.items.remove(listener)

    # ------------------------------------------------------------------ life
    def start(self) -> None:
        """Take a first sample's baseline and start the thread."""
        if self._thread is not None:
            return
        if self.gpus is None:
            self.gpus = GpuReader()
        import psutil

        try:
            self._process = psutil.Process(self._pid)
            self._process.cpu_percent(None)  # the first call only sets the baseline
        except Exception:  # noqa: BLE001 - process figures stay None
            self._process = None
        with contextlib.suppress(Exception):
            psutil.cpu_percent(None)
        self._thread = threading.Thread(target=self._loop, name="ktui-system", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """End the thread (waits for it up to ``timeout`` s) and let NVML go."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        if self.gpus is not None:
            self.gpus.close()

    def __enter__(self) -> SystemSampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the thread is going."""
        return self._thread is not None and self._thread.is_alive()

    def history(self) -> list[SystemSample]:
        """The last :data:`HISTORY` samples, oldest first."""
        with self._history_lock:
            return list(self._history)

    def latest(self) -> SystemSample | None:
        """The newest sample, or None before the first."""
        with self._history_lock:
            return self._history[-1] if self._history else None

    # ------------------------------------------------------------------ sampling
    def sample(self) -> SystemSample:
        """One reading now (the thread calls this; tests may too)."""
        import psutil

        process_cpu = process_rss = None
        if self._process is not None:
            # Two plain readings, no psutil oneshot(): they come from two files
            # (/proc/PID/stat and /proc/PID/statm), so the cache oneshot sets up saves
            # nothing and cost more than both reads (77 µs vs 45 µs a sample, measured).
            with contextlib.suppress(Exception):
                process_cpu = float(self._process.cpu_percent(None))
            with contextlib.suppress(Exception):
                process_rss = int(self._process.memory_info().rss)
        machine_cpu = available = total = None
        with contextlib.suppress(Exception):
            machine_cpu = float(psutil.cpu_percent(None))
        with contextlib.suppress(Exception):
            memory = psutil.virtual_memory()
            available, total = int(memory.available), int(memory.total)
        gpus: tuple[GpuSample, ...] = ()
        note = None
        if self.gpus is not None:
            with contextlib.suppress(Exception):
                gpus = self.gpus.read()
            note = self.gpus.note
        current = peak = None
        if self.device_memory is not None:
            with contextlib.suppress(Exception):
                reading = self.device_memory()
                if reading is not None:
                    current, peak = int(reading[0]), int(reading[1])
        return SystemSample(
            time=time.time(),
            process_cpu=process_cpu,
            process_rss=process_rss,
            machine_cpu=machine_cpu,
            memory_available=available,
            memory_total=total,
            gpus=gpus,
            gpu_note=note,
            device_memory=current,
            device_memory_peak=peak,
        )

    def _loop(self) -> None:
        # The first sample soon after the start, so a short first epoch already has
        # one (psutil's CPU % over a quarter second is still a fair figure).
        delay = min(FIRST_SAMPLE_AFTER, self.interval)
        while not self._stop.wait(delay):
            delay = self.interval
            started = time.thread_time()
            sample = self.sample()
            with self._history_lock:
                self._history.append(sample)
                del self._history[:-HISTORY]
            self.samples_taken += 1
            with self._listeners.lock:
                listeners = list(self._listeners.items)
            for listener in listeners:
                try:
                    listener(sample)
                except Exception as exc:  # noqa: BLE001 - a listener costs itself, not the run
                    self.remove_listener(listener)
                    if self._on_error is not None:
                        what = f"{type(exc).__name__}: {exc}"
                        with contextlib.suppress(Exception):
                            self._on_error(f"System figures stopped for one reader: {what}")
            self.cpu_seconds += time.thread_time() - started


@dataclass(frozen=True)
class SystemSummary:
    """Averages and peaks over a run's samples (None where no sample had the figure)."""

    samples: int
    process_cpu_mean: float | None
    process_cpu_peak: float | None
    process_rss_mean: float | None
    """Bytes."""
    process_rss_peak: float | None
    gpu_util_mean: float | None
    """Over all visible GPUs."""
    gpu_util_peak: float | None
    gpu_memory_mean: float | None
    """Bytes used, summed over the visible GPUs."""
    gpu_memory_peak: float | None
    device_memory_peak: float | None
    """The backend's own peak, bytes."""


def _mean_peak(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    present = [v for v in values if v is not None]
    if not present:
        return None, None
    return sum(present) / len(present), max(present)


def summarize(samples: Sequence[SystemSample]) -> SystemSummary:
    """Averages and peaks of ``samples``: what ``ktui runs show`` prints."""
    cpu = _mean_peak([s.process_cpu for s in samples])
    rss = _mean_peak([float(s.process_rss) if s.process_rss is not None else None for s in samples])
    util = _mean_peak([g.utilization for s in samples for g in s.gpus])
    gpu_mem = _mean_peak(
        [
            float(sum(g.memory_used for g in s.gpus if g.memory_used is not None))
            if any(g.memory_used is not None for g in s.gpus)
            else None
            for s in samples
        ]
    )
    device_peak = _mean_peak(
        [float(s.device_memory_peak) if s.device_memory_peak is not None else None for s in samples]
    )[1]
    return SystemSummary(
        samples=len(samples),
        process_cpu_mean=cpu[0],
        process_cpu_peak=cpu[1],
        process_rss_mean=rss[0],
        process_rss_peak=rss[1],
        gpu_util_mean=util[0],
        gpu_util_peak=util[1],
        gpu_memory_mean=gpu_mem[0],
        gpu_memory_peak=gpu_mem[1],
        device_memory_peak=device_peak,
    )


def compact_line(sample: SystemSample, *, note: bool = False) -> str:
    """One plain line for logs and the collapsed panel.

    ``CPU 187% | RSS 1.2 GiB | GPU0 93% 30.1/139.8 GiB | free 12.0/31.3 GiB``, or
    ``CPU 187% | RSS 1.2 GiB | no GPU | …`` (``note=True``: the whole reason, ``no GPU:
    NVML sees none``): plain ASCII, so it reads the same in a log file.
    """
    parts = []
    if sample.process_cpu is not None:
        parts.append(f"CPU {sample.process_cpu:.0f}%")
    if sample.process_rss is not None:
        parts.append(f"RSS {format_bytes(sample.process_rss)}")
    for gpu in sample.gpus:
        text = f"GPU{gpu.index}"
        if gpu.utilization is not None:
            text += f" {gpu.utilization:.0f}%"
        if gpu.memory_used is not None and gpu.memory_total is not None:
            text += f" {format_pair(gpu.memory_used, gpu.memory_total)}"
        parts.append(text)
    if not sample.gpus and sample.gpu_note:
        # the whole reason is long: said once (note=True), "no GPU" after that
        parts.append(sample.gpu_note if note else "no GPU")
    if sample.device_memory is not None:
        text = f"device {format_bytes(sample.device_memory)}"
        if sample.device_memory_peak is not None:
            text += f" (peak {format_bytes(sample.device_memory_peak)})"
        parts.append(text)
    # the machine's free memory last: the narrowest terminal cuts it first
    if sample.memory_available is not None and sample.memory_total is not None:
        parts.append(f"free {format_pair(sample.memory_available, sample.memory_total)}")
    return " | ".join(parts)


def format_bytes(value: float) -> str:
    """``512 MiB``, ``1.2 GiB``: memory in the unit people read it in."""
    if value >= 2**30:
        return f"{value / 2**30:.1f} GiB"
    return f"{value / 2**20:.0f} MiB"


def format_pair(used: float, total: float) -> str:
    """``12.0/31.3 GiB``: two amounts in the unit of the larger."""
    if total >= 2**30:
        return f"{used / 2**30:.1f}/{total / 2**30:.1f} GiB"
    return f"{used / 2**20:.0f}/{total / 2**20:.0f} MiB"


def parse_devices(text: str) -> str:
    """``--devices`` as the ``CUDA_VISIBLE_DEVICES`` value it means.

    ``0,1`` (GPU indices, as ``nvidia-smi`` numbers them) gives ``"0,1"``; ``cpu``
    gives ``"-1"`` (no GPU visible); ``all`` gives ``"all"``, for which callers leave
    the environment as it is. Raises ``ValueError`` saying what is wrong and what to
    write instead.
    """
    value = text.strip().lower()
    if value in ("all", ""):
        return "all"
    if value in ("cpu", "none"):
        return "-1"
    parts = [p.strip() for p in value.split(",")]
    if not all(p.isdigit() for p in parts):
        raise ValueError(
            f"--devices {text!r} is not a list of GPU numbers; write e.g. 0 or 0,1 "
            "(as nvidia-smi numbers them), all, or cpu"
        )
    if len(set(parts)) != len(parts):
        raise ValueError(f"--devices {text!r} names a GPU twice; write each number once")
    return ",".join(str(int(p)) for p in parts)


def devices_environment(devices: str | None) -> dict[str, str]:
    """The environment a run started with ``devices`` needs (empty for all GPUs)."""
    if devices is None:
        return {}
    value = parse_devices(devices)
    return {} if value == "all" else {"CUDA_VISIBLE_DEVICES": value}


def free_memory(devices: str | None = None) -> tuple[str, int | None]:
    """Where a run would train and how much memory is free there: the first visible
    GPU's free memory (NVML) — of ``devices`` when given (``0,1``; ``cpu``) — else the
    machine's available memory (psutil). ``("GPU0 (NVIDIA H200)", 151_000_000_000)``.
    """
    chosen = None if devices is None else parse_devices(devices)
    if chosen != "-1":
        indices = None if chosen in (None, "all") else [int(i) for i in chosen.split(",")]
        reader = GpuReader(indices=indices)
        try:
            gpus = reader.read()
        finally:
            reader.close()
        for gpu in gpus:
            if gpu.memory_total is not None and gpu.memory_used is not None:
                return f"GPU{gpu.index} ({gpu.name})", gpu.memory_total - gpu.memory_used
    try:
        import psutil

        return "this machine", int(psutil.virtual_memory().available)
    except Exception:  # noqa: BLE001 - unknown: the estimate is said alone
        return "this machine", None
