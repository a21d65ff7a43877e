"""``ktui.Dashboard`` in a person's fit: system samples, step timings, a slow PyDataset."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from ktui.core.system_report import input_rows  # noqa: E402
from ktui.store import RunStore  # noqa: E402
from ktui.store.system import read_samples, read_timings  # noqa: E402
from ktui.training.dashboard import Dashboard  # noqa: E402
from ktui.training.timing import TimedPyDataset  # noqa: E402


class SlowData(keras.utils.PyDataset):  # type: ignore[misc]
    """Batches that take 30 ms each to make: the GPU would sit idle."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        rng = np.random.default_rng(0)
        self.x = rng.normal(size=(12 * 16, 4)).astype("float32")
        self.y = rng.normal(size=(12 * 16, 1)).astype("float32")

    def __len__(self) -> int:
        return 12

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        time.sleep(0.03)
        return self.x[index * 16 : (index + 1) * 16], self.y[index * 16 : (index + 1) * 16]


def test_a_script_with_a_slow_pydataset_is_recorded_input_bound(tmp_path: Path) -> None:
    store_file = tmp_path / "runs.sqlite"
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    board = Dashboard("slow-input", store=store_file, quiet=True)
    history = model.fit(TimedPyDataset(SlowData()), epochs=3, verbose=0, callbacks=[board])
    assert len(history.history["loss"]) == 3
    with RunStore(store_file) as store:
        run_id = store.list_runs()[0].id
        timings = read_timings(store, run_id)
        assert [t.epoch for t in timings] == [1, 2, 3]
        assert all(t.input_bound for t in timings[1:])
        assert read_samples(store, run_id)
        verdict = dict((k, v) for k, v in input_rows(timings, "PyDataset SlowData"))["input"]
        assert verdict.startswith("input-bound: ") and "workers=4" in verdict
        assert store.get_run(run_id).status == "finished"
