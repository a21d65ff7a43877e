"""Pilot and snapshot tests of the insight screens: model, data preview, confusion, mistakes.

Snapshots use fixed data (tests/fakes.py); update them after an intended change with
``pytest tests/test_insight_views.py --snapshot-update`` and look at the report.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import make_app as shared_make_app
from conftest import wait_for
from fakes import (
    CNN_SUMMARY,
    FakeTrainer,
    binary_evaluation,
    fixed_evaluation,
    shape_arrays,
)
from rich.console import Console
from textual import events
from textual.css.query import NoMatches
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Static

import ktui.app
from ktui.app import KtuiApp
from ktui.core import data as data_mod
from ktui.core import insight
from ktui.core.insight import Evaluation
from ktui.core.pictures import Picture
from ktui.core.presets import RunConfig, load_catalog, shipped_presets_dir
from ktui.screens.form import FormScreen
from ktui.screens.insights import (
    ConfusionScreen,
    DataPreviewScreen,
    MistakesScreen,
    ModelScreen,
)
from ktui.screens.training import TrainingScreen
from ktui.store import RunStore

SIZES = [(80, 24), (120, 40)]
CATALOG = load_catalog([shipped_presets_dir()])


class ViewsApp(KtuiApp):
    """The dashboard without its first screen: these tests push the screen they test."""

    # A relative CSS_PATH is read beside the class's module; this one lives in tests/.
    CSS_PATH = str(Path(ktui.app.__file__).with_name("ktui.tcss"))

    def on_mount(self, event: events.Mount) -> None:
        # Textual calls the on_mount of every class in the MRO; this stops KtuiApp's.
        event.prevent_default()


def make_app(
    trainer: FakeTrainer | None = None, store: RunStore | None = None, *, presets: bool = False
) -> KtuiApp:
    """The shared app with ``presets``; else an app that opens on no screen, for the
    views pushed by hand."""
    fake = trainer or FakeTrainer()
    if presets:
        return shared_make_app(fake, store=store, catalog=CATALOG)
    return ViewsApp(CATALOG, lambda: fake, clock=lambda: 0.0, store=store)


def config(name: str) -> RunConfig:
    return CATALOG.get(name).resolve()


def shapes_loader(cfg: RunConfig) -> tuple[data_mod.Dataset, data_mod.Dataset | None, str]:
    raw = data_mod.Dataset(**shape_arrays(), origin="fixed shapes")
    return raw, data_mod.apply_transforms(raw, cfg.transforms), ""


def random_loader(cfg: RunConfig) -> tuple[data_mod.Dataset, data_mod.Dataset | None, str]:
    raw = data_mod.load(cfg.data, seed=3)  # dummy_binary has no seed of its own
    return raw, data_mod.apply_transforms(raw, cfg.transforms), ""


def text_of(screen: Screen[object], selector: str) -> str:
    """What a Static shows, as plain text (wide, so that phrases are not wrapped)."""
    console = Console(width=400, record=True, color_system=None, file=io.StringIO())
    console.print(screen.query_one(selector, Static).content)
    return console.export_text()


def filled(app: KtuiApp, kind: type[Screen[object]], selector: str) -> Callable[[], bool]:
    """``app.screen`` is a ``kind`` whose ``selector`` shows something: the screen is
    current as soon as it is pushed, but draws in its on_mount, a turn or more later."""

    def check() -> bool:
        if not isinstance(app.screen, kind):
            return False
        try:
            return bool(text_of(app.screen, selector).strip())
        except NoMatches:
            return False

    return check


def notifications(app: KtuiApp) -> list[str]:
    return [n.message for n in app._notifications]


async def start_run(pilot: Pilot[int], preset: str = "dummy_binary") -> TrainingScreen:
    """Start a two-epoch run of the fake trainer (straight to the training screen: the
    form's keys are tested on their own)."""
    training = TrainingScreen(CATALOG.get(preset).resolve({"epochs": 2}))
    await pilot.app.push_screen(training)
    return training


# --------------------------------------------------------------------------- pilot
async def test_confusion_and_wrong_predictions_after_a_recorded_run(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    app = make_app(FakeTrainer(evaluation=fixed_evaluation()), store)
    async with app.run_test(size=(120, 40)) as pilot:
        training = await start_run(pilot)
        await wait_for(pilot, lambda: not training.running)
        assert training.evaluation is not None and training.run_id is not None
        saved = store.folder(training.run_id) / insight.PREDICTIONS_FILE
        assert training.evaluation.path == str(saved) and saved.is_file()

        await pilot.press("c")
        await wait_for(pilot, filled(app, ConfusionScreen, "#confusion-matrix"))
        matrix = text_of(app.screen, "#confusion-matrix")
        assert "0 T-shirt/top" in matrix and "9 Ankle boot" in matrix
        assert "accuracy 85.00% · 15 wrong" in text_of(app.screen, "#confusion-title")
        assert "100.0%" in text_of(app.screen, "#confusion-metrics")  # Shirt's precision

        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, MistakesScreen))
        mistakes = app.screen
        assert isinstance(mistakes, MistakesScreen)
        await app.workers.wait_for_complete()
        await wait_for(pilot, lambda: "1 of 15" in text_of(mistakes, "#mistakes-title"))
        detail = text_of(mistakes, "#mistakes-detail")
        assert "true       0 T-shirt/top" in detail
        assert "predicted  1 Trouser" in detail and "95.0%" in detail
        assert isinstance(mistakes.query_one("#mistakes-picture", Static).content, Picture)
        await pilot.press("right", "right")
        assert "3 of 15" in text_of(mistakes, "#mistakes-title")
        await pilot.press("left", "left", "left")
        assert mistakes.position == 0
        await pilot.press("end")
        assert "15 of 15" in text_of(mistakes, "#mistakes-title")
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfusionScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is training)


async def test_confusion_keys_during_the_run_say_when(tmp_path: Path) -> None:
    gate = threading.Event()
    app = make_app(FakeTrainer(gate=gate, evaluation=fixed_evaluation()))
    async with app.run_test(size=(120, 40)) as pilot:
        training = await start_run(pilot)
        await wait_for(pilot, lambda: training.phase == "running")
        assert training.active_bindings["c"].enabled is False  # greyed in the footer
        await pilot.press("c")
        await pilot.pause()
        assert app.screen is training
        assert any("after the run" in text for text in notifications(app))
        gate.set()
        await wait_for(pilot, lambda: not training.running)
        assert training.active_bindings["c"].enabled is True


async def test_a_failed_run_says_why_there_is_no_matrix_and_still_has_its_model(
    tmp_path: Path,
) -> None:
    app = make_app(FakeTrainer(fail_at_epoch=1, evaluation=fixed_evaluation()))
    async with app.run_test(size=(120, 40)) as pilot:
        training = await start_run(pilot)
        await wait_for(pilot, lambda: not training.running)
        await pilot.press("c")
        await wait_for(pilot, filled(app, ConfusionScreen, "#confusion-title"))
        assert "failed before its test set was evaluated" in text_of(app.screen, "#confusion-title")
        await pilot.press("w")
        await wait_for(pilot, filled(app, MistakesScreen, "#mistakes-title"))
        assert "failed" in text_of(app.screen, "#mistakes-title")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is training)
        await pilot.press("m")  # the model of the run, as RunStarted described it
        await wait_for(pilot, lambda: isinstance(app.screen, ModelScreen))
        assert "64 numbers per sample · 20×64 weights + 64 biases" in text_of(
            app.screen, "#model-layers"
        )


async def test_form_keys_open_the_data_preview_and_the_model(tmp_path: Path) -> None:
    app = make_app(presets=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("enter")  # dummy_binary is the first preset
        await wait_for(pilot, lambda: isinstance(app.screen, FormScreen))
        form = app.screen
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, DataPreviewScreen))
        preview = app.screen
        await wait_for(pilot, lambda: "Not drawn" in text_of(preview, "#data-note"))
        assert "random numbers, 20 per sample" in text_of(preview, "#data-note")
        assert "Label distribution" in text_of(preview, "#data-bars")
        assert "x_train (1000, 20) float32" in text_of(preview, "#data-arrays")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is form)
        await pilot.press("f3")
        await wait_for(pilot, lambda: isinstance(app.screen, ModelScreen))
        model = app.screen
        await wait_for(pilot, lambda: "1,409" in text_of(model, "#model-totals"))
        assert "a vector of 20 numbers" in text_of(model, "#model-input")
        assert "dense (Dense)" in text_of(model, "#model-layers")


async def test_views_say_what_is_missing(tmp_path: Path) -> None:
    bad = tmp_path / insight.PREDICTIONS_FILE
    bad.write_bytes(b"not a zip file at all")
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        # mnist_cnn reads MNIST, which the test's empty Keras cache does not have.
        await app.push_screen(DataPreviewScreen(config("mnist_cnn")))
        screen = app.screen
        await wait_for(pilot, lambda: "No preview" in text_of(screen, "#data-note"))
        assert "not on this machine" in text_of(screen, "#data-note")

        await app.push_screen(ConfusionScreen(path=bad))
        screen = app.screen
        await wait_for(pilot, lambda: "cannot be read" in text_of(screen, "#confusion-title"))
        await app.push_screen(MistakesScreen(path=tmp_path / "missing.npz"))
        screen = app.screen
        await wait_for(pilot, lambda: "no saved predictions" in text_of(screen, "#mistakes-title"))

        # A run without a folder: its event has the matrix, the mistakes were not saved.
        note = "not saved: this run has no folder (it is not recorded in the run store)"
        event = fixed_evaluation().to_event(None, note=note)
        await app.push_screen(ConfusionScreen(Evaluation.from_event(event), missing=event.note))
        assert "9 Ankle boot" in text_of(app.screen, "#confusion-matrix")
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, MistakesScreen))
        title = text_of(app.screen, "#mistakes-title")
        assert "15 wrong predictions, but they were not saved" in title
        assert "not recorded" in title

        # Inputs that are not images: their numbers instead of a picture.
        await app.push_screen(MistakesScreen(binary_evaluation()))
        await pilot.pause()
        assert "Not an image: 20 numbers" in text_of(app.screen, "#mistakes-picture")
        assert "true       1" in text_of(app.screen, "#mistakes-detail")


async def test_small_terminals_get_a_note_not_a_traceback(tmp_path: Path) -> None:
    app = make_app()
    async with app.run_test(size=(30, 8)) as pilot:
        for screen in (
            ConfusionScreen(fixed_evaluation()),
            MistakesScreen(fixed_evaluation()),
            ModelScreen(CNN_SUMMARY, config=config("mnist_cnn")),
            DataPreviewScreen(config("mnist_cnn"), loader=shapes_loader),
        ):
            await app.push_screen(screen)
            await app.workers.wait_for_complete()
            await pilot.pause()
            note = screen.query_one(".insight-too-small", Static)
            assert note.display and not screen.query_one(".insight-body").display
            assert "needs at least" in text_of(screen, ".insight-too-small")
            assert "the terminal is 30×8" in text_of(screen, ".insight-too-small")
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        assert app.screen.query_one(".insight-body").display
        assert not app.screen.query_one(".insight-too-small").display


async def test_no_color_draws_images_with_the_character_ramp(tmp_path: Path) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        app.no_color = True
        await app.push_screen(MistakesScreen(fixed_evaluation()))
        await pilot.pause()
        picture = app.screen.query_one("#mistakes-picture", Static).content
        assert isinstance(picture, Picture) and picture.mode == "ramp"


# --------------------------------------------------------------------------- snapshots
def snapshot_app(make_screen: Callable[[], Screen[None]]) -> tuple[KtuiApp, Callable]:
    app = make_app()

    async def run_before(pilot: Pilot[int]) -> None:
        await app.push_screen(make_screen())
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()

    return app, run_before


VIEWS: dict[str, Callable[[], Screen[None]]] = {
    "model": lambda: ModelScreen(CNN_SUMMARY, config=config("mnist_cnn")),
    "data_images": lambda: DataPreviewScreen(config("mnist_cnn"), loader=shapes_loader),
    "data_arrays": lambda: DataPreviewScreen(config("dummy_binary"), loader=random_loader),
    "confusion": lambda: ConfusionScreen(fixed_evaluation(), title="mnist_mlp · run 3"),
    "mistakes": lambda: MistakesScreen(fixed_evaluation(), title="mnist_mlp · run 3"),
}


@pytest.mark.parametrize("view", list(VIEWS))
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_view_snapshots(snap_compare, view: str, size: tuple[int, int]) -> None:
    app, run_before = snapshot_app(VIEWS[view])
    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_fixed_data_is_fixed() -> None:
    """The snapshots only mean something if their data never changes."""
    evaluation = fixed_evaluation()
    assert evaluation.matrix.trace() == 85
    assert np.array_equal(binary_evaluation().matrix, [[41, 9], [12, 38]])
