"""The ``ktui`` command: the dashboard by default, plus ``run`` and ``presets``.

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
from ktui.core.paths import user_presets_dir
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

    sub.add_parser("presets", help="list the presets with their descriptions")
    return parser


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
        if args.command == "presets":
            from ktui.cli.presets import list_presets

            return list_presets(_catalog(args))
        if args.command == "run":
            from ktui.cli.run import run_headless

            return run_headless(
                _catalog(args), args.preset, args.assignments, args.data, show_log=args.log
            )
        from ktui.cli.dashboard import open_dashboard

        return open_dashboard(_catalog(args), preset_dirs=args.presets)
    except KtuiError as exc:
        print(f"ktui: {exc}", file=STDERR.terminal)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
