"""A loss that becomes NaN (issue 10, item 13): stopped there, recorded ``diverged``
with the epoch and step, said so with a lower learning rate to try.

Real Keras on tiny random data with a learning rate of 1e30 (sgd), through
``ktui run``, the dashboard (a pilot app with the real trainer) and a person's own
``fit`` with ``ktui.Dashboard``; plus the store's migration and the core's wording.
"""

from __future__ import annotations

import math
import re
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import run_ktui, run_python, tiny_preset_text, write_preset

from ktui.app import create_app
from ktui.cli import EXIT_CODES
from ktui.cli.run import DIVERGED_EXIT, exit_code
from ktui.core.events import RunFinished
from ktui.core.metrics import divergence_message, lower_learning_rate, non_finite_loss
from ktui.core.presets import load_catalog, shipped_presets_dir
from ktui.presentation import STATUS_TONE
from ktui.store import STATUSES, RunStore
from ktui.store.follow import final_event
from ktui.store.schema import MIGRATIONS, SCHEMA_VERSION

#: The message a diverged run says: where, and a tenth of the rate it ran at.
SAID = re.compile(
    r"loss became (nan|inf) at epoch (\d+), step (\d+); "
    r"try a lower learning rate, e.g\. 1e29 instead of 1e30"
)


def diverging_preset(folder: Path) -> Path:
    """The tests' tiny preset with sgd and room for a learning rate of 1e30."""
    text = tiny_preset_text(optimizer="sgd").replace("max = 10.0", "max = 1e30")
    return write_preset(folder, text)


# ----------------------------------------------------------------------------- core
def test_the_message_names_epoch_step_and_a_tenth_of_the_rate() -> None:
    assert divergence_message(3, 41, math.nan, 1e-3) == (
        "loss became nan at epoch 3, step 41; try a lower learning rate, e.g. 1e-4 instead of 1e-3"
    )
    assert "e.g. 0.05 instead of 0.5" in divergence_message(1, 1, math.inf, 0.5)
    assert divergence_message(1, 2, -math.inf, None).endswith("step 2; try a lower learning rate")
    assert lower_learning_rate(0.01) == pytest.approx(0.001)
    assert lower_learning_rate(math.nan) is None


def test_only_a_non_finite_loss_counts() -> None:
    assert non_finite_loss({"loss": 0.5, "accuracy": math.nan}) is None
    assert non_finite_loss({}) is None and non_finite_loss(None) is None
    assert math.isnan(non_finite_loss({"loss": math.nan}) or 0.0)
    assert non_finite_loss({"loss": math.inf}) == math.inf


@pytest.mark.parametrize(
    "loss",
    [math.nan, math.inf, -math.inf, np.float32("nan"), np.float64("inf"), np.array(math.nan)],
    ids=["nan", "inf", "-inf", "float32-nan", "float64-inf", "0-d-array-nan"],
)
def test_the_batch_callback_notices_any_non_finite_loss(loss: Any) -> None:
    """Finite Python floats take the callback's quick path; every other loss (NaN, ±inf,
    a NumPy scalar or array a custom loop may log) the full check."""
    from ktui.core.controls import RunControls
    from ktui.training.callback import EventCallback

    callback = EventCallback(lambda event: None, RunControls(), 100, stop_on_divergence=False)
    callback.set_params({"steps": 10, "epochs": 1})
    callback.on_epoch_begin(0)
    for batch, finite in enumerate([0.5, np.float32(0.25), 1e300]):
        callback.on_train_batch_end(batch, {"loss": finite})
    assert callback.divergence is None
    callback.on_train_batch_end(3, {"loss": loss, "accuracy": 0.5})
    assert callback.divergence is not None
    assert callback.divergence.startswith("loss became ")
    assert "at epoch 1, step 4" in callback.divergence


def test_diverged_is_a_status_everywhere() -> None:
    assert "diverged" in STATUSES and STATUS_TONE["diverged"] == "error"
    final = RunFinished("diverged", 0, 1.0, message="loss became nan at epoch 1, step 2")
    assert exit_code(final) == DIVERGED_EXIT
    assert DIVERGED_EXIT in EXIT_CODES and DIVERGED_EXIT not in (0, 1, 2, 129, 130, 143)
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    assert f"| {DIVERGED_EXIT} | a run stopped because its loss became NaN" in readme


def test_a_version_5_store_learns_diverged_and_keeps_its_epochs(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    db = sqlite3.connect(path)
    for migration in MIGRATIONS[:5]:  # as a v5 ktui left it
        migration(db)
    db.execute("PRAGMA user_version = 5")
    db.execute(
        "INSERT INTO runs (preset, status, started_at, folder) VALUES ('tiny', 'finished', 1, '')"
    )
    db.execute("INSERT INTO epochs (run_id, epoch, metrics) VALUES (1, 1, '{\"loss\": 0.5}')")
    db.commit()
    with pytest.raises(sqlite3.IntegrityError):  # what v5 refused
        db.execute("UPDATE runs SET status = 'diverged'")
    db.close()

    with RunStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION  # every migration since v5 ran
        run_id = store.create_run("tiny", epochs=2)
        store.finish_run(run_id, "diverged", message="loss became nan at epoch 1, step 3")
        run = store.get_run(run_id)
        assert run.status == "diverged"
        final = final_event(run)
        assert isinstance(final, RunFinished) and final.message.endswith("epoch 1, step 3")
        assert store.epochs(1)[0].metrics == {"loss": 0.5}
        assert [r.id for r in store.list_runs(status="diverged")] == [run_id]
    with pytest.raises(sqlite3.IntegrityError):  # the check is still there
        db = sqlite3.connect(path)
        try:
            db.execute("UPDATE runs SET status = 'exploded'")
        finally:
            db.close()


# ------------------------------------------------------------------------ ktui run
@pytest.fixture(scope="module")
def diverged_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``ktui run`` of the diverging preset, once for the tests below; and its store."""
    root = tmp_path_factory.mktemp("diverged")
    preset = diverging_preset(root / "presets")
    store_file = root / "runs.sqlite"
    result = run_ktui(
        "--store", str(store_file), "run", str(preset), "--set", "epochs=3",
        "--set", "learning_rate=1e30",
    )  # fmt: skip
    return result, store_file


def test_ktui_run_stops_at_the_first_nan_and_says_so(
    diverged_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    result, store_file = diverged_run
    common = ["--store", str(store_file)]
    assert result.returncode == DIVERGED_EXIT, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    said = SAID.search(result.stdout)
    assert said, result.stdout
    assert "Diverged: loss became" in result.stdout
    with RunStore(store_file) as store:
        run = store.get_run(1)
        epochs = store.epochs(1)
    assert run.status == "diverged"
    assert run.error == said.group(0)
    # Stopped there: the epoch it diverged in is not recorded as a whole one, nor any after.
    assert int(said.group(2)) == 1 and run.epochs_done == 0 and epochs == []
    assert run.test_loss is None and not (run.folder / "model.keras").exists()

    listed = run_ktui(*common, "runs", "--status", "diverged")
    assert listed.returncode == 0, listed.stderr
    assert re.search(r"^\s*1\s+tiny\s+diverged", listed.stdout, re.M), listed.stdout
    assert "1  tiny" not in run_ktui(*common, "runs", "--status", "finished").stdout


async def test_attaching_to_a_diverged_run_says_why_it_ended(
    diverged_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    from textual.widgets import Static

    from ktui.screens.training import TrainingScreen

    _, store_file = diverged_run
    store = RunStore(store_file)
    app = create_app(load_catalog([shipped_presets_dir()]), store=store, attach=1)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            deadline = time.monotonic() + 60
            while not (isinstance(app.screen, TrainingScreen) and not app.screen.running):
                assert time.monotonic() < deadline, "the attached screen did not show the end"
                await pilot.pause(0.1)
            screen = app.screen
            assert screen.attached and screen.phase == "diverged"
            shown = str(screen.query_one("#result", Static).render())
            assert shown.startswith("Diverged: loss became") and SAID.search(shown), shown
    finally:
        store.close()


# ----------------------------------------------------------------------- dashboard
async def test_the_dashboard_shows_a_diverged_run(tmp_path: Path) -> None:
    from textual.widgets import Static

    from ktui.screens.training import TrainingScreen
    from ktui.training.engine import KerasTrainer

    diverging_preset(tmp_path / "presets")
    catalog = load_catalog([shipped_presets_dir(), tmp_path / "presets"])
    config = catalog.get("tiny").resolve({"epochs": 3, "learning_rate": 1e30})
    store = RunStore(tmp_path / "runs.sqlite")
    trainer = KerasTrainer(capture=None)
    app = create_app(catalog, trainer_factory=lambda: trainer, clock=lambda: 0.0, store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = TrainingScreen(config)
        app.push_screen(screen)
        deadline = time.monotonic() + 120
        while screen.running:
            assert time.monotonic() < deadline, "the dashboard's run did not end"
            await pilot.pause(0.1)
        await pilot.pause()
        assert isinstance(screen.final, RunFinished) and screen.final.status == "diverged"
        assert screen.phase == "diverged"
        shown = str(screen.query_one("#result", Static).render())
        assert shown.startswith("Diverged: loss became") and SAID.search(shown), shown
    run = store.get_run(1)
    store.close()
    assert run.status == "diverged" and SAID.search(run.error or "")


# ------------------------------------------------------------ a person's own fit
OWN_FIT = """
import sys
import numpy as np
import keras
from ktui import Dashboard

store, stop = sys.argv[1], sys.argv[2] == "stop"
rng = np.random.default_rng(3)
x = rng.random((64, 4), dtype=np.float32)
y = rng.integers(0, 2, 64).astype("float32")
model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(8, activation="relu"),
                          keras.layers.Dense(1, activation="sigmoid")])
model.compile(loss="binary_crossentropy", optimizer=keras.optimizers.SGD(1e30))
board = Dashboard("own", store=store, quiet=True, stop_on_nan=stop)
history = model.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[board])
print("EPOCHS", len(history.history["loss"]))
print("WARNINGS", board.warnings)
"""


@pytest.mark.parametrize("stop", [False, True], ids=["recorded", "asked-to-stop"])
def test_a_persons_own_fit_is_recorded_diverged(tmp_path: Path, stop: bool) -> None:
    store_file = tmp_path / "runs.sqlite"
    script = tmp_path / "train.py"
    script.write_text(OWN_FIT, encoding="utf-8")
    result = run_python(
        f"import runpy, sys; sys.argv = [{str(script)!r}, {str(store_file)!r}, "
        f"{'stop' if stop else 'go'!r}]; runpy.run_path({str(script)!r}, run_name='__main__')",
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    with RunStore(store_file) as store:
        run = store.get_run(1)
    assert run.status == "diverged" and SAID.search(run.error or ""), run.error
    assert f"run 1 diverged: {run.error}" in result.stdout
    # Not asked: the person's fit runs all its epochs; asked: it ends in the first.
    assert f"EPOCHS {1 if stop else 3}" in result.stdout
    assert run.epochs_done == (0 if stop else 3)
