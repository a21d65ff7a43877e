"""RunFollower, controls_for and live_runs: a recorded run read back as engine events.

Runs are recorded here with the real RunRecorder and CommandBridge fed synthetic
event streams, so the follower sees what a training process really writes.
"""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ktui.core.errors import StoreError
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
from ktui.store import (
    RunFollower,
    RunProgress,
    RunRecorder,
    RunStore,
    controls_for,
    live_runs,
)

MODEL = ModelSummary(
    layers=(
        LayerInfo("dense", "Dense", "(None, 8)", 40),
        LayerInfo("out", "Dense", "(None, 1)", 9),
    ),
    total_params=49,
    trainable_params=49,
    input_shape="(None, 4)",
)

STARTED = RunStarted(
    preset="tiny",
    values={"units": 8, "epochs": 3, "learning_rate": 0.01},
    model=MODEL,
    train_samples=64,
    validation_samples=16,
    test_samples=32,
    batch_size=16,
    epochs=3,
    steps_per_epoch=4,
    device="CPU (x86_64)",
    data="random (seed 3)",
    versions={"ktui": "0.1.0", "keras": "3.5.0", "tensorflow": "2.17.0"},
)


def epoch_end(epoch: int) -> EpochEnded:
    return EpochEnded(
        epoch=epoch,
        epochs=3,
        metrics={"loss": 1 / epoch, "accuracy": 0.5 + epoch / 10},
        learning_rate=0.01,
        seconds=0.5,
        samples_per_second=128.0,
    )


@pytest.fixture
def store(store_at: Path | str) -> Iterator[RunStore]:
    """A store in SQLite and in PostgreSQL: following works the same through both."""
    with RunStore(store_at) as opened:
        yield opened


def dead_pid() -> int:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(child.stdout)


def of(events: list[Event], kind: type) -> list[Event]:
    return [e for e in events if isinstance(e, kind)]


def test_a_live_run_is_followed_event_by_event(store: RunStore) -> None:
    recorder = RunRecorder(store, "tiny", values=STARTED.values, epochs=3)
    run_id = recorder.run_id
    follower = RunFollower(store, run_id)
    progress = RunProgress(phase="preparing data", detail="random")
    store.set_progress(run_id, progress)

    # Before the model is built: only the phase.
    assert follower.poll() == [PhaseChanged("preparing data", "random")]
    assert follower.poll() == []

    recorder(LogLine("I0000 TensorFlow says hello"))
    recorder(STARTED)
    assert recorder.wait(5)  # the recorder's own thread writes to the store
    store.set_progress(run_id, RunProgress(phase="running", epoch=1, step=2, steps=4))
    events = follower.poll()
    assert events[0] == STARTED  # rebuilt field for field, model summary included
    assert events[1:] == [
        LogLine("I0000 TensorFlow says hello"),
        PhaseChanged("running"),
        BatchProgress(1, 2, 4, {}, None, 0.0),  # no rate recorded: unknown, not 0
    ]

    recorder(LogLine("W0000 a warning"))
    recorder(epoch_end(1))
    assert recorder.wait(5)
    store.set_progress(
        run_id,
        RunProgress(
            phase="running",
            epoch=2,
            step=1,
            steps=4,
            logs={"loss": 0.7},
            samples_per_second=99.0,
            epoch_elapsed=0.1,
        ),
    )
    assert follower.poll() == [
        LogLine("W0000 a warning"),
        epoch_end(1),
        BatchProgress(2, 1, 4, {"loss": 0.7}, 99.0, 0.1),
    ]
    assert follower.poll() == []  # nothing new

    recorder(epoch_end(2))
    recorder(epoch_end(3))
    recorder(PhaseChanged("evaluating"))
    recorder(RunFinished("finished", 3, 1.5, test_loss=0.3, test_accuracy=0.875))
    events = follower.poll()
    assert events == [
        epoch_end(2),
        epoch_end(3),
        RunFinished("finished", 3, 1.5, test_loss=0.3, test_accuracy=0.875),
    ]
    assert follower.done and follower.final == events[-1]
    assert follower.poll() == []  # the final event comes exactly once


def test_progress_of_an_epoch_already_shown_is_not_sent(store: RunStore) -> None:
    recorder = RunRecorder(store, "tiny", epochs=3)
    recorder(STARTED)
    recorder(epoch_end(1))
    assert recorder.wait(5)
    # The process committed epoch 1 but has not written progress since (it lags).
    store.set_progress(recorder.run_id, RunProgress(phase="running", epoch=1, step=3, steps=4))
    events = RunFollower(store, recorder.run_id).poll()
    assert of(events, BatchProgress) == []
    assert of(events, EpochEnded) == [epoch_end(1)]


def test_learning_rate_changes_are_rows_read_back_as_events(store: RunStore) -> None:
    recorder = RunRecorder(store, "tiny", epochs=3)
    follower = RunFollower(store, recorder.run_id)
    recorder(STARTED)
    asked = LearningRateChanged(0.002, 1, 3, previous=0.01, source="command")
    recorder(asked)
    assert recorder.wait(5)  # the recorder's own thread writes to the store
    # Read back at once, as data (no log line to parse), and exactly once.
    assert of(follower.poll(), LearningRateChanged) == [asked]
    failed = LearningRateChanged(math.nan, 2, 1, "a schedule has no single value", 0.002, "ktui")
    by_schedule = LearningRateChanged(0.001, 3, 1, previous=0.002, source="schedule")
    recorder(epoch_end(1))
    recorder(failed)
    recorder(by_schedule)
    assert recorder.wait(5)
    later = of(follower.poll(), LearningRateChanged)
    assert later[1] == by_schedule and later[0].failed and later[0].error == failed.error
    rows = store.learning_rate_changes(recorder.run_id)
    assert [(r.epoch, r.step, r.before, r.after, r.source) for r in rows] == [
        (1, 3, 0.01, 0.002, "command"),
        (2, 1, 0.002, None, "ktui"),
        (3, 1, 0.002, 0.001, "schedule"),
    ]
    assert not any("learning rate" in line for line in store.log(recorder.run_id))


def test_a_finished_run_is_shown_as_stored(store: RunStore) -> None:
    recorder = RunRecorder(store, "tiny", epochs=3)
    for event in (STARTED, LogLine("hello"), epoch_end(1), epoch_end(2)):
        recorder(event)
    recorder(RunFinished("stopped", 2, 1.0, test_loss=0.4, test_accuracy=0.75))
    events = RunFollower(store, recorder.run_id).poll()
    assert events == [
        STARTED,
        LogLine("hello"),
        epoch_end(1),
        epoch_end(2),
        RunFinished("stopped", 2, 1.0, test_loss=0.4, test_accuracy=0.75),
    ]


def test_a_failed_run_ends_with_its_error(store: RunStore) -> None:
    recorder = RunRecorder(store, "tiny")
    recorder(RunFailed("DataError: no such file", "DataError", "", 0))
    events = RunFollower(store, recorder.run_id).poll()
    assert events == [RunFailed("DataError: no such file", "DataError", "", 0)]


def test_a_run_whose_process_died_is_marked_interrupted(store: RunStore) -> None:
    pid = dead_pid()
    run_id = store.create_run("tiny", epochs=3, pid=pid)
    store.set_details(run_id, model={"layers": [], "total_params": 0, "trainable_params": 0})
    store.add_epoch(run_id, 1, {"loss": 0.5}, learning_rate=0.01, seconds=1.0)
    follower = RunFollower(store, run_id)
    events = follower.poll()
    assert isinstance(events[0], RunStarted)
    assert of(events, EpochEnded)[0].epoch == 1  # type: ignore[attr-defined]
    assert events[-2] == LogLine(
        f"ktui: run {run_id}'s process (pid {pid}) is gone; marked interrupted"
    )
    final = events[-1]
    assert isinstance(final, RunFinished)
    assert final.status == "interrupted" and final.epochs_completed == 1
    assert store.get_run(run_id).status == "interrupted"
    assert follower.poll() == []


def test_an_interrupted_run_recorded_by_its_process_keeps_its_results(store: RunStore) -> None:
    recorder = RunRecorder(store, "tiny", epochs=3)
    recorder.end_as = "interrupted"  # its terminal hung up
    recorder(STARTED)
    recorder(epoch_end(1))
    recorder(RunFinished("stopped", 1, 0.6, test_loss=0.5, test_accuracy=0.6))
    assert store.get_run(recorder.run_id).status == "interrupted"
    final = RunFollower(store, recorder.run_id).poll()[-1]
    assert final == RunFinished("interrupted", 1, 0.6, test_loss=0.5, test_accuracy=0.6)


def test_a_stored_learning_rate_that_is_missing_is_nan(store: RunStore) -> None:
    run_id = store.create_run("tiny", epochs=1)
    store.add_epoch(run_id, 1, {"loss": 0.5})
    store.finish_run(run_id)
    [epoch] = of(RunFollower(store, run_id).poll(), EpochEnded)
    assert math.isnan(epoch.learning_rate)  # type: ignore[attr-defined]


def test_following_an_unknown_run_is_a_clear_error(store: RunStore) -> None:
    with pytest.raises(StoreError, match="no run with id 42"):
        RunFollower(store, 42)


def test_live_runs_are_the_running_ones_with_a_live_process(store: RunStore) -> None:
    live = store.create_run("a")
    dead = store.create_run("b", pid=dead_pid())
    ended = store.create_run("c")
    store.finish_run(ended)
    later = store.create_run("d")
    assert [r.id for r in live_runs(store)] == [later, live]
    assert store.get_run(dead).status == "interrupted"


def test_remote_controls_send_commands_like_run_controls(store: RunStore) -> None:
    run_id = store.create_run("tiny")
    controls = controls_for(store, run_id)
    assert not controls.paused and not controls.stop_requested
    controls.pause()
    assert controls.paused
    controls.resume()
    assert not controls.paused
    controls.set_learning_rate(0.5)
    with pytest.raises(ValueError, match="positive"):
        controls.set_learning_rate(-1)
    controls.stop()
    assert controls.stop_requested and not controls.paused
    controls.pause()  # nothing to pause once stopping
    kinds = [(c.kind, c.value) for c in store.commands(run_id)]
    assert kinds == [("pause", None), ("resume", None), ("learning_rate", 0.5), ("stop", None)]

    store.finish_run(run_id, "stopped")
    with pytest.raises(StoreError, match="nothing to control"):
        controls.resume()


def test_remote_controls_start_from_the_runs_state(store: RunStore) -> None:
    run_id = store.create_run("tiny")
    store.set_progress(run_id, RunProgress(phase="paused"))
    controls = controls_for(store, run_id)
    assert controls.paused
    controls.observe(PhaseChanged("running"))  # another ktui resumed it
    assert not controls.paused
    other = controls_for(store, run_id)
    other.stop()
    assert controls_for(store, run_id).stop_requested  # the stop is still on its way


def test_a_finished_classifier_comes_with_its_confusion_matrix(store: RunStore) -> None:
    import numpy as np

    from ktui.core import insight
    from ktui.core.events import EvaluationReady

    recorder = RunRecorder(store, "tiny", epochs=1)
    recorder(STARTED)
    recorder(epoch_end(1))
    evaluation = insight.evaluate(
        np.array([0, 1, 1, 0]), np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    )
    path = recorder.folder / insight.PREDICTIONS_FILE
    evaluation.save(path)
    recorder(RunFinished("finished", 1, 0.5, test_loss=0.4, test_accuracy=0.5))
    *_, ready, final = RunFollower(store, recorder.run_id).poll()
    assert isinstance(final, RunFinished)
    assert isinstance(ready, EvaluationReady)
    assert ready == evaluation.to_event(path)
    assert ready.matrix == ((1, 1), (1, 1)) and ready.path == str(path)


def test_a_multiworker_runs_workers_are_read_back_about_once_a_second(store: RunStore) -> None:
    import dataclasses
    import time

    from ktui.core.distribute import Placement, WorkerReport
    from ktui.core.events import WorkersReported
    from ktui.store.placement import report_worker

    placement = Placement("multiworker", 2, ("a", "b"), ("CPU:0", "CPU:0"), 2, "c1")
    recorder = RunRecorder(store, "tiny", values=STARTED.values, epochs=3)
    recorder(dataclasses.replace(STARTED, placement=placement))
    assert recorder.wait(5)
    now = time.time()
    report_worker(store, WorkerReport("c1", 0, "a", 1, "running", 1, 12, now))
    report_worker(store, WorkerReport("c1", 1, "b", 2, "running", 1, 11, now))
    clock = [100.0]
    follower = RunFollower(store, recorder.run_id, clock=lambda: clock[0])
    reported = of(follower.poll(), WorkersReported)
    assert len(reported) == 1
    event = reported[0]
    assert isinstance(event, WorkersReported) and event.workers == 2
    assert [(r.rank, r.step) for r in event.reports] == [(0, 12), (1, 11)]
    clock[0] += 0.2
    assert of(follower.poll(), WorkersReported) == []  # not read again within a second
    report_worker(store, WorkerReport("c1", 1, "b", 2, "running", 1, 15, now + 1))
    clock[0] += 1.0
    (event,) = of(follower.poll(), WorkersReported)
    assert isinstance(event, WorkersReported) and event.reports[1].step == 15


def test_a_one_process_run_reads_no_workers(store: RunStore) -> None:
    from ktui.core.events import WorkersReported

    recorder = RunRecorder(store, "tiny", values=STARTED.values, epochs=3)
    recorder(STARTED)
    assert recorder.wait(5)
    assert of(RunFollower(store, recorder.run_id).poll(), WorkersReported) == []
