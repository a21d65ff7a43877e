"""Benchmark of detached runs: their epoch time, and how fast a follower sees an epoch.

    python benchmarks/detach_bench.py [--epochs 6] [--repeats 2] [--follow-epochs 150]

1. Epoch time: ``mnist_mlp`` on the machine's image data (MNIST, else Fashion-MNIST),
   trained by ``ktui run`` in the foreground (output piped, as into a log) and by
   ``ktui run --detach`` while this process follows it (RunFollower polled every
   0.2 s, as an attached dashboard does), ``--repeats`` times each, taking turns at
   going first. The epoch times are the ones the runs recorded; the first epoch
   (tracing) is dropped.
2. Follow latency: the time from an epoch's commit (its ``ended_at`` in the store) to
   the ``RunFollower.poll()`` that returns it, polling every 0.2 s: over the
   detached mnist runs above, and over ``--follow-epochs`` short epochs of
   ``dummy_binary`` (batch 10, about 0.1 s an epoch) for many samples.

Everything runs in a temporary data folder; nothing touches your own store.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import image_source, median, steady  # noqa: E402

from ktui.core.events import EpochEnded  # noqa: E402
from ktui.store import RunFollower, RunStore  # noqa: E402

POLL = 0.2


def ktui(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ktui", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
    )


def foreground(env: dict[str, str], store: Path, run_args: list[str]) -> int:
    result = ktui(env, "--store", str(store), "run", *run_args)
    match = re.search(r"Recorded as run (\d+)", result.stdout)
    assert match, result.stdout
    return int(match[1])


def detached(env: dict[str, str], store: Path, run_args: list[str]) -> tuple[int, list[float]]:
    """Start a detached run and follow it to its end; (run id, latencies in seconds)."""
    result = ktui(env, "--store", str(store), "run", *run_args, "--detach")
    match = re.match(r"Started run (\d+) in the background \(pid (\d+)\)", result.stdout)
    assert match, result.stdout
    run_id = int(match[1])
    seen: dict[int, float] = {}
    with RunStore(store) as runs:
        follower = RunFollower(runs, run_id)
        deadline = time.monotonic() + 3600
        while not follower.done and time.monotonic() < deadline:
            began = time.monotonic()
            events = follower.poll()
            now = time.time()
            for event in events:
                if isinstance(event, EpochEnded):
                    seen[event.epoch] = now
            time.sleep(max(0.0, POLL - (time.monotonic() - began)))
        ended = {record.epoch: record.ended_at for record in runs.epochs(run_id)}
    latencies = [seen[e] - ended[e] for e in seen if ended.get(e) is not None]
    return run_id, latencies


def epoch_seconds(store: Path, run_id: int) -> list[float]:
    with RunStore(store) as runs:
        return [r.seconds for r in runs.epochs(run_id) if r.seconds is not None]


def describe(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (
        f"median {statistics.median(ordered) * 1000:5.0f} ms   p95 {p95 * 1000:5.0f} ms"
        f"   max {ordered[-1] * 1000:5.0f} ms   (n={len(ordered)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--follow-epochs", type=int, default=150)
    args = parser.parse_args()
    source = image_source()
    print(f"python {platform.python_version()} · {os.cpu_count()} CPUs · data {source}")
    with tempfile.TemporaryDirectory(prefix="ktui-detach-bench-") as tmp:
        env = dict(os.environ)
        env.update(KTUI_DATA_DIR=tmp, PYTHONPATH=str(ROOT))
        env.pop("KTUI_STORE", None)
        store = Path(tmp) / "runs.sqlite"
        run_args = ["mnist_mlp", "--data", source, "--set", f"epochs={args.epochs}"]

        front: list[float] = []
        back: list[float] = []
        latencies: list[float] = []
        for repeat in range(1, args.repeats + 1):
            # Alternate which goes first, so a slow drift of the machine favours neither.
            if repeat % 2:
                fg = steady(epoch_seconds(store, foreground(env, store, run_args)))
            run_id, lat = detached(env, store, run_args)
            bg = steady(epoch_seconds(store, run_id))
            if not repeat % 2:
                fg = steady(epoch_seconds(store, foreground(env, store, run_args)))
            front += fg
            back += bg
            latencies += lat
            print(
                f"  repeat {repeat}: foreground median {median(fg):.3f} s/epoch, "
                f"detached (followed) {median(bg):.3f} s/epoch"
            )
        ratio = median(back) / median(front)
        print(
            f"1. mnist_mlp epoch time ({args.epochs} epochs × {args.repeats}, first dropped): "
            f"foreground {median(front):.3f} s, detached {median(back):.3f} s "
            f"→ detached/foreground {ratio:.3f} ({(ratio - 1) * 100:+.1f}%)"
        )
        print(f"2. follow latency, mnist_mlp epochs:    {describe(latencies)}")
        _, short = detached(
            env,
            store,
            ["dummy_binary", "--set", f"epochs={args.follow_epochs}", "--set", "batch_size=10"],
        )
        print(f"   follow latency, dummy_binary epochs: {describe(short)}")
        print(f"   (polling every {POLL:g} s; the target is 0.5 s)")


if __name__ == "__main__":
    main()
