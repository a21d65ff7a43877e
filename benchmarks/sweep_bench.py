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
from typing import Any

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
from pathlib import Path
preset = load_catalog(preset_folders([Path(f) for f in {extra!r}])).get({preset!r})
def objective(trial):
    units = trial.suggest_categorical("units", [8, 16, 32])
    lr = trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True)
    config = preset.resolve({{"units": units, "learning_rate": lr, "epochs": 3}})
    data = load_dataset(config, None)
    keras.backend.clear_session()
    model = build_model(config, tuple(data.x_train.shape[1:]))
    fit = dict(validation_data=(data.x_test, data.y_test)) if config.validation == "test" else {{}}
    h = model.fit(data.x_train, data.y_train, batch_size=config.batch_size, epochs=3,
                  verbose=0, **fit)
    if {evaluate} and config.validation != "test":
        # What a ktui trial records beside its curve: the test set's loss and accuracy
        # (a preset validating on the test set has them from its last epoch).
        model.evaluate(data.x_test, data.y_test, batch_size=config.batch_size, verbose=0)
    return min(h.history["val_loss" if config.validation == "test" else "loss"])
study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
study.optimize(objective, n_trials={trials})
"""


def _plain(trials: int, preset: str, evaluate: bool, presets: list[str]) -> float:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", PLAIN.format(
            root=str(ROOT), trials=trials, preset=preset, evaluate=evaluate, extra=presets)],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    return time.perf_counter() - t0


def bench_overhead(trials: int = 12, repeats: int = 2, preset: str = "dummy_binary") -> None:
    """``ktui sweep --workers 1`` against two plain Optuna scripts, alternated: one that
    only fits (``fit`` only), and one that also evaluates the test set as each ktui
    trial records it (``fit + evaluate``: like with like)."""
    extra = _preset_folder(preset)
    ratios: dict[str, list[float]] = {"fit only": [], "fit + evaluate": []}
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as folder:
            plain = _plain(trials, preset, False, extra)
            plain_eval = _plain(trials, preset, True, extra)
            swept = _ktui_sweep(folder, 1, trials, preset, extra)
        ratios["fit only"].append(swept / plain)
        ratios["fit + evaluate"].append(swept / plain_eval)
        print(
            f"{preset}: plain Optuna {plain:.1f} s (fit only), {plain_eval:.1f} s (fit + "
            f"evaluate), ktui sweep {swept:.1f} s: ratios {swept / plain:.3f} and "
            f"{swept / plain_eval:.3f} (load average {os.getloadavg()[0]:.1f})"
        )
    for name, values in ratios.items():
        print(
            f"ratio against the plain script ({name}): min {min(values):.3f}, median "
            f"{statistics.median(values):.3f} ({repeats} pairs)"
        )


def _preset_folder(preset: str) -> list[str]:
    """``mnist_small``: the seed's MLP on a 6,000-image Fashion-MNIST subset (this
    machine has no MNIST), written to a temporary folder once; [] for shipped presets."""
    if preset != "mnist_small":
        return []
    folder = Path(tempfile.mkdtemp(prefix="ktui-bench-"))
    data = folder / "fashion_small.npz"
    _fashion_subset(data, 6000, 1000)
    text = (ROOT / "presets" / "mnist_mlp.toml").read_text()
    text = text.replace('name = "mnist_mlp"', 'name = "mnist_small"')
    text = text.replace('source = "mnist"', f'source = "{data}"')
    (folder / "mnist_small.toml").write_text(text)
    return [str(folder)]


def bench_phases(trials: int = 6, preset: str = "dummy_binary") -> None:
    """What a ktui trial costs beyond ``model.fit``, per phase, CPU and wall, in one
    process: trials of a plain Optuna loop and of a ktui sweep worker alternate (the
    same process, TensorFlow loaded once, the first of each dropped)."""
    import resource

    import keras
    import optuna

    from ktui.cli import preset_folders
    from ktui.cli.sweep_engine import Worker
    from ktui.core.sweep import build_spec
    from ktui.store.sweeps import SweepStore
    from ktui.training import builder, engine, save

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    extra = [Path(f) for f in _preset_folder(preset)]
    catalog = load_catalog([*preset_folders(), *extra])
    chosen = catalog.get(preset)

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)  # every thread of the process
        return r.ru_utime + r.ru_stime

    spent: dict[str, list[float]] = {}

    def timed(name: str, owner: Any, attr: str) -> None:
        original = getattr(owner, attr)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if kwargs.get("_use_cached_eval_dataset"):
                return original(*args, **kwargs)  # fit's own validation: part of "fit"
            t0, c0 = time.perf_counter(), cpu()
            try:
                return original(*args, **kwargs)
            finally:
                cell = spent.setdefault(name, [0.0, 0.0])
                cell[0] += time.perf_counter() - t0
                cell[1] += cpu() - c0

        setattr(owner, attr, wrapper)

    timed("fit", keras.Model, "fit")
    timed("evaluate", keras.Model, "evaluate")
    timed("predict", keras.Model, "predict")
    timed("save model", save, "save_model")
    engine.save_model = save.save_model  # the engine's own name for it
    timed("clear session", keras.backend, "clear_session")
    timed("build model", builder, "build_model")
    engine.build_model = builder.build_model
    timed("optuna ask", optuna.Study, "ask")
    timed("optuna tell", optuna.Study, "tell")
    timed("optuna report/prune", optuna.Trial, "report")

    def plain_trial(trial: Any) -> float:
        units = trial.suggest_categorical("units", [8, 16, 32])
        lr = trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True)
        config = chosen.resolve({"units": units, "learning_rate": lr, "epochs": 3})
        data = engine.load_dataset(config, None)
        keras.backend.clear_session()
        model = builder.build_model(config, tuple(data.x_train.shape[1:]))
        fit: dict[str, Any] = {}
        if config.validation == "test":
            fit["validation_data"] = (data.x_test, data.y_test)
        h = model.fit(
            data.x_train, data.y_train, batch_size=config.batch_size, epochs=3, verbose=0, **fit
        )
        return float(min(h.history["val_loss" if "val_loss" in h.history else "loss"]))

    totals: dict[str, dict[str, list[float]]] = {"plain": {}, "ktui": {}}
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder) / "runs.sqlite"
        spec = build_spec(
            chosen,
            ["units=8,16,32", "learning_rate=1e-4..1e-2:log"],
            ["epochs=3"],
            trials=trials + 1,
            sampler="random",
            pruner="none",
        )
        with RunStore(store) as runs:
            sweep_id = SweepStore(runs).create_sweep(spec)
        worker = Worker(
            store, sweep_id, catalog, trainer=engine.KerasTrainer(), out=lambda _: None
        )
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
        for round_ in range(trials + 1):
            for side in ("plain", "ktui") if round_ % 2 else ("ktui", "plain"):
                spent.clear()
                t0, c0 = time.perf_counter(), cpu()
                if side == "plain":
                    study.optimize(plain_trial, n_trials=1)
                else:
                    claim = worker.sweeps.claim_trial(sweep_id)
                    assert claim is not None
                    worker.one(claim)
                wall, used = time.perf_counter() - t0, cpu() - c0
                if round_ == 0:
                    continue  # tracing and first-time imports
                phases = totals[side]
                for name, (w, c) in spent.items():
                    phases.setdefault(name, [0.0, 0.0])
                    phases[name][0] += w
                    phases[name][1] += c
                rest = phases.setdefault("everything else", [0.0, 0.0])
                rest[0] += wall - sum(w for w, _ in spent.values())
                rest[1] += used - sum(c for _, c in spent.values())
        worker.runs.close()
    print(
        f"{preset}, {trials} trials each way (alternated, first dropped), load average "
        f"{os.getloadavg()[0]:.1f}; per trial, ms wall / ms CPU (every thread):"
    )
    names = sorted({*totals["plain"], *totals["ktui"]}, key=lambda n: n == "everything else")
    for name in names:
        a = totals["plain"].get(name, [0.0, 0.0])
        b = totals["ktui"].get(name, [0.0, 0.0])
        print(
            f"  {name:<20} plain {a[0] / trials * 1000:7.0f} / {a[1] / trials * 1000:6.0f}"
            f"   ktui {b[0] / trials * 1000:7.0f} / {b[1] / trials * 1000:6.0f}"
        )
    wall_a = sum(v[0] for v in totals["plain"].values())
    wall_b = sum(v[0] for v in totals["ktui"].values())
    cpu_a = sum(v[1] for v in totals["plain"].values())
    cpu_b = sum(v[1] for v in totals["ktui"].values())
    print(
        f"  {'a trial':<20} plain {wall_a / trials * 1000:7.0f} / {cpu_a / trials * 1000:6.0f}"
        f"   ktui {wall_b / trials * 1000:7.0f} / {cpu_b / trials * 1000:6.0f}"
        f"   ratio wall {wall_b / wall_a:.3f}, CPU {cpu_b / cpu_a:.3f}"
    )


def _ktui_sweep(
    folder: str, workers: int, trials: int, preset: str = "dummy_binary",
    presets: list[str] | None = None,
) -> float:  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    folders = [a for f in presets or [] for a in ("--presets", f)]
    t0 = time.perf_counter()
    subprocess.run(
        [
            sys.executable, "-m", "ktui", "--store", f"{folder}/runs.sqlite", *folders,
            "sweep", preset, "--param", "units=8,16,32",
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
        "which", choices=("leaderboard", "overhead", "phases", "parallel", "pruning", "all")
    )
    parser.add_argument(
        "--preset",
        default="dummy_binary",
        help="overhead and phases: dummy_binary (default) or mnist_small (the seed's MLP on "
        "a Fashion-MNIST subset)",
    )
    parser.add_argument("--trials", type=int, default=None)
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
        bench_overhead(args.trials or 12, repeats=args.repeats or 2, preset=args.preset)
    if args.which == "phases":
        bench_phases(args.trials or 6, preset=args.preset)
    if args.which in ("parallel", "all"):
        bench_parallel(repeats=args.repeats or 1)
    if args.which in ("pruning", "all"):
        bench_pruning()


if __name__ == "__main__":
    main()
