"""What a report shows, read from the run store: plain data, no drawing.

Plain Python over :mod:`ktui.store` and :mod:`ktui.core`: nothing here imports
TensorFlow, Keras, Textual or matplotlib, so the dashboard can gather a report's
content without loading any of them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ktui import __version__
from ktui.core.errors import KtuiError, StoreError
from ktui.core.format import order_metrics
from ktui.core.insight import PREDICTIONS_FILE, Evaluation, load_evaluation
from ktui.store import EpochRecord, Run, RunStore

MAX_RUNS = 8
"""A report of more runs than this would be a table nobody reads; sweeps get their own."""


@dataclass(frozen=True)
class RunReport:
    """One run's part of a report."""

    run: Run
    epochs: list[EpochRecord]
    evaluation: Evaluation | None
    """The test set's confusion matrix and mistakes, when ``predictions.npz`` could be read."""
    missing: list[str] = field(default_factory=list)
    """What the report cannot show for this run, in words (e.g. no saved predictions)."""
    tags: list[str] = field(default_factory=list)
    notes: str = ""
    system: dict[str, Any] = field(default_factory=dict)
    """System figures (CPU, memory, GPU) where the run recorded them; empty until it does."""

    @property
    def final(self) -> dict[str, float]:
        """The last epoch's metrics, in ktui's metric order (empty with no epochs)."""
        return order_metrics(self.epochs[-1].metrics) if self.epochs else {}


@dataclass(frozen=True)
class Report:
    """Everything a report file shows, in the order the runs were asked for."""

    runs: list[RunReport]
    created_at: float
    version: str = __version__

    @property
    def title(self) -> str:
        """``Run 12 — mnist_mlp`` or ``Runs 12, 14, 15``."""
        if len(self.runs) == 1:
            run = self.runs[0].run
            return f"Run {run.id} — {run.preset}"
        return "Runs " + ", ".join(str(r.run.id) for r in self.runs)

    def parameter_names(self) -> list[str]:
        """Every hyperparameter name of any run, first-seen order."""
        names: dict[str, None] = {}
        for part in self.runs:
            names.update(dict.fromkeys(part.run.values))
        return list(names)

    def differs(self, name: str) -> bool:
        """Whether the runs used different values for ``name`` (for one run: whether it
        differs from its preset's default)."""
        if len(self.runs) == 1:
            return name in self.runs[0].run.changed_values()
        cells = {format_value(p.run.values.get(name, _ABSENT)) for p in self.runs}
        return len(cells) > 1

    def metric_groups(self) -> list[str]:
        """The base metrics (``loss``, ``accuracy``, ...): one chart each, train and
        ``val_`` overlaid."""
        names: dict[str, None] = {}
        for part in self.runs:
            for record in part.epochs:
                for name in order_metrics(record.metrics):
                    names[name.removeprefix("val_")] = None
        return list(names)


class _Absent:
    def __str__(self) -> str:
        return "—"


_ABSENT = _Absent()


def format_value(value: object) -> str:
    """A hyperparameter value as a person would type it (``—`` when absent)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def parse_run_ids(texts: Sequence[str]) -> list[int]:
    """``["12", "14"]`` → ``[12, 14]``; anything else is a message naming it."""
    ids: list[int] = []
    for text in texts:
        try:
            run_id = int(text)
        except ValueError:
            raise KtuiError(
                f"{text!r} is not a run id", hint="Run ids are numbers; `ktui runs` lists them."
            ) from None
        if run_id in ids:
            raise KtuiError(f"run {run_id} is named twice")
        ids.append(run_id)
    if not ids:
        raise KtuiError("a report needs at least one run id")
    if len(ids) > MAX_RUNS:
        raise KtuiError(f"a report takes at most {MAX_RUNS} runs, got {len(ids)}")
    return ids


def collect(store: RunStore, run_ids: Sequence[int]) -> Report:
    """Read what a report of ``run_ids`` shows; an unknown id is a :class:`StoreError`
    naming it, a run without predictions only a note in the report."""
    unknown = [run_id for run_id in run_ids if not store.has_run(run_id)]
    if unknown:
        names = ", ".join(str(i) for i in unknown)
        raise StoreError(
            f"no run {names} in {store.path}"
            if len(unknown) == 1
            else f"no runs {names} in {store.path}",
            hint="`ktui runs` lists the recorded runs.",
        )
    return Report([_run_report(store, run_id) for run_id in run_ids], created_at=time.time())


def _run_report(store: RunStore, run_id: int) -> RunReport:
    run = store.get_run(run_id)
    missing: list[str] = []
    evaluation: Evaluation | None = None
    path = run.folder / PREDICTIONS_FILE
    if path.is_file():
        try:
            evaluation = load_evaluation(path)
        except KtuiError as exc:
            missing.append(f"the confusion matrix and wrong predictions: {exc.message}")
    else:
        missing.append(
            "the confusion matrix and wrong predictions: the run saved no "
            f"{PREDICTIONS_FILE} (only a classification run that reached its test "
            "evaluation has one)"
        )
    epochs = store.epochs(run_id)
    if not epochs:
        missing.append("curves and final metrics: no epoch was recorded")
    if not run.model:
        missing.append("the model summary: none was recorded")
    return RunReport(
        run=run,
        epochs=epochs,
        evaluation=evaluation,
        missing=missing,
        tags=_tags(run),
        notes=_notes(run),
        system=_system(run),
    )


# Tags, notes and system figures are being added to the store by other work; read them
# where a run has them and leave them out where it does not, so this module works with
# either store.
def _tags(run: Run) -> list[str]:
    tags = getattr(run, "tags", None)
    if isinstance(tags, str):
        return [t for t in (s.strip() for s in tags.split(",")) if t]
    if isinstance(tags, Sequence | set | frozenset):
        return [str(t) for t in tags]
    return []


def _notes(run: Run) -> str:
    for name in ("notes", "note"):
        notes = getattr(run, name, None)
        if isinstance(notes, str) and notes.strip():
            return notes.strip()
    return ""


def _system(run: Run) -> dict[str, Any]:
    """The hook for system figures: a ``system`` mapping on the run or in its info."""
    system = getattr(run, "system", None)
    if system is None:
        system = run.info.get("system") if isinstance(run.info, Mapping) else None
    return dict(system) if isinstance(system, Mapping) else {}
