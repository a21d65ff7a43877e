"""The training screen attached to a detached run: epochs arrive, and the keys steer it.

A real ``ktui run dummy_binary --detach`` process trains; the dashboard (a pilot
app on the same store) follows it through the store and pauses, resumes, changes
the learning rate and stops it, as a person would from another terminal.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import wait_for as shared_wait_for
from test_detach import detach, wait_gone
from textual.pilot import Pilot
from textual.widgets import DataTable, Input

from ktui.app import create_app
from ktui.core.presets import load_catalog, shipped_presets_dir
from ktui.screens.dialogs import AskDialog, ConfirmDialog
from ktui.screens.training import TrainingScreen
from ktui.store import RunStore


async def wait_for(pilot: Pilot[int], predicate: Callable[[], bool], timeout: float = 60) -> None:
    """The shared wait, with longer by default: the run trains in another process."""
    await shared_wait_for(pilot, predicate, timeout)


def rows(screen: TrainingScreen) -> int:
    return screen.query_one("#epochs", DataTable).row_count


async def test_attached_screen_follows_and_steers_a_detached_run(tmp_path: Path) -> None:
    store_file = tmp_path / "store" / "runs.sqlite"
    run_id, pid, _, _ = detach(store_file)
    store = RunStore(store_file)
    try:
        app = create_app(
            load_catalog([shipped_presets_dir()]),
            store=store,
            attach=run_id,
            user_presets_dir=tmp_path,
            clock=time.monotonic,
        )
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen))
            screen = app.screen
            assert isinstance(screen, TrainingScreen) and screen.attached
            await wait_for(pilot, lambda: rows(screen) >= 2)
            assert screen.started is not None and screen.started.preset == "dummy_binary"

            await pilot.press("p")
            await wait_for(pilot, lambda: screen.phase == "paused")
            held = rows(screen)
            await pilot.pause(1.0)
            assert rows(screen) <= held + 1  # at most the epoch that was ending
            held = rows(screen)
            await pilot.pause(0.6)
            assert rows(screen) == held
            await pilot.press("p")
            await wait_for(pilot, lambda: rows(screen) > held + 1)

            await pilot.press("l")
            await wait_for(pilot, lambda: isinstance(app.screen, AskDialog))
            app.screen.query_one("#answer", Input).value = "0.0123"
            await pilot.press("enter")
            table = screen.query_one("#epochs", DataTable)
            await wait_for(pilot, lambda: table.get_row_at(table.row_count - 1)[-2] == "0.0123")

            await pilot.press("s")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
            await pilot.press("y")
            await wait_for(pilot, lambda: not screen.running)
            assert screen.phase == "stopped"
        wait_gone(pid)
        run = store.get_run(run_id)
        assert run.status == "stopped"
        assert run.epochs_done == len(store.epochs(run_id)) >= 4
        assert (store.folder(run_id) / "model.keras").is_file()
    finally:
        store.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


async def test_leaving_an_attached_screen_leaves_the_run_going(tmp_path: Path) -> None:
    store_file = tmp_path / "store" / "runs.sqlite"
    run_id, pid, _, _ = detach(store_file)
    store = RunStore(store_file)
    try:
        app = create_app(
            load_catalog([shipped_presets_dir()]),
            store=store,
            attach=run_id,
            user_presets_dir=tmp_path,
        )
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen))
            screen = app.screen
            assert isinstance(screen, TrainingScreen)
            await wait_for(pilot, lambda: rows(screen) >= 1)
            await pilot.press("q")  # no question: the run is not this ktui's
            await pilot.pause(0.2)
        assert app.return_code == 0
        done = store.get_run(run_id).epochs_done
        deadline = time.monotonic() + 60
        while store.get_run(run_id).epochs_done < done + 2:
            assert time.monotonic() < deadline, "the run stopped with the dashboard"
            time.sleep(0.1)
        assert store.get_run(run_id).status == "running"
    finally:
        store.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


async def test_start_in_background_from_the_form(tmp_path: Path) -> None:
    from test_app import open_form, set_field

    from ktui.screens.form import FormScreen

    store = RunStore(tmp_path / "store" / "runs.sqlite")
    app = create_app(load_catalog([shipped_presets_dir()]), store=store, user_presets_dir=tmp_path)
    pid = 0
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            form = await open_form(pilot)
            assert isinstance(form, FormScreen)
            await set_field(pilot, form, "epochs", "3")
            await set_field(pilot, form, "learning_rate", "0.000123456789")
            await pilot.press("ctrl+b")
            await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen))
            screen = app.screen
            assert isinstance(screen, TrainingScreen) and screen.attached
            assert screen.run_id is not None
            pid = store.get_run(screen.run_id).pid or 0
            await wait_for(pilot, lambda: not screen.running, timeout=90)
            assert screen.phase == "finished"
            assert rows(screen) == 3
        run = store.get_run(screen.run_id)
        assert run.status == "finished"
        assert run.values["learning_rate"] == 0.000123456789  # every digit kept
    finally:
        store.close()
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


async def test_an_attached_screen_waits_while_the_store_is_away(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A PostgreSQL server restarting (or a busy SQLite store) is not the run failing.
    from ktui.core.errors import StoreUnavailable
    from ktui.store import RunFollower

    store = RunStore(tmp_path / "runs.sqlite")
    run_id = store.create_run("dummy_binary", epochs=2)  # this live process records it
    real_poll = RunFollower.poll
    away = {"polls": 3}

    def flaky(follower: RunFollower) -> list[Any]:
        if away["polls"]:
            away["polls"] -= 1
            raise StoreUnavailable("lost the connection to the PostgreSQL server")
        return real_poll(follower)

    monkeypatch.setattr(RunFollower, "poll", flaky)
    try:
        app = create_app(
            load_catalog([shipped_presets_dir()]),
            store=store,
            attach=run_id,
            user_presets_dir=tmp_path,
            clock=time.monotonic,
        )
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen))
            screen = app.screen
            assert isinstance(screen, TrainingScreen)
            await wait_for(pilot, lambda: away["polls"] == 0, timeout=20)
            store.add_epoch(run_id, 1, {"loss": 0.5, "accuracy": 0.7})
            store.add_epoch(run_id, 2, {"loss": 0.4, "accuracy": 0.8})
            store.finish_run(run_id)
            await wait_for(pilot, lambda: not screen.running, timeout=20)
            assert screen.phase == "finished" and rows(screen) == 2
    finally:
        store.close()


async def test_an_attached_multiworker_run_shows_every_workers_health_at_80x24(
    tmp_path: Path,
) -> None:
    # The chief records; the dashboard attached to it reads every worker's report.
    import dataclasses

    from test_follow import STARTED
    from textual.widgets import Static

    from ktui.core.distribute import Placement, WorkerReport
    from ktui.store import RunRecorder
    from ktui.store.placement import report_worker

    store = RunStore(tmp_path / "store" / "runs.sqlite")
    try:
        placement = Placement("multiworker", 2, ("hosta", "hostb"), ("CPU:0", "CPU:0"), 2, "k1")
        recorder = RunRecorder(store, "dummy_binary", values=STARTED.values, epochs=3)
        recorder(dataclasses.replace(STARTED, preset="dummy_binary", placement=placement))
        assert recorder.wait(5)
        now = time.time()
        report_worker(store, WorkerReport("k1", 0, "hosta", 1, "running", 1, 12, now))
        report_worker(store, WorkerReport("k1", 1, "hostb", 2, "running", 1, 11, now - 20))
        app = create_app(
            load_catalog([shipped_presets_dir()]),
            store=store,
            attach=recorder.run_id,
            user_presets_dir=tmp_path,
        )
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen))
            screen = app.screen
            assert isinstance(screen, TrainingScreen)
            status = screen.query_one("#status", Static)

            def shown() -> str:
                return str(status.render())

            await wait_for(pilot, lambda: "2 workers:" in shown(), timeout=10)
            assert "w0 step 12, w1 step 11 silent 20 s" in shown()
            assert status.size.height <= 3 and status.region.bottom <= 24
            report_worker(store, WorkerReport("k1", 1, "hostb", 2, "running", 1, 14, time.time()))
            await wait_for(pilot, lambda: "w1 step 14" in shown(), timeout=10)
            await pilot.press("q")
    finally:
        store.close()
