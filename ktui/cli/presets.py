"""``ktui presets``: the presets with their descriptions, and the ones that failed to load."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ktui.core.capture import STDERR
from ktui.core.presets import PresetCatalog
from ktui.core.shapes import default_misfits


def list_presets(catalog: PresetCatalog, console: Console | None = None) -> int:
    """Print the catalog; exit code 1 if any preset file is broken, or a preset's
    default values make a model that does not fit its data (checked without Keras).

    On a terminal: a table. Otherwise (a pipe, a file): one tab-separated line per
    preset, ``name<TAB>description<TAB>file``, never wrapped.
    """
    console = console or Console(highlight=False)
    if console.is_terminal:
        table = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
        table.add_column("preset", style="bold cyan", no_wrap=True)
        table.add_column("description")
        table.add_column("file", style="dim", overflow="fold")
        for name in sorted(catalog.presets):
            preset = catalog.presets[name]
            # Text, not str: a description's [brackets] are not rich markup.
            table.add_row(name, Text(preset.description), Text(preset.source))
        console.print(table)
    else:
        for name in sorted(catalog.presets):
            preset = catalog.presets[name]
            line = "\t".join((name, " ".join(preset.description.split()), preset.source))
            print(line, file=console.file)  # not console.print: it expands tabs
    err = Console(file=STDERR.terminal, highlight=False, soft_wrap=True)
    if catalog.errors:
        err.print(f"\n[bold red]{len(catalog.errors)} preset file(s) could not be loaded:[/]")
        for error in catalog.errors:
            err.print(f"  {error}", markup=False)
    misfits = default_misfits(catalog.presets.values())
    if misfits:
        err.print(
            f"\n[bold red]{len(misfits)} preset(s) whose default values do not fit their "
            "data (other values may):[/]"
        )
        for error in misfits:
            err.print(f"  {error}", markup=False)
    return 1 if catalog.errors or misfits else 0
