"""Issue 3 benchmarks: start-up time, training speed under the TUI, event-loop lag.

    python benchmarks/ui_bench.py start      # `ktui` to the first screen ready for keys
    python benchmarks/ui_bench.py training   # mnist_mlp epoch time under the TUI vs plain fit
    python benchmarks/ui_bench.py lag        # event-loop lag while mnist_cnn trains
    python benchmarks/ui_bench.py keys       # Enter → form while the model preview loads Keras
    python benchmarks/ui_bench.py keys --preview in-process   # the same, previews in a thread
    python benchmarks/ui_bench.py first-run  # event-loop lag while the first run imports Keras
    python benchmarks/ui_bench.py form       # Enter → form for each shipped preset: CPU, wall
    python benchmarks/ui_bench.py form --repeats 15 --sweep   # and F4 → sweep mode
    python benchmarks/ui_bench.py all

The app runs headless (Textual's own test driver), built by the same factory the
CLI uses, with the real Keras trainer and the machine's real image data (``form``: a
trainer that only describes a fixed model, since the form's own work is measured).
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
from ktui.core.events import Event, LayerInfo, Listener, ModelSummary
from ktui.core.presets import RunConfig, load_catalog, shipped_presets_dir
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


class _DescribeOnly:
    """A trainer that describes a fixed model and trains nothing: the form benchmark
    measures the screen, not Keras (its parameter count comes after the form is shown)."""

    def describe(self, config: RunConfig) -> ModelSummary:
        return ModelSummary((LayerInfo("dense", "Dense", "(None, 10)", 7850),), 7850, 7850)

    def run(self, config: RunConfig, listener: Listener, controls: object, **_: object) -> Event:
        raise NotImplementedError("the form benchmark starts no run")


async def _loop_steps(steps: list[float], stop: asyncio.Event) -> None:
    """Record how late a 1 ms sleep wakes up: the longest is the longest step of the loop."""
    while not stop.is_set():
        t = time.perf_counter()
        await asyncio.sleep(0.001)
        steps.append(time.perf_counter() - t - 0.001)


async def _form_rounds(repeats: int, sweep: bool) -> dict[str, dict[str, list[float]]]:
    from textual.widgets import OptionList

    from ktui.screens.form import FormScreen
    from ktui.screens.presets import PresetScreen

    catalog = load_catalog([shipped_presets_dir()])
    app = create_app(catalog, trainer_factory=_DescribeOnly)
    figures: dict[str, dict[str, list[float]]] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(1.0)  # the preset screen's first preview
        await app.workers.wait_for_complete()
        names = list(catalog.presets)
        # The first round opens each preset's form for the first time (built); the
        # others open the form kept since (the app keeps the forms it built).
        for round_ in range(repeats + 1):
            for index, name in enumerate(names):
                presets = app.screen
                assert isinstance(presets, PresetScreen)
                presets.query_one("#preset-list", OptionList).highlighted = index
                await pilot.pause()
                await app.workers.wait_for_complete()
                steps: list[float] = []
                stop = asyncio.Event()
                probe = asyncio.create_task(_loop_steps(steps, stop))
                await asyncio.sleep(0.02)
                steps.clear()
                t, cpu = time.perf_counter(), time.thread_time()
                # pilot.press returns once the new screen is composed, laid out and idle.
                await pilot.press("enter")
                await pilot.pause()
                wall, used = time.perf_counter() - t, time.thread_time() - cpu
                stop.set()
                await probe
                form = app.screen
                assert isinstance(form, FormScreen) and form.preset.name == name, form
                row = figures.setdefault(name, {})
                if not round_:
                    row["first_cpu"], row["first_wall"] = [used], [wall]
                    row["first_step"] = [max(steps, default=0.0)]
                else:
                    row.setdefault("wall", []).append(wall)
                    row.setdefault("cpu", []).append(used)
                    row.setdefault("step", []).append(max(steps, default=0.0))
                    row.setdefault("widgets", []).append(float(len(form.query("*"))))
                if sweep:
                    t, cpu = time.perf_counter(), time.thread_time()
                    await pilot.press("f4")
                    await pilot.pause()
                    if round_:
                        row.setdefault("f4_wall", []).append(time.perf_counter() - t)
                        row.setdefault("f4_cpu", []).append(time.thread_time() - cpu)
                    assert form.sweep_mode
                await pilot.press("escape")
                await pilot.pause()
                await app.workers.wait_for_complete()
    return figures


def bench_form(repeats: int, sweep: bool) -> None:
    """Enter on each shipped preset → its form shown and ready for keys: the event
    loop's CPU (this thread's), the wall time and the longest step of the loop meanwhile
    (a 1 ms probe's lateness), for the form opened again (median of ``repeats``) and
    for its first opening; ``sweep``: then F4, the sweep mode's first build."""
    figures = asyncio.run(_form_rounds(repeats, sweep))
    for name, row in figures.items():
        line = (
            f"  {name:<14} {median(row['cpu']) * 1000:5.0f} ms CPU, "
            f"{median(row['wall']) * 1000:5.0f} ms wall, longest loop step "
            f"{median(row['step']) * 1000:4.0f} ms (max {max(row['step']) * 1000:.0f}); "
            f"{row['widgets'][0]:.0f} widgets; first open {row['first_cpu'][0] * 1000:.0f} ms "
            f"CPU, {row['first_wall'][0] * 1000:.0f} ms wall, longest step "
            f"{row['first_step'][0] * 1000:.0f} ms"
        )
        if sweep:
            line += (
                f"; F4 {median(row['f4_cpu']) * 1000:.0f} ms CPU, "
                f"{median(row['f4_wall']) * 1000:.0f} ms wall"
            )
        print(line, flush=True)
    cpu = [c for row in figures.values() for c in row["cpu"]]
    wall = [w for row in figures.values() for w in row["wall"]]
    step = [s for row in figures.values() for s in row["step"]]
    first = [c for row in figures.values() for c in row["first_cpu"]]
    print(
        f"form: Enter → form opened before, median of {repeats} × {len(figures)} presets: "
        f"{median(cpu) * 1000:.0f} ms CPU, {median(wall) * 1000:.0f} ms wall (max "
        f"{max(wall) * 1000:.0f}); longest loop step median {median(step) * 1000:.0f} ms, "
        f"max {max(step) * 1000:.0f} ms (targets: < 100 ms; no step over 50 ms); "
        f"first opening: {median(first) * 1000:.0f} ms CPU (median of the presets)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "which", choices=["start", "training", "lag", "keys", "first-run", "form", "all"]
    )
    parser.add_argument("--preview", choices=["process", "in-process"], default="process")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--sweep", action="store_true", help="form: F4 too (sweep mode)")
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
    if args.which in ("form", "all"):
        bench_form(args.repeats, args.sweep)


if __name__ == "__main__":
    main()
