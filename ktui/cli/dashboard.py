"""Open the full-screen dashboard (placeholder until the UI lands)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ktui.core.presets import PresetCatalog


def open_dashboard(catalog: PresetCatalog, *, preset_dirs: Sequence[Path] = ()) -> int:
    """Run the Textual app; returns the exit code."""
    raise NotImplementedError
