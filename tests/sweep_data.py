"""A recorded sweep with fixed values and times, for the leaderboard's tests and benchmark."""

from __future__ import annotations

import random

from ktui.core.presets import Preset
from ktui.core.sweep import TrialState, build_spec
from ktui.store import RunStore
from ktui.store.sweeps import SweepStore

#: 2026-12-01 12:00 UTC: every time in the sweep is counted from here.
T0 = 1796126400.0


def fill_sweep(store: RunStore, preset: Preset, trials: int = 8, *, seed: int = 3) -> int:
    """Record a finished sweep of ``preset`` (dummy_binary) with ``trials`` trials:
    finished, pruned (with a reason) and failed ones; returns its id."""
    spec = build_spec(
        preset,
        ["units=8,16,32", "learning_rate=1e-4..1e-2:log"],
        ["epochs=4"],
        trials=trials,
        workers=2,
    )
    sweeps = SweepStore(store)
    sweep_id = sweeps.create_sweep(spec)
    rng = random.Random(seed)
    for index in range(trials):
        claim = sweeps.claim_trial(sweep_id)
        assert claim is not None
        params = {
            "units": rng.choice([8, 16, 32]),
            "learning_rate": round(10 ** rng.uniform(-4, -2), 6),
        }
        run_id = store.create_run(
            preset.name, values={**params, "epochs": 4}, epochs=4, started_at=T0 + 10 * index
        )
        sweeps.start_trial(claim, sweep_id, optuna_number=index, params=params, run_id=run_id)
        state: TrialState = "finished"
        epochs = 4
        reason = ""
        if index % 4 == 2:
            state, epochs = "pruned", 2
            reason = "loss 0.7412 at epoch 2, worse than the median 0.6931 of 3 trials"
        elif index % 8 == 7:
            state, epochs = "failed", 1
            reason = "ValueError: the model diverged"
        best = None
        value = 0.75 + rng.uniform(-0.05, 0.05)
        for epoch in range(1, epochs + 1):
            value -= rng.uniform(0.0, 0.03)
            best = value if best is None else min(best, value)
            sweeps.report_epoch(claim, epoch, round(value, 4), round(best, 4))
            store.add_epoch(
                run_id, epoch, {"loss": round(value, 4), "accuracy": round(1 - value / 2, 4)}
            )
        if state == "finished":
            store.finish_run(run_id, "finished", seconds=8.0)
        elif state == "pruned":
            store.finish_run(run_id, "pruned", seconds=4.0, message=reason)
        else:
            store.fail_run(run_id, reason)
        sweeps.end_trial(claim, state, reason=reason)
    sweeps.set_status(sweep_id, "finished")
    # Fixed times, so the elapsed time on screen does not depend on the clock.
    with store._write("fix the times") as db:
        db.execute(
            "UPDATE sweeps SET created_at = ?, ended_at = ? WHERE id = ?",
            (T0, T0 + 10 * trials + 8, sweep_id),
        )
        db.execute(
            "UPDATE sweep_trials SET started_at = ? + 10 * (number - 1),"
            " ended_at = ? + 10 * (number - 1) + 8 WHERE sweep_id = ?",
            (T0, T0, sweep_id),
        )
    return sweep_id
