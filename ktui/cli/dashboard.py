"""Open the full-screen dashboard with TensorFlow's fd-2 output kept off the screen."""

from __future__ import annotations

import contextlib
import sys
from datetime import datetime

from ktui.core.capture import STDERR
from ktui.core.config import config_file, load_config
from ktui.core.errors import StoreError, StoreReadOnly, StoreUnavailable
from ktui.core.paths import logs_dir, user_presets_dir
from ktui.core.presets import PresetCatalog
from ktui.core.store_url import StoreLocation
from ktui.store import RunStore


def open_dashboard(
    catalog: PresetCatalog,
    *,
    store: StoreLocation,
    attach: int | None = None,
    sweep: int | None = None,
) -> int:
    """Run the Textual app until the user quits; returns the exit code.

    ``attach`` opens the training screen on that recorded run (``ktui attach``),
    following it live while it goes; ``sweep`` opens a sweep's leaderboard.
    """
    # Open the store before the screen takes over, so a broken store is a plain message.
    try:
        runs = RunStore(store)
    except StoreReadOnly as exc:
        # A role that may only read: the history and attached runs can still be shown.
        print(f"ktui: {exc.message}; the dashboard only reads.", file=sys.stderr)
        runs = RunStore(store, read_only=True)
    except StoreUnavailable:
        if not store.exists():
            raise
        # A full disk: the history can still be read; a new run says it is not recorded.
        runs = RunStore(store, read_only=True)
    with contextlib.suppress(StoreError):  # busy or full: the marks wait for the next ktui
        runs.mark_interrupted()
    STDERR.start(logs_dir() / f"{datetime.now():%Y%m%d-%H%M%S}-dashboard.log")
    # Textual draws on sys.__stderr__; point it at the real terminal, since fd 2 now
    # leads into the capture pipe.
    sys.__stderr__ = STDERR.terminal  # type: ignore[misc, assignment]
    from ktui.app import create_app

    app = create_app(
        catalog,
        user_presets_dir=user_presets_dir(),
        store=runs,
        attach=attach,
        sweep=sweep,
        theme=load_config().theme,
        config_path=config_file(),
    )
    try:
        code = app.run()
    finally:
        runs.close()
    return code or 0
