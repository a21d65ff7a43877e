"""Benchmark of the runs screen: open it on 1,000 runs of 100 epochs, time it until it answers.

    python benchmarks/runs_screen_bench.py [--runs 1000] [--epochs 100] [--repeats 9]
                                           [--store PATH] [--size 120x40]
    python benchmarks/runs_screen_bench.py --runs 100000 --epochs 50   # sweep scale

The store is generated through the public API by ``store_bench.generate`` (into a
temporary folder, or into ``--store PATH`` when that file does not exist yet, so
it can be reused); from 10,000 runs on it is written straight into the schema by
``store_bench.generate_fast`` and cached under /tmp (``ktui-bench-RUNSxEPOCHS.sqlite``)
for the next time. The app is ktui's own (``create_app``) running headless under
Textual's test driver, on the preset screen; then, ``--repeats`` times:

1. push a ``RunsScreen``;
2. as soon as it is the current screen and its table has rows, press ↓ (sent
   through the driver, as a terminal would) — a person pressing a key the
   moment the list appears;
3. **ready for keys** = from the push to that key having moved the cursor, which
   includes everything the app did before it got to the key (also as the process's
   CPU time, which a loaded machine does not inflate);
4. while the rest of the rows are added (in steps, after the first paint), ↓ is
   pressed every 20 ms: **key latency while filling** = from sending each key to
   the cursor having moved;
5. **all rows** = from the push to every row of the table's window being in (the
   whole list when it fits in one window);
6. then, the list loaded, ↓ 250 times (crossing the window's end, where the next
   window is read) and page down 40 times, each 20 ms apart: **key latency after**;
7. ctrl+end: **last page** = from the key to the cursor on the list's last run.

The median of the openings is reported (target: ready for keys < 300 ms), and
the redraw time of a :class:`MetricChart` with 4 series of 100 epochs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from store_bench import cached_store, generate  # noqa: E402
from textual import events  # noqa: E402
from textual.widgets import DataTable  # noqa: E402

from ktui.app import KtuiApp, create_app  # noqa: E402
from ktui.core.errors import KtuiError  # noqa: E402
from ktui.core.presets import load_catalog, shipped_presets_dir  # noqa: E402
from ktui.screens.presets import PresetScreen  # noqa: E402
from ktui.screens.runs import RunsScreen  # noqa: E402
from ktui.store import RunStore  # noqa: E402


class NoTrainer:
    """Keeps TensorFlow out of the measurement: the preset screen's model preview fails fast."""

    def describe(self, config: object) -> object:
        raise KtuiError("benchmark: no model previews")

    def run(self, *args: object, **kwargs: object) -> object:
        raise KtuiError("benchmark: no training")


async def _until(predicate: object, timeout: float = 30.0) -> None:
    deadline = time.perf_counter() + timeout
    while not predicate():  # type: ignore[operator]
        if time.perf_counter() > deadline:
            raise TimeoutError("the runs screen did not get there in time")
        await asyncio.sleep(0.0005)


def _press(app: KtuiApp, key_name: str) -> None:
    key = events.Key(key_name, None)
    key.set_sender(app)
    assert app._driver is not None
    app._driver.send_message(key)


def _position(table: DataTable[object]) -> int:
    """The cursor's row in the whole list (a windowed table knows where its window is)."""
    return int(getattr(table, "position", table.cursor_row))


async def _timed_key(table: DataTable[object], app: KtuiApp, key: str) -> float | None:
    """Seconds from sending ``key`` to the cursor having moved (None: it could not move)."""
    row = _position(table)
    sent = time.perf_counter()
    _press(app, key)
    try:
        await _until(lambda: _position(table) != row, timeout=2.0)
    except TimeoutError:
        return None
    return time.perf_counter() - sent


async def open_once(
    app: KtuiApp,
) -> tuple[float, float, float, int, list[float], list[float], float | None]:
    """(ready for keys, its CPU time, all rows, rows, key latencies while filling, key
    latencies after, seconds to the last page) of one opening. The CPU time is the
    process's (every thread's) from the push to the key handled: on a loaded machine
    it says what the wall time cannot."""
    screen = RunsScreen()
    started = time.perf_counter()
    cpu_started = time.process_time()
    app.push_screen(screen)
    await _until(
        lambda: (
            app.screen is screen
            and screen.is_mounted
            and screen.query_one("#runs-table", DataTable).row_count > 0
        )
    )
    table = screen.query_one("#runs-table", DataTable)
    _press(app, "down")
    await _until(lambda: table.cursor_row == 1)
    ready = time.perf_counter() - started
    ready_cpu = time.process_time() - cpu_started
    latencies: list[float] = []
    while not screen.loaded:
        took = await _timed_key(table, app, "down")
        if took is not None:
            latencies.append(took)
        await asyncio.sleep(0.02)
    await _until(lambda: screen.loaded)
    loaded = time.perf_counter() - started
    rows = table.row_count
    after: list[float] = []
    for key in ["down"] * 250 + ["pagedown"] * 40:
        took = await _timed_key(table, app, key)
        if took is not None:
            after.append(took)
        await asyncio.sleep(0.02)
    last: float | None = None
    total = getattr(table, "total", table.row_count)
    if _position(table) < total - 1:
        sent = time.perf_counter()
        _press(app, "ctrl+end")
        await _until(lambda: _position(table) == total - 1)
        last = time.perf_counter() - sent
    await app.pop_screen()
    await asyncio.sleep(0.3)  # let the app settle before the next opening
    return ready, ready_cpu, loaded, rows, latencies, after, last


async def bench_screen(store_path: Path, repeats: int, size: tuple[int, int]) -> None:
    store = RunStore(store_path)
    app = create_app(
        load_catalog([shipped_presets_dir()]),
        trainer_factory=NoTrainer,  # type: ignore[arg-type]
        store=store,
        clock=lambda: 0.0,
    )
    ready_times: list[float] = []
    ready_cpu: list[float] = []
    loaded_times: list[float] = []
    latencies: list[float] = []
    after: list[float] = []
    last_page: list[float] = []
    async with app.run_test(size=size) as pilot:
        await pilot.pause(1.0)  # the preset screen's (failing) preview has run
        assert isinstance(app.screen, PresetScreen)
        await open_once(app)  # warm-up: imports, CSS parsing, caches
        for _ in range(repeats):
            ready, cpu, loaded, rows, during, later, last = await open_once(app)
            ready_times.append(ready)
            ready_cpu.append(cpu)
            loaded_times.append(loaded)
            latencies += during
            after += later
            if last is not None:
                last_page.append(last)
    store.close()
    ready_ms = statistics.median(ready_times) * 1000
    print(
        f"  {size[0]}x{size[1]} · ready for keys: median {ready_ms:.0f} ms"
        f" (min {min(ready_times) * 1000:.0f}, max {max(ready_times) * 1000:.0f};"
        f" CPU time median {statistics.median(ready_cpu) * 1000:.0f} ms,"
        f" min {min(ready_cpu) * 1000:.0f})"
        f" · key latency while filling: {_latency(latencies)}"
        f" · all {rows:,} rows of the table in: median"
        f" {statistics.median(loaded_times) * 1000:.0f} ms"
        f" · key latency after (↓ and page down through the list): {_latency(after)}"
        + (
            f" · ctrl+end to the last page: median {statistics.median(last_page) * 1000:.0f} ms"
            f" (min {min(last_page) * 1000:.0f})"
            if last_page
            else ""
        )
        + f" · {repeats} openings"
    )


def _latency(samples: list[float]) -> str:
    if not samples:
        return "none (every row of the window was in at the first paint)"
    ms = [t * 1000 for t in sorted(samples)]
    return (
        f"median {statistics.median(ms):.0f} ms (min {ms[0]:.0f}),"
        f" p95 {ms[int(len(ms) * 0.95)]:.0f} ms, max {ms[-1]:.0f} ms (n={len(samples)})"
    )


def bench_chart(repeats: int = 200) -> None:
    from rich.style import Style

    from ktui.widgets.chart import MetricChart

    xs = [float(x) for x in range(1, 101)]
    chart = MetricChart("val_loss")
    chart.set_series(
        {f"run {k} val_loss": (xs, [1 / (x + k) + 0.01 * (x % 7) for x in xs]) for k in range(4)}
    )
    base = Style(color="#e0e0e0", bgcolor="#1e1e1e")
    for width, height in ((60, 16), (80, 20), (120, 36)):
        for smoothing in (False, True):
            chart.smoothing = smoothing
            chart.build_strips(width, height, base)
            samples = []
            for _ in range(repeats):
                started = time.perf_counter()
                chart.build_strips(width, height, base)
                samples.append(time.perf_counter() - started)
            samples.sort()
            print(
                f"  MetricChart {width}x{height}, 4 series x 100 epochs"
                f"{', smoothed' if smoothing else '':<10}: median "
                f"{statistics.median(samples) * 1000:5.2f} ms  p95 "
                f"{samples[int(len(samples) * 0.95)] * 1000:5.2f} ms"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--store", type=Path, help="reuse (or create) the store at PATH")
    parser.add_argument("--size", action="append", help="terminal size, e.g. 80x24 (repeatable)")
    args = parser.parse_args()
    sizes = [tuple(int(n) for n in s.split("x")) for s in (args.size or ["80x24", "120x40"])]
    print(
        f"ktui runs screen benchmark · Python {platform.python_version()} · "
        f"{platform.system()} {platform.machine()} · {os.cpu_count()} CPUs · "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory(prefix="ktui-runs-bench-") as scratch:
        path = args.store or Path(scratch) / "runs.sqlite"
        if args.store is None and args.runs >= 10_000:
            path = cached_store(args.runs, args.epochs)
        if not path.exists():
            print(f"generating {args.runs:,} runs x {args.epochs} epochs into {path} ...")
            started = time.perf_counter()
            generate(path, args.runs, args.epochs)
            print(f"  took {time.perf_counter() - started:.1f} s")
        with RunStore(path) as store:
            count = store.count_runs()
        print(f"\nOpening the runs screen on {count:,} runs ({path})")
        for size in sizes:
            asyncio.run(bench_screen(path, args.repeats, size))  # type: ignore[arg-type]
    print("\nRedrawing a chart")
    bench_chart()


if __name__ == "__main__":
    main()
