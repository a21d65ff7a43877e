"""The ``ktui`` command: the dashboard by default, plus ``run``, ``attach``, ``presets``,
``runs``, ``serve`` and ``report``.

Nothing here imports TensorFlow or Textual at module level: ``ktui presets`` answers
instantly, and ``ktui run`` imports TensorFlow only after fd 2 is captured.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ktui import __version__
from ktui.core.errors import KtuiError
from ktui.core.paths import store_path, user_presets_dir
from ktui.core.presets import PresetCatalog, load_catalog, shipped_presets_dir


def preset_folders(extra: Sequence[Path] = ()) -> list[Path]:
    """Shipped presets, then the user's folder, then ``--presets`` folders (later wins)."""
    return [shipped_presets_dir(), user_presets_dir(), *extra]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for ``ktui`` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="ktui",
        description="Train Keras models from a terminal dashboard. "
        "Run without a command to open the dashboard.",
    )
    parser.add_argument("--version", action="version", version=f"ktui {__version__}")
    parser.add_argument(
        "--presets",
        metavar="DIR",
        type=Path,
        action="append",
        default=[],
        help="also load presets from DIR (may be repeated; these win over the others)",
    )
    parser.add_argument(
        "--store",
        metavar="PATH",
        type=Path,
        help="the run store's SQLite file (default: $KTUI_STORE, else runs.sqlite in "
        "ktui's data folder); run folders go in runs/ beside it",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="train a preset without the full-screen UI")
    run.add_argument("preset", help="a preset name (see `ktui presets`) or a .toml file")
    run.add_argument(
        "--set",
        metavar="NAME=VALUE",
        dest="assignments",
        action="append",
        default=[],
        help="change a hyperparameter, e.g. --set epochs=3 (may be repeated)",
    )
    run.add_argument(
        "--data",
        metavar="SOURCE",
        help="use other data: random, mnist, fashion_mnist or a .npz file with "
        "x_train, y_train, x_test, y_test",
    )
    run.add_argument(
        "--log",
        action="store_true",
        help="show what TensorFlow writes (it is captured and kept in a log file either way)",
    )
    run.add_argument(
        "--detach",
        action="store_true",
        help="train in a background process that outlives this terminal and SSH session; "
        "prints the run id and returns at once (follow it with `ktui attach`)",
    )
    run.add_argument(
        "--tensorboard",
        action="store_true",
        help="also write TensorBoard event files in the run's folder "
        "(`tensorboard --logdir` on the store's runs/ folder shows every such run)",
    )
    # The training process of a detached run: record into run N, created by the parent.
    run.add_argument("--run-id", type=int, help=argparse.SUPPRESS)

    attach = sub.add_parser(
        "attach",
        help="open the dashboard on a run that is going (the latest one by default)",
        description="Follow a run live — from `ktui run --detach`, another dashboard or a "
        "script using ktui.Dashboard — and pause, stop or re-tune it. Closing the "
        "dashboard leaves the run going.",
    )
    attach.add_argument(
        "id", nargs="?", metavar="RUN_ID", help="the run's id (default: the latest live run)"
    )

    sub.add_parser("presets", help="list the presets with their descriptions")
    _add_runs_parser(sub)
    from ktui.cli.report import add_report_parser
    from ktui.cli.serve import add_serve_parser

    add_serve_parser(sub)
    add_report_parser(sub)
    return parser


def _add_runs_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``ktui runs`` (list) and its actions: show, export, compare."""
    from ktui.store.db import SORT_KEYS, STATUSES

    runs = sub.add_parser(
        "runs",
        help="list the recorded runs; show, export or compare them",
        description="Without an action: one line per recorded run, newest first.",
    )
    runs.add_argument("--preset", metavar="NAME", help="only runs of this preset")
    runs.add_argument("--status", choices=STATUSES, help="only runs with this status")
    runs.add_argument(
        "--sort",
        choices=SORT_KEYS,
        default="id",
        help="order by this column: newest, best, lowest test error, longest first "
        "(preset and status alphabetically); default id",
    )
    runs.add_argument("--reverse", action="store_true", help="reverse the order")
    runs.add_argument(
        "--limit", metavar="N", type=int, default=None, help="list at most N runs (0: all)"
    )
    actions = runs.add_subparsers(dest="runs_command", metavar="ACTION")
    show = actions.add_parser("show", help="everything about one run")
    show.add_argument("id", help="the run's id (see `ktui runs`)")
    show.add_argument("--log", action="store_true", help="print the whole log, not its end")
    show.add_argument(
        "--confusion",
        action="store_true",
        help="print only the test set's confusion matrix and per-class precision/recall",
    )
    export = actions.add_parser("export", help="write a run's epochs (csv) or everything (json)")
    export.add_argument("id", help="the run's id")
    export.add_argument(
        "--format",
        choices=("csv", "json"),
        default="csv",
        help="csv: one row per epoch; json: the whole run (default csv)",
    )
    export.add_argument(
        "-o", "--output", metavar="FILE", type=Path, help="write to FILE instead of stdout"
    )
    compare = actions.add_parser(
        "compare", help="2 to 4 runs side by side: differing hyperparameters and final metrics"
    )
    compare.add_argument("ids", nargs="+", metavar="ID", help="the runs' ids")
    compare.add_argument("--all", action="store_true", help="show every hyperparameter")


def _catalog(args: argparse.Namespace) -> PresetCatalog:
    for folder in args.presets:
        if not folder.is_dir():
            raise KtuiError(f"--presets {folder}: no such folder")
    return load_catalog(preset_folders(args.presets))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ktui`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    from ktui.core.capture import STDERR

    try:
        if args.command == "runs":
            from ktui.cli.runs import runs_command

            return runs_command(args, store_path(args.store))
        if args.command == "serve":
            from ktui.cli.serve import serve_command

            return serve_command(args)
        if args.command == "report":
            from ktui.cli.report import report_command

            return report_command(args)
        if args.command == "presets":
            from ktui.cli.presets import list_presets

            return list_presets(_catalog(args))
        if args.command == "run":
            if args.detach:
                if args.run_id is not None:
                    raise KtuiError("--detach and --run-id cannot be used together")
                from ktui.cli.run import start_detached

                return start_detached(
                    _catalog(args),
                    args.preset,
                    args.assignments,
                    args.data,
                    store=args.store,
                    presets=args.presets,
                    show_log=args.log,
                    tensorboard=args.tensorboard,
                )
            from ktui.cli.run import run_headless

            return run_headless(
                _catalog(args),
                args.preset,
                args.assignments,
                args.data,
                show_log=args.log,
                store=args.store,
                run_id=args.run_id,
                tensorboard=args.tensorboard,
            )
        from ktui.cli.dashboard import open_dashboard

        if args.command == "attach":
            from ktui.cli.attach import choose_run

            run_id = choose_run(store_path(args.store), args.id)
            if run_id is None:
                return 1
            return open_dashboard(_catalog(args), store=store_path(args.store), attach=run_id)
        return open_dashboard(_catalog(args), store=store_path(args.store))
    except KtuiError as exc:
        print(f"ktui: {exc}", file=STDERR.terminal)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if not STDERR.active:
            raise
        # fd 2 leads into the capture, so an uncaught traceback would vanish into the
        # log and leave the user with a silent exit: say where it is instead.
        import traceback

        for line in traceback.format_exc().splitlines():
            STDERR.write_line(line)
        where = STDERR.log_path or "the log"
        print(
            f"ktui: internal error ({type(exc).__name__}: {exc}); this is a bug in ktui. "
            f"The traceback is in {where}.",
            file=STDERR.terminal,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
