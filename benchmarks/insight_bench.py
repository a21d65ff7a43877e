"""Insight benchmarks: the cost of the confusion matrix, and the UI while it is made.

    python benchmarks/insight_bench.py predict   # predict + confusion for the 10,000 test images
    python benchmarks/insight_bench.py lag       # event-loop lag while a run makes its matrix
    python benchmarks/insight_bench.py preview   # the data preview: load time and loop lag
    python benchmarks/insight_bench.py all

``predict`` trains mnist_mlp for one epoch on the machine's 28×28 data, then times
what the engine does after ``model.evaluate``: ``model.predict`` over the test set,
the confusion matrix and the mistakes (numpy), and writing ``predictions.npz``.

``lag`` runs mnist_mlp for one epoch inside the app (headless, the real Keras trainer,
a run store in a temporary folder) and measures how late a 10 ms sleep wakes up on
the app's event loop while the training thread predicts the test set, then opens
the confusion matrix and the wrong predictions and steps through them.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import image_source, median, percentile, preset_config
from textual import events

import ktui.app
from ktui.app import KtuiApp, create_app
from ktui.core import insight
from ktui.core.presets import load_catalog, shipped_presets_dir
from ktui.screens.insights import ConfusionScreen, DataPreviewScreen, MistakesScreen
from ktui.screens.training import TrainingScreen
from ktui.store import RunStore


def bench_predict(repeats: int) -> None:
    import keras

    from ktui.training.builder import build_model
    from ktui.training.engine import load_dataset

    config = preset_config("mnist_mlp", 1)
    dataset = load_dataset(config, None)
    keras.backend.clear_session()
    keras.utils.set_random_seed(7)
    model = build_model(config, tuple(dataset.x_train.shape[1:]))
    model.fit(dataset.x_train, dataset.y_train, batch_size=config.batch_size, epochs=1, verbose=0)
    labels = insight.class_names(config.data.kind, 10)
    predict: list[float] = []
    matrix: list[float] = []
    save: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / insight.PREDICTIONS_FILE
        for index in range(repeats):
            t0 = time.perf_counter()
            p = model.predict(dataset.x_test, batch_size=config.batch_size, verbose=0)
            t1 = time.perf_counter()
            evaluation = insight.evaluate(dataset.y_test, p, labels=labels, x=dataset.x_test)
            t2 = time.perf_counter()
            evaluation.save(path)
            t3 = time.perf_counter()
            # The first predict traces the model's predict function: counted apart.
            if index:
                predict.append(t1 - t0)
                matrix.append(t2 - t1)
                save.append(t3 - t2)
            else:
                first = t3 - t0
        size = path.stat().st_size
    total = [a + b + c for a, b, c in zip(predict, matrix, save, strict=True)]
    print(
        f"predict: mnist_mlp, {dataset.test_samples:,} {config.data.describe()} test images, "
        f"median of {len(total)} after a first call of {first * 1000:.0f} ms (tracing): "
        f"predict {median(predict) * 1000:.0f} ms + matrix and mistakes "
        f"{median(matrix) * 1000:.1f} ms + save {median(save) * 1000:.1f} ms "
        f"({size / 1024:.0f} KiB) = {median(total) * 1000:.0f} ms; "
        f"accuracy {evaluation.accuracy * 100:.2f}%, {evaluation.images_total:,} mistakes"
    )


async def _lag_round(lag_predict: list[float], lag_views: list[float], times: dict) -> None:
    catalog = load_catalog([shipped_presets_dir()])
    with tempfile.TemporaryDirectory() as folder:
        store = RunStore(Path(folder) / "runs.sqlite")
        app = create_app(catalog, store=store)
        config = preset_config("mnist_mlp", 1, image_source())
        arrived: list[float] = []
        async with app.run_test(size=(120, 40)) as pilot:
            screen = TrainingScreen(config)
            await app.push_screen(screen)
            samples: list[tuple[float, float]] = []
            while screen.running:
                t0 = time.perf_counter()
                await asyncio.sleep(0.01)
                t1 = time.perf_counter()
                if screen.phase in ("evaluating", "finished"):
                    samples.append((t1, t1 - t0 - 0.01))
                # When the event reached the UI (it says how long predicting took).
                if screen.evaluation is not None and not arrived:
                    arrived.append(t1)
            if screen.phase != "finished" or screen.evaluation is None:
                sys.exit(f"benchmark run ended {screen.phase}: {screen.final}")
            event = screen.evaluation
            end = arrived[0]
            start = end - event.seconds
            lag_predict += [lag for t, lag in samples if start <= t <= end]
            times.setdefault("seconds", []).append(event.seconds)

            # The views: open them and step through the mistakes, measuring the loop.
            async def sample_while(busy: asyncio.Task[None]) -> None:
                while not busy.done():
                    t0 = time.perf_counter()
                    await asyncio.sleep(0.01)
                    lag_views.append(time.perf_counter() - t0 - 0.01)
                await busy

            async def views() -> None:
                t0 = time.perf_counter()
                await pilot.press("c")
                while not isinstance(app.screen, ConfusionScreen):
                    await asyncio.sleep(0.001)
                await pilot.pause()
                times.setdefault("confusion", []).append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                await pilot.press("w")
                while not (
                    isinstance(app.screen, MistakesScreen)
                    and app.screen.evaluation is not None
                    and len(app.screen.evaluation.mistakes)
                ):
                    await asyncio.sleep(0.001)
                await pilot.pause()
                times.setdefault("mistakes", []).append(time.perf_counter() - t0)
                for _ in range(20):
                    t0 = time.perf_counter()
                    await pilot.press("right")
                    times.setdefault("step", []).append(time.perf_counter() - t0)

            await sample_while(asyncio.create_task(views()))


def bench_lag(rounds: int) -> None:
    lag_predict: list[float] = []
    lag_views: list[float] = []
    times: dict[str, list[float]] = {}
    # Full garbage collections walk TensorFlow's many objects: long pauses on any thread
    # that allocates, the UI's included. Timed apart to tell them from the views' work.
    full_gc: list[float] = []
    started: list[float] = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        elif info["generation"] == 2:
            full_gc.append(time.perf_counter() - started[0])

    gc.callbacks.append(on_gc)
    for _ in range(rounds):
        asyncio.run(_lag_round(lag_predict, lag_views, times))
    gc.callbacks.remove(on_gc)
    print(
        f"lag: while the training thread predicts the test set and builds the matrix "
        f"({rounds} runs of mnist_mlp, predict step {statistics.mean(times['seconds']):.2f}s "
        f"on average, {len(lag_predict)} samples): median {median(lag_predict) * 1000:.1f} ms, "
        f"p95 {percentile(lag_predict, 95) * 1000:.1f} ms, max {max(lag_predict) * 1000:.1f} ms "
        "(target p95 < 25 ms)"
    )
    print(
        f"views: opening the confusion matrix {median(times['confusion']) * 1000:.0f} ms, "
        f"the wrong predictions (reading predictions.npz in a worker) "
        f"{median(times['mistakes']) * 1000:.0f} ms, one arrow step "
        f"{median(times['step']) * 1000:.0f} ms (median); loop lag meanwhile "
        f"({len(lag_views)} samples): p95 {percentile(lag_views, 95) * 1000:.1f} ms, "
        f"max {max(lag_views) * 1000:.1f} ms"
    )
    print(
        f"gc: {len(full_gc)} full garbage collections in the process (TensorFlow loaded), "
        f"longest {max(full_gc, default=0) * 1000:.0f} ms, median "
        f"{median(full_gc or [0.0]) * 1000:.0f} ms"
    )


class _NoFirstScreen(KtuiApp):
    """The app without its preset screen, whose model preview would import TensorFlow
    in a thread at the same time and be measured instead of the data preview."""

    CSS_PATH = str(Path(ktui.app.__file__).with_name("ktui.tcss"))

    def on_mount(self, event: events.Mount) -> None:
        # Textual calls the on_mount of every class in the MRO; this stops KtuiApp's.
        event.prevent_default()


async def _preview_round(lag: list[float], ready: list[float]) -> None:
    app = _NoFirstScreen(load_catalog([shipped_presets_dir()]))
    config = preset_config("mnist_cnn", 1, image_source())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        t_start = time.perf_counter()
        screen = DataPreviewScreen(config)
        await app.push_screen(screen)
        while screen.preview is None:
            t0 = time.perf_counter()
            await asyncio.sleep(0.01)
            lag.append(time.perf_counter() - t0 - 0.01)
        await pilot.pause()
        ready.append(time.perf_counter() - t_start)


def bench_preview(rounds: int) -> None:
    lag: list[float] = []
    ready: list[float] = []
    for _ in range(rounds):
        asyncio.run(_preview_round(lag, ready))
    print(
        f"preview: mnist_cnn's data ({image_source()}, 70,000 images read and transformed in a "
        f"worker) shown after {median(ready):.2f}s (median of {rounds}); loop lag meanwhile "
        f"({len(lag)} samples): median {median(lag) * 1000:.1f} ms, "
        f"p95 {percentile(lag, 95) * 1000:.1f} ms, max {max(lag) * 1000:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", choices=["predict", "lag", "preview", "all"])
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.which in ("predict", "all"):
        bench_predict(args.repeats)
    if args.which in ("lag", "all"):
        bench_lag(args.rounds)
    if args.which in ("preview", "all"):
        bench_preview(args.rounds)


if __name__ == "__main__":
    main()
