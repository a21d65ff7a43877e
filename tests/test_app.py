"""Pilot tests for every dashboard flow: pick → edit → start → finish, and steering a run."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from conftest import make_app as shared_make_app
from conftest import wait_for
from fakes import FakeTrainer
from textual.pilot import Pilot
from textual.widgets import Button, DataTable, Input, OptionList, RichLog, Static

from ktui.app import KtuiApp, create_app, keras_trainer
from ktui.core.presets import load, load_catalog, shipped_presets_dir
from ktui.core.trainer import Trainer
from ktui.screens.dialogs import AskDialog, ConfirmDialog
from ktui.screens.form import FormScreen
from ktui.screens.presets import PresetScreen
from ktui.screens.training import TrainingScreen
from ktui.store import RunStore


def make_app(
    tmp_path: Path,
    trainer: Trainer | None = None,
    folders: list[Path] | None = None,
    store: RunStore | None = None,
) -> KtuiApp:
    """The shared app, training with real Keras unless a trainer is given, saving
    presets under ``tmp_path``."""
    return shared_make_app(
        trainer,
        store=store,
        folders=folders,
        trainer_factory=keras_trainer if trainer is None else None,
        user_presets_dir=tmp_path / "user-presets",
    )


async def open_form(pilot: Pilot[int], preset: str = "dummy_binary") -> FormScreen:
    app = pilot.app
    assert isinstance(app.screen, PresetScreen)
    option_list = app.screen.query_one("#preset-list", OptionList)
    index = next(
        i
        for i in range(option_list.option_count)
        if option_list.get_option_at_index(i).id == f"preset:{preset}"
    )
    option_list.highlighted = index
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, FormScreen))
    assert isinstance(app.screen, FormScreen)
    return app.screen


async def set_field(pilot: Pilot[int], form: FormScreen, name: str, value: str) -> None:
    form.query_one(f"#hp-{name}", Input).value = value
    await pilot.pause()


async def start(pilot: Pilot[int]) -> TrainingScreen:
    await pilot.press("ctrl+r")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, TrainingScreen))
    assert isinstance(pilot.app.screen, TrainingScreen)
    return pilot.app.screen


def rows(screen: TrainingScreen) -> int:
    return screen.query_one("#epochs", DataTable).row_count


async def test_pick_edit_start_finish(tmp_path: Path) -> None:
    trainer = FakeTrainer()
    app = make_app(tmp_path, trainer)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot)
        await set_field(pilot, form, "epochs", "3")
        await set_field(pilot, form, "units", "32")
        training = await start(pilot)
        await wait_for(pilot, lambda: not training.running)
        assert rows(training) == 3
        assert trainer.runs[0].values["epochs"] == 3
        assert trainer.runs[0].values["units"] == 32
        result = str(training.query_one("#result", Static).render())
        assert "Test error: 1.84%" in result
        assert training.phase == "finished"
        log_text = "\n".join(str(line.text) for line in training.query_one("#log", RichLog).lines)
        assert "fake: TensorFlow would warn here" in log_text


async def test_invalid_value_blocks_start(tmp_path: Path) -> None:
    trainer = FakeTrainer()
    app = make_app(tmp_path, trainer)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot)
        await set_field(pilot, form, "batch_size", "abc")
        assert form.query_one("#start", Button).disabled
        error = str(form.query_one("#error-batch_size", Static).render())
        assert "whole number from 1 to 100000" in error
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert isinstance(app.screen, FormScreen)
        await set_field(pilot, form, "dropout", "1.5")
        await set_field(pilot, form, "batch_size", "100")
        assert form.query_one("#start", Button).disabled
        assert "0 to 0.95" in str(form.query_one("#error-dropout", Static).render())
        await set_field(pilot, form, "dropout", "0.25")
        assert not form.query_one("#start", Button).disabled
        assert trainer.runs == []


async def test_invalid_data_source_blocks_start(tmp_path: Path) -> None:
    app = make_app(tmp_path, FakeTrainer())
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot)
        form.query_one("#data-source", Input).value = str(tmp_path / "nothing.npz")
        await pilot.pause()
        assert form.query_one("#start", Button).disabled
        assert "does not exist" in str(form.query_one("#error-data", Static).render())
        form.query_one("#data-source", Input).value = "random"
        await pilot.pause()
        assert not form.query_one("#start", Button).disabled


async def test_derived_figures_follow_the_form(tmp_path: Path) -> None:
    app = make_app(tmp_path, FakeTrainer())
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot)
        await set_field(pilot, form, "batch_size", "300")
        await set_field(pilot, form, "epochs", "7")
        await wait_for(pilot, lambda: "1,409" in str(form.query_one("#derived", Static).render()))
        derived = str(form.query_one("#derived", Static).render())
        assert "Steps per epoch 4" in derived  # ceil(1000 / 300)
        assert "Total steps 28" in derived


async def test_reset_defaults(tmp_path: Path) -> None:
    app = make_app(tmp_path, FakeTrainer())
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot)
        await set_field(pilot, form, "units", "7")
        await set_field(pilot, form, "epochs", "zzz")
        await pilot.press("ctrl+d")
        await pilot.pause()
        assert form.query_one("#hp-units", Input).value == "64"
        assert form.values["units"] == 64
        assert not form.errors
        assert not form.query_one("#start", Button).disabled


async def test_save_as_new_preset(tmp_path: Path) -> None:
    app = make_app(tmp_path, FakeTrainer())
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot)
        await set_field(pilot, form, "units", "12")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, AskDialog))
        app.screen.query_one("#answer", Input).value = "tiny_dummy"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, FormScreen))
        saved = tmp_path / "user-presets" / "tiny_dummy.toml"
        assert saved.exists()
        preset = load(saved)
        assert preset.defaults()["units"] == 12
        assert "tiny_dummy" in app.catalog.presets


async def test_pause_and_resume(tmp_path: Path) -> None:
    gate = threading.Event()
    trainer = FakeTrainer(gate=gate, hold_after=1)
    app = make_app(tmp_path, trainer)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot)
        await set_field(pilot, form, "epochs", "4")
        training = await start(pilot)
        await wait_for(pilot, lambda: rows(training) == 1)
        await pilot.press("p")
        gate.set()
        await wait_for(pilot, lambda: training.phase == "paused")
        await pilot.pause(0.3)
        assert rows(training) == 1  # held: no batch runs while paused
        await pilot.press("p")
        await wait_for(pilot, lambda: not training.running)
        assert training.phase == "finished"
        assert rows(training) == 4


async def test_stop_asks_then_stops(tmp_path: Path) -> None:
    gate = threading.Event()
    trainer = FakeTrainer(gate=gate, hold_after=1)
    app = make_app(tmp_path, trainer)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot)
        await set_field(pilot, form, "epochs", "500")
        training = await start(pilot)
        await wait_for(pilot, lambda: rows(training) >= 1)
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("n")
        await pilot.pause(0.1)
        assert training.running
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        gate.set()
        await wait_for(pilot, lambda: not training.running)
        assert training.phase == "stopped"
        assert rows(training) == 1
        assert "Test error" in str(training.query_one("#result", Static).render())


async def test_change_learning_rate(tmp_path: Path) -> None:
    gate = threading.Event()
    trainer = FakeTrainer(gate=gate, hold_after=1)
    app = make_app(tmp_path, trainer)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot)
        await set_field(pilot, form, "epochs", "3")
        training = await start(pilot)
        await wait_for(pilot, lambda: rows(training) >= 1)
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, AskDialog))
        dialog = app.screen
        dialog.query_one("#answer", Input).value = "-1"
        await pilot.pause()
        assert dialog.query_one("#ok", Button).disabled
        dialog.query_one("#answer", Input).value = "0.05"
        await pilot.press("enter")
        gate.set()
        await wait_for(pilot, lambda: not training.running)
        assert trainer.learning_rates == [0.05]
        assert training.learning_rate == 0.05
        table = training.query_one("#epochs", DataTable)
        assert [table.get_row_at(i)[-2] for i in range(3)] == ["0.001", "0.05", "0.05"]


async def test_rerun_and_edit(tmp_path: Path) -> None:
    trainer = FakeTrainer()
    app = make_app(tmp_path, trainer)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot)
        await set_field(pilot, form, "epochs", "2")
        training = await start(pilot)
        await wait_for(pilot, lambda: not training.running)
        await pilot.press("r")
        await wait_for(pilot, lambda: app.screen is not training)
        second = app.screen
        assert isinstance(second, TrainingScreen)
        await wait_for(pilot, lambda: not second.running)
        assert len(trainer.runs) == 2
        assert trainer.runs[1].values == trainer.runs[0].values
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, FormScreen))
        assert app.screen.query_one("#hp-epochs", Input).value == "2"


async def test_quit_during_training_stops_the_run(tmp_path: Path) -> None:
    gate = threading.Event()
    trainer = FakeTrainer(gate=gate, hold_after=1)
    app = make_app(tmp_path, trainer)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot)
        await set_field(pilot, form, "epochs", "500")
        training = await start(pilot)
        await wait_for(pilot, lambda: rows(training) >= 1)
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: training.controls.stop_requested)
        gate.set()
    assert app.return_code == 0
    assert training.controls.stop_requested
    # The worker ran to its clean end: the fake reports a stopped run, not a killed thread.
    assert training.final is not None


async def test_failing_run_is_shown_and_app_stays_usable(tmp_path: Path) -> None:
    trainer = FakeTrainer(fail_at_epoch=2)
    app = make_app(tmp_path, trainer)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot)
        await set_field(pilot, form, "epochs", "5")
        training = await start(pilot)
        await wait_for(pilot, lambda: not training.running)
        assert training.phase == "failed"
        assert "fake failure" in str(training.query_one("#result", Static).render())
        log_text = "\n".join(str(line.text) for line in training.query_one("#log", RichLog).lines)
        assert "Traceback" in log_text
        assert rows(training) == 1
        trainer.fail_at_epoch = None
        await pilot.press("r")
        await wait_for(pilot, lambda: app.screen is not training)
        again = app.screen
        assert isinstance(again, TrainingScreen)
        await wait_for(pilot, lambda: not again.running)
        assert again.phase == "finished"


async def test_error_raised_by_the_trainer_becomes_a_failure(tmp_path: Path) -> None:
    class Exploding(FakeTrainer):
        def run(self, *args: object, **kwargs: object):  # type: ignore[override]
            raise MemoryError("out of memory while building the model")

    app = make_app(tmp_path, Exploding())
    async with app.run_test(size=(120, 40)) as pilot:
        await open_form(pilot)
        training = await start(pilot)
        await wait_for(pilot, lambda: not training.running)
        assert training.phase == "failed"
        assert "out of memory" in str(training.query_one("#result", Static).render())


async def test_broken_preset_is_listed_with_its_error(tmp_path: Path) -> None:
    folder = tmp_path / "presets"
    folder.mkdir()
    (folder / "good.toml").write_text(
        (shipped_presets_dir() / "dummy_binary.toml")
        .read_text()
        .replace('name = "dummy_binary"', 'name = "good"')
    )
    (folder / "broken.toml").write_text("name = 'broken'\n[data\nsource = 1\n")
    app = make_app(tmp_path, FakeTrainer(), folders=[folder])
    async with app.run_test(size=(120, 40)) as pilot:
        option_list = app.screen.query_one("#preset-list", OptionList)
        ids = [option_list.get_option_at_index(i).id for i in range(option_list.option_count)]
        assert "preset:good" in ids
        broken = ids.index(f"broken:{folder / 'broken.toml'}")
        option_list.highlighted = broken
        await pilot.pause()
        description = str(app.screen.query_one("#preset-description", Static).render())
        assert "broken.toml" in description and "not valid TOML" in description
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, PresetScreen)


async def test_back_during_run_asks_and_stops(tmp_path: Path) -> None:
    gate = threading.Event()
    trainer = FakeTrainer(gate=gate)
    app = make_app(tmp_path, trainer)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_form(pilot)
        training = await start(pilot)
        await wait_for(pilot, lambda: training.phase == "running")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        gate.set()
        await wait_for(pilot, lambda: isinstance(app.screen, FormScreen))
        assert training.controls.stop_requested


@pytest.mark.filterwarnings("ignore")
async def test_real_engine_trains_dummy_binary(tmp_path: Path) -> None:
    """The real Keras engine under the UI: two epochs give two rows of real numbers."""
    app = make_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot)
        await set_field(pilot, form, "epochs", "2")
        training = await start(pilot)
        await wait_for(pilot, lambda: not training.running, timeout=120)
        assert training.phase == "finished", training.final
        table = training.query_one("#epochs", DataTable)
        assert table.row_count == 2
        for index in range(2):
            row = table.get_row_at(index)
            assert row[0] == f"{index + 1}/2"
            loss = float(row[1])
            assert 0.0 < loss < 5.0
        assert training.started is not None
        assert training.started.model.total_params == 5569


async def test_screen_keys_are_in_the_command_palette(tmp_path: Path) -> None:
    gate = threading.Event()  # holds the run before its first epoch: it stays "running"
    trainer = FakeTrainer(gate=gate)
    app = make_app(tmp_path, trainer)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_form(pilot)
        training = await start(pilot)
        await wait_for(pilot, lambda: training.phase == "running")
        titles = [command.title for command in app.get_system_commands(training)]
        assert {"Pause/resume", "Stop", "Learning rate"} <= set(titles)
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        await pilot.press(*"pause")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: training.controls.paused)
        training.controls.stop()
        gate.set()
        await wait_for(pilot, lambda: not training.running)


async def test_runs_are_recorded_in_the_store(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    app = make_app(tmp_path, FakeTrainer(), store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot)
        await set_field(pilot, form, "epochs", "3")
        training = await start(pilot)
        await wait_for(pilot, lambda: not training.running)
        assert training.run_id is not None
        assert "run 1" in str(training.query_one("#status", Static).render())
    run = store.get_run(training.run_id)
    assert run.status == "finished"
    assert run.values["epochs"] == 3
    assert [e.epoch for e in store.epochs(run.id)] == [1, 2, 3]
    assert run.test_accuracy == pytest.approx(0.9816)
    assert any("TensorFlow would warn" in line for line in store.log(run.id))


def test_the_dashboard_loads_no_tensorflow_until_a_run() -> None:
    """The app, its screens and widgets import neither TensorFlow nor Keras."""
    import json
    import subprocess
    import sys

    code = (
        "import sys, json\n"
        "import ktui.app, ktui.screens.presets, ktui.screens.form, ktui.screens.training\n"
        "import ktui.screens.dialogs, ktui.widgets.metrics, ktui.cli.dashboard\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} "
        "& {'tensorflow', 'keras'})))\n"
    )
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


async def test_trainer_that_cannot_load_is_a_failed_run(tmp_path: Path) -> None:
    def no_tensorflow() -> Trainer:
        raise ImportError("libcudart.so.12: cannot open shared object file")

    store = RunStore(tmp_path / "runs.sqlite")
    app = create_app(
        load_catalog([shipped_presets_dir()]),
        trainer_factory=no_tensorflow,
        user_presets_dir=tmp_path,
        clock=lambda: 0.0,
        store=store,
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await open_form(pilot)
        training = await start(pilot)
        await wait_for(pilot, lambda: not training.running)
        assert training.phase == "failed"
        assert "libcudart" in str(training.query_one("#result", Static).render())
    assert training.run_id is not None
    run = store.get_run(training.run_id)
    assert run.status == "failed"
    assert "Keras could not be loaded" in (run.error or "")


async def test_hang_up_stops_the_run_and_records_it_interrupted(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    gate = threading.Event()
    trainer = FakeTrainer(gate=gate, hold_after=2)
    app = make_app(tmp_path, trainer, store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot)
        await set_field(pilot, form, "epochs", "50")
        training = await start(pilot)
        await wait_for(pilot, lambda: rows(training) == 2)
        app.hang_up()  # what the SIGHUP handler calls
        await wait_for(pilot, lambda: not training.running)
        await wait_for(pilot, lambda: app.return_value == 129)
    assert training.run_id is not None
    run = store.get_run(training.run_id)
    assert run.status == "interrupted"
    assert [e.epoch for e in store.epochs(run.id)] == [1, 2]


async def test_charts_follow_the_epochs_and_toggle(tmp_path: Path) -> None:
    from ktui.widgets.chart import MetricChart

    app = make_app(tmp_path, FakeTrainer())
    async with app.run_test(size=(140, 40)) as pilot:
        form = await open_form(pilot)
        await set_field(pilot, form, "epochs", "4")
        training = await start(pilot)
        await wait_for(pilot, lambda: not training.running)
        charts = training.query_one("#charts")
        assert charts.display  # wide terminal: beside the table
        loss = training.query_one("#chart-loss", MetricChart)
        assert list(loss.series["val_loss"].xs) == [1, 2, 3, 4]
        assert loss.series["loss"].ys[0] == pytest.approx(0.5)
        # Batch messages coalesce in the queue, so some of the 16 batches may be skipped.
        batch_xs = list(loss.series["loss (batch)"].xs)
        assert batch_xs and batch_xs == sorted(batch_xs) and 0 < batch_xs[0] <= batch_xs[-1] <= 4
        await pilot.press("y")
        assert loss.log_y
        await pilot.press("a")
        assert loss.smoothing
        await pilot.press("g")
        assert not charts.display


async def test_a_dashboard_run_obeys_commands_from_another_ktui(tmp_path: Path) -> None:
    from ktui.store.control import send_command

    store = RunStore(tmp_path / "runs.sqlite")
    gate = threading.Event()
    trainer = FakeTrainer(gate=gate, hold_after=1)
    app = make_app(tmp_path, trainer, store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot)
        await set_field(pilot, form, "epochs", "50")
        training = await start(pilot)
        await wait_for(pilot, lambda: rows(training) == 1)
        assert training.run_id is not None
        with RunStore(tmp_path / "runs.sqlite") as other:  # as another ktui would
            send_command(other, training.run_id, "learning_rate", 0.02)
            send_command(other, training.run_id, "stop")
        await wait_for(pilot, lambda: training.controls.stop_requested)
        gate.set()
        await wait_for(pilot, lambda: not training.running)
    assert training.phase == "stopped"
    assert store.get_run(training.run_id).status == "stopped"
