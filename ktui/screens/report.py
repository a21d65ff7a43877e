"""The report key of the run screens: write an HTML report of some runs, off the UI thread.

:func:`export_report`, that any screen showing runs calls with their ids (the run
detail and compare screens do), and :func:`export_sweep_report` for a sweep (the
leaderboard). The report goes beside the store — ``runs/N/report.html`` for one run,
``runs/report-12-14.html`` for several, ``runs/report-sweep-3.html`` for a sweep — and
the screen says where; in a browser (``ktui serve``) it is also opened in a new tab.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from textual.screen import Screen

from ktui.core.errors import KtuiError
from ktui.store import RunStore

if TYPE_CHECKING:
    from ktui.app import KtuiApp

REPORT_FILE = "report.html"
"""A single run's report, in its folder beside model.keras and predictions.npz."""


def report_path(store: RunStore, run_ids: Sequence[int]) -> Path:
    """Where the report of ``run_ids`` is written."""
    from ktui.report import default_name

    if len(run_ids) == 1:
        return store.folder(run_ids[0]) / REPORT_FILE
    return store.runs_dir / default_name(run_ids)


def export_report(screen: Screen[Any], run_ids: Sequence[int]) -> None:
    """Write the report of ``run_ids`` in a thread worker; notify where it went, or why not.

    matplotlib takes a moment to import and draw, so the screen stays responsive
    meanwhile; a second press while one is being written replaces it (``exclusive``).
    """
    ids = list(run_ids)

    def write(store: RunStore) -> Path:
        from ktui.report import write_report

        target = report_path(store, ids)
        target.parent.mkdir(parents=True, exist_ok=True)
        return write_report(store, ids, target)

    _export(screen, f"run{'s' if len(ids) > 1 else ''} {', '.join(map(str, ids))}", write)


def export_sweep_report(screen: Screen[Any], sweep_id: int) -> None:
    """Write the report of sweep ``sweep_id`` (leaderboard, importance, parallel
    coordinates, the best trial's curves) beside the run folders, as :func:`export_report`."""

    def write(store: RunStore) -> Path:
        from ktui.report import default_sweep_name, write_sweep_report

        target = store.runs_dir / default_sweep_name(sweep_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        return write_sweep_report(store, sweep_id, target)

    _export(screen, f"sweep {sweep_id}", write)


def _export(screen: Screen[Any], what: str, write: Callable[[RunStore], Path]) -> None:
    app = cast("KtuiApp", screen.app)
    store = app.store
    if store is None:
        screen.notify("Runs are not recorded in this session (no run store).", severity="warning")
        return
    store_file = store.path
    screen.notify(f"Writing the report of {what}…", timeout=3)

    def work() -> None:
        try:
            # Its own connection: the UI thread keeps using the app's.
            with RunStore(store_file) as own:
                written = write(own)
        except KtuiError as exc:
            app.call_from_thread(
                screen.notify, f"No report: {exc.message}", severity="error", timeout=10
            )
            return
        except OSError as exc:
            app.call_from_thread(screen.notify, f"No report: {exc}", severity="error", timeout=10)
            return
        app.call_from_thread(_written, app, screen, written)

    screen.run_worker(
        work,
        thread=True,
        exclusive=True,
        group="report",
        exit_on_error=False,
        description="write an HTML report",
    )


def _written(app: KtuiApp, screen: Screen[Any], path: Path) -> None:
    screen.notify(f"Report written to {path}", timeout=10)
    if app.is_web:
        # In a browser tab (ktui serve) the file is on the server: send it over.
        app.deliver_binary(path, open_method="browser", mime_type="text/html", name=path.name)
