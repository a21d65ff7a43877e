"""The preset screen previews each preset it highlights, not only the first: the
previews after the first start at once (a zero-second timer never fired in Textual
8.2: its interval divided by zero). Pilot test, fake trainer."""

from __future__ import annotations

from pathlib import Path

from conftest import make_app, wait_for
from textual.widgets import Static

from ktui.screens.presets import PresetScreen


async def test_the_second_highlighted_preset_gets_its_preview(tmp_path: Path) -> None:
    app = make_app(user_presets_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, PresetScreen)
        note = screen.query_one("#preview-note", Static)
        await wait_for(pilot, lambda: "parameters" in str(note.render()), what="the first")
        first = screen.selected
        await pilot.press("down")
        await pilot.pause()
        assert screen.selected is not first
        await wait_for(pilot, lambda: "parameters" in str(note.render()), what="the second")
