"""Pilot tests for what people tripped on in the dashboard (issue 9, item 7).

The form's focus when it opens, every key in the command palette, saving a preset
with awkward strings, the ETA during a pause and the progress row after a run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tomli_w
import tomllib
from conftest import make_app as shared_make_app
from conftest import tiny_preset_text, wait_for, write_preset
from fakes import FakeTrainer, fixed_evaluation
from textual.binding import Binding
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import DataTable, Input, OptionList, ProgressBar, Static

from ktui.app import KtuiApp, declared_bindings
from ktui.core.presets import load
from ktui.screens.dialogs import AskDialog, ConfirmDialog
from ktui.screens.form import FormScreen
from ktui.screens.presets import PresetScreen
from ktui.screens.training import TrainingScreen
from ktui.store import RunStore


def make_app(
    tmp_path: Path,
    trainer: FakeTrainer,
    *,
    folders: list[Path] | None = None,
    store: RunStore | None = None,
    clock: Callable[[], float] = lambda: 0.0,
) -> KtuiApp:
    """The shared app, saving presets under ``tmp_path``."""
    return shared_make_app(
        trainer,
        store=store,
        folders=folders,
        user_presets_dir=tmp_path / "user-presets",
        clock=clock,
    )


async def open_form(pilot: Pilot[int], preset: str = "dummy_binary") -> FormScreen:
    app = pilot.app
    assert isinstance(app.screen, PresetScreen)
    option_list = app.screen.query_one("#preset-list", OptionList)
    option_list.highlighted = next(
        i
        for i in range(option_list.option_count)
        if option_list.get_option_at_index(i).id == f"preset:{preset}"
    )
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, FormScreen))
    assert isinstance(app.screen, FormScreen)
    return app.screen


async def typing_reaches_the_first_field(pilot: Pilot[int], form: FormScreen) -> None:
    """Type into the form as it opened: the first field (data) must take the keys."""
    field = form.query_one("#data-source", Input)
    before = field.value
    await pilot.press(*"xyz")
    await pilot.pause()
    assert field.value != before and "xyz" in field.value, (before, field.value, form.focused)


# --------------------------------------------------------------------------- form focus
async def test_the_form_opened_from_the_preset_list_takes_typing_at_once(tmp_path: Path) -> None:
    app = make_app(tmp_path, FakeTrainer())
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot)
        await typing_reaches_the_first_field(pilot, form)


async def test_the_form_opened_with_e_takes_typing_at_once(tmp_path: Path) -> None:
    app = make_app(tmp_path, FakeTrainer())
    async with app.run_test(size=(120, 40)) as pilot:
        # A run whose form is not below it (as from the history): e opens a new form.
        preset = app.catalog.presets["dummy_binary"]
        app.push_screen(TrainingScreen(preset.resolve({"epochs": 1})))
        await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen))
        training = app.screen
        assert isinstance(training, TrainingScreen)
        await wait_for(pilot, lambda: not training.running)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, FormScreen))
        assert isinstance(app.screen, FormScreen)
        await typing_reaches_the_first_field(pilot, app.screen)

        # A run started from the form: e goes back to that form, which takes typing too.
        app.screen.query_one("#data-source", Input).value = "random"
        await pilot.pause()
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen))
        training = app.screen
        assert isinstance(training, TrainingScreen)
        await wait_for(pilot, lambda: not training.running)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, FormScreen))
        assert isinstance(app.screen, FormScreen)
        await typing_reaches_the_first_field(pilot, app.screen)


# --------------------------------------------------------------------------- command palette
def assert_palette_offers_every_key(app: KtuiApp, screen: Screen[Any]) -> int:
    """Every binding ``screen`` declares (shown or not) is a palette command under its
    description, with its key in the help; returns how many were checked."""
    commands = {command.title: command for command in app.get_system_commands(screen)}
    checked = 0
    for binding in declared_bindings(screen):
        if not binding.description:
            # A key's fallback: the same key has a described binding that is offered.
            assert any(b.description and b.key == binding.key for b in declared_bindings(screen)), (
                binding
            )
            continue
        if _hidden(screen, binding):
            continue
        command = commands.get(binding.description)
        assert command is not None, f"{type(screen).__name__}: {binding.key} {binding.description}"
        assert app.get_key_display(binding) in command.help, (binding, command.help)
        checked += 1
    return checked


def _hidden(screen: Screen[Any], binding: Binding) -> bool:
    """True when the screen hides the action right now (``check_action`` says False)."""
    from textual.actions import parse

    namespace, name, parameters = parse(binding.action)
    target = screen.app if namespace == "app" else screen
    return target.check_action(name, parameters) is False


async def test_every_key_of_every_screen_is_in_the_command_palette(tmp_path: Path) -> None:
    gate = threading.Event()
    trainer = FakeTrainer(gate=gate, hold_after=1, evaluation=fixed_evaluation())
    store = RunStore(tmp_path / "runs.sqlite")
    app = make_app(tmp_path, trainer, store=store)
    checked: dict[str, int] = {}

    def check() -> None:
        checked[type(app.screen).__name__] = assert_palette_offers_every_key(app, app.screen)

    async with app.run_test(size=(120, 40)) as pilot:
        check()  # the presets
        form = await open_form(pilot)
        check()
        await pilot.press("f3")  # the model
        await wait_for(pilot, lambda: app.screen is not form)
        check()
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is form)
        form.query_one("#hp-epochs", Input).value = "2"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, AskDialog))
        check()
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is form)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen))
        training = app.screen
        assert isinstance(training, TrainingScreen)
        await wait_for(pilot, lambda: training.phase == "running" and len(training.epochs) == 1)
        check()  # running: y, a, g, pause ... (c and w greyed, their fallback hidden)
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        check()
        await pilot.press("escape")
        gate.set()
        await wait_for(pilot, lambda: not training.running and training.evaluation is not None)
        check()  # ended: r, e, c, w
        await pilot.press("c")
        await wait_for(pilot, lambda: app.screen is not training)
        check()  # the confusion matrix
        await pilot.press("w")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "MistakesScreen")
        check()
        while app.screen is not training:
            await pilot.press("escape")
            await pilot.pause(0.05)
        await pilot.press("h")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "RunsScreen")
        runs = app.screen
        await wait_for(pilot, lambda: runs.query_one(DataTable).row_count == 1)
        check()  # s, S (hidden), f, space, c ...
        await pilot.press("enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "RunDetailScreen")
        await wait_for(pilot, lambda: getattr(app.screen, "run", None) is not None)
        check()  # 1-4 (hidden), y, m ...
    store.close()
    expected = {
        "PresetScreen",
        "FormScreen",
        "ModelScreen",
        "AskDialog",
        "TrainingScreen",
        "ConfirmDialog",
        "ConfusionScreen",
        "MistakesScreen",
        "RunsScreen",
        "RunDetailScreen",
    }
    assert set(checked) == expected
    assert all(count > 0 for count in checked.values()), checked


async def test_a_hidden_key_run_from_the_palette_does_what_the_key_does(tmp_path: Path) -> None:
    gate = threading.Event()
    app = make_app(tmp_path, FakeTrainer(gate=gate, hold_after=1))
    async with app.run_test(size=(120, 40)) as pilot:
        await open_form(pilot)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen))
        training = app.screen
        assert isinstance(training, TrainingScreen)
        await wait_for(pilot, lambda: len(training.epochs) == 1)
        titles = {c.title: c for c in app.get_system_commands(training)}
        assert titles["Log scale"].help == "key: y"  # no footer entry, still here
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        await pilot.press(*"log scale")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: all(c.log_y for c in training._charts.values()))
        training.controls.stop()
        gate.set()
        await wait_for(pilot, lambda: not training.running)


# --------------------------------------------------------------------------- save as preset
AWKWARD = 'a "quoted" word, C:\\temp\\new, two\nlines,\ta tab, \x01\x07\x1b[0m\x7f, é ✓'


async def test_save_as_preset_keeps_awkward_strings(tmp_path: Path) -> None:
    raw = tomllib.loads(tiny_preset_text(name="awkward"))
    raw["description"] = AWKWARD
    raw["hyperparameters"]["units"]["help"] = "units: " + AWKWARD
    folder = tmp_path / "presets"
    write_preset(folder, tomli_w.dumps(raw), name="awkward")
    app = make_app(tmp_path, FakeTrainer(), folders=[folder])
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot, "awkward")
        form.query_one("#hp-units", Input).value = "12"
        await pilot.pause()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, AskDialog))
        app.screen.query_one("#answer", Input).value = "awkward_copy"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, FormScreen))
        saved = tmp_path / "user-presets" / "awkward_copy.toml"
        await wait_for(pilot, saved.exists)
        again = tomllib.loads(saved.read_text(encoding="utf-8"))
        assert again["description"] == f"{AWKWARD} (saved from awkward)"
        assert again["hyperparameters"]["units"]["help"] == "units: " + AWKWARD
        assert again["hyperparameters"]["units"]["default"] == 12
        preset = load(saved)
        assert preset.hyperparameters["units"].help == "units: " + AWKWARD
        assert "awkward_copy" in app.catalog.presets


# --------------------------------------------------------------------------- progress row
def eta_text(training: TrainingScreen) -> str:
    return str(training.query_one("#progress", ProgressBar).query_one("#eta").render())


async def test_the_eta_holds_while_the_run_is_paused(tmp_path: Path) -> None:
    # Slow enough for the bar to have a speed (it needs a second of samples).
    trainer = FakeTrainer(step_delay=0.1)
    app = make_app(tmp_path, trainer, clock=time.monotonic)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot)
        form.query_one("#hp-epochs", Input).value = "10"
        await pilot.pause()
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen))
        training = app.screen
        assert isinstance(training, TrainingScreen)
        await wait_for(pilot, lambda: len(training.epochs) >= 3 and ":" in eta_text(training))
        await pilot.press("p")
        await wait_for(pilot, lambda: training.phase == "paused")
        await pilot.pause(0.3)
        held = eta_text(training)
        assert held != "--:--:--"
        await pilot.pause(2.5)  # the bar redraws every second: a countdown would show
        assert eta_text(training) == held
        await pilot.press("p")
        await wait_for(pilot, lambda: not training.running, timeout=30)
        assert training.phase == "finished"


async def test_the_progress_row_after_a_run_says_what_was_done(tmp_path: Path) -> None:
    trainer = FakeTrainer()
    app = make_app(tmp_path, trainer)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot)
        form.query_one("#hp-epochs", Input).value = "3"
        await pilot.pause()
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen))
        training = app.screen
        assert isinstance(training, TrainingScreen)
        await wait_for(pilot, lambda: not training.running)
        await pilot.pause()
        detail = str(training.query_one("#progress-detail", Static).render())
        assert detail == "finished · 3/3 epochs in 1.5s", detail
        assert "step" not in detail
        bar = training.query_one("#progress", ProgressBar)
        assert bar.percentage == 1.0
        assert not bar.query_one("#eta").display  # nothing left to wait for


async def test_the_progress_row_of_a_stopped_run_says_where_it_stopped(tmp_path: Path) -> None:
    gate = threading.Event()
    app = make_app(tmp_path, FakeTrainer(gate=gate, hold_after=2))
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot)
        form.query_one("#hp-epochs", Input).value = "5"
        await pilot.pause()
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen))
        training = app.screen
        assert isinstance(training, TrainingScreen)
        await wait_for(pilot, lambda: len(training.epochs) == 2)
        training.controls.stop()
        gate.set()
        await wait_for(pilot, lambda: not training.running)
        await pilot.pause()
        detail = str(training.query_one("#progress-detail", Static).render())
        assert detail.startswith("stopped · 2/5 epochs"), detail
        assert "step" not in detail
