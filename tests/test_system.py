"""The system sampler (ktui.core.system) with real psutil, and NVML through a fake module."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest

from ktui.core import system
from ktui.core.system import GpuReader, SystemSampler, compact_line, summarize


class FakeNvml:
    """The part of pynvml the reader uses, for two GPUs."""

    NVML_TEMPERATURE_GPU = 0

    def __init__(self, count: int = 2, fail_init: Exception | None = None) -> None:
        self.count = count
        self.fail_init = fail_init
        self.shutdowns = 0

    def nvmlInit(self) -> None:  # noqa: N802 - pynvml's names
        if self.fail_init is not None:
            raise self.fail_init

    def nvmlShutdown(self) -> None:  # noqa: N802
        self.shutdowns += 1

    def nvmlDeviceGetCount(self) -> int:  # noqa: N802
        return self.count

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:  # noqa: N802
        return index

    def nvmlDeviceGetName(self, handle: int) -> bytes:  # noqa: N802
        return b"NVIDIA H200"

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> Any:  # noqa: N802
        return SimpleNamespace(gpu=40 + handle, memory=10)

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> Any:  # noqa: N802
        return SimpleNamespace(used=(handle + 1) * 2**30, total=140 * 2**30, free=0)

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:  # noqa: N802
        return 350_500  # milliwatts

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:  # noqa: N802
        raise RuntimeError("not supported")  # one figure missing must not lose the others


def test_a_sample_has_the_process_and_the_machine_from_psutil() -> None:
    got: list[system.SystemSample] = []
    first = threading.Event()

    def listener(sample: system.SystemSample) -> None:
        got.append(sample)
        first.set()

    sampler = SystemSampler(interval=5.0, gpus=GpuReader(FakeNvml(count=0)))
    sampler.add_listener(listener)
    sampler.start()
    try:
        # Busy until the thread's first sample (a quarter second after the start): the
        # process's CPU % is measured over that time.
        deadline = time.perf_counter() + 10
        while not first.is_set() and time.perf_counter() < deadline:
            pass
    finally:
        sampler.stop()
    sample = got[0]
    assert sample.process_rss is not None and sample.process_rss > 10 * 2**20
    assert sample.process_cpu is not None and sample.process_cpu > 10
    assert sample.machine_cpu is not None and 0 <= sample.machine_cpu <= 100
    assert sample.memory_total is not None and sample.memory_available is not None
    assert 0 < sample.memory_available <= sample.memory_total
    assert sample.gpus == () and sample.gpu_note == "no GPU: NVML sees none"


def test_the_thread_samples_at_its_interval_and_calls_listeners_off_the_caller() -> None:
    seen: list[tuple[str, float]] = []
    got_three = threading.Event()

    def listener(sample: system.SystemSample) -> None:
        seen.append((threading.current_thread().name, sample.time))
        if len(seen) >= 3:
            got_three.set()

    sampler = SystemSampler(interval=0.05, gpus=GpuReader(FakeNvml(count=0)))
    sampler.add_listener(listener)
    with sampler:
        assert got_three.wait(5)
    assert not sampler.running
    assert {name for name, _ in seen} == {"ktui-system"}
    times = [t for _, t in seen]
    assert times == sorted(times)
    assert sampler.history()[-1].time >= times[2]
    # the sampler counts its own cost: a few samples are milliseconds, not seconds
    assert 0 < sampler.cpu_seconds < 0.5


def test_a_failing_listener_is_dropped_and_said_once_and_others_go_on() -> None:
    errors: list[str] = []
    good: list[float] = []
    done = threading.Event()

    def bad(sample: system.SystemSample) -> None:
        raise ValueError("boom")

    def fine(sample: system.SystemSample) -> None:
        good.append(sample.time)
        if len(good) >= 3:
            done.set()

    sampler = SystemSampler(
        interval=0.02, gpus=GpuReader(FakeNvml(count=0)), on_error=errors.append
    )
    sampler.add_listener(bad)
    sampler.add_listener(fine)
    with sampler:
        assert done.wait(5)
    assert errors == ["System figures stopped for one reader: ValueError: boom"]


def test_gpus_through_nvml_each_figure_on_its_own() -> None:
    nvml = FakeNvml(count=2)
    reader = GpuReader(nvml)
    assert reader.note is None and reader.names == ["NVIDIA H200", "NVIDIA H200"]
    first, second = reader.read()
    assert (first.index, first.utilization, first.memory_used) == (0, 40.0, 2**30)
    assert second.memory_total == 140 * 2**30 and second.power_watts == pytest.approx(350.5)
    assert first.temperature_c is None  # NVML refused it; the rest is kept
    reader.close()
    assert nvml.shutdowns == 1 and reader.read() == ()


def test_cuda_visible_devices_chooses_which_gpus_are_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert [g.index for g in GpuReader(FakeNvml(count=2)).read()] == [1]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    reader = GpuReader(FakeNvml(count=2))
    assert reader.read() == () and reader.note == "no GPU: none of CUDA_VISIBLE_DEVICES=3 exists"
    assert system.visible_gpu_indices({"CUDA_VISIBLE_DEVICES": "0,2,-1,3"}) == [0, 2]
    assert system.visible_gpu_indices({"CUDA_VISIBLE_DEVICES": "GPU-1234"}) is None
    assert system.visible_gpu_indices({}) is None


def test_without_a_driver_the_note_says_so_in_one_line() -> None:
    class LibraryNotFound(Exception):
        pass

    reader = GpuReader(FakeNvml(fail_init=LibraryNotFound("NVML Shared Library Not Found")))
    assert reader.read() == ()
    assert reader.note == "no GPU: NVML cannot start (no NVIDIA driver library on this machine)"


def test_without_nvidia_ml_py_the_note_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_pynvml(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "pynvml":
            raise ImportError("No module named 'pynvml'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pynvml)
    reader = GpuReader()
    assert reader.note is not None and "pip install 'ktui[nvml]'" in reader.note


def test_backend_device_memory_comes_from_the_hook_and_a_failing_hook_costs_only_it() -> None:
    sampler = SystemSampler(gpus=GpuReader(FakeNvml(count=1)), device_memory=lambda: (5, 9))
    sampler.start()
    sample = sampler.sample()
    sampler.stop()
    assert (sample.device_memory, sample.device_memory_peak) == (5, 9)
    assert sample.gpus[0].name == "NVIDIA H200"

    def broken() -> tuple[int, int]:
        raise RuntimeError("no device")

    sampler = SystemSampler(gpus=GpuReader(FakeNvml(count=0)), device_memory=broken)
    sampler.start()
    sample = sampler.sample()
    sampler.stop()
    assert sample.device_memory is None and sample.process_rss is not None


def test_summary_and_compact_line() -> None:
    gpu = system.GpuSample(0, "NVIDIA H200", 50.0, 2 * 2**30, 140 * 2**30, 300.0, 60.0)
    samples = [
        system.SystemSample(1.0, 100.0, 2**30, 50.0, 8 * 2**30, 16 * 2**30, (gpu,)),
        system.SystemSample(
            2.0, 300.0, 3 * 2**30, 70.0, 8 * 2**30, 16 * 2**30,
            (system.GpuSample(0, "NVIDIA H200", 90.0, 4 * 2**30, 140 * 2**30, None, None),),
            device_memory=2**30, device_memory_peak=3 * 2**30,
        ),
    ]
    summary = summarize(samples)
    assert (summary.process_cpu_mean, summary.process_cpu_peak) == (200.0, 300.0)
    assert summary.process_rss_peak == 3 * 2**30
    assert (summary.gpu_util_mean, summary.gpu_util_peak) == (70.0, 90.0)
    assert (summary.gpu_memory_mean, summary.gpu_memory_peak) == (3 * 2**30, 4 * 2**30)
    assert summary.device_memory_peak == 3 * 2**30
    assert compact_line(samples[1]) == (
        "CPU 300% | RSS 3.0 GiB | GPU0 90% 4.0/140.0 GiB | device 1.0 GiB (peak 3.0 GiB)"
        " | free 8.0/16.0 GiB"
    )
    empty = summarize([])
    assert empty.samples == 0 and empty.process_cpu_mean is None
    bare = system.SystemSample(0.0, None, None, None, None, None, gpu_note="no GPU")
    assert compact_line(bare) == "no GPU"


def test_the_sampler_never_imports_keras_or_textual() -> None:
    from conftest import run_python

    result = run_python(
        "import sys, ktui.core.system\n"
        "print(sorted(m for m in ('keras','tensorflow','textual') if m in sys.modules))"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_devices_are_parsed_into_cuda_visible_devices() -> None:
    assert system.parse_devices("0,1") == "0,1"
    assert system.parse_devices(" 1 ") == "1"
    assert system.parse_devices("cpu") == "-1"
    assert system.parse_devices("all") == "all"
    assert system.devices_environment("0, 2") == {"CUDA_VISIBLE_DEVICES": "0,2"}
    assert system.devices_environment("all") == {} and system.devices_environment(None) == {}
    with pytest.raises(ValueError, match="not a list of GPU numbers; write e.g. 0 or 0,1"):
        system.parse_devices("gpu0")
    with pytest.raises(ValueError, match="names a GPU twice"):
        system.parse_devices("1,1")
