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
from ktui.store.sweeps import SweepStore, leaderboard_rows
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


# --------------------------------------------------------------------------- steering keys
async def test_mark_two_trials_and_compare_their_runs(app: KtuiApp) -> None:
    from ktui.screens.compare import CompareScreen

    async with app.run_test(size=(120, 40)) as pilot:
        screen = await board(pilot)
        table = screen.query_one(LeaderboardTable)
        first, second = table.shown[0], table.shown[1]
        await pilot.press("c")  # nothing marked: says how
        assert "Mark 2 to 4 trials with space" in _said(pilot)
        await pilot.press("space", "space")  # marks the first, moves, marks the second
        assert table.marked == [first.number, second.number]
        assert table.cells[0][0] == "●" and table.cells[2][0] == " "
        status = str(screen.query_one("#sweep-status").render())
        assert f"marked {first.number}, {second.number}" in status
        await pilot.press("c")
        while not isinstance(pilot.app.screen, CompareScreen):
            await pilot.pause(0.02)
        assert pilot.app.screen.run_ids == [first.run_id, second.run_id]


async def test_stop_a_running_trial_from_the_leaderboard(tmp_path: Path) -> None:
    catalog = load_catalog([shipped_presets_dir()])
    store = RunStore(tmp_path / "runs.sqlite")
    sweep_id = fill_sweep(store, catalog.get("dummy_binary"), trials=4)
    sweeps = SweepStore(store)
    sweeps.set_trials(sweep_id, 5)
    sweeps.set_status(sweep_id, "running", change="resumed")
    claim = sweeps.claim_trial(sweep_id)
    assert claim is not None
    run_id = store.create_run("dummy_binary", values={"units": 8}, epochs=4)  # this process
    sweeps.start_trial(claim, sweep_id, optuna_number=9, params={"units": 8}, run_id=run_id)
    app = create_app(catalog, trainer_factory=FakeTrainer, store=store, sweep=sweep_id)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await board(pilot)
        table = screen.query_one(LeaderboardTable)
        await pilot.press("x")  # the first row is a finished trial: nothing to stop
        assert "is finished, not running; nothing to stop" in _said(pilot)
        table.cursor_row = next(i for i, r in enumerate(table.shown) if r.state == "running")
        await pilot.press("x")
        assert [c.kind for c in store.commands(run_id, pending=True)] == ["stop"]
        assert "trial 5 (run" in sweeps.changes(sweep_id)[-1][1]
        await pilot.pause(0.1)
        assert "last change: trial 5 (run" in str(screen.query_one("#sweep-status").render())
    store.close()


async def test_rerun_a_trial_and_change_a_range_from_the_leaderboard(app: KtuiApp) -> None:
    from textual.widgets import Input

    from ktui.screens.dialogs import AskDialog

    async with app.run_test(size=(120, 40)) as pilot:
        screen = await board(pilot)
        table = screen.query_one(LeaderboardTable)
        top = table.shown[0]
        await pilot.press("r")
        sweeps = screen.sweeps
        sweep = sweeps.get(screen.sweep_id)
        assert sweep.settings.trials == 9 and sweep.status == "paused"  # it had finished
        assert f"Trial {top.number} re-run with the same values" in _said(pilot)
        assert f"`ktui sweeps resume {sweep.id}` runs it" in _said(pilot)

        await pilot.press("p")
        while not isinstance(pilot.app.screen, AskDialog):
            await pilot.pause(0.02)
        field = pilot.app.screen.query_one(Input)
        assert field.value == "units=8,16,32"
        field.value = "units=8,16,999999"  # beyond the preset's bounds: said, not taken
        await pilot.pause()
        assert "units" in str(pilot.app.screen.query_one("#answer-error").render())
        field.value = "learning_rate=1e-3..5e-3:log"
        await pilot.pause()
        await pilot.press("enter")
        await board(pilot)
        spec = sweeps.get(screen.sweep_id).spec
        (lr,) = [p for p in spec.params if p.name == "learning_rate"]
        assert (lr.low, lr.high, lr.log) == (1e-3, 5e-3, True)
        assert sweeps.changes(screen.sweep_id)[-1][1].startswith(
            "learning_rate=0.0001..0.01:log → learning_rate=0.001..0.005:log"
        )


async def test_importance_and_parallel_coordinates_view(app: KtuiApp) -> None:
    from ktui.screens.sweep_insight import SweepInsightScreen
    from ktui.widgets.parallel import ParallelCoordinates

    async with app.run_test(size=(80, 24)) as pilot:
        await board(pilot)
        await pilot.press("i")
        while not isinstance(pilot.app.screen, SweepInsightScreen):
            await pilot.pause(0.02)
        screen = pilot.app.screen
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        text = str(screen.query_one("#importance").render())
        assert "Importance (Optuna's PED-ANOVA evaluator)" in text
        assert "units" in text and "learning_rate" in text
        view = screen.query_one(ParallelCoordinates)
        assert [a.name for a in view.axes] == ["units", "learning_rate", "objective"]
        assert len(view.lines) == 7  # every trial that ended with an objective (not the failed)
        best = [line for line in view.lines if line.best]
        assert len(best) == 1 and view.lines[-1] is best[0]  # drawn last, on top
        legend = str(screen.query_one("#parallel-legend").render())
        assert f"best: trial {best[0].number}" in legend
        await pilot.press("escape")
        assert isinstance(pilot.app.screen, LeaderboardScreen)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_insight_snapshot(snap_compare, app: KtuiApp, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[int]) -> None:
        await board(pilot)
        await pilot.press("i")
        await pilot.pause(0.1)
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_the_scrollbar_spans_every_trial(tmp_path: Path) -> None:
    catalog = load_catalog([shipped_presets_dir()])
    with RunStore(tmp_path / "runs.sqlite") as store:
        sweep_id = fill_sweep(store, catalog.get("dummy_binary"), trials=300)
        sweeps = SweepStore(store)
        sweep = sweeps.get(sweep_id)
        rows = leaderboard_rows(sweep, sweeps.trials(sweep_id))
    table = LeaderboardTable()
    table.show(rows, params=["units"], objective="loss", direction="minimize")
    assert table.virtual_size.height == 301  # every trial and the header, not a window


async def test_only_the_rows_drawn_are_formatted_and_the_widths_fit_every_row(
    tmp_path: Path,
) -> None:
    from dataclasses import replace

    catalog = load_catalog([shipped_presets_dir()])
    with RunStore(tmp_path / "runs.sqlite") as store:
        sweep_id = fill_sweep(store, catalog.get("dummy_binary"), trials=300)
        sweeps = SweepStore(store)
        sweep = sweeps.get(sweep_id)
        rows = leaderboard_rows(sweep, sweeps.trials(sweep_id))
        # Curves of every length, NaNs in them, and two workers (their column shows).
        rows = [
            replace(
                row,
                curve=tuple(
                    float("nan") if (i + k) % 5 == 0 else 1 / (k + 1) for k in range(i % 15)
                ),
                worker=f"host-{i % 2}",
            )
            for i, row in enumerate(rows)
        ]
        trainer = FakeTrainer()
        app = create_app(catalog, trainer_factory=lambda: trainer, clock=lambda: 0.0, store=store)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            screen = LeaderboardScreen(store, sweep_id, catalog)
            app.push_screen(screen)
            await pilot.pause()
            table = screen.query_one(LeaderboardTable)
            screen.rows = rows
            screen.redraw()
            await pilot.pause()
            await pilot.pause()
            assert len(table.shown) == 300
            # A screenful was drawn, not 300 rows' cells and sparklines.
            assert 0 < len(table._formatted) <= table.size.height
            assert "worker" in table.columns
            for cells in table.cells:  # every row formatted now
                for index, cell in enumerate(cells[:-1]):
                    assert len(cell) <= table._widths[index], (index, cell)
            widths = [max(len(cells[i]) for cells in table.cells) for i in range(1, 7)]
            header = [len(name) for name in table.columns[1:7]]
            assert table._widths[1:7] == [max(w, h) for w, h in zip(widths, header, strict=True)]


def _said(pilot: Pilot[int]) -> str:
    """Every notification shown so far, as one text."""
    return " | ".join(n.message for n in pilot.app._notifications)


async def test_switch_the_metric_the_sparklines_draw(app: KtuiApp) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await board(pilot)
        table = screen.query_one(LeaderboardTable)
        assert "loss curve" in table.columns
        top = table.shown[0]
        await pilot.press("m")
        assert "accuracy curve" in table.columns
        row = next(r for r in table.shown if r.number == top.number)
        assert row.run_id is not None
        store = screen.sweeps.runs
        expected = tuple(e.metrics["accuracy"] for e in store.epochs(row.run_id))
        assert row.curve == expected and len(expected) == 4
        await pilot.press("m")  # and back to the objective
        assert "loss curve" in table.columns
        assert next(r for r in table.shown if r.number == top.number).curve == top.curve


async def test_every_new_key_is_in_the_command_palette(app: KtuiApp) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await board(pilot)
        titles = {command.title for command in pilot.app.get_system_commands(screen)}
        wanted = {"Mark", "Compare", "Importance", "Stop trial", "Re-run trial", "Change range"}
        assert wanted | {"Metric"} <= titles
