"""Benchmark of the run store on PostgreSQL (loopback) beside SQLite.

    python benchmarks/pg_store.py [--writes 300] [--epochs 60] [--gap 0.1]

Starts a throwaway PostgreSQL server (tests/pg_server.py; fsync on, as a real one)
on a free 127.0.0.1 port in a temporary folder, and an SQLite store in another.

1. Epoch write: ``RunStore.add_epoch`` (one epoch's metrics and two log lines, one
   transaction, as the recorder's writer thread commits each epoch), ``--writes``
   times on a run; median and minimum in ms. Target on PostgreSQL: median < 5 ms.
2. Epoch visible in a follower: a second process records ``--epochs`` epochs through
   a real :class:`~ktui.store.RunRecorder` (its writer thread, its own connection),
   one every ``--gap`` s; this process follows the run with a
   :class:`~ktui.store.RunFollower` polled every 0.2 s, as an attached dashboard does,
   and times each epoch from the moment the recorder was told it ended to the poll
   that returns it. Target on PostgreSQL: < 500 ms.

No TensorFlow: the store is what is measured. Nothing touches your own store.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import pg_server  # noqa: E402

from ktui.core.events import EpochEnded  # noqa: E402
from ktui.store import RunFollower, RunStore  # noqa: E402

FOLLOW_INTERVAL = 0.2
"""The attached dashboard's poll interval (ktui.screens.training.FOLLOW_INTERVAL)."""

WRITER = r"""
import sys, time
from ktui.core.events import EpochEnded, ModelSummary, RunFinished, RunStarted
from ktui.store import RunRecorder, RunStore

location, epochs, gap = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
store = RunStore(location)
recorder = RunRecorder(store, "bench", values={"epochs": epochs}, epochs=epochs)
print(recorder.run_id, flush=True)
sys.stdin.readline()  # the follower is ready
recorder(RunStarted("bench", {"epochs": epochs}, ModelSummary((), 1, 1), 10, 0, 5, 2, epochs,
                    5, "CPU", "random"))
for epoch in range(1, epochs + 1):
    time.sleep(gap)
    # The metric carries the moment the epoch ended, for the follower to time it.
    recorder(EpochEnded(epoch, epochs, {"loss": 1 / epoch, "ended": time.time()}, 0.001, gap,
                        1000.0))
recorder(RunFinished("finished", epochs, 1.0, 0.5, 0.75))
assert recorder.wait(30)
"""


def epoch_writes(location: str | Path, writes: int) -> list[float]:
    """Seconds each of ``writes`` epoch commits took."""
    with RunStore(location) as store:
        run_id = store.create_run("bench", epochs=writes)
        times = []
        for epoch in range(1, writes + 1):
            started = time.perf_counter()
            store.add_epoch(
                run_id,
                epoch,
                {"loss": 1 / epoch, "accuracy": epoch / writes, "val_loss": 2 / epoch},
                learning_rate=0.001,
                seconds=0.1,
                samples_per_second=1000.0,
                log=[f"epoch {epoch}", "another line"],
            )
            times.append(time.perf_counter() - started)
        return times


def follow_latencies(
    location: str | Path, epochs: int, gap: float, env: dict[str, str]
) -> list[float]:
    """Seconds from each epoch's end (in the writer process) to the poll that shows it."""
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(location), str(epochs), str(gap)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert writer.stdin is not None and writer.stdout is not None
    run_id = int(writer.stdout.readline())
    latencies: list[float] = []
    with RunStore(location) as store:
        follower = RunFollower(store, run_id)
        follower.poll()
        writer.stdin.write("go\n")
        writer.stdin.flush()
        deadline = time.monotonic() + epochs * gap + 60
        while not follower.done and time.monotonic() < deadline:
            events = follower.poll()
            now = time.time()
            latencies += [
                now - e.metrics["ended"]
                for e in events
                if isinstance(e, EpochEnded) and "ended" in e.metrics
            ]
            time.sleep(FOLLOW_INTERVAL)
    writer.wait(timeout=60)
    return latencies


def ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:7.2f} ms   min {min(values) * 1000:7.2f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--gap", type=float, default=0.1)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="ktui-pg-bench-"))
    os.environ["KTUI_DATA_DIR"] = str(data)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = pg_server.start(durable=True)
    try:
        server.sql("CREATE DATABASE bench")
        stores: dict[str, str | Path] = {
            "PostgreSQL (loopback)": server.url("bench"),
            "SQLite": data / "runs.sqlite",
        }
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"{os.cpu_count()} CPUs, load average {load:.1f} at the start")
        for name, location in stores.items():
            writes = epoch_writes(location, args.writes)
            print(f"{name:22} epoch write ({args.writes}):            {ms(writes)}")
        for name, location in stores.items():
            seen = follow_latencies(location, args.epochs, args.gap, env)
            print(f"{name:22} epoch seen by a follower ({len(seen)}): {ms(seen)}")
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
