"""Issue 11 benchmark: ktui on each Keras backend (TensorFlow, JAX, PyTorch).

For every backend that is installed (each in a child process: Keras picks its backend
once, at import), on a sample of the machine's 28×28 images:

1. the engine's cost: ``mnist_mlp`` epochs through ktui's engine ÷ a plain
   ``model.fit(verbose=0)`` of the same model, alternating which goes first, over
   ``--rounds`` rounds, both timed by the same epoch-end callback; median,
   minimum-epoch and CPU-time ratios (target ≤ 1.03); then one more engine fit that
   counts the CPU time of ktui's own code (its callbacks' hooks, the system sampler),
   which the shared machine's noise does not blur;
2. epoch times of ``mnist_mlp`` and ``mnist_cnn`` (plain fit), the CNN both in the
   preset's channels-first layout and converted to channels last, side by side;
3. what a batch callback costs: a plain fit with no callback, with one that overrides
   ``on_train_batch_end`` (Keras then waits for every batch's logs), and with the same
   callback marked ``async_safe`` (Keras dispatches it from a thread pool, but only
   on backends whose ``IS_THREAD_SAFE`` is true: JAX and PyTorch, not TensorFlow).

    python benchmarks/backends.py [--rounds 8] [--train 12000] [--backends tensorflow,jax]
        [--python torch=/path/to/python]   # a backend installed in another environment

The first epoch of every fit is dropped (it traces and compiles). Prints Markdown
tables for the README.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import ROOT, EpochClock, epoch_timer, image_source, median, plain_fit_epochs

from ktui.core import backends
from ktui.core import data as data_mod
from ktui.core.system import DEFAULT_INTERVAL


# ----------------------------------------------------------------------------- the child
def _sample_npz(folder: Path, train: int, test: int) -> Path:
    """The first ``train``/``test`` images of the machine's data, as an .npz."""
    import numpy as np

    raw = data_mod.load(data_mod.parse_source(image_source()), seed=0, download=None)
    path = folder / f"sample-{train}-{test}.npz"
    np.savez(
        path,
        x_train=raw.x_train[:train],
        y_train=raw.y_train[:train],
        x_test=raw.x_test[:test],
        y_test=raw.y_test[:test],
    )
    return path


def _config(name: str, epochs: int, data: str, channels_last: bool = False) -> Any:
    from dataclasses import replace

    from ktui.core.data import Transform
    from ktui.core.presets import load

    config = load(ROOT / "presets" / f"{name}.toml").resolve({"epochs": epochs}, data=data)
    if channels_last:
        # The same layers on [samples][rows][cols][channels] images.
        transforms = tuple(
            Transform("reshape", {"shape": [28, 28, 1]}) if t.op == "reshape" else t
            for t in config.transforms
        )
        layers = tuple(
            replace(layer, args={**layer.args, "data_format": "channels_last"})
            if "data_format" in layer.args
            else layer
            for layer in config.layers
        )
        config = replace(config, transforms=transforms, layers=layers, input_shape=(28, 28, 1))
    return config


def _plain(config: Any, batch_callback: str = "") -> tuple[list[float], list[float]]:
    """Plain ``model.fit(verbose=0)``: wall and CPU seconds of each epoch but the first."""
    import keras

    class BatchEnd(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            pass

    callbacks: list[Any] = []
    if batch_callback:
        batch = BatchEnd()
        batch.async_safe = batch_callback == "async_safe"
        callbacks.append(batch)
    clock = plain_fit_epochs(config, extra_callbacks=callbacks)
    return clock.wall[1:], clock.cpu[1:]


def _engine(config: Any) -> tuple[list[float], list[float]]:
    """Through ktui's engine (events, batch progress, controls, the step timer and the
    system sampler): wall and CPU seconds of each epoch but the first, taken by the
    same epoch timer as the plain fit's (the engine's own epoch seconds leave out the
    time between one epoch's end and the next one's begin, which the plain fit's
    clock counts), listed after the engine's callbacks."""
    from ktui.core.controls import RunControls
    from ktui.training.engine import KerasTrainer

    clock = EpochClock()

    class Timed(KerasTrainer):
        def _extra_callbacks(self, artifacts: Path | None) -> list[Any]:
            return [*super()._extra_callbacks(artifacts), epoch_timer(clock)]

    Timed(capture=None).run(config, lambda event: None, RunControls())
    return clock.wall[1:], clock.cpu[1:]


#: ktui's batch and epoch hooks, timed by :func:`_own_cost`.
_HOOKS = (
    "on_train_begin",
    "on_epoch_begin",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_epoch_end",
)


def _own_cost(config: Any) -> dict[str, float]:
    """One more engine fit, with the CPU time of ktui's own code counted where it runs:
    each hook of the engine's callbacks in the thread that calls it (the training
    thread, or Keras's executor threads), the system sampler's thread as it counts
    itself (per sample: it samples every ``DEFAULT_INTERVAL`` seconds whatever the
    epochs do). Hooks per epoch, first epoch included. A separate fit because the counting costs
    about 1 µs a hook (two thread-clock reads), which the timed rounds must not pay."""
    import functools

    from ktui.core.controls import RunControls
    from ktui.core.system import SystemSampler
    from ktui.training.callback import EventCallback
    from ktui.training.engine import KerasTrainer
    from ktui.training.timing import StepTimer

    spent: list[float] = []  # list.append is atomic: the hooks run in several threads
    sampler_seconds: list[float] = []
    saved: list[tuple[type, str, Any]] = []

    def count(cls: type, name: str) -> None:
        hook = cls.__dict__[name]

        @functools.wraps(hook)
        def counted(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return hook(*args, **kwargs)
            finally:
                spent.append(time.thread_time() - started)

        saved.append((cls, name, hook))
        setattr(cls, name, counted)

    for cls in (EventCallback, StepTimer):
        for name in _HOOKS:
            if name in cls.__dict__:
                count(cls, name)
    stop = SystemSampler.stop

    def stopped(self: SystemSampler, timeout: float = 2.0) -> None:
        stop(self, timeout)
        sampler_seconds.append(self.cpu_seconds / max(1, self.samples_taken))

    SystemSampler.stop = stopped  # type: ignore[method-assign]
    saved.append((SystemSampler, "stop", stop))
    try:
        KerasTrainer(capture=None).run(config, lambda event: None, RunControls())
    finally:
        for cls, name, hook in saved:
            setattr(cls, name, hook)
    epochs = max(1, int(config.epochs))
    return {
        "own_hooks": sum(spent) / epochs,
        "own_calls": len(spent) / epochs,
        "own_sample": max(sampler_seconds, default=0.0),
        "sample_interval": DEFAULT_INTERVAL,
    }


def child(task: str, data: str, rounds: int, epochs: int) -> dict[str, Any]:
    import keras

    from ktui.training.devices import backend_version, describe_device

    result: dict[str, Any] = {
        "backend": keras.backend.backend(),
        "version": backend_version(),
        "device": describe_device(),
        "thread_safe": bool(keras.src.backend.IS_THREAD_SAFE),
    }
    if task == "overhead":
        config = _config("mnist_mlp", epochs, data)
        engine_wall: list[float] = []
        engine_cpu: list[float] = []
        plain_wall: list[float] = []
        plain_cpu: list[float] = []
        for round_ in range(rounds):
            order = (_engine, _plain) if round_ % 2 == 0 else (_plain, _engine)
            for run in order:
                wall, cpu = run(config)
                if run is _engine:
                    engine_wall += wall
                    engine_cpu += cpu
                else:
                    plain_wall += wall
                    plain_cpu += cpu
        result.update(
            engine_wall=engine_wall,
            engine_cpu=engine_cpu,
            plain_wall=plain_wall,
            plain_cpu=plain_cpu,
            **_own_cost(config),
        )
    elif task == "epochs":
        for key, name, last in (
            ("mlp", "mnist_mlp", False),
            ("cnn_first", "mnist_cnn", False),
            ("cnn_last", "mnist_cnn", True),
        ):
            result[key] = _plain(_config(name, epochs, data, channels_last=last))[0]
    elif task == "batch":
        for variant in ("", "override", "async_safe"):
            result[f"batch_{variant or 'none'}"] = _plain(
                _config("mnist_mlp", epochs, data), variant
            )[0]
    return result


# ---------------------------------------------------------------------------- the parent
def run_child(python: str, backend: str, task: str, data: Path, args: argparse.Namespace) -> Any:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    code = [python, __file__, "--child", task, "--data", str(data)]
    epochs = args.batch_epochs if task == "batch" else args.epochs
    code += ["--rounds", str(args.rounds), "--epochs", str(epochs)]
    started = time.monotonic()
    done = subprocess.run(code, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        print(f"  {backend} {task}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
        return None
    print(f"  {backend} {task}: {time.monotonic() - started:.0f} s", file=sys.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _ratio(a: list[float], b: list[float], how: Any = median) -> str:
    return f"{how(a) / how(b):.3f}" if a and b else "—"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3, help="per fit; the first is dropped")
    parser.add_argument("--train", type=int, default=12000, help="training images used")
    parser.add_argument("--test", type=int, default=2000, help="test (validation) images used")
    parser.add_argument("--backends", default=",".join(backends.BACKENDS))
    parser.add_argument(
        "--tasks", default="overhead,epochs,batch", help="which parts to run (comma-separated)"
    )
    parser.add_argument(
        "--batch-epochs", type=int, default=6, help="epochs per fit of the batch-callback part"
    )
    parser.add_argument("--python", action="append", default=[], metavar="BACKEND=PATH")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.data, args.rounds, args.epochs)))
        return

    pythons = dict(item.split("=", 1) for item in args.python)
    with tempfile.TemporaryDirectory(prefix="ktui-bench-") as folder:
        data = _sample_npz(Path(folder), args.train, args.test)
        print(
            f"{image_source()}: {args.train} training and {args.test} test images; "
            f"{args.rounds} rounds × {args.epochs} epochs (first dropped)",
            file=sys.stderr,
        )
        results: dict[str, dict[str, Any]] = {}
        for backend in args.backends.split(","):
            python = pythons.get(backend, sys.executable)
            if backend not in pythons and not backends.is_installed(backend):
                print(f"  {backend}: not installed, skipped", file=sys.stderr)
                continue
            parts = [run_child(python, backend, task, data, args) for task in args.tasks.split(",")]
            if all(parts):
                results[backend] = {k: v for part in parts for k, v in part.items()}

    tasks = args.tasks.split(",")
    if "overhead" in tasks:
        _print_overhead(results)
    if "epochs" in tasks:
        _print_epochs(results)
    if "batch" in tasks:
        _print_batch(results)
    print("\nIS_THREAD_SAFE: " + ", ".join(f"{b} {r['thread_safe']}" for b, r in results.items()))
    print("devices: " + ", ".join(f"{b} {r['device']}" for b, r in results.items()))


def _print_overhead(results: dict[str, dict[str, Any]]) -> None:
    print(
        "\n| backend | engine ÷ plain fit: median | min epoch | CPU time | epochs "
        "| ktui's own CPU an epoch: hooks + sampler (share of a plain epoch's CPU) |"
    )
    print("|---|---|---|---|---|---|")
    for backend, r in results.items():
        sampler = r["own_sample"] * median(r["engine_wall"]) / r["sample_interval"]
        own = r["own_hooks"] + sampler
        print(
            f"| {backend} {r['version']} | {_ratio(r['engine_wall'], r['plain_wall'])} "
            f"| {_ratio(r['engine_wall'], r['plain_wall'], min)} "
            f"| {_ratio(r['engine_cpu'], r['plain_cpu'])} | {len(r['engine_wall'])} each "
            f"| {r['own_hooks'] * 1000:.2f} ms ({r['own_calls']:.0f} hook calls) "
            f"+ {sampler * 1000:.2f} ms ({own / median(r['plain_cpu']):.2%}) |"
        )


def _print_epochs(results: dict[str, dict[str, Any]]) -> None:
    print("\n| seconds per epoch (median) | " + " | ".join(results) + " |")
    print("|---|" + "---|" * len(results))
    for key, label in (
        ("mlp", "mnist_mlp"),
        ("cnn_first", "mnist_cnn, channels first (as the preset)"),
        ("cnn_last", "mnist_cnn, channels last"),
    ):
        cells = [f"{median(r[key]):.3f}" for r in results.values()]
        print(f"| {label} | " + " | ".join(cells) + " |")


def _print_batch(results: dict[str, dict[str, Any]]) -> None:
    print("\n| mnist_mlp epoch with a batch callback ÷ none | " + " | ".join(results) + " |")
    print("|---|" + "---|" * len(results))
    for key, label in (
        ("batch_override", "overrides on_train_batch_end"),
        ("batch_async_safe", "the same, async_safe = True"),
    ):
        cells = [_ratio(r[key], r["batch_none"]) for r in results.values()]
        print(f"| {label} | " + " | ".join(cells) + " |")
    print(
        "| (plain epoch, s) | "
        + " | ".join(f"{median(r['batch_none']):.3f}" for r in results.values())
        + " |"
    )


if __name__ == "__main__":
    main()
