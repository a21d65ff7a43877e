"""Steering a sweep while it runs, with its worker in this process (Optuna and the store
for real): a pruned trial is recorded ``pruned``; one trial stopped and one re-run
(the re-run trained by Keras for real); a range changed for the trials not started
yet; the importance of each hyperparameter."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fakes import FakeTrainer
from sweep_data import fill_sweep

from ktui.cli import main, preset_folders
from ktui.cli.sweep_engine import Worker, load_study
from ktui.core.controls import RunControls
from ktui.core.events import EpochEnded, Event, Listener
from ktui.core.presets import RunConfig, load_catalog
from ktui.core.sweep import build_spec
from ktui.store import RunStore
from ktui.store.sweeps import SweepStore


def _sweep(store: Path, params: list[str], epochs: int = 2, **settings: object) -> int:
    catalog = load_catalog(preset_folders())
    spec = build_spec(
        catalog.get("dummy_binary"),
        params,
        [f"epochs={epochs}"],
        **settings,  # type: ignore[arg-type]
    )
    with RunStore(store) as runs:
        return SweepStore(runs).create_sweep(spec)


class ScaledTrainer(FakeTrainer):
    """The fake run with its losses scaled by ``units / 8``: more units, worse trial."""

    def run(
        self,
        config: RunConfig,
        listener: Listener,
        controls: RunControls,
        *,
        artifacts: Path | None = None,
    ) -> Event:
        scale = float(config.values["units"]) / 8

        def scaled(event: Event) -> None:
            if isinstance(event, EpochEnded):
                metrics = {k: v * scale if "loss" in k else v for k, v in event.metrics.items()}
                event = EpochEnded(
                    event.epoch,
                    event.epochs,
                    metrics,
                    event.learning_rate,
                    event.seconds,
                    event.samples_per_second,
                )
            listener(event)

        return super().run(config, scaled, controls, artifacts=artifacts)


def _run_in_thread(worker: Worker) -> threading.Thread:
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    return thread


def _wait(predicate: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_a_pruned_trial_is_recorded_pruned_with_its_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "runs.sqlite"
    sweep_id = _sweep(store, ["units=8,32"], epochs=4, trials=3, sampler="random")
    catalog = load_catalog(preset_folders())
    with RunStore(store) as runs:
        sweep = SweepStore(runs).get(sweep_id)
    study = load_study(sweep, store, 4)
    for units in (8, 8, 32):  # two good trials, then one the median pruner stops
        study.enqueue_trial({"units": units})
    Worker(store, sweep_id, catalog, trainer=ScaledTrainer(), out=lambda _: None).run()
    with RunStore(store) as runs:
        trials = SweepStore(runs).trials(sweep_id)
        assert [t.state for t in trials] == ["finished", "finished", "pruned"]
        pruned = trials[2]
        assert pruned.run_id is not None
        run = runs.get_run(pruned.run_id)
        assert run.status == "pruned"  # the run itself, not only the trial
        assert run.error == pruned.reason
        assert "worse than the median" in pruned.reason and "at epoch 2" in pruned.reason
        assert run.epochs_done == 2
    assert main(["--store", str(store), "runs", "--status", "pruned"]) == 0
    listed = capsys.readouterr().out
    assert "pruned" in listed and "dummy_binary" in listed
    assert main(["--store", str(store), "runs", "show", str(pruned.run_id)]) == 0
    assert f"Pruned: {pruned.reason}" in " ".join(capsys.readouterr().out.split())


def test_stop_one_trial_then_rerun_another_for_real(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "runs.sqlite"
    sweep_id = _sweep(
        store, ["units=8,16", "learning_rate=1e-3..1e-2:log"], trials=2, sampler="random"
    )
    catalog = load_catalog(preset_folders())
    gate = threading.Event()  # holds the first trial after its first epoch
    worker = Worker(
        store,
        sweep_id,
        catalog,
        trainer=FakeTrainer(gate=gate, hold_after=1),
        out=lambda _: None,
    )
    thread = _run_in_thread(worker)
    runs = RunStore(store)
    sweeps = SweepStore(runs)
    try:
        _wait(lambda: any(t.epochs >= 1 for t in sweeps.trials(sweep_id)))
        cli = ["--store", str(store), "sweeps"]
        assert main([*cli, "stop-trial", str(sweep_id), "2"]) == 2  # not started
        assert "trial 2 of sweep" in capsys.readouterr().err
        assert main([*cli, "stop-trial", str(sweep_id), "1"]) == 0
        assert "trial 1 (run 1) stops after its current batch" in capsys.readouterr().out
        _wait(lambda: sweeps.trials(sweep_id)[0].state == "stopped")
        gate.set()
        thread.join(30)
        assert not thread.is_alive()
        first = sweeps.trials(sweep_id)[0]
        assert first.reason == "stopped by you" and first.epochs == 1
        assert first.run_id is not None and runs.get_run(first.run_id).status == "stopped"
        assert sweeps.get(sweep_id).status == "finished"  # the sweep went on and ended

        # Re-run the stopped trial: one more trial, its values given to Optuna first;
        # this one trains with Keras for real.
        assert main([*cli, "rerun-trial", str(sweep_id), "1"]) == 0
        said = capsys.readouterr().out
        assert "trial 1 re-run with the same values" in said and "trials 2 → 3" in said
        assert f"`ktui sweeps resume {sweep_id}` runs it" in said  # it had finished
        sweeps.set_status(sweep_id, "running", change="resumed")
        from ktui.training.engine import KerasTrainer

        Worker(store, sweep_id, catalog, trainer=KerasTrainer(), out=lambda _: None).run()
        trials = sweeps.trials(sweep_id)
        assert [t.number for t in trials] == [1, 2, 3]
        third = trials[2]
        assert third.state == "finished" and third.params == first.params
        assert third.run_id is not None
        run = runs.get_run(third.run_id)
        assert run.status == "finished" and len(runs.epochs(third.run_id)) == 2
        assert run.values["units"] == first.params["units"]
        history = [text for _, text in sweeps.changes(sweep_id)]
        assert "trial 1 (run 1) stopped" in history
        assert any(h.startswith("trial 1 re-run with the same values") for h in history)
        assert sweeps.get(sweep_id).status == "finished"
    finally:
        gate.set()
        runs.close()


def test_a_change_to_a_running_sweep_applies_to_later_trials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "runs.sqlite"
    sweep_id = _sweep(
        store, ["units=8,16", "learning_rate=1e-3..1e-2:log"], trials=5, sampler="random"
    )
    catalog = load_catalog(preset_folders())
    gate = threading.Event()
    trainer = FakeTrainer(gate=gate, hold_after=1)
    worker = Worker(store, sweep_id, catalog, trainer=trainer, out=lambda _: None)
    thread = _run_in_thread(worker)
    runs = RunStore(store)
    sweeps = SweepStore(runs)
    try:
        _wait(lambda: any(t.epochs >= 1 for t in sweeps.trials(sweep_id)))
        cli = ["--store", str(store), "sweeps", "change", str(sweep_id)]
        # Checked before anything changes: an unswept name, a range upside down.
        assert main([*cli, "--param", "dropout=0.1..0.3"]) == 2
        assert "does not vary dropout" in capsys.readouterr().err
        assert main([*cli, "--param", "learning_rate=1e-2..1e-3:log"]) == 2
        assert "is not below its max" in capsys.readouterr().err
        narrow = ["--param", "units=32,64", "--param", "learning_rate=2e-3..3e-3:log"]
        assert main([*cli, *narrow]) == 0
        said = capsys.readouterr().out
        assert "units=8,16 → units=32,64" in said and "the sampler learns this one afresh" in said
        assert "learning_rate=0.001..0.01:log → learning_rate=0.002..0.003:log" in said
        gate.set()
        thread.join(60)
        assert not thread.is_alive()
        trials = sweeps.trials(sweep_id)
        assert [t.state for t in trials] == ["finished"] * 5
        assert trials[0].params["units"] in (8, 16)  # started before the change
        for later in trials[1:]:
            assert later.params["units"] in (32, 64)
            assert 2e-3 <= later.params["learning_rate"] <= 3e-3
            assert later.run_id is not None
            assert runs.get_run(later.run_id).values["units"] == later.params["units"]
    finally:
        gate.set()
        runs.close()
    assert main(["--store", str(store), "sweeps", "show", str(sweep_id)]) == 0
    shown = capsys.readouterr().out
    assert "changes:" in shown and "units=8,16 → units=32,64" in shown


def test_a_grid_sweep_cannot_change_its_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "runs.sqlite"
    sweep_id = _sweep(store, ["units=8,16"], trials=2, sampler="grid")
    code = main(["--store", str(store), "sweeps", "change", str(sweep_id), "--param", "units=8"])
    assert code == 2
    err = capsys.readouterr().err
    assert "Optuna's grid sampler fixes when the sweep starts" in err
    assert "--sampler random or tpe" in err


def test_importance_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = load_catalog(preset_folders())
    with RunStore(tmp_path / "runs.sqlite") as runs:
        sweep_id = fill_sweep(runs, catalog.get("dummy_binary"), trials=12)
    cli = ["--store", str(tmp_path / "runs.sqlite"), "sweeps", "show", str(sweep_id)]
    assert main([*cli, "--importance"]) == 0
    out = capsys.readouterr().out
    assert "Importance for loss (Optuna's PED-ANOVA evaluator, 8 finished trials):" in out
    lines = [line for line in out.splitlines() if "█" in line or "░" in line]
    assert {line.split()[0] for line in lines} == {"units", "learning_rate"}
    total = sum(float(line.split()[-1]) for line in lines)
    assert total == pytest.approx(1.0, abs=0.02)


def test_a_version_11_store_marks_its_pruned_trials_runs_pruned(tmp_path: Path) -> None:
    import sqlite3

    from ktui.store.schema import MIGRATIONS, SCHEMA_VERSION

    path = tmp_path / "runs.sqlite"
    db = sqlite3.connect(path)
    for migration in MIGRATIONS[:11]:  # as a v11 ktui left it: pruned trials' runs "stopped"
        migration(db)
    db.execute("PRAGMA user_version = 11")
    for status in ("stopped", "stopped", "finished"):
        db.execute(
            "INSERT INTO runs (preset, status, started_at, folder) VALUES ('tiny', ?, 1, '')",
            (status,),
        )
    db.execute(
        "INSERT INTO sweeps (preset, spec, settings, status, study, created_at)"
        " VALUES ('tiny', '{}', '{}', 'finished', 's', 1)"
    )
    reason = "loss 0.74 at epoch 2, worse than the median 0.69 of 3 trials"
    for number, state, why in ((1, "pruned", reason), (2, "stopped", ""), (3, "finished", "")):
        db.execute(
            "INSERT INTO sweep_trials (sweep_id, number, state, run_id, reason, started_at)"
            " VALUES (1, ?, ?, ?, ?, 1)",
            (number, state, number, why),
        )
    db.commit()
    db.close()
    with RunStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert [store.get_run(i).status for i in (1, 2, 3)] == ["pruned", "stopped", "finished"]
        assert store.get_run(1).error == reason  # the pruner's reason, kept
        assert [r.id for r in store.list_runs(status="pruned")] == [1]


def test_pruned_is_a_status_everywhere() -> None:
    from ktui.cli.run import exit_code
    from ktui.core.events import RunFinished
    from ktui.presentation import STATUS_TONE
    from ktui.store import STATUSES

    assert "pruned" in STATUSES and STATUS_TONE["pruned"] == "warning"
    final = RunFinished("pruned", 2, 1.0, message="loss 0.7 at epoch 2, worse than the median")
    assert exit_code(final) == 0  # it ended where its sweep wanted it to
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    assert "recorded `pruned`, counts as done" in readme


async def test_the_runs_screen_shows_and_filters_pruned_runs(tmp_path: Path) -> None:
    from conftest import make_app, wait_for
    from textual.widgets import DataTable, Select

    from ktui.screens.runs import RunsScreen

    catalog = load_catalog(preset_folders())
    store = RunStore(tmp_path / "runs.sqlite")
    fill_sweep(store, catalog.get("dummy_binary"), trials=8)  # trials 3 and 7 pruned
    app = make_app(store=store)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("h")
            await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunsScreen))
            screen = pilot.app.screen
            assert isinstance(screen, RunsScreen)
            await wait_for(pilot, lambda: bool(screen.runs) and screen.loaded)
            table = screen.query_one(DataTable)
            statuses = {str(table.get_row(str(i))[6]) for i in (3, 7)}
            assert statuses == {"pruned"}
            screen.query_one("#filter-status", Select).value = "pruned"
            await wait_for(pilot, lambda: screen.status_filter == "pruned" and screen.loaded)
            shown = sorted(int(str(table.get_row_at(i)[1])) for i in range(table.row_count))
            assert shown == [3, 7]
    finally:
        store.close()


def test_pruned_runs_and_steering_on_postgresql(postgres_url: str) -> None:
    """The same SQL on PostgreSQL: the pruned status (migration v12), a stop's kept
    reason, a re-run waiting for its slot, a change of range, a metric's curves."""
    catalog = load_catalog(preset_folders())
    with RunStore(postgres_url) as store:
        sweep_id = fill_sweep(store, catalog.get("dummy_binary"), trials=4)
        sweeps = SweepStore(store)
        pruned = next(t for t in sweeps.trials(sweep_id) if t.state == "pruned")
        assert pruned.run_id is not None
        assert store.get_run(pruned.run_id).status == "pruned"
        assert [r.id for r in store.list_runs(status="pruned")] == [pruned.run_id]
        assert sweeps.metric_names(sweep_id) == ["accuracy", "loss"]
        curves = sweeps.metric_curves(sweep_id, "accuracy")
        assert len(curves[pruned.run_id]) == pruned.epochs
        text = sweeps.rerun_trial(sweep_id, 1)
        assert "trials 4 → 5" in text and sweeps.get(sweep_id).status == "paused"
        sweeps.set_status(sweep_id, "running", change="resumed")
        claim = sweeps.claim_trial(sweep_id)
        assert claim is not None and claim.number == 5
        assert claim.rerun == sweeps.trials(sweep_id)[0].params
        run_id = store.create_run("dummy_binary", values={"units": 8}, epochs=4)
        sweeps.start_trial(claim, sweep_id, optuna_number=9, params=claim.rerun, run_id=run_id)
        assert sweeps.stop_trial(sweep_id, 5) == run_id
        sweeps.end_trial(claim, "stopped", reason="stopped before its end")
        assert sweeps.trials(sweep_id)[-1].reason == "stopped by you"
        spec = next(p for p in sweeps.get(sweep_id).spec.params if p.name == "learning_rate")
        from ktui.core.sweep import parse_param

        narrower = parse_param(catalog.get("dummy_binary"), "learning_rate=1e-3..5e-3:log")
        assert sweeps.change_param(sweep_id, narrower).startswith(spec.describe())
