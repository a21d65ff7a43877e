"""The interface between the UI or command line and a training backend.

The app and the CLI are given a :class:`Trainer`; the real one lives in
``ktui.training`` (the only package that imports Keras), and UI tests pass a fast
fake that emits the same events.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from ktui.core.controls import RunControls
from ktui.core.events import Event, Listener, ModelSummary
from ktui.core.presets import RunConfig


class Trainer(Protocol):
    """Runs a training described by a :class:`RunConfig`."""

    def run(
        self,
        config: RunConfig,
        listener: Listener,
        controls: RunControls,
        *,
        artifacts: Path | None = None,
    ) -> Event:
        """Train in the calling thread, emitting events; return the final event.

        The final event is a ``RunFinished`` or ``RunFailed``; user errors become a
        ``RunFailed`` with a readable message, never an exception. When
        ``artifacts`` is given the trained model is saved there as ``model.keras``.
        """
        ...

    def describe(self, config: RunConfig) -> ModelSummary:
        """Build the model without data or training and summarize it.

        Raises ``KtuiError`` (e.g. ``PresetError`` for an unknown layer name).
        """
        ...
