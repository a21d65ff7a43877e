"""``ktui runs show`` and ``ktui runs export`` with a run's system samples and step timings."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import pytest

from ktui.cli import main
from ktui.core.input_bound import EpochTiming
from ktui.core.system import GpuSample, SystemSample
from ktui.store import RunStore
from ktui.store.system import record_samples, record_timing

GIB = 2**30


def sample(cpu: float, rss_gib: float, util: float | None, gpu_gib: float) -> SystemSample:
    gpus = (
        (GpuSample(0, "NVIDIA H200", util, int(gpu_gib * GIB), 140 * GIB, 400.0, 60.0),)
        if util is not None
        else ()
    )
    return SystemSample(
        time.time(), cpu, int(rss_gib * GIB), 50.0, 8 * GIB, 16 * GIB, gpus,
        None if gpus else "no GPU: NVML sees none",
        device_memory=int(gpu_gib * GIB / 2) if gpus else None,
        device_memory_peak=int(gpu_gib * GIB / 2) if gpus else None,
    )


@pytest.fixture
def store_file(tmp_path: Path) -> tuple[Path, int, int]:
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as store:
        gpu_run = store.create_run("mnist_mlp", epochs=2)
        record_samples(store, gpu_run, [sample(100, 1.0, 40, 10), sample(300, 2.0, 60, 12)])
        store.add_epoch(gpu_run, 1, {"loss": 0.5})
        time.sleep(0.01)
        record_samples(store, gpu_run, [sample(200, 1.5, 90, 14)])
        store.add_epoch(gpu_run, 2, {"loss": 0.4})
        record_timing(store, gpu_run, EpochTiming(1, 10, 0.54, 0.3, 0.16))
        record_timing(store, gpu_run, EpochTiming(2, 10, 0.90, 0.1, 0.0))
        store.finish_run(gpu_run)
        cpu_run = store.create_run("mnist_mlp", epochs=1)
        record_samples(store, cpu_run, [sample(150, 1.0, None, 0)])
        store.add_epoch(cpu_run, 1, {"loss": 0.5})
        record_timing(store, cpu_run, EpochTiming(1, 10, 0.3, 0.0, 0.7))
        store.finish_run(cpu_run)
    return path, gpu_run, cpu_run


def ktui(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def test_show_prints_averages_peaks_and_the_wait_for_data(
    capsys: pytest.CaptureFixture[str], store_file: tuple[Path, int, int]
) -> None:
    path, gpu_run, cpu_run = store_file
    out = ktui(capsys, "--store", str(path), "runs", "show", str(gpu_run))
    section = out[out.index("System\n"):]
    assert "CPU               200% average, 300% peak (the training process" in section
    assert "memory            1.5 GiB average, 2.0 GiB peak (resident)" in section
    assert "GPU               63% average, 90% peak (NVIDIA H200)" in section
    assert "GPU memory        12.0 GiB average, 14.0 GiB peak" in section
    assert "model on device   7.0 GiB peak" in section
    assert "waiting for data  46%, 10% of step time per epoch" in section
    assert "input             not input-bound" in section  # the last epoch's verdict

    out = ktui(capsys, "--store", str(path), "runs", "show", str(cpu_run))
    assert "GPU               no GPU: NVML sees none" in out
    assert (
        "input             input-bound: 70 % of step time waiting for data; prefetch" in out
    )


def test_export_has_the_samples_and_per_epoch_columns(
    capsys: pytest.CaptureFixture[str], store_file: tuple[Path, int, int]
) -> None:
    path, gpu_run, _ = store_file
    rows = list(
        csv.DictReader(io.StringIO(ktui(capsys, "--store", str(path), "runs", "export",
                                        str(gpu_run))))
    )
    assert list(rows[0])[-3:] == ["cpu_percent", "gpu_percent", "waiting_for_data"]
    assert [float(r["cpu_percent"]) for r in rows] == [200.0, 200.0]
    assert [float(r["gpu_percent"]) for r in rows] == [50.0, 90.0]
    assert [round(float(r["waiting_for_data"]), 2) for r in rows] == [0.46, 0.1]

    document = json.loads(
        ktui(capsys, "--store", str(path), "runs", "export", str(gpu_run), "--format", "json")
    )
    system = document["system"]
    assert len(system["samples"]) == 3
    assert system["samples"][2]["gpus"][0]["name"] == "NVIDIA H200"
    assert system["summary"]["gpu_util_peak"] == 90.0
    assert system["step_timings"][0]["input_bound"] is True
    assert system["step_timings"][1]["waiting_share"] == pytest.approx(0.1)
