"""Sweeps, as plain data: what a person asks for (``--param``, ``--set``, the settings),
checked against a preset before anything trains, and the leaderboard's arithmetic.

``--param`` takes three forms::

    units=64,128,256              a list of values (any hyperparameter type)
    learning_rate=1e-4..1e-2:log  a range, sampled on a log scale
    dropout=0.1..0.5              a range, linear (an int hyperparameter gives an int range)

Every mistake is a :class:`~ktui.core.errors.KtuiError` naming the ``--param`` (or
setting) and what to do. The form's sweep mode builds the same spec from its fields
(:func:`param_from_fields`, :func:`assemble_spec`), with the same checks worded for
the field they belong to (:class:`SweepError` names it).

Plain Python: the search engine (Optuna) is driven by the command line
(:mod:`ktui.cli.sweep`), which turns a :class:`ParamSpec` into an Optuna
distribution; nothing here imports it.
"""

from __future__ import annotations

import difflib
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from ktui.core.errors import KtuiError
from ktui.core.metrics import lower_is_better
from ktui.core.presets import Hyperparameter, Preset, PresetCatalog, RunConfig
from ktui.core.presets import load as load_preset

Sampler = Literal["tpe", "random", "grid"]
SAMPLERS: tuple[Sampler, ...] = ("tpe", "random", "grid")

Pruner = Literal["median", "hyperband", "none"]
PRUNERS: tuple[Pruner, ...] = ("median", "hyperband", "none")

Direction = Literal["minimize", "maximize"]

TrialState = Literal["queued", "running", "finished", "pruned", "failed", "stopped", "interrupted"]
"""A trial's state on the leaderboard (``queued``: a slot of the budget not started yet)."""

TRIAL_STATES: tuple[TrialState, ...] = (
    "queued",
    "running",
    "finished",
    "pruned",
    "failed",
    "stopped",
    "interrupted",
)

SweepStatus = Literal["running", "paused", "stopped", "finished", "interrupted"]
SWEEP_STATUSES: tuple[SweepStatus, ...] = (
    "running",
    "paused",
    "stopped",
    "finished",
    "interrupted",
)

#: A sweep pauses itself after this many failed trials in a row: the fault is likely
#: the preset's or the machine's, and more trials would only fail the same way.
FAILURES_TO_PAUSE = 3

#: The largest int range a grid expands (every whole number in it is one grid point).
GRID_INT_LIMIT = 1000

DEFAULT_OBJECTIVE = "val_loss"


class SweepError(KtuiError):
    """A mistake in a sweep, with the ``field`` it belongs to: a hyperparameter's name,
    or one of the settings (``trials``, ``time``, ``workers``, ``sampler``, ``pruner``,
    ``objective``), so the form can say it next to that field."""

    def __init__(self, field: str, message: str, *, hint: str | None = None) -> None:
        self.field = field
        super().__init__(message, hint=hint)


_DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """Seconds in ``90s``, ``30m``, ``2h``, ``1h30m`` or a plain number of minutes;
    raises ``ValueError`` saying what it expects."""
    raw = text.strip().lower().replace(" ", "")
    bad = ValueError(f"expected a time such as 30m, 2h, 1h30m or 90s, got {text.strip()!r}")
    if not raw:
        raise bad
    try:
        seconds = float(raw) * 60.0
    except ValueError:
        seconds = 0.0
        number = ""
        for char in raw:
            if char.isdigit() or char == ".":
                number += char
            elif char in _DURATION_UNITS and number:
                try:
                    seconds += float(number) * _DURATION_UNITS[char]
                except ValueError:
                    raise bad from None
                number = ""
            else:
                raise bad from None
        if number:
            raise bad from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"a time budget must be above 0, got {text.strip()!r}")
    return seconds


def direction_of(metric: str) -> Direction:
    """Whether a sweep minimises or maximises ``metric``: the project's one metric policy
    (:func:`ktui.core.metrics.lower_is_better`) decides, as for a run's best epoch."""
    return "minimize" if lower_is_better(metric) else "maximize"


# --------------------------------------------------------------------------- parameters
@dataclass(frozen=True)
class ParamSpec:
    """How one hyperparameter varies across a sweep's trials."""

    name: str
    kind: Literal["values", "range"]
    type: str
    """The hyperparameter's type: int, float, choice or bool."""
    values: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    log: bool = False
    key: str = ""
    """The parameter's name in the Optuna study (empty: :attr:`name`). A change that
    Optuna cannot follow under the same name (another list of choices, a list become
    a range, a log scale switched) gives it a new one: see :meth:`SweepSpec.changed_param`."""

    @property
    def optuna_key(self) -> str:
        """The name Optuna knows this parameter by."""
        return self.key or self.name

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is one this spec can give (a list's member, within a range)."""
        if self.kind == "values":
            return value in self.values
        try:
            number = float(value)
        except (TypeError, ValueError):
            return False
        return float(self.low or 0) <= number <= float(self.high or 0)

    def describe(self) -> str:
        """The spec as ``--param`` takes it: ``units=64,128`` or ``lr=0.0001..0.01:log``."""
        if self.kind == "values":
            return f"{self.name}=" + ",".join(_show(v) for v in self.values)
        suffix = ":log" if self.log else ""
        return f"{self.name}={_show(self.low)}..{_show(self.high)}{suffix}"

    def grid_points(self) -> tuple[Any, ...] | None:
        """The values a grid takes for this parameter; ``None`` for a float range."""
        if self.kind == "values":
            return self.values
        if self.type == "int" and self.low is not None and self.high is not None:
            count = int(self.high) - int(self.low) + 1
            if count <= GRID_INT_LIMIT:
                return tuple(range(int(self.low), int(self.high) + 1))
        return None

    def to_json(self) -> dict[str, Any]:
        """A plain dict for the store."""
        return {
            "name": self.name,
            "kind": self.kind,
            "type": self.type,
            "values": list(self.values),
            "low": self.low,
            "high": self.high,
            "log": self.log,
            # Only once a change renamed it in the study (older sweeps have no key).
            **({"key": self.key} if self.key else {}),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ParamSpec:
        """The inverse of :meth:`to_json`."""
        return cls(
            name=str(data["name"]),
            kind="range" if data.get("kind") == "range" else "values",
            type=str(data.get("type", "float")),
            values=tuple(data.get("values") or ()),
            low=data.get("low"),
            high=data.get("high"),
            log=bool(data.get("log")),
            key=str(data.get("key") or ""),
        )


def format_param(value: object) -> str:
    """A hyperparameter's value in a sweep's lines: ``0.001``, ``64``, ``true``."""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.4g}"
    return _show(value)


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:g}"
    return str(value)


def _unknown(preset: Preset, name: str, option: str) -> KtuiError:
    known = sorted(preset.hyperparameters)
    close = difflib.get_close_matches(name, known, n=1)
    guess = f"Did you mean {close[0]!r}? " if close else ""
    return KtuiError(
        f"{option}: preset {preset.name} has no hyperparameter {name!r}",
        hint=f"{guess}Its hyperparameters: {', '.join(known)}.",
    )


def parse_param(preset: Preset, text: str) -> ParamSpec:
    """Parse one ``--param`` against ``preset``; raises :class:`KtuiError` saying what is
    wrong with it and what to write instead."""
    option = f"--param {text!r}"
    name, sep, body = text.partition("=")
    name, body = name.strip(), body.strip()
    if not sep or not name or not body:
        raise KtuiError(
            f"{option}: expected NAME=VALUES",
            hint="For example --param units=64,128,256, --param learning_rate=1e-4..1e-2:log "
            "or --param dropout=0.1..0.5.",
        )
    hp = preset.hyperparameters.get(name)
    if hp is None:
        raise _unknown(preset, name, option)
    if ".." in body:
        return _parse_range(hp, body, option)
    values: list[Any] = []
    for item in body.split(","):
        if not item.strip():
            raise KtuiError(f"{option}: an empty value in the list", hint="Write VALUE,VALUE,...")
        try:
            value = hp.parse(item)
        except ValueError as exc:
            raise KtuiError(f"{option}: {item.strip()!r}: {exc}") from None
        if value not in values:
            values.append(value)
    return ParamSpec(name=name, kind="values", type=hp.type, values=tuple(values))


def _parse_range(hp: Hyperparameter, body: str, option: str) -> ParamSpec:
    if hp.type not in ("int", "float"):
        listed = ",".join(hp.choices[:3]) if hp.choices else "true,false"
        raise KtuiError(
            f"{option}: {hp.name} is a {hp.type}, which has no range",
            hint=f"List the values instead, e.g. --param {hp.name}={listed}.",
        )
    span, _, scale = body.partition(":")
    scale = scale.strip().lower()
    if scale not in ("", "log", "linear"):
        raise KtuiError(
            f"{option}: unknown scale {scale!r}", hint="Write MIN..MAX or MIN..MAX:log."
        )
    low_text, _, high_text = span.partition("..")
    ends: list[float] = []
    for label, item in (("min", low_text), ("max", high_text)):
        if not item.strip():
            raise KtuiError(f"{option}: the range has no {label}", hint="Write MIN..MAX.")
        try:
            ends.append(hp.parse(item))
        except ValueError as exc:
            raise KtuiError(f"{option}: its {label} {item.strip()!r}: {exc}") from None
    low, high = ends
    if low >= high:
        raise KtuiError(
            f"{option}: the range's min {_show(low)} is not below its max {_show(high)}",
            hint=f"Write the smaller value first, e.g. --param {hp.name}="
            f"{_show(min(low, high))}..{_show(max(low, high))}"
            + (" (or a single value with --set)." if low == high else "."),
        )
    log = scale == "log"
    if log and low <= 0:
        raise KtuiError(
            f"{option}: a log range must stay above 0, and its min is {_show(low)}",
            hint=f"Start it above 0 (e.g. {_show(high / 1000)}..{_show(high)}:log), "
            "or drop :log for a linear range.",
        )
    return ParamSpec(name=hp.name, kind="range", type=hp.type, low=low, high=high, log=log)


# --------------------------------------------------------------------------- the sweep
@dataclass(frozen=True)
class SweepSettings:
    """How a sweep searches: its budget, engine and objective."""

    trials: int | None
    """The budget of trials; ``None``: as many as the time budget allows (a time-only
    sweep, which always has a :attr:`time_budget`)."""
    workers: int = 1
    sampler: Sampler = "tpe"
    pruner: Pruner = "median"
    objective: str = DEFAULT_OBJECTIVE
    direction: Direction = "minimize"
    time_budget: float | None = None
    """Seconds after the sweep's start when no new trial starts (running ones finish);
    None: only the number of trials bounds it."""

    def deadline(self, created_at: float) -> float | None:
        """When the time budget is spent (a time since the epoch), or ``None``."""
        return None if self.time_budget is None else created_at + self.time_budget

    def time_spent(self, created_at: float, now: float) -> bool:
        """Whether the time budget (if any) is spent: no new trial may start."""
        deadline = self.deadline(created_at)
        return deadline is not None and now >= deadline

    def to_json(self) -> dict[str, Any]:
        """A plain dict for the store."""
        data: dict[str, Any] = {
            "trials": self.trials,
            "workers": self.workers,
            "sampler": self.sampler,
            "pruner": self.pruner,
            "objective": self.objective,
            "direction": self.direction,
        }
        if self.time_budget is not None:
            data["time_budget"] = self.time_budget
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SweepSettings:
        """The inverse of :meth:`to_json`."""
        sampler = data.get("sampler", "tpe")
        pruner = data.get("pruner", "median")
        objective = str(data.get("objective", DEFAULT_OBJECTIVE))
        budget = data.get("time_budget")
        return cls(
            trials=None if data.get("trials") is None else int(data["trials"]),
            workers=int(data.get("workers", 1)),
            sampler=sampler if sampler in SAMPLERS else "tpe",
            pruner=pruner if pruner in PRUNERS else "median",
            objective=objective,
            direction="maximize" if data.get("direction") == "maximize" else "minimize",
            time_budget=float(budget) if isinstance(budget, int | float) else None,
        )


@dataclass(frozen=True)
class SweepSpec:
    """A checked sweep: which hyperparameters vary and how, which are fixed, and the
    settings. Every trial's values resolve to a valid run of the preset."""

    preset: str
    params: tuple[ParamSpec, ...]
    fixed: dict[str, Any]
    settings: SweepSettings
    source: str = ""
    """The preset's file, so every worker trains exactly this preset."""
    backend: str | None = None
    """The Keras backend every trial trains on (``--backend``, the form's field); None:
    the preset's ``backend`` key, else Keras's own setting, as for one run."""

    def grid_size(self) -> int | None:
        """Combinations in the full grid; ``None`` when a float range makes it infinite."""
        size = 1
        for param in self.params:
            points = param.grid_points()
            if points is None:
                return None
            size *= len(points)
        return size

    def changed_param(self, new: ParamSpec, sweep_id: int) -> ParamChange:
        """The spec with ``new`` in place of the swept parameter of its name, and the
        change in words; a :class:`KtuiError` says why not and what to do instead.

        Optuna lets a study's search space change between trials (define-by-run): a
        range may narrow or widen under the same name, and the sampler keeps learning
        from the trials before. A list of choices may not change under the same name
        (Optuna refuses "dynamic value space"), nor a range's scale, nor a list become
        a range: such a change gives the parameter a new name in the study, which the
        sampler learns afresh. The grid sampler fixes its grid when the study starts,
        so a grid sweep's parameters cannot change at all.
        """
        option = f"--param {new.describe()!r}"
        old = next((p for p in self.params if p.name == new.name), None)
        if old is None:
            swept = ", ".join(p.name for p in self.params)
            raise KtuiError(
                f"{option}: sweep {sweep_id} does not vary {new.name}",
                hint=f"It varies {swept}; a change applies to those (a new hyperparameter "
                "needs a new sweep).",
            )
        if self.settings.sampler == "grid":
            raise KtuiError(
                f"{option}: sweep {sweep_id} searches a grid, which Optuna's grid sampler "
                "fixes when the sweep starts",
                hint="Add trials with --trials, or start a new sweep with the new grid "
                "(or with --sampler random or tpe, whose ranges can change while they run).",
            )
        if new.kind == old.kind and new.values == old.values and (new.low, new.high, new.log) == (
            old.low,
            old.high,
            old.log,
        ):
            raise KtuiError(f"{option}: sweep {sweep_id} already varies {old.describe()}")
        same_name = new.kind == "range" and old.kind == "range" and new.log == old.log
        if same_name:
            placed = replace(new, key=old.key)
            note = ""
        else:
            version = max(1, _version(old.key)) + 1
            placed = replace(new, key=f"{new.name}#{version}")
            note = (
                " (Optuna cannot change a list of choices or a scale in place: "
                "the sampler learns this one afresh)"
            )
        params = tuple(placed if p.name == new.name else p for p in self.params)
        return ParamChange(params, f"{old.describe()} → {new.describe()}{note}")

    def check_rerun(self, params: Mapping[str, Any], number: int, sweep_id: int) -> None:
        """Refuse a re-run of trial ``number`` whose value of a list is no longer in it
        (Optuna cannot give a categorical parameter a value outside its choices)."""
        for spec in self.params:
            value = params.get(spec.name)
            if spec.kind == "values" and spec.name in params and value not in spec.values:
                listed = ",".join(_show(v) for v in (*spec.values, value))
                raise KtuiError(
                    f"trial {number}'s {spec.name}={format_param(params[spec.name])} is no "
                    f"longer among the sweep's {spec.describe()}",
                    hint=f"Add it back first: `ktui sweeps change {sweep_id} --param "
                    f"{spec.name}={listed}`.",
                )

    def to_json(self) -> dict[str, Any]:
        """A plain dict for the store (settings are stored on their own)."""
        return {
            "preset": self.preset,
            "params": [p.to_json() for p in self.params],
            "fixed": dict(self.fixed),
            "source": self.source,
            **({"backend": self.backend} if self.backend else {}),
        }

    @classmethod
    def from_json(cls, spec: Mapping[str, Any], settings: Mapping[str, Any]) -> SweepSpec:
        """The inverse of :meth:`to_json` (plus the stored settings)."""
        return cls(
            preset=str(spec.get("preset", "")),
            params=tuple(ParamSpec.from_json(p) for p in spec.get("params", [])),
            fixed=dict(spec.get("fixed") or {}),
            settings=SweepSettings.from_json(settings),
            source=str(spec.get("source", "")),
            backend=str(spec["backend"]) if spec.get("backend") else None,
        )


@dataclass(frozen=True)
class ParamChange:
    """A change of a sweep's parameters: the new ones, and the change in words."""

    params: tuple[ParamSpec, ...]
    text: str


def _version(key: str) -> int:
    _, _, number = key.rpartition("#")
    return int(number) if number.isdigit() else 0


@dataclass(frozen=True)
class Wording:
    """How the checks name what a person gave: the command line's options
    (``--trials``) or the form's fields (``trials``)."""

    trials: str = "--trials"
    time: str = "--time"
    workers: str = "--workers"
    sampler: str = "--sampler"
    pruner: str = "--pruner"
    objective: str = "--objective"
    fixed: str = "--set"
    param: str = "--param "
    """Put before a spec's ``describe()`` to name it (``--param units=8,16``)."""


CLI_WORDING = Wording()
FORM_WORDING = Wording("trials", "time budget", "workers", "sampler", "pruner", "objective", "", "")


def build_spec(
    preset: Preset,
    params: Sequence[str],
    assignments: Sequence[str] = (),
    *,
    trials: int | None = 20,
    workers: int = 1,
    sampler: str = "tpe",
    pruner: str = "median",
    objective: str | None = None,
    time_budget: float | None = None,
    backend: str | None = None,
) -> SweepSpec:
    """Check everything about a sweep that can be checked before anything trains;
    raises :class:`KtuiError` with where and what to do."""
    if not params:
        raise KtuiError(
            "a sweep needs at least one --param to vary",
            hint="For example --param units=32,64,128 or --param learning_rate=1e-4..1e-2:log.",
        )
    specs: list[ParamSpec] = []
    for text in params:
        spec = parse_param(preset, text)
        if any(s.name == spec.name for s in specs):
            raise KtuiError(
                f"--param {text!r}: {spec.name} is already given by another --param",
                hint="Give each hyperparameter one --param (a list or a range).",
            )
        specs.append(spec)
    fixed = preset.parse_assignments(assignments)
    for spec in specs:
        if spec.name in fixed:
            raise KtuiError(
                f"--set {spec.name}=...: {spec.name} is also swept by --param {spec.describe()}",
                hint="Either fix it with --set or vary it with --param, not both.",
            )
    return assemble_spec(
        preset,
        specs,
        fixed,
        trials=trials,
        workers=workers,
        sampler=sampler,
        pruner=pruner,
        objective=objective,
        time_budget=time_budget,
        backend=backend,
    )


def assemble_spec(
    preset: Preset,
    specs: Sequence[ParamSpec],
    fixed: Mapping[str, Any],
    *,
    trials: int | None = 20,
    workers: int = 1,
    sampler: str = "tpe",
    pruner: str = "median",
    objective: str | None = None,
    time_budget: float | None = None,
    wording: Wording = CLI_WORDING,
    backend: str | None = None,
) -> SweepSpec:
    """The checks of :func:`build_spec` after its parameters are parsed (the form's
    sweep mode parses them from its fields): the settings, every trial a valid run,
    the objective, the grid. Raises :class:`SweepError` naming the setting at fault
    (or :class:`KtuiError` from the preset, for a value it refuses)."""
    w = wording
    if not specs:
        raise SweepError(
            "params",
            "a sweep needs at least one hyperparameter to vary",
            hint="Give one a list of values or a range.",
        )
    if trials is None and time_budget is None:
        raise SweepError(
            "trials",
            "a sweep needs a number of trials or a time budget",
            hint=f"Give {w.trials} N, a time budget ({w.time} 30m), or both.",
        )
    if trials is not None and trials < 1:
        raise SweepError("trials", f"{w.trials} {trials}: a sweep needs at least 1 trial")
    if workers < 1:
        raise SweepError("workers", f"{w.workers} {workers}: a sweep needs at least 1 worker")
    if sampler not in SAMPLERS:
        raise SweepError(
            "sampler", f"{w.sampler} {sampler!r}: expected one of {', '.join(SAMPLERS)}"
        )
    if pruner not in PRUNERS:
        raise SweepError("pruner", f"{w.pruner} {pruner!r}: expected one of {', '.join(PRUNERS)}")
    if time_budget is not None and not (math.isfinite(time_budget) and time_budget > 0):
        raise SweepError("time", f"a time budget must be above 0, got {time_budget!r}")
    # Every trial must be a valid run: resolve the lowest and the highest corner.
    for corner in (0, -1):
        values = dict(fixed)
        for spec in specs:
            values[spec.name] = (
                spec.values[corner]
                if spec.kind == "values"
                else (spec.low if corner == 0 else spec.high)
            )
        config = preset.resolve(values, backend=backend)  # an unknown backend: refused
    # The preset's own objective ([fit] monitor) unless the person names another.
    objective = objective or config.monitor or default_objective(config.validation != "none")
    if objective.startswith("val_") and config.validation == "none":
        raise SweepError(
            "objective",
            f"{w.objective} {objective}: preset {preset.name} does not validate "
            '(fit.validation is "none"), so its runs never log validation metrics',
            hint=f"Use a training metric such as {w.objective} loss, or a preset with "
            'fit.validation = "test" or a fraction.',
        )
    result = SweepSpec(
        preset=preset.name,
        params=tuple(specs),
        fixed=dict(fixed),
        source=preset.source,
        backend=config.backend if backend is not None else None,
        settings=SweepSettings(
            trials=trials,
            workers=workers if trials is None else min(workers, trials),
            sampler=sampler,  # type: ignore[arg-type]  # checked above
            pruner=pruner,  # type: ignore[arg-type]
            objective=objective,
            # The preset's policy: its [fit] mode overrides the direction of its monitor.
            direction="minimize" if config.policy.lower_is_better(objective) else "maximize",
            time_budget=time_budget,
        ),
    )
    if sampler == "grid":
        size = result.grid_size()
        if size is None:
            ranged = next(p for p in specs if p.grid_points() is None)
            raise SweepError(
                "sampler",
                f"{w.sampler} grid: {w.param}{ranged.describe()} is a range of real numbers, "
                "which has no grid",
                hint=f"List its values ({w.param}{ranged.name}=A,B,C), "
                f"or use {w.sampler} random or tpe.",
            )
        if trials is None:
            # A time-only grid: the grid is the budget of trials (Optuna's grid sampler
            # has nothing left to give after its last point).
            result = replace(
                result,
                settings=replace(
                    result.settings,
                    trials=size,
                    workers=min(result.settings.workers, size),
                ),
            )
        elif size > trials:
            raise SweepError(
                "trials",
                f"{w.sampler} grid: the grid has {size} combinations but {w.trials} is {trials}",
                hint=f"Raise {w.trials} to {size} to try them all, or use {w.sampler} random "
                f"to try {trials} of them at random.",
            )
    return result


def sweep_preset(catalog: PresetCatalog, spec: SweepSpec) -> Preset:
    """The preset a sweep trains: its own file when it still exists, else by name."""
    source = Path(spec.source)
    if spec.source and source.is_file():
        return load_preset(source)
    return catalog.get(spec.preset)


def parse_change(preset: Preset, spec: SweepSpec, text: str, sweep_id: int) -> ParamSpec:
    """A ``--param`` changing a sweep that exists, checked as far as it can be before
    the store is touched: parsed against the preset, each end of a range (each value
    of a list) a valid run with the sweep's other values, and a change the sweep can
    take (:meth:`SweepSpec.changed_param`)."""
    new = parse_param(preset, text)
    others = {p.name: (p.values[0] if p.kind == "values" else p.low) for p in spec.params}
    ends = new.values if new.kind == "values" else (new.low, new.high)
    for value in ends:
        preset.resolve({**spec.fixed, **others, new.name: value})
    spec.changed_param(new, sweep_id)
    return new


def param_from_fields(
    hp: Hyperparameter,
    kind: Literal["list", "range", "choices"],
    *,
    values: str = "",
    low: str = "",
    high: str = "",
    log: bool = False,
    chosen: Sequence[Any] = (),
) -> ParamSpec:
    """One hyperparameter's sweep as the form's fields give it: a list of values typed
    ``64,128,256``, a range from ``low`` to ``high`` (``log`` scale or not), or a subset
    ``chosen`` of a choice's (or a bool's) values. The checks of :func:`parse_param`,
    worded for the field; raises :class:`SweepError` (its field: ``hp.name``)."""
    name = hp.name
    if kind == "choices":
        picked = [v for v in (hp.choices if hp.type == "choice" else (True, False)) if v in chosen]
        if not picked:
            raise SweepError(
                name, f"{name}: no value chosen", hint="Pick at least one with space."
            )
        return ParamSpec(name=name, kind="values", type=hp.type, values=tuple(picked))
    if kind == "list":
        items = [item for item in values.split(",") if item.strip()]
        if not items:
            raise SweepError(
                name, f"{name}: no values", hint="Type values separated by commas, e.g. 32,64,128."
            )
        parsed: list[Any] = []
        for item in items:
            try:
                value = hp.parse(item)
            except ValueError as exc:
                raise SweepError(
                    name,
                    f"{name}: {item.strip()!r}: {exc}",
                    hint=f"Each value must be {hp.describe_expected()}.",
                ) from None
            if value not in parsed:
                parsed.append(value)
        return ParamSpec(name=name, kind="values", type=hp.type, values=tuple(parsed))
    if hp.type not in ("int", "float"):
        raise SweepError(name, f"{name}: a {hp.type} has no range", hint="Choose its values.")
    ends: list[Any] = []
    for label, item in (("min", low), ("max", high)):
        if not item.strip():
            raise SweepError(name, f"{name}: the range has no {label}", hint=f"Type its {label}.")
        try:
            ends.append(hp.parse(item))
        except ValueError as exc:
            raise SweepError(
                name,
                f"{name}: its {label} {item.strip()!r}: {exc}",
                hint="Keep the range within the preset's bounds.",
            ) from None
    start, end = ends
    if start >= end:
        raise SweepError(
            name,
            f"{name}: the range's min {_show(start)} is not below its max {_show(end)}",
            hint="Make min the smaller value"
            + (" (or set the field fixed for one value)." if start == end else "."),
        )
    if log and start <= 0:
        raise SweepError(
            name,
            f"{name}: a log range must stay above 0, and its min is {_show(start)}",
            hint=f"Start it above 0 (e.g. min {_show(end / 1000)}), or turn log off.",
        )
    return ParamSpec(name=name, kind="range", type=hp.type, low=start, high=end, log=log)


def logged_metrics(config: RunConfig) -> list[str]:
    """The metrics a run of ``config`` logs each epoch, as a sweep's objective may name
    them: ``loss`` and the compiled metrics, their ``val_`` twins when it validates,
    and the preset's ``[fit] monitor``."""
    names = ["loss", *config.metrics]
    if config.validation != "none":
        names = [f"val_{n}" for n in names] + names
    if config.monitor and config.monitor not in names:
        names.insert(0, config.monitor)
    return list(dict.fromkeys(names))


def estimate_seconds(spec: SweepSpec, epochs: float, epoch_seconds: float) -> float:
    """The sweep's total time if every trial runs all its ``epochs``: trials × epochs ×
    seconds per epoch ÷ workers, at most the time budget. Pruning is not counted: it
    only shortens a sweep."""
    s = spec.settings
    if s.trials is None:  # a time-only sweep runs for its time budget
        return s.time_budget or 0.0
    total = s.trials * epochs * epoch_seconds / max(1, s.workers)
    return min(total, s.time_budget) if s.time_budget is not None else total


def default_objective(validates: bool) -> str:
    """``val_loss``, or ``loss`` for a preset that has no validation data."""
    return DEFAULT_OBJECTIVE if validates else "loss"


# --------------------------------------------------------------------------- leaderboard
@dataclass(frozen=True)
class TrialRow:
    """One trial as the leaderboard shows it."""

    number: int
    state: TrialState
    params: dict[str, Any] = field(default_factory=dict)
    objective: float | None = None
    epochs: int = 0
    epochs_planned: int | None = None
    run_id: int | None = None
    reason: str = ""
    started_at: float | None = None
    ended_at: float | None = None
    curve: tuple[float, ...] = ()
    """The objective per epoch, for a sparkline."""
    worker: str = ""
    """Which worker ran it: host, pid and GPU (``gpubox2/4711 GPU1``); empty if none yet."""


def _is_number(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def rank(rows: Iterable[TrialRow], direction: Direction) -> list[TrialRow]:
    """Trials best first: finished ones by objective, then pruned and stopped ones by the
    objective they reached, then running, then the rest by number."""
    sign = 1.0 if direction == "minimize" else -1.0
    group = {"finished": 0, "pruned": 1, "stopped": 1, "running": 2, "interrupted": 3}

    def key(row: TrialRow) -> tuple[int, int, float, int]:
        scored = _is_number(row.objective)
        value = sign * row.objective if scored and row.objective is not None else math.inf
        return (group.get(row.state, 4), 0 if scored else 1, value, row.number)

    return sorted(rows, key=key)


def best(rows: Iterable[TrialRow], direction: Direction) -> TrialRow | None:
    """The best finished trial (or ``None``)."""
    done = [r for r in rows if r.state == "finished" and _is_number(r.objective)]
    ranked = rank(done, direction)
    return ranked[0] if ranked else None


def trial_progress(started: int, trials: int | None) -> str:
    """``trial 7 of 20``, or ``trial 7`` for a time-only sweep."""
    return f"trial {started}" if trials is None else f"trial {started} of {trials}"


def eta_seconds(
    rows: Sequence[TrialRow],
    trials: int | None,
    workers: int,
    now: float,
    deadline: float | None = None,
) -> float | None:
    """Seconds until the sweep ends, from the trials that ended so far: until its
    trials are spent, or, when it has a time budget (``deadline``), until the trials
    that start before the deadline end (a trial's mean duration after it), whichever
    comes first. A time-only sweep (``trials`` None) is timed by its deadline alone."""
    durations = [
        r.ended_at - r.started_at
        for r in rows
        if r.state in ("finished", "pruned", "failed", "stopped")
        and r.ended_at is not None
        and r.started_at is not None
    ]
    by_time = None
    if deadline is not None:
        mean_trial = statistics.fmean(durations) if durations else 0.0
        # The trials going at the deadline run on (in parallel) for about a trial more.
        by_time = max(0.0, deadline - now) + mean_trial
    if trials is None or not durations:
        return by_time
    mean = statistics.fmean(durations)
    ended = sum(1 for r in rows if r.state in ("finished", "pruned", "failed", "stopped"))
    running = [r for r in rows if r.state == "running"]
    left = max(0, trials - ended - len(running))
    running_left = sum(
        max(0.0, mean - (now - r.started_at)) for r in running if r.started_at is not None
    )
    by_trials = (running_left + left * mean) / max(1, workers)
    return by_trials if by_time is None else min(by_trials, by_time)


def prune_reason(
    objective: str,
    value: float,
    epoch: int,
    others: Sequence[float],
    pruner: Pruner,
    direction: Direction,
) -> str:
    """Why the pruner stopped a trial, in words: ``val_loss 0.41 at epoch 3, worse than
    the median 0.37 of 5 trials``. ``others``: the other trials' values at that epoch."""
    if pruner == "median" and others:
        median = statistics.median(others)
        return (
            f"{objective} {value:.4g} at epoch {epoch}, worse than the median "
            f"{median:.4g} of {len(others)} trial{'s' if len(others) != 1 else ''}"
        )
    if others:
        ordered = sorted(others, reverse=direction == "maximize")
        best_value = ordered[0]
        return (
            f"{objective} {value:.4g} at epoch {epoch}, not among the best of "
            f"{len(others) + 1} trials at that epoch (best {best_value:.4g}; "
            "successive halving)"
        )
    return f"{objective} {value:.4g} at epoch {epoch}, judged too weak by the {pruner} pruner"
