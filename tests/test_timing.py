"""Input-bound diagnosis: StepTimer and TimedPyDataset in real Keras fits on tiny data."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from ktui.core.input_bound import EpochTiming, diagnose, suggestion  # noqa: E402
from ktui.training.timing import StepTimer, TimedPyDataset  # noqa: E402

BATCHES = 12


class SlowData(keras.utils.PyDataset):  # type: ignore[misc]
    """Tiny batches that take ``delay`` seconds each to make: a starved input pipeline."""

    def __init__(self, delay: float, batch: int = 8, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delay = delay
        self.batch = batch
        rng = np.random.default_rng(0)
        self.x = rng.normal(size=(BATCHES * batch, 4)).astype("float32")
        self.y = rng.integers(0, 2, size=(BATCHES * batch, 1)).astype("float32")

    def __len__(self) -> int:
        return BATCHES

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        time.sleep(self.delay)
        part = slice(index * self.batch, (index + 1) * self.batch)
        return self.x[part], self.y[part]


def tiny_model(width: int = 8) -> Any:
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(width), keras.layers.Dense(width),
         keras.layers.Dense(1)]
    )
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_a_slow_pydataset_is_found_input_bound_and_the_message_says_how_much() -> None:
    data = TimedPyDataset(SlowData(delay=0.03))
    seen: list[EpochTiming] = []
    timer = StepTimer(on_epoch=seen.append, clock=data.clock)
    tiny_model().fit(data, epochs=2, verbose=0, callbacks=[timer])
    assert len(seen) == 2 and seen == timer.epochs
    last = seen[-1]
    assert last.steps == BATCHES - 2  # the first and the last are left out
    share = last.waiting_share
    assert share is not None and share > 0.6  # 30 ms of data per step of well under 5 ms
    # about 30 ms a batch waited for, inside the step or between steps
    assert last.waiting / last.steps == pytest.approx(0.03, abs=0.015)
    message = diagnose(last, data_kind="PyDataset")
    assert message is not None
    assert message.startswith(f"input-bound: {share * 100:.0f} % of step time waiting for data; ")
    assert "workers=4" in message


def test_the_same_data_made_fast_is_not_input_bound() -> None:
    # steps of real work (256 × 1024 × 1024), batches made at once: the step waits little
    data = TimedPyDataset(SlowData(delay=0.0, batch=256))
    timer = StepTimer(clock=data.clock)
    tiny_model(width=1024).fit(data, epochs=2, verbose=0, callbacks=[timer])
    last = timer.epochs[-1]
    assert last.waiting_share is not None and last.waiting_share < 0.25
    assert diagnose(last) is None


def test_arrays_without_a_clock_are_measured_and_not_input_bound() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(96, 4)).astype("float32"), rng.normal(size=(96, 1)).astype("float32")
    timer = StepTimer()
    tiny_model().fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[timer])
    (only,) = timer.epochs
    assert only.steps == 10 and only.compute > 0 and only.waiting_inside == 0
    assert not only.input_bound


def test_a_failing_listener_costs_the_timings_not_the_fit() -> None:
    errors: list[str] = []

    def broken(timing: EpochTiming) -> None:
        raise RuntimeError("store gone")

    timer = StepTimer(on_epoch=broken, on_error=errors.append)
    rng = np.random.default_rng(2)
    history = tiny_model().fit(
        rng.normal(size=(32, 4)), rng.normal(size=(32, 1)), epochs=3, verbose=0, callbacks=[timer]
    )
    assert len(history.history["loss"]) == 3 and len(timer.epochs) == 3
    assert errors == ["Step timings stopped: RuntimeError: store gone"]


def test_the_verdict_and_one_suggestion_per_kind_of_input() -> None:
    timing = EpochTiming(epoch=0, steps=10, compute=0.54, between=0.3, waiting_inside=0.16)
    assert timing.waiting_share == pytest.approx(0.46)
    assert diagnose(timing, "tf.data") == (
        "input-bound: 46 % of step time waiting for data; "
        "end the pipeline with .cache() and .prefetch(tf.data.AUTOTUNE)"
    )
    assert "larger batch size than 32" in suggestion("arrays", 32)
    assert "PyDataset" in suggestion("generator")
    assert diagnose(EpochTiming(0, 10, 0.9, 0.1)) is None
    assert EpochTiming(0, 0, 0.0, 0.0).waiting_share is None
