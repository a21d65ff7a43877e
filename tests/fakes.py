"""A fast fake trainer for UI tests: the same events as the Keras engine, no TensorFlow.

The real engine is exercised by tests/test_engine.py and by one UI test that trains
``dummy_binary`` for real; everything else in the UI tests uses this for speed.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from ktui.core import insight
from ktui.core.controls import RunControls
from ktui.core.distribute import Placement
from ktui.core.events import (
    BatchProgress,
    EpochEnded,
    Event,
    InputTiming,
    LayerInfo,
    LearningRateChanged,
    Listener,
    LogLine,
    ModelSummary,
    PhaseChanged,
    RunFailed,
    RunFinished,
    RunStarted,
    SystemSampled,
)
from ktui.core.input_bound import EpochTiming, diagnose
from ktui.core.presets import RunConfig
from ktui.core.system import SystemSample

SUMMARY = ModelSummary(
    layers=(
        LayerInfo("dense", "Dense", "(None, 64)", 1344),
        LayerInfo("dropout", "Dropout", "(None, 64)", 0),
        LayerInfo("dense_1", "Dense", "(None, 1)", 65),
    ),
    total_params=1409,
    trainable_params=1409,
    input_shape="(None, 20)",
)


def fake_sample(epoch: int) -> SystemSample:
    """A fixed system sample for epoch ``epoch`` (no clock, no machine)."""
    return SystemSample(
        time=float(epoch),
        process_cpu=100.0 + 10 * epoch,
        process_rss=(1024 + 16 * epoch) * 2**20,
        machine_cpu=40.0 + epoch,
        memory_available=12 * 2**30,
        memory_total=16 * 2**30,
        gpu_note="no GPU: NVML sees none",
    )


class FakeTrainer:
    """Emits a deterministic run: loss 1/(epoch+1), accuracy rising, 4 steps per epoch,
    a system sample and step timings after each epoch (``system=False``: none; from
    epoch 3 on the timings are input-bound).

    ``step_delay`` slows it down so a test can act while it runs; ``fail_at_epoch``
    makes it raise like a broken model would; ``gate``, when given, holds the run
    after ``hold_after`` epochs until the test sets it, so a test can act on a run
    that is going without racing it.
    """

    def __init__(
        self,
        *,
        step_delay: float = 0.0,
        fail_at_epoch: int | None = None,
        gate: threading.Event | None = None,
        hold_after: int = 0,
        validation: bool = True,
        evaluation: insight.Evaluation | None = None,
        system: bool = True,
    ) -> None:
        self.hold_after = hold_after
        self.evaluation = evaluation
        self.step_delay = step_delay
        self.fail_at_epoch = fail_at_epoch
        self.gate = gate
        self.validation = validation
        self.runs: list[RunConfig] = []
        self.system = system
        self.learning_rates: list[float] = []

    def describe(self, config: RunConfig) -> ModelSummary:
        return SUMMARY

    def run(
        self,
        config: RunConfig,
        listener: Listener,
        controls: RunControls,
        *,
        artifacts: Path | None = None,
    ) -> Event:
        self.runs.append(config)
        steps = 4
        listener(PhaseChanged("preparing data", config.data.describe()))
        listener(LogLine("fake: TensorFlow would warn here"))
        listener(
            RunStarted(
                preset=config.preset.name,
                values=dict(config.values),
                model=SUMMARY,
                train_samples=800,
                validation_samples=100,
                test_samples=100,
                batch_size=config.batch_size,
                epochs=config.epochs,
                steps_per_epoch=steps,
                device="CPU (fake)",
                data="fake data",
                versions={"ktui": "test"},
                # A strategy other than auto: two fake GPUs, as the engine would say.
                placement=None
                if config.strategy == "auto"
                else Placement(config.strategy, 2, ("fakehost",), ("GPU:0", "GPU:1")),
            )
        )
        listener(PhaseChanged("running"))
        lr = config.learning_rate or 0.001
        done = 0
        for epoch in range(1, config.epochs + 1):
            if self.gate is not None and epoch == self.hold_after + 1:
                # Like a batch in progress: ends when the test opens the gate, or on stop.
                deadline = time.monotonic() + 10
                while not self.gate.wait(0.01) and time.monotonic() < deadline:
                    if controls.stop_requested:
                        break
            for step in range(1, steps + 1):
                if controls.paused:
                    listener(PhaseChanged("paused"))
                    controls.wait_while_paused(0.01)
                    listener(PhaseChanged("running"))
                if controls.stop_requested:
                    break
                new_lr = controls.take_learning_rate()
                if new_lr is not None:
                    lr = new_lr
                    self.learning_rates.append(new_lr)
                    listener(LearningRateChanged(new_lr, epoch, step))
                if self.fail_at_epoch == epoch:
                    exc = RuntimeError("fake failure: shapes do not match")
                    failed = RunFailed(
                        message=f"RuntimeError: {exc}",
                        error_type="RuntimeError",
                        traceback="Traceback (most recent call last):\n  fake frame\n"
                        "RuntimeError: fake failure: shapes do not match",
                        epochs_completed=done,
                    )
                    listener(failed)
                    return failed
                if self.step_delay:
                    time.sleep(self.step_delay)
                listener(
                    BatchProgress(epoch, step, steps, {"loss": 1 / (epoch + 1)}, 1000.0, step * 0.1)
                )
            else:
                metrics = {"loss": 1 / (epoch + 1), "accuracy": 1 - 1 / (epoch + 2)}
                if self.validation:
                    metrics |= {
                        "val_loss": 1.1 / (epoch + 1),
                        "val_accuracy": 0.9 - 1 / (epoch + 3),
                    }
                listener(EpochEnded(epoch, config.epochs, metrics, lr, 0.5, 1600.0))
                if self.system:
                    listener(SystemSampled(fake_sample(epoch)))
                    # the last epochs wait for their data: the status line says so
                    waiting = 0.1 if epoch < 3 else 0.46
                    timing = EpochTiming(epoch, 3, 1 - waiting, waiting)
                    listener(InputTiming(timing, diagnose(timing, "arrays", config.batch_size)))
                done = epoch
                continue
            break
        stopped = controls.stop_requested
        if self.evaluation is not None and done:
            # Like the engine: saved in the run's folder when there is one.
            path = None if artifacts is None else artifacts / insight.PREDICTIONS_FILE
            if path is not None:
                self.evaluation.save(path)
            listener(self.evaluation.to_event(path, 0.01))
        final = RunFinished(
            status="stopped" if stopped else "finished",
            epochs_completed=done,
            seconds=done * 0.5,
            test_loss=0.25 if done else None,
            test_accuracy=0.9816 if done else None,
        )
        listener(final)
        return final


# --------------------------------------------------------------------------- fixed insight data
CNN_SUMMARY = ModelSummary(
    layers=(
        LayerInfo("conv2d", "Conv2D", "(None, 32, 24, 24)", 832),
        LayerInfo("max_pooling2d", "MaxPooling2D", "(None, 32, 12, 12)", 0),
        LayerInfo("dropout", "Dropout", "(None, 32, 12, 12)", 0),
        LayerInfo("flatten", "Flatten", "(None, 4608)", 0),
        LayerInfo("dense", "Dense", "(None, 128)", 589952),
        LayerInfo("dense_1", "Dense", "(None, 10)", 1290),
    ),
    total_params=592074,
    trainable_params=592074,
    input_shape="(None, 1, 28, 28)",
)
"""mnist_cnn's real summary with its default values (checked in test_insight_engine)."""


def shape_image(cls: int, variant: int = 0, side: int = 28) -> np.ndarray:
    """A 28×28 uint8 picture of a simple shape, one shape per class 0..9.

    Recognisable in a snapshot, unlike random noise; ``variant`` shifts it a little.
    """
    y, x = np.mgrid[0:side, 0:side]
    c = side / 2 - 0.5 + (variant % 3) - 1
    r = np.hypot(y - c, x - c)
    shapes = [
        (abs(y - c) < 8) & (abs(x - c) < 8),  # square
        abs(x - c) < 3,  # vertical bar
        abs(y - c) < 3,  # horizontal bar
        (r > 7) & (r < 11),  # ring
        r < 9,  # disc
        abs(y - x) < 3,  # diagonal
        (abs(y - c) < 2) | (abs(x - c) < 2),  # cross
        (y > 4) & (y < 24) & (abs(x - c) < (y - 4) / 2),  # triangle
        (np.maximum(abs(y - c), abs(x - c)) > 9) & (np.maximum(abs(y - c), abs(x - c)) < 12),
        ((y // 4 + x // 4) % 2 == 0),  # checks
    ]
    mask = shapes[cls % 10]
    # A soft gradient so the grey levels (not just black and white) are exercised.
    return np.where(mask, 140 + (x * 4) % 116, 0).astype(np.uint8)


def shape_arrays(n_train: int = 60, n_test: int = 30) -> dict[str, np.ndarray]:
    """Train and test sets of :func:`shape_image` (labels cycle through 0..9)."""
    y_train = np.arange(n_train) % 10
    y_test = np.arange(n_test) % 10
    return {
        "x_train": np.stack([shape_image(int(c), i) for i, c in enumerate(y_train)]),
        "y_train": y_train.astype(np.uint8),
        "x_test": np.stack([shape_image(int(c), i) for i, c in enumerate(y_test)]),
        "y_test": y_test.astype(np.uint8),
    }


def fixed_evaluation(*, images: bool = True) -> insight.Evaluation:
    """A deterministic 10-class evaluation with Fashion-MNIST names: 100 test samples,
    some of them wrong (shirts taken for T-shirts and the like)."""
    y_true = np.arange(100) % 10
    probabilities = np.full((100, 10), 0.01)
    probabilities[np.arange(100), y_true] = 0.91
    # Every seventh sample goes to a neighbouring class, with falling confidence.
    for k, i in enumerate(range(0, 100, 7)):
        wrong = (y_true[i] + 1 + k % 3) % 10
        probabilities[i] = 0.02
        probabilities[i, wrong] = 0.95 - k * 0.03
        probabilities[i, y_true[i]] = 0.03 + k * 0.02
    x = np.stack([shape_image(int(c), i) for i, c in enumerate(y_true)]).reshape(100, 784)
    return insight.evaluate(
        y_true,
        probabilities,
        labels=insight.FASHION_MNIST_CLASSES,
        x=(x.astype(np.float32) / 255) if images else None,
        data="fixed test data",
    )


def binary_evaluation() -> insight.Evaluation:
    """A deterministic sigmoid (binary) evaluation of 20-number vectors, like dummy_binary."""
    rng = np.random.default_rng(3)
    y_true = np.arange(100) % 2
    p = np.clip(np.where(y_true == 1, 0.7, 0.3) + rng.normal(0, 0.25, 100), 0.01, 0.99)
    x = rng.random((100, 20), dtype=np.float32)
    return insight.evaluate(y_true.reshape(-1, 1), p.reshape(-1, 1), x=x, data="random 100×20")
