"""Real sweeps of dummy_binary through the command line: worker processes, Optuna,
the store, a killed worker and a resume. Slow-ish (TensorFlow loads in each worker)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from conftest import KtuiDirs, run_ktui

from ktui.store import RunStore
from ktui.store.sweeps import SweepStore


def _store(dirs: KtuiDirs) -> Path:
    return dirs.data / "runs.sqlite"


def test_four_trials_with_two_workers_end_to_end(ktui_dirs: KtuiDirs) -> None:
    result = run_ktui(
        "sweep", "dummy_binary",
        "--param", "units=8,16",
        "--param", "learning_rate=1e-3..1e-2:log",
        "--set", "epochs=2",
        "--trials", "4", "--workers", "2", "--sampler", "random",
        timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr + result.stdout
    out = result.stdout
    # Plain lines (not a terminal), one per trial start and end, then the leaderboard.
    assert "trial 4 of 4 · best loss" in out
    assert out.count("started as run") == 4
    with RunStore(_store(ktui_dirs)) as runs:
        sweeps = SweepStore(runs)
        (sweep,) = sweeps.all()
        assert sweep.status == "finished"
        trials = sweeps.trials(sweep.id)
        assert sorted(t.number for t in trials) == [1, 2, 3, 4]
        assert all(t.state in ("finished", "pruned") for t in trials)
        pids = {t.pid for t in trials}
        assert len(pids) == 2  # two worker processes shared the four trials
        for trial in trials:
            assert trial.run_id is not None
            run = runs.get_run(trial.run_id)  # an ordinary recorded run
            assert run.values["units"] in (8, 16) and run.values["epochs"] == 2
            assert run.values["units"] == trial.params["units"]
            assert 1e-3 <= trial.params["learning_rate"] <= 1e-2
            assert run.status == trial.state  # a pruned trial's run is recorded pruned
            assert len(runs.epochs(trial.run_id)) == trial.epochs == len(trial.curve)
            assert trial.objective == min(trial.curve)  # the best loss of its epochs
        linked = runs._db.execute("SELECT sweep_id, trial FROM runs ORDER BY trial").fetchall()
        assert linked == [(sweep.id, 1), (sweep.id, 2), (sweep.id, 3), (sweep.id, 4)]
    shown = run_ktui("sweeps", "show", str(sweep.id))
    assert shown.returncode == 0 and "finished" in shown.stdout
    exported = run_ktui("sweeps", "export", str(sweep.id), "--format", "json")
    document = json.loads(exported.stdout)
    assert len(document["trials"]) == 4 and document["changes"][0]["change"].startswith("created")
    csv_text = run_ktui("sweeps", "export", str(sweep.id)).stdout
    assert csv_text.splitlines()[0] == "trial,state,run_id,units,learning_rate,loss,epochs,reason"
    listed = run_ktui("sweeps").stdout
    assert "dummy_binary" in listed and "4/4" in listed


def _wait(predicate, timeout: float = 240) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_killed_worker_and_coordinator_then_resume(ktui_dirs: KtuiDirs) -> None:
    started = run_ktui(
        "sweep", "dummy_binary",
        "--param", "units=8,16",
        # Long enough to be caught mid-trial (a poll every 0.1 s; ~0.1 s an epoch),
        # short enough that the resumed trials finish in seconds.
        "--set", "epochs=24", "--set", "batch_size=500",
        "--trials", "2", "--workers", "1", "--pruner", "none", "--detach",
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    assert "in the background" in started.stdout
    store = _store(ktui_dirs)
    runs = RunStore(store)
    sweeps = SweepStore(runs)
    try:
        sweep_id = sweeps.all()[0].id

        def mid_trial() -> bool:
            going = [t for t in sweeps.trials(sweep_id) if t.state == "running"]
            return bool(going) and going[0].epochs >= 2

        _wait(mid_trial)
        victim = next(t for t in sweeps.trials(sweep_id) if t.state == "running")
        sweep = sweeps.get(sweep_id)
        assert sweep.pid is not None and victim.pid is not None
        os.kill(sweep.pid, signal.SIGKILL)  # the machine "reboots": everything dies
        os.kill(victim.pid, signal.SIGKILL)
        _wait(lambda: not _alive(victim.pid) and not _alive(sweep.pid), 30)
        listed = run_ktui("sweeps").stdout
        assert "interrupted" in listed  # its processes are gone, whatever the row says
        resumed = run_ktui("sweeps", "resume", str(sweep_id), timeout=600)
        assert resumed.returncode == 0, resumed.stderr + resumed.stdout
        assert f"trial {victim.number}: its worker ended mid-trial" in resumed.stdout
        trials = sweeps.trials(sweep_id)
        again = [t for t in trials if t.number == victim.number]
        assert [t.state for t in again] == ["interrupted", "finished"]
        assert again[1].params == victim.params  # re-queued with the same values
        assert victim.run_id is not None
        assert runs.get_run(victim.run_id).status == "interrupted"
        assert sweeps.get(sweep_id).status == "finished"
        assert {t.state for t in trials if t.number != victim.number} == {"finished"}
    finally:
        runs.close()


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed child of a dead parent may linger as a zombie until init reaps it.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except OSError:
        return False


def test_ctrl_c_stops_the_sweep_and_its_running_trial(ktui_dirs: KtuiDirs) -> None:
    import subprocess
    import sys

    from conftest import REPO_ROOT, child_env

    coordinator = subprocess.Popen(
        [
            sys.executable, "-m", "ktui", "sweep", "dummy_binary", "--param", "units=8,16",
            "--set", "epochs=400", "--set", "batch_size=500", "--trials", "3",
            "--pruner", "none",
        ],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=child_env(), cwd=REPO_ROOT,
    )  # fmt: skip
    runs = RunStore(_store(ktui_dirs))
    sweeps = SweepStore(runs)
    try:
        _wait(lambda: bool(sweeps.all()))
        sweep_id = sweeps.all()[0].id
        _wait(lambda: any(t.state == "running" and t.epochs >= 1 for t in sweeps.trials(sweep_id)))
        coordinator.send_signal(signal.SIGINT)
        out, err = coordinator.communicate(timeout=120)
        assert coordinator.returncode == 1, err
        assert "stopping: running trials end after their current batch" in out
        (trial,) = sweeps.trials(sweep_id)  # no other trial was started
        assert trial.state == "stopped"
        assert trial.run_id is not None and runs.get_run(trial.run_id).status == "stopped"
        assert sweeps.get(sweep_id).status == "stopped"
    finally:
        if coordinator.poll() is None:
            coordinator.kill()
        runs.close()
