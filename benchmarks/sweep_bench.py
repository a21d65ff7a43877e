"""Issue 12 benchmarks: the leaderboard with 1,000 trials, and sweep orchestration.

    python benchmarks/sweep_bench.py leaderboard   # push the screen → ready for keys
    python benchmarks/sweep_bench.py overhead      # ktui sweep --workers 1 vs a plain Optuna script
    python benchmarks/sweep_bench.py parallel      # the same sweep with 2 workers vs 1
    python benchmarks/sweep_bench.py pruning       # median pruner vs none: epochs and test error

``leaderboard`` fills a store with a finished 1,000-trial sweep (4 epochs each) and
times, headless, from starting the app on the leaderboard (``ktui attach --sweep``)
to the table drawn and the first key handled, and a sort key's latency. ``overhead``
runs the same small random sweep of dummy_binary (tiny data, so it measures
orchestration, not training) both ways; ``parallel`` runs it with 1 and 2 workers.
``leaderboard --screen`` times the screen alone: pushed onto an app that has started,
until its 1,000 rows are in and a key was handled (wall time, and the process's CPU
time, which a loaded machine does not inflate).

``pruning`` sweeps the seed's MLP (``mnist_mlp``) on a 6,000-image subset of
Fashion-MNIST (this machine has no MNIST; same shapes) twice with the same 16 sets of
hyperparameters, given to both studies with ``enqueue_trial``: once with the median
pruner, once without; it reports the epochs each trained in total and the best test
error each found.
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


def bench_leaderboard_screen(trials: int = 1000, repeats: int = 5) -> None:
    """The leaderboard screen alone: pushed onto a started app, until ready for keys."""
    from ktui.screens.sweep_insight import SweepInsightScreen

    catalog = load_catalog([shipped_presets_dir()])
    with tempfile.TemporaryDirectory() as folder:
        store = RunStore(Path(folder) / "runs.sqlite")
        sweep_id = fill_sweep(store, catalog.get("dummy_binary"), trials)
        ready: list[float] = []
        ready_cpu: list[float] = []
        insight: list[float] = []
        for _ in range(repeats):
            app = create_app(catalog, trainer_factory=FakeTrainer, store=store)

            async def drive(app=app) -> None:  # type: ignore[no-untyped-def]
                async with app.run_test(size=(120, 40)) as pilot:
                    await pilot.pause(0.3)  # the first screen mounted and drawn
                    t0 = time.perf_counter()
                    c0 = time.process_time()
                    screen = LeaderboardScreen(store, sweep_id, catalog)
                    app.push_screen(screen)
                    while not screen.is_mounted or not screen.query(LeaderboardTable):
                        await pilot.pause(0)
                    table = screen.query_one(LeaderboardTable)
                    while len(table.shown) < trials:
                        await pilot.pause(0)
                    await pilot.press("down")
                    ready.append(time.perf_counter() - t0)
                    ready_cpu.append(time.process_time() - c0)
                    t1 = time.perf_counter()
                    await pilot.press("i")
                    while not isinstance(app.screen, SweepInsightScreen):
                        await pilot.pause(0)
                    await app.workers.wait_for_complete()
                    await pilot.pause(0)
                    insight.append(time.perf_counter() - t1)
                    await pilot.pause(0.1)  # let the screen finish mounting before the exit

            asyncio.run(drive())
        store.close()
    ready.sort()
    ready_cpu.sort()
    insight.sort()
    print(
        f"leaderboard screen, {trials} trials: ready for keys in "
        f"{ready[len(ready) // 2] * 1000:.0f} ms median (min {ready[0] * 1000:.0f} ms, "
        f"{repeats} runs, load average {os.getloadavg()[0]:.1f}; CPU time "
        f"{ready_cpu[len(ready_cpu) // 2] * 1000:.0f} ms median, min "
        f"{ready_cpu[0] * 1000:.0f}); importance and parallel "
        f"coordinates drawn {insight[len(insight) // 2] * 1000:.0f} ms median "
        f"(min {insight[0] * 1000:.0f} ms; the first loads Optuna)"
    )


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


def _ktui_sweep(folder: str, workers: int, trials: int) -> float:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    t0 = time.perf_counter()
    subprocess.run(
        [
            sys.executable, "-m", "ktui", "--store", f"{folder}/runs.sqlite",
            "sweep", "dummy_binary", "--param", "units=8,16,32",
            "--param", "learning_rate=1e-4..1e-2:log", "--set", "epochs=3",
            "--trials", str(trials), "--workers", str(workers), "--sampler", "random",
            "--pruner", "none",
        ],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    return time.perf_counter() - t0


def bench_parallel(trials: int = 12, repeats: int = 1) -> None:
    """The same sweep with 1 and 2 workers, alternated."""
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
            alone = _ktui_sweep(one, 1, trials)
            paired = _ktui_sweep(two, 2, trials)
        print(
            f"{trials} trials: 1 worker {alone:.1f} s, 2 workers {paired:.1f} s: speed-up "
            f"{alone / paired:.2f} (load average {os.getloadavg()[0]:.1f})"
        )


def _fashion_subset(path: Path, train: int, test: int) -> None:
    """A small .npz of Fashion-MNIST from Debian's files (same shapes as MNIST)."""
    import gzip

    import numpy as np

    base = Path("/usr/share/datasets/fashion-mnist")

    def read(name: str, offset: int) -> np.ndarray:
        with gzip.open(base / name) as f:
            return np.frombuffer(f.read(), np.uint8, offset=offset)

    x_train = read("train-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)[:train]
    y_train = read("train-labels-idx1-ubyte.gz", 8)[:train]
    x_test = read("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)[:test]
    y_test = read("t10k-labels-idx1-ubyte.gz", 8)[:test]
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)


def bench_pruning(trials: int = 16, epochs: int = 6) -> None:
    """mnist_mlp on a Fashion-MNIST subset, the same trials with the median pruner and
    without: epochs trained in total, and the best test error found."""
    import random

    from ktui.cli.sweep_engine import load_study
    from ktui.core.presets import load
    from ktui.core.sweep import build_spec
    from ktui.store.sweeps import SweepStore

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    rng = random.Random(12)
    chosen = [
        {
            "units": rng.choice([32, 64, 128, 256]),
            "learning_rate": round(10 ** rng.uniform(-4, -0.5), 6),
        }
        for _ in range(trials)
    ]
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "fashion_small.npz"
        _fashion_subset(data, 6000, 1000)
        text = (ROOT / "presets" / "mnist_mlp.toml").read_text()
        text = text.replace('name = "mnist_mlp"', 'name = "mnist_mlp_small"')
        text = text.replace('source = "mnist"', f'source = "{data}"')
        preset_file = Path(folder) / "mnist_mlp_small.toml"
        preset_file.write_text(text)
        preset = load(preset_file)
        results = {}
        for pruner in ("median", "none"):
            store = Path(folder) / f"{pruner}.sqlite"
            spec = build_spec(
                preset,
                ["units=32,64,128,256", "learning_rate=1e-4..0.3:log"],
                [f"epochs={epochs}"],
                trials=trials,
                sampler="random",
                pruner=pruner,
            )
            with RunStore(store) as runs:
                sweeps = SweepStore(runs)
                sweep_id = sweeps.create_sweep(spec)
                study = load_study(sweeps.get(sweep_id), store, epochs)
            for params in chosen:  # the same trials both ways, in the same order
                study.enqueue_trial(params)
            t0 = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "ktui", "--store", str(store), "sweep-run", str(sweep_id)],
                env=env, check=True, capture_output=True,
            )  # fmt: skip
            seconds = time.perf_counter() - t0
            with RunStore(store) as runs:
                trial_rows = SweepStore(runs).trials(sweep_id)
                total = sum(t.epochs for t in trial_rows)
                errors = [
                    100 - runs.get_run(t.run_id).test_accuracy * 100  # type: ignore[operator]
                    for t in trial_rows
                    if t.run_id is not None and runs.get_run(t.run_id).test_accuracy is not None
                    and t.state == "finished"
                ]
                pruned = sum(1 for t in trial_rows if t.state == "pruned")
            results[pruner] = (total, min(errors), seconds, pruned)
            print(
                f"pruner {pruner}: {total} epochs in total, {pruned} trials pruned, best test "
                f"error {min(errors):.2f}% ({seconds:.0f} s, load {os.getloadavg()[0]:.1f})"
            )
        saved = 1 - results["median"][0] / results["none"][0]
        gap = results["median"][1] - results["none"][1]
        print(
            f"the median pruner trained {saved * 100:.0f}% fewer epochs; its best test error "
            f"is {gap:+.2f} points from the unpruned sweep's"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "which", choices=("leaderboard", "overhead", "parallel", "pruning", "all")
    )
    parser.add_argument(
        "--screen", action="store_true", help="leaderboard: time the screen, not the app start"
    )
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    if args.which in ("leaderboard", "all"):
        if args.screen:
            bench_leaderboard_screen(20, repeats=args.repeats or 5)  # for comparison
            bench_leaderboard_screen(repeats=args.repeats or 5)
        else:
            bench_leaderboard(20)  # the same start-up with few trials, for comparison
            bench_leaderboard()
    if args.which in ("overhead", "all"):
        bench_overhead(repeats=args.repeats or 2)
    if args.which in ("parallel", "all"):
        bench_parallel(repeats=args.repeats or 1)
    if args.which in ("pruning", "all"):
        bench_pruning()


if __name__ == "__main__":
    main()
