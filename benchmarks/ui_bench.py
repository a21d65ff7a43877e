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
    image_source,
    median,
    percentile,
    plain_fit_epoch_times,
    preset_config,
    steady,
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


async def _train_in_tui(preset: str, epochs: int, lag: list[float] | None) -> list[float]:
    """Run ``preset`` under the app; returns epoch seconds, records loop lag into ``lag``."""
    catalog = load_catalog([shipped_presets_dir()])
    app = create_app(catalog)
    config = preset_config(preset, epochs, image_source())
    async with app.run_test(size=(120, 40)):
        screen = TrainingScreen(config)
        await app.push_screen(screen)
        while screen.phase not in ("running",) and screen.running:
            await asyncio.sleep(0.05)
        # Lag = how late a 10 ms sleep wakes up on the app's own event loop.
        while screen.running:
            t0 = time.perf_counter()
            await asyncio.sleep(0.01)
            if lag is not None and screen.phase == "running":
                lag.append(time.perf_counter() - t0 - 0.01)
        if screen.phase != "finished":
            sys.exit(f"benchmark run ended {screen.phase}: {screen.final}")
        return [e.seconds for e in screen.epochs]


def bench_training(rounds: int, epochs: int) -> None:
    config = preset_config("mnist_mlp", epochs)
    tui: list[float] = []
    plain: list[float] = []
    for index in range(rounds):
        t = asyncio.run(_train_in_tui("mnist_mlp", epochs, None))
        p = plain_fit_epoch_times(config)
        tui += steady(t)
        plain += steady(p)
        print(
            f"  round {index + 1}: TUI {median(steady(t)):.3f}s/epoch, "
            f"plain fit {median(steady(p)):.3f}s/epoch"
        )
    print(
        f"training: mnist_mlp on {config.data.describe()}, median epoch under the TUI "
        f"{median(tui):.3f}s vs plain fit {median(plain):.3f}s: ratio "
        f"{median(tui) / median(plain):.3f} (target ≤ 1.05)"
    )


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
    parser.add_argument("--rounds", type=int, default=3)
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
