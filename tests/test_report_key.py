"""The report key: ``x`` on the run detail and compare screens, ``w`` on a sweep's leaderboard."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import make_app
from conftest import wait_for as shared_wait_for
from runs_data import fill
from textual.pilot import Pilot

from ktui.app import KtuiApp
from ktui.core.presets import load_catalog, shipped_presets_dir
from ktui.screens.compare import CompareScreen
from ktui.screens.run_detail import RunDetailScreen
from ktui.store import RunStore

pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install 'ktui[report]')")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RunStore]:
    runs = RunStore(tmp_path / "runs.sqlite")
    fill(runs, load_catalog([shipped_presets_dir()]))
    yield runs
    runs.close()


def notices(app: KtuiApp) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


async def wait_for(pilot: Pilot[int], predicate: Callable[[], bool], timeout: float = 30) -> None:
    """The shared wait, with longer by default: reports are written by a worker."""
    await shared_wait_for(pilot, predicate, timeout)


async def test_x_on_a_run_writes_its_report_into_its_folder(store: RunStore) -> None:
    app = make_app(store=store)
    target = store.folder(2) / "report.html"
    assert not target.exists()
    async with app.run_test(size=(120, 40)) as pilot:
        app.push_screen(RunDetailScreen(2))
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        await pilot.pause()
        await pilot.press("x")
        await wait_for(pilot, lambda: f"Report written to {target}" in notices(app))
    html = target.read_text(encoding="utf-8")
    assert "<h1>Run 2 — dummy_binary</h1>" in html
    assert html.count('<figure class="chart"') == 2


async def test_x_on_compare_writes_one_report_of_the_runs(store: RunStore) -> None:
    app = make_app(store=store)
    target = store.runs_dir / "report-1-3.html"
    async with app.run_test(size=(120, 40)) as pilot:
        app.push_screen(CompareScreen([1, 3]))
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
        await pilot.pause()
        await pilot.press("x")
        await wait_for(pilot, lambda: f"Report written to {target}" in notices(app))
        assert isinstance(app.screen, CompareScreen)  # the screen stays as it was
    html = target.read_text(encoding="utf-8")
    assert "<h1>Runs 1, 3</h1>" in html and "What differs:" in html


async def test_a_report_that_cannot_be_written_is_a_message(
    store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ktui.report.charts

    def missing() -> None:
        raise ktui.report.charts.KtuiError("reports need matplotlib, which is not installed")

    monkeypatch.setattr(ktui.report.charts, "require_matplotlib", missing)
    app = make_app(store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        app.push_screen(RunDetailScreen(1))
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        await pilot.pause()
        await pilot.press("x")
        await wait_for(pilot, lambda: "No report: reports need matplotlib" in notices(app))
    assert not (store.folder(1) / "report.html").exists()


async def test_w_on_the_leaderboard_writes_the_sweeps_report(tmp_path: Path) -> None:
    pytest.importorskip("optuna", reason="optuna is not installed (pip install 'ktui[sweep]')")
    from sweep_data import fill_sweep

    from ktui.screens.leaderboard import LeaderboardScreen

    with RunStore(tmp_path / "runs.sqlite") as runs:
        sweep_id = fill_sweep(runs, load_catalog([shipped_presets_dir()]).get("dummy_binary"))
        app = make_app(store=runs)
        target = runs.runs_dir / f"report-sweep-{sweep_id}.html"
        async with app.run_test(size=(120, 40)) as pilot:
            app.push_screen(LeaderboardScreen(runs, sweep_id))
            await wait_for(pilot, lambda: isinstance(app.screen, LeaderboardScreen))
            await pilot.pause()
            await pilot.press("w")  # x stops a trial there
            await wait_for(pilot, lambda: f"Report written to {target}" in notices(app))
            assert isinstance(app.screen, LeaderboardScreen)
    html = target.read_text(encoding="utf-8")
    assert f"<h1>Sweep {sweep_id} — dummy_binary</h1>" in html
    assert 'data-chart="importance"' in html and 'data-chart="parallel"' in html
