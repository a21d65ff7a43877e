"""Benchmark of ``ktui serve`` start-up and of writing a report.

    python benchmarks/web_bench.py [--rounds 5] [serve|report]

1. ``serve``: from starting ``python -m ktui serve --port 0`` to the first page
   answered (HTTP 200 on the printed URL, token included): the time a person waits
   before the address works. Median of ``--rounds`` fresh processes.
2. ``report``: 4 runs × 100 epochs (loss, accuracy, val_loss, val_accuracy), each
   with a 10-class ``predictions.npz`` holding 200 28×28 wrong predictions, recorded
   through the store's API into a temporary store; then ``write_report`` of the 4
   runs to one HTML file. Reported: the first report in a fresh process (matplotlib
   imported on the way, as ``ktui report`` does), and the median of further ones
   (the dashboard's report key after its first use).

Nothing here needs TensorFlow.
"""

from __future__ import annotations

import argparse
import compileall
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ktui.core.insight import PREDICTIONS_FILE, Evaluation, Mistakes  # noqa: E402
from ktui.store import RunStore  # noqa: E402

URL = re.compile(r"(http://\S+/\?token=\S+)")


def serve_ready(store: Path) -> float:
    """Seconds from spawning ``ktui serve`` to its page answering 200."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "ktui", "--store", str(store), "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            match = URL.search(line)
            if match:
                with urllib.request.urlopen(match.group(1), timeout=10) as response:
                    assert response.status == 200
                return time.perf_counter() - started
        raise RuntimeError("ktui serve printed no URL")
    finally:
        process.terminate()
        process.wait(timeout=15)


def fill_store(store: RunStore, runs: int, epochs: int) -> list[int]:
    """``runs`` finished runs of ``epochs`` epochs each, with predictions."""
    rng = np.random.default_rng(0)
    ids = []
    for k in range(runs):
        values = {"units": 64 * (k + 1), "learning_rate": 0.001 * (k + 1), "epochs": epochs}
        run_id = store.create_run(
            "mnist_mlp",
            values=values,
            defaults={"units": 64, "learning_rate": 0.001, "epochs": 10},
            data="MNIST",
            epochs=epochs,
        )
        store.set_details(
            run_id,
            device="CPU",
            versions={"ktui": "bench"},
            model={
                "total_params": 623_290,
                "trainable_params": 623_290,
                "input_shape": "(None, 784)",
                "layers": [
                    {
                        "name": "dense",
                        "kind": "Dense",
                        "output_shape": "(None, 784)",
                        "params": 615_440,
                    },
                    {
                        "name": "dense_1",
                        "kind": "Dense",
                        "output_shape": "(None, 10)",
                        "params": 7_850,
                    },
                ],
            },
            info={"train_samples": 60_000, "test_samples": 10_000},
        )
        for epoch in range(1, epochs + 1):
            loss = 1 / epoch + 0.05 * k
            store.add_epoch(
                run_id,
                epoch,
                {
                    "loss": loss,
                    "accuracy": 1 - loss / 2,
                    "val_loss": loss * 1.1,
                    "val_accuracy": 1 - loss / 1.8,
                },
                learning_rate=values["learning_rate"],
                seconds=2.0,
            )
        matrix = rng.integers(0, 30, size=(10, 10)) + np.diag(rng.integers(900, 1000, size=10))
        mistakes = Mistakes(
            index=np.arange(200),
            true=rng.integers(0, 10, 200),
            predicted=rng.integers(0, 10, 200),
            probability=rng.random(200),
            images=rng.random((200, 28, 28)).astype(np.float32),
        )
        labels = tuple(str(i) for i in range(10))
        Evaluation(labels, matrix, mistakes, data="MNIST", images_total=200).save(
            store.folder(run_id) / PREDICTIONS_FILE
        )
        store.finish_run(run_id, test_loss=0.07, test_accuracy=0.98)
        ids.append(run_id)
    return ids


def bench_report(rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="ktui-web-bench-") as folder:
        store = RunStore(Path(folder) / "runs.sqlite")
        ids = fill_store(store, 4, 100)
        from ktui.report import write_report

        out = Path(folder) / "report.html"
        started, cpu = time.perf_counter(), time.process_time()
        write_report(store, ids, out)
        first = time.perf_counter() - started
        first_cpu = time.process_time() - cpu
        times, cpus = [], []
        for _ in range(rounds):
            started, cpu = time.perf_counter(), time.process_time()
            write_report(store, ids, out)
            times.append(time.perf_counter() - started)
            cpus.append(time.process_time() - cpu)
        size = out.stat().st_size
        store.close()
    # CPU time beside wall time: on a machine shared with other jobs the wall time
    # measures the others too; the CPU time is what the report itself costs.
    print(
        f"report of 4 runs × 100 epochs: first {first * 1000:.0f} ms wall, "
        f"{first_cpu * 1000:.0f} ms CPU (matplotlib imported); then median "
        f"{statistics.median(times) * 1000:.0f} ms wall "
        f"({min(times) * 1000:.0f}–{max(times) * 1000:.0f}), "
        f"{statistics.median(cpus) * 1000:.0f} ms CPU, {rounds} rounds; {size / 1024:.0f} KiB"
    )


def bench_serve(rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="ktui-web-bench-") as folder:
        store = Path(folder) / "runs.sqlite"
        times = [serve_ready(store) for _ in range(rounds)]
    print(
        f"ktui serve ready: median {statistics.median(times) * 1000:.0f} ms "
        f"({min(times) * 1000:.0f}–{max(times) * 1000:.0f}, {rounds} rounds)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="*", help="serve, report or both (default both)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"{platform.python_version()} on {platform.machine()}, {platform.node()}")
    what = args.what or ["serve", "report"]
    unknown = set(what) - {"serve", "report"}
    if unknown:
        parser.error(f"unknown benchmark {', '.join(sorted(unknown))} (serve or report)")
    # Byte-compiled first, as `pip install` does: with PYTHONDONTWRITEBYTECODE set each
    # fresh process would otherwise compile ktui again (as report_bench.py does too).
    compileall.compile_dir(ROOT / "ktui", quiet=1)
    if "serve" in what:
        bench_serve(args.rounds)
    if "report" in what:
        bench_report(args.rounds)


if __name__ == "__main__":
    main()
