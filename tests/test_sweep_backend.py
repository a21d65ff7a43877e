"""A sweep's Keras backend: ``ktui sweep --backend`` and the form's backend field are
carried into every trial (each worker loads that backend), recorded with each run."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from conftest import KtuiDirs, run_ktui

from ktui.core.presets import load_catalog, shipped_presets_dir
from ktui.core.sweep import SweepSpec, build_spec
from ktui.store import RunStore
from ktui.store.sweeps import SweepStore

# The backend the tests ask for is not this environment's default (TensorFlow).
OTHER = next((b for b in ("jax", "torch") if importlib.util.find_spec(b) is not None), None)


def test_the_backend_is_kept_in_the_spec() -> None:
    preset = load_catalog([shipped_presets_dir()]).get("dummy_binary")
    spec = build_spec(preset, ["units=8,16"], trials=2, backend="JAX")
    assert spec.backend == "jax"  # normalised as for one run
    assert SweepSpec.from_json(spec.to_json(), spec.settings.to_json()) == spec
    plain = build_spec(preset, ["units=8,16"], trials=2)
    assert plain.backend is None and "backend" not in plain.to_json()  # as before


def test_an_unknown_backend_is_refused_before_anything_is_recorded(ktui_dirs: KtuiDirs) -> None:
    result = run_ktui("sweep", "dummy_binary", "--param", "units=8,16", "--backend", "theano")
    assert result.returncode == 2
    assert "theano" in result.stderr and "Traceback" not in result.stderr
    assert not (ktui_dirs.data / "runs.sqlite").exists() or _no_sweeps(ktui_dirs.data)


def _no_sweeps(data: Path) -> bool:
    with RunStore(data / "runs.sqlite") as runs:
        return SweepStore(runs).all() == []


@pytest.mark.skipif(OTHER is None, reason="needs JAX or PyTorch installed beside TensorFlow")
def test_every_trial_trains_on_the_sweep_s_backend(ktui_dirs: KtuiDirs) -> None:
    assert OTHER is not None
    result = run_ktui(
        "sweep", "dummy_binary", "--param", "units=8,16", "--set", "epochs=1",
        "--trials", "2", "--workers", "1", "--sampler", "random", "--pruner", "none",
        "--backend", OTHER,
        env={"KERAS_BACKEND": "tensorflow"},  # the person's own setting loses to --backend
        timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr + result.stdout
    assert f"on {OTHER}" in result.stdout  # said when it starts
    with RunStore(ktui_dirs.data / "runs.sqlite") as runs:
        sweeps = SweepStore(runs)
        (sweep,) = sweeps.all()
        assert sweep.spec.backend == OTHER
        trials = sweeps.trials(sweep.id)
        assert len(trials) == 2 and all(t.state == "finished" for t in trials)
        for trial in trials:
            assert trial.run_id is not None
            assert runs.get_run(trial.run_id).backend.startswith(
                {"jax": "jax", "torch": "torch"}[OTHER]
            )
