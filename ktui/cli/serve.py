"""``ktui serve [--port 8000] [--host 127.0.0.1]``: the dashboard in a browser tab.

Its parser and handler live here so the command line's main module only wires them in.
"""

from __future__ import annotations

import argparse
import sys

from ktui.cli.extras import add_extra_command

DEFAULT_PORT = 8000
DEFAULT_HOST = "127.0.0.1"
"""Loopback only: another machine reaches it through SSH port forwarding, not directly."""


def add_serve_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``ktui serve`` to the subcommands."""
    serve = add_extra_command(
        sub,
        "serve",
        summary="serve the dashboard in a browser (textual-serve), behind a random token",
        description="The same dashboard, every screen and key, in a browser tab. Prints an "
        "address with a random token; requests without it are refused.",
        needs="textual-serve",
        extra="web",
    )
    serve.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"the TCP port (default {DEFAULT_PORT})"
    )
    serve.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"the address to listen on (default {DEFAULT_HOST}, this machine only; "
        "0.0.0.0 for every network interface, with a warning)",
    )


def serve_command(args: argparse.Namespace) -> int:
    """Serve until Ctrl+C; mistakes raise :class:`~ktui.core.errors.KtuiError`."""
    from ktui.core.errors import KtuiError
    from ktui.web.server import global_options, serve

    if not 0 <= args.port <= 65535:
        raise KtuiError(f"--port {args.port}: a port is a number from 1 to 65535")
    for folder in args.presets:
        if not folder.is_dir():
            raise KtuiError(f"--presets {folder}: no such folder")
    return serve(
        host=args.host,
        port=args.port,
        global_options=global_options(args.store, args.presets),
        warn=lambda line: print(line, file=sys.stderr),
    )
