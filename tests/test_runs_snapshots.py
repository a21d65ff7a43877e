"""Snapshot tests of the run history: the list of runs and the comparison, 80×24 and 120×40.

Fixed runs (tests/runs_data.py) with fixed times, shown in UTC. Update after an
intended change with ``pytest tests/test_runs_snapshots.py --snapshot-update``
and look at the report before committing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import make_app
from fakes import FakeTrainer
from runs_data import fill
from textual.pilot import Pilot
from textual.widgets import DataTable

from ktui.app import KtuiApp
from ktui.core.presets import load_catalog, shipped_presets_dir
from ktui.screens.compare import CompareScreen
from ktui.screens.runs import RunsScreen
from ktui.store import RunStore

SIZES = [(80, 24), (120, 40)]


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Dates are shown in local time: make local time UTC."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def app(tmp_path: Path) -> Iterator[KtuiApp]:
    catalog = load_catalog([shipped_presets_dir()])
    store = RunStore(tmp_path / "runs.sqlite")
    fill(store, catalog)  # no running run: its duration would depend on the clock
    trainer = FakeTrainer()
    yield make_app(trainer, store=store, catalog=catalog)
    store.close()


async def open_runs(pilot: Pilot[int]) -> RunsScreen:
    await pilot.press("h")
    while not isinstance(pilot.app.screen, RunsScreen):
        await pilot.pause(0.02)
    screen = pilot.app.screen
    while not (screen.runs and screen.loaded):
        await pilot.pause(0.02)
    return screen


async def settle(pilot: Pilot[int]) -> None:
    """Let the preset screen's preview worker finish (it runs behind) and the screen settle."""
    await pilot.pause(0.6)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_runs_list(snap_compare, app: KtuiApp, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[int]) -> None:
        screen = await open_runs(pilot)
        table = screen.query_one("#runs-table", DataTable)
        table.move_cursor(row=table.get_row_index("2"))  # a run with changed values
        await pilot.press("space")  # marked for comparison; the cursor goes on to run 1
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_compare_view(snap_compare, app: KtuiApp, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[int]) -> None:
        screen = await open_runs(pilot)
        table = screen.query_one("#runs-table", DataTable)
        table.move_cursor(row=table.get_row_index("4"))
        await pilot.press("space", "space")  # runs 4 and 3: mnist_mlp, one changed value
        await pilot.press("c")
        while not isinstance(pilot.app.screen, CompareScreen):
            await pilot.pause(0.02)
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
