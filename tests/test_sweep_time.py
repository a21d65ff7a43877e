"""A sweep's time budget: read from ``30m``/``2h``/``1h30m``, kept in its settings, and
spent: the coordinator then starts no new trial (the budget becomes the trials begun)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from ktui.cli import main
from ktui.cli.sweep import _time_is_up
from ktui.core.presets import load_catalog, shipped_presets_dir
from ktui.core.sweep import SweepSettings, build_spec, parse_duration
from ktui.store import RunStore
from ktui.store.sweeps import SweepStore


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
