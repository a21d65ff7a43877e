"""What a sweep's trials say about its hyperparameters: how much each mattered to the
objective (parameter importance) and where each trial sits on every hyperparameter's
axis (the data of a parallel-coordinates view).

Importance is Optuna's (:func:`optuna.importance.get_param_importances`) with its
PED-ANOVA evaluator: the default one (fANOVA) and mean decrease in impurity need
scikit-learn, which ktui does not depend on; PED-ANOVA needs only NumPy. It is
computed on a study built in memory from ktui's own record of the trials (their
values by hyperparameter name), so it reads nothing of Optuna's file and works the
same after a range was changed while the sweep ran. Optuna is imported only by
:func:`importances` (the sweep extra), never at import time.

Plain Python otherwise: the leaderboard's views and ``ktui sweeps show --importance``
draw what these functions return.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ktui.core.errors import KtuiError
from ktui.core.sweep import Direction, ParamSpec, TrialRow, format_param, rank

#: Fewer finished trials than this say nothing about importance (PED-ANOVA compares
#: the best tenth of the trials with all of them).
MIN_TRIALS_FOR_IMPORTANCE = 3

EVALUATOR = "PED-ANOVA"
"""The name of Optuna's evaluator ktui uses, for the views to say."""


def _scored(rows: Sequence[TrialRow], specs: Sequence[ParamSpec]) -> list[TrialRow]:
    names = [p.name for p in specs]
    return [
        r
        for r in rows
        if r.state == "finished"
        and r.objective is not None
        and math.isfinite(r.objective)
        and all(n in r.params for n in names)
    ]


def _distribution(spec: ParamSpec, values: Sequence[Any]) -> Any:
    """An Optuna distribution holding the spec and every value trials took (a range
    may have been narrowed after some trials ran outside it)."""
    import optuna

    if spec.kind == "values":
        choices = list(spec.values)
        for value in values:
            if value not in choices:
                choices.append(value)
        return optuna.distributions.CategoricalDistribution(choices)
    numbers = [float(v) for v in values]
    low = min([float(spec.low or 0), *numbers])
    high = max([float(spec.high or 0), *numbers])
    if spec.type == "int":
        return optuna.distributions.IntDistribution(int(low), int(high), log=spec.log)
    return optuna.distributions.FloatDistribution(low, high, log=spec.log)


def importances(
    rows: Sequence[TrialRow], specs: Sequence[ParamSpec], direction: Direction
) -> dict[str, float]:
    """Each swept hyperparameter's importance (summing to 1), most important first.

    A :class:`KtuiError` says why there is none: too few finished trials, or Optuna
    missing."""
    scored = _scored(rows, specs)
    if len(scored) < MIN_TRIALS_FOR_IMPORTANCE:
        raise KtuiError(
            f"importance needs at least {MIN_TRIALS_FOR_IMPORTANCE} finished trials; "
            f"this sweep has {len(scored)}",
            hint="Look again when more trials have finished.",
        )
    try:
        import optuna
    except ImportError:
        raise KtuiError(
            "importance needs the optuna package, which is not installed",
            hint="Install it with `pip install optuna` (or `pip install 'ktui[sweep]'`).",
        ) from None
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    dists = {p.name: _distribution(p, [r.params[p.name] for r in scored]) for p in specs}
    study = optuna.create_study(direction=direction)
    study.add_trials(
        [
            optuna.trial.create_trial(
                params={p.name: r.params[p.name] for p in specs},
                distributions=dists,
                value=r.objective,
            )
            for r in scored
        ]
    )
    evaluator = optuna.importance.PedAnovaImportanceEvaluator()
    try:
        found = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except (RuntimeError, ValueError) as exc:
        raise KtuiError(f"Optuna could not compute the importance: {exc}") from None
    # Optuna leaves out a parameter whose trials all took one value: it explains nothing.
    result = {name: float(found.get(name, 0.0)) for name in dists}
    return dict(sorted(result.items(), key=lambda item: -item[1]))


def importance_bars(values: dict[str, float], width: int = 30) -> list[str]:
    """One line per hyperparameter: ``learning_rate  ██████████░░░░  0.71``."""
    if not values:
        return []
    label = max(len(name) for name in values)
    lines = []
    for name, value in values.items():
        filled = round(max(0.0, min(1.0, value)) * width)
        bar = "█" * filled + "░" * (width - filled)
        lines.append(f"{name:<{label}}  {bar}  {value:.2f}")
    return lines


# --------------------------------------------------------------------------- parallel coordinates
@dataclass(frozen=True)
class Axis:
    """One hyperparameter's axis: its name and the labels of its bottom and top."""

    name: str
    low: str
    high: str


@dataclass(frozen=True)
class Polyline:
    """One trial across the axes: its position on each (0 bottom, 1 top)."""

    number: int
    objective: float
    positions: tuple[float, ...]
    shade: float
    """0 for the worst objective among the trials drawn, 1 for the best."""
    best: bool


def _position(spec: ParamSpec, value: Any, low: float, high: float) -> float:
    if spec.kind == "values":
        index = spec.values.index(value) if value in spec.values else 0
        return index / max(1, len(spec.values) - 1)
    number = float(value)
    if spec.log and low > 0 and number > 0:
        low, high, number = math.log10(low), math.log10(high), math.log10(number)
    return 0.5 if high == low else min(1.0, max(0.0, (number - low) / (high - low)))


def parallel_coordinates(
    rows: Sequence[TrialRow], specs: Sequence[ParamSpec], direction: Direction
) -> tuple[list[Axis], list[Polyline]]:
    """The axes (one per hyperparameter, then the objective's) and one polyline per
    trial with an objective (finished, pruned or stopped), worst first so the best is
    drawn last, on top. A list's values sit evenly along its axis in their order; a
    range spans what the spec and the trials took (a log range on a log scale)."""
    scored = [
        r
        for r in rank(rows, direction)
        if r.state in ("finished", "pruned", "stopped")
        and r.objective is not None
        and math.isfinite(r.objective)
        and all(p.name in r.params for p in specs)
    ]
    widened: list[ParamSpec] = []
    bounds: list[tuple[float, float]] = []
    for spec in specs:
        if spec.kind == "values":
            choices = list(spec.values)
            choices += [r.params[spec.name] for r in scored if r.params[spec.name] not in choices]
            spec = ParamSpec(spec.name, "values", spec.type, tuple(dict.fromkeys(choices)))
            widened.append(spec)
            bounds.append((0.0, 1.0))
            continue
        numbers = [float(r.params[spec.name]) for r in scored]
        bounds.append(
            (min([float(spec.low or 0), *numbers]), max([float(spec.high or 0), *numbers]))
        )
        widened.append(spec)
    axes = []
    for spec, (low, high) in zip(widened, bounds, strict=True):
        if spec.kind == "values":
            axes.append(
                Axis(spec.name, format_param(spec.values[0]), format_param(spec.values[-1]))
            )
        else:
            axes.append(Axis(spec.name, format_param(low), format_param(high)))
    objectives = [float(r.objective or 0.0) for r in scored]
    lowest, highest = (min(objectives), max(objectives)) if objectives else (0.0, 1.0)
    # The objective's axis: the best at the top whichever the direction.
    top, bottom = (lowest, highest) if direction == "minimize" else (highest, lowest)
    axes.append(Axis("objective", format_param(bottom), format_param(top)))
    span = highest - lowest
    lines = []
    best_number = scored[0].number if scored and scored[0].state == "finished" else None
    for row in reversed(scored):
        value = float(row.objective or 0.0)
        shade = 0.5 if span == 0 else (highest - value) / span
        if direction == "maximize":
            shade = 1.0 - shade if span else shade
        positions = tuple(
            _position(spec, row.params[spec.name], low, high)
            for spec, (low, high) in zip(widened, bounds, strict=True)
        )
        lines.append(
            Polyline(row.number, value, (*positions, shade), shade, row.number == best_number)
        )
    return axes, lines
