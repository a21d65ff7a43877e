"""Faults a run meets on real disks and processes (issue 10, items 6, 7, 9, 10, 11).

The full disk is a small tmpfs mounted for the test (skipped where mounting is not
allowed); "another user" is the ``nobody`` account (skipped unless the tests run as
root, which can switch to it). Item 8 (a lock held longer than the busy timeout) is
in test_recorder.py; ``benchmarks/faults.py`` repeats all of these on real runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO_ROOT, child_env, run_ktui

from ktui.cli.run import INCOMPLETE_EXIT
from ktui.core.capture import StderrCapture
from ktui.core.controls import RunControls
from ktui.core.events import EpochEnded, Event, LogLine, ModelSummary, RunFinished, RunStarted
from ktui.core.files import is_complete_model
from ktui.store import CommandBridge, RunRecorder, RunStore, send_command
from ktui.store.control import open_to_others


# --------------------------------------------------------------------------- helpers
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs: a disk that can really fill up."""
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip() or result.returncode}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Fill ``disk`` up to the last byte; returns the file that does it (unlink to free)."""
    filler = disk / f"filler-{uuid.uuid4().hex}"
    with open(filler, "wb", buffering=0) as file:
        block = b"\0" * 65536
        with contextlib.suppress(OSError):
            while True:
                file.write(block)
        with contextlib.suppress(OSError):
            while True:
                file.write(b"\0")
    return filler


def summary() -> ModelSummary:
    return ModelSummary((), 1, 1)


def started(epochs: int) -> RunStarted:
    return RunStarted("p", {"epochs": epochs}, summary(), 10, 0, 5, 2, epochs, 5, "CPU", "random")


def epoch_end(epoch: int, epochs: int) -> EpochEnded:
    return EpochEnded(epoch, epochs, {"loss": 1 / epoch}, 0.01, 0.1, 100.0)


def eventually(check: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("condition never became true")


# --------------------------------------------------------------------------- item 6
def test_a_disk_that_fills_mid_run_keeps_the_epochs_in_memory_until_space_comes_back(
    small_disk: Path,
) -> None:
    messages: list[str] = []
    with RunStore(small_disk / "runs.sqlite") as store:
        recorder = RunRecorder(store, "p", epochs=4, warn=messages.append)
        recorder(started(4))
        recorder(epoch_end(1, 4))
        assert recorder.wait(5)
        filler = fill(small_disk)
        recorder(LogLine("a line while the disk is full"))
        recorder(epoch_end(2, 4))
        recorder(epoch_end(3, 4))
        # Said at once, while the run goes on, and nothing was given up.
        eventually(lambda: messages)
        assert "could not record epoch 2" in messages[0] and "full" in messages[0]
        assert recorder.waiting[:2] == ["epoch 2", "epoch 3"]
        filler.unlink()
        recorder(epoch_end(4, 4))
        recorder(RunFinished("finished", 4, 1.0, 0.5, 0.75))
        assert recorder.close(timeout=10) == []
        assert [e.epoch for e in store.epochs(recorder.run_id)] == [1, 2, 3, 4]
        run = store.get_run(recorder.run_id)
        assert run.status == "finished" and run.test_accuracy == 0.75
        assert store.log(run.id) == ["a line while the disk is full"]
        assert "takes writes again" in messages[-1]
        assert (run.folder / "history.csv").read_text().count("\n") == 5


def test_a_disk_full_to_the_end_says_exactly_what_was_not_kept(small_disk: Path) -> None:
    with RunStore(small_disk / "runs.sqlite") as store:
        recorder = RunRecorder(store, "p", epochs=3)
        recorder(started(3))
        recorder(epoch_end(1, 3))
        assert recorder.wait(5)
        filler = fill(small_disk)
        for event in [epoch_end(2, 3), epoch_end(3, 3), RunFinished("finished", 3, 1.0)]:
            recorder(event)
        lost = recorder.close(timeout=0.5)
        assert lost == ["epoch 2", "epoch 3", "the end", "history.csv and log.txt"]
        assert (
            "epochs 2–3, the end and history.csv and log.txt could not be written"
            in (recorder.warnings[-1])
        )
        # No half-written file is left under the real name (it was empty before).
        assert not (recorder.folder / "history.csv").exists()
        filler.unlink()
        assert [e.epoch for e in store.epochs(recorder.run_id)] == [1]


def test_ktui_run_on_a_disk_that_fills_says_so_at_once_and_exits_non_zero(
    small_disk: Path, tmp_path: Path
) -> None:
    """The real command: the disk fills after the first epoch and frees up while the
    run waits for its last writes. Every epoch ends up stored; the model, saved while
    the disk was full, is named as lost, and the exit code says so."""
    store_file = small_disk / "runs.sqlite"
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ktui",
            "--store",
            str(store_file),
            "run",
            "dummy_binary",
            "--set",
            "epochs=4",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
        cwd=REPO_ROOT,
    )
    assert child.stdout is not None
    lines: list[str] = []
    filler: Path | None = None
    try:
        for line in child.stdout:
            lines.append(line.rstrip("\n"))
            if filler is None and line.startswith("Epoch 1/4"):
                child.send_signal(signal.SIGSTOP)  # hold it while the disk fills
                filler = fill(small_disk)
                child.send_signal(signal.SIGCONT)
            if line.startswith("Waiting up to") and filler is not None:
                filler.unlink()
                filler = None
        code = child.wait(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
        if filler is not None:
            filler.unlink()
    out = "\n".join(lines)
    err = child.stderr.read() if child.stderr else ""
    assert "Traceback" not in out + err
    first = next(i for i, line in enumerate(lines) if "could not record" in line)
    result = next(i for i, line in enumerate(lines) if line.startswith("Test"))
    assert first < result, out  # said while the run went on, not after it
    assert "the trained model could not be saved" in out
    assert code == INCOMPLETE_EXIT == 4, out
    with RunStore(store_file) as store:
        assert [e.epoch for e in store.epochs(1)] == [1, 2, 3, 4]
        run = store.get_run(1)
        assert run.status == "finished" and run.test_accuracy is not None
    assert (run.folder / "history.csv").read_text().count("\n") == 5
    assert not (run.folder / "model.keras").exists()


# --------------------------------------------------------------------------- item 7
def test_an_existing_store_on_a_full_disk_can_still_be_read(small_disk: Path) -> None:
    store_file = small_disk / "runs.sqlite"
    with RunStore(store_file) as store:
        run_id = store.create_run("mnist_mlp", epochs=2)
        store.add_epoch(run_id, 1, {"loss": 0.5, "accuracy": 0.8})
        store.finish_run(run_id)
        dead = store.create_run("dead", pid=2**22 + 7)  # a process that is gone
    filler = fill(small_disk)
    try:
        listed = run_ktui("--store", str(store_file), "runs")
        shown = run_ktui("--store", str(store_file), "runs", "show", str(run_id))
    finally:
        filler.unlink()
    assert listed.returncode == 0, listed.stderr
    assert "mnist_mlp" in listed.stdout and "finished" in listed.stdout
    assert "disk" in listed.stderr and "full" in listed.stderr
    assert "Traceback" not in listed.stderr + shown.stderr
    assert shown.returncode == 0, shown.stderr
    assert "loss" in shown.stdout
    with RunStore(store_file) as store:
        assert store.get_run(dead).status == "running"  # marked by the next ktui instead


# --------------------------------------------------------------------------- item 9
def as_nobody() -> dict[str, object]:
    if os.geteuid() != 0:
        pytest.skip("needs root, to run ktui as another user")
    return {"user": 65534, "group": 65534, "extra_groups": []}


@pytest.mark.parametrize(
    "argv",
    [["runs"], ["runs", "show", "1"], ["run", "dummy_binary"], ["attach"], ["attach", "1"]],
)
def test_a_store_this_user_may_not_reach_is_a_message_not_a_traceback(
    tmp_path: Path, argv: list[str]
) -> None:
    user = as_nobody()
    private = Path(f"/tmp/ktui-test-{uuid.uuid4().hex}")
    private.mkdir(mode=0o700)
    home = Path(f"/tmp/ktui-test-{uuid.uuid4().hex}")
    home.mkdir()
    home.chmod(0o777)
    try:
        with RunStore(private / "runs.sqlite") as store:
            store.create_run("p")
        env = child_env(
            {"KTUI_DATA_DIR": str(home / "data"), "KTUI_CONFIG_DIR": str(home / "config")}
        )
        result = subprocess.run(
            [sys.executable, "-m", "ktui", "--store", str(private / "runs.sqlite"), *argv],
            capture_output=True,
            text=True,
            env=env,
            cwd="/",
            timeout=60,
            check=False,
            **user,  # type: ignore[arg-type]
        )
    finally:
        subprocess.run(["rm", "-rf", str(private), str(home)], check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert f"permission denied on {private}" in result.stderr
    assert "uid 0, mode 0700" in result.stderr
    assert "--store PATH" in result.stderr


# --------------------------------------------------------------------------- item 10
def keras_like_zip(path: Path) -> bytes:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", "{}")
        archive.writestr("config.json", "{}")
        archive.writestr("model.weights.h5", os.urandom(20_000))
    return path.read_bytes()


def test_runs_show_lists_only_a_complete_model(tmp_path: Path) -> None:
    store_file = tmp_path / "runs.sqlite"
    with RunStore(store_file) as store:
        whole, cut, empty = (store.create_run("p") for _ in range(3))
        for run_id in (whole, cut, empty):
            store.finish_run(run_id)
        folders = {run_id: store.folder(run_id) for run_id in (whole, cut, empty)}
    data = keras_like_zip(folders[whole] / "model.keras")
    (folders[cut] / "model.keras").write_bytes(data[: len(data) // 2])
    (folders[empty] / "model.keras").write_bytes(b"")
    assert is_complete_model(folders[whole] / "model.keras")
    assert not is_complete_model(folders[cut] / "model.keras")
    assert not is_complete_model(folders[empty] / "model.keras")

    def folder_line(run_id: int) -> str:
        result = run_ktui("--store", str(store_file), "runs", "show", str(run_id))
        assert result.returncode == 0, result.stderr
        return next(line for line in result.stdout.splitlines() if line.startswith("folder"))

    assert "(model.keras)" in folder_line(whole)
    for run_id in (cut, empty):
        line = folder_line(run_id)
        assert "model.keras incomplete" in line
        assert "(model.keras)" not in line and "(model.keras," not in line


# --------------------------------------------------------------------------- item 11
def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_run_folder_and_its_files_are_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        with RunStore(tmp_path / "runs.sqlite") as store:
            recorder = RunRecorder(store, "p", epochs=1)
            assert mode(recorder.folder) == 0o700
            recorder(started(1))
            recorder(LogLine("a line"))
            recorder(epoch_end(1, 1))
            # What other code writes into the folder with the umask's modes (Keras's
            # model.save, TensorBoard's event files).
            (recorder.folder / "model.keras").write_bytes(b"model")
            (recorder.folder / "tensorboard" / "train").mkdir(parents=True)
            (recorder.folder / "tensorboard" / "train" / "events.out").write_bytes(b"e")
            assert mode(recorder.folder / "model.keras") == 0o644
            recorder(RunFinished("finished", 1, 1.0))
            assert recorder.close(5) == []
        folder = recorder.folder
        for name in ("model.keras", "history.csv", "log.txt", "tensorboard/train/events.out"):
            assert mode(folder / name) == 0o600, name
        for name in ("tensorboard", "tensorboard/train"):
            assert mode(folder / name) == 0o700, name
    finally:
        os.umask(previous)


def test_predictions_and_the_tensorflow_log_are_owner_only(tmp_path: Path) -> None:
    import numpy as np

    from ktui.core import insight

    previous = os.umask(0o022)
    try:
        evaluation = insight.evaluate(np.array([0, 1, 1]), np.eye(2)[[0, 1, 0]], labels=["a", "b"])
        path = tmp_path / "run" / insight.PREDICTIONS_FILE
        evaluation.save(path)
        assert mode(path) == 0o600
        capture = StderrCapture()
        log = tmp_path / "logs" / "run.log"
        capture.start(log)
        try:
            os.write(2, b"a line from TensorFlow\n")
        finally:
            capture.stop()
        assert mode(log) == 0o600 and mode(log.parent) == 0o700
    finally:
        os.umask(previous)


@pytest.mark.parametrize("opened", ["file", "folder"])
def test_a_run_takes_no_commands_from_a_store_others_can_write(tmp_path: Path, opened: str) -> None:
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o700)
    path = folder / "runs.sqlite"
    with RunStore(path) as store:
        run_id = store.create_run("p")
        assert open_to_others(path) is None
        (path if opened == "file" else folder).chmod(0o666 if opened == "file" else 0o777)
        assert open_to_others(path) is not None
        controls = RunControls()
        notes: list[Event] = []
        with CommandBridge(store, run_id, controls, interval=0.02, notify=notes.append):
            first = store.add_command(run_id, "stop")  # what another user could INSERT
            eventually(lambda: store.command(first).taken_at is not None)
            second = store.add_command(run_id, "pause")
            eventually(lambda: store.command(second).taken_at is not None)
            assert not controls.stop_requested and not controls.paused
            # Owner-only again: commands work again.
            (path if opened == "file" else folder).chmod(0o600 if opened == "file" else 0o700)
            assert send_command(store, run_id, "stop")
            eventually(lambda: controls.stop_requested)
    texts = [note.text for note in notes if isinstance(note, LogLine)]
    refusals = [text for text in texts if "can be written by other users" in text]
    assert len(refusals) == 1 and "chmod 600" in refusals[0]
    assert "stop requested" in texts[-1]
