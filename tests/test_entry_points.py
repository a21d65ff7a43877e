"""One preset through every entry point, recorded alike (issue 9).

``dummy_binary`` (with a seed, so the four trainings are the same training; epochs=2,
on the ``random`` data typed as ``--data random``) is started from the dashboard (a
pilot app with the real KerasTrainer), ``ktui run``, ``ktui run --detach`` and a
script with ``ktui.Dashboard``; every entry point goes through the run service, so
the recorded runs must agree: values, the data source as typed, the seed, the epochs
and the final metrics (within float tolerance).
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO_ROOT, child_env, make_app, run_ktui

from ktui.core.presets import load_catalog, shipped_presets_dir
from ktui.screens.training import TrainingScreen
from ktui.store import Run, RunStore

SEED = 5

SCRIPT = """
import sys
import keras
from ktui import Dashboard
from ktui.core.presets import load_catalog, shipped_presets_dir
from ktui.training.builder import build_model
from ktui.training.engine import load_dataset

from pathlib import Path
store, presets = sys.argv[1], Path(sys.argv[2])
config = load_catalog([shipped_presets_dir(), presets]).get("dummy_binary").resolve(
    {"epochs": 2}, data="random"
)
data = load_dataset(config, None)
keras.backend.clear_session()
keras.utils.set_random_seed(config.seed)
model = build_model(config, tuple(data.x_train.shape[1:]))
model.fit(
    data.x_train, data.y_train, batch_size=config.batch_size, epochs=config.epochs,
    shuffle=config.shuffle, verbose=0,
    callbacks=[Dashboard("dummy_binary", hyperparameters=config.values, data="random",
                         test_data=(data.x_test, data.y_test), store=store, seed=config.seed)],
)
"""


def seeded_preset(folder: Path) -> Path:
    """The shipped dummy_binary with a seed (same name: it replaces the shipped one)."""
    text = (shipped_presets_dir() / "dummy_binary.toml").read_text(encoding="utf-8")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dummy_binary.toml").write_text(
        text.replace("\n[data]\n", f"\nseed = {SEED}\n\n[data]\n", 1), encoding="utf-8"
    )
    return folder


async def run_in_the_dashboard(store_file: Path, presets: Path) -> None:
    from ktui.training.engine import KerasTrainer

    catalog = load_catalog([shipped_presets_dir(), presets])
    config = catalog.get("dummy_binary").resolve({"epochs": 2}, data="random")
    store = RunStore(store_file)
    trainer = KerasTrainer(capture=None)
    app = make_app(trainer, store=store, catalog=catalog)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = TrainingScreen(config)
        app.push_screen(screen)
        deadline = time.monotonic() + 120
        while screen.running:
            assert time.monotonic() < deadline, "the dashboard's run did not end"
            await pilot.pause(0.1)
    store.close()


def wait_ended(store_file: Path, run_id: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with RunStore(store_file) as store:
            if store.get_run(run_id).status != "running":
                return
        assert time.monotonic() < deadline, f"run {run_id} did not end"
        time.sleep(0.2)


async def test_every_entry_point_records_the_same_run(tmp_path: Path) -> None:
    store_file = tmp_path / "store" / "runs.sqlite"
    presets = seeded_preset(tmp_path / "presets")
    common = ["--store", str(store_file), "--presets", str(presets), "run", "dummy_binary"]
    typed = ["--set", "epochs=2", "--data", "random"]

    # The three child processes each load TensorFlow: they overlap with each other and
    # with the dashboard's run instead of taking turns. Run 1 is the detached one (its
    # row exists when `--detach` returns), run 2 the dashboard's, 3 and 4 the others.
    result = run_ktui(*common, *typed, "--detach")
    assert result.returncode == 0, result.stderr
    await run_in_the_dashboard(store_file, presets)
    script = tmp_path / "train.py"
    script.write_text(SCRIPT, encoding="utf-8")
    script_child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import runpy, sys; sys.argv = [{str(script)!r}, {str(store_file)!r}, "
            f"{str(presets)!r}]; runpy.run_path({str(script)!r}, run_name='__main__')",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        env=child_env(),
        cwd=REPO_ROOT,
    )
    try:
        result = run_ktui(*common, *typed)
        assert result.returncode == 0, result.stderr
        _, script_err = script_child.communicate(timeout=180)
    finally:
        if script_child.poll() is None:
            script_child.kill()
            script_child.communicate()
    assert script_child.returncode == 0, script_err
    wait_ended(store_file, 1)

    with RunStore(store_file) as store:
        runs: list[Run] = [store.get_run(run_id) for run_id in (1, 2, 3, 4)]
        epochs = {run.id: store.epochs(run.id) for run in runs}
    dashboard = runs[1]
    # Run 1 is the detached one; which of runs 3 and 4 is `ktui run` and which the
    # script depends on which process recorded its run first. Each run is checked
    # against the dashboard's alike, so the order does not matter.
    others = [run for run in runs if run is not dashboard]
    wanted = dashboard.values
    assert wanted["epochs"] == 2
    for run in runs:
        assert run.status == "finished", (run.id, run.error)
        assert run.preset == "dummy_binary"
        assert {k: run.values[k] for k in wanted} == wanted, run.id
        assert run.data_source == "random", run.id
        assert run.info.get("seed") == SEED, run.id
        assert run.epochs_done == 2 and [e.epoch for e in epochs[run.id]] == [1, 2]
        last = epochs[run.id][-1].metrics
        reference = epochs[dashboard.id][-1].metrics
        assert set(last) == set(reference), run.id
        for name, value in reference.items():
            assert math.isclose(last[name], value, rel_tol=1e-4, abs_tol=1e-5), (run.id, name)
        assert run.test_loss is not None and dashboard.test_loss is not None
        assert math.isclose(run.test_loss, dashboard.test_loss, rel_tol=1e-4, abs_tol=1e-5)
        assert run.test_accuracy == pytest.approx(dashboard.test_accuracy, abs=1e-6)
    assert [run.best_metric for run in others] == ["loss"] * 3
