"""``ktui sweeps worker`` for real: worker processes that join a sweep share its trials
without running one twice, and a worker killed mid-trial (on "another host": its
host name differs, so only its heartbeat can tell) leaves its trial interrupted,
re-run by the other. Each worker loads TensorFlow: a few seconds each."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from conftest import REPO_ROOT, KtuiDirs, child_env, run_ktui

from ktui.cli import preset_folders
from ktui.core.presets import load_catalog
from ktui.core.sweep import build_spec
from ktui.store import RunStore
from ktui.store.sweeps import SweepStore


def new_sweep(store: str | Path, trials: int, fixed: list[str]) -> int:
    """A recorded sweep of dummy_binary that no coordinator runs: only joined workers."""
    spec = build_spec(
        load_catalog(preset_folders()).get("dummy_binary"),
        ["units=4,8"],
        fixed,
        trials=trials,
        sampler="random",
        pruner="none",
    )
    with RunStore(store) as runs:
        return SweepStore(runs).create_sweep(spec)


def start_worker(
    store: str | Path, sweep_id: int, env: Mapping[str, str] | None = None
) -> subprocess.Popen[str]:
    """``ktui sweeps worker ID`` as a person starts it."""
    return subprocess.Popen(
        [sys.executable, "-m", "ktui", "--store", str(store), "sweeps", "worker", str(sweep_id)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=child_env(env),
        cwd=REPO_ROOT,
    )


def wait_for(predicate: Callable[[], bool], timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError("timed out")


def check_shared(store: str | Path, sweep_id: int, outputs: list[str], trials: int) -> None:
    """Every trial ran once, each with a run of its own, and both workers took some."""
    with RunStore(store) as runs:
        sweeps = SweepStore(runs)
        assert sweeps.get(sweep_id).status == "finished"
        rows = sweeps.trials(sweep_id)
        assert sorted(t.number for t in rows) == list(range(1, trials + 1))  # none twice
        assert all(t.state == "finished" for t in rows)
        assert len({t.optuna_number for t in rows}) == trials  # Optuna asked once each
        assert len({t.run_id for t in rows}) == trials
        assert len({t.pid for t in rows}) == 2  # the two workers shared them
        for trial in rows:
            assert trial.run_id is not None
            run = runs.get_run(trial.run_id)
            assert run.status == "finished" and run.values["units"] == trial.params["units"]
    assert sum(out.count("started as run") for out in outputs) == trials
    shown = run_ktui("--store", str(store), "sweeps", "show", str(sweep_id))
    (header,) = [line for line in shown.stdout.splitlines() if "hyperparameters / why" in line]
    assert "worker" in header  # which worker ran which trial


def test_two_joined_workers_share_a_sweep_without_running_a_trial_twice(
    ktui_dirs: KtuiDirs, store_at: Path | str
) -> None:
    # Once on SQLite (the study in a file beside the store) and once on PostgreSQL,
    # where the study lives in the store's own database: all a worker on another
    # host needs is --store URL.
    store = store_at
    sweep_id = new_sweep(store, 4, ["epochs=1"])
    workers = [start_worker(store, sweep_id), start_worker(store, sweep_id)]
    outputs = [w.communicate(timeout=300)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    assert all(f"Joining sweep {sweep_id}" in out for out in outputs)
    check_shared(store, sweep_id, outputs, 4)
    if isinstance(store, str):
        import psycopg

        with psycopg.connect(store) as db:
            names = db.execute("SELECT study_name FROM studies").fetchall()
            told = db.execute("SELECT count(*) FROM trials WHERE state = 'COMPLETE'").fetchone()
        assert names == [(f"ktui-sweep-{sweep_id}",)] and told == (4,)
        assert not list(ktui_dirs.data.rglob("*.optuna.sqlite"))  # nothing kept locally


def test_a_worker_killed_on_another_host_is_re_run_by_the_other(ktui_dirs: KtuiDirs) -> None:
    store = ktui_dirs.data / "runs.sqlite"
    sweep_id = new_sweep(store, 1, ["epochs=400", "batch_size=500"])
    # Two "hosts": each worker's host name differs, so neither can judge the other by
    # its pid; only the heartbeat tells (every 0.5 s, dead after 3 s without).
    beat = {"KTUI_SWEEP_HEARTBEAT_TIMEOUT": "3"}
    workers = {
        host: start_worker(store, sweep_id, {"KTUI_HOST": host, **beat})
        for host in ("host-a", "host-b")
    }
    runs = RunStore(store)
    sweeps = SweepStore(runs)
    try:

        def trained_a_while() -> bool:
            rows = sweeps.trials(sweep_id)
            return bool(rows) and rows[0].epochs >= 1

        wait_for(trained_a_while)  # one took the only trial; the other waits
        (first,) = sweeps.trials(sweep_id)
        assert first.host is not None
        victim = workers.pop(first.host)
        ((other_host, other),) = workers.items()
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=30)

        def re_run() -> bool:
            rows = sweeps.trials(sweep_id)
            states = [t.state for t in rows]
            return states == ["interrupted", "running"] and rows[1].run_id is not None

        wait_for(re_run, timeout=120)
        dead, again = sweeps.trials(sweep_id)
        assert dead.id == first.id
        assert f"its worker on {first.host} sent no heartbeat" in dead.reason
        assert again.number == dead.number and again.host == other_host
        assert again.params == dead.params  # re-queued with the same values
        assert dead.run_id is not None and again.run_id != dead.run_id
        assert runs.get_run(dead.run_id).status == "interrupted"
        stopped = run_ktui("--store", str(store), "sweeps", "stop", str(sweep_id))
        assert stopped.returncode == 0, stopped.stderr
        out = other.communicate(timeout=120)[0]
        assert other.returncode == 0, out
        assert f"trial 1: its worker on {first.host} sent no heartbeat" in out
        assert [t.state for t in sweeps.trials(sweep_id)] == ["interrupted", "stopped"]
    finally:
        for process in workers.values():
            if process.poll() is None:
                process.kill()
                process.wait()
        runs.close()


def test_another_host_judges_a_sweep_by_its_coordinators_heartbeat(
    store_at: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No trial is running (between trials): only the coordinator's beat tells.
    sweep_id = new_sweep(store_at, 2, ["epochs=1"])
    monkeypatch.setenv("KTUI_HOST", "coordinator-host")
    with RunStore(store_at) as runs:
        sweeps = SweepStore(runs)
        sweeps.adopt(sweep_id, 4321)  # a coordinator of that host
        monkeypatch.setenv("KTUI_HOST", "this-host")
        monkeypatch.setenv("KTUI_SWEEP_HEARTBEAT_TIMEOUT", "5")
        sweep = sweeps.get(sweep_id)
        assert sweep.host == "coordinator-host" and sweep.heartbeat_at is not None
        assert sweeps.shown_status(sweep) == "running"
        assert sweeps.coordinator_alive(sweep, now=sweep.heartbeat_at + 4.5)
        assert not sweeps.coordinator_alive(sweep, now=sweep.heartbeat_at + 6)
        monkeypatch.setattr(time, "time", lambda: sweep.heartbeat_at + 6)  # type: ignore[operator]
        assert sweeps.shown_status(sweep) == "interrupted"
        monkeypatch.undo()
        monkeypatch.setenv("KTUI_HOST", "coordinator-host")
        sweeps.coordinator_beat(sweep_id)
        monkeypatch.setenv("KTUI_HOST", "this-host")
        monkeypatch.setattr(time, "time", lambda: sweep.heartbeat_at + 6)  # type: ignore[operator]
        beaten = sweeps.get(sweep_id)
        assert beaten.heartbeat_at is not None and beaten.heartbeat_at > sweep.heartbeat_at
        assert sweeps.shown_status(beaten) == "running"


def test_a_coordinator_on_another_host_is_never_shown_interrupted(ktui_dirs: KtuiDirs) -> None:
    """A real detached coordinator (``ktui sweep-run``) of "another host" and its
    worker: read from this host, the sweep is running until it has finished, even while
    no trial is (its worker loading TensorFlow, between trials)."""
    store = ktui_dirs.data / "runs.sqlite"
    sweep_id = new_sweep(store, 2, ["epochs=1"])
    env = {"KTUI_HOST": "sweep-host", "KTUI_SWEEP_HEARTBEAT_TIMEOUT": "1"}
    coordinator = subprocess.Popen(
        [sys.executable, "-m", "ktui", "--store", str(store), "sweep-run", str(sweep_id)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=child_env(env),
        cwd=REPO_ROOT,
    )
    seen: list[tuple[str, int]] = []
    os.environ["KTUI_SWEEP_HEARTBEAT_TIMEOUT"] = "1"
    try:
        with RunStore(store) as runs:
            sweeps = SweepStore(runs)
            deadline = time.monotonic() + 240
            while coordinator.poll() is None:
                assert time.monotonic() < deadline, "the sweep did not end"
                sweep = sweeps.get(sweep_id)
                going = sum(t.state == "running" for t in sweeps.trials(sweep_id))
                seen.append((sweeps.shown_status(sweep), going))
                time.sleep(0.25)
            final = sweeps.get(sweep_id)
    finally:
        del os.environ["KTUI_SWEEP_HEARTBEAT_TIMEOUT"]
        if coordinator.poll() is None:
            coordinator.kill()
        output = coordinator.communicate(timeout=30)[0]
    assert coordinator.returncode == 0 and final.status == "finished", output
    assert final.host == "sweep-host"
    shown = {status for status, _ in seen}
    assert "interrupted" not in shown, seen
    idle = [status for status, going in seen if going == 0 and status == "running"]
    assert len(idle) * 0.25 > 1, seen  # longer than the timeout with no trial running
