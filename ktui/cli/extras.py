"""Subcommands that need an optional extra (``ktui serve``, ``ktui report``): one way
to add them, so each one's help says what it needs and how to install it alike."""

from __future__ import annotations

import argparse
from typing import Any


def add_extra_command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    *,
    summary: str,
    description: str,
    needs: str,
    extra: str,
    **options: Any,
) -> argparse.ArgumentParser:
    """Add ``ktui NAME`` with its one-line ``summary`` and its ``description``, which
    ends with ``Needs NEEDS (pip install 'ktui[EXTRA]').``; returns its parser.
    ``options`` (an ``epilog``, a ``formatter_class``) go to ``add_parser`` as they are."""
    return sub.add_parser(
        name,
        help=summary,
        description=f"{description} Needs {needs} (pip install 'ktui[{extra}]').",
        **options,
    )
