"""The leaderboard screen: ranked trials, sort, filter, the pruned reason, opening a
trial; snapshots at 80×24 and 120×40."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes import FakeTrainer
from sweep_data import fill_sweep
from textual.pilot import Pilot

from ktui.app import KtuiApp, create_app
from ktui.core.presets import load_catalog, shipped_presets_dir
from ktui.screens.leaderboard import LeaderboardScreen
from ktui.screens.run_detail import RunDetailScreen
from ktui.store import RunStore
from ktui.store.sweeps import SweepStore
from ktui.widgets.leaderboard import LeaderboardTable, sparkline

SIZES = [(80, 24), (120, 40)]


@pytest.fixture
def app(tmp_path: Path) -> Iterator[KtuiApp]:
    catalog = load_catalog([shipped_presets_dir()])
    store = RunStore(tmp_path / "runs.sqlite")
    sweep_id = fill_sweep(store, catalog.get("dummy_binary"))
    trainer = FakeTrainer()
    yield create_app(
        catalog, trainer_factory=lambda: trainer, clock=lambda: 0.0, store=store, sweep=sweep_id
    )
    store.close()


async def board(pilot: Pilot[int]) -> LeaderboardScreen:
    while not isinstance(pilot.app.screen, LeaderboardScreen):
        await pilot.pause(0.02)
    await pilot.pause()
    return pilot.app.screen


async def test_ranked_sorted_filtered_and_why_pruned(app: KtuiApp) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await board(pilot)
        table = screen.query_one(LeaderboardTable)
        rows = table.shown
        assert len(rows) == 8
        finished = [r for r in rows if r.state == "finished"]
        objectives = [r.objective for r in finished]
        assert objectives == sorted(objectives)  # best (lowest loss) first
        assert rows[: len(finished)] == finished  # finished ones lead, then the pruned
        status = str(screen.query_one("#sweep-status").render())
        assert "trial 8 of 8" in status and f"best loss {objectives[0]:.4g}" in status

        await pilot.press("s")  # sort by trial number
        assert [r.number for r in table.shown] == list(range(1, 9))
        await pilot.press("S")
        assert [r.number for r in table.shown] == list(range(8, 0, -1))

        await pilot.press("f")  # the first state present: finished
        assert {r.state for r in table.shown} == {"finished"}
        await pilot.press("f")  # then pruned
        assert {r.state for r in table.shown} == {"pruned"}
        detail = str(screen.query_one("#trial-detail").render())
        assert "loss 0.7412 at epoch 2, worse than the median 0.6931 of 3 trials" in detail
        cells = [str(c) for c in table.cells[0]]
        assert "loss 0.7412 at epoch 2, worse than the median 0.6931 of 3 trials" in cells

        pruned = table.current
        assert pruned is not None and pruned.run_id is not None
        await pilot.press("enter")  # a trial that ended opens as its run's detail
        while not isinstance(pilot.app.screen, RunDetailScreen):
            await pilot.pause(0.02)
        assert pilot.app.screen.run_id == pruned.run_id


def test_sparkline() -> None:
    assert sparkline([3.0, 2.0, 1.0]) == "█▅▁"
    assert sparkline([1.0, float("nan"), 1.0]) == "▅ ▅"
    assert sparkline([]) == ""


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_leaderboard_snapshot(snap_compare, app: KtuiApp, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[int]) -> None:
        await board(pilot)
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


async def test_a_running_sweep_updates_live(tmp_path: Path) -> None:
    catalog = load_catalog([shipped_presets_dir()])
    store = RunStore(tmp_path / "runs.sqlite")
    sweep_id = fill_sweep(store, catalog.get("dummy_binary"), trials=4)
    sweeps = SweepStore(store)
    sweeps.set_trials(sweep_id, 5)  # one more trial: the sweep runs again
    sweeps.set_status(sweep_id, "running", change="resumed")
    app = create_app(catalog, trainer_factory=FakeTrainer, store=store, sweep=sweep_id)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await board(pilot)
        table = screen.query_one(LeaderboardTable)
        assert [r.state for r in table.shown].count("queued") == 1
        assert "trial 4 of 5" in str(screen.query_one("#sweep-status").render())
        claim = sweeps.claim_trial(sweep_id)
        assert claim is not None
        sweeps.start_trial(claim, sweep_id, optuna_number=9, params={"units": 8}, run_id=None)
        sweeps.report_epoch(claim, 1, 0.5, 0.5)
        for _ in range(100):  # refreshed once a second, off the UI thread
            await pilot.pause(0.05)
            if any(r.state == "running" for r in table.shown):
                break
        running = next(r for r in table.shown if r.state == "running")
        assert running.number == 5 and running.curve == (0.5,)
        assert "trial 5 of 5" in str(screen.query_one("#sweep-status").render())
    store.close()
