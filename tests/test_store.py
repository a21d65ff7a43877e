"""Tests for the run store (ktui.store.db, .schema, .liveness): real SQLite files in
tmp_path, real child processes, no mocks."""

from __future__ import annotations

import hashlib
import math
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import REPO_ROOT, child_env

from ktui.core.errors import StoreError
from ktui.core.metrics import MetricPolicy
from ktui.core.paths import store_path
from ktui.store import SCHEMA_VERSION, RunStore
from ktui.store.liveness import process_alive, process_token, this_host
from ktui.store.schema import APPLICATION_ID


@pytest.fixture(autouse=True)
def _no_store_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KTUI_STORE", raising=False)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "store" / "runs.sqlite"


@pytest.fixture
def store(store_at: Path | str) -> RunStore:
    """A new store, in SQLite and in PostgreSQL (the tests taking it run on both)."""
    with RunStore(store_at) as opened:
        yield opened  # type: ignore[misc]


@pytest.fixture
def sqlite_store(db_path: Path) -> RunStore:
    """A new SQLite store, for what only SQLite has (its file, its locks)."""
    with RunStore(db_path) as opened:
        yield opened  # type: ignore[misc]


def sql(
    store: RunStore, statement: str, params: tuple[object, ...] = ()
) -> list[tuple[object, ...]]:
    """Run ``statement`` on the store's own database, as another program could."""
    with store._write("run a test's statement") as db:
        cursor = db.execute(statement, params)
        return list(cursor.fetchall()) if statement.lstrip().upper().startswith("SELECT") else []


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(child.stdout)


def record(store: RunStore, preset: str = "p", epochs: int = 3, **values: object) -> int:
    """A finished run with ``epochs`` epochs whose val_accuracy peaks at epoch 2."""
    run_id = store.create_run(
        preset,
        values=values or {"units": 8},
        defaults={"units": 8},
        epochs=epochs,
        policy=MetricPolicy("val_accuracy"),
    )
    for epoch in range(1, epochs + 1):
        store.add_epoch(
            run_id, epoch, {"loss": 1 / epoch, "val_accuracy": 0.5 + 0.1 * (epoch == 2)}
        )
    store.finish_run(run_id, test_loss=0.3, test_accuracy=0.9)
    return run_id


# --------------------------------------------------------------------------- round trip
def test_round_trip_keeps_everything(store: RunStore) -> None:
    run_id = store.create_run(
        "mnist_mlp",
        values={"units": 128, "learning_rate": 0.01, "activation": "tanh", "shuffle": True},
        defaults={"units": 784, "learning_rate": 0.01, "activation": "relu", "shuffle": True},
        data="mnist",
        epochs=3,
    )
    store.set_details(
        run_id,
        device="CPU (x86_64)",
        versions={"ktui": "0.1.0", "keras": "3.5.0", "tensorflow": "2.17.0"},
        model={"total_params": 1234, "layers": [{"name": "dense"}]},
        info={"train_samples": 100, "batch_size": 10},
        data="mnist (~/.keras/datasets/mnist.npz)",
    )
    store.append_log(run_id, ["loading", "W0000 a warning"])
    for epoch, acc in enumerate([0.8, 0.95, 0.9], start=1):
        store.add_epoch(
            run_id,
            epoch,
            {"loss": 1 / epoch, "accuracy": acc - 0.01, "val_loss": 1 / epoch, "val_accuracy": acc},
            learning_rate=0.01 / epoch,
            seconds=1.5,
            samples_per_second=66.6,
            log=[f"epoch {epoch} says hi"],
        )
    store.finish_run(run_id, test_loss=0.25, test_accuracy=0.93, seconds=4.5, log=["bye"])

    run = store.get_run(run_id)
    assert run.preset == "mnist_mlp"
    assert run.status == "finished"
    assert run.values == {
        "units": 128,
        "learning_rate": 0.01,
        "activation": "tanh",
        "shuffle": True,
    }
    assert run.changed_values() == {"units": 128, "activation": "tanh"}
    assert run.data == "mnist (~/.keras/datasets/mnist.npz)"
    assert run.device == "CPU (x86_64)"
    assert run.versions["tensorflow"] == "2.17.0"
    assert run.model == {"total_params": 1234, "layers": [{"name": "dense"}]}
    assert run.info == {"train_samples": 100, "batch_size": 10}
    assert run.epochs_done == 3 and run.epochs_planned == 3
    # Judged by the objective, val_loss (lower is better): 1/3 at epoch 3.
    assert (run.best_metric, run.best_value, run.best_epoch) == (
        "val_loss",
        pytest.approx(1 / 3),
        3,
    )
    assert run.test_loss == 0.25 and run.test_accuracy == 0.93
    assert run.test_error_percent == pytest.approx(7.0)
    assert run.seconds == 4.5
    assert run.ended_at is not None and run.ended_at >= run.started_at
    assert run.duration is not None and run.duration >= 0
    assert run.pid == os.getpid() and run.host == this_host()
    assert run.folder == store.runs_dir / str(run_id) == store.folder(run_id)
    assert run.folder.is_dir()
    assert run.error is None

    epochs = store.epochs(run_id)
    assert [e.epoch for e in epochs] == [1, 2, 3]
    assert epochs[1].metrics == {
        "loss": 0.5,
        "accuracy": 0.94,
        "val_loss": 0.5,
        "val_accuracy": 0.95,
    }
    assert epochs[2].learning_rate == pytest.approx(0.01 / 3)
    assert epochs[0].seconds == 1.5 and epochs[0].samples_per_second == 66.6
    assert store.log(run_id) == [
        "loading",
        "W0000 a warning",
        "epoch 1 says hi",
        "epoch 2 says hi",
        "epoch 3 says hi",
        "bye",
    ]
    assert store.log(run_id, tail=2) == ["epoch 3 says hi", "bye"]
    assert store.log_size(run_id) == 6

    [summary] = store.list_runs()
    assert summary.id == run_id and summary.best_value == pytest.approx(1 / 3)

    # A second connection (another process, in real life) reads the same.
    with RunStore(store.path) as other:
        assert other.get_run(run_id) == run


def test_new_store_is_wal_with_the_current_schema(sqlite_store: RunStore) -> None:
    store = sqlite_store
    assert isinstance(store.path, Path)
    db = sqlite3.connect(store.path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    finally:
        db.close()
    assert store.schema_version == SCHEMA_VERSION


def test_failed_run_keeps_message_and_traceback(store: RunStore) -> None:
    run_id = store.create_run("p")
    store.add_epoch(run_id, 1, {"loss": 0.5})
    store.fail_run(
        run_id,
        "ValueError: bad shape",
        error_type="ValueError",
        traceback="Traceback...\nValueError: bad shape",
    )
    run = store.get_run(run_id)
    assert run.status == "failed"
    assert run.error == "ValueError: bad shape"
    assert run.error_type == "ValueError"
    assert run.traceback is not None and run.traceback.startswith("Traceback")
    assert run.epochs_done == 1


def test_best_metric_preference_and_direction(store: RunStore) -> None:
    # The objective (ktui.core.metrics): val_loss, else loss, unless the run monitors another.
    run_id = store.create_run("p", policy=MetricPolicy("val_mae"))
    for epoch, mae in enumerate([0.9, 0.4, 0.6], start=1):
        store.add_epoch(run_id, epoch, {"loss": 1.0, "val_loss": 1.0, "val_mae": mae})
    run = store.get_run(run_id)
    assert (run.best_metric, run.best_value, run.best_epoch) == ("val_mae", 0.4, 2)

    run_id = store.create_run("p")
    for epoch, loss in enumerate([0.9, 0.4, math.nan, 0.6], start=1):
        store.add_epoch(run_id, epoch, {"loss": 1.0, "val_loss": loss})
    run = store.get_run(run_id)
    assert (run.best_metric, run.best_value, run.best_epoch) == ("val_loss", 0.4, 2)
    assert math.isnan(store.epochs(run_id)[2].metrics["val_loss"])


def test_list_filters_sorts_and_limits(store: RunStore) -> None:
    a = record(store, "alpha")
    b = record(store, "beta")
    c = store.create_run("alpha", policy=MetricPolicy("val_accuracy"))
    store.add_epoch(c, 1, {"loss": 1.0, "val_accuracy": 0.99})
    store.fail_run(c, "boom")
    d = store.create_run("beta", policy=MetricPolicy("val_accuracy"))
    store.add_epoch(d, 1, {"loss": 1.0, "val_accuracy": 0.1})
    store.finish_run(d, "stopped", test_loss=1.0, test_accuracy=0.5)

    assert [r.id for r in store.list_runs()] == [d, c, b, a]
    assert [r.id for r in store.list_runs(reverse=True)] == [a, b, c, d]
    assert [r.id for r in store.list_runs(preset="alpha")] == [c, a]
    assert [r.id for r in store.list_runs(status="failed")] == [c]
    assert [r.id for r in store.list_runs(preset="beta", status="stopped")] == [d]
    assert [r.id for r in store.list_runs(limit=2)] == [d, c]
    assert [r.id for r in store.list_runs(sort="best")] == [c, b, a, d]
    # Lowest test error first; a run without a test result comes last either way.
    assert [r.id for r in store.list_runs(sort="test_error")] == [b, a, d, c]
    assert [r.id for r in store.list_runs(sort="test_error", reverse=True)] == [d, a, b, c]
    assert [r.preset for r in store.list_runs(sort="preset")] == ["alpha", "alpha", "beta", "beta"]
    assert store.count_runs() == 4 and store.count_runs(preset="beta") == 2
    with pytest.raises(StoreError, match="no run status 'done'"):
        store.list_runs(status="done")  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="cannot sort runs by 'colour'"):
        store.list_runs(sort="colour")  # type: ignore[arg-type]


def test_unknown_run_is_a_clear_error(store: RunStore) -> None:
    for call in (
        lambda: store.get_run(99),
        lambda: store.epochs(99),
        lambda: store.add_epoch(99, 1, {"loss": 1.0}),
        lambda: store.finish_run(99),
        lambda: store.delete_run(99),
        lambda: store.folder(99),
    ):
        with pytest.raises(StoreError) as caught:
            call()
        assert caught.value.message == f"no run with id 99 in {store.path}"


def test_delete_removes_rows_and_folder_and_never_reuses_the_id(store: RunStore) -> None:
    first = record(store)
    folder = store.folder(first)
    (folder / "model.keras").write_bytes(b"model")
    store.append_log(first, ["a line"])
    store.delete_run(first)
    assert not folder.exists()
    assert not store.has_run(first)
    assert store.list_runs() == []
    assert sql(store, "SELECT count(*) FROM epochs") == [(0,)]
    assert sql(store, "SELECT count(*) FROM log") == [(0,)]
    assert record(store) == first + 1


def test_delete_refuses_a_run_that_is_still_recording(store: RunStore) -> None:
    run_id = store.create_run("p")  # owned by this (live) process
    with pytest.raises(StoreError, match="still being recorded"):
        store.delete_run(run_id)
    store.set_status(run_id, "interrupted")
    store.delete_run(run_id)


def test_a_left_over_folder_is_never_reused(db_path: Path) -> None:
    stale = db_path.parent / "runs" / "1"
    stale.mkdir(parents=True)
    (stale / "model.keras").write_bytes(b"somebody else's model")
    with RunStore(db_path) as store:
        run_id = store.create_run("p")
        assert run_id == 1
        assert store.folder(run_id) == db_path.parent / "runs" / "1-2"
        store.set_status(run_id, "stopped")
        store.delete_run(run_id)
    assert (stale / "model.keras").read_bytes() == b"somebody else's model"


# --------------------------------------------------------------------------- interrupted runs
def test_process_checks() -> None:
    assert process_alive(os.getpid(), process_token(os.getpid()))
    assert not process_alive(dead_pid())
    assert not process_alive(0)
    if process_token(os.getpid()) is not None:  # Linux: a reused pid is told apart
        assert not process_alive(os.getpid(), "another-boot/123")


def test_mark_interrupted_only_touches_dead_processes_of_this_host(store: RunStore) -> None:
    dead = store.create_run("p", pid=dead_pid())
    store.add_epoch(dead, 1, {"loss": 1.0})
    store.add_epoch(dead, 2, {"loss": 0.5})
    alive = store.create_run("p")
    elsewhere = store.create_run("p", pid=dead_pid())
    sql(store, "UPDATE runs SET host = 'another-host' WHERE id = ?", (elsewhere,))
    finished = record(store)

    assert store.mark_interrupted() == [dead]
    run = store.get_run(dead)
    assert run.status == "interrupted"
    assert run.epochs_done == 2 and len(store.epochs(dead)) == 2
    assert run.ended_at == store.epochs(dead)[-1].ended_at
    assert store.get_run(alive).status == "running"
    assert store.get_run(elsewhere).status == "running"
    assert store.get_run(finished).status == "finished"
    assert store.mark_interrupted() == []

    # A run wrongly taken for dead that records another epoch is running again.
    store.add_epoch(dead, 3, {"loss": 0.2})
    assert store.get_run(dead).status == "running"
    assert store.get_run(dead).ended_at is None


CHILD = r"""
import sys, time
from pathlib import Path
from ktui.core.events import EpochEnded, LogLine, ModelSummary, RunFinished, RunStarted
from ktui.store import RunRecorder, RunStore

path, preset, epochs, hold_at = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
go = Path(sys.argv[5]) if len(sys.argv) > 5 else None
store = RunStore(path)
recorder = RunRecorder(store, preset, values={"epochs": epochs}, epochs=epochs)
print("run", recorder.run_id, flush=True)
while go is not None and not go.exists():
    time.sleep(0.005)
recorder(RunStarted(preset, {"epochs": epochs}, ModelSummary((), 1, 1), 10, 0, 5, 2, epochs, 5,
                    "CPU", "random"))
for epoch in range(1, epochs + 1):
    recorder(LogLine(f"{preset} line {epoch}"))
    recorder(EpochEnded(epoch, epochs, {"loss": 1 / epoch, "accuracy": epoch / epochs}, 0.001,
                        0.01, 1000.0))
    assert recorder.wait(5)  # written by the recorder's thread; then it is said
    assert not recorder.warnings, recorder.warnings
    print("epoch", epoch, flush=True)
    if epoch == hold_at:
        recorder(LogLine("this line is in the epoch in progress"))
        time.sleep(600)
recorder(RunFinished("finished", epochs, 1.0, 0.5, 0.75))
print("done", flush=True)
"""


def start_child(*args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
        cwd=REPO_ROOT,
    )


def read_until(child: subprocess.Popen[str], wanted: str) -> list[str]:
    assert child.stdout is not None
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = child.stdout.readline().strip()
        if not line and child.poll() is not None:
            break
        lines.append(line)
        if line == wanted:
            return lines
    child.kill()
    raise AssertionError(
        f"child never printed {wanted!r}: {lines} {child.stderr.read() if child.stderr else ''}"
    )


def test_kill_9_mid_run_keeps_committed_epochs_and_is_marked_interrupted(db_path: Path) -> None:
    child = start_child(db_path, "victim", 10, 3)
    try:
        assert child.stdout is not None
        run_id = int(child.stdout.readline().split()[1])
        read_until(child, "epoch 3")
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    with RunStore(db_path) as store:
        assert store.get_run(run_id).status == "running"  # nobody has looked yet
        assert store.mark_interrupted() == [run_id]
        run = store.get_run(run_id)
        assert run.status == "interrupted"
        assert [e.epoch for e in store.epochs(run_id)] == [1, 2, 3]
        assert run.epochs_done == 3 and run.epochs_planned == 10
        assert run.best_metric == "loss" and run.best_value == pytest.approx(1 / 3)
        # The log up to the last committed epoch is kept; the epoch in progress is lost.
        assert store.log(run_id) == ["victim line 1", "victim line 2", "victim line 3"]
        assert run.ended_at == store.epochs(run_id)[-1].ended_at


def test_kill_9_while_writing_as_fast_as_possible_leaves_a_sound_store(db_path: Path) -> None:
    child = start_child(db_path, "flood", 100_000, 0)
    try:
        read_until(child, "epoch 300")
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    with RunStore(db_path) as store:
        [run_id] = store.mark_interrupted()
        epochs = [e.epoch for e in store.epochs(run_id)]
        assert len(epochs) >= 300
        assert epochs == list(range(1, len(epochs) + 1))
        assert store.get_run(run_id).epochs_done == len(epochs)
        assert store.log_size(run_id) == len(epochs)
    db = sqlite3.connect(db_path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        db.close()


# --------------------------------------------------------------------------- concurrency
def test_two_processes_writing_at_once_both_keep_every_epoch(
    tmp_path: Path, store_at: Path | str
) -> None:
    if isinstance(store_at, Path):
        RunStore(store_at).close()  # both children find a ready store
    # In PostgreSQL both find an empty database and set it up at once: one migrates
    # it, the other waits for that (an advisory lock) and finds it ready.
    db_path = store_at
    go = tmp_path / "go"
    children = [start_child(db_path, name, 150, 0, go) for name in ("left", "right")]
    try:
        ids: list[int] = []
        for child in children:
            assert child.stdout is not None
            ids.append(int(child.stdout.readline().split()[1]))
        go.touch()
        outputs = [child.communicate(timeout=60) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    for child, (out, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err
        assert out.strip().endswith("done")
    with RunStore(db_path) as store:
        for run_id, name in zip(ids, ("left", "right"), strict=True):
            run = store.get_run(run_id)
            assert run.preset == name and run.status == "finished"
            assert [e.epoch for e in store.epochs(run_id)] == list(range(1, 151))
            assert store.log(run_id) == [f"{name} line {n}" for n in range(1, 151)]


def test_a_writer_waits_for_another_process_holding_the_lock(sqlite_store: RunStore) -> None:
    store = sqlite_store
    run_id = store.create_run("p")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "db.execute('BEGIN IMMEDIATE')\n"
            "print('locked', flush=True)\n"
            "time.sleep(0.4)\n"
            "db.execute('COMMIT')\n",
            str(store.path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        store.add_epoch(run_id, 1, {"loss": 1.0})
        waited = time.monotonic() - started
    finally:
        holder.wait(timeout=30)
    assert waited >= 0.2
    assert len(store.epochs(run_id)) == 1


def test_a_lock_held_too_long_is_a_clear_error(db_path: Path) -> None:
    with RunStore(db_path, busy_timeout=0.1) as store:
        run_id = store.create_run("p")
        other = sqlite3.connect(db_path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StoreError, match="is busy"):
                store.add_epoch(run_id, 1, {"loss": 1.0})
        finally:
            other.execute("ROLLBACK")
            other.close()
        store.add_epoch(run_id, 1, {"loss": 1.0})  # and it works again afterwards
        assert store.get_run(run_id).epochs_done == 1


def test_one_store_shared_by_threads(store: RunStore) -> None:
    run_id = store.create_run("p")
    errors: list[BaseException] = []
    done = threading.Event()

    def reader() -> None:
        try:
            while not done.is_set():
                store.list_runs()
                store.epochs(run_id)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    for epoch in range(1, 101):
        store.add_epoch(run_id, epoch, {"loss": 1 / epoch}, log=[str(epoch)])
    done.set()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(store.epochs(run_id)) == 100


# --------------------------------------------------------------------------- refused files
def test_a_file_that_is_not_sqlite_is_refused_and_left_alone(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"these are my holiday notes, not a database\n" * 100)
    before = digest(db_path)
    with pytest.raises(StoreError) as caught:
        RunStore(db_path)
    assert str(db_path) in str(caught.value)
    assert "not a ktui run store" in str(caught.value)
    assert "--store" in str(caught.value)
    assert digest(db_path) == before
    assert sorted(p.name for p in db_path.parent.iterdir()) == ["runs.sqlite"]


def test_a_corrupt_database_is_refused_and_left_alone(db_path: Path) -> None:
    with RunStore(db_path) as store:
        record(store)
    data = bytearray(db_path.read_bytes())
    data[16:100] = os.urandom(84)  # a valid signature, then a garbage header
    db_path.write_bytes(bytes(data))
    before = digest(db_path)
    with pytest.raises(StoreError, match="corrupt|not a ktui run store") as caught:
        RunStore(db_path)
    assert str(db_path) in str(caught.value)
    assert digest(db_path) == before


def test_a_store_from_a_newer_ktui_is_refused_and_left_alone(db_path: Path) -> None:
    with RunStore(db_path) as store:
        record(store)
    db = sqlite3.connect(db_path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.execute("PRAGMA journal_mode = DELETE")  # a single file, so any write would show
    db.close()
    before = digest(db_path)
    with pytest.raises(StoreError) as caught:
        RunStore(db_path)
    message = str(caught.value)
    assert "newer ktui" in message and f"schema version {SCHEMA_VERSION + 1}" in message
    assert str(db_path) in message and "Upgrade ktui" in message
    assert digest(db_path) == before
    assert not db_path.with_name("runs.sqlite-wal").exists()


def test_another_programs_database_is_refused_and_left_alone(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db = sqlite3.connect(db_path)
    db.execute("CREATE TABLE contacts (name TEXT)")
    db.commit()
    db.close()
    before = digest(db_path)
    with pytest.raises(StoreError, match="other tables"):
        RunStore(db_path)
    assert digest(db_path) == before


def test_an_empty_file_becomes_a_store(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.touch()
    with RunStore(db_path) as store:
        assert store.schema_version == SCHEMA_VERSION


# --------------------------------------------------------------------------- migration
V1_SCHEMA = """
PRAGMA application_id = 1802794345;
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    preset TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN
        ('running', 'finished', 'stopped', 'failed', 'interrupted')),
    hyperparameters TEXT NOT NULL DEFAULT '{}',
    data TEXT NOT NULL DEFAULT '',
    device TEXT NOT NULL DEFAULT '',
    versions TEXT NOT NULL DEFAULT '{}',
    model TEXT,
    info TEXT NOT NULL DEFAULT '{}',
    started_at REAL NOT NULL,
    ended_at REAL,
    seconds REAL,
    test_loss REAL,
    test_accuracy REAL,
    error TEXT,
    error_type TEXT,
    traceback TEXT,
    pid INTEGER,
    host TEXT,
    process TEXT,
    folder TEXT NOT NULL DEFAULT ''
);
CREATE TABLE epochs (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    metrics TEXT NOT NULL,
    learning_rate REAL,
    seconds REAL,
    samples_per_second REAL,
    ended_at REAL,
    PRIMARY KEY (run_id, epoch)
) WITHOUT ROWID;
CREATE TABLE log (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    line TEXT NOT NULL
);
CREATE INDEX log_by_run ON log(run_id, id);
PRAGMA user_version = 1;
"""


def test_a_version_1_store_is_migrated_forward_after_a_backup(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db = sqlite3.connect(db_path)
    db.executescript(V1_SCHEMA)
    db.execute(
        "INSERT INTO runs (preset, status, hyperparameters, info, started_at, ended_at,"
        " test_loss, test_accuracy, folder) VALUES ('mnist_mlp', 'finished', '{\"units\": 64}',"
        " '{\"epochs\": 3}', 1700000000, 1700000100, 0.2, 0.95, 'runs/1')"
    )
    db.execute(
        "INSERT INTO runs (preset, status, started_at, error) VALUES"
        " ('dummy_binary', 'failed', 1700000200, 'boom')"
    )
    for epoch, (loss, val_loss) in enumerate([(0.9, 0.8), (0.5, 0.3), (0.4, 0.35)], start=1):
        db.execute(
            "INSERT INTO epochs (run_id, epoch, metrics, learning_rate) VALUES (1, ?, ?, 0.001)",
            (epoch, f'{{"loss": {loss}, "val_loss": {val_loss}}}'),
        )
    db.execute("INSERT INTO log (run_id, line) VALUES (1, 'old log line')")
    db.commit()
    v1_dump = list(db.iterdump())
    db.close()

    with RunStore(db_path) as store:
        assert store.schema_version == SCHEMA_VERSION
        first, second = store.get_run(1), store.get_run(2)
        assert first.values == {"units": 64} and first.defaults == {}
        assert first.status == "finished" and first.test_accuracy == 0.95
        assert (first.epochs_done, first.epochs_planned) == (3, 3)
        assert (first.best_metric, first.best_value, first.best_epoch) == ("val_loss", 0.3, 2)
        assert store.log(1) == ["old log line"]
        assert second.epochs_done == 0 and second.best_metric is None and second.error == "boom"
        assert [r.id for r in store.list_runs(sort="best")] == [1, 2]
        # And it is a normal store from now on.
        new = record(store)
        assert new == 3 and store.get_run(new).epochs_done == 3

    backup = db_path.with_name("runs.sqlite.v1.bak")
    db = sqlite3.connect(backup)
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1
        assert list(db.iterdump()) == v1_dump
    finally:
        db.close()
    with RunStore(db_path) as again:  # opening a migrated store changes nothing
        assert again.count_runs() == 3


# --------------------------------------------------------------------------- location
def test_store_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KTUI_DATA_DIR", str(tmp_path / "data"))
    assert store_path() == tmp_path / "data" / "runs.sqlite"
    monkeypatch.setenv("KTUI_STORE", str(tmp_path / "env.sqlite"))
    assert store_path() == tmp_path / "env.sqlite"
    assert store_path(tmp_path / "flag.sqlite") == tmp_path / "flag.sqlite"
    (tmp_path / "folder").mkdir()
    assert store_path(tmp_path / "folder") == tmp_path / "folder" / "runs.sqlite"


def test_a_folder_is_not_a_store(tmp_path: Path) -> None:
    (tmp_path / "x.sqlite").mkdir()
    with pytest.raises(StoreError, match="is a folder"):
        RunStore(tmp_path / "x.sqlite")


def test_a_version_2_store_gets_progress_and_commands(db_path: Path) -> None:
    from ktui.store import RunProgress, send_command
    from ktui.store.schema import MIGRATIONS

    db_path.parent.mkdir(parents=True)
    db = sqlite3.connect(db_path)
    db.executescript(V1_SCHEMA)
    MIGRATIONS[1](db)  # the released v2 migration, as a v2 ktui ran it
    db.execute("PRAGMA user_version = 2")
    db.execute(
        "INSERT INTO runs (preset, status, started_at, pid, host, epochs_planned, folder)"
        " VALUES ('mnist_mlp', 'running', 1700000000, ?, ?, 10, 'runs/1')",
        (os.getpid(), this_host()),
    )
    db.execute("INSERT INTO epochs (run_id, epoch, metrics) VALUES (1, 1, '{\"loss\": 0.5}')")
    db.commit()
    db.close()

    with RunStore(db_path) as store:
        assert store.schema_version == SCHEMA_VERSION  # every migration since v2 ran
        assert store.progress(1) == RunProgress()
        assert store.get_run(1).status == "running" and store.epochs(1)[0].metrics == {"loss": 0.5}
        command = send_command(store, 1, "learning_rate", 0.1)
        assert [c.id for c in store.take_commands(1)] == [command]
        store.set_progress(1, RunProgress(phase="running", epoch=2, step=5, steps=300))
        assert store.progress(1).fraction(10) == pytest.approx((1 + 5 / 300) / 10)
    backup = db_path.with_name("runs.sqlite.v2.bak")
    db = sqlite3.connect(backup)
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
        assert "commands" not in tables
    finally:
        db.close()


def test_a_second_store_in_one_process_keeps_the_first_ones_commits_visible(
    db_path: Path,
) -> None:
    """Opening the store twice in one process (a run's recorder and its control bridge)
    must not drop this process's SQLite locks: another process closing its connection
    would then delete the WAL under ours, and our commits would never be seen."""
    first = RunStore(db_path)
    second = RunStore(db_path)
    try:
        run_id = first.create_run("p")
        reader = (
            "import sqlite3, sys\n"
            "db = sqlite3.connect(sys.argv[1])\n"
            "print(db.execute('SELECT count(*) FROM epochs').fetchone()[0])\n"
            "db.close()\n"
        )
        look = [sys.executable, "-c", reader, str(db_path)]
        assert subprocess.run(look, capture_output=True, text=True, check=True).stdout == "0\n"
        first.add_epoch(run_id, 1, {"loss": 1.0})
        second.add_epoch(run_id, 2, {"loss": 0.5})
        assert subprocess.run(look, capture_output=True, text=True, check=True).stdout == "2\n"
    finally:
        second.close()
        first.close()
