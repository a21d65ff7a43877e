"""RunWatch in a real fit: samples from the sampler's thread and an InputTiming per epoch."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from ktui.core.events import Event, InputTiming, LogLine, SystemSampled  # noqa: E402
from ktui.training.watch import RunWatch  # noqa: E402


def test_a_watched_fit_gives_samples_and_timings_and_stops_cleanly() -> None:
    events: list[tuple[str, Event]] = []
    watch = RunWatch(lambda e: events.append((threading.current_thread().name, e)), interval=0.05)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(64), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(0)

    class Slow(keras.callbacks.Callback):  # epochs long enough for a few samples
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            time.sleep(0.15)

    watch.start()
    try:
        model.fit(
            rng.normal(size=(256, 4)), rng.normal(size=(256, 1)), batch_size=16, epochs=2,
            verbose=0, callbacks=[*watch.callbacks(), Slow()],
        )
    finally:
        watch.stop()
    samples = [e for _, e in events if isinstance(e, SystemSampled)]
    timings = [(name, e) for name, e in events if isinstance(e, InputTiming)]
    assert len(samples) >= 3 and all(s.sample.process_rss for s in samples)
    assert {name for name, e in events if isinstance(e, SystemSampled)} <= {
        "ktui-system", threading.current_thread().name  # the last one, sent at stop
    }
    assert [e.timing.epoch for _, e in timings] == [1, 2]
    assert all(name == threading.current_thread().name for name, _ in timings)
    assert not [e for _, e in events if isinstance(e, LogLine)]
    assert watch.sampler is None  # stopped; a second stop is harmless
    watch.stop()


def test_ktui_system_0_switches_the_sampler_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KTUI_SYSTEM", "0")
    watch = RunWatch(lambda e: None)
    watch.start()
    assert watch.sampler is None and watch.latest() is None and watch.callbacks()
    watch.stop()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, ["true", "false"]),
        ({"TF_FORCE_GPU_ALLOW_GROWTH": "false"}, ["false", "false"]),
        ({"KTUI_MEMORY_GROWTH": "0"}, [None, None]),
    ],
    ids=["default", "person-chose", "switched-off"],
)
def test_memory_growth_is_on_before_keras_loads(
    env: dict[str, str], expected: list[str | None]
) -> None:
    from conftest import run_python

    code = (
        "import json, os, sys\n"
        "for name in ('TF_FORCE_GPU_ALLOW_GROWTH', 'XLA_PYTHON_CLIENT_PREALLOCATE'):\n"
        "    os.environ.pop(name, None) if name not in " + repr(list(env)) + " else None\n"
        "import ktui.training\n"
        "assert 'keras' not in sys.modules\n"
        "print(json.dumps([os.environ.get('TF_FORCE_GPU_ALLOW_GROWTH'),"
        " os.environ.get('XLA_PYTHON_CLIENT_PREALLOCATE')]))"
    )
    result = run_python(code, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == expected
