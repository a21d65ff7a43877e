"""What a report shows, read from the run store: plain data, no drawing.

Plain Python over :mod:`ktui.store` and :mod:`ktui.core`: nothing here imports
TensorFlow, Keras, Textual or matplotlib, so the dashboard can gather a report's
content without loading any of them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ktui import __version__
from ktui.core.errors import KtuiError, StoreError
from ktui.core.format import order_metrics
from ktui.core.input_bound import EpochTiming
from ktui.core.insight import PREDICTIONS_FILE, Evaluation, load_evaluation
from ktui.core.system import SystemSample
from ktui.store import EpochRecord, Run, RunStore
from ktui.store.system import read_samples, read_timings

if TYPE_CHECKING:
    # A sweep's report reads these where it is collected: a report of runs (and a
    # fresh `ktui report`) needs neither the sweep engine's core nor its store.
    from ktui.core.sweep import TrialRow
    from ktui.store.sweeps import SweepRecord

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
    samples: list[SystemSample] = field(default_factory=list)
    """The machine while the run trained (CPU, memory, GPUs), where it was sampled."""
    timings: list[EpochTiming] = field(default_factory=list)
    """Per epoch, the step time spent waiting for data versus computing, where measured."""

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
        raise KtuiError(
            "a report needs at least one run id",
            hint="`ktui runs` lists the runs; `ktui report --sweep ID` reports a sweep.",
        )
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
        samples=read_samples(store, run_id),
        timings=read_timings(store, run_id),
    )


# Tags and notes are being added to the store by other work; read them
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


@dataclass(frozen=True)
class Importance:
    """The swept hyperparameters' importance as the report shows it."""

    values: dict[str, float] = field(default_factory=dict)
    """Parameter → share (summing to 1), most important first; empty when not computed."""
    trials: int = 0
    """The finished trials (with an objective) it was computed over."""
    note: str = ""
    """Why there are no figures, in one sentence."""


def sweep_importance(sweep: SweepRecord, rows: Sequence[TrialRow]) -> Importance:
    """:func:`ktui.core.sweep_insight.importances` of the sweep's trials, or why not."""
    from ktui.core.sweep_insight import importances

    finished = sum(
        1
        for r in rows
        if r.state == "finished" and r.objective is not None and math.isfinite(r.objective)
    )
    try:
        values = importances(rows, sweep.spec.params, sweep.settings.direction)
    except KtuiError as exc:
        return Importance(trials=finished, note=exc.message)
    return Importance(values=values, trials=finished)


@dataclass(frozen=True)
class SweepReport:
    """What the report of a sweep shows: its leaderboard, what mattered, its best trial."""

    sweep: SweepRecord
    rows: list[TrialRow]
    """Every slot of the budget, ranked as the leaderboard ranks them."""
    importance: Importance
    best: RunReport | None
    """The best finished trial's run, for its curves; None before any finished."""
    best_trial: TrialRow | None
    changes: list[tuple[float, str]]
    """The sweep's history of changes (created, budget changed, paused...)."""
    created_at: float
    version: str = __version__

    @property
    def title(self) -> str:
        """``Sweep 3 — dummy_binary``."""
        return f"Sweep {self.sweep.id} — {self.sweep.preset}"


def collect_sweep(store: RunStore, sweep_id: int) -> SweepReport:
    """Read what the report of sweep ``sweep_id`` shows; an unknown id is a
    :class:`StoreError` naming the known ones."""
    from ktui.core.sweep import best as best_trial
    from ktui.core.sweep import rank
    from ktui.store.sweeps import SweepStore, leaderboard_rows

    sweeps = SweepStore(store)
    sweep = sweeps.get(sweep_id)
    rows = rank(leaderboard_rows(sweep, sweeps.trials(sweep_id)), sweep.settings.direction)
    importance = sweep_importance(sweep, rows)
    top = best_trial(rows, sweep.settings.direction)
    best: RunReport | None = None
    if top is not None and top.run_id is not None and store.has_run(top.run_id):
        best = _run_report(store, top.run_id)
    return SweepReport(
        sweep=sweep,
        rows=rows,
        importance=importance,
        best=best,
        best_trial=top,
        changes=sweeps.changes(sweep_id),
        created_at=time.time(),
    )
