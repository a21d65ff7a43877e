"""Benchmark of detached runs: their epoch time, and how fast a follower sees an epoch.

    python benchmarks/detach_bench.py [--epochs 6] [--repeats 8] [--follow-epochs 150]

1. Epoch time: ``mnist_mlp`` on the machine's image data (MNIST, else Fashion-MNIST),
   trained by ``ktui run`` in the foreground (its output into a file, as into a log)
   and by ``ktui run --detach``, ``--repeats`` times each, taking turns at going
   first; both are followed from here (RunFollower polled every 0.2 s, as an
   attached dashboard does). Reported: the wall time of each epoch as the run
   recorded it, and the CPU time the training process spent per epoch (from
   ``/proc``: unlike wall time, it does not change with the machine's other load).
   The first epoch (tracing) is dropped.
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


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` so far (Linux), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Measured:
    """One run, followed to its end: wall and CPU seconds per epoch, follow latencies."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.latencies: list[float] = []


def follow(store: Path, run_id: int, pid: int) -> Measured:
    """Follow a run with RunFollower every 0.2 s, as an attached dashboard does."""
    measured = Measured()
    seen: dict[int, float] = {}
    cpu: dict[int, float | None] = {}
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
                    cpu[event.epoch] = cpu_seconds(pid)
            time.sleep(max(0.0, POLL - (time.monotonic() - began)))
        records = runs.epochs(run_id)
    ended = {r.epoch: r.ended_at for r in records}
    measured.wall = steady([r.seconds for r in records if r.seconds is not None])
    measured.latencies = [seen[e] - ended[e] for e in seen if ended.get(e) is not None]
    # CPU per epoch from one epoch's end to the next (so the first, tracing, is left out).
    marks = [cpu[e] for e in sorted(cpu)]
    measured.cpu = [
        b - a for a, b in zip(marks[:-1], marks[1:], strict=True) if a is not None and b is not None
    ]
    return measured


def foreground(env: dict[str, str], store: Path, run_args: list[str], log: Path) -> Measured:
    """``ktui run`` with its output going to a file, followed from here."""
    with log.open("w") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "ktui", "--store", str(store), "run", *run_args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
        )
    try:
        run_id = None
        while run_id is None:
            if child.poll() is not None:
                raise SystemExit(f"ktui run failed: {log.read_text()}")
            if store.exists():
                with RunStore(store) as runs:
                    mine = [
                        r for r in runs.list_runs(status="running") if _pid(runs, r.id) == child.pid
                    ]
                    run_id = mine[0].id if mine else None
            time.sleep(0.05)
        return follow(store, run_id, child.pid)
    finally:
        child.wait()


def _pid(runs: RunStore, run_id: int) -> int | None:
    return runs.get_run(run_id).pid


def detached(env: dict[str, str], store: Path, run_args: list[str]) -> Measured:
    """``ktui run --detach``, followed from here to its end."""
    result = subprocess.run(
        [sys.executable, "-m", "ktui", "--store", str(store), "run", *run_args, "--detach"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
    )
    match = re.match(r"Started run (\d+) in the background \(pid (\d+)\)", result.stdout)
    assert match, result.stdout
    return follow(store, int(match[1]), int(match[2]))


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
    parser.add_argument("--repeats", type=int, default=8)
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

        runs: dict[str, list[Measured]] = {"foreground": [], "detached": []}
        for repeat in range(1, args.repeats + 1):
            # Take turns at going first, so a drift of the machine's load favours neither.
            order = ["foreground", "detached"] if repeat % 2 else ["detached", "foreground"]
            for mode in order:
                if mode == "foreground":
                    measured = foreground(env, store, run_args, Path(tmp) / "fg.log")
                else:
                    measured = detached(env, store, run_args)
                runs[mode].append(measured)
            fg, bg = runs["foreground"][-1], runs["detached"][-1]
            print(
                f"  repeat {repeat}: wall s/epoch foreground {median(fg.wall):.3f}, "
                f"detached {median(bg.wall):.3f}; CPU s/epoch foreground "
                f"{median(fg.cpu):.3f}, detached {median(bg.cpu):.3f}"
            )
        summary = {
            mode: (
                median([w for m in measured for w in m.wall]),
                median([c for m in measured for c in m.cpu]),
            )
            for mode, measured in runs.items()
        }
        (fg_wall, fg_cpu), (bg_wall, bg_cpu) = summary["foreground"], summary["detached"]
        fg_min = min(w for m in runs["foreground"] for w in m.wall)
        bg_min = min(w for m in runs["detached"] for w in m.wall)
        ratios = [
            median(b.wall) / median(f.wall)
            for f, b in zip(runs["foreground"], runs["detached"], strict=True)
        ]
        print(
            f"1. mnist_mlp, {args.epochs} epochs × {args.repeats} runs each, first epoch dropped:\n"
            f"   wall s/epoch: foreground {fg_wall:.3f}, detached {bg_wall:.3f} "
            f"→ {bg_wall / fg_wall:.3f} ({(bg_wall / fg_wall - 1) * 100:+.1f}%); "
            f"per-repeat ratios {', '.join(f'{r:.2f}' for r in ratios)}\n"
            f"   fastest epoch: foreground {fg_min:.3f}, detached {bg_min:.3f} "
            f"→ {bg_min / fg_min:.3f}\n"
            f"   CPU s/epoch:  foreground {fg_cpu:.3f}, detached {bg_cpu:.3f} "
            f"→ {bg_cpu / fg_cpu:.3f} ({(bg_cpu / fg_cpu - 1) * 100:+.1f}%)"
        )
        latencies = [lat for m in runs["detached"] for lat in m.latencies]
        print(f"2. follow latency, mnist_mlp epochs:    {describe(latencies)}")
        short = detached(
            env,
            store,
            ["dummy_binary", "--set", f"epochs={args.follow_epochs}", "--set", "batch_size=10"],
        )
        print(f"   follow latency, dummy_binary epochs: {describe(short.latencies)}")
        print(f"   (polling every {POLL:g} s; the target is 0.5 s)")


if __name__ == "__main__":
    main()
