"""Benchmark of the run store: committing one epoch, and listing 1,000 runs of 100 epochs.

    python benchmarks/store_bench.py [--runs 1000] [--epochs 100] [--keep DIR]
    python benchmarks/store_bench.py --sweep   # pages and `ktui runs` at 100,000 x 50

1. The time to record one epoch (one committed transaction, through ``RunRecorder``
   as training does, and ``RunStore.add_epoch`` alone): into a new store, and into
   the big store of step 2 while another process reads it.
2. Generates ``--runs`` runs of ``--epochs`` epochs each (with values, details and
   three log lines per epoch) through the public API into a temporary store, then
   times ``RunStore.list_runs()`` in this process and the whole ``ktui runs``
   command in a child process, piped (plain text) and on a pseudo-terminal (rich).

Nothing here needs TensorFlow. The store lives in a temporary folder on the same
disk as ``$TMPDIR``; pass ``--keep DIR`` to put it (and leave it) somewhere else.
"""

from __future__ import annotations

import argparse
import os
import platform
import pty
import random
import select
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ktui.core.events import EpochEnded, LayerInfo, LogLine, ModelSummary, RunStarted  # noqa: E402
from ktui.store import SCHEMA_VERSION, RunRecorder, RunStore  # noqa: E402

PRESETS = {
    "mnist_mlp": {"units": 784, "activation": "relu", "optimizer": "adam",
                  "learning_rate": 0.001, "batch_size": 200, "epochs": 100},
    "mnist_cnn": {"filters": 32, "kernel": 5, "dropout": 0.2, "optimizer": "adam",
                  "learning_rate": 0.001, "batch_size": 200, "epochs": 100},
    "dummy_binary": {"input_dim": 20, "units": 64, "activation": "relu", "dropout": 0.5,
                     "optimizer": "rmsprop", "learning_rate": 0.001, "batch_size": 200,
                     "epochs": 100},
}  # fmt: skip
MODEL = ModelSummary(
    layers=(LayerInfo("dense", "Dense", "(None, 784)", 615440),
            LayerInfo("dense_1", "Dense", "(None, 10)", 7850)),
    total_params=623290,
    trainable_params=623290,
    input_shape="(None, 784)",
)  # fmt: skip
VERSIONS = {"ktui": "0.1.0", "keras": "3.5.0", "tensorflow": "2.17.0", "python": "3.11.7"}


def metrics(epoch: int, rng: random.Random) -> dict[str, float]:
    accuracy = min(0.999, 0.9 + 0.08 * (1 - 1 / epoch) + rng.uniform(-0.005, 0.005))
    return {
        "accuracy": accuracy,
        "loss": 0.3 / epoch + rng.uniform(0, 0.01),
        "val_accuracy": accuracy - rng.uniform(0, 0.01),
        "val_loss": 0.35 / epoch + rng.uniform(0, 0.02),
    }


def stats(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (
        f"median {statistics.median(ordered) * 1000:7.3f} ms   p95 {p95 * 1000:7.3f} ms"
        f"   max {ordered[-1] * 1000:7.3f} ms   (n={len(ordered)})"
    )


def time_calls(call: Callable[[int], None], count: int) -> list[float]:
    samples = []
    for n in range(1, count + 1):
        started = time.perf_counter()
        call(n)
        samples.append(time.perf_counter() - started)
    return samples


def bench_epoch_writes(path: Path, count: int, label: str) -> None:
    rng = random.Random(1)
    with RunStore(path) as store:
        recorder = RunRecorder(store, "mnist_mlp", values=PRESETS["mnist_mlp"], epochs=count)
        recorder(RunStarted("mnist_mlp", PRESETS["mnist_mlp"], MODEL, 50000, 10000, 10000, 200,
                            count, 250, "CPU", "mnist", VERSIONS))  # fmt: skip

        def via_recorder(n: int) -> None:
            recorder(LogLine(f"W0000 a warning in epoch {n}"))
            recorder(EpochEnded(n, count, metrics(n, rng), 0.001, 3.2, 15600.0))

        samples = time_calls(via_recorder, count)
        assert not recorder.warnings, recorder.warnings
        print(f"  {label}, RunRecorder(EpochEnded)   {stats(samples)}")
        run_id = store.create_run("mnist_mlp", values=PRESETS["mnist_mlp"], epochs=count)
        samples = time_calls(
            lambda n: store.add_epoch(run_id, n, metrics(n, rng), learning_rate=0.001,
                                      seconds=3.2, samples_per_second=15600.0),
            count,
        )  # fmt: skip
        print(f"  {label}, RunStore.add_epoch        {stats(samples)}")


def generate(path: Path, runs: int, epochs: int) -> None:
    """``runs`` runs through the public API, as ``ktui run`` would have recorded them."""
    rng = random.Random(7)
    statuses = ["finished"] * 8 + ["stopped", "failed"]
    with RunStore(path) as store:
        for n in range(runs):
            preset = rng.choice(sorted(PRESETS))
            defaults = PRESETS[preset]
            values = dict(defaults)
            for name in rng.sample(sorted(values), rng.randint(0, 2)):
                if isinstance(values[name], int | float) and not isinstance(values[name], bool):
                    values[name] = type(values[name])(values[name] * rng.choice([0.5, 2]))
            started = time.time() - (runs - n) * 3600
            run_id = store.create_run(preset, values=values, defaults=defaults, data="mnist",
                                      epochs=epochs, started_at=started)  # fmt: skip
            store.set_details(run_id, device="CPU (x86_64)", versions=VERSIONS,
                              model={"total_params": 623290, "layers": []},
                              info={"train_samples": 50000, "batch_size": 200})  # fmt: skip
            for epoch in range(1, epochs + 1):
                store.add_epoch(
                    run_id, epoch, metrics(epoch, rng), learning_rate=0.001, seconds=3.2,
                    samples_per_second=15600.0,
                    log=[f"W0000 line {k} of epoch {epoch}" for k in range(3)],
                )  # fmt: skip
            status = rng.choice(statuses)
            if status == "failed":
                store.fail_run(run_id, "ValueError: something broke", error_type="ValueError")
            else:
                accuracy = rng.uniform(0.95, 0.99)
                store.finish_run(run_id, status, test_loss=0.07,  # type: ignore[arg-type]
                                 test_accuracy=accuracy, seconds=epochs * 3.2)  # fmt: skip
            if (n + 1) % 100 == 0:
                print(f"  generated {n + 1} runs", end="\r", flush=True)
    print()


def generate_fast(path: Path, runs: int, epochs: int) -> None:
    """``runs`` runs of ``epochs`` epochs written straight into the schema, in one
    transaction with ``executemany`` (a sweep-sized store in a minute, not hours).

    The schema is made by :class:`RunStore`; the rows look like the public API's
    (summary columns filled in as ``add_epoch`` and ``finish_run`` would), without
    log lines (no listing reads them). Runs are spread over 3 presets, 4 statuses and
    a few tags, so filters and sorts have work to do.
    """
    import json
    import sqlite3

    RunStore(path).close()
    rng = random.Random(7)
    statuses = ["finished"] * 8 + ["stopped", "failed"]
    names = sorted(PRESETS)
    now = time.time()
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA synchronous = OFF")
        with db:
            run_rows = []
            epoch_rows = []
            tag_rows = []
            for n in range(1, runs + 1):
                preset = names[n % len(names)]
                defaults = PRESETS[preset]
                values = dict(defaults)
                for name in rng.sample(sorted(values), rng.randint(0, 2)):
                    if isinstance(values[name], int | float) and not isinstance(values[name], bool):
                        values[name] = type(values[name])(values[name] * rng.choice([0.5, 2]))
                status = rng.choice(statuses)
                started = now - (runs - n) * 60.0
                best, best_epoch = 0.0, 1
                for epoch in range(1, epochs + 1):
                    m = metrics(epoch, rng)
                    if m["val_accuracy"] > best:
                        best, best_epoch = m["val_accuracy"], epoch
                    epoch_rows.append((n, epoch, json.dumps(m), 0.001, 3.2, 15600.0, started))
                accuracy = None if status == "failed" else rng.uniform(0.95, 0.99)
                run_rows.append((
                    n, preset, status, json.dumps(values), json.dumps(defaults), "mnist",
                    started, started + epochs * 3.2, epochs * 3.2, accuracy, epochs, epochs,
                    "val_accuracy", best, best_epoch, -best,  # higher is better: rank -best
                    "ValueError: something broke" if status == "failed" else None,
                    f"runs/{n}",
                ))  # fmt: skip
                if n % 50 == 0:
                    tag_rows.append((n, "good" if n % 100 == 0 else "baseline"))
                if len(epoch_rows) >= 200_000:
                    db.executemany("INSERT INTO epochs (run_id, epoch, metrics, learning_rate,"
                                   " seconds, samples_per_second, ended_at)"
                                   " VALUES (?, ?, ?, ?, ?, ?, ?)", epoch_rows)  # fmt: skip
                    epoch_rows.clear()
            db.executemany(
                "INSERT INTO runs (id, preset, status, hyperparameters, defaults, data,"
                " started_at, ended_at, seconds, test_accuracy, epochs_done, epochs_planned,"
                " best_metric, best_value, best_epoch, best_rank, error, folder)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                run_rows,
            )
            db.executemany("INSERT INTO epochs (run_id, epoch, metrics, learning_rate, seconds,"
                           " samples_per_second, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           epoch_rows)  # fmt: skip
            db.executemany("INSERT INTO run_tags (run_id, tag) VALUES (?, ?)", tag_rows)
    finally:
        db.close()


def cached_store(runs: int, epochs: int) -> Path:
    """A store of ``runs`` x ``epochs`` under /tmp, generated once and reused after."""
    # Named by schema version: a store cached by another ktui is not reused.
    path = Path(tempfile.gettempdir()) / f"ktui-bench-{runs}x{epochs}-v{SCHEMA_VERSION}.sqlite"
    if not path.exists():
        partial = path.with_suffix(".partial")
        for leftover in partial.parent.glob(partial.name + "*"):
            leftover.unlink()
        print(f"  generating {runs:,} runs x {epochs} epochs into {path} (cached) ...")
        started = time.perf_counter()
        generate_fast(partial, runs, epochs)
        partial.rename(path)
        print(f"  took {time.perf_counter() - started:.1f} s")
    return path


def run_cli(args: list[str], *, terminal: bool) -> tuple[float, int]:
    """Wall time of ``python -m ktui ARGS`` to its exit, and the bytes it printed."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "160", "LINES": "50"}
    command = [sys.executable, "-m", "ktui", *args]
    started = time.perf_counter()
    if not terminal:
        result = subprocess.run(command, capture_output=True, env=env, check=True)
        return time.perf_counter() - started, len(result.stdout)
    leader, follower = pty.openpty()
    child = subprocess.Popen(command, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    size = 0
    while True:
        ready, _, _ = select.select([leader], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        size += len(chunk)
    child.wait()
    os.close(leader)
    assert child.returncode == 0, child.returncode
    return time.perf_counter() - started, size


def bench_listing(path: Path, repeats: int, middle: int) -> None:
    with RunStore(path) as store:
        samples = time_calls(lambda _: store.list_runs(), repeats)
        print(f"  RunStore.list_runs() (all {store.count_runs()} runs)   {stats(samples)}")
        samples = time_calls(lambda _: store.list_runs(sort="best", limit=20), repeats)
        print(f"  RunStore.list_runs(sort=best, limit=20)   {stats(samples)}")
    base = ["--store", str(path)]
    some = str(middle)
    for label, args, terminal in (
        ("ktui runs, piped (plain)", ["runs"], False),
        ("ktui runs, on a terminal (rich)", ["runs"], True),
        ("ktui runs --sort best --limit 20, terminal", ["runs", "--sort", "best", "--limit", "20"],
         True),
        (f"ktui runs show {some}, piped", ["runs", "show", some], False),
        (f"ktui runs export {some} --format json, piped",
         ["runs", "export", some, "--format", "json"], False),
        ("ktui presets (start-up reference), piped", ["presets"], False),
    ):  # fmt: skip
        run_cli(base + args, terminal=terminal)  # warm the page cache
        timings = [run_cli(base + args, terminal=terminal) for _ in range(repeats // 4 or 1)]
        wall = [t for t, _ in timings]
        print(
            f"  {label:<44} median {statistics.median(wall):.3f} s   max {max(wall):.3f} s"
            f"   ({timings[0][1]:,} bytes)"
        )


def bench_sweep_listing(runs: int, epochs: int, repeats: int) -> None:
    """Pages of a sweep-sized store (cached under /tmp), and ``ktui runs`` on it."""
    path = cached_store(runs, epochs)
    with RunStore(path) as store:  # migrates a store cached by an older ktui
        total = store.count_runs()
        for sort in ("id", "best", "test_error", "preset", "duration"):
            for offset in (0, total // 2, total - 50):
                samples = time_calls(
                    lambda _, sort=sort, offset=offset: store.list_runs(  # type: ignore[misc]
                        sort=sort, limit=200, offset=offset
                    ),
                    repeats,
                )
                print(f"  list_runs(sort={sort}, limit=200, offset={offset:,})".ljust(50)
                      + stats(samples))  # fmt: skip
        samples = time_calls(lambda _: store.count_runs(tag="good"), repeats)
        print(f"  {'count_runs(tag=good)':<48}{stats(samples)}")
    base = ["--store", str(path)]
    for label, args, terminal, times in (
        ("ktui runs, terminal (newest 50)", ["runs"], True, repeats // 4 or 1),
        ("ktui runs --sort best, terminal", ["runs", "--sort", "best"], True, repeats // 4 or 1),
        ("ktui runs --tag good --limit 20, piped", ["runs", "--tag", "good", "--limit", "20"],
         False, repeats // 4 or 1),
        ("ktui runs --limit 50, piped", ["runs", "--limit", "50"], False, repeats // 4 or 1),
        (f"ktui runs, piped (all {total:,})", ["runs"], False, 1),
        ("ktui presets (start-up reference), piped", ["presets"], False, repeats // 4 or 1),
    ):  # fmt: skip
        run_cli(base + args, terminal=terminal)  # warm the page cache
        timings = [run_cli(base + args, terminal=terminal) for _ in range(times)]
        wall = [t for t, _ in timings]
        print(
            f"  {label:<44} median {statistics.median(wall):.3f} s   min {min(wall):.3f} s"
            f"   ({timings[0][1]:,} bytes, {times} runs)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--writes", type=int, default=1000, help="epochs timed one by one")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="build the store in DIR and leave it there")
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="only the sweep-scale listing: 100,000 runs x 50 epochs (cached under /tmp)",
    )
    args = parser.parse_args()
    print(
        f"ktui store benchmark · Python {platform.python_version()} · SQLite "
        f"{sqlite3.sqlite_version} · {platform.system()} {platform.machine()} · "
        f"{os.cpu_count()} CPUs"
    )
    if args.sweep:
        print("\nListing a sweep-sized store: 100,000 runs x 50 epochs")
        bench_sweep_listing(100_000, 50, args.repeats)
        return
    with tempfile.TemporaryDirectory(prefix="ktui-store-bench-") as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        print(f"store folder: {folder}")

        print("\n1. Recording one epoch (one committed transaction each)")
        bench_epoch_writes(folder / "fresh.sqlite", args.writes, "new store")

        big = folder / "runs.sqlite"
        print(f"\n2. Generating {args.runs:,} runs × {args.epochs} epochs through the API")
        started = time.perf_counter()
        generate(big, args.runs, args.epochs)
        size = sum(p.stat().st_size for p in folder.glob("runs.sqlite*"))
        print(
            f"  took {time.perf_counter() - started:.1f} s; store {size / 1e6:.1f} MB "
            f"({args.runs * args.epochs:,} epochs, {args.runs * args.epochs * 3:,} log lines)"
        )

        print(f"\n3. Listing {args.runs:,} runs")
        bench_listing(big, args.repeats, max(1, args.runs // 2))

        print(f"\n4. Recording one epoch into the {args.runs:,}-run store while it is listed")
        reader = subprocess.Popen(
            [sys.executable, "-c",
             "import sys, time\n"
             f"sys.path.insert(0, {str(ROOT)!r})\n"
             "from ktui.store import RunStore\n"
             "store = RunStore(sys.argv[1])\n"
             "end = time.monotonic() + 600\n"
             "while time.monotonic() < end: store.list_runs()\n",
             str(big)],
        )  # fmt: skip
        try:
            bench_epoch_writes(big, args.writes, "big store + reader")
        finally:
            reader.kill()
            reader.wait()


if __name__ == "__main__":
    main()
