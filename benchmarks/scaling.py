"""Data-parallel scaling: 1 → N GPUs with ``mirrored``, and two workers on one machine.

``python benchmarks/scaling.py gpus`` (the default) trains the ``mnist_cnn`` preset's
model with the ``mirrored`` strategy on 1, 2, … N GPUs, each count in a child process
of its own (``CUDA_VISIBLE_DEVICES``), at a fixed batch per GPU (``--per-gpu``, 1024:
a large global batch, as data parallelism is used), on random images of MNIST's
shape. It prints samples per second and the scaling efficiency — samples per second
with N GPUs ÷ (N × with one) — against the target of 0.9. On a machine without GPUs
it says so and exits 0.

``python benchmarks/scaling.py workers`` compares one ``ktui run dummy_binary``
process with two ``--strategy multiworker`` processes on loopback ports on this
machine (the same global batch; ``--backend jax`` for JAX), and prints the seconds
per epoch of each.

Each count's first epoch (tracing, compiling) is dropped; the rest are timed.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TARGET = 0.9
"""The scaling efficiency the mirrored strategy should reach for the CNN at a large batch."""

CHILD = r"""
import json, os, sys, time
import numpy as np
import keras
import tensorflow as tf
from ktui.core.presets import load
from ktui.training.builder import build_model
from ktui.training.distribute import open_distribution

per_gpu, steps, epochs = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
for gpu in tf.config.list_physical_devices("GPU"):
    tf.config.experimental.set_memory_growth(gpu, True)
distribution = open_distribution("mirrored")
replicas = distribution.placement.replicas
config = load(os.path.join(sys.argv[4], "presets", "mnist_cnn.toml")).resolve({})
shape = (1, 28, 28) if "first" in json.dumps(config.preset.raw) else (28, 28, 1)
batch = per_gpu * replicas
rng = np.random.default_rng(0)
x = rng.random((batch * steps, *shape), dtype=np.float32)
y = keras.utils.to_categorical(rng.integers(0, 10, batch * steps), 10)
with distribution.scope():
    model = build_model(config, shape)
times = []
class Clock(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.t = time.perf_counter()
    def on_epoch_end(self, epoch, logs=None):
        times.append(time.perf_counter() - self.t)
model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, callbacks=[Clock()])
steady = sorted(times[1:])
median = steady[len(steady) // 2]
print("RESULT " + json.dumps({
    "replicas": replicas, "devices": list(distribution.placement.devices),
    "batch": batch, "seconds": median, "samples_per_second": batch * steps / median,
}))
"""


def gpu_count() -> tuple[int, str]:
    """GPUs this machine has, and why none when it has none (from nvidia-smi)."""
    try:
        listed = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=30, check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 0, f"nvidia-smi cannot run ({exc})"
    names = [line for line in listed.stdout.splitlines() if line.strip()]
    if listed.returncode != 0 or not names:
        return 0, (listed.stderr.strip() or "nvidia-smi lists no GPU").splitlines()[0]
    return len(names), ", ".join(sorted(set(names)))


def gpus(args: argparse.Namespace) -> int:
    count, what = gpu_count()
    if count == 0:
        print(f"scaling: no GPU on this machine ({what}); nothing to scale. Run it on a "
              "machine with GPUs.")
        return 0
    print(f"scaling: {count} GPU(s): {what}; mnist_cnn, mirrored, {args.per_gpu} per GPU, "
          f"{args.steps} steps × {args.epochs} epochs (first dropped)")
    rows = []
    for n in range(1, (args.max or count) + 1):
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": ",".join(str(i) for i in range(n)),
               "KERAS_BACKEND": "tensorflow", "PYTHONPATH": str(ROOT)}
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(args.per_gpu), str(args.steps), str(args.epochs),
             str(ROOT)],
            capture_output=True, text=True, env=env, timeout=1800, check=False,
        )
        line = next((ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if line is None:
            print(f"  {n} GPU(s): failed\n{done.stderr[-2000:]}")
            return 1
        rows.append(json.loads(line.removeprefix("RESULT ")))
    base = rows[0]["samples_per_second"]
    print(f"{'GPUs':>4}  {'global batch':>12}  {'s/epoch':>8}  {'samples/s':>10}  "
          f"{'efficiency':>10}")
    worst = 1.0
    for row in rows:
        efficiency = row["samples_per_second"] / (row["replicas"] * base)
        worst = min(worst, efficiency)
        print(f"{row['replicas']:>4}  {row['batch']:>12}  {row['seconds']:>8.3f}  "
              f"{row['samples_per_second']:>10.0f}  {efficiency:>10.2f}")
    verdict = "meets" if worst >= TARGET else "misses"
    print(f"lowest efficiency {worst:.2f}: {verdict} the target of {TARGET}")
    return 0


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _epoch_seconds(store: Path) -> list[float]:
    from ktui.store import RunStore

    with RunStore(store) as runs:
        run = runs.list_runs()[0]
        return [e.seconds or 0.0 for e in runs.epochs(run.id)]


def workers(args: argparse.Namespace) -> int:
    sets = ["--set", f"batch_size={args.batch}", "--set", f"epochs={args.epochs}"]
    results = {}
    for label, count in (("1 process", 1), ("2 workers", 2)):
        with tempfile.TemporaryDirectory(prefix="ktui-scaling-") as folder:
            env = {**os.environ, "KTUI_DATA_DIR": folder, "KERAS_BACKEND": args.backend,
                   "PYTHONPATH": str(ROOT)}
            ports = _free_ports(count)
            procs = []
            started = time.monotonic()
            for index in range(count):
                argv = [sys.executable, "-m", "ktui", "run", "dummy_binary", *sets]
                child_env = dict(env)
                if count > 1:
                    argv += ["--strategy", "multiworker"]
                    child_env["TF_CONFIG"] = json.dumps({
                        "cluster": {"worker": [f"localhost:{p}" for p in ports]},
                        "task": {"type": "worker", "index": index},
                    })
                procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL, env=child_env))
            codes = [p.wait(timeout=1800) for p in procs]
            wall = time.monotonic() - started
            if any(codes):
                print(f"  {label}: exit codes {codes}")
                return 1
            seconds = sorted(_epoch_seconds(Path(folder) / "runs.sqlite")[1:])
            results[label] = (seconds[len(seconds) // 2], wall)
    print(f"dummy_binary on {args.backend}, batch {args.batch} (global), {args.epochs} epochs, "
          "first dropped; "
          f"{os.cpu_count()} CPU cores")
    print(f"{'':>10}  {'s/epoch (median)':>16}  {'wall s':>7}")
    for label, (epoch, wall) in results.items():
        print(f"{label:>10}  {epoch:>16.3f}  {wall:>7.1f}")
    ratio = results["2 workers"][0] / results["1 process"][0]
    print(f"2 workers ÷ 1 process, seconds per epoch: {ratio:.2f}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="?", choices=("gpus", "workers"), default="gpus")
    parser.add_argument("--per-gpu", type=int, default=1024, help="batch per GPU (gpus)")
    parser.add_argument("--steps", type=int, default=50, help="steps per epoch (gpus)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--max", type=int, help="at most this many GPUs (gpus)")
    parser.add_argument("--batch", type=int, default=32, help="global batch (workers)")
    parser.add_argument("--backend", default="tensorflow", help="Keras backend (workers)")
    args = parser.parse_args()
    return gpus(args) if args.what == "gpus" else workers(args)


if __name__ == "__main__":
    sys.exit(main())
