"""The fault suite: real ``ktui run`` processes meet the faults of issue 10, items 6–11.

    python benchmarks/faults.py [--kills 24] [--saves 6] [--seed 1]
                                [--only kill,save,disk,lock,others]

Every run is ``ktui --store <temp>/runs.sqlite run dummy_binary`` with small settings
(batch 20, so an epoch is 50 short steps), in a temporary data folder: nothing
touches your own store. Scenarios:

* **kill**: SIGKILL at a random moment of a random phase — loading TensorFlow,
  preparing data, building the model, training, evaluating (and saving the model),
  ending (``--kills`` runs, phases taken in turn). Then ``ktui runs`` is run once and
  each run checked: every epoch line printed before the kill is in the store, no
  run is left ``running``, and ``ktui runs show`` lists a ``model.keras`` only when it
  is a whole file.
* **save**: SIGKILL 0–30 ms after ``model.keras`` appears, with a model big enough
  (``units=1024``) that its save takes a while (``--saves`` runs): a
  ``model.keras`` cut short must not be listed by ``ktui runs show``.
* **disk**: the store on a 4 MiB tmpfs (``mount -t tmpfs``; skipped with a message
  where mounting is not allowed) that fills after the first epoch: (a) space comes
  back while the run waits for its last writes, (b) it never does; (c) ``ktui runs``
  and ``runs show`` on the full disk.
* **lock**: a second process holds ``BEGIN EXCLUSIVE`` for 15 s (longer than
  SQLite's 10 s busy timeout), (a) from the second epoch, (b) from the evaluation on.
* **others**: (a) a store that other users can write (mode 0666) gets a stop
  ``INSERT``-ed into its commands mid-run; (b) a store others can read (0644): the
  modes of the run's folder and files afterwards.

For each run the table gives the epoch lines printed, the epochs stored, the printed
epochs missing from the store ("lost"), tracebacks seen in any output, runs left
``running`` after the next ``ktui runs``, and the exit code. Goal: 0 lost, 0
tracebacks, 0 left running.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ktui.core.files import is_complete_model  # noqa: E402
from ktui.store import RunStore  # noqa: E402

EPOCH_LINE = re.compile(r"^Epoch (\d+)/(\d+)\s")
SETTINGS = ["--set", "batch_size=20"]
PHASES = ("loading", "preparing", "building", "training", "evaluating", "ending")


@dataclass
class Outcome:
    """One run of one scenario, as the table shows it."""

    scenario: str
    printed: list[int] = field(default_factory=list)
    stored: list[int] = field(default_factory=list)
    tracebacks: int = 0
    left_running: int = 0
    code: int | None = None
    note: str = ""

    @property
    def lost(self) -> list[int]:
        return sorted(set(self.printed) - set(self.stored))


class Child:
    """A ``ktui`` process whose output lines are read as they come, with their times."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ktui", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=ROOT,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def until(self, test: re.Pattern[str] | str, timeout: float = 120) -> str | None:
        """Read lines until one matches (returned) or the output ends (None)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.05)
            except queue.Empty:
                continue
            if line is None:
                return None
            self.lines.append(line)
            if test.search(line) if isinstance(test, re.Pattern) else line.startswith(test):
                return line
        return None

    def finish(self, timeout: float = 180) -> int:
        """Read everything left; the exit code."""
        self.until(re.compile(r"(?!)"), timeout)
        return self.process.wait(timeout=30)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self.until(re.compile(r"(?!)"), 5)

    @property
    def printed(self) -> list[int]:
        return [int(m[1]) for line in self.lines if (m := EPOCH_LINE.match(line))]

    @property
    def tracebacks(self) -> int:
        return sum("Traceback" in line for line in self.lines)


class Suite:
    def __init__(self, folder: Path, seed: int) -> None:
        self.folder = folder
        self.random = random.Random(seed)
        self.outcomes: list[Outcome] = []
        self.skipped: list[str] = []
        self._count = 0

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT)
        env["KTUI_DATA_DIR"] = str(self.folder / "data")
        env["TF_CPP_MIN_LOG_LEVEL"] = "2"
        env.pop("KTUI_STORE", None)
        return env

    def new_store(self, under: Path | None = None) -> Path:
        self._count += 1
        folder = (under or self.folder) / f"store-{self._count}"
        folder.mkdir(mode=0o700)
        return folder / "runs.sqlite"

    def run(self, store: Path, *extra: str) -> Child:
        return Child(["--store", str(store), "run", "dummy_binary", *SETTINGS, *extra], self.env())

    def ktui(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ktui", *argv],
            capture_output=True,
            text=True,
            env=self.env(),
            cwd=ROOT,
            timeout=120,
            check=False,
        )

    def check(self, outcome: Outcome, store: Path, child: Child) -> Outcome:
        """Fill in what the store kept, after the next ``ktui runs`` has looked at it."""
        outcome.printed = child.printed
        outcome.tracebacks += child.tracebacks
        listed = self.ktui("--store", str(store), "runs")
        outcome.tracebacks += listed.stdout.count("Traceback") + listed.stderr.count("Traceback")
        if not store.exists():
            return outcome
        with RunStore(store) as runs:
            summaries = runs.list_runs()
            outcome.left_running = sum(run.status == "running" for run in summaries)
            for run in summaries:
                outcome.stored += [epoch.epoch for epoch in runs.epochs(run.id)]
                model = runs.folder(run.id) / "model.keras"
                if model.exists() and not is_complete_model(model):
                    shown = self.ktui("--store", str(store), "runs", "show", str(run.id))
                    outcome.tracebacks += shown.stderr.count("Traceback")
                    listed_model = "(model.keras)" in shown.stdout or "(model.keras," in (
                        shown.stdout
                    )
                    outcome.note += (
                        " partial model.keras LISTED" if listed_model else " partial model hidden"
                    )
        return outcome

    # -- scenarios -------------------------------------------------------------------
    def kills(self, count: int) -> None:
        for n in range(count):
            phase = PHASES[n % len(PHASES)]
            store = self.new_store()
            child = self.run(store, "--set", "epochs=8")
            outcome = Outcome(f"kill: {phase}")
            if phase == "loading":
                time.sleep(self.random.uniform(0.0, 2.5))
            else:
                marker = {
                    "preparing": "Preparing data",
                    "building": "Building model",
                    "training": "Epoch 1/",
                    "evaluating": "Evaluating",
                    "ending": "Test loss",
                }[phase]
                if child.until(marker) is None:
                    outcome.note = f"never reached {marker!r}"
                delay = {"training": 2.0, "evaluating": 0.4, "ending": 0.3}.get(phase, 0.4)
                time.sleep(self.random.uniform(0.0, delay))
            child.kill()
            outcome.code = child.process.returncode
            self.outcomes.append(self.check(outcome, store, child))
            print(".", end="", flush=True)

    def saves(self, count: int) -> None:
        """SIGKILL while the model is being saved: a model big enough (units=1024, about
        12 MB) that the save takes a while, killed 0–30 ms after its file appears."""
        for _ in range(count):
            store = self.new_store()
            child = self.run(store, "--set", "epochs=2", "--set", "units=1024")
            outcome = Outcome("kill during the model save (units=1024)")
            if child.until("Evaluating") is None:
                outcome.note = "never reached 'Evaluating'"
            # Kill within moments of the file's appearance: in the middle of writing it.
            model = store.parent / "runs" / "1" / "model.keras"
            deadline = time.monotonic() + 60
            while not model.exists() and child.process.poll() is None:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.001)
            time.sleep(self.random.uniform(0.0, 0.03))
            child.kill()
            outcome.code = child.process.returncode
            self.outcomes.append(self.check(outcome, store, child))
            print(".", end="", flush=True)

    def disk(self) -> None:
        mount = self.folder / "disk"
        mount.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            self.skipped.append(f"disk: cannot mount a tmpfs here ({done.stderr.strip()})")
            return
        try:
            for comes_back in (True, False):
                store = self.new_store(mount)
                child = self.run(store, "--set", "epochs=6")
                filler: Path | None = None
                outcome = Outcome(
                    "disk full after epoch 1, "
                    + ("freed at the end" if comes_back else "stays full")
                )
                if child.until("Epoch 1/") is not None:
                    child.process.send_signal(signal.SIGSTOP)
                    filler = fill(mount)
                    child.process.send_signal(signal.SIGCONT)
                if comes_back and child.until("Waiting up to") is not None and filler:
                    filler.unlink()
                    filler = None
                outcome.code = child.finish()
                said = [line for line in child.lines if "could not record" in line]
                result = next(
                    (i for i, line in enumerate(child.lines) if line.startswith("Test")), None
                )
                at_once = bool(said) and result is not None and child.lines.index(said[0]) < result
                end = [line for line in child.lines if "not completely recorded" in line]
                outcome.note = ("said at once" if at_once else "NOT said at once") + (
                    f"; end: {end[0].split(': ', 2)[-1][:70]}…" if end else ""
                )
                if filler is not None:
                    filler.unlink()
                self.check(outcome, store, child)
                if not comes_back:
                    # Lost to a disk that never came back, and said: not "lost" silently.
                    outcome.note += f"; unrecorded epochs said: {describe(outcome.lost)}"
                    outcome.scenario += " (lost epochs expected, said)"
                self.outcomes.append(outcome)
                print(".", end="", flush=True)
            # An existing store on the full disk.
            store = self.new_store(mount)
            with RunStore(store) as runs:
                run_id = runs.create_run("p")
                runs.add_epoch(run_id, 1, {"loss": 0.5})
                runs.finish_run(run_id)
            filler = fill(mount)
            try:
                listed = self.ktui("--store", str(store), "runs")
                shown = self.ktui("--store", str(store), "runs", "show", str(run_id))
            finally:
                filler.unlink()
            outcome = Outcome("disk full: ktui runs / runs show")
            outcome.code = max(listed.returncode, shown.returncode)
            outcome.tracebacks = (listed.stderr + shown.stderr).count("Traceback")
            outcome.note = (
                "read; says the disk is full"
                if "full" in listed.stderr and "p" in listed.stdout
                else f"FAILED: {listed.stderr.strip()[:80]}"
            )
            self.outcomes.append(outcome)
        finally:
            subprocess.run(["umount", "-l", str(mount)], check=False)

    def lock(self) -> None:
        for at, marker in (("from epoch 2", "Epoch 1/"), ("during evaluation", "Evaluating")):
            store = self.new_store()
            child = self.run(store, "--set", "epochs=8")
            outcome = Outcome(f"lock 15 s {at}")
            holder = None
            if child.until(marker) is not None:
                holder = hold(store, 15.0)
            outcome.code = child.finish()
            if holder is not None:
                holder.wait(timeout=60)
            self.check(outcome, store, child)
            with RunStore(store) as runs:
                run = runs.list_runs()[0]
                seconds = [e.seconds or 0.0 for e in runs.epochs(run.id)][1:]
            outcome.note = f"status {run.status}; slowest epoch {max(seconds, default=0):.2f} s"
            self.outcomes.append(outcome)
            print(".", end="", flush=True)

    def others(self) -> None:
        store = self.new_store()
        RunStore(store).close()
        store.chmod(0o666)
        child = self.run(store, "--set", "epochs=8")
        outcome = Outcome("store writable by others: INSERT stop")
        if child.until("Epoch 1/") is not None:
            db = sqlite3.connect(store, timeout=30)
            with db:
                db.execute(
                    "INSERT INTO commands (run_id, kind, created_at) VALUES (1, 'stop', ?)",
                    (time.time(),),
                )
            db.close()
        outcome.code = child.finish()
        self.check(outcome, store, child)
        with RunStore(store) as runs:
            status = runs.get_run(1).status
            refused = any("can be written by other users" in line for line in runs.log(1))
        outcome.note = f"status {status}; refusal in the log: {'yes' if refused else 'NO'}"
        self.outcomes.append(outcome)

        store = self.new_store()
        RunStore(store).close()
        store.chmod(0o644)
        previous = os.umask(0o022)
        try:
            child = self.run(store, "--set", "epochs=2")
            outcome = Outcome("store readable by others: run files")
            outcome.code = child.finish()
        finally:
            os.umask(previous)
        self.check(outcome, store, child)
        with RunStore(store) as runs:
            folder = runs.get_run(1).folder
        modes = {
            path.name: oct(path.stat().st_mode & 0o777)[2:]
            for path in [folder, *sorted(folder.iterdir())]
        }
        outcome.note = " ".join(f"{name} {mode}" for name, mode in modes.items())
        self.outcomes.append(outcome)
        print(".", end="", flush=True)


def fill(disk: Path) -> Path:
    """Fill ``disk`` to the last byte; unlink the returned file to free it."""
    filler = disk / f"filler-{time.monotonic_ns()}"
    with open(filler, "wb", buffering=0) as file:
        with contextlib.suppress(OSError):
            while True:
                file.write(b"\0" * 65536)
        with contextlib.suppress(OSError):
            while True:
                file.write(b"\0")
    return filler


def hold(store: Path, seconds: float) -> subprocess.Popen[str]:
    """A second process that holds the store's exclusive lock for ``seconds``."""
    code = (
        "import sqlite3, sys, time\n"
        "db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)\n"
        "db.execute('BEGIN EXCLUSIVE')\n"
        "print('locked', flush=True)\n"
        "time.sleep(float(sys.argv[2]))\n"
        "db.execute('ROLLBACK')\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(store), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    holder.stdout.readline()
    return holder


def describe(epochs: list[int]) -> str:
    return ",".join(map(str, epochs)) or "none"


def table(outcomes: list[Outcome]) -> str:
    rows = [["scenario", "runs", "printed", "stored", "lost", "tracebacks", "running", "exit"]]
    groups: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        groups.setdefault(outcome.scenario, []).append(outcome)
    notes = []
    for name, group in groups.items():
        codes = sorted({str(o.code) for o in group})
        rows.append(
            [
                name,
                str(len(group)),
                str(sum(len(o.printed) for o in group)),
                str(sum(len(set(o.stored)) for o in group)),
                str(sum(len(o.lost) for o in group)),
                str(sum(o.tracebacks for o in group)),
                str(sum(o.left_running for o in group)),
                "/".join(codes),
            ]
        )
        for o in group:
            if o.note.strip():
                notes.append(f"  {name}: {o.note.strip()}")
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines + ["", "notes:", *notes])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=24)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--saves", type=int, default=6)
    parser.add_argument("--only", default="kill,save,disk,lock,others")
    args = parser.parse_args()
    wanted = set(args.only.split(","))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ktui-faults-") as temp:
        suite = Suite(Path(temp), args.seed)
        if "kill" in wanted:
            suite.kills(args.kills)
        if "save" in wanted:
            suite.saves(args.saves)
        if "disk" in wanted:
            suite.disk()
        if "lock" in wanted:
            suite.lock()
        if "others" in wanted:
            suite.others()
        print()
        print(table(suite.outcomes))
        for line in suite.skipped:
            print(f"skipped: {line}")
        silent = [o for o in suite.outcomes if o.lost and "expected" not in o.scenario]
        bad = sum(len(o.lost) for o in silent) + sum(
            o.tracebacks + o.left_running for o in suite.outcomes
        )
        print(
            f"\n{len(suite.outcomes)} runs in {time.monotonic() - started:.0f} s; problems: {bad}"
        )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
