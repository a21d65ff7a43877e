"""The form's sweep mode: the widgets that say how each hyperparameter varies and the
sweep's settings, and the check of what they hold (:func:`check_sweep`).

For every hyperparameter the form offers a *kind*: ``fixed`` (the form's own field),
``list`` (values typed ``32,64,128``), ``range`` (min, max and a log switch: int and
float hyperparameters) or ``choices`` (a subset of a choice's values, or of true and
false). The checks are the core's (:func:`ktui.core.sweep.param_from_fields` and
:func:`ktui.core.sweep.assemble_spec`, the same as ``ktui sweep``'s), each mistake
kept with the field it belongs to, so the form says it there.

Used by :mod:`ktui.screens.form` only; it posts nothing and knows no other screen.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Select, SelectionList, Static, Switch

from ktui.core.errors import KtuiError, PresetError
from ktui.core.format import format_seconds
from ktui.core.presets import Hyperparameter, Preset
from ktui.core.sweep import (
    FORM_WORDING,
    PRUNERS,
    SAMPLERS,
    ParamSpec,
    SweepError,
    SweepSpec,
    assemble_spec,
    default_objective,
    estimate_seconds,
    logged_metrics,
    param_from_fields,
    parse_duration,
)

Kind = Literal["fixed", "list", "range", "choices"]

#: The settings' fields (their widgets are ``sweep-NAME``, their errors ``error-sweep-NAME``).
SETTINGS = ("trials", "time", "workers", "sampler", "pruner", "objective")

#: A new sweep's number of trials, as ``ktui sweep``'s default.
DEFAULT_TRIALS = 20

#: How a preset error names the hyperparameter a refused value came from.
_FROM_REF = re.compile(r"\(from \$([A-Za-z_][A-Za-z0-9_]*)\)")


def kinds_for(hp: Hyperparameter) -> tuple[Kind, ...]:
    """How ``hp`` may vary: numbers by a list or a range, choices and bools by a subset."""
    if hp.type in ("int", "float"):
        return ("fixed", "list", "range")
    return ("fixed", "choices")


def _choice_values(hp: Hyperparameter) -> tuple[str, ...]:
    return hp.choices if hp.type == "choice" else ("true", "false")


def kind_select(hp: Hyperparameter) -> ComposeResult:
    """How ``hp`` varies in sweep mode (``fixed`` at first), right after its label."""
    yield Select(
        [(kind, kind) for kind in kinds_for(hp)],
        value="fixed",
        allow_blank=False,
        id=f"kind-{hp.name}",
        classes="sweep-only sweep-kind",
    )


def value_controls(hp: Hyperparameter) -> ComposeResult:
    """The list field, or the range's min, max and log switch, of a number ``hp`` in
    sweep mode (each shown by the kind chosen, see the form's styles)."""
    if hp.type in ("int", "float"):
        yield Input(
            id=f"list-{hp.name}",
            classes="sweep-list",
            placeholder="values: 32,64,128" if hp.type == "int" else "values: 0.1,0.2,0.5",
        )
        yield Input(id=f"min-{hp.name}", classes="sweep-range sweep-bound", placeholder="min")
        yield Input(id=f"max-{hp.name}", classes="sweep-range sweep-bound", placeholder="max")
        yield Label("log", classes="sweep-range sweep-log-label")
        yield Switch(value=False, id=f"log-{hp.name}", classes="sweep-range")


def choices_control(hp: Hyperparameter, value: object) -> ComposeResult:
    """The subset of ``hp``'s values to try (a choice or a bool), under its row."""
    if hp.type not in ("choice", "bool"):
        return
    current = hp.format(value)
    yield SelectionList[str](
        *[(choice, choice, choice == current) for choice in _choice_values(hp)],
        id=f"choices-{hp.name}",
        classes="sweep-choices",
    )


def settings_fields(preset: Preset) -> ComposeResult:
    """The sweep's settings: trials, a time budget, workers, sampler, pruner, objective."""
    config = preset.resolve(preset.defaults())
    objective = config.monitor or default_objective(config.validation != "none")
    metrics = logged_metrics(config)
    if objective not in metrics:
        metrics.insert(0, objective)
    policy = config.policy
    with Vertical(id="sweep-settings", classes="sweep-only"):
        yield Static("Sweep", classes="section-title")
        rows: list[tuple[str, Any]] = [
            (
                "trials",
                Input(str(DEFAULT_TRIALS), id="sweep-trials", placeholder="empty: until the time"),
            ),
            ("time", Input(id="sweep-time", placeholder="no limit (e.g. 30m, 2h)")),
            ("workers", Input("1", id="sweep-workers", placeholder="parallel workers")),
            (
                "sampler",
                Select(
                    [(s, s) for s in SAMPLERS], value="tpe", allow_blank=False, id="sweep-sampler"
                ),
            ),
            (
                "pruner",
                Select(
                    [(p, p) for p in PRUNERS], value="median", allow_blank=False, id="sweep-pruner"
                ),
            ),
            (
                "objective",
                Select(
                    [
                        (f"{m} ({'minimize' if policy.lower_is_better(m) else 'maximize'})", m)
                        for m in metrics
                    ],
                    value=objective,
                    allow_blank=False,
                    id="sweep-objective",
                ),
            ),
        ]
        for name, widget in rows:
            with Vertical(classes="field setting", id=f"field-sweep-{name}"):
                with Horizontal(classes="field-row"):
                    yield Label(name, classes="field-label")
                    yield widget
                yield Static("", classes="field-error", id=f"error-sweep-{name}")
        yield Static(
            "It ends after its trials or its time, whichever comes first. Below, each "
            "hyperparameter is fixed, a list, a range (log for rates) or a choice of values.",
            classes="field-help sweep-help",
        )


@dataclass
class SweepFields:
    """What the sweep mode's widgets hold, as the form read them."""

    kinds: dict[str, Kind] = field(default_factory=dict)
    lists: dict[str, str] = field(default_factory=dict)
    lows: dict[str, str] = field(default_factory=dict)
    highs: dict[str, str] = field(default_factory=dict)
    logs: dict[str, bool] = field(default_factory=dict)
    chosen: dict[str, list[str]] = field(default_factory=dict)
    trials: str = str(DEFAULT_TRIALS)
    time: str = ""
    workers: str = "1"
    sampler: str = "tpe"
    pruner: str = "median"
    objective: str | None = None


@dataclass
class SweepCheck:
    """The outcome of :func:`check_sweep`."""

    spec: SweepSpec | None
    """The sweep to launch; None while anything is wrong."""
    params: dict[str, ParamSpec]
    """The hyperparameters that vary and how (those whose fields are valid)."""
    errors: dict[str, str]
    """Mistakes by field: a hyperparameter's name or ``sweep-SETTING``."""
    problem: str | None = None
    """What is wrong that belongs to no single field."""
    epochs: float | None = None
    """Epochs a trial trains (their mean when the epochs vary)."""

    @property
    def grid_size(self) -> int | None:
        """Combinations of the swept values; None for a float range (no grid) or none."""
        if not self.params:
            return None
        size = 1
        for param in self.params.values():
            points = param.grid_points()
            if points is None:
                return None
            size *= len(points)
        return size


def _said(exc: KtuiError) -> str:
    return exc.message + (f" {exc.hint}" if exc.hint else "")


def check_sweep(
    preset: Preset,
    values: Mapping[str, Any],
    value_errors: Mapping[str, str],
    fields: SweepFields,
) -> SweepCheck:
    """Check the sweep the fields describe: every swept hyperparameter, every setting,
    then the whole (every trial a valid run, the objective, the grid). ``values`` and
    ``value_errors`` are the fixed fields' values and mistakes."""
    errors: dict[str, str] = {}
    params: dict[str, ParamSpec] = {}
    for name, hp in preset.hyperparameters.items():
        kind = fields.kinds.get(name, "fixed")
        if kind == "fixed":
            if name in value_errors:
                errors[name] = value_errors[name]
            continue
        chosen: list[Any] = list(fields.chosen.get(name, []))
        if hp.type == "bool":
            chosen = [c == "true" for c in chosen]
        try:
            params[name] = param_from_fields(
                hp,
                kind,
                values=fields.lists.get(name, ""),
                low=fields.lows.get(name, ""),
                high=fields.highs.get(name, ""),
                log=fields.logs.get(name, False),
                chosen=chosen,
            )
        except SweepError as exc:
            errors[name] = _said(exc)
    workers = _whole(fields.workers, "workers", errors, "the number of parallel workers")
    budget: float | None = None
    if fields.time.strip():
        try:
            budget = parse_duration(fields.time)
        except ValueError as exc:
            errors["sweep-time"] = f"time: {exc}; leave it empty for no limit."
    # Empty trials with a time budget: a time-only sweep (as many trials as it allows).
    timed_only = not fields.trials.strip() and fields.time.strip() != ""
    trials = (
        None if timed_only else _whole(fields.trials, "trials", errors, "the number of trials")
    )
    fixed = {
        name: value
        for name, value in values.items()
        if name not in params and value != preset.hyperparameters[name].default
    }
    epochs = _epochs(preset, fixed, params)
    check = SweepCheck(None, params, errors, epochs=epochs)
    if not params:
        check.problem = (
            "Nothing varies yet: give at least one hyperparameter a list, a range or a "
            "choice of values (the kind left of its value)."
        )
        return check
    if errors or (trials is None and not timed_only) or workers is None:
        return check
    try:
        check.spec = assemble_spec(
            preset,
            list(params.values()),
            fixed,
            trials=trials,
            workers=workers,
            sampler=fields.sampler,
            pruner=fields.pruner,
            objective=fields.objective,
            time_budget=budget,
            wording=FORM_WORDING,
        )
    except SweepError as exc:
        where = exc.field if exc.field in preset.hyperparameters else f"sweep-{exc.field}"
        errors[where] = _said(exc)
    except PresetError as exc:
        said = f"{exc.key}: {exc.problem}" if exc.key else exc.problem
        source = _FROM_REF.search(said)
        if source is not None and source.group(1) in preset.hyperparameters:
            errors[source.group(1)] = f"{said} (at one end of the sweep)"
        else:
            check.problem = said
    except KtuiError as exc:
        check.problem = _said(exc)
    return check


def _whole(text: str, name: str, errors: dict[str, str], what: str) -> int | None:
    try:
        number = int(text.strip().replace("_", ""))
    except ValueError:
        errors[f"sweep-{name}"] = f"{name}: {text.strip()!r} is not a whole number; type {what}."
        return None
    if number < 1:
        errors[f"sweep-{name}"] = f"{name}: {number}; a sweep needs at least 1."
        return None
    return number


def _epochs(
    preset: Preset, fixed: Mapping[str, Any], params: Mapping[str, ParamSpec]
) -> float | None:
    """Epochs per trial: the preset's at both ends of the sweep, averaged."""
    counts: list[int] = []
    for corner in (0, -1):
        values = dict(fixed)
        for spec in params.values():
            if spec.kind == "values":
                values[spec.name] = spec.values[corner]
            else:
                values[spec.name] = spec.low if corner == 0 else spec.high
        try:
            counts.append(preset.resolve(values).epochs)
        except KtuiError:
            return None
    return sum(counts) / len(counts)


def describe(check: SweepCheck, epoch_time: tuple[float, int] | None) -> Text:
    """The side panel in sweep mode: what varies, the grid, the trials, the estimate."""
    lines = Text()
    if check.params:
        lines.append("Sweep ", style="bold")
        lines.append(" ".join(p.describe() for p in check.params.values()) + "\n")
    grid = check.grid_size
    if grid is not None:
        lines.append("Grid ", style="bold")
        lines.append(f"{grid:,} combination{'s' if grid != 1 else ''}\n")
    spec = check.spec
    if spec is None:
        bad = [k.removeprefix("sweep-") for k in check.errors]
        if check.problem:
            lines.append(check.problem, style="bold red")
        elif bad:
            lines.append(f"Fix {', '.join(bad)} to start.", style="bold red")
        return lines
    s = spec.settings
    lines.append("Trials ", style="bold")
    shown_trials = "until the time is spent" if s.trials is None else str(s.trials)
    lines.append(
        f"{shown_trials} · {s.workers} worker{'s' if s.workers != 1 else ''} · {s.sampler}"
    )
    lines.append(f" · pruner {s.pruner}\n")
    lines.append("Objective ", style="bold")
    lines.append(f"{s.objective} ({s.direction})\n")
    lines.append("Time ", style="bold")
    epochs = check.epochs
    if epoch_time is None or epochs is None:
        lines.append("unknown until the preset has run here once (F4 back to one run, then ^r)")
    else:
        seconds, runs = epoch_time
        total = estimate_seconds(spec, epochs, seconds)
        shown_epochs = f"{epochs:g}" if math.isfinite(epochs) else "?"
        lines.append(f"≈ {format_seconds(total)}\n")
        if s.trials is None:
            lines.append(
                f"the time budget {format_seconds(total)}: trials start until it is spent "
                f"(about {epochs:g} epochs × {seconds:.2g}s each)"
                if math.isfinite(epochs)
                else f"the time budget {format_seconds(total)}: trials start until it is spent",
                style="dim",
            )
            return lines
        lines.append(
            f"{s.trials} trials × {shown_epochs} epochs × {seconds:.2g}s ÷ {s.workers} "
            f"worker{'s' if s.workers != 1 else ''}"
            + (f", at most the budget {format_seconds(s.time_budget)}" if s.time_budget else "")
            + f"; the epoch time from {runs} recorded run{'s' if runs != 1 else ''}; "
            "pruning not counted (it only shortens a sweep)",
            style="dim",
        )
    return lines
