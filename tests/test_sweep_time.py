"""A sweep's time budget: read from ``30m``/``2h``/``1h30m``, kept in its settings, and
spent: the coordinator then starts no new trial (the budget becomes the trials begun)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from conftest import KtuiDirs, run_ktui

from ktui.cli import main
from ktui.cli.sweep import _time_is_up
from ktui.core.errors import KtuiError
from ktui.core.presets import Preset, load_catalog, shipped_presets_dir
from ktui.core.sweep import (
    SweepSettings,
    TrialRow,
    build_spec,
    eta_seconds,
    parse_duration,
    trial_progress,
)
from ktui.store import RunStore
from ktui.store.sweeps import SweepStore, leaderboard_rows


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30m", 1800.0), ("2h", 7200.0), ("1h30m", 5400.0), ("90s", 90.0), ("45", 2700.0),
     (" 1.5h ", 5400.0)],
)  # fmt: skip
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "5x", "m", "0", "-3m", "1h30"])
def test_bad_durations_say_what_they_expect(text: str) -> None:
    with pytest.raises(ValueError, match="time"):
        parse_duration(text)


def test_the_budget_is_kept_in_the_settings() -> None:
    settings = SweepSettings(trials=4, time_budget=600.0)
    assert SweepSettings.from_json(settings.to_json()) == settings
    assert "time_budget" not in SweepSettings(trials=4).to_json()  # older sweeps read as before
    assert SweepSettings.from_json({"trials": 4}).time_budget is None


def test_a_spent_budget_starts_no_new_trial(tmp_path: Path) -> None:
    preset = load_catalog([shipped_presets_dir()]).get("dummy_binary")
    spec = build_spec(preset, ["units=8,16"], trials=6, time_budget=60.0)
    with RunStore(tmp_path / "runs.sqlite") as runs:
        sweeps = SweepStore(runs)
        sweep_id = sweeps.create_sweep(spec)
        assert sweeps.claim_trial(sweep_id) is not None  # two trials began
        assert sweeps.claim_trial(sweep_id) is not None
        out = io.StringIO()
        sweep = sweeps.get(sweep_id)
        assert not _time_is_up(sweeps, sweep, out)  # in time
        with runs._write("age the sweep") as db:
            db.execute("UPDATE sweeps SET created_at = created_at - 61 WHERE id = ?", (sweep_id,))
        sweep = sweeps.get(sweep_id)
        assert _time_is_up(sweeps, sweep, out)
        assert "time budget 1m00s spent after 2 trials: no new trials" in out.getvalue()
        after = sweeps.get(sweep_id)
        assert after.settings.trials == 2 and after.settings.time_budget == 60.0
        assert sweeps.claim_trial(sweep_id) is None  # no slot is left for a worker
        changes = [text for _, text in sweeps.changes(sweep_id)]
        assert changes[-2:] == ["time budget 1m00s spent", "trials 6 → 2"]


def test_the_command_line_refuses_a_bad_time(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["sweep", "dummy_binary", "--param", "units=8,16", "--time", "soon"])
    assert exited.value.code == 2
    assert "--time: expected a time such as 30m, 2h, 1h30m or 90s" in capsys.readouterr().err


# --------------------------------------------------------------------------- time only
def _dummy() -> Preset:
    return load_catalog([shipped_presets_dir()]).get("dummy_binary")


def test_a_time_budget_without_trials_is_a_time_only_sweep() -> None:
    spec = build_spec(_dummy(), ["units=8,16"], trials=None, time_budget=600.0, workers=3)
    assert spec.settings.trials is None and spec.settings.workers == 3
    assert SweepSettings.from_json(spec.settings.to_json()) == spec.settings
    with pytest.raises(KtuiError, match="a number of trials or a time budget"):
        build_spec(_dummy(), ["units=8,16"], trials=None)
    # A grid has its own end: its size becomes the budget of trials.
    grid = build_spec(_dummy(), ["units=8,16"], trials=None, time_budget=60.0, sampler="grid")
    assert grid.settings.trials == 2


def test_a_time_only_sweep_takes_trials_until_its_time_is_spent(tmp_path: Path) -> None:
    spec = build_spec(_dummy(), ["units=8,16"], trials=None, time_budget=60.0)
    with RunStore(tmp_path / "runs.sqlite") as runs:
        sweeps = SweepStore(runs)
        sweep_id = sweeps.create_sweep(spec)
        claims = [sweeps.claim_trial(sweep_id) for _ in range(5)]
        assert [c.number for c in claims if c is not None] == [1, 2, 3, 4, 5]
        sweep = sweeps.get(sweep_id)
        assert sweeps.free_slots(sweep) >= 1
        assert leaderboard_rows(sweep, sweeps.trials(sweep_id))[-1].number == 5  # none queued
        assert not sweeps.finish_if_done(sweep_id)  # time left (and trials going)
        for claim in claims:
            assert claim is not None
            sweeps.end_trial(claim, "finished", objective=0.5)
        assert not sweeps.finish_if_done(sweep_id)  # nothing going, but time is left
        with runs._write("age the sweep") as db:
            db.execute("UPDATE sweeps SET created_at = created_at - 61 WHERE id = ?", (sweep_id,))
        sweep = sweeps.get(sweep_id)
        assert sweeps.claim_trial(sweep_id) is None  # a worker's claim sees the time spent
        assert sweeps.free_slots(sweep) == 0
        out = io.StringIO()
        assert _time_is_up(sweeps, sweep, out)
        assert "spent after 5 trials" in out.getvalue()
        assert sweeps.get(sweep_id).settings.trials is None  # no count is made up
        assert sweeps.finish_if_done(sweep_id)
        assert sweeps.changes(sweep_id)[-1][1] == (
            "finished: its time budget was spent after 5 trials"
        )
        # More time: from now, since the budget is spent; the sweep waits for a resume.
        budget = sweeps.set_time(sweep_id, 600.0, add=True)
        assert 61 + 600 <= budget < 61 + 600 + 30
        after = sweeps.get(sweep_id)
        assert after.status == "paused" and "more time was added" in after.reason
        assert sweeps.changes(sweep_id)[-1][1].startswith("time budget 1m00s → 11m")


def test_the_eta_of_a_time_only_sweep_comes_from_its_time() -> None:
    rows = [
        TrialRow(number=1, state="finished", started_at=0.0, ended_at=10.0),
        TrialRow(number=2, state="running", started_at=10.0),
    ]
    # 100 s of the budget left, then the trial going at its end runs about one more.
    assert eta_seconds(rows, None, 1, now=15.0, deadline=115.0) == pytest.approx(110.0)
    # With a count too: whichever ends first (here the 3 trials: 5 + 10 s).
    assert eta_seconds(rows, 3, 1, now=15.0, deadline=115.0) == pytest.approx(15.0)
    assert trial_progress(7, None) == "trial 7" and trial_progress(7, 20) == "trial 7 of 20"


def test_sweeps_change_time_sets_or_adds(ktui_dirs: KtuiDirs) -> None:
    store = ktui_dirs.data / "runs.sqlite"
    spec = build_spec(_dummy(), ["units=8,16"], trials=4, time_budget=600.0)
    with RunStore(store) as runs:
        sweep_id = SweepStore(runs).create_sweep(spec)
    added = run_ktui("sweeps", "change", str(sweep_id), "--time", "+5m")
    assert added.returncode == 0, added.stderr
    assert "time budget 10m00s → 15m00s from its start" in added.stdout
    set_ = run_ktui("sweeps", "change", str(sweep_id), "--time", "2h")
    assert "15m00s → 2h00m" in set_.stdout
    bad = run_ktui("sweeps", "change", str(sweep_id), "--time", "+soon")
    assert bad.returncode == 2 and "--time +soon: expected a time" in bad.stderr
    with RunStore(store) as runs:
        assert SweepStore(runs).get(sweep_id).settings.time_budget == 7200.0


def test_a_time_only_sweep_end_to_end(ktui_dirs: KtuiDirs) -> None:
    """`ktui sweep --time` without --trials: real trials of dummy_binary until the time
    is spent, then the sweep finishes; the leaderboard says "trial N", with no "of"."""
    result = run_ktui(
        "sweep", "dummy_binary", "--param", "units=8,16", "--set", "epochs=1",
        "--time", "30s", "--workers", "1", "--sampler", "random", "--pruner", "none",
        timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr + result.stdout
    out = result.stdout
    assert "trials until the time is spent" in out
    with RunStore(ktui_dirs.data / "runs.sqlite") as runs:
        sweeps = SweepStore(runs)
        (sweep,) = sweeps.all()
        trials = sweeps.trials(sweep.id)
        assert sweep.status == "finished" and sweep.settings.trials is None
        assert trials and all(t.state == "finished" for t in trials)
        assert [t.number for t in trials] == list(range(1, len(trials) + 1))
        # Said by the coordinator, or by the worker that took no trial after it.
        assert (
            f"finished: its time budget was spent after {len(trials)} "
            f"trial{'s' if len(trials) != 1 else ''}"
        ) in [text for _, text in sweeps.changes(sweep.id)]
        deadline = sweep.created_at + 30
        assert all(t.started_at is not None and t.started_at < deadline for t in trials)
        assert out.count("started as run") == len(trials)
        assert f"trial {len(trials)} · best loss" in out
        assert f"trial {len(trials)} of" not in out
        for trial in trials:  # each an ordinary run
            assert trial.run_id is not None
            assert runs.get_run(trial.run_id).status == "finished"
