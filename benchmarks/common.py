"""Shared parts of the benchmarks: the real data, a plain-Keras baseline, statistics.

The benchmarks use the real 28×28 data that is on the machine: MNIST when Keras
has it cached, else Fashion-MNIST (same shapes; the Debian package
``dataset-fashion-mnist``). The baseline is exactly what a person would write:
the preset's model, ``model.fit(verbose=0)``, timed per epoch by a callback with
only epoch hooks (which keeps Keras's asynchronous batch dispatch on).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
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


def plain_fit_epoch_times(config: RunConfig) -> list[float]:
    """Train the preset's model with a plain ``model.fit(verbose=0)``; seconds per epoch."""
    import keras

    from ktui.training.builder import build_model
    from ktui.training.engine import load_dataset

    dataset = load_dataset(config, None)
    keras.backend.clear_session()
    if config.seed is not None:
        keras.utils.set_random_seed(config.seed)
    model = build_model(config, tuple(dataset.x_train.shape[1:]))
    times: list[float] = []

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.t0 = time.monotonic()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            times.append(time.monotonic() - self.t0)

    fit_args: dict[str, Any] = {}
    if config.validation == "test":
        fit_args["validation_data"] = (dataset.x_test, dataset.y_test)
    model.fit(
        dataset.x_train,
        dataset.y_train,
        batch_size=config.batch_size,
        epochs=config.epochs,
        verbose=0,
        callbacks=[EpochTimer()],
        **fit_args,
    )
    return times


def steady(times: list[float]) -> list[float]:
    """Drop the first epoch of a run: it includes tracing and compiling the model."""
    return times[1:] if len(times) > 1 else times


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]
