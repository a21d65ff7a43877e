"""Re-run planning: one planner for the training screen, the history and the command line.

A re-run gets the same values, the data source exactly as typed, the same seed, and
says what it could not keep.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import make_app, wait_for
from fakes import FakeTrainer

from ktui.app import KtuiApp
from ktui.core.events import ModelSummary, RunFinished, RunStarted
from ktui.core.presets import RunConfig, load_catalog, shipped_presets_dir
from ktui.core.rerun import plan_config, plan_rerun
from ktui.screens.runs import RunsScreen
from ktui.screens.training import TrainingScreen
from ktui.store import RunRecorder, RunStore

CATALOG = load_catalog([shipped_presets_dir()])
PRESETS = CATALOG.presets


def test_a_plan_keeps_values_the_typed_data_source_and_the_seed(tmp_path: Path) -> None:
    npz = str(tmp_path / "digits.npz")
    plan = plan_rerun(
        PRESETS,
        "mnist_mlp",
        {"units": 32, "epochs": 1, "momentum": 0.9, "batch_size": 99_999},
        data_source=npz,
        data="a description that is not read",
        seed=11,
    )
    assert plan.values == {"units": 32, "epochs": 1}
    assert plan.data == npz and plan.seed == 11
    assert plan.dropped == ("momentum", "batch_size")
    notes = " ".join(plan.notes)
    assert "no longer has momentum" in notes and "batch_size=99999 is no longer valid" in notes
    assert "seed is now 7" in notes
    config = plan.config()
    assert config.seed == 11 and config.source_text == npz and config.values["units"] == 32
    # The preset's own source is no override; a run started here loses nothing.
    own = plan_rerun(PRESETS, "mnist_mlp", {}, data_source="mnist", seed=7)
    assert own.data is None and own.notes == ()
    started = PRESETS["mnist_mlp"].resolve({"units": 64}, data=npz)
    again = plan_config(started).config()
    assert (again.values, again.source_text, again.seed) == (started.values, npz, 7)


def test_runs_recorded_before_the_source_was_kept_are_read_back_from_the_description() -> None:
    plan = plan_rerun(PRESETS, "mnist_mlp", {}, data="Fashion-MNIST")
    assert plan.data == "fashion_mnist"


def test_a_missing_preset_is_refused_with_a_message() -> None:
    with pytest.raises(Exception, match="preset gone is no longer available"):
        plan_rerun(PRESETS, "gone", {})


def notices(app: KtuiApp) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


def recorded_run(store: RunStore, npz: Path) -> int:
    """A finished mnist_mlp run on a .npz typed as --data, with a value the preset lost."""
    config = PRESETS["mnist_mlp"].resolve({"units": 32, "epochs": 1}, data=str(npz))
    recorder = RunRecorder.for_config(store, config)
    values = {**config.values, "momentum": 0.9}  # a hyperparameter the preset no longer has
    store.set_details(recorder.run_id, values=values)
    summary = ModelSummary((), 10, 10)
    recorder(
        RunStarted("mnist_mlp", values, summary, 64, 32, 32, 200, 1, 1, "CPU", str(npz), seed=11)
    )
    recorder(RunFinished("finished", 1, 1.0, test_loss=0.5, test_accuracy=0.5))
    return recorder.run_id


async def test_the_training_screen_and_the_history_plan_the_same_rerun(
    tmp_path: Path, tiny_mnist_npz: Callable[..., Path]
) -> None:
    npz = tiny_mnist_npz(tmp_path / "typed" / "digits.npz")
    store = RunStore(tmp_path / "runs.sqlite")
    run_id = recorded_run(store, npz)
    trainer = FakeTrainer()
    app = make_app(trainer, store=store, catalog=CATALOG)
    configs: list[RunConfig] = []
    async with app.run_test(size=(120, 40)) as pilot:
        # From the history.
        await pilot.press("h")  # the history, from the preset screen
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
        runs = app.screen
        assert isinstance(runs, RunsScreen)
        await wait_for(pilot, lambda: bool(runs.runs) and runs.loaded)
        await pilot.pause()
        await pilot.press("r")
        await wait_for(pilot, lambda: len(trainer.runs) == 1)
        assert "no longer has momentum" in notices(app)
        app.clear_notifications()
        training = app.screen
        assert isinstance(training, TrainingScreen)
        await wait_for(pilot, lambda: not training.running)
        # From the training screen of the recorded run (as `ktui attach` shows it).
        attached = TrainingScreen(None, attach=run_id)
        app.push_screen(attached)
        await wait_for(pilot, lambda: app.screen is attached and not attached.running)
        await pilot.press("r")
        await wait_for(pilot, lambda: len(trainer.runs) == 2)
        assert "no longer has momentum" in notices(app)
        configs = list(trainer.runs)
    store.close()
    first, second = configs
    for config in configs:
        assert config.values == {**PRESETS["mnist_mlp"].defaults(), "units": 32, "epochs": 1}
        assert config.source_text == str(npz) and config.data.path == npz
        assert config.seed == 11
    assert (first.values, first.data, first.seed) == (second.values, second.data, second.seed)
