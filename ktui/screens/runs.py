"""The run history: every recorded run in a sortable, filterable table.

From here a run opens in detail (:mod:`ktui.screens.run_detail`), two to four
marked runs are compared (:mod:`ktui.screens.compare`), and a run is re-run
(same values, or through the pre-filled form) or deleted after asking.

The screen reads only run summaries (``RunStore.list_runs``: the runs table,
never the epochs), sorts and filters them in memory, and fills the table a
chunk at a time so it answers keys at once even with thousands of runs.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Label, Select, Static

from ktui.cli.runs import (
    format_best,
    format_duration,
    format_error_percent,
    format_time,
    format_values,
)
from ktui.core import data as data_mod
from ktui.core.errors import KtuiError, StoreError
from ktui.core.format import format_metric
from ktui.core.presets import RunConfig
from ktui.runs import RerunPlan, plan_for_run
from ktui.screens.dialogs import ConfirmDialog
from ktui.store import STATUSES, RunStore, RunSummary

if TYPE_CHECKING:
    from ktui.app import KtuiApp

FIRST_CHUNK = 60
"""Rows put in the table before the screen is first drawn (more than a screen's worth)."""

CHUNK = 150
"""Rows added per step after the first paint. A DataTable row costs about 0.2 ms to add
and measure, and each step re-renders what the table shows: 150 rows keep a key
pressed meanwhile waiting at most ~50 ms, in few enough steps."""

POLL_SECONDS = 2.0
"""How often the list is re-read while some run is still going."""

VALUES_WIDTH = (12, 40)
"""The hyperparameters column gets what the screen's width leaves, within these bounds;
longer texts are cut with "…" (the line under the table has them all)."""

STATUS_COLOR = {
    "running": "text-primary",
    "finished": "text-success",
    "stopped": "text-warning",
    "failed": "text-error",
    "interrupted": "text-secondary",
}
"""Theme variables for each status (the same hues as ``ktui runs``)."""

MIN_COMPARE, MAX_COMPARE = 2, 4

_TABLE_ACTIONS = frozenset(
    ("open", "mark", "compare", "rerun", "edit", "delete", "sort", "reverse")
)


# --------------------------------------------------------------------------- columns and sorting
@dataclass(frozen=True)
class Column:
    """A column of the runs table; ``key`` is also what it sorts by."""

    key: str
    label: str
    natural: str
    """How the column sorts by default, for the status line ("newest first")."""
    reverse: str
    right: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("id", "id", "newest first", "oldest first", right=True),
    Column("preset", "preset", "A to Z", "Z to A"),
    Column("values", "hyperparameters", "A to Z", "Z to A"),
    Column("best", "best", "best first", "worst first"),
    Column("test_error", "err %", "lowest first", "highest first", right=True),
    Column("status", "status", "A to Z", "Z to A"),
    Column("started", "started", "newest first", "oldest first"),
    Column("duration", "duration", "longest first", "shortest first", right=True),
)
"""The columns after the mark column, in order; ``s`` cycles through them."""

SORT_COLUMNS: dict[str, Column] = {column.key: column for column in COLUMNS}


def values_text(run: RunSummary) -> str:
    """The hyperparameters that differ from the preset's defaults, or ``defaults``."""
    changed = run.changed_values()
    return format_values(changed) if changed else "defaults"


def _sort_value(run: RunSummary, key: str, now: float) -> Any:
    """The value sorted on, oriented so that ascending is the natural order; None sorts last."""
    if key == "id":
        return -run.id
    if key == "started":
        return -run.started_at
    if key == "preset":
        return run.preset
    if key == "status":
        return run.status
    if key == "values":
        return values_text(run)
    if key == "best":
        if run.best_value is None or run.best_metric is None:
            return None
        return run.best_value if run.policy.lower_is_better(run.best_metric) else -run.best_value
    if key == "test_error":
        return None if run.test_accuracy is None else -run.test_accuracy
    if key == "duration":
        end = run.ended_at if run.ended_at is not None else now
        return -(end - run.started_at)
    raise ValueError(f"cannot sort runs by {key!r}")


def sort_runs(
    runs: Sequence[RunSummary], key: str, *, reverse: bool = False, now: float | None = None
) -> list[RunSummary]:
    """Runs in the order ``RunStore.list_runs(sort=key, reverse=reverse)`` gives.

    Natural directions as the store's (newest, best, lowest error, longest first;
    text A to Z); missing values last either way; ties newest first (oldest first
    when reversed). ``values`` (the hyperparameters text) sorts A to Z.
    """
    now = time.time() if now is None else now
    ordered = sorted(runs, key=lambda run: run.id, reverse=not reverse)
    keyed = [(_sort_value(run, key, now), run) for run in ordered]
    present = [(value, run) for value, run in keyed if value is not None]
    missing = [run for value, run in keyed if value is None]
    # sorted() is stable, also with reverse=True: the id order above breaks ties.
    present.sort(key=lambda pair: pair[0], reverse=reverse)
    return [run for _, run in present] + missing


def filter_runs(
    runs: Sequence[RunSummary], *, preset: str | None = None, status: str | None = None
) -> list[RunSummary]:
    """The runs of ``preset`` with ``status`` (None: any)."""
    return [
        run
        for run in runs
        if (preset is None or run.preset == preset) and (status is None or run.status == status)
    ]


# --------------------------------------------------------------------------- re-run, edit, delete
def training_in_progress(app: KtuiApp) -> str | None:
    """A description of the run that is going in this app, or None."""
    from ktui.screens.training import TrainingScreen

    for screen in app.screen_stack:
        if isinstance(screen, TrainingScreen) and screen.running and not screen.attached:
            which = f"run {screen.run_id}" if screen.run_id is not None else "a run"
            return f"{which} of {screen.preset_name}"
    return None


def plan_rerun(app: KtuiApp, run: RunSummary) -> RerunPlan | str:
    """The re-run of ``run`` by the one planner (:func:`ktui.runs.plan_for_run`, also
    used by the training screen and the command line), or why it cannot be re-run."""
    try:
        if app.store is None:
            raise KtuiError("the run store is not open")
        return plan_for_run(app.catalog.presets, app.store.get_run(run.id))
    except KtuiError as exc:
        return f"Run {run.id} cannot be re-run: {exc}."


def rerun(screen: Screen[Any], run: RunSummary) -> bool:
    """Start a run with ``run``'s preset, values and data; False (and a message) if not."""
    app = cast("KtuiApp", screen.app)
    busy = training_in_progress(app)
    if busy is not None:
        app.notify(f"{busy.capitalize()} is going; wait for it to end first.", severity="warning")
        return False
    plan = plan_rerun(app, run)
    if isinstance(plan, str):
        app.notify(plan, severity="error", timeout=10)
        return False
    if plan.notes:
        app.notify(
            f"Re-running run {run.id}, but it cannot keep everything: "
            + "; ".join(plan.notes)
            + ". Press e instead to edit it first.",
            severity="warning",
            timeout=10,
        )
    try:
        config = plan.config()
    except KtuiError as exc:
        app.notify(
            f"Run {run.id} cannot be re-run with the same values: {exc}. Press e to edit them.",
            severity="error",
            timeout=10,
        )
        return False
    status = data_mod.locate(config.data)
    if status.state == "missing":
        app.notify(status.message, severity="error", timeout=10)
        return False
    start_training(app, config)
    return True


def start_training(app: KtuiApp, config: RunConfig) -> None:
    """Push a training screen for ``config``."""
    from ktui.screens.training import TrainingScreen

    app.push_screen(TrainingScreen(config))


def edit_rerun(screen: Screen[Any], run: RunSummary) -> bool:
    """Open the form of ``run``'s preset, filled in with its values and data."""
    app = cast("KtuiApp", screen.app)
    plan = plan_rerun(app, run)
    if isinstance(plan, str):
        app.notify(plan, severity="error", timeout=10)
        return False
    from ktui.screens.form import FormScreen

    app.push_screen(FormScreen(plan.preset, plan.values, plan.data))
    if plan.notes:
        app.notify(
            "; ".join(plan.notes).capitalize() + ". The form has the preset's current fields.",
            severity="warning",
            timeout=8,
        )
    return True


def confirm_delete(screen: Screen[Any], run: RunSummary, deleted: Callable[[int], None]) -> None:
    """Ask, then delete ``run`` (its epochs, log and folder); ``deleted(id)`` afterwards."""
    app = cast("KtuiApp", screen.app)
    store = app.store
    if store is None:
        return

    def answer(confirmed: bool | None) -> None:
        if not confirmed:
            return
        try:
            store.delete_run(run.id)
        except StoreError as exc:
            app.notify(f"Run {run.id} was not deleted: {exc}", severity="error", timeout=10)
            return
        app.notify(f"Deleted run {run.id}.")
        deleted(run.id)

    app.push_screen(
        ConfirmDialog(
            f"Delete run {run.id} ({run.preset}, {run.status})? Its epochs, log and saved "
            "model are removed for good.",
            confirm="Delete",
        ),
        answer,
    )


# --------------------------------------------------------------------------- the screen
class RunsScreen(Screen[None]):
    """Every recorded run: sort, filter, open, compare, re-run, delete."""

    # The table, not the first filter: one focus change (and footer rebuild) fewer.
    AUTO_FOCUS = "#runs-table"

    BINDINGS = [
        # priority: the table would take Enter itself and the footer would not show it.
        # In the order the footer shows them: what fits in 80 columns comes first.
        Binding("enter", "open", "Details", priority=True),
        Binding("space", "mark", "Mark"),
        Binding("c", "compare", "Compare"),
        Binding("s", "sort", "Sort"),
        Binding("S", "reverse", "Reverse", show=False),
        Binding("f", "filter", "Filter"),
        Binding("r", "rerun", "Re-run"),
        Binding("e", "edit", "Edit & re-run"),
        Binding("d,delete", "delete", "Delete"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.runs: list[RunSummary] = []
        """Every run in the store, as last read."""
        self.view: list[RunSummary] = []
        """The runs shown, filtered and sorted."""
        self.sort_key = "id"
        self.sort_reverse = False
        self.preset_filter: str | None = None
        self.status_filter: str | None = None
        self.marked: list[int] = []
        """Run ids marked for comparison, in the order they were marked."""
        self._by_id: dict[int, RunSummary] = {}
        self._generation = 0
        self._filled = 0
        self._cursor_target: int | None = None
        self._presets_offered: tuple[str, ...] = ()
        self._best_metric: str | None = None
        self._values_width = VALUES_WIDTH[0]
        self._laid_out_for = 0

    @property
    def ktui(self) -> KtuiApp:
        return cast("KtuiApp", self.app)

    @property
    def store(self) -> RunStore | None:
        return self.ktui.store

    @property
    def loaded(self) -> bool:
        """True once every row of the view is in the table."""
        return self._filled >= len(self.view)

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Horizontal(id="runs-filters"):
            yield Label("Preset", classes="filter-label")
            yield Select[str](
                [("all presets", "")],
                value="",
                allow_blank=False,
                compact=True,
                id="filter-preset",
            )
            yield Label("Status", classes="filter-label")
            yield Select[str](
                [("all statuses", ""), *((status, status) for status in STATUSES)],
                value="",
                allow_blank=False,
                compact=True,
                id="filter-status",
            )
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="runs-empty")
        yield Static("", id="runs-count")
        yield Static("", id="runs-current")
        yield Footer()

    def on_mount(self) -> None:
        self._layout_columns()
        if self.store is None:
            self._show_empty(
                "Runs are not recorded in this session (it has no run store), so there is "
                "no history to show."
            )
            return
        self.set_interval(POLL_SECONDS, self._poll)

    def on_screen_resume(self) -> None:
        # Also sent when the screen is first shown, so the runs are read once here.
        # Back from a run, the form, a detail or a comparison, the store may have changed.
        if self.store is not None:
            self.reload()

    # ------------------------------------------------------------------ data
    def reload(self) -> None:
        """Read the runs again and show them (the cursor stays on its run)."""
        store = self.store
        if store is None:
            return
        try:
            runs = store.list_runs()
        except StoreError as exc:
            self._show_empty(f"Could not read the run store: {exc}")
            return
        if runs == self.runs and self.view:
            self._refresh_running()
            return
        if self._update_in_place(runs):
            return
        self.runs = runs
        self._by_id = {run.id: run for run in runs}
        self.marked = [run_id for run_id in self.marked if run_id in self._by_id]
        self._offer_presets()
        self._apply(keep_cursor=True)

    def _poll(self) -> None:
        """While a run is going, follow it (epochs, best, status, duration)."""
        # Hidden under another screen, nothing is read: it is read again on return.
        if self.is_current and any(run.status == "running" for run in self.runs):
            self.reload()

    def _update_in_place(self, runs: list[RunSummary]) -> bool:
        """Runs that only progressed (epochs, best, duration) get their cells updated.

        The rows stay where they are until the next sort or filter; a new, deleted
        or ended run lays the table out again (False).
        """
        old = self._by_id
        if not self.view or not self.loaded or len(runs) != len(old):
            return False
        if any(run.id not in old or old[run.id].status != run.status for run in runs):
            return False
        table = self.query_one("#runs-table", DataTable)
        styles = self._status_styles()
        self.runs = runs
        self._by_id = {run.id: run for run in runs}
        self.view = [self._by_id[run.id] for run in self.view]
        keys = ["mark", *(column.key for column in COLUMNS)]
        for run in runs:
            if run == old[run.id] or str(run.id) not in table.rows:
                continue
            before = table.get_row(str(run.id))
            for key, cell, was in zip(keys, self._cells(run, styles), before, strict=True):
                if cell != was:
                    table.update_cell(str(run.id), key, cell)
        self._show_current()
        return True

    def _refresh_running(self) -> None:
        """Only the durations of running runs change without the store changing."""
        table = self.query_one("#runs-table", DataTable)
        for run in self.runs:
            if run.status == "running" and str(run.id) in table.rows:
                table.update_cell(str(run.id), "duration", Text(format_duration(run)))

    def _offer_presets(self) -> None:
        presets = tuple(sorted({run.preset for run in self.runs}))
        if presets == self._presets_offered:
            return
        self._presets_offered = presets
        select = cast("Select[str]", self.query_one("#filter-preset", Select))
        keep = self.preset_filter
        with self.prevent(Select.Changed):
            select.set_options([("all presets", ""), *((name, name) for name in presets)])
            select.value = keep if keep in presets else ""
        if keep not in presets:
            self.preset_filter = None

    def _apply(self, *, keep_cursor: bool) -> None:
        """Filter, sort and show; the highlighted run stays highlighted if it is shown."""
        current = self.current_run() if keep_cursor else None
        view = filter_runs(self.runs, preset=self.preset_filter, status=self.status_filter)
        self.view = sort_runs(view, self.sort_key, reverse=self.sort_reverse)
        self._show_view(None if current is None else current.id)

    def _show_view(self, cursor_run: int | None) -> None:
        empty = self.query_one("#runs-empty", Static)
        self._generation += 1
        self._filled = 0
        self._cursor_target = cursor_run
        self._layout_columns()
        # Shown again after a store that could not be read (see _show_empty).
        self.query_one("#runs-table", DataTable).display = True
        self.query_one("#runs-filters").display = True
        if not self.view:
            if not self.runs:
                message = "No runs recorded yet. Train one from a preset (esc, then Enter)."
            else:
                message = "No run matches the filters (f changes them)."
            empty.update(Text(message, style="italic"))
            empty.display = True
        else:
            empty.display = False
        self._fill(self._generation, FIRST_CHUNK)
        self._show_status()

    def _fill(self, generation: int, count: int) -> None:
        """Add the next ``count`` rows; the rest follow after the next repaint."""
        if generation != self._generation or not self.is_mounted:
            return  # a newer sort or filter started over
        if count == CHUNK:
            _pause_gc()
        table = self.query_one("#runs-table", DataTable)
        end = min(len(self.view), self._filled + count)
        styles = self._status_styles()
        for run in self.view[self._filled : end]:
            table.add_row(*self._cells(run, styles), key=str(run.id))
        self._filled = end
        target = self._cursor_target
        if target is not None and str(target) in table.rows:
            table.move_cursor(row=table.get_row_index(str(target)), animate=False)
            self._cursor_target = None
        if end < len(self.view):
            self.call_after_refresh(self._fill, generation, CHUNK)
        else:
            self._cursor_target = None
            _resume_gc()
        self._show_current()

    def on_unmount(self) -> None:
        _resume_gc()  # closed while filling

    def _status_styles(self) -> dict[str, str]:
        variables = self.app.theme_variables
        return {status: variables.get(var, "") for status, var in STATUS_COLOR.items()}

    def _layout_columns(self) -> None:
        """Empty the table and lay its columns out for the view and the screen's width.

        The columns up to the status fit in the width when they can: the
        hyperparameters column gets what the others leave; when every run shown is
        judged by the same metric, its name goes in the header, not in each cell.
        The started and duration columns may need scrolling right (→) on a narrow
        screen; the line under the table always has them.
        """
        table = self.query_one("#runs-table", DataTable)
        table.clear(columns=True)
        metrics = {run.best_metric for run in self.view if run.best_metric is not None}
        self._best_metric = metrics.pop() if len(metrics) == 1 else None
        labels = {column.key: self._label(column) for column in COLUMNS}
        if self._best_metric is not None:
            labels["best"] = self._label(SORT_COLUMNS["best"], f"best {self._best_metric}")

        def widest(key: str, cells: Sequence[str]) -> int:
            return max([labels[key].cell_len, *(len(cell) for cell in cells)])

        sample = self.view
        fixed = 1 + 2  # the mark column and its padding
        fixed += widest("id", [str(run.id) for run in sample[:1]]) + 2
        fixed += widest("preset", [run.preset for run in sample]) + 2
        fixed += widest("best", [self._best_text(run) for run in sample]) + 2
        fixed += widest("test_error", [format_error_percent(run) for run in sample]) + 2
        fixed += widest("status", [run.status for run in sample]) + 2
        room = self.app.size.width - 2 - fixed - 2  # the scrollbar, the column's padding
        low, high = VALUES_WIDTH
        if room < labels["values"].cell_len:
            labels["values"] = self._label(SORT_COLUMNS["values"], "values")
        self._values_width = max(low, min(high, room))
        self._laid_out_for = self.app.size.width
        table.add_column(" ", key="mark")
        for column in COLUMNS:
            table.add_column(labels[column.key], key=column.key)

    def _best_text(self, run: RunSummary) -> str:
        if self._best_metric is not None:
            return format_metric(run.best_value) if run.best_value is not None else "—"
        return format_best(run)

    def on_resize(self) -> None:
        # The hyperparameters column is sized to the screen: lay the table out again.
        if self.view and self.app.size.width != self._laid_out_for:
            current = self.current_run()
            self._show_view(None if current is None else current.id)

    def _cells(self, run: RunSummary, styles: dict[str, str]) -> list[Text]:
        values = values_text(run)
        if len(values) > self._values_width:
            values = values[: self._values_width - 1] + "…"
        return [
            self._mark_cell(run.id),
            Text(str(run.id), justify="right"),
            Text(run.preset),
            Text(values),
            Text(self._best_text(run)),
            Text(format_error_percent(run), justify="right"),
            Text(run.status, style=styles.get(run.status, "")),
            Text(format_time(run.started_at)),
            Text(format_duration(run), justify="right"),
        ]

    def _mark_cell(self, run_id: int) -> Text:
        if run_id in self.marked:
            return Text("●", style=f"bold {self.app.theme_variables.get('text-accent', '')}")
        return Text(" ")

    def _label(self, column: Column, text: str | None = None) -> Text:
        """A header; the sorted column's has an arrow (▼ natural order, ▲ reversed)."""
        label = column.label if text is None else text
        if column.key != self.sort_key:
            return Text(label)
        return Text(label + (" ▲" if self.sort_reverse else " ▼"), style="bold")

    def _show_empty(self, message: str) -> None:
        self.query_one("#runs-table", DataTable).display = False
        self.query_one("#runs-filters").display = False
        empty = self.query_one("#runs-empty", Static)
        empty.update(Text(message, style="italic"))
        empty.display = True
        self.query_one("#runs-current", Static).update("")

    # ------------------------------------------------------------------ status lines
    def _show_status(self) -> None:
        column = SORT_COLUMNS[self.sort_key]
        order = column.reverse if self.sort_reverse else column.natural
        shown = len(self.view)
        total = len(self.runs)
        count = f"{shown:,} of {total:,} runs" if shown != total else f"{total:,} runs"
        text = Text(f"{count} · sorted by {column.label}, {order}")
        if self.marked:
            text.append(f" · marked {', '.join(map(str, sorted(self.marked)))}", style="bold")
        self.query_one("#runs-count", Static).update(text)

    def _show_current(self) -> None:
        run = self.current_run()
        line = self.query_one("#runs-current", Static)
        if run is None:
            line.update("")
            return
        text = Text()
        text.append(f"run {run.id}", style="bold")
        text.append(f" · {run.preset} · {run.status} · {values_text(run)}")
        if run.best_metric is not None:
            text.append(f" · best {format_best(run, epoch=True)}")
        if run.test_error_percent is not None:
            text.append(f" · test error {format_error_percent(run)}%")
        if run.error:
            text.append(f" · {run.error}", style=self.app.theme_variables.get("text-error", ""))
        text.append(f" · started {format_time(run.started_at)} · {format_duration(run)}")
        line.update(text)

    @on(DataTable.RowHighlighted, "#runs-table")
    def _highlighted(self, _: DataTable.RowHighlighted) -> None:
        self._show_current()

    @on(DataTable.RowSelected, "#runs-table")
    def _selected(self, _: DataTable.RowSelected) -> None:
        self.action_open()

    # ------------------------------------------------------------------ selection
    def current_run(self) -> RunSummary | None:
        """The highlighted run, or None when the table is empty."""
        table = self.query_one("#runs-table", DataTable)
        if not table.row_count or not table.display:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:  # noqa: BLE001 - an empty or shrinking table has no cursor cell
            return None
        return self._by_id.get(int(key)) if key is not None else None

    # ------------------------------------------------------------------ sorting and filters
    @on(DataTable.HeaderSelected, "#runs-table")
    def _header(self, event: DataTable.HeaderSelected) -> None:
        key = event.column_key.value
        if key not in SORT_COLUMNS:
            return
        if key == self.sort_key:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_key, self.sort_reverse = key, False
        self._sorted()

    def action_sort(self) -> None:
        """Sort by the next column."""
        keys = [column.key for column in COLUMNS]
        self.sort_key = keys[(keys.index(self.sort_key) + 1) % len(keys)]
        self.sort_reverse = False
        self._sorted()

    def action_reverse(self) -> None:
        """Reverse the order."""
        self.sort_reverse = not self.sort_reverse
        self._sorted()

    def sort_by(self, key: str, *, reverse: bool = False) -> None:
        """Sort by column ``key`` (one of :data:`SORT_COLUMNS`)."""
        if key not in SORT_COLUMNS:
            raise ValueError(f"no column {key!r}")
        self.sort_key, self.sort_reverse = key, reverse
        self._sorted()

    def _sorted(self) -> None:
        self._apply(keep_cursor=True)

    def action_filter(self) -> None:
        """Move to the filters (Tab to the next one, Enter opens one, Esc goes back)."""
        self.query_one("#filter-preset", Select).focus()

    @on(Select.Changed, "#filter-preset")
    def _preset_changed(self, event: Select.Changed) -> None:
        # A Select also reports its first value when it is mounted: not a change.
        if _chosen(event.value) != self.preset_filter:
            self.preset_filter = _chosen(event.value)
            self._apply(keep_cursor=True)

    @on(Select.Changed, "#filter-status")
    def _status_changed(self, event: Select.Changed) -> None:
        if _chosen(event.value) != self.status_filter:
            self.status_filter = _chosen(event.value)
            self._apply(keep_cursor=True)

    def set_filters(self, *, preset: str | None = None, status: str | None = None) -> None:
        """Show only ``preset``'s runs with ``status`` (None: any), as the filter bar does."""
        self.query_one("#filter-preset", Select).value = preset or ""
        self.query_one("#filter-status", Select).value = status or ""

    # ------------------------------------------------------------------ actions
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in _TABLE_ACTIONS:
            # Greyed out while a filter has the focus: its keys (Enter opens it, letters
            # search its choices) must reach it.
            if self.store is None:
                return False
            return True if isinstance(self.focused, DataTable) else None
        return True

    def action_back(self) -> None:
        """Back to the table from the filters; back to the previous screen from the table."""
        if not isinstance(self.focused, DataTable) and self.store is not None:
            self.query_one("#runs-table", DataTable).focus()
            return
        self.app.pop_screen()

    def action_open(self) -> None:
        """Open the highlighted run: all its values, epochs, curves and log."""
        run = self.current_run()
        if run is None:
            return
        if run.status == "running" and self.store is not None:
            # A live run opens as it is shown while training: followed, and steerable.
            from ktui.screens.training import TrainingScreen

            self.app.push_screen(TrainingScreen(None, attach=run.id))
            return
        from ktui.screens.run_detail import RunDetailScreen

        self.app.push_screen(RunDetailScreen(run.id))

    def action_mark(self) -> None:
        """Mark or unmark the highlighted run for comparison, then go to the next one."""
        run = self.current_run()
        if run is None:
            return
        if run.id in self.marked:
            self.marked.remove(run.id)
        elif len(self.marked) >= MAX_COMPARE:
            self.notify(
                f"At most {MAX_COMPARE} runs can be compared; unmark one first (space).",
                severity="warning",
            )
            return
        else:
            self.marked.append(run.id)
        table = self.query_one("#runs-table", DataTable)
        table.update_cell(str(run.id), "mark", self._mark_cell(run.id))
        table.action_cursor_down()
        self._show_status()

    def action_compare(self) -> None:
        """Compare the marked runs (2 to 4): curves overlaid, differing values side by side."""
        count = len(self.marked)
        if not MIN_COMPARE <= count <= MAX_COMPARE:
            self.notify(
                f"Mark {MIN_COMPARE} to {MAX_COMPARE} runs with space to compare them "
                f"({count} marked).",
                severity="warning",
            )
            return
        from ktui.screens.compare import CompareScreen

        self.app.push_screen(CompareScreen(sorted(self.marked)))

    def action_rerun(self) -> None:
        """Run the highlighted run again with the same preset, values and data."""
        run = self.current_run()
        if run is not None:
            rerun(self, run)

    def action_edit(self) -> None:
        """Open the form with the highlighted run's values, to change one and run."""
        run = self.current_run()
        if run is not None:
            edit_rerun(self, run)

    def action_delete(self) -> None:
        """Delete the highlighted run, after asking."""
        run = self.current_run()
        if run is not None:
            confirm_delete(self, run, self._deleted)

    def _deleted(self, run_id: int) -> None:
        table = self.query_one("#runs-table", DataTable)
        index = table.cursor_row
        self.runs = [run for run in self.runs if run.id != run_id]
        self.view = [run for run in self.view if run.id != run_id]
        self._by_id.pop(run_id, None)
        if run_id in self.marked:
            self.marked.remove(run_id)
        if str(run_id) in table.rows:
            table.remove_row(str(run_id))
            self._filled -= 1
            if table.row_count:
                table.move_cursor(row=min(index, table.row_count - 1), animate=False)
        if not self.view:
            self._show_view(None)
        self._show_status()
        self._show_current()


_gc_paused = False


def _pause_gc() -> None:
    """Hold Python's cyclic garbage collector while rows are added in the background.

    Adding a thousand rows grows the heap by about half, which triggers a full
    collection (60-110 ms here) in the middle of the filling, just as keys are
    being pressed. Textual pauses it the same way for smooth scrolling
    (``App.PAUSE_GC_ON_SCROLL``); the filling lasts well under a second.
    """
    global _gc_paused
    if not _gc_paused and gc.isenabled():
        gc.disable()
        _gc_paused = True


def _resume_gc() -> None:
    global _gc_paused
    if _gc_paused:
        _gc_paused = False
        gc.enable()


def _chosen(value: object) -> str | None:
    """A filter's value: the choice, or None for "all" (the empty value)."""
    return value if isinstance(value, str) and value else None
