"""Reports you can send: one or more runs as a self-contained HTML file or as Markdown.

``collect`` reads the store (plain Python), ``render`` lays the report out, and
``charts`` draws its pictures with matplotlib (the optional ``ktui[report]``
dependency). Nothing here imports TensorFlow, Keras or Textual; the CLI
(``ktui report``) and the dashboard's report key both call :func:`write_report`.
"""

from __future__ import annotations

import contextlib
import gc
import os
import secrets
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Literal

from ktui.core.errors import KtuiError
from ktui.report.collect import (
    Report,
    RunReport,
    SweepReport,
    collect,
    collect_sweep,
    parse_run_ids,
)
from ktui.store import RunStore

ReportFormat = Literal["html", "md"]
"""``html``: one self-contained file; ``md``: Markdown with PNG files beside it."""

FORMATS: tuple[ReportFormat, ...] = ("html", "md")

__all__ = [
    "FORMATS",
    "Report",
    "ReportFormat",
    "RunReport",
    "SweepReport",
    "collect",
    "collect_sweep",
    "default_name",
    "default_sweep_name",
    "parse_run_ids",
    "write_report",
    "write_sweep_report",
]


def default_name(run_ids: Sequence[int], fmt: ReportFormat = "html") -> str:
    """``report-12.html``, ``report-12-14-15.md``."""
    return "report-" + "-".join(str(i) for i in run_ids) + f".{fmt}"


def write_report(
    store: RunStore, run_ids: Sequence[int], output: Path, fmt: ReportFormat = "html"
) -> Path:
    """Write the report of ``run_ids`` to ``output``; returns the path written.

    An unknown run id, missing matplotlib or an output that cannot be written is a
    :class:`KtuiError` saying which; nothing is left half-written (the file is
    written beside its final name and renamed into place).
    """
    from ktui.report.charts import require_matplotlib

    with _collector_paused():
        require_matplotlib()
        report = collect(store, run_ids)
        from ktui.report.render import render_html, render_markdown

        return _write(
            output,
            fmt,
            default_name(run_ids, fmt),
            lambda: render_html(report),
            lambda files: render_markdown(report, files),
        )


def default_sweep_name(sweep_id: int, fmt: ReportFormat = "html") -> str:
    """``report-sweep-3.html``."""
    return f"report-sweep-{sweep_id}.{fmt}"


def write_sweep_report(
    store: RunStore, sweep_id: int, output: Path, fmt: ReportFormat = "html"
) -> Path:
    """Write the report of sweep ``sweep_id`` (leaderboard, importance, parallel
    coordinates, the best trial's curves) to ``output``; returns the path written.
    Mistakes are :class:`KtuiError` as for :func:`write_report`."""
    from ktui.report.charts import require_matplotlib

    with _collector_paused():
        require_matplotlib()
        report = collect_sweep(store, sweep_id)
        from ktui.report.sweep import render_sweep_html, render_sweep_markdown

        return _write(
            output,
            fmt,
            default_sweep_name(sweep_id, fmt),
            lambda: render_sweep_html(report),
            lambda files: render_sweep_markdown(report, files),
        )


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a report is made (as it was after).

    Importing matplotlib makes some 60,000 objects the collector tracks and drawing
    makes thousands more; the collector would walk them over and over as they appear
    (about 190 collections, 0.08–0.1 s of CPU in a fresh ``ktui report``: a tenth of
    it) and find nothing to free. The few cycles a report leaves (a figure and its
    artists) wait for the next collection after it. Nested or concurrent reports are
    fine: whoever found the collector on turns it back on.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _write(
    output: Path,
    fmt: ReportFormat,
    suggestion: str,
    html: Callable[[], str],
    markdown: Callable[[str], tuple[str, dict[str, bytes]]],
) -> Path:
    output = output.expanduser()
    if output.is_dir():
        raise KtuiError(
            f"cannot write the report to {output}: it is a folder",
            hint=f"Give a file name, e.g. -o {output / suggestion}.",
        )
    folder = output.parent
    if not folder.is_dir():
        raise KtuiError(
            f"cannot write the report to {output}: the folder {folder} does not exist",
            hint="Create it first, or give another path with -o.",
        )
    try:
        if fmt == "html":
            _write_atomic(output, html().encode("utf-8"))
        else:
            files = f"{output.stem}_files"
            text, pngs = markdown(files)
            if pngs:
                (folder / files).mkdir(exist_ok=True)
                for name, data in pngs.items():
                    _write_atomic(folder / files / name, data)
            _write_atomic(output, text.encode("utf-8"))
    except OSError as exc:
        raise KtuiError(
            f"cannot write the report to {output}: {exc.strerror or exc}",
            hint="Choose a path you can write to with -o.",
        ) from None
    return output


def _write_atomic(path: Path, data: bytes) -> None:
    # A fresh name beside the target, opened exclusively, so the file gets the mode of
    # any new file under the user's umask (a report is meant to be shared).
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temporary, "xb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
