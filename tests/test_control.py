"""The control channel: commands through the run store, the bridge that applies them,
live progress, the schema's permissions. Real SQLite files, real threads, no mocks."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ktui.core.controls import RunControls
from ktui.core.errors import StoreError
from ktui.core.events import (
    BatchProgress,
    EpochEnded,
    Event,
    LayerInfo,
    LogLine,
    ModelSummary,
    PhaseChanged,
    RunStarted,
)
from ktui.store import CommandBridge, RunRecorder, RunStore, send_command
from ktui.store import db as db_module
from ktui.store.control import wait_taken
from ktui.store.records import RunProgress

MODEL = ModelSummary((LayerInfo("dense", "Dense", "(None, 1)", 5),), 5, 5, "(None, 4)")


@pytest.fixture
def store(store_at: Path | str) -> Iterator[RunStore]:
    """A store in SQLite and in PostgreSQL: steering works the same through both."""
    with RunStore(store_at) as opened:
        yield opened


def dead_pid() -> int:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(child.stdout)


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``check()`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened within {timeout} s")
        time.sleep(0.02)


# --------------------------------------------------------------------------- permissions
def test_a_new_store_and_its_folders_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "runs.sqlite"
    with RunStore(path) as store:
        run_id = store.create_run("p")
        store.add_epoch(run_id, 1, {"loss": 1.0})  # so the -wal file exists
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(store.runs_dir.stat().st_mode) == 0o700
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            assert stat.S_IMODE(side.stat().st_mode) == 0o600, suffix


def test_an_existing_folder_keeps_its_mode(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    with RunStore(shared / "runs.sqlite") as store:
        store.create_run("p")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755
    assert stat.S_IMODE((shared / "runs.sqlite").stat().st_mode) == 0o600


def test_only_the_owner_of_the_store_can_send_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A file's owner decides; a PostgreSQL store's grants do (test_store_postgres.py).
    store = RunStore(tmp_path / "runs.sqlite")
    run_id = store.create_run("p")
    monkeypatch.setattr(os, "getuid", lambda: os.stat(store.path).st_uid + 1)
    with pytest.raises(StoreError, match="belongs to another user"):
        send_command(store, run_id, "stop")
    assert store.commands(run_id) == []


# --------------------------------------------------------------------------- commands
def test_commands_queue_in_order_and_are_taken_once(store: RunStore) -> None:
    run_id = store.create_run("p")  # owned by this (live) process
    first = send_command(store, run_id, "pause")
    send_command(store, run_id, "learning_rate", 0.01)
    send_command(store, run_id, "resume")
    assert [c.kind for c in store.commands(run_id, pending=True)] == [
        "pause",
        "learning_rate",
        "resume",
    ]
    taken = store.take_commands(run_id)
    assert [(c.kind, c.value) for c in taken] == [
        ("pause", None),
        ("learning_rate", 0.01),
        ("resume", None),
    ]
    assert all(c.taken_at is not None for c in taken)
    assert store.take_commands(run_id) == []
    assert store.commands(run_id, pending=True) == []
    assert store.command(first).taken_at is not None


def test_a_command_to_a_finished_run_says_so(store: RunStore) -> None:
    run_id = store.create_run("p")
    store.finish_run(run_id, "finished")
    with pytest.raises(StoreError, match=rf"run {run_id} finished at \d{{4}}-.*nothing to control"):
        send_command(store, run_id, "stop")
    store.set_status(run_id, "interrupted")
    with pytest.raises(StoreError, match="was interrupted at"):
        send_command(store, run_id, "pause")
    assert store.commands(run_id) == []


def test_a_command_to_a_run_whose_process_is_gone_marks_it_interrupted(store: RunStore) -> None:
    pid = dead_pid()
    run_id = store.create_run("p", pid=pid)
    store.add_epoch(run_id, 1, {"loss": 1.0})
    with pytest.raises(StoreError, match=rf"run {run_id}'s process \({pid} on .*is gone; marked"):
        send_command(store, run_id, "stop")
    run = store.get_run(run_id)
    assert run.status == "interrupted" and run.epochs_done == 1
    assert run.ended_at == store.epochs(run_id)[0].ended_at
    assert store.commands(run_id) == []


def test_bad_commands_are_refused(store: RunStore) -> None:
    run_id = store.create_run("p")
    for value in (0.0, -1.0, float("nan"), float("inf"), None):
        with pytest.raises(ValueError, match="positive number"):
            send_command(store, run_id, "learning_rate", value)
    with pytest.raises(ValueError, match="takes no value"):
        send_command(store, run_id, "stop", 1.0)
    with pytest.raises(ValueError, match="unknown command"):
        send_command(store, run_id, "explode")  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="no run with id 999"):
        send_command(store, 999, "stop")


def test_adopting_a_run_makes_this_process_its_owner(store: RunStore) -> None:
    run_id = store.create_run("p", pid=dead_pid())
    assert store.mark_interrupted() == [run_id]  # its first owner exited
    store.adopt_run(run_id)
    run = store.get_run(run_id)
    assert run.status == "running" and run.pid == os.getpid() and run.ended_at is None
    assert store.is_live(run_id)
    store.finish_run(run_id, "stopped")
    with pytest.raises(StoreError, match="already ended"):
        store.adopt_run(run_id)


# --------------------------------------------------------------------------- the bridge
def test_the_bridge_applies_commands_to_the_controls(store: RunStore) -> None:
    run_id = store.create_run("p")
    controls = RunControls()
    notes: list[Event] = []
    with CommandBridge(store, run_id, controls, interval=0.02, notify=notes.append) as bridge:
        assert wait_taken(store, send_command(store, run_id, "pause"))
        assert controls.paused
        assert wait_taken(store, send_command(store, run_id, "resume"))
        assert not controls.paused
        assert wait_taken(store, send_command(store, run_id, "learning_rate", 0.005))
        assert controls.take_learning_rate() == 0.005
        assert not controls.stop_requested
        assert wait_taken(store, send_command(store, run_id, "stop"))
        assert controls.stop_requested
    assert [c.kind for c in bridge.applied] == ["pause", "resume", "learning_rate", "stop"]
    assert all(isinstance(n, LogLine) and n.text.startswith("ktui: ") for n in notes)
    assert "stop requested" in notes[-1].text  # type: ignore[union-attr]


def test_a_pause_holds_the_training_thread_until_resumed(store: RunStore) -> None:
    run_id = store.create_run("p")
    controls = RunControls()
    batches = 0
    done = threading.Event()

    def train() -> None:  # what EventCallback does before each batch
        nonlocal batches
        while not controls.stop_requested:
            controls.wait_while_paused(poll=0.01)
            batches += 1
            time.sleep(0.005)
        done.set()

    with CommandBridge(store, run_id, controls, interval=0.02):
        thread = threading.Thread(target=train, daemon=True)
        thread.start()
        send_command(store, run_id, "pause")
        eventually(lambda: controls.paused)
        time.sleep(0.05)
        held = batches
        time.sleep(0.2)
        assert batches <= held + 1  # at most the batch that was under way
        send_command(store, run_id, "resume")
        eventually(lambda: batches > held + 3)
        send_command(store, run_id, "stop")
        assert done.wait(5)


def test_the_bridge_writes_progress_at_most_twice_a_second(
    store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = store.create_run("p")
    writes: list[float] = []
    original = db_module.RunStore.set_progress

    def counting(self: RunStore, run: int, progress: RunProgress) -> None:
        writes.append(time.monotonic())
        original(self, run, progress)

    monkeypatch.setattr(db_module.RunStore, "set_progress", counting)
    bridge = CommandBridge(store, run_id, RunControls(), interval=0.02)
    with bridge:
        bridge(PhaseChanged("running"))
        eventually(lambda: store.progress(run_id).phase == "running")
        started = time.monotonic()
        step = 0
        while time.monotonic() - started < 1.2:
            step += 1
            bridge(BatchProgress(1, step, 10_000, {"loss": 1.0 / step}, 500.0, 0.1))
            time.sleep(0.002)
        eventually(lambda: store.progress(run_id).step == step)
    progress = store.progress(run_id)
    assert progress.phase == "running" and progress.epoch == 1 and progress.steps == 10_000
    assert progress.logs == {"loss": pytest.approx(1.0 / step)}
    assert progress.samples_per_second == 500.0 and progress.updated_at is not None
    # One for the phase, then about one every half second (plus the last one on close).
    busy = [t for t in writes if t >= started]
    assert 2 <= len(busy) <= 5, len(busy)


def test_a_phase_change_goes_out_at_once(store: RunStore) -> None:
    run_id = store.create_run("p")
    bridge = CommandBridge(store, run_id, RunControls(), interval=2.0)  # a slow poll
    with bridge:
        bridge(PhaseChanged("running"))
        bridge(BatchProgress(1, 3, 10, {}, 1.0, 1.0))
        eventually(lambda: store.progress(run_id).phase == "running", timeout=1)
        bridge(PhaseChanged("paused"))
        started = time.monotonic()
        eventually(lambda: store.progress(run_id).phase == "paused", timeout=1)
        assert time.monotonic() - started < 0.3


def test_the_bridge_writes_the_log_before_the_epoch_ends(store: RunStore) -> None:
    recorder = RunRecorder(store, "p", epochs=3)
    bridge = CommandBridge(store, recorder.run_id, RunControls(), interval=0.02, recorder=recorder)
    with bridge:
        recorder(RunStarted("p", {}, MODEL, 64, 0, 32, 16, 3, 4, "CPU", "random", {"ktui": "0"}))
        recorder(LogLine("W0000 something TensorFlow said"))
        eventually(lambda: store.log(recorder.run_id) == ["W0000 something TensorFlow said"])
        recorder(EpochEnded(1, 3, {"loss": 0.5}, 0.01, 0.2, 320.0))
    assert recorder.wait(5)  # the recorder's own thread writes the epoch
    assert [e.epoch for e in store.epochs(recorder.run_id)] == [1]


def test_a_store_problem_is_reported_once_and_never_stops_the_thread(
    store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = store.create_run("p")
    warnings: list[str] = []

    def broken(self: RunStore, run: int) -> list[object]:
        raise StoreError("the disk is on fire")

    controls = RunControls()
    bridge = CommandBridge(store, run_id, controls, interval=0.02, warn=warnings.append)
    with bridge:
        monkeypatch.setattr(db_module.RunStore, "take_commands", broken)
        time.sleep(0.15)
        monkeypatch.undo()
        send_command(store, run_id, "stop")
        eventually(lambda: controls.stop_requested)
    assert len(warnings) == 1 and "the disk is on fire" in warnings[0]


def test_the_store_and_its_control_channel_load_no_tensorflow_or_textual() -> None:
    from conftest import run_python

    result = run_python(
        "import sys\n"
        "import ktui.store, ktui.store.control, ktui.store.follow, ktui.core.insight\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'textual'}))"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
