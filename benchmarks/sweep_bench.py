"""Issue 12 benchmarks: the leaderboard with 1,000 trials, and sweep orchestration.

    python benchmarks/sweep_bench.py leaderboard   # push the screen → ready for keys
    python benchmarks/sweep_bench.py overhead      # ktui sweep --workers 1 vs a plain Optuna script

``leaderboard`` fills a store with a finished 1,000-trial sweep (4 epochs each) and
times, headless, from starting the app on the leaderboard (``ktui attach --sweep``)
to the table drawn and the first key handled, and a sort key's latency. ``overhead``
runs the same small random sweep of dummy_binary (tiny data, so it measures
orchestration, not training) both ways.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fakes import FakeTrainer  # noqa: E402
from sweep_data import fill_sweep  # noqa: E402

from ktui.app import create_app  # noqa: E402
from ktui.core.presets import load_catalog, shipped_presets_dir  # noqa: E402
from ktui.screens.leaderboard import LeaderboardScreen  # noqa: E402
from ktui.store import RunStore  # noqa: E402
from ktui.widgets.leaderboard import LeaderboardTable  # noqa: E402


def bench_leaderboard(trials: int = 1000, repeats: int = 5) -> None:
    catalog = load_catalog([shipped_presets_dir()])
    with tempfile.TemporaryDirectory() as folder:
        store = RunStore(Path(folder) / "runs.sqlite")
        sweep_id = fill_sweep(store, catalog.get("dummy_binary"), trials)
        ready: list[float] = []
        keys: list[float] = []
        for _ in range(repeats):
            app = create_app(catalog, trainer_factory=FakeTrainer, store=store, sweep=sweep_id)

            async def drive(app=app) -> None:  # type: ignore[no-untyped-def]
                t0 = time.perf_counter()
                async with app.run_test(size=(120, 40)) as pilot:
                    while not isinstance(app.screen, LeaderboardScreen):
                        await pilot.pause()
                    table = app.screen.query_one(LeaderboardTable)
                    while len(table.shown) < trials:
                        await pilot.pause()
                    await pilot.press("down")
                    ready.append(time.perf_counter() - t0)
                    t1 = time.perf_counter()
                    await pilot.press("s")
                    keys.append(time.perf_counter() - t1)

            asyncio.run(drive())
        store.close()
    ready.sort()
    keys.sort()
    print(
        f"leaderboard, {trials} trials: ready for keys in {ready[len(ready) // 2] * 1000:.0f} ms"
        f" median (min {ready[0] * 1000:.0f} ms, {repeats} runs); a sort key "
        f"{keys[len(keys) // 2] * 1000:.0f} ms median"
    )


PLAIN = """
import sys, time, optuna
sys.path.insert(0, {root!r})
from ktui.cli import preset_folders
from ktui.core.presets import load_catalog
from ktui.training.engine import load_dataset
from ktui.training.builder import build_model
import keras
optuna.logging.set_verbosity(optuna.logging.WARNING)
preset = load_catalog(preset_folders()).get("dummy_binary")
def objective(trial):
    units = trial.suggest_categorical("units", [8, 16, 32])
    lr = trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True)
    config = preset.resolve({{"units": units, "learning_rate": lr, "epochs": 3}})
    data = load_dataset(config, None)
    keras.backend.clear_session()
    model = build_model(config, tuple(data.x_train.shape[1:]))
    h = model.fit(data.x_train, data.y_train, batch_size=config.batch_size, epochs=3, verbose=0)
    return min(h.history["loss"])
study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
study.optimize(objective, n_trials={trials})
"""


def bench_overhead(trials: int = 12, repeats: int = 2) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    ratios = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as folder:
            t0 = time.perf_counter()
            subprocess.run(
                [sys.executable, "-c", PLAIN.format(root=str(ROOT), trials=trials)],
                env=env, check=True, capture_output=True,
            )  # fmt: skip
            plain = time.perf_counter() - t0
            t0 = time.perf_counter()
            subprocess.run(
                [
                    sys.executable, "-m", "ktui", "--store", f"{folder}/runs.sqlite",
                    "sweep", "dummy_binary", "--param", "units=8,16,32",
                    "--param", "learning_rate=1e-4..1e-2:log", "--set", "epochs=3",
                    "--trials", str(trials), "--workers", "1", "--sampler", "random",
                    "--pruner", "none",
                ],
                env=env, check=True, capture_output=True,
            )  # fmt: skip
            swept = time.perf_counter() - t0
        ratios.append(swept / plain)
        print(f"plain Optuna {plain:.1f} s, ktui sweep {swept:.1f} s: ratio {swept / plain:.2f}")
    print(
        f"ratio min {min(ratios):.2f}, median {statistics.median(ratios):.2f} ({repeats} pairs)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("which", choices=("leaderboard", "overhead", "all"))
    args = parser.parse_args()
    if args.which in ("leaderboard", "all"):
        bench_leaderboard(20)  # the same start-up with few trials, for comparison
        bench_leaderboard()
    if args.which in ("overhead", "all"):
        bench_overhead()


if __name__ == "__main__":
    main()
