"""The report of a sweep (``ktui report --sweep ID``) with the importance and parallel
coordinates of ``ktui.core.sweep_insight``, and the system figures in a run's report.

Sweeps are recorded through the store's API (tests/sweep_data.py); importance is
Optuna's own computation, checked against a direct call to Optuna over the same trials.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_ktui
from sweep_data import fill_sweep
from test_report import assert_self_contained, parse

from ktui.core.presets import Preset, load_catalog, shipped_presets_dir
from ktui.core.sweep import TrialRow, build_spec, rank
from ktui.core.sweep_insight import importances
from ktui.core.system import SystemSampler
from ktui.report import write_report, write_sweep_report
from ktui.store import RunStore
from ktui.store.sweeps import SweepStore, leaderboard_rows

pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install 'ktui[report]')")


@pytest.fixture
def preset() -> Preset:
    return load_catalog([shipped_presets_dir()]).get("dummy_binary")


@pytest.fixture
def swept(tmp_path: Path, preset: Preset) -> Iterator[tuple[RunStore, int]]:
    """A finished 12-trial sweep: finished, pruned and failed trials."""
    store = RunStore(tmp_path / "runs.sqlite")
    sweep_id = fill_sweep(store, preset, 12)
    yield store, sweep_id
    store.close()


def _svg_of(html: str, marker: str) -> str:
    match = re.search(rf'{marker}">\s*(<svg.*?</svg>)', html, re.S)
    assert match, marker
    return match.group(1)


def test_the_report_of_a_sweep(swept: tuple[RunStore, int], tmp_path: Path) -> None:
    pytest.importorskip("optuna", reason="optuna is not installed (pip install 'ktui[sweep]')")
    store, sweep_id = swept
    out = tmp_path / "sweep.html"
    result = run_ktui(
        "--store", str(store.path), "report", "--sweep", str(sweep_id), "-o", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert f"Wrote the report of sweep {sweep_id} to {out}" in result.stdout
    html = out.read_text(encoding="utf-8")
    parsed = parse(html)
    assert_self_contained(parsed, html)
    words = parsed.words
    sweeps = SweepStore(store)
    sweep = sweeps.get(sweep_id)
    ranked = rank(leaderboard_rows(sweep, sweeps.trials(sweep_id)), "minimize")
    assert f"Sweep {sweep_id} — dummy_binary" in words

    # The leaderboard: every trial in rank order, its state, parameters and prune reason.
    table = html.split('<table class="leaderboard">', 1)[1].split("</table>", 1)[0]
    body_rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table.split("<tbody>", 1)[1], re.S)
    assert len(body_rows) == 12
    for cells_html, trial in zip(body_rows, ranked, strict=True):
        cells = re.findall(r"<td>(.*?)</td>", cells_html)
        assert cells[1] == str(trial.number) and cells[2] == trial.state
        assert cells[6] == str(trial.params["units"])
        if trial.state == "pruned":
            assert "worse than the median" in cells[-1]
    best = ranked[0]
    assert best.state == "finished"
    assert f"trial {best.number} (run {best.run_id})" in words

    # Importance: Optuna's own figures over the finished trials, and the evaluator named.
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    study = optuna.create_study(direction="minimize")
    dists = {
        "units": CategoricalDistribution([8, 16, 32]),
        "learning_rate": FloatDistribution(1e-4, 1e-2, log=True),
    }
    done = [t for t in ranked if t.state == "finished"]
    for trial in done:
        study.add_trial(
            optuna.trial.create_trial(
                params=trial.params, distributions=dists, value=trial.objective
            )
        )
    expected = optuna.importance.get_param_importances(
        study, evaluator=optuna.importance.PedAnovaImportanceEvaluator()
    )
    for name, share in expected.items():
        assert f"{name} {share:.1%}" in words
    assert "the PED-ANOVA evaluator (PedAnovaImportanceEvaluator)" in words
    assert f"over the {len(done)} finished trials" in words

    # The charts: importance, parallel coordinates, the best trial's curves.
    assert parsed.figures == ["loss", "accuracy"]
    assert len(parsed.svgs) == 2 + len(parsed.figures)
    importance_svg = _svg_of(html, 'data-chart="importance')
    for name in expected:
        assert name in importance_svg
    parallel_svg = _svg_of(html, 'data-chart="parallel')
    for axis in ("units", "learning_rate", "loss"):
        assert f">{axis}<" in parallel_svg
    # One line per trial that ended with an objective (finished, pruned; not the failed).
    drawn = sorted(
        t.number for t in ranked if t.objective is not None and t.state in ("finished", "pruned")
    )
    lines = sorted(int(n) for n in re.findall(r'<g id="trial-(\d+)">', parallel_svg))
    assert lines == drawn


def test_a_sweep_report_as_markdown(swept: tuple[RunStore, int], tmp_path: Path) -> None:
    pytest.importorskip("optuna", reason="optuna is not installed (pip install 'ktui[sweep]')")
    store, sweep_id = swept
    out = write_sweep_report(store, sweep_id, tmp_path / "sweep.md", "md")
    text = out.read_text(encoding="utf-8")
    files = tmp_path / "sweep_files"
    for name in ("importance.png", "parallel.png", "best-loss.png", "best-accuracy.png"):
        assert f"(sweep_files/{name})" in text
        assert (files / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    board = text.split("## Leaderboard", 1)[1].split("## Importance", 1)[0]
    assert board.count("| finished |") == 8 and board.count("| pruned |") == 3


def test_a_sweep_with_nothing_finished_says_what_is_missing(tmp_path: Path, preset: Preset) -> None:
    spec = build_spec(preset, ["units=8,16"], [], trials=3, workers=1)
    with RunStore(tmp_path / "runs.sqlite") as store:
        sweep_id = SweepStore(store).create_sweep(spec)
        out = write_sweep_report(store, sweep_id, tmp_path / "empty.html")
    words = parse(out.read_text(encoding="utf-8")).words
    assert "No importance: importance needs at least 3 finished trials; this sweep has 0." in words
    assert "No trial reached an objective yet." in words
    assert "No trial has finished yet, so there is no best trial." in words
    assert "3 (3 queued)" in words  # the trials line
    assert words.count("queued") == 4  # and one leaderboard row each


def test_bad_sweep_arguments_are_messages(swept: tuple[RunStore, int]) -> None:
    store, _ = swept
    result = run_ktui("--store", str(store.path), "report", "--sweep", "9")
    assert result.returncode == 2
    assert "no sweep 9 in" in result.stderr and "Traceback" not in result.stderr
    result = run_ktui("--store", str(store.path), "report", "1", "--sweep", "1")
    assert result.returncode == 2 and "run ids or --sweep, not both" in result.stderr


# --------------------------------------------------------------------------- core


def _rows(preset: Preset, objective: object) -> tuple[list[TrialRow], object]:
    spec = build_spec(
        preset, ["units=8,16,32", "learning_rate=1e-4..1e-2:log"], [], trials=30, workers=1
    )
    rows = []
    for n in range(30):
        units = (8, 16, 32)[n % 3]
        lr = 10 ** (-4 + 2 * ((n * 7) % 30) / 29)
        rows.append(
            TrialRow(
                number=n + 1,
                state="finished",
                params={"units": units, "learning_rate": lr},
                objective=objective(units, lr),  # type: ignore[operator]
            )
        )
    return rows, spec


def test_importance_finds_the_parameter_that_matters(preset: Preset) -> None:
    pytest.importorskip("optuna", reason="optuna is not installed (pip install 'ktui[sweep]')")
    # The objective depends on the learning rate only: it must come out far ahead.
    rows, spec = _rows(preset, lambda units, lr: abs(math.log10(lr) + 3))
    values = importances(rows, spec.params, "minimize")  # type: ignore[attr-defined]
    assert set(values) == {"units", "learning_rate"}
    assert values["learning_rate"] > 0.8 > values["units"]
    assert math.isclose(sum(values.values()), 1.0)
    # And the other way round.
    rows, spec = _rows(preset, lambda units, lr: float(units))
    assert importances(rows, spec.params, "minimize")["units"] > 0.8  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- system


def test_system_figures_in_a_run_report(tmp_path: Path) -> None:
    from ktui.core.input_bound import EpochTiming
    from ktui.store.system import record_samples, record_timing

    # Real psutil readings of this process, a few apart.
    sampler = SystemSampler(interval=0.05)
    sampler.start()
    try:
        samples = [sampler.sample() for _ in range(3)]
    finally:
        sampler.stop()
    assert all(s.process_cpu is not None and s.process_rss for s in samples)
    with RunStore(tmp_path / "runs.sqlite") as store:
        run_id = store.create_run("dummy_binary", values={}, epochs=2)
        store.add_epoch(run_id, 1, {"loss": 0.7})
        store.add_epoch(run_id, 2, {"loss": 0.6})
        record_samples(store, run_id, samples)
        record_timing(store, run_id, EpochTiming(1, 10, compute=0.6, between=0.4))
        record_timing(store, run_id, EpochTiming(2, 10, compute=0.9, between=0.1))
        store.finish_run(run_id)
        html = write_report(store, [run_id], tmp_path / "r.html").read_text(encoding="utf-8")
        other = store.create_run("dummy_binary", values={}, epochs=1)
        store.add_epoch(other, 1, {"loss": 0.7})
        plain = write_report(store, [other], tmp_path / "p.html").read_text(encoding="utf-8")
    parsed = parse(html)
    assert_self_contained(parsed, html)
    words = parsed.words
    assert "System" in words and "(the training process; 100% is one core)" in words
    assert "samples 3" in words
    assert "waiting for data 40%, 10% of step time per epoch" in words
    assert "input-bound" not in words.split("waiting for data", 1)[1].split("input", 1)[0]
    kinds = re.findall(r'<figure class="system" data-figure="([^"]+)">', html)
    # No GPU on the samples (whatever NVML says here): CPU, memory and the wait only.
    if not any(s.gpus for s in samples):
        assert kinds == ["cpu", "memory", "waiting"]
    waiting = _svg_of(html, 'data-figure="waiting')
    assert "waiting" in waiting and "computing" in waiting
    # A run that recorded no samples has no System section.
    assert "<h2>System</h2>" not in plain and 'class="system"' not in plain


def test_gpu_figures_in_a_run_report(tmp_path: Path) -> None:
    # NVML's figures as the sampler records them (this machine may have no GPU).
    from ktui.core.system import GpuSample, SystemSample
    from ktui.store.system import record_samples

    gib = 1024**3
    samples = [
        SystemSample(
            time=1000.0 + 1.5 * i,
            process_cpu=95.0,
            process_rss=2 * gib,
            machine_cpu=50.0,
            memory_available=20 * gib,
            memory_total=32 * gib,
            gpus=(GpuSample(0, "NVIDIA H200", 80.0 + i, (30 + i) * gib, 140 * gib, 400.0, 60.0),),
        )
        for i in range(4)
    ]
    with RunStore(tmp_path / "runs.sqlite") as store:
        run_id = store.create_run("dummy_binary", values={}, epochs=1)
        store.add_epoch(run_id, 1, {"loss": 0.7})
        record_samples(store, run_id, samples)
        html = write_report(store, [run_id], tmp_path / "r.html").read_text(encoding="utf-8")
    words = parse(html).words
    assert "GPU 82% average, 83% peak (NVIDIA H200)" in words
    kinds = re.findall(r'<figure class="system" data-figure="([^"]+)">', html)
    assert kinds == ["cpu", "memory", "gpu", "gpu-memory"]
    assert "GPU0 NVIDIA H200" in _svg_of(html, 'data-figure="gpu')
