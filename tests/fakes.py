"""A fast fake trainer for UI tests: the same events as the Keras engine, no TensorFlow.

The real engine is exercised by tests/test_engine.py and by one UI test that trains
``dummy_binary`` for real; everything else in the UI tests uses this for speed.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from ktui.core.controls import RunControls
from ktui.core.events import (
    BatchProgress,
    EpochEnded,
    Event,
    LayerInfo,
    LearningRateChanged,
    Listener,
    LogLine,
    ModelSummary,
    PhaseChanged,
    RunFailed,
    RunFinished,
    RunStarted,
)
from ktui.core.presets import RunConfig

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


class FakeTrainer:
    """Emits a deterministic run: loss 1/(epoch+1), accuracy rising, 4 steps per epoch.

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
    ) -> None:
        self.hold_after = hold_after
        self.step_delay = step_delay
        self.fail_at_epoch = fail_at_epoch
        self.gate = gate
        self.validation = validation
        self.runs: list[RunConfig] = []
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
                done = epoch
                continue
            break
        stopped = controls.stop_requested
        final = RunFinished(
            status="stopped" if stopped else "finished",
            epochs_completed=done,
            seconds=done * 0.5,
            test_loss=0.25 if done else None,
            test_accuracy=0.9816 if done else None,
        )
        listener(final)
        return final
