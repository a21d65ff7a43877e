"""Issue 3 benchmarks: start-up time, training speed under the TUI, event-loop lag.

    python benchmarks/ui_bench.py start      # `ktui` to the first screen ready for keys
    python benchmarks/ui_bench.py training   # mnist_mlp epoch time under the TUI vs plain fit
    python benchmarks/ui_bench.py lag        # event-loop lag while mnist_cnn trains
    python benchmarks/ui_bench.py keys       # Enter → form while the model preview loads Keras
    python benchmarks/ui_bench.py keys --preview in-process   # the same, previews in a thread
    python benchmarks/ui_bench.py first-run  # event-loop lag while the first run imports Keras
    python benchmarks/ui_bench.py all

The app runs headless (Textual's own test driver), built by the same factory the
CLI uses, with the real Keras trainer and the machine's real image data.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time

from common import (
    ROOT,
    Comparison,
    EpochClock,
    image_source,
    median,
    percentile,
    plain_fit_epochs,
    preset_config,
)

from ktui.app import create_app
from ktui.core.presets import load_catalog, shipped_presets_dir
from ktui.screens.training import TrainingScreen

CHILD = """
import sys, time
from ktui.cli import preset_folders
from ktui.core.presets import load_catalog
from ktui.app import create_app

async def ready(pilot):
    await pilot.pause()
    assert type(pilot.app.screen).__name__ == "PresetScreen"
    print("ready", flush=True)
    pilot.app.exit(0)

assert "tensorflow" not in sys.modules
app = create_app(load_catalog(preset_folders()))
app.run(headless=True, auto_pilot=ready)
"""


KEYS_CHILD = """
import asyncio, json, sys, time
from ktui.cli import preset_folders
from ktui.core.presets import load_catalog
from ktui.app import create_app, keras_trainer

IN_PROCESS, WINDOW, RUN = sys.argv[1] == "in-process", float(sys.argv[2]), sys.argv[3] == "run"
lags = []
result = {}

async def probe(seconds):
    # Lag = how late a 10 ms sleep wakes up on the app's own event loop.
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        await asyncio.sleep(0.01)
        lags.append((t, time.perf_counter() - t - 0.01))

async def drive(pilot):
    await pilot.pause()
    task = asyncio.create_task(probe(WINDOW))
    await asyncio.sleep(1.0)
    t, cpu = time.perf_counter(), time.thread_time()
    # pilot.press returns once the key's screen is composed, laid out and idle.
    await pilot.press("enter")
    while type(pilot.app.screen).__name__ != "FormScreen":
        await asyncio.sleep(0.001)
    result["key_ms"] = (time.perf_counter() - t) * 1000
    # The event loop's own CPU meanwhile: the form's work, whatever else the machine runs.
    result["key_cpu_ms"] = (time.thread_time() - cpu) * 1000
    form_built = time.perf_counter()
    await task
    result["lag"] = sorted(lag for _, lag in lags)
    # The same without the samples that waited on the form's own build (its compose
    # and first layout, one long step of the loop): the lag the preview's load causes.
    result["lag_outside_form"] = sorted(
        lag for start, lag in lags if start + 0.01 + lag < t or start > form_built
    )
    result["tf_here"] = "tensorflow" in sys.modules
    if RUN:
        # The first run in the TUI: its trainer imports Keras in this process.
        lags.clear()
        task = asyncio.create_task(probe(WINDOW))
        await pilot.press("ctrl+r")
        await task
        result["run_lag"] = sorted(lag for _, lag in lags)
    print(json.dumps(result), flush=True)
    pilot.app.exit(0)

factory = (lambda: keras_trainer()) if IN_PROCESS else keras_trainer
app = create_app(load_catalog(preset_folders()), trainer_factory=factory)
app.run(headless=True, auto_pilot=drive)
"""


def _keys_child(preview: str, window: float, run: bool) -> dict[str, object]:
    child = subprocess.run(
        [sys.executable, "-c", KEYS_CHILD, preview, str(window), "run" if run else "-"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
        check=False,
    )
    lines = [line for line in child.stdout.splitlines() if line.startswith("{")]
    if child.returncode != 0 or not lines:
        sys.exit(f"keys benchmark: the child failed ({child.returncode}): {child.stderr[-2000:]}")
    result: dict[str, object] = __import__("json").loads(lines[-1])
    return result


def _lag_text(lag: list[float]) -> str:
    return (
        f"p50 {percentile(lag, 50) * 1000:.1f} ms, p95 {percentile(lag, 95) * 1000:.1f} ms, "
        f"max {max(lag) * 1000:.0f} ms"
    )


def bench_keys(preview: str, repeats: int, window: float = 8.0) -> None:
    """Enter pressed 1 s after the first screen, while the preset screen's first
    model preview loads Keras (in the preview process, or in a thread here)."""
    keys: list[float] = []
    cpu: list[float] = []
    lag: list[float] = []
    outside: list[float] = []
    for _ in range(repeats):
        result = _keys_child(preview, window, run=False)
        keys.append(float(result["key_ms"]))  # type: ignore[arg-type]
        cpu.append(float(result["key_cpu_ms"]))  # type: ignore[arg-type]
        lag.extend(result["lag"])  # type: ignore[arg-type]
        outside.extend(result["lag_outside_form"])  # type: ignore[arg-type]
        print(
            f"  Enter → form {keys[-1]:.0f} ms (event loop's CPU {cpu[-1]:.0f} ms); "
            f"Keras loaded in the UI's process: {result['tf_here']}",
            flush=True,
        )
    print(
        f"keys ({preview} preview): Enter → form, median of {repeats}: {median(keys):.0f} ms "
        f"(max {max(keys):.0f}; the event loop's CPU {median(cpu):.0f} ms); event-loop lag "
        f"over the first {window:.0f} s: {_lag_text(lag)}; without the form's own build: "
        f"{_lag_text(outside)} (targets: < 100 ms; p95 < 25 ms)"
    )


def bench_first_run(window: float = 8.0) -> None:
    """Event-loop lag while the first run started in the TUI imports Keras (the
    training screen's in-process trainer), after a keys run."""
    result = _keys_child("process", window, run=True)
    print(
        f"first-run: event-loop lag over the {window:.0f} s after ctrl+r (the run's trainer "
        f"imports Keras in the UI's process): {_lag_text(result['run_lag'])}"  # type: ignore[arg-type]
    )


def bench_start(repeats: int = 7) -> None:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
        )
        assert child.stdout is not None
        line = child.stdout.readline()
        times.append(time.perf_counter() - t0)
        child.wait()
        if not line.startswith("ready"):
            sys.exit(f"start benchmark: the child did not get ready ({line!r})")
        # The preset screen starts importing TensorFlow in a worker thread for its
        # model preview right after it is shown; the start path itself must not.
    print(
        f"start: `ktui` to first screen ready for keys, median of {repeats}: "
        f"{median(times) * 1000:.0f} ms (min {min(times) * 1000:.0f}, "
        f"max {max(times) * 1000:.0f}); target < 1000 ms"
    )


async def _train_in_tui(preset: str, epochs: int, lag: list[float] | None) -> EpochClock:
    """Run ``preset`` under the app; returns its epoch clock, records loop lag into ``lag``."""
    catalog = load_catalog([shipped_presets_dir()])
    app = create_app(catalog)
    config = preset_config(preset, epochs, image_source())
    async with app.run_test(size=(120, 40)):
        screen = TrainingScreen(config)
        await app.push_screen(screen)
        clock = EpochClock()
        while screen.phase not in ("running",) and screen.running:
            await asyncio.sleep(0.05)
        clock.start()
        seen = 0
        # Lag = how late a 10 ms sleep wakes up on the app's own event loop.
        while screen.running:
            t0 = time.perf_counter()
            await asyncio.sleep(0.01)
            if lag is not None and screen.phase == "running":
                lag.append(time.perf_counter() - t0 - 0.01)
            if len(screen.epochs) > seen:
                # Seen on the UI's loop within ~10 ms of the epoch's end: the wall
                # figure is the screen's own, the CPU figure the process's meanwhile.
                seen = len(screen.epochs)
                clock.epoch_ended()
                clock.wall[-1] = screen.epochs[-1].seconds
        if screen.phase != "finished":
            sys.exit(f"benchmark run ended {screen.phase}: {screen.final}")
        return clock


def bench_training(rounds: int, epochs: int) -> None:
    config = preset_config("mnist_mlp", epochs)
    comparison = Comparison("mnist_mlp epoch under the TUI", "plain fit")
    for index in range(rounds):
        # Take turns at going first, so neither way always inherits the other's heap.
        if index % 2 == 0:
            t = asyncio.run(_train_in_tui("mnist_mlp", epochs, None))
            p = plain_fit_epochs(config)
        else:
            p = plain_fit_epochs(config)
            t = asyncio.run(_train_in_tui("mnist_mlp", epochs, None))
        comparison.add(t, p)
        print(
            f"  round {index + 1}: TUI {median(t.steady().wall):.3f}s/epoch, "
            f"plain fit {median(p.steady().wall):.3f}s/epoch"
        )
    print(f"training on {config.data.describe()}: " + comparison.report(target=1.05))


def bench_lag(epochs: int) -> None:
    lag: list[float] = []
    asyncio.run(_train_in_tui("mnist_cnn", epochs, lag))
    print(
        f"lag: event-loop lag while mnist_cnn trains ({len(lag)} samples): "
        f"median {median(lag) * 1000:.1f} ms, p95 {percentile(lag, 95) * 1000:.1f} ms, "
        f"max {max(lag) * 1000:.1f} ms (target p95 < 25 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", choices=["start", "training", "lag", "keys", "first-run", "all"])
    parser.add_argument("--preview", choices=["process", "in-process"], default="process")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    if args.which in ("start", "all"):
        bench_start()
    if args.which in ("training", "all"):
        bench_training(args.rounds, args.epochs)
    if args.which in ("lag", "all"):
        bench_lag(max(2, args.epochs // 2))
    if args.which in ("keys", "all"):
        bench_keys(args.preview, args.repeats)
    if args.which in ("first-run", "all"):
        bench_first_run()


if __name__ == "__main__":
    main()
