"""What a sweep's trials say about its hyperparameters: importance and the axes of a
parallel-coordinates plot.

The one place these are computed, for every view that shows them (the report of a
sweep, the dashboard's sweep views). Both work from the trials as the run store
records them (:class:`~ktui.core.sweep.TrialRow`), never from Optuna's own study
file, so a sweep whose study file is gone, or was made on another machine, still has
them.

Importance is Optuna's :func:`optuna.importance.get_param_importances` with its
default evaluator (PED-ANOVA in Optuna 4 and 5), over the finished trials: they are
handed to an in-memory study with the sweep's own distributions. Optuna is imported
only when importance is asked for (it is the optional ``ktui[sweep]`` extra); without
it :class:`Importance` says so instead of failing. Plain Python otherwise: no Textual,
no Keras.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ktui.core.sweep import Direction, ParamSpec, SweepSpec, TrialRow

__all__ = [
    "MIN_TRIALS",
    "Axis",
    "Importance",
    "distributions",
    "finished_trials",
    "param_importances",
    "parallel_axes",
]

#: Importance needs at least this many finished trials: with one, nothing varies.
MIN_TRIALS = 2

#: Below this many finished trials the figures are shown with a warning that they
#: say little (PED-ANOVA compares the best trials' parameters with all trials').
FEW_TRIALS = 10


def _optuna() -> Any:
    """Optuna, quiet, or None when it is not installed."""
    try:
        import optuna
    except ImportError:
        return None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def distributions(params: Sequence[ParamSpec], optuna: Any | None = None) -> dict[str, Any]:
    """Optuna distributions for a sweep's parameters (the sweep's engine asks Optuna for
    trials with these, and importance is computed over them)."""
    optuna = optuna or _optuna()
    if optuna is None:
        raise ImportError("optuna is not installed")
    dists: dict[str, Any] = {}
    for p in params:
        if p.kind == "values":
            dists[p.name] = optuna.distributions.CategoricalDistribution(list(p.values))
        elif p.type == "int":
            dists[p.name] = optuna.distributions.IntDistribution(
                int(p.low or 0), int(p.high or 0), log=p.log
            )
        else:
            dists[p.name] = optuna.distributions.FloatDistribution(
                float(p.low or 0), float(p.high or 0), log=p.log
            )
    return dists


def finished_trials(rows: Sequence[TrialRow]) -> list[TrialRow]:
    """The trials that finished with a finite objective: what importance is judged on
    (pruned and stopped trials did not run their course, so their objective is not
    comparable)."""
    return [
        r
        for r in rows
        if r.state == "finished" and r.objective is not None and math.isfinite(r.objective)
    ]


@dataclass(frozen=True)
class Importance:
    """How much each swept hyperparameter explains of the objective's variation."""

    values: dict[str, float] = field(default_factory=dict)
    """Parameter → share (0–1, summing to 1), most important first; empty when not computed."""
    evaluator: str = ""
    """Which of Optuna's evaluators computed it, e.g. ``PedAnovaImportanceEvaluator``."""
    trials: int = 0
    """The finished trials it was computed over."""
    note: str = ""
    """Why there are no figures, or a caution about them, in one sentence."""


def param_importances(spec: SweepSpec, rows: Sequence[TrialRow]) -> Importance:
    """Importance of the sweep's hyperparameters over its finished trials.

    Never raises for a sweep's state: too few finished trials, Optuna missing or an
    evaluator failure give an :class:`Importance` with no values and a note saying which.
    """
    done = finished_trials(rows)
    names = [p.name for p in spec.params]
    if len(names) < 1:
        return Importance(note="the sweep varies no hyperparameter")
    if len(done) < MIN_TRIALS:
        return Importance(
            trials=len(done),
            note=f"importance needs at least {MIN_TRIALS} finished trials; "
            f"this sweep has {len(done)}",
        )
    optuna = _optuna()
    if optuna is None:
        return Importance(
            trials=len(done),
            note="importance needs Optuna, which is not installed (pip install 'ktui[sweep]')",
        )
    try:
        dists = distributions(spec.params, optuna)
        study = optuna.create_study(direction=spec.settings.direction)
        for row in done:
            params = {k: v for k, v in row.params.items() if k in dists}
            if set(params) != set(dists):
                continue  # a trial of another search space (resumed with changes): left out
            study.add_trial(
                optuna.trial.create_trial(params=params, distributions=dists, value=row.objective)
            )
        evaluator = optuna.importance.PedAnovaImportanceEvaluator()
        with warnings.catch_warnings():
            # Optuna warns that PED-ANOVA is experimental; said once in the docs, not per call.
            warnings.simplefilter("ignore")
            values = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except Exception as exc:  # noqa: BLE001 - a figure, not worth a report
        return Importance(
            trials=len(done),
            note=f"Optuna could not compute importance: {type(exc).__name__}: {exc}",
        )
    note = ""
    if len(done) < FEW_TRIALS:
        note = f"from only {len(done)} finished trials: a rough guide"
    return Importance(
        values={str(k): float(v) for k, v in values.items()},
        evaluator=type(evaluator).__name__,
        trials=len(done),
        note=note,
    )


@dataclass(frozen=True)
class Axis:
    """One vertical axis of a parallel-coordinates plot."""

    name: str
    positions: list[float | None]
    """Each trial's place on the axis, 0 (bottom) to 1 (top); None where it has no value."""
    ticks: list[tuple[float, str]]
    """``(position, label)`` of the values worth labelling."""
    log: bool = False


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _numeric_axis(
    name: str, values: Sequence[float | None], low: float, high: float, log: bool
) -> Axis:
    def place(v: float) -> float:
        if log:
            lo, hi, v = math.log10(low), math.log10(high), math.log10(v)
        else:
            lo, hi = low, high
        return 0.5 if hi == lo else (v - lo) / (hi - lo)

    usable = log and low > 0 and high > 0
    log = usable
    positions = [
        None if v is None or not math.isfinite(v) or (log and v <= 0) else place(v) for v in values
    ]
    ticks = [(place(low), _show(low)), (place(high), _show(high))]
    if high != low:
        middle = math.sqrt(low * high) if log else (low + high) / 2
        ticks.insert(1, (place(middle), _show(middle)))
    return Axis(name, positions, ticks, log)


def parallel_axes(
    spec: SweepSpec, rows: Sequence[TrialRow], objective: str, direction: Direction
) -> list[Axis]:
    """One axis per swept hyperparameter, then the objective's, for ``rows`` (the
    trials to draw, in order). A list of values is spread evenly in its given order; a
    range spans the sweep's range (on a log scale for a ``:log`` one); the objective
    spans the trials' values, the better end at the top."""
    axes: list[Axis] = []
    for p in spec.params:
        column = [r.params.get(p.name) for r in rows]
        if p.kind == "values":
            labels = [_show(v) for v in p.values]
            count = len(labels)
            spot = {
                label: (i / (count - 1) if count > 1 else 0.5) for i, label in enumerate(labels)
            }
            positions = [None if v is None else spot.get(_show(v)) for v in column]
            axes.append(Axis(p.name, positions, [(spot[label], label) for label in labels]))
        else:
            low = float(p.low if p.low is not None else 0.0)
            high = float(p.high if p.high is not None else 1.0)
            numbers = [float(v) if isinstance(v, int | float) else None for v in column]
            axes.append(_numeric_axis(p.name, numbers, low, high, p.log))
    scores = [
        r.objective if r.objective is not None and math.isfinite(r.objective) else None
        for r in rows
    ]
    known = [s for s in scores if s is not None]
    if known:
        low, high = min(known), max(known)
        axis = _numeric_axis(objective, scores, low, high, False)
        if direction == "minimize":
            # Lower is better: flip, so the best trials end at the top of every plot.
            axis = Axis(
                axis.name,
                [None if v is None else 1.0 - v for v in axis.positions],
                [(1.0 - pos, label) for pos, label in axis.ticks],
            )
        axes.append(axis)
    return axes
