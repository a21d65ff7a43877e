"""Requests to move between screens, posted by the screens and handled by the app.

Screens never import each other: one that wants another screen posts one of these
messages, which bubbles up to the app, and the app's navigator (``KtuiApp``'s
``_open_*`` handlers) builds the screen and pushes it (or switches to it). So the app
is the one place that knows every screen, and a screen can be changed or replaced
without touching the screens that open it. The push happens when the app handles the
message, one turn of the event loop after it is posted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    from ktui.core.events import ModelSummary
    from ktui.core.insight import Evaluation
    from ktui.core.presets import Preset, RunConfig


class Navigate(Message):
    """A request to open a screen; ``replace`` swaps it for the sender instead of
    pushing it on top."""

    def __init__(self, *, replace: bool = False) -> None:
        super().__init__()
        self.replace = replace


class OpenRuns(Navigate):
    """Open the history of recorded runs."""


class OpenForm(Navigate):
    """Open the hyperparameter form of ``preset``, filled in with ``values`` and ``data``.

    ``reuse_below``: when the screen under the sender is already a form, go back to it
    (with its values as they were) instead of opening a new one.
    """

    def __init__(
        self,
        preset: Preset,
        values: dict[str, Any] | None = None,
        data: str | None = None,
        *,
        replace: bool = False,
        reuse_below: bool = False,
    ) -> None:
        super().__init__(replace=replace)
        self.preset = preset
        self.values = values
        self.data = data
        self.reuse_below = reuse_below


class OpenTraining(Navigate):
    """Start a run of ``config``, or follow the recorded run ``attach`` (config None)."""

    def __init__(
        self, config: RunConfig | None, *, attach: int | None = None, replace: bool = False
    ) -> None:
        super().__init__(replace=replace)
        self.config = config
        self.attach = attach


class OpenRunDetail(Navigate):
    """Open everything recorded about run ``run_id``."""

    def __init__(self, run_id: int) -> None:
        super().__init__()
        self.run_id = run_id


class OpenSweeps(Navigate):
    """Open the list of recorded sweeps."""


class OpenSweep(Navigate):
    """Open the leaderboard of sweep ``sweep_id``."""

    def __init__(self, sweep_id: int, *, replace: bool = False) -> None:
        super().__init__(replace=replace)
        self.sweep_id = sweep_id


class OpenCompare(Navigate):
    """Compare the runs ``run_ids`` (2 to 4)."""

    def __init__(self, run_ids: Sequence[int]) -> None:
        super().__init__()
        self.run_ids = list(run_ids)


class OpenSweepInsight(Navigate):
    """Open sweep ``sweep_id``'s parameter importance and parallel coordinates."""

    def __init__(self, sweep_id: int) -> None:
        super().__init__()
        self.sweep_id = sweep_id


class OpenModel(Navigate):
    """Show a model: its ``summary`` when known, else the one ``config`` builds."""

    def __init__(
        self, summary: ModelSummary | None = None, *, config: RunConfig | None = None
    ) -> None:
        super().__init__()
        self.summary = summary
        self.config = config


class OpenDataPreview(Navigate):
    """Show a few training samples and the label distribution of ``config``'s data."""

    def __init__(self, config: RunConfig) -> None:
        super().__init__()
        self.config = config


@dataclass(frozen=True)
class EvaluationSource:
    """Where a view of a run's test-set evaluation gets it: the ``evaluation`` itself, or
    the ``path`` of its saved file, or what is ``missing``; ``title`` names the run."""

    evaluation: Evaluation | None = None
    path: Path | str | None = None
    missing: str = ""
    title: str = ""


class OpenEvaluation(Navigate):
    """A view of a run's test-set evaluation, from ``source``."""

    def __init__(self, source: EvaluationSource) -> None:
        super().__init__()
        self.source = source


class OpenConfusion(OpenEvaluation):
    """Show the test set's confusion matrix with precision and recall per class."""


class OpenMistakes(OpenEvaluation):
    """Browse the test images the model got wrong."""
