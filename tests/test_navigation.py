"""The app is the one navigator: screens post requests, the app opens the screens."""

from __future__ import annotations

from conftest import make_app, wait_for
from textual.screen import Screen
from textual.widgets import Select

from ktui.navigation import OpenForm, OpenRuns
from ktui.screens.form import FormScreen
from ktui.screens.presets import PresetScreen
from ktui.screens.runs import RunsScreen


def settled(screen: Screen[object]) -> bool:
    """Whether ``screen``'s drop-downs have mounted their parts (an app closed before
    that fails inside Textual's Select)."""
    return screen.is_mounted and all(
        select.query("SelectOverlay") and select.query("SelectCurrent #label")
        for select in screen.query(Select)
    )


async def test_a_request_from_a_screen_opens_the_screen_through_the_app() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, PresetScreen))
        preset = app.catalog.get("dummy_binary")
        app.screen.post_message(OpenForm(preset, {"epochs": 3}))
        await wait_for(pilot, lambda: isinstance(app.screen, FormScreen) and settled(app.screen))
        form = app.screen
        assert isinstance(form, FormScreen)
        assert form.preset is preset and form.values["epochs"] == 3
        form.post_message(OpenRuns())
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and settled(app.screen))
        assert app.screen_stack[-2] is form  # pushed on top, the form kept below
        assert app.run_going() is None


async def test_an_edit_goes_back_to_the_form_below_or_replaces_the_sender() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, PresetScreen))
        preset = app.catalog.get("dummy_binary")
        form = FormScreen(preset)
        await app.push_screen(form)
        await wait_for(pilot, lambda: settled(form))
        sender: Screen[None] = Screen()
        await app.push_screen(sender)
        sender.post_message(OpenForm(preset, {"epochs": 7}, replace=True, reuse_below=True))
        await wait_for(pilot, lambda: app.screen is form)  # the form it came from, as it was
        assert form.values["epochs"] != 7

        other: Screen[None] = Screen()
        await app.push_screen(other)
        depth = len(app.screen_stack)
        other.post_message(OpenForm(preset, {"epochs": 7}, replace=True))
        await wait_for(pilot, lambda: isinstance(app.screen, FormScreen) and app.screen is not form)
        assert len(app.screen_stack) == depth  # the sender was replaced, not covered
        assert other not in app.screen_stack
        new_form = app.screen
        assert isinstance(new_form, FormScreen) and new_form.values["epochs"] == 7
        await wait_for(pilot, lambda: settled(new_form))
