"""``ktui presets``: the presets with their descriptions, and the ones that failed to load."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from ktui.core.capture import STDERR
from ktui.core.presets import PresetCatalog


def list_presets(catalog: PresetCatalog, console: Console | None = None) -> int:
    """Print the catalog; exit code 1 if any preset file is broken."""
    console = console or Console(highlight=False)
    table = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
    table.add_column("preset", style="bold cyan", no_wrap=True)
    table.add_column("description")
    table.add_column("file", style="dim", overflow="fold")
    for name in sorted(catalog.presets):
        preset = catalog.presets[name]
        table.add_row(name, preset.description, preset.source)
    console.print(table)
    if catalog.errors:
        err = Console(file=STDERR.terminal, highlight=False)
        err.print(f"\n[bold red]{len(catalog.errors)} preset file(s) could not be loaded:[/]")
        for error in catalog.errors:
            err.print(f"  {error}", markup=False)
        return 1
    return 0
