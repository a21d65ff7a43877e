"""Open the full-screen dashboard with TensorFlow's fd-2 output kept off the screen."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from ktui.core.capture import STDERR
from ktui.core.paths import logs_dir, user_presets_dir
from ktui.core.presets import PresetCatalog


def open_dashboard(catalog: PresetCatalog, *, preset_dirs: Sequence[Path] = ()) -> int:
    """Run the Textual app until the user quits; returns the exit code."""
    del preset_dirs  # already loaded into the catalog
    STDERR.start(logs_dir() / f"{datetime.now():%Y%m%d-%H%M%S}-dashboard.log")
    # Textual draws on sys.__stderr__; point it at the real terminal, since fd 2 now
    # leads into the capture pipe.
    sys.__stderr__ = STDERR.terminal  # type: ignore[misc, assignment]
    from ktui.app import create_app

    app = create_app(catalog, user_presets_dir=user_presets_dir())
    code = app.run()
    return code or 0
