"""``ktui runs rerun ID``, and every re-run keeping where a run ran (issue 14).

A re-run keeps a run's strategy, Keras backend and GPUs (``CUDA_VISIBLE_DEVICES``)
besides its values, data and seed: planned once (:func:`ktui.runs.plan_recorded`)
for the command line, the history screens and the training screen. Real ``ktui``
processes train the re-runs here (``dummy_binary``, one epoch).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from conftest import run_ktui

from ktui.core.distribute import Placement
from ktui.core.events import ModelSummary, RunFinished, RunStarted
from ktui.core.presets import load_catalog, shipped_presets_dir
from ktui.runs import plan_recorded
from ktui.store import RunRecorder, RunStore
from ktui.store.placement import read_placement

CATALOG = load_catalog([shipped_presets_dir()])
PRESETS = CATALOG.presets


def recorded(
    store: RunStore,
    placement: Placement | None,
    *,
    backend: str = "tensorflow",
    seed: int | None = 11,
    preset: str = "dummy_binary",
) -> int:
    """A finished run of ``preset`` (units=8, epochs=1) that ran as ``placement`` says."""
    config = PRESETS[preset].resolve({"units": 8, "epochs": 1})
    recorder = RunRecorder.for_config(store, config)
    recorder(
        RunStarted(
            preset,
            dict(config.values),
            ModelSummary((), 10, 10),
            100,
            0,
            10,
            config.batch_size,
            1,
            1,
            "CPU",
            "random",
            versions={"backend": backend, backend: "1.0"},
            seed=seed,
            placement=placement,
        )
    )
    recorder(RunFinished("finished", 1, 1.0))
    assert recorder.wait(5)
    return recorder.run_id


def test_a_plan_keeps_the_strategy_the_backend_and_the_gpus(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.sqlite") as store:
        placement = Placement("mirrored", 2, ("gpubox",), ("GPU:0", "GPU:1"), visible_devices="2,3")
        run_id = recorded(store, placement, backend="jax")
        plan = plan_recorded(PRESETS, store, run_id)
        old = recorded(store, None)  # a run recorded before where it ran was
        before = plan_recorded(PRESETS, store, old)
    config = plan.config({"epochs": 3})
    assert (config.strategy, config.backend, config.seed) == ("mirrored", "jax", 11)
    assert config.values["units"] == 8 and config.values["epochs"] == 3
    assert plan.devices_environment == {"CUDA_VISIBLE_DEVICES": "2,3"}
    assert before.strategy is None and before.devices_environment == {}
    assert before.config().strategy == "auto" and before.config().backend == "tensorflow"


def test_a_multiworker_run_is_not_rerun_without_its_cluster(tmp_path: Path) -> None:
    store_file = tmp_path / "runs.sqlite"
    with RunStore(store_file) as store:
        placement = Placement("multiworker", 2, ("a", "b"), ("CPU:0", "CPU:0"), 2, "k")
        run_id = recorded(store, placement)
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    result = run_ktui("--store", str(store_file), "runs", "rerun", str(run_id), env=env)
    assert result.returncode == 2, result.stderr
    assert f"run {run_id} ran on 2 workers (multiworker)" in result.stderr
    assert "set TF_CONFIG" in result.stderr and f"ktui runs rerun {run_id}" in result.stderr
    assert "Traceback" not in result.stderr
    with RunStore(store_file) as store:
        assert [r.id for r in store.list_runs()] == [run_id]  # nothing started


def test_rerun_trains_the_run_again_where_it_ran_with_plain_lines(tmp_path: Path) -> None:
    store_file = tmp_path / "runs.sqlite"
    with RunStore(store_file) as store:
        mirrored = Placement("mirrored", 1, ("h",), ("CPU:0",), visible_devices="")
        run_id = recorded(store, mirrored)
    result = run_ktui(
        "--store", str(store_file), "runs", "rerun", str(run_id), "--set", "units=6", timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert out.startswith(
        f"Re-running run {run_id} (dummy_binary, seed 11; mirrored, tensorflow, "
        "CUDA_VISIBLE_DEVICES=)."
    ), out
    assert "\r" not in out and "\x1b[" not in out  # plain lines off a terminal
    with RunStore(store_file) as store:
        again = store.list_runs()[0]
        assert again.id != run_id and again.status == "finished"
        run = store.get_run(again.id)
        placement = read_placement(store, again.id)
    assert run.values["units"] == 6 and run.values["epochs"] == 1
    assert run.info.get("seed") == 11
    assert placement is not None and placement.strategy == "mirrored"
    assert placement.visible_devices == ""  # the GPUs it had: none


def test_rerun_detached_keeps_the_seed_and_the_gpus(tmp_path: Path) -> None:
    store_file = tmp_path / "runs.sqlite"
    with RunStore(store_file) as store:
        run_id = recorded(store, Placement("auto", 1, ("h",), ("CPU:0",), visible_devices=""))
    result = run_ktui("--store", str(store_file), "runs", "rerun", str(run_id), "--detach")
    assert result.returncode == 0, result.stderr
    assert "Started run" in result.stdout, result.stdout
    with RunStore(store_file) as store:
        new = store.list_runs()[0].id
        deadline = time.monotonic() + 300
        while store.get_run(new).status == "running":
            assert time.monotonic() < deadline, "the detached re-run did not end"
            time.sleep(0.2)
        run = store.get_run(new)
        placement = read_placement(store, new)
    assert run.status == "finished", run.error
    assert run.info.get("seed") == 11  # the preset has none: the recorded one went along
    assert placement is not None and placement.visible_devices == ""


def test_rerun_has_help_and_completion() -> None:
    from ktui.cli import build_parser, print_completion

    parser = build_parser()
    runs = parser._subparsers._group_actions[0].choices["runs"]  # type: ignore[union-attr]
    rerun = runs._subparsers._group_actions[0].choices["rerun"]
    text = rerun.format_help()
    assert "--set NAME=VALUE" in text and "--detach" in text
    assert "ktui runs rerun 12 --set epochs=20 --detach" in text
    import io

    script = io.StringIO()
    assert print_completion("bash", script) == 0
    assert "rerun" in script.getvalue()


@pytest.mark.parametrize("bad", ["x", "99"])
def test_an_unknown_run_is_a_message(tmp_path: Path, bad: str) -> None:
    store_file = tmp_path / "runs.sqlite"
    with RunStore(store_file) as store:
        recorded(store, None)
    result = run_ktui("--store", str(store_file), "runs", "rerun", bad)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("ktui: ")


# --------------------------------------------------------------------------- the screens
async def test_the_history_reruns_where_the_run_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same GPUs and backend: here, with its strategy; other GPUs: a background
    process given them; multiworker: a message, nothing started."""
    from conftest import make_app, wait_for
    from fakes import FakeTrainer

    from ktui.core import backends
    from ktui.runs import DetachedRun
    from ktui.screens import run_actions
    from ktui.screens.runs import RunsScreen
    from ktui.screens.training import TrainingScreen

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    here = backends.current()
    launched: list[tuple[object, dict[str, str] | None]] = []

    def launch(config: object, assignments: object, data: object, **kw: object) -> DetachedRun:
        env = kw.get("env")
        launched.append((config, env if isinstance(env, dict) else None))
        return DetachedRun(99, 4242, tmp_path / "out.log")

    monkeypatch.setattr(run_actions, "launch_detached", launch)  # a real one starts TF
    store = RunStore(tmp_path / "runs.sqlite")
    mirrored = recorded(store, Placement("mirrored", 1, ("h",), ("CPU:0",)), backend=here)
    other_gpus = recorded(
        store, Placement("auto", 1, ("h",), ("GPU:0",), visible_devices="1"), backend=here
    )
    cluster = recorded(store, Placement("multiworker", 2, ("a", "b"), (), 2, "k"), backend=here)
    trainer = FakeTrainer()
    app = make_app(trainer, store=store, catalog=CATALOG)

    def notices() -> str:
        return "\n".join(str(n.message) for n in app._notifications)

    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
        history = app.screen
        # What `r` on a row of the history (or of a run's detail) does.
        assert run_actions.rerun(history, store.get_run(mirrored))
        await wait_for(pilot, lambda: len(trainer.runs) == 1)
        assert trainer.runs[0].strategy == "mirrored" and trainer.runs[0].seed == 11
        training = app.screen
        assert isinstance(training, TrainingScreen)
        await wait_for(pilot, lambda: not training.running)
        # The training screen's own `r`, on that run: the same place again.
        await pilot.press("r")
        await wait_for(pilot, lambda: len(trainer.runs) == 2)
        assert trainer.runs[1].strategy == "mirrored"
        await wait_for(pilot, lambda: not app.screen.running)  # type: ignore[attr-defined]

        assert run_actions.rerun(history, store.get_run(other_gpus))
        await pilot.pause()
        assert len(trainer.runs) == 2 and len(launched) == 1
        config, env = launched[0]
        assert env == {"CUDA_VISIBLE_DEVICES": "1"}
        assert getattr(config, "values", {}).get("units") == 8
        assert "on GPUs 1 (CUDA_VISIBLE_DEVICES) as before" in notices()

        app.clear_notifications()
        assert not run_actions.rerun(history, store.get_run(cluster))
        await pilot.pause()
        assert len(launched) == 1 and len(trainer.runs) == 2
        assert f"Run {cluster} ran on 2 workers (multiworker)" in notices()
        assert f"ktui runs rerun {cluster}" in notices()
    store.close()
