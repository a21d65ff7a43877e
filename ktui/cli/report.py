"""``ktui report RUN_ID... [-o FILE] [--format html|md]``: a report you can send.

Its parser and handler live here so the command line's main module only wires them in.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ktui.cli.extras import add_extra_command
from ktui.core.paths import store_path


def add_report_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``ktui report`` to the subcommands."""
    report = add_extra_command(
        sub,
        "report",
        summary="write runs as one self-contained HTML file (or Markdown) to send",
        description="One or more runs as a report that opens anywhere without a network: "
        "hyperparameters and what differs, curves, final metrics, confusion matrix, wrong "
        "predictions, model summary.",
        needs="matplotlib",
        extra="report",
    )
    report.add_argument("ids", nargs="+", metavar="RUN_ID", help="the runs' ids (see `ktui runs`)")
    report.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        type=Path,
        help="where to write it (default: report-ID[-ID...].html or .md here)",
    )
    report.add_argument(
        "--format",
        choices=("html", "md"),
        default="html",
        help="html: one self-contained file; md: Markdown with PNG files in FILE_files/ "
        "beside it (default html)",
    )


def report_command(args: argparse.Namespace) -> int:
    """Write the report; returns 0 (mistakes raise :class:`~ktui.core.errors.KtuiError`)."""
    from ktui.report import default_name, parse_run_ids, write_report
    from ktui.store import RunStore

    run_ids = parse_run_ids(args.ids)
    output = args.output or Path(default_name(run_ids, args.format))
    with RunStore(store_path(args.store)) as store:
        written = write_report(store, run_ids, output, args.format)
    print(
        f"Wrote the report of run{'s' if len(run_ids) > 1 else ''} "
        f"{', '.join(map(str, run_ids))} to {written}."
    )
    return 0
