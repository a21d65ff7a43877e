"""The sweep's spec: --param forms, and every mistake refused with where and what to do."""

from __future__ import annotations

import pytest

from ktui.cli import main, preset_folders
from ktui.core.errors import KtuiError
from ktui.core.presets import Preset, load_catalog
from ktui.core.sweep import (
    TrialRow,
    build_spec,
    direction_of,
    eta_seconds,
    parse_param,
    prune_reason,
    rank,
)


@pytest.fixture
def preset() -> Preset:
    return load_catalog(preset_folders()).get("dummy_binary")


def test_the_three_forms(preset: Preset) -> None:
    units = parse_param(preset, "units=64,128,256")
    assert (units.kind, units.values) == ("values", (64, 128, 256))
    lr = parse_param(preset, "learning_rate=1e-4..1e-2:log")
    assert (lr.kind, lr.low, lr.high, lr.log) == ("range", 1e-4, 1e-2, True)
    dropout = parse_param(preset, "dropout=0.1..0.5")
    assert (dropout.low, dropout.high, dropout.log) == (0.1, 0.5, False)
    epochs = parse_param(preset, "epochs=2..4")
    assert epochs.type == "int" and epochs.grid_points() == (2, 3, 4)
    assert parse_param(preset, "activation=relu,tanh").values == ("relu", "tanh")
    assert lr.describe() == "learning_rate=0.0001..0.01:log"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("dropout=0.5..0.1", "min 0.5 is not below its max 0.1"),
        ("dropout=0.3..0.3", "min 0.3 is not below its max 0.3"),
        ("learning_rate=0..1e-2:log", "a number from 1e-07 to 10"),  # the preset's bound
        ("dropout=0..0.5:log", "a log range must stay above 0"),
        ("unitz=1,2", "has no hyperparameter 'unitz'"),
        ("units=64,abc", "'abc'"),
        ("units=1..99999", "its max"),  # above the preset's max 8192
        ("activation=relu..tanh", "has no range"),
        ("units", "expected NAME=VALUES"),
        ("dropout=0.1..0.5:cubic", "unknown scale"),
    ],
)
def test_bad_params_are_refused(preset: Preset, text: str, said: str) -> None:
    with pytest.raises(KtuiError) as caught:
        parse_param(preset, text)
    assert said in str(caught.value)
    assert f"--param {text!r}" in str(caught.value)


def test_unknown_name_suggests_the_close_one(preset: Preset) -> None:
    with pytest.raises(KtuiError) as caught:
        parse_param(preset, "unitz=1,2")
    assert "Did you mean 'units'?" in str(caught.value)


def test_a_grid_larger_than_the_budget_offers_random(preset: Preset) -> None:
    with pytest.raises(KtuiError) as caught:
        build_spec(preset, ["units=8,16,32", "epochs=1..3"], trials=4, sampler="grid")
    text = str(caught.value)
    assert "the grid has 9 combinations but --trials is 4" in text
    assert "--sampler random" in text and "Raise --trials to 9" in text
    ok = build_spec(preset, ["units=8,16,32", "epochs=1..3"], trials=9, sampler="grid")
    assert ok.grid_size() == 9


def test_a_grid_of_a_float_range_is_refused(preset: Preset) -> None:
    with pytest.raises(KtuiError, match="has no grid"):
        build_spec(preset, ["dropout=0.1..0.5"], trials=4, sampler="grid")


def test_objective_and_fixed_values(preset: Preset) -> None:
    spec = build_spec(preset, ["units=8,16"], ["epochs=2"], trials=4, workers=8)
    # dummy_binary has no validation data: its default objective is the training loss.
    assert spec.settings.objective == "loss" and spec.settings.direction == "minimize"
    assert spec.fixed == {"epochs": 2} and spec.settings.workers == 4  # never more than trials
    with pytest.raises(KtuiError, match="does not validate"):
        build_spec(preset, ["units=8,16"], objective="val_loss")
    acc = build_spec(preset, ["units=8,16"], objective="accuracy")
    assert acc.settings.direction == "maximize"
    with pytest.raises(KtuiError, match="also swept"):
        build_spec(preset, ["units=8,16"], ["units=4"])
    with pytest.raises(KtuiError, match="at least one --param"):
        build_spec(preset, [])
    with pytest.raises(KtuiError, match="already given"):
        build_spec(preset, ["units=8", "units=16"])


def test_command_line_refuses_before_anything_trains(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["sweep", "dummy_binary", "--param", "dropout=0.5..0.1", "--trials", "4"])
    err = capsys.readouterr().err
    assert code == 2
    assert "--param 'dropout=0.5..0.1': the range's min 0.5 is not below its max 0.1" in err
    assert main(["sweeps"]) == 0  # and nothing was recorded
    assert "No sweeps yet" in capsys.readouterr().out


def test_ranking_eta_and_reasons() -> None:
    rows = [
        TrialRow(1, "finished", objective=0.5, started_at=0, ended_at=10),
        TrialRow(2, "finished", objective=0.3, started_at=0, ended_at=10),
        TrialRow(3, "pruned", objective=0.2, started_at=10, ended_at=15),
        TrialRow(4, "running", started_at=15),
        TrialRow(5, "queued"),
    ]
    assert [r.number for r in rank(rows, "minimize")] == [2, 1, 3, 4, 5]
    assert [r.number for r in rank(rows, "maximize")][:2] == [1, 2]
    # 3 ended in 25 s (mean 8.33 s); trial 4 has 3.33 s left at t=20, trial 5 waits.
    eta = eta_seconds(rows, trials=5, workers=1, now=20)
    assert eta == pytest.approx(25 / 3 - 5 + 25 / 3)
    assert direction_of("val_loss") == "minimize" and direction_of("val_auc") == "maximize"
    assert direction_of("val_mse") == "minimize"  # the metric policy knows Keras's names
    text = prune_reason("val_loss", 0.41, 3, [0.3, 0.37, 0.5, 0.2, 0.4], "median", "minimize")
    assert text == "val_loss 0.41 at epoch 3, worse than the median 0.37 of 5 trials"


def test_the_presets_own_objective_and_mode() -> None:
    from pathlib import Path

    from ktui.core.presets import loads

    text = (Path(__file__).parent.parent / "presets" / "dummy_binary.toml").read_text()
    text = text.replace('validation = "none"', 'validation = "none"\nmonitor = "accuracy"')
    preset = loads(text, name="watched")
    spec = build_spec(preset, ["units=8,16"])
    assert (spec.settings.objective, spec.settings.direction) == ("accuracy", "maximize")
    overridden = loads(text.replace('monitor = "accuracy"', 'monitor = "accuracy"\nmode = "min"'))
    assert build_spec(overridden, ["units=8,16"]).settings.direction == "minimize"
    # A person's --objective wins over the preset's monitor.
    assert build_spec(preset, ["units=8,16"], objective="loss").settings.objective == "loss"
