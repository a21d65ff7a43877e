"""A sweep's worker in this process, with Optuna for real and a fake trainer: three
failures in a row pause the sweep; an objective the model does not log stops it."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from conftest import KtuiDirs, run_ktui
from fakes import FakeTrainer

from ktui.cli import main, preset_folders
from ktui.cli.sweep_engine import TEST_DIE_AFTER_CLAIM, Worker
from ktui.core.presets import load_catalog
from ktui.core.store_url import StoreLocation, store_location
from ktui.core.sweep import build_spec
from ktui.store import RunStore
from ktui.store.sweeps import SweepStore


def _sweep(store: StoreLocation, **settings: object) -> int:
    catalog = load_catalog(preset_folders())
    spec = build_spec(
        catalog.get("dummy_binary"),
        ["units=8,16"],
        ["epochs=2"],
        **settings,  # type: ignore[arg-type]
    )
    with RunStore(store) as runs:
        return SweepStore(runs).create_sweep(spec)


def test_three_failures_in_a_row_pause_the_sweep(tmp_path: Path) -> None:
    store = tmp_path / "runs.sqlite"
    sweep_id = _sweep(store, trials=6)
    lines: list[str] = []
    worker = Worker(
        store,
        sweep_id,
        load_catalog(preset_folders()),
        trainer=FakeTrainer(fail_at_epoch=1),
        out=lines.append,
    )
    assert worker.run() == 0
    with RunStore(store) as runs:
        sweeps = SweepStore(runs)
        sweep = sweeps.get(sweep_id)
        trials = sweeps.trials(sweep_id)
        assert sweep.status == "paused"
        assert "3 trials failed in a row" in sweep.reason
        assert f"ktui sweeps resume {sweep_id}" in sweep.reason
        assert [t.state for t in trials] == ["failed"] * 3  # and no fourth was started
        assert all("fake failure" in t.reason for t in trials)
        assert all(runs.get_run(t.run_id).status == "failed" for t in trials if t.run_id)
        assert any("paused: 3 trials failed in a row" in line for line in lines)
        assert "paused" in sweeps.changes(sweep_id)[-1][1]


def test_an_objective_the_model_does_not_log_stops_the_sweep(tmp_path: Path) -> None:
    store = tmp_path / "runs.sqlite"
    sweep_id = _sweep(store, trials=4, objective="auc")
    worker = Worker(store, sweep_id, load_catalog(preset_folders()), trainer=FakeTrainer())
    worker.say = lambda text: None  # type: ignore[method-assign]
    worker.run()
    with RunStore(store) as runs:
        sweeps = SweepStore(runs)
        sweep = sweeps.get(sweep_id)
        (trial,) = sweeps.trials(sweep_id)  # stopped after the first trial's first epoch
        assert sweep.status == "stopped"
        assert "the objective auc is not logged by this model; it logs" in sweep.reason
        assert "accuracy" in sweep.reason and "loss" in sweep.reason
        assert trial.state == "failed" and trial.epochs == 1
        assert trial.run_id is not None
        assert len(runs.epochs(trial.run_id)) == 1  # the run stopped after that epoch


def test_a_finished_trial_tells_optuna_and_records_its_best(store_at: Path | str) -> None:
    # The sweep's tables work alike in SQLite and PostgreSQL.
    store = store_location(store_at)
    sweep_id = _sweep(store, trials=2, sampler="grid", pruner="none")
    worker = Worker(store, sweep_id, load_catalog(preset_folders()), trainer=FakeTrainer())
    worker.say = lambda text: None  # type: ignore[method-assign]
    worker.run()
    with RunStore(store) as runs:
        sweeps = SweepStore(runs)
        trials = sweeps.trials(sweep_id)
        assert sweeps.get(sweep_id).status == "finished"
        assert sorted(t.params["units"] for t in trials) == [8, 16]  # the grid, each once
        assert all(t.state == "finished" and t.objective == min(t.curve) for t in trials)
    values = sorted(t.value for t in worker.study.trials)
    assert values == sorted(t.objective for t in trials)


def test_more_trials_for_a_sweep_recorded_in_its_history(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "runs.sqlite"
    sweep_id = _sweep(store, trials=2, sampler="random", pruner="none")
    catalog = load_catalog(preset_folders())
    Worker(store, sweep_id, catalog, trainer=FakeTrainer(), out=lambda text: None).run()
    assert main(["--store", str(store), "sweeps", "change", str(sweep_id), "--trials", "1"]) == 2
    assert "has started 2 trials already" in capsys.readouterr().err
    assert main(["--store", str(store), "sweeps", "change", str(sweep_id), "--trials", "3"]) == 0
    assert "2 → 3 trials" in capsys.readouterr().out
    with RunStore(store) as runs:
        sweeps = SweepStore(runs)
        assert sweeps.get(sweep_id).status == "paused"  # finished, until resumed
        sweeps.set_status(sweep_id, "running", change="resumed")
    Worker(store, sweep_id, catalog, trainer=FakeTrainer(), out=lambda text: None).run()
    with RunStore(store) as runs:
        sweeps = SweepStore(runs)
        assert [t.state for t in sweeps.trials(sweep_id)] == ["finished"] * 3
        assert sweeps.get(sweep_id).status == "finished"
        history = [text for _, text in sweeps.changes(sweep_id)]
        assert "trials 2 → 3" in history
    assert main(["--store", str(store), "sweeps", "show", str(sweep_id)]) == 0
    shown = capsys.readouterr().out
    assert "trial 3 of 3" in shown and "trials 2 → 3" in shown


def test_a_worker_whose_trial_was_taken_for_dead_stops_training_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    import time

    store = tmp_path / "runs.sqlite"
    catalog = load_catalog(preset_folders())
    spec = build_spec(catalog.get("dummy_binary"), ["units=8,16"], ["epochs=100"], trials=1)
    with RunStore(store) as runs:
        sweep_id = SweepStore(runs).create_sweep(spec)
    monkeypatch.setenv("KTUI_SWEEP_HEARTBEAT_TIMEOUT", "1.2")  # a beat every 0.2 s
    lines: list[str] = []
    worker = Worker(
        store, sweep_id, catalog, trainer=FakeTrainer(step_delay=0.01), out=lines.append
    )

    def another_host_takes_it() -> None:
        """What a worker of another host does when this one's heartbeats stop coming
        (a network cut): mark the trial interrupted. Then the sweep is paused, so
        this worker takes nothing more."""
        with RunStore(store) as runs:
            sweeps = SweepStore(runs)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                rows = sweeps.trials(sweep_id)
                if rows and rows[0].epochs >= 2:
                    break
                time.sleep(0.05)
            with runs._write("take the trial for dead") as db:
                db.execute("UPDATE sweep_trials SET state = 'interrupted', reason = 'taken'")
            sweeps.set_status(sweep_id, "paused", "paused by the test")

    helper = threading.Thread(target=another_host_takes_it)
    helper.start()
    assert worker.run() == 0
    helper.join()
    with RunStore(store) as runs:
        (trial,) = SweepStore(runs).trials(sweep_id)
        assert trial.state == "interrupted" and trial.reason == "taken"  # not overwritten
        assert trial.run_id is not None
        run = runs.get_run(trial.run_id)
        assert run.status == "stopped" and run.epochs_done < 100
    assert any("it was taken for dead and re-queued" in line for line in lines)


def test_a_worker_told_to_leave_re_queues_its_trial(tmp_path: Path) -> None:
    import threading
    import time

    import optuna

    store = tmp_path / "runs.sqlite"
    catalog = load_catalog(preset_folders())
    spec = build_spec(catalog.get("dummy_binary"), ["units=8,16"], ["epochs=100"], trials=2)
    with RunStore(store) as runs:
        sweep_id = SweepStore(runs).create_sweep(spec)
    worker = Worker(
        store, sweep_id, catalog, trainer=FakeTrainer(step_delay=0.01), out=lambda text: None
    )

    def ctrl_c_mid_trial() -> None:
        with RunStore(store) as runs:
            sweeps = SweepStore(runs)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                rows = sweeps.trials(sweep_id)
                if rows and rows[0].epochs >= 2:
                    break
                time.sleep(0.05)
        worker.leave()  # what the worker's SIGINT handler does

    helper = threading.Thread(target=ctrl_c_mid_trial)
    helper.start()
    assert worker.run() == 130
    helper.join()
    with RunStore(store) as runs:
        sweeps = SweepStore(runs)
        (trial,) = sweeps.trials(sweep_id)  # it took no second trial
        assert trial.state == "interrupted" and "told to leave" in trial.reason
        assert trial.run_id is not None and runs.get_run(trial.run_id).status == "interrupted"
        assert sweeps.free_slots(sweeps.get(sweep_id)) == 2  # its slot is free again
    waiting = worker.study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    # Re-queued with its values (Optuna keeps an enqueued trial's values as fixed params).
    assert [t.system_attrs["fixed_params"] for t in waiting] == [trial.params]


def test_a_re_run_survives_its_worker_dying_before_the_study_has_it(
    ktui_dirs: KtuiDirs, store_at: Path | str
) -> None:
    """`ktui sweeps rerun-trial`: a worker that takes the re-run's slot and dies before
    it gives the values to Optuna (stopped there by a test hook) leaves them in the
    trial's row; the next worker re-queues them, and the re-run trains those values."""
    catalog = load_catalog(preset_folders())
    spec = build_spec(
        catalog.get("dummy_binary"),
        ["units=8,16", "learning_rate=1e-4..1e-2:log"],
        ["epochs=1"],
        trials=1,
        sampler="random",
        pruner="none",
    )
    values = {"units": 16, "learning_rate": 0.00123}
    with RunStore(store_at) as runs:
        sweeps = SweepStore(runs)
        sweep_id = sweeps.create_sweep(spec)
        first = sweeps.claim_trial(sweep_id)  # trial 1 ran (its result is all that counts)
        assert first is not None
        sweeps.start_trial(first, sweep_id, optuna_number=0, params=values, run_id=None)
        sweeps.end_trial(first, "finished", objective=0.5)
        sweeps.rerun_trial(sweep_id, 1)
    store = str(store_at)
    died = run_ktui(
        "--store", store, "sweeps", "worker", str(sweep_id), env={TEST_DIE_AFTER_CLAIM: "1"}
    )
    assert died.returncode == -signal.SIGKILL, died.stderr
    with RunStore(store_at) as runs:
        sweeps = SweepStore(runs)
        (taken,) = [t for t in sweeps.trials(sweep_id) if t.number == 2]
        assert taken.state == "running" and taken.params == values  # kept in its row
        assert sweeps.get(sweep_id).spec.to_json().get("reruns", []) == []  # popped
    resumed = run_ktui("--store", store, "sweeps", "worker", str(sweep_id), timeout=600)
    assert resumed.returncode == 0, resumed.stderr + resumed.stdout
    assert "trial 2: its worker process ended mid-trial" in resumed.stdout
    with RunStore(store_at) as runs:
        sweeps = SweepStore(runs)
        again = [t for t in sweeps.trials(sweep_id) if t.number == 2]
        assert [t.state for t in again] == ["interrupted", "finished"]
        assert again[1].params == values  # the re-run's values, not a new sample
        assert again[1].run_id is not None
        assert runs.get_run(again[1].run_id).values["learning_rate"] == 0.00123
        assert sweeps.get(sweep_id).status == "finished"


def test_a_re_run_already_given_to_the_study_is_not_queued_twice(tmp_path: Path) -> None:
    """The worker died after `enqueue_trial` but before `ask`: the values wait in the
    study already, so re-queueing its trial adds no second copy."""
    import optuna

    from ktui.cli.sweep_engine import load_study, requeue, to_optuna

    store = tmp_path / "runs.sqlite"
    sweep_id = _sweep(store, trials=2, sampler="random", pruner="none")
    with RunStore(store) as runs:
        sweeps = SweepStore(runs)
        sweep = sweeps.get(sweep_id)
        claim = sweeps.claim_trial(sweep_id)
        assert claim is not None
        # Values in its row, no Optuna trial yet (what a re-run's claim leaves).
        with runs._write("a re-run's claim") as db:
            db.execute(
                "UPDATE sweep_trials SET params = ? WHERE id = ?", ('{"units": 16}', claim.id)
            )
        (trial,) = sweeps.trials(sweep_id)
    study = load_study(sweep, store, 2)
    study.enqueue_trial(to_optuna({"units": 16}, sweep.spec.params))  # the dead worker's
    requeue(study, [trial], store, sweep.spec.params)
    waiting = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert len(waiting) == 1
    study.ask()  # another worker took them: a re-queue now gives them back
    requeue(study, [trial], store, sweep.spec.params)
    (again,) = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert again.system_attrs["fixed_params"] == {"units": 16}
