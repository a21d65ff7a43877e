"""Snapshot tests: every screen at 80×24 and 120×40, with fixed data and no clock.

Update after an intended change with ``pytest tests/test_snapshots.py --snapshot-update``
and look at the report before committing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_app
from textual.pilot import Pilot
from textual.widgets import Input

from ktui.screens.training import TrainingScreen

SIZES = [(80, 24), (120, 40)]


async def settle(pilot: Pilot[int]) -> None:
    """Let workers finish and stop cursors from blinking, so the picture is fixed."""
    await pilot.pause(0.6)  # the first model preview starts half a second after start-up
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    for widget in pilot.app.screen.query(Input):
        widget.cursor_blink = False
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_preset_screen(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(user_presets_dir=tmp_path), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_form_screen(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[int]) -> None:
        await pilot.press("enter")
        await settle(pilot)
        await pilot.pause(0.4)  # the parameter count is debounced
        await settle(pilot)

    assert snap_compare(
        make_app(user_presets_dir=tmp_path), terminal_size=size, run_before=run_before
    )


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_training_screen_finished(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[int]) -> None:
        await pilot.press("enter")
        await settle(pilot)
        form = pilot.app.screen
        form.query_one("#hp-epochs", Input).value = "6"
        await pilot.pause()
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert isinstance(pilot.app.screen, TrainingScreen)
        assert not pilot.app.screen.running

    assert snap_compare(
        make_app(user_presets_dir=tmp_path), terminal_size=size, run_before=run_before
    )
