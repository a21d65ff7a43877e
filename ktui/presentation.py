"""How recorded runs are written for people: the words and colours the command line
(``ktui runs``) and the screens (history, run detail, compare) share.

One place for each fact: how a hyperparameter value, a date, a duration, the best
metric or a run's tags read, and which colour each run status has
(:data:`STATUS_TONE`). Plain Python: no Textual, no rich, no TensorFlow; the store's
records are only read.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ktui.core.format import format_metric, format_seconds

if TYPE_CHECKING:
    from ktui.store.records import RunSummary

STATUS_TONE: dict[str, str] = {
    "running": "primary",
    "finished": "success",
    "stopped": "warning",
    "failed": "error",
    "interrupted": "secondary",
    "pruned": "warning",  # a sweep's trial (and its run) stopped by the sweep's pruner
    "diverged": "error",
}
"""The colour of each run status (and sweep trial state), as a tone: the screens draw
it with the theme's ``$text-<tone>`` variable, the command line with
:data:`TONE_TERMINAL_COLOR`."""

TONE_TERMINAL_COLOR: dict[str, str] = {
    "primary": "cyan",
    "success": "green",
    "warning": "yellow",
    "error": "red",
    "secondary": "magenta",
}
"""The terminal's own colour for each tone (the command line has no theme)."""


def status_terminal_color(status: str) -> str | None:
    """The colour ``ktui runs`` writes ``status`` in (None: none)."""
    tone = STATUS_TONE.get(status.strip())
    return None if tone is None else TONE_TERMINAL_COLOR[tone]


def status_theme_variable(status: str) -> str | None:
    """The theme variable the screens write ``status`` in, e.g. ``text-success``."""
    tone = STATUS_TONE.get(status.strip())
    return None if tone is None else f"text-{tone}"


def format_value(value: object) -> str:
    """A hyperparameter value as a person would type it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def format_values(values: dict[str, Any]) -> str:
    """``name=value`` pairs, compactly."""
    return " ".join(f"{name}={format_value(value)}" for name, value in values.items())


def values_text(run: RunSummary) -> str:
    """The hyperparameters that differ from the preset's defaults, or ``defaults``."""
    changed = run.changed_values()
    return format_values(changed) if changed else "defaults"


def format_time(timestamp: float | None, *, seconds: bool = False) -> str:
    """Local date and time of a Unix timestamp (``—`` for none)."""
    if timestamp is None:
        return "—"
    return datetime.fromtimestamp(timestamp).strftime(
        "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    )


def format_best(run: RunSummary, *, epoch: bool = False) -> str:
    """``0.9812 val_accuracy`` (``at epoch 7`` with ``epoch``)."""
    if run.best_metric is None or run.best_value is None:
        return "—"
    text = f"{format_metric(run.best_value)} {run.best_metric}"
    return f"{text} at epoch {run.best_epoch}" if epoch and run.best_epoch else text


def format_error_percent(run: RunSummary) -> str:
    """The test error in percent, or ``—``."""
    error = run.test_error_percent
    return "—" if error is None else f"{error:.2f}"


def format_epochs(run: RunSummary) -> str:
    """``7/10``, or ``7`` when the planned number is unknown."""
    planned = f"/{run.epochs_planned}" if run.epochs_planned else ""
    return f"{run.epochs_done}{planned}"


def format_duration(run: RunSummary) -> str:
    """How long the run took (so far)."""
    duration = run.duration
    return "—" if duration is None else format_seconds(duration)


def format_tags(tags: Iterable[str]) -> str:
    """A run's tags, comma-separated (empty for none)."""
    return ", ".join(tags)
