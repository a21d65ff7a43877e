"""Issue 3 benchmarks: start-up time, training speed under the TUI, event-loop lag.

    python benchmarks/ui_bench.py start      # `ktui` to the first screen ready for keys
    python benchmarks/ui_bench.py training   # mnist_mlp epoch time under the TUI vs plain fit
    python benchmarks/ui_bench.py lag        # event-loop lag while mnist_cnn trains
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
    parser.add_argument("which", choices=["start", "training", "lag", "all"])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    if args.which in ("start", "all"):
        bench_start()
    if args.which in ("training", "all"):
        bench_training(args.rounds, args.epochs)
    if args.which in ("lag", "all"):
        bench_lag(max(2, args.epochs // 2))


if __name__ == "__main__":
    main()
