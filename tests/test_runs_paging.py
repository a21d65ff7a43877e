"""The history at sweep scale: pages read from the store in SQL, and the runs screen
showing a window of them (issue 12, item 7).

The store's pages are checked against its own unpaged order (every sort, both
directions, with each filter); the screen is driven with a small window so that
paging, sorting, filtering and marks across pages are exercised on a few dozen runs.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeTrainer
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

import ktui.screens.runs as runs_module
import ktui.screens.runs_table as table_module
from ktui.app import KtuiApp, create_app
from ktui.core.presets import load_catalog, shipped_presets_dir
from ktui.screens.compare import CompareScreen
from ktui.screens.runs import RunsScreen
from ktui.store import SORT_KEYS, RunStore
from ktui.store.schema import MIGRATIONS

RUNS = 45
SMALL_WINDOW = 10


def make_runs(store: RunStore, count: int = RUNS) -> None:
    """``count`` runs of 2 presets and 4 statuses; some have no best (no epochs) and
    some no test accuracy (failed), so the "NULLs last" paths are taken; every 4th
    is tagged."""
    for n in range(1, count + 1):
        preset = "dummy_binary" if n % 3 else "mnist_mlp"
        run_id = store.create_run(
            preset,
            values={"units": 16 * (n % 5 + 1)},
            defaults={"units": 32},
            epochs=2,
            started_at=1_700_000_000.0 + n * 60 + (n % 7) * 11,
        )
        if n % 9:
            for epoch in (1, 2):
                metric = "val_loss" if n % 2 else "val_accuracy"
                store.add_epoch(run_id, epoch, {metric: 0.1 + ((n * 7 + epoch) % 13) / 20})
        if n % 5 == 0:
            store.fail_run(run_id, "ValueError: broke")
        elif n % 11 == 0:
            continue  # still running
        else:
            accuracy = None if n % 6 == 0 else 0.5 + (n * 13 % 17) / 40
            store.finish_run(
                run_id, "finished" if n % 4 else "stopped", test_accuracy=accuracy, seconds=n
            )
        if n % 4 == 0:
            store.add_tags(run_id, ["sweep"])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RunStore]:
    runs = RunStore(tmp_path / "runs.sqlite")
    make_runs(runs)
    yield runs
    runs.close()


FILTERS: list[dict[str, Any]] = [
    {},
    {"preset": "dummy_binary"},
    {"status": "finished"},
    {"tag": "sweep"},
    {"preset": "mnist_mlp", "status": "failed"},
]


# --------------------------------------------------------------------------- the store
@pytest.mark.parametrize("filters", FILTERS)
def test_pages_are_the_list_cut_in_pieces(store: RunStore, filters: dict[str, Any]) -> None:
    for sort in (*SORT_KEYS, "values"):
        for reverse in (False, True):
            whole = [r.id for r in store.list_runs(sort=sort, reverse=reverse, **filters)]  # type: ignore[arg-type]
            assert len(whole) == store.count_runs(**filters)
            pages: list[int] = []
            for offset in range(0, len(whole) + 7, 7):
                page = store.list_runs(
                    sort=sort,  # type: ignore[arg-type]
                    reverse=reverse,
                    limit=7,
                    offset=offset,
                    **filters,
                )
                pages += [r.id for r in page]
            assert pages == whole, (sort, reverse, filters)
            for index, run_id in enumerate(whole):
                where = store.run_position(run_id, sort=sort, reverse=reverse, **filters)  # type: ignore[arg-type]
                assert where == index, (sort, reverse, filters, run_id)


def test_filters_are_applied_in_sql(store: RunStore) -> None:
    tagged = store.tagged("sweep")
    assert {r.id for r in store.list_runs(tag="sweep")} == tagged
    failed = store.list_runs(preset="mnist_mlp", status="failed", limit=100)
    assert failed and all(r.preset == "mnist_mlp" and r.status == "failed" for r in failed)
    assert store.run_position(1, tag="sweep") is None  # run 1 is not tagged
    assert store.count_runs(tag="nothing") == 0


def test_best_sorts_best_first_whatever_the_metric(store: RunStore) -> None:
    ranked = [r for r in store.list_runs(sort="best") if r.best_value is not None]
    keys = [r.best_value if r.best_metric == "val_loss" else -r.best_value for r in ranked]  # type: ignore[operator]
    assert keys == sorted(keys)
    assert all(r.best_value is None for r in store.list_runs(sort="best")[len(ranked) :])


def plan(store: RunStore, sql: str) -> str:
    db = sqlite3.connect(store.path)
    try:
        return " ".join(row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, {"now": 0}))
    finally:
        db.close()


@pytest.mark.parametrize(
    ("sort", "reverse"),
    [(key, reverse) for key in (*SORT_KEYS, "values") if key != "duration" for reverse in (0, 1)],
)
def test_a_page_is_read_from_an_index_not_sorted(store: RunStore, sort: str, reverse: int) -> None:
    from ktui.store.db import _order_parts

    expression, order, nullable = _order_parts(sort, bool(reverse))
    where = f"WHERE {expression} IS NOT NULL" if nullable else ""  # as the store pages
    sql = f"SELECT id FROM runs {where} ORDER BY {order} LIMIT 10 OFFSET 5"
    query_plan = plan(store, sql)
    assert "USING" in query_plan and "INDEX" in query_plan, query_plan
    assert "TEMP B-TREE" not in query_plan, query_plan


def test_an_old_store_gets_the_indexes(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    for migration in MIGRATIONS[:4]:
        migration(db)
    db.execute("PRAGMA user_version = 4")
    db.execute(
        "INSERT INTO runs (preset, status, started_at, best_metric, best_value)"
        " VALUES ('dummy_binary', 'finished', 1.0, 'val_loss', 0.5)"
    )
    db.commit()
    db.close()
    with RunStore(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        assert [r.id for r in store.list_runs(sort="best", limit=5)] == [1]
        assert "runs_by_best" in plan(store, "SELECT id FROM runs ORDER BY " + _best_order())


def _best_order() -> str:
    from ktui.store.db import _order_parts

    return _order_parts("best", False)[1]


# --------------------------------------------------------------------------- the screen
@pytest.fixture
def small_window(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(table_module, "WINDOW", SMALL_WINDOW)
    monkeypatch.setattr(runs_module, "WINDOW", SMALL_WINDOW)
    return SMALL_WINDOW


def make_app(store: RunStore) -> KtuiApp:
    trainer = FakeTrainer()
    return create_app(
        load_catalog([shipped_presets_dir()]),
        trainer_factory=lambda: trainer,
        clock=lambda: 0.0,
        store=store,
    )


async def wait_for(pilot: Pilot[int], predicate: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.02)


async def open_runs(pilot: Pilot[int]) -> RunsScreen:
    await pilot.press("h")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunsScreen))
    screen = pilot.app.screen
    assert isinstance(screen, RunsScreen)
    await wait_for(pilot, lambda: bool(screen.runs) and screen.loaded)
    await pilot.pause()
    return screen


def shown_ids(screen: RunsScreen) -> list[int]:
    table = screen.query_one("#runs-table", DataTable)
    return [int(str(table.get_row_at(i)[1])) for i in range(table.row_count)]


def status_line(screen: RunsScreen) -> str:
    return str(screen.query_one("#runs-count", Static).render())


def current_id(screen: RunsScreen) -> int:
    run = screen.current_run()
    assert run is not None
    return run.id


async def test_only_a_window_is_in_the_table_and_keys_move_through_all(
    store: RunStore, small_window: int
) -> None:
    app = make_app(store)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_runs(pilot)
        newest_first = [r.id for r in store.list_runs()]
        assert shown_ids(screen) == newest_first[:small_window]
        assert f"{RUNS} runs" in status_line(screen) and "row 1" in status_line(screen)
        for _ in range(small_window + 2):  # down past the window's last row
            await pilot.press("down")
        assert current_id(screen) == newest_first[small_window + 2]
        assert len(shown_ids(screen)) <= small_window
        assert "row 13" in status_line(screen)
        await pilot.press("ctrl+end")
        assert current_id(screen) == newest_first[-1]
        assert shown_ids(screen) == newest_first[-small_window:]
        assert f"row {RUNS}" in status_line(screen)
        await pilot.press("up")
        assert current_id(screen) == newest_first[-2]
        await pilot.press("ctrl+home")
        assert current_id(screen) == newest_first[0]
        await pilot.press("pagedown", "pagedown", "pagedown", "pagedown")
        position = screen.table.position
        assert position > small_window
        assert current_id(screen) == newest_first[position]
        await pilot.press("pageup")
        assert current_id(screen) == newest_first[screen.table.position]
        assert screen.table.position < position


async def test_the_next_window_is_read_in_a_thread_before_the_cursor_needs_it(
    store: RunStore, small_window: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(table_module, "READ_AHEAD", 3)
    app = make_app(store)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_runs(pilot)
        reads: list[tuple[int, bool]] = []  # (offset, on the event loop)
        read = screen._fetch

        def counting(start: int, count: int) -> table_module.Window:
            reads.append((start, threading.current_thread() is threading.main_thread()))
            return read(start, count)

        screen.table._fetch = counting
        newest_first = [r.id for r in store.list_runs()]
        for _ in range(small_window - 4):  # 4 rows from the window's end: nothing yet
            await pilot.press("down")
        await app.workers.wait_for_complete()
        assert reads == []
        await pilot.press("down")  # 3 rows from the end: the next window is read ahead
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert reads == [(small_window - table_module.MARGIN, False)]
        for _ in range(4):  # past the window's end: the rows read ahead, no query
            await pilot.press("down")
        assert current_id(screen) == newest_first[small_window + 1]
        start = screen.table.start
        assert start == small_window - table_module.MARGIN
        assert shown_ids(screen) == newest_first[start : start + small_window]
        assert all(not on_loop for _, on_loop in reads)
        # The screen knows the window shown (the line under the table uses it).
        assert [run.id for run in screen.runs] == shown_ids(screen)
        assert f"row {small_window + 2}" in status_line(screen)
        # Upwards too: near the window's start, the one before it is read ahead.
        for _ in range(screen.table.position - start):  # up to the window's first row
            await pilot.press("up")
        await app.workers.wait_for_complete()
        await pilot.pause()
        reads.clear()
        await pilot.press("up")
        assert current_id(screen) == newest_first[start - 1]
        assert all(not on_loop for _, on_loop in reads)


async def test_sorting_and_filtering_are_the_stores_order(
    store: RunStore, small_window: int
) -> None:
    app = make_app(store)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_runs(pilot)
        screen.sort_by("best")
        await wait_for(pilot, lambda: screen.sort_key == "best" and screen.loaded)
        best = [r.id for r in store.list_runs(sort="best")]
        # The cursor stayed on its run (the newest): the window around it is shown.
        start = screen.table.start
        assert shown_ids(screen) == best[start : start + small_window]
        assert current_id(screen) == RUNS and best.index(RUNS) == screen.table.position
        await pilot.press("ctrl+home")
        assert shown_ids(screen) == best[:small_window]
        await pilot.press("ctrl+end")
        assert shown_ids(screen) == best[-small_window:]  # runs without a best come last
        screen.set_filters(status="finished")
        await wait_for(pilot, lambda: screen.status_filter == "finished" and screen.loaded)
        finished = [r.id for r in store.list_runs(status="finished", sort="best")]
        start = screen.table.start
        assert shown_ids(screen) == finished[start : start + small_window]
        assert f"{len(finished)} of {RUNS} runs" in status_line(screen)
        screen.set_filters(tag="sweep")
        await wait_for(pilot, lambda: screen.tag_filter == "sweep" and screen.loaded)
        tagged = [r.id for r in store.list_runs(tag="sweep", sort="best")]
        await pilot.press("ctrl+home")
        assert shown_ids(screen) == tagged[:small_window]


async def test_the_cursor_keeps_its_run_when_the_sort_moves_it_to_another_page(
    store: RunStore, small_window: int
) -> None:
    app = make_app(store)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_runs(pilot)
        await pilot.press("ctrl+end")
        oldest = current_id(screen)
        screen.sort_by("id", reverse=True)  # oldest first: it is now at the top
        await wait_for(pilot, lambda: screen.sort_reverse and screen.loaded)
        assert current_id(screen) == oldest
        target = [r.id for r in store.list_runs(sort="best")][RUNS // 2]
        screen.table.go_to([r.id for r in store.list_runs(sort="id", reverse=True)].index(target))
        assert current_id(screen) == target
        screen.sort_by("best")
        await wait_for(pilot, lambda: screen.sort_key == "best" and screen.loaded)
        assert current_id(screen) == target
        assert screen.table.position == RUNS // 2


async def test_marks_survive_paging_and_compare_runs_from_different_pages(
    store: RunStore, small_window: int
) -> None:
    app = make_app(store)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_runs(pilot)
        newest_first = [r.id for r in store.list_runs()]
        first = current_id(screen)
        await pilot.press("space")
        await pilot.press("ctrl+end")
        last = current_id(screen)
        await pilot.press("space")
        assert first not in shown_ids(screen)
        assert sorted(screen.marked) == sorted([first, last])
        assert f"marked {min(first, last)}, {max(first, last)}" in status_line(screen)
        await pilot.press("ctrl+home")
        table = screen.query_one("#runs-table", DataTable)
        assert str(table.get_row(str(first))[0]) == "●"  # drawn marked on its page again
        assert newest_first[0] == first
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        assert sorted(screen.marked) == sorted([first, last])


async def test_enter_and_delete_act_on_the_highlighted_run_of_a_later_page(
    store: RunStore, small_window: int
) -> None:
    from ktui.screens.dialogs import ConfirmDialog
    from ktui.screens.run_detail import RunDetailScreen

    app = make_app(store)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_runs(pilot)
        newest_first = [r.id for r in store.list_runs()]
        for _ in range(small_window + 3):
            await pilot.press("down")
        chosen = newest_first[small_window + 3]
        assert current_id(screen) == chosen
        if store.get_run(chosen).status == "running":
            await pilot.press("down")
            chosen = current_id(screen)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        detail = app.screen
        assert isinstance(detail, RunDetailScreen) and detail.run_id == chosen
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen and screen.loaded)
        assert current_id(screen) == chosen
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: not store.has_run(chosen))
        await wait_for(pilot, lambda: app.screen is screen and screen.loaded)
        assert chosen not in shown_ids(screen)
        assert f"{RUNS - 1} runs" in status_line(screen)
        after = [r.id for r in store.list_runs()]
        assert current_id(screen) == after[screen.table.position]


# --------------------------------------------------------------------------- ktui runs
def test_ktui_runs_lists_the_newest_50_on_a_terminal_and_all_into_a_pipe(
    tmp_path: Path,
) -> None:
    import io

    from rich.console import Console

    from ktui.cli.runs import TERMINAL_LIMIT, list_runs

    with RunStore(tmp_path / "runs.sqlite") as store:
        make_runs(store, 60)

        def listed(*, terminal: bool, **options: Any) -> tuple[list[int], str]:
            buffer = io.StringIO()
            console = Console(file=buffer, force_terminal=terminal, width=200, color_system=None)
            assert list_runs(store, console, **options) == 0
            text = buffer.getvalue()
            rows = [line.split() for line in text.splitlines()]
            return [int(row[0]) for row in rows if row and row[0].isdigit()], text

        ids, text = listed(terminal=True)
        assert ids == list(range(60, 60 - TERMINAL_LIMIT, -1))
        assert f"({TERMINAL_LIMIT} of 60 runs; --limit 0 lists all)" in text
        ids, text = listed(terminal=True, limit=0)
        assert len(ids) == 60 and "--limit 0" not in text
        ids, text = listed(terminal=False)  # piped: every run, as before
        assert len(ids) == 60 and "--limit 0" not in text
        ids, text = listed(terminal=False, limit=5, tag="sweep")
        assert ids == [60, 56, 52, 48, 40]  # run 44 is still running, untagged
        assert "(5 of 14 runs; --limit 0 lists all)" in text
