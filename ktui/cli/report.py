"""``ktui report RUN_ID... | --sweep ID [-o FILE] [--format html|md]``: a report you can send.

Its parser and handler live here so the command line's main module only wires them in.
"""

from __future__ import annotations

import argparse
import atexit
import gc
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
        "predictions, model summary, the machine while it trained. With --sweep, a sweep: "
        "its leaderboard, the hyperparameters' importance, parallel coordinates and its best "
        "trial's curves.",
        needs="matplotlib",
        extra="report",
        epilog="examples:\n  ktui report 12\n  ktui report 12 14 15 -o compare.html\n"
        "  ktui report --sweep 3\n  ktui report 12 --format md",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument("ids", nargs="*", metavar="RUN_ID", help="the runs' ids (see `ktui runs`)")
    report.add_argument(
        "--sweep",
        metavar="ID",
        help="report a sweep instead of runs (see `ktui sweeps`)",
    )
    report.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        type=Path,
        help="where to write it (default: report-ID[-ID...].html, report-sweep-ID.html, "
        "or .md, here)",
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
    # This process ends once the report is written, and as it ends Python would walk
    # everything matplotlib made, collection after collection (0.18 s of CPU, a fifth
    # of a fresh `ktui report`), only for the process to go: frozen, the collector
    # skips it. Exit handlers still run and the standard streams are still flushed; the
    # store and the report are closed before this runs.
    atexit.register(gc.freeze)
    from ktui.core.errors import KtuiError
    from ktui.report import default_name, parse_run_ids, write_report
    from ktui.store import RunStore

    if args.sweep is not None:
        if args.ids:
            raise KtuiError(
                "ktui report takes run ids or --sweep, not both",
                hint="`ktui report --sweep 3` reports a sweep; its best trial's run is in it.",
            )
        return _sweep_report(args)
    run_ids = parse_run_ids(args.ids)
    output = args.output or Path(default_name(run_ids, args.format))
    with RunStore(store_path(args.store)) as store:
        written = write_report(store, run_ids, output, args.format)
    print(
        f"Wrote the report of run{'s' if len(run_ids) > 1 else ''} "
        f"{', '.join(map(str, run_ids))} to {written}."
    )
    return 0


def _sweep_report(args: argparse.Namespace) -> int:
    from ktui.report import default_sweep_name, write_sweep_report
    from ktui.store import RunStore
    from ktui.store.sweeps import SweepStore, require_sweep

    with RunStore(store_path(args.store)) as store:
        sweep = require_sweep(SweepStore(store), args.sweep)
        output = args.output or Path(default_sweep_name(sweep.id, args.format))
        written = write_sweep_report(store, sweep.id, output, args.format)
    print(f"Wrote the report of sweep {sweep.id} to {written}.")
    return 0
