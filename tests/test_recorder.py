"""Tests for ktui.store.recorder: synthetic event streams into a real SQLite store."""

from __future__ import annotations

import csv
import io
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import tiny_preset_text

from ktui.core.events import (
    BatchProgress,
    EpochEnded,
    Event,
    LayerInfo,
    LearningRateChanged,
    LogLine,
    ModelSummary,
    PhaseChanged,
    RunFailed,
    RunFinished,
    RunStarted,
)
from ktui.core.presets import loads
from ktui.store import RunRecorder, RunStore, fan_out, history_csv
from ktui.store import recorder as recorder_module

MODEL = ModelSummary(
    layers=(
        LayerInfo("dense", "Dense", "(None, 8)", 40),
        LayerInfo("out", "Dense", "(None, 1)", 9),
    ),
    total_params=49,
    trainable_params=49,
    input_shape="(None, 4)",
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RunStore]:
    with RunStore(tmp_path / "runs.sqlite") as opened:
        yield opened


def started(epochs: int = 3) -> RunStarted:
    return RunStarted(
        preset="tiny",
        values={"units": 8, "epochs": epochs},
        model=MODEL,
        train_samples=64,
        validation_samples=16,
        test_samples=32,
        batch_size=16,
        epochs=epochs,
        steps_per_epoch=4,
        device="CPU (x86_64)",
        data="random (seed 3)",
        versions={"ktui": "0.1.0", "keras": "3.5.0", "tensorflow": "2.17.0"},
    )


def epoch_end(epoch: int, epochs: int = 3) -> EpochEnded:
    return EpochEnded(
        epoch=epoch,
        epochs=epochs,
        metrics={"loss": 1 / epoch, "accuracy": 0.5 + epoch / 10, "val_accuracy": 0.4 + epoch / 10},
        learning_rate=0.01,
        seconds=0.5,
        samples_per_second=128.0,
    )


def stream(epochs: int = 3) -> list[Event]:
    """What the engine emits for a run that finishes: phases, progress, epochs, log lines."""
    events: list[Event] = [
        PhaseChanged("preparing data", "random"),
        LogLine("I0000 loading"),
        PhaseChanged("building model"),
        started(epochs),
        PhaseChanged("running"),
    ]
    for epoch in range(1, epochs + 1):
        events += [
            BatchProgress(epoch, 2, 4, {"loss": 1.0}, 100.0, 0.1),
            LogLine(f"W0000 warning in epoch {epoch}"),
            epoch_end(epoch, epochs),
        ]
    events += [
        LearningRateChanged(0.001, 3, 2),
        PhaseChanged("evaluating", "32 test samples"),
        RunFinished("finished", epochs, 1.6, test_loss=0.3, test_accuracy=0.875),
    ]
    return events


def new_recorder(store: RunStore, **kwargs: object) -> RunRecorder:
    return RunRecorder(store, "tiny", values={"units": 8}, defaults={"units": 16}, **kwargs)  # type: ignore[arg-type]


def test_a_whole_run_is_recorded(store: RunStore) -> None:
    recorder = new_recorder(store, data="random", epochs=3)
    assert recorder.folder == recorder.artifacts == store.folder(recorder.run_id)
    assert recorder.folder.is_dir()
    assert store.get_run(recorder.run_id).status == "running"
    for event in stream():
        recorder(event)

    assert recorder.warnings == []
    assert isinstance(recorder.final, RunFinished)
    run = store.get_run(recorder.run_id)
    assert run.status == "finished"
    assert run.preset == "tiny" and run.values == {"units": 8, "epochs": 3}
    assert run.defaults == {"units": 16}
    assert run.device == "CPU (x86_64)" and run.data == "random (seed 3)"
    assert run.versions == {"ktui": "0.1.0", "keras": "3.5.0", "tensorflow": "2.17.0"}
    assert run.model is not None and run.model["total_params"] == 49
    assert run.model["layers"][0] == {
        "name": "dense",
        "kind": "Dense",
        "output_shape": "(None, 8)",
        "params": 40,
    }
    assert run.info["steps_per_epoch"] == 4 and run.info["validation_samples"] == 16
    assert run.epochs_done == 3 and run.epochs_planned == 3
    assert (run.best_metric, run.best_epoch) == ("loss", 3)  # the objective: no val_loss
    assert run.test_loss == 0.3 and run.test_accuracy == 0.875 and run.seconds == 1.6
    assert [e.metrics["loss"] for e in store.epochs(run.id)] == [1.0, 0.5, pytest.approx(1 / 3)]
    assert store.log(run.id) == [
        "I0000 loading",
        "W0000 warning in epoch 1",
        "W0000 warning in epoch 2",
        "W0000 warning in epoch 3",
    ]
    # The learning-rate change is a row, not a log line.
    [change] = store.learning_rate_changes(run.id)
    assert (change.epoch, change.step, change.after, change.source) == (3, 2, 0.001, "ktui")

    rows = list(csv.DictReader(io.StringIO((run.folder / "history.csv").read_text())))
    assert [row["epoch"] for row in rows] == ["1", "2", "3"]
    assert float(rows[1]["loss"]) == 0.5 and float(rows[2]["learning_rate"]) == 0.01
    assert (run.folder / "history.csv").read_text() == history_csv(store.epochs(run.id))
    assert (run.folder / "log.txt").read_text().splitlines() == store.log(run.id)


def test_for_config_records_the_values_and_the_preset_defaults(store: RunStore) -> None:
    preset = loads(tiny_preset_text(), source="tiny.toml")
    config = preset.resolve({"units": 32})
    recorder = RunRecorder.for_config(store, config)
    run = store.get_run(recorder.run_id)
    assert run.preset == "tiny"
    assert run.values == config.values and run.defaults == preset.defaults()
    assert run.changed_values() == {"units": 32}
    assert run.epochs_planned == config.epochs
    assert run.data == config.data.describe()


def test_each_epoch_is_committed_when_it_ends_and_log_lines_wait_for_it(
    store: RunStore, tmp_path: Path
) -> None:
    recorder = new_recorder(store)
    recorder(started())
    reader = sqlite3.connect(tmp_path / "runs.sqlite")  # another process's view
    try:

        def committed() -> tuple[int, int]:
            epochs = reader.execute("SELECT count(*) FROM epochs").fetchone()[0]
            lines = reader.execute("SELECT count(*) FROM log").fetchone()[0]
            return epochs, lines

        recorder(LogLine("one"))
        recorder(LogLine("two"))
        assert committed() == (0, 0)
        recorder(epoch_end(1))
        assert committed() == (1, 2)
        recorder(LogLine("three"))
        assert committed() == (1, 2)
        recorder(RunFinished("stopped", 1, 1.0))
        assert committed() == (1, 3)
    finally:
        reader.close()
    assert store.get_run(recorder.run_id).status == "stopped"


def test_a_run_that_fails_before_it_starts_is_recorded_as_failed(store: RunStore) -> None:
    recorder = new_recorder(store)
    recorder(PhaseChanged("preparing data", "mnist"))
    recorder(RunFailed("mnist.npz is corrupt", "DataError", ""))
    run = store.get_run(recorder.run_id)
    assert run.status == "failed"
    assert run.error == "mnist.npz is corrupt" and run.error_type == "DataError"
    assert run.traceback is None and run.epochs_done == 0
    assert (run.folder / "history.csv").read_text().startswith("epoch,")


def test_a_run_that_fails_mid_way_keeps_its_epochs_and_traceback(store: RunStore) -> None:
    recorder = new_recorder(store)
    for event in [started(), epoch_end(1), LogLine("about to break")]:
        recorder(event)
    recorder(RunFailed("ValueError: nan", "ValueError", "Traceback ...\nValueError: nan", 1))
    run = store.get_run(recorder.run_id)
    assert run.status == "failed" and run.epochs_done == 1
    assert run.traceback == "Traceback ...\nValueError: nan"
    assert store.log(run.id) == ["about to break"]
    # Nothing after the end changes the record.
    recorder(epoch_end(2))
    assert store.get_run(run.id).epochs_done == 1


def test_a_failed_model_save_leaves_the_metrics_in_the_store(store: RunStore) -> None:
    """The engine reports a full disk during model.save as a LogLine; the run still counts."""
    recorder = new_recorder(store)
    events = stream()
    save_failed = LogLine(
        f"ktui: could not save the model to {recorder.folder / 'model.keras'}: "
        "[Errno 28] No space left on device. The run's metrics are kept; free some space."
    )
    events.insert(-1, save_failed)
    for event in events:
        recorder(event)
    run = store.get_run(recorder.run_id)
    assert run.status == "finished" and run.epochs_done == 3
    assert save_failed.text in store.log(run.id)
    assert not (run.folder / "model.keras").exists()


def test_unwritable_run_folder_is_a_warning_not_a_failure(store: RunStore) -> None:
    messages: list[str] = []
    recorder = new_recorder(store, warn=messages.append)
    recorder.folder.rmdir()
    recorder.folder.write_text("a file where the folder should be")
    for event in stream():
        recorder(event)
    assert store.get_run(recorder.run_id).status == "finished"
    assert len(store.epochs(recorder.run_id)) == 3
    assert len(recorder.warnings) == 1 and messages == recorder.warnings
    assert "could not write the history and log files" in messages[0]


def test_a_store_that_stays_locked_costs_the_record_not_the_run(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    with RunStore(path, busy_timeout=0.05) as store:
        recorder = new_recorder(store)
        recorder(started())
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sqlite3, sys\n"
                "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
                "db.execute('BEGIN IMMEDIATE')\n"
                "print('locked', flush=True)\n"
                "sys.stdin.readline()\n"
                "db.execute('ROLLBACK')\n",
                str(path),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
            recorder(LogLine("kept for later"))
            recorder(epoch_end(1))  # must not raise into the training thread
        finally:
            holder.communicate("\n", timeout=30)
        assert len(recorder.warnings) == 1
        assert "could not record epoch 1" in recorder.warnings[0]
        assert "busy" in recorder.warnings[0]
        recorder(epoch_end(2))
        recorder(RunFinished("finished", 2, 1.0))
        assert [e.epoch for e in store.epochs(recorder.run_id)] == [2]
        assert store.log(recorder.run_id) == ["kept for later"]
        assert store.get_run(recorder.run_id).status == "finished"
        # history.csv has every epoch: it is written from what the recorder saw.
        assert (recorder.folder / "history.csv").read_text().count("\n") == 3


def test_log_lines_from_another_thread_are_all_kept(store: RunStore) -> None:
    recorder = new_recorder(store)
    recorder(started(epochs=50))

    def spam() -> None:
        for n in range(2000):
            recorder(LogLine(f"stderr {n}"))

    thread = threading.Thread(target=spam)
    thread.start()
    for epoch in range(1, 51):
        recorder(epoch_end(epoch, 50))
    thread.join()
    recorder(RunFinished("finished", 50, 1.0))
    assert store.log(recorder.run_id) == [f"stderr {n}" for n in range(2000)]
    assert len(store.epochs(recorder.run_id)) == 50


def test_a_huge_log_is_capped(store: RunStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recorder_module, "MAX_LOG_CHARS", 100)
    recorder = new_recorder(store)
    for n in range(50):
        recorder(LogLine(f"line {n:02d}"))  # 7 characters and a newline each
    recorder(RunFinished("finished", 0, 1.0))
    lines = store.log(recorder.run_id)
    assert lines[:-1] == [f"line {n:02d}" for n in range(12)]
    assert lines[-1] == "ktui: 38 more log line(s) were not kept (the log passed 100 characters)"


def test_abandon_marks_the_run_interrupted_at_once(store: RunStore) -> None:
    recorder = new_recorder(store)
    for event in [started(), epoch_end(1), LogLine("last words")]:
        recorder(event)
    recorder.abandon()
    run = store.get_run(recorder.run_id)
    assert run.status == "interrupted" and run.epochs_done == 1
    assert store.log(run.id) == ["last words"]
    finished = new_recorder(store)
    for event in stream():
        finished(event)
    finished.abandon()  # too late: nothing changes
    assert store.get_run(finished.run_id).status == "finished"


def test_fan_out_calls_each_listener_in_order() -> None:
    seen: list[tuple[str, Event]] = []
    event = LogLine("x")
    fan_out(lambda e: seen.append(("a", e)), lambda e: seen.append(("b", e)))(event)
    assert seen == [("a", event), ("b", event)]
