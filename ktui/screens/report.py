"""The report key of the run screens: write an HTML report of some runs, off the UI thread.

One function, :func:`export_report`, that any screen showing runs calls with their
ids (the run detail and compare screens do; a leaderboard would pass its top runs).
The report goes beside the store — ``runs/N/report.html`` for one run,
``runs/report-12-14.html`` for several — and the screen says where; in a browser
(``ktui serve``) it is also opened in a new tab.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    app = cast("KtuiApp", screen.app)
    store = app.store
    if store is None:
        screen.notify("Runs are not recorded in this session (no run store).", severity="warning")
        return
    ids = list(run_ids)
    store_file = store.path
    screen.notify(
        f"Writing the report of run{'s' if len(ids) > 1 else ''} {', '.join(map(str, ids))}…",
        timeout=3,
    )

    def write() -> None:
        from ktui.report import write_report

        try:
            # Its own connection: the UI thread keeps using the app's.
            with RunStore(store_file) as own:
                target = report_path(own, ids)
                target.parent.mkdir(parents=True, exist_ok=True)
                written = write_report(own, ids, target)
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
        write,
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
