"""``from ktui import Dashboard``: a person's own training script, recorded and steered.

Each test runs a real script with real Keras in a child process, against a store
in tmp_path, and reads the store (or steers the run) from here.
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO_ROOT, child_env

from ktui.store import RunStore, send_command
from ktui.store.control import wait_taken

SCRIPT = """
import sys
import numpy as np
import keras
from ktui import Dashboard

store, epochs = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(7)
x_train = rng.random((200, 8), dtype=np.float32)
y_train = keras.utils.to_categorical(rng.integers(0, 3, 200), 3)
x_test = rng.random((40, 8), dtype=np.float32)
y_test = keras.utils.to_categorical(rng.integers(0, 3, 40), 3)

def build():
    model = keras.Sequential([
        keras.Input(shape=(8,)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(3, activation="softmax"),
    ])
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model
"""

# ``import ktui`` loads no TensorFlow; ``ktui.Dashboard`` is imported on first use.
IMPORT_CHECK = """
import sys
import ktui
assert "tensorflow" not in sys.modules and "keras" not in sys.modules
try:
    ktui.Nope
except AttributeError as e:
    assert str(e) == "module 'ktui' has no attribute 'Nope'", e
"""

FINISHES_THEN_DIES = (
    IMPORT_CHECK
    + SCRIPT
    + """
board = Dashboard(hyperparameters={"units": 16}, test_data=(x_test, y_test), store=store,
                  save_model=True)
history = build().fit(x_train, y_train, batch_size=20, epochs=epochs, validation_split=0.1,
                      verbose=0, callbacks=[board])
print("first run", board.run_id, len(history.history["loss"]), flush=True)

class Boom(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise RuntimeError("boom")

second = Dashboard("crashing", store=store, quiet=True)
try:
    build().fit(x_train, y_train, epochs=50, verbose=0, callbacks=[second, Boom()])
except RuntimeError:
    print("second run", second.run_id, "raised", flush=True)
"""
)

STEERED = (
    SCRIPT
    + """
board = Dashboard("steered", store=store)
history = build().fit(x_train, y_train, batch_size=10, epochs=epochs, verbose=0,
                      callbacks=[board])
print("fit returned after", len(history.history["loss"]), "epochs", flush=True)
"""
)


def test_a_script_with_the_callback_is_recorded(tmp_path: Path) -> None:
    store_file = tmp_path / "runs.sqlite"
    script = tmp_path / "my_experiment.py"
    script.write_text(FINISHES_THEN_DIES, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script), str(store_file), "3"],
        capture_output=True,
        text=True,
        env=child_env(),
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "first run 1 3" in result.stdout and "second run 2 raised" in result.stdout
    assert "ktui: recording this training as run 1 (follow it with `ktui --store" in result.stderr
    assert "run 2" not in result.stderr  # quiet=True

    with RunStore(store_file) as store:
        run = store.get_run(1)
        assert run.preset == "my_experiment"  # the script's name
        assert run.status == "finished"
        assert run.values == {
            "epochs": 3,
            "batch_size": 20,
            "steps_per_epoch": 9,  # 180 samples after the validation split
            "optimizer": "adam",
            "learning_rate": pytest.approx(0.001),
            "validation_split": 0.1,
            "units": 16,
        }
        assert run.data == "x (180, 8) float32"
        assert run.info["train_samples"] == 180 and run.info["validation_samples"] == 20
        assert run.info["test_samples"] == 40 and run.info["batch_size"] == 20
        assert run.model is not None and run.model["total_params"] == 8 * 16 + 16 + 16 * 3 + 3
        assert [layer["kind"] for layer in run.model["layers"]] == ["Dense", "Dense"]
        backend = run.versions["backend"]  # the one the child's Keras ran on
        assert backend in ("tensorflow", "jax", "torch") and run.versions[backend]
        assert run.device.startswith("CPU")
        epochs = store.epochs(1)
        assert [e.epoch for e in epochs] == [1, 2, 3]
        assert set(epochs[0].metrics) == {"loss", "accuracy", "val_loss", "val_accuracy"}
        assert all(e.learning_rate == pytest.approx(0.001) for e in epochs)
        assert run.test_loss is not None and math.isfinite(run.test_loss)
        assert run.test_accuracy is not None and 0 <= run.test_accuracy <= 1
        assert (run.folder / "model.keras").is_file()
        assert (run.folder / "history.csv").read_text().count("\n") == 4

        # The fit that raised never reached its end: interrupted, with its one epoch.
        crashed = store.get_run(2)
        assert crashed.preset == "crashing" and crashed.status == "interrupted"
        assert crashed.epochs_done == 2  # Dashboard saw epoch 2 end before Boom raised
        assert crashed.values["batch_size"] == 32  # Keras's default, as fit used it


def test_a_script_obeys_a_learning_rate_change_and_a_stop_from_ktui(tmp_path: Path) -> None:
    store_file = tmp_path / "runs.sqlite"
    child = subprocess.Popen(
        [sys.executable, "-c", STEERED, str(store_file), "5000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
        cwd=REPO_ROOT,
    )
    try:
        deadline = time.monotonic() + 90
        with_store = None
        while with_store is None:
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the run never appeared in the store"
            if store_file.exists():
                with RunStore(store_file) as store:
                    if store.count_runs() and store.epochs(1):
                        with_store = True
            time.sleep(0.1)
        with RunStore(store_file) as store:
            assert store.get_run(1).status == "running"
            assert wait_taken(store, send_command(store, 1, "learning_rate", 0.0123))
            done = len(store.epochs(1))
            # The change applies from the next batch, so the epoch after next has it.
            while len(store.epochs(1)) < done + 2:
                assert time.monotonic() < deadline and child.poll() is None
                time.sleep(0.05)
            assert store.epochs(1)[-1].learning_rate == pytest.approx(0.0123)
            assert wait_taken(store, send_command(store, 1, "stop"))
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, err  # fit returned normally
    with RunStore(store_file) as store:
        run = store.get_run(1)
        assert run.status == "stopped"
        assert 2 <= run.epochs_done < 5000
        # Keras's history also has the epoch the stop cut short; the run counts whole ones.
        returned = int(out.split("fit returned after ")[1].split()[0])
        assert returned in (run.epochs_done, run.epochs_done + 1), out
        log = store.log(1)
        # The change is a row (who asked: a command through the store), not a log line.
        [change] = store.learning_rate_changes(1)
        assert (change.after, change.source) == (pytest.approx(0.0123), "command")
        assert any("stop requested" in line for line in log)
