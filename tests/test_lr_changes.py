"""Learning-rate changes are rows (before, after, epoch, step, who asked), read back as
data by the follower and the run detail — never log lines parsed with a regex."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from textual.widgets import Static

from ktui.app import create_app
from ktui.core.events import LearningRateChanged, ModelSummary, RunFinished, RunStarted
from ktui.core.presets import load_catalog, shipped_presets_dir
from ktui.screens.run_detail import RunDetailScreen
from ktui.store import RunFollower, RunRecorder, RunStore


async def test_the_run_detail_lists_the_changes(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    recorder = RunRecorder(store, "dummy_binary", epochs=3)
    recorder(RunStarted("dummy_binary", {}, ModelSummary((), 1, 1), 10, 0, 5, 2, 3, 5, "CPU", "x"))
    recorder(LearningRateChanged(0.001, 3, 2, previous=0.01, source="command"))
    recorder(LearningRateChanged(0.0005, 4, 1, previous=0.001, source="schedule"))
    recorder(RunFinished("finished", 3, 1.0))
    app = create_app(load_catalog([shipped_presets_dir()]), clock=lambda: 0.0, store=store)
    async with app.run_test(size=(140, 50)) as pilot:
        detail = RunDetailScreen(recorder.run_id)
        app.push_screen(detail)
        deadline = time.monotonic() + 10
        while not detail.learning_rates:
            assert time.monotonic() < deadline
            await pilot.pause(0.05)
        await pilot.pause()
        console = Console(width=200, record=True, file=io.StringIO())
        console.print(detail.query_one("#detail-info", Static).content)
        text = console.export_text()
        assert "0.01 → 0.001 at epoch 3, step 2 (command)" in text
        assert "0.001 → 0.0005 at epoch 4, step 1 (schedule)" in text
    store.close()


def test_a_schedule_in_a_real_fit_is_recorded_as_one_schedule_row(tmp_path: Path) -> None:
    keras = pytest.importorskip("keras")
    from ktui import Dashboard

    store_file = tmp_path / "runs.sqlite"
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 4), dtype=np.float32), rng.integers(0, 2, (64, 1))
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer=keras.optimizers.SGD(0.01))
    halve_at_3 = keras.callbacks.LearningRateScheduler(
        lambda epoch, lr: lr / 2 if epoch == 2 else lr
    )
    dashboard = Dashboard("script", store=store_file, quiet=True)
    model.fit(x, y, batch_size=16, epochs=4, verbose=0, callbacks=[dashboard, halve_at_3])
    with RunStore(store_file) as store:
        [change] = store.learning_rate_changes(dashboard.run_id or 0)
        # The epoch that ran at the new rate (Dashboard stood before the scheduler).
        assert (change.epoch, change.step, change.source) == (3, 1, "schedule")
        assert change.before == pytest.approx(0.01) and change.after == pytest.approx(0.005)
        [event] = [
            e
            for e in RunFollower(store, dashboard.run_id or 0).poll()
            if isinstance(e, LearningRateChanged)
        ]
        assert (event.value, event.previous, event.source) == (
            pytest.approx(0.005),
            pytest.approx(0.01),
            "schedule",
        )
