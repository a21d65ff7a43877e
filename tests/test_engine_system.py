"""The engine with the system watch: samples, timings, the store, out-of-memory advice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_engine import tiny_config, train

from ktui.core.events import InputTiming, RunFailed, RunFinished, SystemSampled
from ktui.store import RunRecorder, RunStore
from ktui.store.system import read_samples, read_timings

engine = pytest.importorskip("ktui.training.engine", reason="TensorFlow is not installed")


def test_a_run_sends_samples_and_one_timing_per_epoch_and_they_are_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ktui.core.system.DEFAULT_INTERVAL", 0.05)
    monkeypatch.setattr("ktui.training.watch.DEFAULT_INTERVAL", 0.05)
    store = RunStore(tmp_path / "runs.sqlite")
    config = tiny_config({"epochs": 3})
    recorder = RunRecorder.for_config(store, config)
    events: list[Any] = []

    def both(event: Any) -> None:
        recorder(event)
        events.append(event)

    final = engine.KerasTrainer(capture=None).run(config, both, engine.RunControls())
    assert isinstance(final, RunFinished), final
    timings = [e for e in events if isinstance(e, InputTiming)]
    assert [t.timing.epoch for t in timings] == [1, 2, 3]
    samples = [e for e in events if isinstance(e, SystemSampled)]
    assert samples and events.index(samples[-1]) < events.index(final)  # none after the end
    assert read_timings(store, recorder.run_id) == [t.timing for t in timings]
    stored = read_samples(store, recorder.run_id)
    assert stored == [s.sample for s in samples]
    store.close()


def test_out_of_memory_says_which_batch_size_would_have_fitted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tensorflow as tf

    def fit(*args: Any, **kwargs: Any) -> None:
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")

    monkeypatch.setattr(engine.keras.Model, "fit", fit)
    monkeypatch.setattr(engine, "device_total_memory", lambda: 2**20)
    final, _ = train(tiny_config({"epochs": 1, "batch_size": 32}))
    assert isinstance(final, RunFailed)
    assert final.error_type == "ResourceExhaustedError"
    # the tiny model's estimate fits in 1 MiB: the advice is to halve, and why
    assert final.message.startswith(
        "The device ran out of memory at batch_size 32, though the model's estimate is only "
    )
    assert final.message.endswith("try batch_size 16 (half).")
