"""Opening the form fast (Enter on a preset): the sweep mode's widgets are built at the
first F4, not with the form; a form closed before is kept and opened again as a new one
would be (the defaults, one run, the first field focused). Pilot tests, fake trainer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import make_app, wait_for
from textual.pilot import Pilot
from textual.widgets import Input, Select, Static

from ktui.navigation import OpenForm
from ktui.screens.form import FormScreen
from ktui.screens.presets import PresetScreen


async def _enter(pilot: Pilot[int]) -> FormScreen:
    assert isinstance(pilot.app.screen, PresetScreen)
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, FormScreen), what="the form")
    form = pilot.app.screen
    assert isinstance(form, FormScreen)
    await pilot.pause()
    return form


async def test_the_sweep_widgets_come_with_the_first_f4(tmp_path: Path) -> None:
    app = make_app(user_presets_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await _enter(pilot)
        # The one-run form: no kinds, no lists or ranges, no settings.
        assert not form.query(".sweep-kind") and not form.query("#sweep-settings")
        assert not form.query(".sweep-list, .sweep-range, .sweep-choices")
        await pilot.press("f4")
        await wait_for(pilot, lambda: form.sweep_mode)
        assert form.focused is form.query_one("#sweep-trials", Input)
        assert len(form.query(".sweep-kind")) == len(form.preset.hyperparameters)
        # A kind's own fields come when it is first chosen, the fixed value in the list.
        assert not form.query("#list-batch_size")
        form.query_one("#kind-batch_size", Select).value = "list"
        await pilot.pause()
        listed = form.query_one("#list-batch_size", Input)
        assert listed.display and listed.value == str(form.values["batch_size"])
        assert not form.query_one("#hp-batch_size", Input).display


async def test_a_form_opened_again_is_kept_and_new_again(tmp_path: Path) -> None:
    app = make_app(user_presets_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await _enter(pilot)
        default = form.query_one("#hp-epochs", Input).value
        form.query_one("#hp-epochs", Input).value = "abc"
        form.query_one("#data-source", Input).value = "nowhere.npz"
        form.query_one("#hp-units", Input).focus()
        await pilot.pause()
        assert "epochs" in form.errors and form.query_one("#start").disabled
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, PresetScreen))

        again = await _enter(pilot)
        assert again is form  # kept, not built again
        assert again.errors == {} and again.values == again.preset.defaults()
        assert again.query_one("#hp-epochs", Input).value == default
        assert not again.query_one("#error-epochs", Static).display
        assert again.query_one("#data-source", Input).value == again.default_data
        assert again.focused is again.query_one("#data-source", Input)
        assert not again.query_one("#start").disabled


async def test_a_form_whose_sweep_mode_was_built_is_built_again(tmp_path: Path) -> None:
    app = make_app(user_presets_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await _enter(pilot)
        await pilot.press("f4")
        await wait_for(pilot, lambda: form.sweep_mode)
        form.query_one("#kind-batch_size", Select).value = "list"
        await pilot.pause()
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, PresetScreen))

        again = await _enter(pilot)
        assert again is not form and not again.sweep_mode
        assert not again.query(".sweep-kind") and not again.query("#list-batch_size")
        assert str(again.query_one("#start").label) == "Start  ^r"
        await wait_for(pilot, lambda: not form.is_running, what="the old form removed")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, PresetScreen))
        assert await _enter(pilot) is again  # this one is kept


async def test_a_kept_form_takes_the_values_it_is_opened_with(tmp_path: Path) -> None:
    app = make_app(user_presets_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await _enter(pilot)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, PresetScreen))
        # As a rerun of a recorded run opens it: values and data of that run.
        app.post_message(OpenForm(form.preset, {"epochs": 7}, "random"))
        await wait_for(pilot, lambda: app.screen is form, what="the kept form")
        await pilot.pause()
        assert form.values["epochs"] == 7 and form.data == "random"
        assert form.query_one("#hp-epochs", Input).value == "7"
        assert form.query_one("#data-source", Input).value == "random"
        await pilot.press("z")  # focused as a new form's first field: typing replaces
        await pilot.pause()
        assert form.query_one("#data-source", Input).value == "z"


async def test_a_form_in_use_below_is_not_taken(tmp_path: Path) -> None:
    app = make_app(user_presets_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await _enter(pilot)
        form.query_one("#hp-epochs", Input).value = "3"
        await pilot.pause()
        # Another form of the same preset opened over it (a rerun from a screen above).
        app.post_message(OpenForm(form.preset))
        await wait_for(pilot, lambda: app.screen is not form, what="a second form")
        second = app.screen
        assert isinstance(second, FormScreen)
        assert second.values == second.preset.defaults()
        assert form.values["epochs"] == 3  # the one below keeps its values


async def test_a_keystroke_updates_only_the_errors_that_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(user_presets_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await _enter(pilot)
        updated: list[str] = []
        update = Static.update

        def counting(widget: Static, *args: Any, **kwargs: Any) -> None:
            if (widget.id or "").startswith("error-"):
                updated.append(widget.id or "")
            update(widget, *args, **kwargs)

        monkeypatch.setattr(Static, "update", counting)
        form.query_one("#hp-epochs", Input).value = "5"  # valid: no error line changes
        await pilot.pause()
        assert form.values["epochs"] == 5 and updated == []
        form.query_one("#hp-epochs", Input).value = "x"
        await pilot.pause()
        assert updated == ["error-epochs"]
