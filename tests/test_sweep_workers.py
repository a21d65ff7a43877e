"""A sweep's workers as plain Python: one GPU each, the environment a worker process
is started with, the coordinator starting and retiring workers when their number
changes, and how a trial of another host is judged by its heartbeat."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from ktui.cli import main, preset_folders
from ktui.cli import sweep as sweep_cli
from ktui.core.errors import KtuiError
from ktui.core.presets import load_catalog
from ktui.core.sweep import build_spec
from ktui.core.workers import (
    heartbeat_timeout,
    plan_devices,
    worker_device,
    worker_environment,
    worker_label,
)
from ktui.store import RunStore
from ktui.store.sweeps import SweepStore, trial_alive


def _sweep(store: Path | str, trials: int = 4, workers: int = 1) -> int:
    spec = build_spec(
        load_catalog(preset_folders()).get("dummy_binary"),
        ["units=8,16"],
        ["epochs=2"],
        trials=trials,
        workers=workers,
        sampler="random",
    )
    with RunStore(store) as runs:
        return SweepStore(runs).create_sweep(spec)


# --------------------------------------------------------------------------- devices
def test_one_gpu_per_worker_and_more_workers_share_them_evenly() -> None:
    assert plan_devices(4, [0, 1, 2, 3]) == ["0", "1", "2", "3"]
    assert plan_devices(2, [0, 1, 2, 3]) == ["0", "1"]  # each its own, the rest idle
    assert plan_devices(5, [0, 1]) == ["0", "1", "0", "1", "0"]
    # The coordinator's own CUDA_VISIBLE_DEVICES=2,3 leaves GPUs 2 and 3 to share out.
    assert plan_devices(2, [2, 3]) == ["2", "3"]
    assert plan_devices(3, []) == [None, None, None]  # no GPU: nothing to give
    assert plan_devices(2, None) == [None, None]


def test_the_environment_of_a_worker_names_its_gpu_in_nvidia_smi_order() -> None:
    base = {"PATH": "/bin", "CUDA_VISIBLE_DEVICES": "0,1,2,3"}
    env = worker_environment("2", base)
    assert env["CUDA_VISIBLE_DEVICES"] == "2" and env["PATH"] == "/bin"
    assert env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    assert base["CUDA_VISIBLE_DEVICES"] == "0,1,2,3"  # the coordinator's own is untouched
    assert worker_environment(None, base) == base
    chosen = worker_environment("1", {"CUDA_DEVICE_ORDER": "FASTEST_FIRST"})
    assert chosen["CUDA_DEVICE_ORDER"] == "FASTEST_FIRST"  # a person's choice stays
    assert worker_device({"CUDA_VISIBLE_DEVICES": "1"}) == "1"
    assert worker_device({}) is None


def test_a_worker_is_named_by_host_pid_and_gpu() -> None:
    assert worker_label("gpubox2.lab.example.org", 4711, "1") == "gpubox2/4711 GPU1"
    assert worker_label("gpubox2", 4711, None) == "gpubox2/4711"
    assert worker_label("gpubox2", 4711, "-1") == "gpubox2/4711 cpu"
    assert worker_label(None, None, None) == ""


def test_a_heartbeat_timeout_that_is_not_a_number_is_refused() -> None:
    assert heartbeat_timeout({}) == 60.0
    assert heartbeat_timeout({"KTUI_SWEEP_HEARTBEAT_TIMEOUT": "120"}) == 120.0
    with pytest.raises(KtuiError, match="KTUI_SWEEP_HEARTBEAT_TIMEOUT='soon' is not a number"):
        heartbeat_timeout({"KTUI_SWEEP_HEARTBEAT_TIMEOUT": "soon"})


# --------------------------------------------------------------------------- coordinator
class _FakeWorker:
    """A worker process as the coordinator sees it: it runs until it is ended."""

    count = 0

    def __init__(self, argv: list[str], env: dict[str, str], **kwargs: Any) -> None:
        _FakeWorker.count += 1
        self.pid = 900_000 + _FakeWorker.count
        self.argv = argv
        self.env = env
        self.signals: list[int] = []
        self.ended = False

    def poll(self) -> int | None:
        return 0 if self.ended else None

    def send_signal(self, signum: int) -> None:
        self.signals.append(signum)

    def wait(self, timeout: float | None = None) -> int:
        """The coordinator waits on its first worker between looks: a look passes."""
        time.sleep(timeout or 0)  # the test's `look`
        if not self.ended:
            raise subprocess.TimeoutExpired(self.argv, timeout or 0)
        return 0


def test_the_coordinator_gives_each_worker_a_gpu_and_retires_workers_between_trials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "runs.sqlite"
    sweep_id = _sweep(store, trials=6, workers=3)
    started: list[_FakeWorker] = []

    def popen(argv: list[str], **kwargs: Any) -> _FakeWorker:
        worker = _FakeWorker(argv, kwargs["env"])
        started.append(worker)
        return worker

    looks: list[int] = []

    def look(seconds: float) -> None:
        """Each of the coordinator's looks: the test moves the sweep on one step."""
        looks.append(1)
        with RunStore(store) as runs:
            sweeps = SweepStore(runs)
            if len(looks) == 1:
                assert len(started) == 3
                sweeps.set_workers(sweep_id, 1)  # `ktui sweeps change ID --workers 1`
            elif len(looks) == 2:
                retiring = [w for w in started if w.signals]
                assert [w.signals for w in retiring] == [[signal.SIGUSR1]] * 2
                for worker in retiring:
                    worker.ended = True  # they leave after their trial
            elif len(looks) == 3:
                sweeps.set_workers(sweep_id, 2)
            else:
                sweeps.set_status(sweep_id, "stopped", "stopped by the test")
                for worker in started:
                    worker.ended = True

    monkeypatch.setattr(sweep_cli, "machine_gpus", lambda: [0, 1])
    monkeypatch.setattr(sweep_cli.subprocess, "Popen", popen)
    monkeypatch.setattr(sweep_cli.time, "sleep", look)
    lines: list[str] = []

    class Out:
        def write(self, text: str) -> int:
            lines.append(text)
            return len(text)

        def flush(self) -> None:
            pass

    assert sweep_cli.coordinate(store, sweep_id, out=Out()) == 1  # type: ignore[arg-type]
    devices = [w.env.get("CUDA_VISIBLE_DEVICES") for w in started]
    # Three workers on two GPUs (0, 1, 0); the highest slots (GPU 1 and the second on 0)
    # retire; back to two workers, the new second one gets slot 1's GPU again.
    assert devices == ["0", "1", "0", "1"]
    assert started[0].signals == [] and started[3].signals == []
    assert all(w.argv[-2:] == ["sweep-worker", str(sweep_id)] for w in started)
    assert all(w.env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID" for w in started)
    assert any("retires after its trial" in line for line in lines)
    with RunStore(store) as runs:
        history = [text for _, text in SweepStore(runs).changes(sweep_id)]
    assert "workers 3 → 1" in history and "workers 1 → 2" in history


def test_changing_the_workers_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "runs.sqlite"
    sweep_id = _sweep(store, workers=1)
    argv = ["--store", str(store), "sweeps", "change", str(sweep_id)]
    assert main([*argv, "--workers", "3"]) == 0
    assert "1 → 3 worker(s)" in capsys.readouterr().out
    assert main([*argv, "--workers", "0"]) == 2
    err = capsys.readouterr().err
    assert "--workers 0: a sweep needs at least 1 worker" in err and "sweeps pause" in err
    assert main(argv) == 2
    assert "say what to change" in capsys.readouterr().err
    with RunStore(store) as runs:
        sweeps = SweepStore(runs)
        assert sweeps.get(sweep_id).settings.workers == 3
        assert sweeps.changes(sweep_id)[-1][1] == "workers 1 → 3"


def test_joining_a_sweep_that_does_not_run_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "runs.sqlite"
    sweep_id = _sweep(store)
    with RunStore(store) as runs:
        SweepStore(runs).set_status(sweep_id, "paused", "paused by you")
    assert main(["--store", str(store), "sweeps", "worker", str(sweep_id)]) == 2
    err = capsys.readouterr().err
    assert f"sweep {sweep_id} is paused: no trials to take" in err
    assert f"ktui sweeps resume {sweep_id}" in err


# --------------------------------------------------------------------------- liveness
def test_another_hosts_trial_is_judged_by_its_heartbeat(
    store_at: Path | str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = store_at
    sweep_id = _sweep(store, trials=4)
    with RunStore(store) as runs:
        sweeps = SweepStore(runs)
        monkeypatch.setenv("KTUI_HOST", "gpubox-a")  # the trials a worker there took
        stale = sweeps.claim_trial(sweep_id, pid=4242, device="1")
        fresh = sweeps.claim_trial(sweep_id, pid=4243, device="0")
        assert stale is not None and fresh is not None
        run_id = runs.create_run("dummy_binary", values={"units": 8}, epochs=2)
        sweeps.start_trial(stale, sweep_id, optuna_number=0, params={"units": 8}, run_id=run_id)
        runs.add_epoch(run_id, 1, {"loss": 0.7})
        monkeypatch.setenv("KTUI_HOST", "gpubox-b")  # and here, a worker of this host
        local = sweeps.claim_trial(sweep_id)  # this test's own process: alive
        assert local is not None
        claimed = {t.id: t for t in sweeps.trials(sweep_id)}
        start = claimed[stale.id].heartbeat_at
        assert start is not None
        # The pid 4242 means nothing here: only the heartbeat can tell.
        assert trial_alive(claimed[stale.id], timeout=60, now=start + 30)
        assert sweeps.interrupt_dead(sweep_id, timeout=60, now=start + 30) == []
        with runs._write("beat for gpubox-a's second worker") as db:
            db.execute(
                "UPDATE sweep_trials SET heartbeat_at = ? WHERE id = ?", (start + 50, fresh.id)
            )
        (dead,) = sweeps.interrupt_dead(sweep_id, timeout=60, now=start + 61)
        assert dead.id == stale.id and dead.state == "interrupted"
        assert dead.host == "gpubox-a" and dead.worker == "gpubox-a/4242 GPU1"
        assert "its worker on gpubox-a sent no heartbeat for 61 s" in dead.reason
        assert "re-queued" in dead.reason
        assert runs.get_run(run_id).status == "interrupted"  # its host cannot say so
        # Marked once: the next look (another worker's) finds nothing more.
        assert sweeps.interrupt_dead(sweep_id, timeout=60, now=start + 61) == []
        states = {t.id: t.state for t in sweeps.trials(sweep_id)}
        assert states == {stale.id: "interrupted", fresh.id: "running", local.id: "running"}
        # The slot is free again, and the dead worker, should it come back, is told.
        assert sweeps.free_slots(sweeps.get(sweep_id)) == 2
        assert sweeps.heartbeat(stale) is False
        assert sweeps.heartbeat(fresh) is True
    # `ktui sweeps show` names each trial's worker, once there are several.
    assert main(["--store", str(store), "sweeps", "show", str(sweep_id)]) == 0
    shown = capsys.readouterr().out
    (header,) = [line for line in shown.splitlines() if "hyperparameters / why" in line]
    assert "worker" in header
    assert "gpubox-a/4243 GPU0" in shown and f"gpubox-b/{os.getpid()}" in shown


def test_a_dead_worker_of_this_host_is_known_by_its_pid_at_once(tmp_path: Path) -> None:
    store = tmp_path / "runs.sqlite"
    sweep_id = _sweep(store, trials=2)
    with RunStore(store) as runs:
        sweeps = SweepStore(runs)
        gone = sweeps.claim_trial(sweep_id, pid=2**22 + 12345)  # no such process
        assert gone is not None
        (dead,) = sweeps.interrupt_dead(sweep_id, timeout=3600)
        assert dead.id == gone.id and "its worker process ended mid-trial" in dead.reason


def test_workers_taking_trials_at_once_never_take_one_slot_twice(store_at: Path | str) -> None:
    """Four connections (as four worker processes have) claim as fast as they can."""
    import threading

    store = store_at
    sweep_id = _sweep(store, trials=80)
    taken: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def claim_all(pid: int) -> None:
        try:
            with RunStore(store) as runs:
                sweeps = SweepStore(runs)
                start.wait()
                while (claim := sweeps.claim_trial(sweep_id, pid=pid)) is not None:
                    taken.append(claim.number)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=claim_all, args=(1000 + k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(taken) == list(range(1, 81))  # each slot once, none left over


async def test_the_leaderboard_screen_names_each_trials_worker(tmp_path: Path) -> None:
    from fakes import FakeTrainer
    from sweep_data import fill_sweep

    from ktui.app import create_app
    from ktui.core.presets import shipped_presets_dir
    from ktui.screens.leaderboard import LeaderboardScreen
    from ktui.widgets.leaderboard import LeaderboardTable

    catalog = load_catalog([shipped_presets_dir()])
    store = RunStore(tmp_path / "runs.sqlite")
    sweep_id = fill_sweep(store, catalog.get("dummy_binary"), trials=4)
    app = create_app(catalog, trainer_factory=FakeTrainer, store=store, sweep=sweep_id)
    async with app.run_test(size=(160, 30)) as pilot:
        while not isinstance(app.screen, LeaderboardScreen):
            await pilot.pause(0.02)
        await pilot.pause()
        table = app.screen.query_one(LeaderboardTable)
        assert "worker" not in table.columns  # one worker ran them all: nothing to tell
        with store._write("two hosts ran the trials") as db:
            db.execute(
                "UPDATE sweep_trials SET host = 'gpubox1', pid = 11, device = '0' WHERE number <= 2"
            )
            db.execute("UPDATE sweep_trials SET host = 'gpubox2', pid = 22 WHERE number > 2")
        while "worker" not in table.columns:
            app.screen.refresh_board()  # what its timer does while the sweep runs
            await pilot.pause(0.05)
        column = table.columns.index("worker")
        shown = {
            row.number: cells[column] for row, cells in zip(table.shown, table.cells, strict=True)
        }
        assert shown == {
            1: "gpubox1/11 GPU0",
            2: "gpubox1/11 GPU0",
            3: "gpubox2/22",
            4: "gpubox2/22",
        }
    store.close()


def test_a_role_that_may_not_create_optunas_tables_is_told_why(
    postgres_server: Any, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A team's role may write ktui's tables but not create tables: the first worker
    of the first sweep cannot make Optuna's, and says what to ask for."""
    from ktui.cli import sweep_engine
    from ktui.core.store_url import DatabaseUrl

    sweep_id = _sweep(postgres_url)  # made by the database's owner: ktui's tables exist
    database = DatabaseUrl(postgres_url).database
    postgres_server.sql("DROP ROLE IF EXISTS sweeper")
    postgres_server.sql("CREATE ROLE sweeper LOGIN PASSWORD 'sweeper-pw'")
    for grant in (
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO sweeper",
        "GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO sweeper",
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
    ):
        postgres_server.sql(grant, database)
    sweeper = postgres_server.url(database, user="sweeper", password="sweeper-pw")
    monkeypatch.setattr(sweep_engine.time, "sleep", lambda seconds: None)
    with pytest.raises(KtuiError) as caught:
        sweep_engine.Worker(DatabaseUrl(sweeper), sweep_id, load_catalog(preset_folders()))
    message = str(caught.value)
    assert f"the search engine's study of sweep {sweep_id} cannot be opened" in message
    assert "permission denied" in message and "sweeper-pw" not in message
    assert "needs CREATE on its schema" in (caught.value.hint or "")
