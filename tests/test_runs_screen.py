"""Pilot tests for the run history: list, sort, filter, detail, compare, re-run, edit, delete."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import make_app, wait_for
from fakes import FakeTrainer
from runs_data import SPECS, Spec, fill
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, RichLog, Select, Static, TabbedContent

from ktui.app import KtuiApp
from ktui.core.presets import load_catalog, shipped_presets_dir
from ktui.core.rerun import recorded_source
from ktui.screens.compare import CompareScreen
from ktui.screens.dialogs import ConfirmDialog
from ktui.screens.form import FormScreen
from ktui.screens.presets import PresetScreen
from ktui.screens.run_detail import RunDetailScreen
from ktui.screens.runs import RunsScreen
from ktui.screens.runs_table import sort_runs
from ktui.screens.training import TrainingScreen
from ktui.store import SORT_KEYS, RunStore
from ktui.widgets.chart import MetricChart

RUNNING = Spec("mnist_cnn", {"filters": 16}, epochs=3, data="MNIST")


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Dates are shown in local time: make local time UTC."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RunStore]:
    runs = RunStore(tmp_path / "runs.sqlite")
    fill(runs, load_catalog([shipped_presets_dir()]), running=RUNNING)
    yield runs
    runs.close()


async def open_runs(pilot: Pilot[int]) -> RunsScreen:
    """From the preset screen, h opens the history; wait until every row is in."""
    assert isinstance(pilot.app.screen, PresetScreen)
    await pilot.press("h")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunsScreen))
    screen = pilot.app.screen
    assert isinstance(screen, RunsScreen)
    await wait_for(pilot, lambda: bool(screen.runs) and screen.loaded)
    await pilot.pause()
    return screen


def table_of(screen: RunsScreen) -> DataTable[object]:
    return screen.query_one("#runs-table", DataTable)


def shown_ids(screen: RunsScreen) -> list[int]:
    table = table_of(screen)
    return [int(str(table.get_row_at(i)[1])) for i in range(table.row_count)]


def row_text(screen: RunsScreen, run_id: int) -> list[str]:
    return [str(cell) for cell in table_of(screen).get_row(str(run_id))]


async def highlight(pilot: Pilot[int], screen: RunsScreen, run_id: int) -> None:
    table = table_of(screen)
    table.move_cursor(row=table.get_row_index(str(run_id)))
    await pilot.pause()
    current = screen.current_run()
    assert current is not None and current.id == run_id


def notices(app: KtuiApp) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


# --------------------------------------------------------------------------- the list
async def test_list_shows_every_run_newest_first(store: RunStore) -> None:
    app = make_app(store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_runs(pilot)
        assert shown_ids(screen) == [7, 6, 5, 4, 3, 2, 1]
        # id, preset, values that differ, best, test error, status, backend, date, duration
        assert row_text(screen, 2)[1:] == [
            "2",
            "dummy_binary",
            "units=32 learning_rate=0.01",
            "0.8336 val_accuracy",
            "45.00",
            "finished",
            "—",  # recorded without a backend or TensorFlow version
            "2026-01-02 10:00",
            "45.0s",
        ]
        assert row_text(screen, 3)[3] == "defaults"
        assert row_text(screen, 5)[5:7] == ["—", "failed"]
        # Run 6 had no validation data: it is judged by its training accuracy.
        assert row_text(screen, 6)[3:6] == ["dropout=0.2", "0.7167 accuracy", "—"]
        # The live run is listed too, with how long it has been going.
        assert row_text(screen, 7)[6] == "running"
        assert "7 runs · sorted by id, newest first" in str(
            screen.query_one("#runs-count", Static).render()
        )
        # The line under the table has everything about the highlighted run.
        assert screen.current_run() is not None and screen.current_run().id == 7  # type: ignore[union-attr]
        await highlight(pilot, screen, 2)
        current = str(screen.query_one("#runs-current", Static).render())
        assert "run 2 · dummy_binary · finished · units=32 learning_rate=0.01" in current
        assert "test error 45.00%" in current and "started 2026-01-02 10:00" in current


async def test_without_a_store_the_screen_says_so() -> None:
    app = make_app(store=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
        await pilot.pause()
        text = str(app.screen.query_one("#runs-empty", Static).render())
        assert "not recorded in this session" in text
        assert not app.screen.query_one("#runs-table", DataTable).display
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, PresetScreen))


async def test_an_empty_store_says_how_to_get_runs(tmp_path: Path) -> None:
    app = make_app(store=RunStore(tmp_path / "empty.sqlite"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
        await pilot.pause()
        assert "No runs recorded yet" in str(app.screen.query_one("#runs-empty", Static).render())


async def test_a_live_run_is_followed(store: RunStore) -> None:
    app = make_app(store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_runs(pilot)
        await highlight(pilot, screen, 3)
        assert row_text(screen, 7)[4] == "0.7150 val_accuracy"
        # Another process records epoch 4 of run 7: its row changes where it is.
        store.add_epoch(
            7, 4, {"loss": 0.1, "accuracy": 0.97, "val_loss": 0.12, "val_accuracy": 0.96}
        )
        screen.reload()  # what the 2-second poll does while a run is going
        await pilot.pause()
        assert row_text(screen, 7)[4] == "0.9600 val_accuracy"
        assert screen.current_run().id == 3  # type: ignore[union-attr]  # nothing moved
        store.finish_run(7, test_loss=0.1, test_accuracy=0.96)
        screen.reload()
        await wait_for(pilot, lambda: screen.loaded and row_text(screen, 7)[6] == "finished")
        assert row_text(screen, 7)[5] == "4.00"
        assert screen.current_run().id == 3  # type: ignore[union-attr]


async def test_the_poll_reads_the_store_in_a_thread_and_keeps_the_cursor(
    store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    app = make_app(store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_runs(pilot)
        assert screen.running  # run 7 is going: the screen polls
        await highlight(pilot, screen, 3)
        on_loop: list[bool] = []
        list_runs = store.list_runs

        def watched(*args: Any, **kwargs: Any) -> list[Any]:
            on_loop.append(threading.current_thread() is threading.main_thread())
            return list_runs(*args, **kwargs)

        monkeypatch.setattr(store, "list_runs", watched)
        store.finish_run(7, test_loss=0.1, test_accuracy=0.96)
        screen._poll()  # what the 2-second timer does
        await pilot.press("down")  # the cursor moves while the store is read
        moved_to = screen.current_run().id  # type: ignore[union-attr]
        await wait_for(pilot, lambda: screen.loaded and row_text(screen, 7)[6] == "finished")
        assert on_loop and not any(on_loop)
        assert screen.current_run().id == moved_to  # type: ignore[union-attr]
        assert not screen.running


# --------------------------------------------------------------------------- sorting
async def test_sort_cycles_columns_and_reverses(store: RunStore) -> None:
    app = make_app(store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_runs(pilot)
        await highlight(pilot, screen, 3)
        await pilot.press("s")  # id -> preset
        await wait_for(pilot, lambda: screen.loaded)
        assert screen.sort_key == "preset"
        assert shown_ids(screen) == [6, 2, 1, 7, 5, 4, 3]  # A to Z, newest first within
        assert screen.current_run().id == 3  # type: ignore[union-attr]  # the cursor kept its run
        await pilot.press("S")
        await wait_for(pilot, lambda: screen.loaded)
        assert shown_ids(screen) == [3, 4, 5, 7, 1, 2, 6]
        assert "▲" in str(table_of(screen).columns["preset"].label)
        for _ in range(2):  # preset -> values -> best
            await pilot.press("s")
        await wait_for(pilot, lambda: screen.loaded)
        assert screen.sort_key == "best" and not screen.sort_reverse
        assert shown_ids(screen)[:3] == [1, 2, 3]  # highest val_accuracy first
        assert "sorted by best, best first" in str(screen.query_one("#runs-count", Static).render())


async def test_clicking_a_header_sorts_by_it_and_again_reverses(store: RunStore) -> None:
    app = make_app(store=store)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await open_runs(pilot)
        table = table_of(screen)
        x = 0
        for column in table.ordered_columns:
            if column.key.value == "duration":
                break
            x += column.get_render_width(table)
        await pilot.click("#runs-table", offset=(x + 2, 0))
        await wait_for(pilot, lambda: screen.sort_key == "duration" and screen.loaded)
        assert shown_ids(screen)[0] == 7  # the running run has gone longest (until now)
        assert shown_ids(screen)[1:3] == [5, 3]  # 65 minutes, then 12
        await pilot.click("#runs-table", offset=(x + 2, 0))
        await wait_for(pilot, lambda: screen.sort_reverse and screen.loaded)
        assert shown_ids(screen)[:2] == [6, 1]  # 12 s, then 30 s


def test_sorting_in_memory_matches_the_store(store: RunStore) -> None:
    runs = store.list_runs()
    now = time.time()
    for key in SORT_KEYS:
        for reverse in (False, True):
            expected = [r.id for r in store.list_runs(sort=key, reverse=reverse)]
            if key == "epochs":
                continue  # not a column of the table
            got = [r.id for r in sort_runs(runs, key, reverse=reverse, now=now)]
            assert got == expected, (key, reverse)


# --------------------------------------------------------------------------- filters
async def test_filter_by_preset_with_the_keyboard_then_by_status(store: RunStore) -> None:
    app = make_app(store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_runs(pilot)
        await pilot.press("f")
        assert isinstance(app.focused, Select) and app.focused.id == "filter-preset"
        await pilot.press("enter")  # open the choices: all presets, dummy_binary, ...
        await pilot.pause()
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: screen.preset_filter == "dummy_binary" and screen.loaded)
        assert shown_ids(screen) == [6, 2, 1]
        assert "3 of 7 runs" in str(screen.query_one("#runs-count", Static).render())
        # r, s, ... belong to the filter while it has the focus; escape goes back to the table.
        await pilot.press("escape")
        assert isinstance(app.focused, DataTable)
        status = screen.query_one("#filter-status", Select)
        status.value = "finished"
        await wait_for(pilot, lambda: screen.status_filter == "finished" and screen.loaded)
        assert shown_ids(screen) == [2, 1]
        # Every run shown is judged by val_accuracy: its name moves to the header.
        assert str(table_of(screen).columns["best"].label) == "best val_accuracy"
        assert row_text(screen, 2)[4] == "0.8336"
        status.value = "stopped"
        await wait_for(pilot, lambda: screen.status_filter == "stopped" and screen.loaded)
        assert shown_ids(screen) == []
        assert "No run matches the filters" in str(screen.query_one("#runs-empty", Static).render())
        screen.set_filters()
        await wait_for(pilot, lambda: screen.preset_filter is None and screen.loaded)
        await wait_for(pilot, lambda: screen.status_filter is None and screen.loaded)
        assert len(shown_ids(screen)) == 7


# --------------------------------------------------------------------------- detail
async def test_detail_shows_values_epochs_curves_and_log(store: RunStore) -> None:
    app = make_app(store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_runs(pilot)
        await highlight(pilot, screen, 2)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        detail = app.screen
        assert isinstance(detail, RunDetailScreen)
        await pilot.pause()
        title = str(detail.query_one("#detail-title", Static).render())
        assert "Run 2 · dummy_binary · finished · started 2026-01-02 10:00 · 45.0s" in title
        result = str(detail.query_one("#detail-result", Static).render())
        assert "accuracy 55.00%" in result and "error 45.00%" in result
        values = detail.query_one("#detail-values", DataTable)
        assert [str(c) for c in values.get_row("units")] == ["units", "32", "64", "changed"]
        assert [str(c) for c in values.get_row("dropout")] == ["dropout", "0.5", "0.5", ""]
        epochs = detail.query_one("#detail-epochs", DataTable)
        assert epochs.row_count == 10
        labels = [str(c.label) for c in epochs.ordered_columns]
        assert labels == ["epoch", "loss", "val_loss", "accuracy", "val_accuracy", "lr", "time"]
        charts = {chart.title: chart for chart in detail.query(MetricChart)}
        assert set(charts) == {"loss", "accuracy"}
        assert list(charts["loss"].series) == ["loss", "val_loss"]
        await pilot.press("4")  # the log is written once its tab has a size
        assert detail.query_one(TabbedContent).active == "log"
        rich_log = detail.query_one("#detail-log", RichLog)
        await wait_for(pilot, lambda: bool(rich_log.lines))
        log = "\n".join(str(line.text) for line in rich_log.lines)
        assert "fake: a TensorFlow warning" in log and "Epoch 10/10" in log
        await pilot.press("y")  # log scale on the curves, which come to the front
        assert detail.query_one(TabbedContent).active == "curves"
        assert all(chart.log_y for chart in charts.values())
        await pilot.press("m")
        assert all(chart.smoothing for chart in charts.values())
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)


async def test_detail_of_a_failed_run_shows_the_error(store: RunStore) -> None:
    app = make_app(store=store)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_runs(pilot)
        await highlight(pilot, screen, 5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        await pilot.pause()
        result = str(app.screen.query_one("#detail-result", Static).render())
        assert "Failed: ValueError: shapes (None, 10) and (None, 1) are incompatible" in result


# --------------------------------------------------------------------------- compare
async def test_mark_two_and_compare(store: RunStore) -> None:
    app = make_app(store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_runs(pilot)
        await highlight(pilot, screen, 2)
        await pilot.press("space")  # marks run 2 and moves to run 1
        assert screen.current_run().id == 1  # type: ignore[union-attr]
        await pilot.press("space")
        assert sorted(screen.marked) == [1, 2]
        assert row_text(screen, 2)[0] == "●"
        assert "marked 1, 2" in str(screen.query_one("#runs-count", Static).render())
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
        compare = app.screen
        assert isinstance(compare, CompareScreen)
        await pilot.pause()
        charts = {chart.title: chart for chart in compare.query(MetricChart)}
        assert list(charts) == ["loss", "accuracy"]  # one chart per metric
        assert list(charts["loss"].series) == [
            "run 1 loss",
            "run 1 val_loss",
            "run 2 loss",
            "run 2 val_loss",
        ]
        table = compare.query_one("#compare-table", DataTable)
        rows = {
            str(table.get_row_at(i)[0]): [str(c) for c in table.get_row_at(i)[1:]]
            for i in range(table.row_count)
        }
        # Only the hyperparameters that differ, then the results side by side.
        assert rows["units"] == ["64", "32"]
        assert rows["learning_rate"] == ["0.001", "0.01"]
        assert "dropout" not in rows and "preset" not in rows
        assert rows["test err %"] == ["48.00", "45.00"]
        assert rows["epochs"] == ["10/10", "10/10"]
        assert rows["duration"] == ["30.0s", "45.0s"]
        assert rows["best"][0].endswith("val_accuracy at epoch 10")
        await pilot.press("y")
        assert all(chart.log_y for chart in charts.values())
        await pilot.press("z")
        assert compare.maximized is charts["loss"]
        await pilot.press("escape")  # the zoom first
        assert compare.maximized is None and app.screen is compare
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        assert sorted(screen.marked) == [1, 2]  # still marked


async def test_compare_needs_two_to_four_runs(store: RunStore) -> None:
    app = make_app(store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_runs(pilot)
        await pilot.press("space", "c")
        await pilot.pause()
        assert app.screen is screen
        assert "Mark 2 to 4 runs with space to compare them (1 marked)" in notices(app)
        await pilot.press("space", "space", "space", "space")  # a fifth is refused
        assert len(screen.marked) == 4
        assert "At most 4 runs can be compared" in notices(app)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
        await pilot.pause()
        table = app.screen.query_one("#compare-table", DataTable)
        assert [str(c.label) for c in table.ordered_columns][1:] == [
            "run 4",
            "run 5",
            "run 6",
            "run 7",
        ]


async def test_compare_screen_refuses_one_run(store: RunStore) -> None:
    app = make_app(store=store)
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(CompareScreen([3]))
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
        await pilot.pause()
        assert "Compare takes 2 to 4 runs, not 1" in notices(app)


# --------------------------------------------------------------------------- re-run and edit
async def test_rerun_starts_a_run_with_the_stored_values(store: RunStore) -> None:
    trainer = FakeTrainer()
    app = make_app(trainer, store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_runs(pilot)
        await highlight(pilot, screen, 2)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen))
        training = app.screen
        assert isinstance(training, TrainingScreen)
        await wait_for(pilot, lambda: not training.running)
        assert trainer.runs[0].preset.name == "dummy_binary"
        assert trainer.runs[0].values == store.get_run(2).values
        assert trainer.runs[0].data.kind == "random"
        assert training.run_id == 8
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        # Back on the list, the new run is there (the list is read again on return).
        await wait_for(pilot, lambda: shown_ids(screen)[:1] == [8] and screen.loaded)
        assert row_text(screen, 8)[3] == "units=32 learning_rate=0.01"


async def test_rerun_from_the_detail_screen(store: RunStore) -> None:
    trainer = FakeTrainer()
    app = make_app(trainer, store=store)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_runs(pilot)
        await highlight(pilot, screen, 1)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen))
        assert trainer.runs and trainer.runs[0].values == store.get_run(1).values


async def test_rerun_of_a_run_whose_preset_is_gone_says_so(tmp_path: Path) -> None:
    runs = RunStore(tmp_path / "runs.sqlite")
    fill(runs, load_catalog([shipped_presets_dir()]), (Spec("old_experiment"),))
    trainer = FakeTrainer()
    app = make_app(trainer, store=runs)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_runs(pilot)
        await pilot.press("r")
        await pilot.pause()
        assert app.screen is screen
        assert "preset old_experiment is no longer available" in notices(app)
        await pilot.press("e")
        await pilot.pause()
        assert app.screen is screen and not trainer.runs


async def test_rerun_waits_for_a_run_that_is_going(store: RunStore) -> None:
    import threading

    gate = threading.Event()
    trainer = FakeTrainer(gate=gate)
    app = make_app(trainer, store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_runs(pilot)
        await highlight(pilot, screen, 1)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen))
        training = app.screen
        assert isinstance(training, TrainingScreen)
        await pilot.press("h")  # the history, from the training screen, while it runs
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
        history = app.screen
        assert isinstance(history, RunsScreen)
        await wait_for(pilot, lambda: history.loaded and 8 in shown_ids(history))
        assert row_text(history, 8)[6] == "running"
        await highlight(pilot, history, 2)
        await pilot.press("r")
        await pilot.pause()
        assert app.screen is history
        assert "is going; wait for it to end first" in notices(app)
        gate.set()
        await wait_for(pilot, lambda: not training.running)


async def test_edit_opens_the_form_filled_in(store: RunStore) -> None:
    app = make_app(store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_runs(pilot)
        await highlight(pilot, screen, 2)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, FormScreen))
        form = app.screen
        assert isinstance(form, FormScreen)
        assert form.preset.name == "dummy_binary"
        assert form.query_one("#hp-units", Input).value == "32"
        assert form.query_one("#hp-learning_rate", Input).value == "0.01"
        assert form.query_one("#data-source", Input).value == "random"
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)


def test_recorded_data_is_read_back_as_a_source(tmp_path: Path) -> None:
    catalog = load_catalog([shipped_presets_dir()])
    mlp, dummy = catalog.presets["mnist_mlp"], catalog.presets["dummy_binary"]
    assert recorded_source("random (seed 3)", dummy) is None  # the preset's own
    assert recorded_source("random 1000×20, 2 classes", mlp) == "random"
    assert recorded_source("MNIST", mlp) is None
    assert recorded_source("Fashion-MNIST", mlp) == "fashion_mnist"
    npz = tmp_path / "mine.npz"
    assert recorded_source(str(npz), mlp) == str(npz)
    assert recorded_source("downloaded by Keras (~/.keras/datasets)", mlp) is None
    assert recorded_source("fake data", mlp) is None


# --------------------------------------------------------------------------- delete
async def test_delete_asks_first_then_removes_the_run(store: RunStore) -> None:
    app = make_app(store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_runs(pilot)
        await highlight(pilot, screen, 4)
        folder = store.folder(4)
        assert folder.exists()
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert "Delete run 4 (mnist_mlp, stopped)?" in app.screen.question
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is screen)
        assert store.has_run(4) and 4 in shown_ids(screen)
        await pilot.press("delete")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: app.screen is screen and 4 not in shown_ids(screen))
        assert not store.has_run(4)
        assert not folder.exists()
        assert screen.current_run() is not None and screen.current_run().id == 3  # type: ignore[union-attr]
        assert "6 runs" in str(screen.query_one("#runs-count", Static).render())


async def test_a_run_that_is_being_recorded_is_not_deleted(store: RunStore) -> None:
    app = make_app(store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_runs(pilot)
        await highlight(pilot, screen, 7)  # running, recorded by this (live) process
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: app.screen is screen)
        assert "Run 7 was not deleted" in notices(app) and "still being recorded" in notices(app)
        assert store.has_run(7) and 7 in shown_ids(screen)


async def test_delete_from_the_detail_screen_goes_back_to_the_list(store: RunStore) -> None:
    app = make_app(store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_runs(pilot)
        await highlight(pilot, screen, 1)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: app.screen is screen)
        await wait_for(pilot, lambda: 1 not in shown_ids(screen) and screen.loaded)
        assert not store.has_run(1)


# --------------------------------------------------------------------------- keys
async def test_runs_screen_keys_are_in_the_command_palette(store: RunStore) -> None:
    app = make_app(store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_runs(pilot)
        titles = {command.title for command in app.get_system_commands(screen)}
        assert {"Details", "Mark", "Compare", "Re-run", "Edit & re-run", "Delete"} <= titles
        assert {"Sort", "Filter", "Back"} <= titles


def test_specs_cover_every_finished_status() -> None:
    assert {spec.status for spec in SPECS} == {"finished", "stopped", "failed", "interrupted"}


# --------------------------------------------------------------------------- tags and notes
async def test_tags_show_in_a_column_and_filter_the_list(store: RunStore) -> None:
    app = make_app(store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_runs(pilot)
        # A store without tags: no tags column, no tag filter.
        assert "tags" not in [str(column.label) for column in table_of(screen).columns.values()]
        assert not screen.query_one("#filter-tag", Select).display
        # Tagged from the command line meanwhile (`ktui runs tag`), seen on the next read.
        store.add_tags(2, ["baseline", "good"])
        store.add_tags(4, ["good"])
        store.set_note(2, "first try")
        await pilot.press("escape")
        screen = await open_runs(pilot)
        labels = [str(column.label) for column in table_of(screen).columns.values()]
        assert labels[6:8] == ["status", "tags"]
        assert row_text(screen, 2)[7] == "baseline, good"
        assert row_text(screen, 4)[7] == "good" and row_text(screen, 3)[7] == ""
        # Up to the tags, the columns fit in the screen: the hyperparameters column gave way.
        table = table_of(screen)
        widths = [column.get_render_width(table) for column in table.columns.values()]
        assert sum(widths[:8]) <= 120 - 2
        await highlight(pilot, screen, 2)
        current = str(screen.query_one("#runs-current", Static).render())
        assert current.endswith(" · tags baseline, good · first try")
        tag_filter = screen.query_one("#filter-tag", Select)
        assert tag_filter.display
        # f, then Tab twice: preset, status, tag.
        await pilot.press("f", "tab", "tab")
        assert app.focused is tag_filter
        await pilot.press("enter")  # all tags, baseline, good
        await pilot.pause()
        await pilot.press("down", "down", "enter")
        await wait_for(pilot, lambda: screen.tag_filter == "good" and screen.loaded)
        assert shown_ids(screen) == [4, 2]
        assert "2 of 7 runs" in str(screen.query_one("#runs-count", Static).render())
        screen.set_filters(tag="baseline")
        await wait_for(pilot, lambda: screen.tag_filter == "baseline" and screen.loaded)
        assert shown_ids(screen) == [2]
        screen.set_filters()
        await wait_for(pilot, lambda: screen.tag_filter is None and screen.loaded)
        assert len(shown_ids(screen)) == 7
        # A run's detail has its tags and note under the title.
        await pilot.press("escape")  # from the tag filter back to the table
        await highlight(pilot, screen, 2)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        detail = app.screen
        await wait_for(pilot, lambda: detail.run is not None)  # type: ignore[attr-defined]
        title = str(detail.query_one("#detail-title", Static).render())
        assert "· tags baseline, good\nfirst try" in title


async def test_the_history_shows_each_runs_backend(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.sqlite") as runs:
        for versions in (
            {"backend": "jax", "jax": "0.10.2"},
            {"backend": "torch", "torch": "2.13.0+cpu"},
            {"keras": "3.5.0", "tensorflow": "2.17.0"},  # before ktui recorded backends
        ):
            run_id = runs.create_run("dummy_binary", values={})
            runs.set_details(run_id, versions=versions)
            runs.finish_run(run_id)
        app = make_app(store=runs)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await open_runs(pilot)
            table = screen.query_one(DataTable)
            labels = [str(column.label) for column in table.columns.values()]
            assert labels.index("backend") == labels.index("status") + 1
            assert [row_text(screen, i)[7] for i in (1, 2, 3)] == [
                "jax 0.10.2",
                "torch 2.13.0",
                "tf 2.17.0",
            ]
            # At 80 columns the column may need scrolling: the line under the table has it.
            await highlight(pilot, screen, 2)
            current = str(screen.query_one("#runs-current", Static).render())
            assert current.endswith("· torch 2.13.0+cpu")
