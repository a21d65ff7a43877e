"""Shared parts of the benchmarks: the real data, a plain-Keras baseline, statistics.

The benchmarks use the real 28×28 data that is on the machine: MNIST when Keras
has it cached, else Fashion-MNIST (same shapes; the Debian package
``dataset-fashion-mnist``). The baseline is exactly what a person would write:
the preset's model, ``model.fit(verbose=0)``, timed per epoch by a callback with
only epoch hooks (which keeps Keras's asynchronous batch dispatch on).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from ktui.core import data as data_mod  # noqa: E402
from ktui.core.presets import RunConfig, load  # noqa: E402


def image_source() -> str:
    """``mnist`` when it is on the machine, else ``fashion_mnist``."""
    status = data_mod.locate(data_mod.parse_source("mnist"))
    if status.state == "available":
        return "mnist"
    fashion = data_mod.locate(data_mod.parse_source("fashion_mnist"))
    if fashion.state != "available":
        sys.exit(
            "benchmark: needs MNIST in ~/.keras/datasets or `apt-get install dataset-fashion-mnist`"
        )
    return "fashion_mnist"


def preset_config(name: str, epochs: int, source: str | None = None) -> RunConfig:
    """The shipped preset ``name`` with ``epochs`` on the machine's image data."""
    preset = load(ROOT / "presets" / f"{name}.toml")
    return preset.resolve({"epochs": epochs}, data=source or image_source())


@dataclass
class EpochClock:
    """Wall and process CPU seconds of each epoch, marked at each epoch's end.

    CPU time is this process's (every thread: Keras's and the listeners'), so a cost
    that runs beside training shows up here even when the wall time hides it.
    """

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    _last: tuple[float, float] | None = None

    def start(self) -> None:
        """Mark the start of the first epoch."""
        self._last = (time.monotonic(), time.process_time())

    def epoch_ended(self) -> None:
        """Mark an epoch's end: the time since the previous mark is that epoch's."""
        now = (time.monotonic(), time.process_time())
        if self._last is not None:
            self.wall.append(now[0] - self._last[0])
            self.cpu.append(now[1] - self._last[1])
        self._last = now

    def steady(self) -> EpochClock:
        """The epochs after the first (which includes tracing and compiling)."""
        return EpochClock(steady(self.wall), steady(self.cpu))


@dataclass
class Comparison:
    """Steady epochs of two ways of training the same thing, over alternating rounds."""

    subject: str
    baseline: str
    ours: EpochClock = field(default_factory=EpochClock)
    theirs: EpochClock = field(default_factory=EpochClock)

    def add(self, ours: EpochClock, theirs: EpochClock) -> None:
        """Add one round's steady epochs of each side."""
        for mine, round_ in ((self.ours, ours.steady()), (self.theirs, theirs.steady())):
            mine.wall += round_.wall
            mine.cpu += round_.cpu

    def report(self, target: float) -> str:
        """Median, minimum-epoch and CPU-time ratios (ours ÷ baseline), with the target.

        On a shared machine the median drifts with the neighbours' load; the fastest
        epoch of each side is the one least disturbed, and CPU time per epoch counts
        the work done whatever the wall clock says, so a 1-3 % cost shows in those.
        """
        o, t = self.ours, self.theirs
        med = median(o.wall) / median(t.wall)
        low = min(o.wall) / min(t.wall)
        cpu = median(o.cpu) / median(t.cpu)
        return (
            f"{self.subject} ÷ {self.baseline} ({len(o.wall)} vs {len(t.wall)} steady epochs):\n"
            f"  median epoch  {median(o.wall):.3f}s vs {median(t.wall):.3f}s → {med:.3f}\n"
            f"  fastest epoch {min(o.wall):.3f}s vs {min(t.wall):.3f}s → {low:.3f}\n"
            f"  CPU s/epoch   {median(o.cpu):.3f} vs {median(t.cpu):.3f} → {cpu:.3f}\n"
            f"  target ≤ {target:.2f}"
        )


def epoch_timer(clock: EpochClock) -> Any:
    """A Keras callback that marks ``clock`` at the start of training and at each
    epoch's end: the one instrument both sides of a comparison are timed with.

    Epoch hooks only, so Keras keeps dispatching batches asynchronously."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def on_train_begin(self, logs: Any = None) -> None:
            clock.start()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            clock.epoch_ended()

    return EpochTimer()


def plain_fit_epochs(config: RunConfig, extra_callbacks: Sequence[Any] = ()) -> EpochClock:
    """Train the preset's model with a plain ``model.fit(verbose=0)``; its epoch clock.

    ``extra_callbacks`` go to ``fit`` after the epoch timer: what a benchmark measures
    the cost of (a batch callback, the step timer), or a callback that brackets the fit.
    """
    import keras

    from ktui.training.builder import build_model
    from ktui.training.engine import load_dataset

    dataset = load_dataset(config, None)
    keras.backend.clear_session()
    if config.seed is not None:
        keras.utils.set_random_seed(config.seed)
    model = build_model(config, tuple(dataset.x_train.shape[1:]))
    clock = EpochClock()
    fit_args: dict[str, Any] = {}
    if config.validation == "test":
        fit_args["validation_data"] = (dataset.x_test, dataset.y_test)
    model.fit(
        dataset.x_train,
        dataset.y_train,
        batch_size=config.batch_size,
        epochs=config.epochs,
        verbose=0,
        callbacks=[epoch_timer(clock), *extra_callbacks],
        **fit_args,
    )
    return clock


def rounds_and_config(doc: str) -> tuple[argparse.Namespace, RunConfig]:
    """``--rounds`` and ``--epochs`` of an alternating ``mnist_mlp`` comparison, with
    its config, after printing what will be trained."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    config = preset_config("mnist_mlp", args.epochs)
    print(
        f"mnist_mlp on {config.data.describe()}, {args.rounds} rounds × "
        f"{args.epochs} epochs each way, alternating"
    )
    return args, config


def steady(times: list[float]) -> list[float]:
    """Drop the first epoch of a run: it includes tracing and compiling the model."""
    return times[1:] if len(times) > 1 else times


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]
