"""Detached runs, steering through the store, hang-ups and signals, ``ktui attach``.

Real ``python -m ktui`` processes training ``dummy_binary`` for real; the test
follows them with RunFollower and steers them with send_command, as an attached
dashboard does. Every wait has a deadline, and every process a test started is
killed (by its pid) if it is still there at the end.
"""

from __future__ import annotations

import contextlib
import os
import pty
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import REPO_ROOT, child_env, run_ktui

from ktui.cli import main
from ktui.core.events import (
    EpochEnded,
    Event,
    LearningRateChanged,
    PhaseChanged,
    RunFinished,
    RunStarted,
)
from ktui.store import RunFollower, RunStore, send_command
from ktui.store.liveness import process_alive

#: Long enough that a run never ends by itself during a test (~0.1 s an epoch).
EPOCHS = "epochs=400"


@pytest.fixture
def store_file(tmp_path: Path) -> Path:
    return tmp_path / "store" / "runs.sqlite"


@pytest.fixture
def pids() -> Iterator[list[int]]:
    """Pids of detached runs a test started: killed at the end if still alive."""
    started: list[int] = []
    yield started
    for pid in started:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def detach(store_file: Path, *extra: str) -> tuple[int, int, str, float]:
    """``ktui run dummy_binary --detach``: (run id, pid, stdout, seconds it took)."""
    started = time.monotonic()
    result = run_ktui(
        "--store",
        str(store_file),
        "run",
        "dummy_binary",
        "--detach",
        "--set",
        EPOCHS,
        "--set",
        "batch_size=10",
        *extra,
        timeout=30,
    )
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    match = re.fullmatch(
        r"Started run (\d+) in the background \(pid (\d+)\)\. Follow it with "
        r"`ktui --store (\S+) attach \1`; its output goes to (\S+)\.\n",
        result.stdout,
    )
    assert match, result.stdout
    assert match[3] == str(store_file.resolve())
    return int(match[1]), int(match[2]), result.stdout, seconds


class Follow:
    """A RunFollower polled every 0.05 s, keeping every event it returned."""

    def __init__(self, store: RunStore, run_id: int) -> None:
        self.follower = RunFollower(store, run_id)
        self.events: list[Event] = []

    def until(self, check: Callable[[list[Event]], bool], timeout: float = 60) -> list[Event]:
        deadline = time.monotonic() + timeout
        while not check(self.events):
            if time.monotonic() > deadline:
                raise AssertionError(f"not within {timeout} s; events: {self.events[-5:]}")
            self.events += self.follower.poll()
            time.sleep(0.05)
        return self.events

    def epochs(self) -> list[EpochEnded]:
        return [e for e in self.events if isinstance(e, EpochEnded)]

    def phase(self) -> str | None:
        phases = [e.phase for e in self.events if isinstance(e, PhaseChanged)]
        return phases[-1] if phases else None


def wait_gone(pid: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while process_alive(pid):
        assert time.monotonic() < deadline, f"process {pid} is still running"
        time.sleep(0.05)


def test_a_detached_run_is_followed_and_steered_and_ignores_a_hang_up(
    store_file: Path, pids: list[int]
) -> None:
    run_id, pid, _, seconds = detach(store_file)
    pids.append(pid)
    assert seconds < 10  # it did not wait for TensorFlow, let alone the training
    assert os.getsid(pid) == pid != os.getsid(0)  # a session of its own: no terminal

    with RunStore(store_file) as store:
        run = store.get_run(run_id)
        assert run.status == "running" and run.pid == pid and run.preset == "dummy_binary"
        follow = Follow(store, run_id)
        follow.until(lambda events: any(isinstance(e, EpochEnded) for e in events))
        started = [e for e in follow.events if isinstance(e, RunStarted)]
        assert len(started) == 1 and started[0].steps_per_epoch == 100
        assert started[0].values["batch_size"] == 10

        # A hang-up (as from a dropped SSH session) does not reach or stop it.
        os.kill(pid, signal.SIGHUP)
        done = len(follow.epochs())
        follow.until(lambda _: len(follow.epochs()) >= done + 2)

        # Pause: progress stops.
        send_command(store, run_id, "pause")
        follow.until(lambda _: follow.phase() == "paused", timeout=10)
        held = (len(follow.epochs()), store.progress(run_id).step)
        time.sleep(0.6)
        follow.events += follow.follower.poll()
        assert (len(follow.epochs()), store.progress(run_id).step) == held
        assert follow.phase() == "paused"

        # A learning rate sent while paused applies from the next batch after resuming.
        send_command(store, run_id, "learning_rate", 0.0123)
        send_command(store, run_id, "resume")
        follow.until(
            lambda _: any(e.learning_rate == pytest.approx(0.0123) for e in follow.epochs())
        )
        follow.until(lambda _: follow.phase() == "running", timeout=5)
        changes = [e for e in follow.events if isinstance(e, LearningRateChanged)]
        assert [c.value for c in changes] == [pytest.approx(0.0123)]
        # Progress is on the run's row (BatchProgress comes from it only for an epoch
        # still going when the follower looks; these epochs are shorter than a poll).
        progress = store.progress(run_id)
        assert progress.steps == 100 and progress.epoch is not None and progress.epoch > 1

        # Stop: after the current batch, evaluated, model saved, recorded stopped.
        send_command(store, run_id, "stop")
        follow.until(lambda _: follow.follower.done)
        final = follow.events[-1]
        assert isinstance(final, RunFinished) and final.status == "stopped"
        assert 3 <= final.epochs_completed < 400
        assert final.test_accuracy is not None
        wait_gone(pid)
        run = store.get_run(run_id)
        assert run.status == "stopped" and run.epochs_done == final.epochs_completed
        assert (run.folder / "model.keras").is_file()
        output = (run.folder / "output.log").read_text(encoding="utf-8")
        # A stop read at an epoch's end (between its last batch and the next epoch)
        # is said "after this epoch"; inside an epoch, "after the current batch".
        assert re.search(r"Stopping after (the current batch|this epoch)", output), output
        assert f"Stopped after {run.epochs_done} epoch(s)." in output
        assert "Traceback" not in output
        with pytest.raises(Exception, match="stopped at .*nothing to control"):
            send_command(store, run_id, "pause")


def test_sigterm_stops_a_detached_run_after_the_current_batch(
    store_file: Path, pids: list[int]
) -> None:
    run_id, pid, _, _ = detach(store_file)
    pids.append(pid)
    with RunStore(store_file) as store:
        follow = Follow(store, run_id)
        follow.until(lambda _: len(follow.epochs()) >= 1)
        os.kill(pid, signal.SIGTERM)
        follow.until(lambda _: follow.follower.done)
        wait_gone(pid)
        run = store.get_run(run_id)
        assert run.status == "stopped" and 1 <= run.epochs_done < 400
        assert run.test_loss is not None
        assert (run.folder / "model.keras").is_file()


def test_a_hang_up_stops_a_foreground_run_and_records_it_interrupted(tmp_path: Path) -> None:
    store_file = tmp_path / "runs.sqlite"
    process = subprocess.Popen(
        [sys.executable, "-m", "ktui", "--store", str(store_file), "run", "dummy_binary"]
        + ["--set", EPOCHS, "--set", "batch_size=10"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
        cwd=REPO_ROOT,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        for line in process.stdout:
            if line.startswith("Epoch 2/"):
                break
            assert time.monotonic() < deadline
        process.send_signal(signal.SIGHUP)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 129, stderr
    assert "Traceback" not in stderr
    with RunStore(store_file) as store:
        [run] = store.list_runs()
        assert run.status == "interrupted"
        assert 2 <= run.epochs_done < 400
        assert [e.epoch for e in store.epochs(run.id)] == list(range(1, run.epochs_done + 1))
        assert run.test_loss is not None  # stopped cleanly: evaluated, and the model saved
        assert (store.folder(run.id) / "model.keras").is_file()


def test_killing_an_attached_dashboard_leaves_the_run_going(
    store_file: Path, pids: list[int]
) -> None:
    run_id, pid, _, _ = detach(store_file)
    pids.append(pid)
    # `ktui attach` on a terminal of its own, then the terminal goes away and the
    # dashboard is killed: the run must not notice.
    dashboard_pid, terminal = pty.fork()
    if dashboard_pid == 0:  # the child: become `ktui attach`
        os.chdir(REPO_ROOT)
        try:
            env = child_env({"TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30"})
            os.execve(
                sys.executable,
                [sys.executable, "-m", "ktui", "--store", str(store_file), "attach"],
                env,
            )
        finally:
            os._exit(127)  # never go on running the tests in the child
    try:
        drawn = b""
        deadline = time.monotonic() + 30
        while b"ktui" not in drawn and time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                drawn += os.read(terminal, 65536)
        assert b"ktui" in drawn, drawn[-500:]
        with RunStore(store_file) as store:
            done = store.get_run(run_id).epochs_done
            os.close(terminal)  # the terminal hangs up...
            os.kill(dashboard_pid, signal.SIGKILL)  # ...and the dashboard dies
            os.waitpid(dashboard_pid, 0)
            dashboard_pid = 0
            deadline = time.monotonic() + 60
            while store.get_run(run_id).epochs_done < done + 3:
                assert time.monotonic() < deadline, "the run stopped with the dashboard"
                time.sleep(0.1)
            assert store.get_run(run_id).status == "running" and process_alive(pid)
    finally:
        if dashboard_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(dashboard_pid, signal.SIGKILL)
            os.waitpid(dashboard_pid, 0)


# --------------------------------------------------------------------------- refusals
def test_detach_refuses_bad_input_before_starting_anything(
    store_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--store", str(store_file), "run", "dummy_binary", "--detach", "--set", "x=1"])
    assert code == 2
    assert "x" in capsys.readouterr().err
    assert not store_file.exists()  # refused before the store was even opened


def test_attach_without_a_live_run_lists_the_latest(
    store_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with RunStore(store_file) as store:
        done = store.create_run("mnist_mlp", epochs=10)
        store.add_epoch(done, 1, {"loss": 0.5})
        store.finish_run(done)
    code = main(["--store", str(store_file), "attach"])
    out = capsys.readouterr().out
    assert code == 1
    assert out.startswith("No run is going now")
    assert re.search(rf"^\s+{done}\s+mnist_mlp\s+finished\s+1/10 epochs", out, re.MULTILINE)
    assert "ktui run PRESET --detach" in out


@pytest.mark.parametrize(("text", "message"), [("99", "no run with id 99"), ("x", "not a run id")])
def test_attach_to_an_unknown_run_exits_2(
    store_file: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    RunStore(store_file).close()
    assert main(["--store", str(store_file), "attach", text]) == 2
    assert message in capsys.readouterr().err


def test_attach_chooses_the_latest_live_run_or_the_given_one(store_file: Path) -> None:
    from ktui.cli.attach import choose_run

    with RunStore(store_file) as store:
        older = store.create_run("a")
        newer = store.create_run("b")
        ended = store.create_run("c")
        store.finish_run(ended)
    assert choose_run(store_file, None) == newer
    assert choose_run(store_file, str(older)) == older
    assert choose_run(store_file, f"#{ended}") == ended  # shown as recorded


def test_the_plain_display_says_what_another_ktui_did_to_the_run() -> None:
    import io

    from rich.console import Console

    from ktui.cli.run import HeadlessDisplay, exit_code

    out = io.StringIO()
    display = HeadlessDisplay(Console(file=out, highlight=False))
    for event in (
        PhaseChanged("running"),
        PhaseChanged("paused"),
        PhaseChanged("running"),
        PhaseChanged("stopping", "after the current batch"),
        RunFinished("interrupted", 3, 1.0, test_loss=0.5, test_accuracy=0.5),
    ):
        display.show(event)
    assert out.getvalue().splitlines()[:4] == [
        "Paused…",
        "Resumed.",
        "Stopping after the current batch…",
        "Interrupted after 3 epoch(s).",
    ]
    assert exit_code(RunFinished("interrupted", 3, 1.0)) == 129
    assert exit_code(RunFinished("stopped", 3, 1.0)) == 130
    assert exit_code(RunFinished("finished", 3, 1.0)) == 0
