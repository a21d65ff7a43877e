"""Presets: declarative TOML descriptions of a training, with editable hyperparameters.

A preset file has these parts (see ``presets/*.toml`` for complete examples)::

    name = "mnist_mlp"            # optional, defaults to the file name
    description = "..."
    seed = 7                      # optional; a number or "$hyperparameter"
    backend = "jax"               # optional Keras backend: tensorflow | jax | torch
    strategy = "mirrored"         # optional: auto | mirrored | multiworker (ktui.core.distribute)

    [data]                        # where the arrays come from, and their preprocessing
    source = "mnist"              # random | mnist | fashion_mnist | path/to/file.npz
    transforms = [{ op = "flatten" }, { op = "scale", divide = 255 }, { op = "one_hot" }]

    [model]
    input_shape = [784]           # optional: checked against the data
    [[model.layers]]              # any Keras layer by name, with its arguments
    type = "Dense"
    units = "$units"              # "$name" refers to a hyperparameter

    [compile]                     # optimizer, loss, metrics, learning_rate
    [fit]                         # batch_size, epochs, validation, shuffle

    [hyperparameters.units]       # what the form lets a person edit
    type = "int"
    default = 784
    min = 1
    max = 8192
    help = "Dense units: the size of the layer's output space."

Loading validates everything that can be checked without Keras (structure, types,
bounds, references), including the names of Keras layers, activations, optimizers,
losses and metrics and the value ranges of the common layers' arguments, from the
tables in :mod:`ktui.core.keras_names`. A hyperparameter whose bounds or choices
allow a value Keras would refuse where it is used is itself an error; values without
bounds are checked when they are filled in (``--set``, the form).
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

import tomli_w

from ktui.core.backends import BACKENDS, normalize
from ktui.core.data import DataSource, Transform, TransformSpecError, parse_source, parse_transform
from ktui.core.distribute import STRATEGIES, normalize_strategy
from ktui.core.errors import KtuiError, PresetError
from ktui.core.keras_names import (
    ACTIVATIONS,
    LAYER_RULES,
    LAYERS,
    SETTING_RULES,
    Rule,
    suggest,
)
from ktui.core.metrics import MetricPolicy, Mode, check_mode

HyperType = Literal["int", "float", "choice", "bool"]
Validation = Literal["test", "none"] | float

_REF = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")

_TOP_KEYS = {
    "name",
    "description",
    "seed",
    "backend",
    "strategy",
    "data",
    "model",
    "compile",
    "fit",
    "hyperparameters",
}
_DATA_KEYS = {"source", "transforms", "train_samples", "test_samples", "features", "classes"}
_MODEL_KEYS = {"input_shape", "layers"}
_COMPILE_KEYS = {"optimizer", "loss", "metrics", "learning_rate"}
_FIT_KEYS = {"batch_size", "epochs", "validation", "shuffle", "monitor", "mode"}
_HP_KEYS = {"type", "default", "min", "max", "choices", "help"}


# --------------------------------------------------------------------------- hyperparameters
@dataclass(frozen=True)
class Hyperparameter:
    """One editable value of a preset, with its type, bounds and help text."""

    name: str
    type: HyperType
    default: Any
    help: str
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()

    def describe_expected(self) -> str:
        """What a valid value looks like, for error messages and the form."""
        if self.type == "choice":
            return "one of " + ", ".join(self.choices)
        if self.type == "bool":
            return "true or false"
        kind = "a whole number" if self.type == "int" else "a number"
        if self.min is not None and self.max is not None:
            return f"{kind} from {_fmt(self.min)} to {_fmt(self.max)}"
        if self.min is not None:
            return f"{kind} of at least {_fmt(self.min)}"
        if self.max is not None:
            return f"{kind} of at most {_fmt(self.max)}"
        return kind

    def validate(self, value: object) -> Any:
        """Return ``value`` as this hyperparameter's type, or raise ``ValueError``."""
        bad = ValueError(f"{self.name} expects {self.describe_expected()}, got {value!r}")
        if self.type == "bool":
            if not isinstance(value, bool):
                raise bad
            return value
        if self.type == "choice":
            if not isinstance(value, str) or value not in self.choices:
                raise bad
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad
        if self.type == "int":
            if isinstance(value, float):
                if not value.is_integer():
                    raise bad
                value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise bad
        if (self.min is not None and value < self.min) or (
            self.max is not None and value > self.max
        ):
            raise bad
        return value

    def parse(self, text: str) -> Any:
        """Parse a value typed by a person (``--set`` or the form); raises ``ValueError``."""
        raw = text.strip()
        value: object
        if self.type == "int":
            try:
                value = int(raw.replace("_", ""))
            except ValueError:
                try:
                    value = float(raw)
                except ValueError:
                    value = raw
        elif self.type == "float":
            try:
                value = float(raw)
            except ValueError:
                value = raw
        elif self.type == "bool":
            lowered = raw.lower()
            value = {
                "true": True,
                "yes": True,
                "1": True,
                "on": True,
                "false": False,
                "no": False,
                "0": False,
                "off": False,
            }.get(lowered, raw)
        else:
            value = raw
        return self.validate(value)

    def format(self, value: object) -> str:
        """Show ``value`` the way :meth:`parse` reads it back."""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float):
            return _fmt(value)
        return str(value)


def _fmt(number: float) -> str:
    if isinstance(number, float) and number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return f"{number:g}"


# --------------------------------------------------------------------------- preset
@dataclass(frozen=True)
class LayerSpec:
    """A layer as written in the preset: a Keras class name and its arguments."""

    kind: str
    args: dict[str, Any]
    key: str
    """Where it stands in the file, e.g. ``model.layers[2]``."""


@dataclass(frozen=True)
class Preset:
    """A validated preset file. Values may still contain ``$name`` references."""

    name: str
    description: str
    source: str
    """The file it was read from (or ``<string>``), used in every message about it."""
    raw: Mapping[str, Any] = field(repr=False)
    hyperparameters: dict[str, Hyperparameter]

    def defaults(self) -> dict[str, Any]:
        """The default value of every hyperparameter."""
        return {name: hp.default for name, hp in self.hyperparameters.items()}

    def resolve(
        self,
        values: Mapping[str, Any] | None = None,
        *,
        data: str | None = None,
        backend: str | None = None,
        strategy: str | None = None,
    ) -> RunConfig:
        """Fill in hyperparameter ``values`` (defaults for the rest) and return a run's config.

        ``data`` overrides the preset's data source (``--data``), ``backend`` its
        Keras backend (``--backend``), ``strategy`` its strategy (``--strategy``).
        Raises :class:`PresetError` for an unknown name or an invalid value,
        :class:`KtuiError` for an unknown backend or strategy.
        """
        merged = self.defaults()
        for name, value in (values or {}).items():
            if name not in self.hyperparameters:
                raise PresetError(self.source, name, _unknown_name(name, self.hyperparameters))
            try:
                merged[name] = self.hyperparameters[name].validate(value)
            except ValueError as exc:
                raise PresetError(self.source, f"hyperparameters.{name}", str(exc)) from None
        config = _build_config(self, merged, data)
        if backend is not None:
            config = replace(config, backend=normalize(backend, where="--backend"))
        if strategy is not None:
            config = replace(config, strategy=normalize_strategy(strategy, where="--strategy"))
        return config

    def parse_assignments(self, assignments: Iterable[str]) -> dict[str, Any]:
        """Parse ``key=value`` strings (``--set``) into typed values; raises :class:`KtuiError`."""
        parsed: dict[str, Any] = {}
        for item in assignments:
            name, sep, text = item.partition("=")
            name = name.strip()
            if not sep or not name:
                raise KtuiError(f"--set {item!r}: expected NAME=VALUE, e.g. --set batch_size=128")
            hp = self.hyperparameters.get(name)
            if hp is None:
                raise KtuiError(
                    f"--set {item!r}: preset {self.name} has no hyperparameter {name!r}",
                    hint=_unknown_name(name, self.hyperparameters),
                )
            try:
                parsed[name] = hp.parse(text)
            except ValueError as exc:
                raise KtuiError(f"--set {item!r}: {exc}") from None
        return parsed


@dataclass(frozen=True)
class RunConfig:
    """Everything a training backend needs, with every reference filled in."""

    preset: Preset
    values: dict[str, Any]
    data: DataSource
    transforms: tuple[Transform, ...]
    input_shape: tuple[int, ...] | None
    layers: tuple[LayerSpec, ...]
    optimizer: str
    learning_rate: float | None
    loss: str
    metrics: tuple[str, ...]
    batch_size: int
    epochs: int
    validation: Validation
    shuffle: bool
    seed: int | None
    monitor: str | None = None
    """``[fit] monitor``: the metric the run is judged by (default val_loss, else loss)."""
    mode: Mode = "auto"
    """``[fit] mode``: ``min``, ``max`` or ``auto`` (the monitored metric's direction by name)."""
    source_text: str = ""
    """The data source exactly as typed (``--data``, the form), else the preset's own text."""

    @property
    def data_override(self) -> str | None:
        """The data source given instead of the preset's own, as typed; None: the preset's."""
        own = self.preset.raw.get("data", {}).get("source")
        return None if self.source_text == own else self.source_text

    @property
    def policy(self) -> MetricPolicy:
        """How this run's metrics are judged (see :mod:`ktui.core.metrics`)."""
        return MetricPolicy(self.monitor, self.mode)
    backend: str | None = None
    """The Keras backend the preset or the person asked for; None: Keras's own setting
    (``KERAS_BACKEND``, ``keras.json``), else the first installed (see
    :mod:`ktui.core.backends`)."""
    strategy: str = "auto"
    """How the run spreads over devices: ``auto`` (one), ``mirrored`` (every local GPU)
    or ``multiworker`` (several hosts, from ``TF_CONFIG``); see :mod:`ktui.core.distribute`."""

    @property
    def classes(self) -> int | None:
        """How many outputs the model has: the last layer's ``units`` when it is a Dense
        layer (the classes of a classifier), else None (unknown without Keras)."""
        last = self.layers[-1]
        units = last.args.get("units")
        if last.kind == "Dense" and isinstance(units, int) and not isinstance(units, bool):
            return units
        return None

    def steps_per_epoch(self, train_samples: int) -> int:
        """Batches in one epoch: ``ceil(samples / batch_size)`` (the last batch may be short)."""
        return max(1, math.ceil(train_samples / self.batch_size))


def _unknown_name(name: str, known: Mapping[str, object]) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1)
    names = ", ".join(sorted(known)) or "(none)"
    if close:
        return f"unknown hyperparameter {name!r}; did you mean {close[0]!r}? Known: {names}"
    return f"unknown hyperparameter {name!r}; known: {names}"


# --------------------------------------------------------------------------- loading
def loads(text: str, *, source: str = "<string>", name: str | None = None) -> Preset:
    """Parse and validate a preset from TOML text; raises :class:`PresetError`."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PresetError(source, "", f"not valid TOML: {exc}") from None
    return _validate(raw, source, name)


def load(path: Path) -> Preset:
    """Read and validate one preset file; raises :class:`PresetError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PresetError(str(path), "", f"cannot be read: {exc}") from None
    return loads(text, source=str(path), name=path.stem)


@dataclass
class PresetCatalog:
    """The presets found in a list of folders, plus the files that failed to load."""

    presets: dict[str, Preset] = field(default_factory=dict)
    errors: list[PresetError] = field(default_factory=list)
    """Broken files are listed with their error instead of vanishing."""

    def get(self, name: str) -> Preset:
        """The preset called ``name``; a :class:`KtuiError` names the choices otherwise."""
        if name in self.presets:
            return self.presets[name]
        for error in self.errors:
            if Path(error.source).stem == name:
                raise error
        path = Path(name)
        if path.suffix == ".toml" and path.exists():
            return load(path)
        known = ", ".join(sorted(self.presets)) or "(none)"
        raise KtuiError(
            f"no preset called {name!r}",
            hint=f"Known presets: {known}. Run `ktui presets` to list them, or pass a .toml file.",
        )


def load_catalog(folders: Sequence[Path]) -> PresetCatalog:
    """Load every ``*.toml`` in ``folders``; a later folder's preset replaces an earlier one."""
    catalog = PresetCatalog()
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            # A later file replaces an earlier one of the same name, whichever of the
            # two is broken: a typo in a user's copy of a shipped preset must be
            # reported, not silently answered with the shipped file.
            catalog.errors = [e for e in catalog.errors if Path(e.source).stem != path.stem]
            try:
                preset = load(path)
            except PresetError as exc:
                catalog.errors.append(exc)
                catalog.presets = {
                    name: p
                    for name, p in catalog.presets.items()
                    if name != path.stem and Path(p.source).stem != path.stem
                }
                continue
            catalog.presets[preset.name] = preset
    return catalog


def shipped_presets_dir() -> Path:
    """The presets that come with ktui (in the wheel, or the repo's ``presets/``)."""
    packaged = Path(__file__).resolve().parent.parent / "presets"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "presets"


def dump_values(preset: Preset, values: Mapping[str, Any], *, name: str, description: str) -> str:
    """Return the TOML text of ``preset`` with ``values`` as new defaults, saved as ``name``.

    Used by "save as new preset": the file is the original with only the name, the
    description and each hyperparameter's ``default`` changed. ``tomli_w`` writes it,
    so any string (quotes, backslashes, newlines, control characters) reads back as is.
    """
    raw = _deep_copy(preset.raw)
    raw["name"] = name
    raw["description"] = description
    for key, value in values.items():
        raw["hyperparameters"][key]["default"] = value
    text = tomli_w.dumps(raw)
    loads(text, source=f"{name}.toml")  # never write a file that would not load back
    return text


# --------------------------------------------------------------------------- validation
class _Checker:
    """Small helpers that raise PresetError naming the file and key path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, problem: str) -> PresetError:
        return PresetError(self.source, key, problem)

    def table(self, value: object, key: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a table, got {_kind(value)}")
        return value

    def keys(self, table: Mapping[str, Any], allowed: set[str], key: str) -> None:
        import difflib

        for name in table:
            if name not in allowed:
                close = difflib.get_close_matches(name, sorted(allowed), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                path = f"{key}.{name}" if key else name
                raise self.fail(
                    path, f"unknown key{hint} Expected one of: {', '.join(sorted(allowed))}"
                )


def _kind(value: object) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def _validate(raw: dict[str, Any], source: str, default_name: str | None) -> Preset:
    check = _Checker(source)
    check.keys(raw, _TOP_KEYS, "")

    name = raw.get("name", default_name or "preset")
    if not isinstance(name, str) or not _NAME.match(name):
        raise check.fail("name", f"expected a name of letters, digits, _ or -, got {name!r}")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise check.fail("description", f"expected a string, got {_kind(description)}")

    hps: dict[str, Hyperparameter] = {}
    for hp_name, spec in check.table(raw.get("hyperparameters", {}), "hyperparameters").items():
        hps[hp_name] = _hyperparameter(check, hp_name, spec)

    for section, allowed in (
        ("data", _DATA_KEYS),
        ("model", _MODEL_KEYS),
        ("compile", _COMPILE_KEYS),
        ("fit", _FIT_KEYS),
    ):
        if section not in raw:
            raise check.fail(section, "missing section")
        check.keys(check.table(raw[section], section), allowed, section)
    if "source" not in raw["data"]:
        raise check.fail("data.source", "missing: random, mnist, fashion_mnist or a .npz path")
    layers = raw["model"].get("layers")
    if not isinstance(layers, list) or not layers:
        raise check.fail("model.layers", "expected at least one [[model.layers]] table")
    for index, layer in enumerate(layers):
        key = f"model.layers[{index}]"
        layer = check.table(layer, key)
        kind = layer.get("type")
        if not isinstance(kind, str) or not kind.isidentifier():
            raise check.fail(
                f"{key}.type", f"expected a Keras layer name such as 'Dense', got {kind!r}"
            )
    for key in ("optimizer", "loss"):
        if key not in raw["compile"]:
            raise check.fail(f"compile.{key}", "missing")
    for key in ("batch_size", "epochs"):
        if key not in raw["fit"]:
            raise check.fail(f"fit.{key}", "missing")

    _check_references(check, raw, hps, "")
    _check_keras_sites(check, raw, hps)
    preset = Preset(
        name=name, description=description.strip(), source=source, raw=raw, hyperparameters=hps
    )
    # Resolving with the defaults checks every typed field (batch size, epochs, ...).
    _build_config(preset, preset.defaults(), None)
    return preset


def _hyperparameter(check: _Checker, name: str, spec: object) -> Hyperparameter:
    key = f"hyperparameters.{name}"
    if not name.isidentifier():
        raise check.fail(key, "a hyperparameter name must be a Python-style identifier")
    table = check.table(spec, key)
    check.keys(table, _HP_KEYS, key)
    kind = table.get("type")
    if kind not in ("int", "float", "choice", "bool"):
        raise check.fail(f"{key}.type", f"expected int, float, choice or bool, got {kind!r}")
    help_text = table.get("help")
    if not isinstance(help_text, str) or not help_text.strip():
        raise check.fail(f"{key}.help", "expected a one-line help text")
    if "default" not in table:
        raise check.fail(f"{key}.default", "missing")
    bounds: dict[str, float | None] = {"min": None, "max": None}
    choices: tuple[str, ...] = ()
    if kind in ("int", "float"):
        for bound in ("min", "max"):
            value = table.get(bound)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise check.fail(f"{key}.{bound}", f"expected a number, got {value!r}")
            bounds[bound] = value
        low, high = bounds["min"], bounds["max"]
        if low is not None and high is not None and low > high:
            raise check.fail(f"{key}.min", f"min ({low}) is larger than max ({high})")
    elif "min" in table or "max" in table:
        raise check.fail(f"{key}.min", f"bounds only apply to int and float, not {kind}")
    if kind == "choice":
        raw_choices = table.get("choices")
        if (
            not isinstance(raw_choices, list)
            or not raw_choices
            or not all(isinstance(c, str) for c in raw_choices)
        ):
            raise check.fail(f"{key}.choices", "expected a non-empty list of strings")
        choices = tuple(raw_choices)
    elif "choices" in table:
        raise check.fail(f"{key}.choices", 'choices only apply to type = "choice"')
    hp = Hyperparameter(
        name=name,
        type=kind,
        default=table["default"],
        help=help_text.strip(),
        min=bounds["min"],
        max=bounds["max"],
        choices=choices,
    )
    try:
        default = hp.validate(table["default"])
    except ValueError as exc:
        raise check.fail(f"{key}.default", str(exc)) from None
    return Hyperparameter(
        name=name, type=kind, default=default, help=hp.help, min=hp.min, max=hp.max, choices=choices
    )


def _check_references(check: _Checker, value: object, hps: Mapping[str, Any], key: str) -> None:
    if key.startswith("hyperparameters"):
        return
    if isinstance(value, dict):
        for sub, item in value.items():
            _check_references(check, item, hps, f"{key}.{sub}" if key else sub)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_references(check, item, hps, f"{key}[{index}]")
    elif isinstance(value, str):
        match = _REF.match(value)
        if match and match.group(1) not in hps:
            raise check.fail(
                key,
                _unknown_name(match.group(1), hps) + " (referenced as "
                f"{value!r}; add it under [hyperparameters.{match.group(1)}])",
            )


#: Rules for arguments of any layer, whichever layer it is (Keras reads them alike).
_ANY_LAYER_RULES: dict[str, Rule] = {
    "activation": Rule("name", "activation", names=ACTIVATIONS),
    "recurrent_activation": Rule("name", "recurrent_activation", names=ACTIVATIONS),
}


def _check_value(check: _Checker, rule: Rule, value: object, key: str, written: object) -> None:
    """Refuse a filled-in value Keras would refuse; say which ``$name`` it came from."""
    problem = rule.problem(value)
    if problem is None:
        return
    if isinstance(written, str) and _REF.match(written):
        problem += f" (from {written})"
    elif isinstance(written, list) and any(isinstance(w, str) and _REF.match(w) for w in written):
        refs = ", ".join(w for w in written if isinstance(w, str) and _REF.match(w))
        problem += f" (from {refs})"
    raise check.fail(key, problem)


def _check_keras_sites(check: _Checker, raw: Mapping[str, Any], hps: Mapping[str, Any]) -> None:
    """Layer types known to Keras, and every ``$name`` used where Keras has a rule
    allowed by its hyperparameter's type, bounds and choices (checked without Keras)."""
    for index, layer in enumerate(raw["model"]["layers"]):
        key = f"model.layers[{index}]"
        kind = layer["type"]
        if kind not in LAYERS:
            raise check.fail(
                f"{key}.type", f"unknown Keras layer {kind!r}; {suggest(kind, LAYERS)}"
            )
        rules = LAYER_RULES.get(kind, {})
        for arg, value in layer.items():
            rule = rules.get(arg) or _ANY_LAYER_RULES.get(arg)
            if rule is not None:
                _check_site(check, rule, value, f"{key}.{arg}", hps)
    for path, rule in SETTING_RULES.items():
        section, name = path.split(".")
        value = raw[section].get(name)
        if path == "compile.metrics" and isinstance(value, list):
            for index, item in enumerate(value):
                _check_site(check, rule, item, f"{path}[{index}]", hps)
        elif value is not None:
            _check_site(check, rule, value, path, hps)


def _check_site(
    check: _Checker, rule: Rule, value: object, key: str, hps: Mapping[str, Any]
) -> None:
    if isinstance(value, list) and rule.kind in ("ints", "shape"):
        element = Rule("int", rule.what, low=1 if rule.low is None else rule.low)
        for index, item in enumerate(value):
            _check_site(check, element, item, f"{key}[{index}]", hps)
        return
    match = _REF.match(value) if isinstance(value, str) else None
    if match is None:
        return  # a literal: checked with every other value when the config is built
    hp: Hyperparameter = hps[match.group(1)]
    where = f"hyperparameters.{hp.name}"
    uses = f"{hp.name} is used as {key} ({rule.what})"
    if rule.kind == "name":
        if hp.type != "choice":
            raise check.fail(
                f"{where}.type", f'{uses}, which takes a name: make it type = "choice"'
            )
        for choice in hp.choices:
            problem = rule.problem(choice)
            if problem is not None:
                raise check.fail(f"{where}.choices", f"{uses}: {problem}")
        return
    whole = rule.kind in ("int", "ints", "shape")
    if hp.type not in (("int",) if whole else ("int", "float")):
        wanted = "a whole number" if whole else "a number"
        raise check.fail(f"{where}.type", f"{uses}, which takes {wanted}, but it is a {hp.type}")
    for bound in ("min", "max"):
        limit = getattr(hp, bound)
        if limit is not None and not rule.accepts_number(limit):
            raise check.fail(
                f"{where}.{bound}",
                f"{bound} = {_fmt(limit)} allows {key} = {_fmt(limit)}, but {rule.what} must "
                f"be {rule.describe()}",
            )


def _substitute(value: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, values) for v in value]
    if isinstance(value, str):
        match = _REF.match(value)
        if match:
            return values[match.group(1)]
    return value


def _build_config(preset: Preset, values: Mapping[str, Any], data: str | None) -> RunConfig:
    check = _Checker(preset.source)
    raw = _substitute({k: v for k, v in preset.raw.items() if k != "hyperparameters"}, values)

    def positive_int(section: str, key: str, default: int | None = None) -> int:
        value = raw[section].get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise check.fail(f"{section}.{key}", f"expected a positive whole number, got {value!r}")
        return value

    def text(section: str, key: str) -> str:
        value = raw[section].get(key)
        if not isinstance(value, str) or not value:
            raise check.fail(f"{section}.{key}", f"expected a name, got {value!r}")
        return value

    # data
    data_raw = raw["data"]
    source_text = data if data is not None else data_raw["source"]
    if not isinstance(source_text, str):
        raise check.fail("data.source", f"expected a string, got {_kind(source_text)}")
    base_dir = Path(preset.source).parent if preset.source != "<string>" else None
    try:
        source = parse_source(source_text, base_dir=None if data is not None else base_dir)
    except KtuiError as exc:
        if data is not None:
            raise
        raise check.fail("data.source", exc.message) from None
    if source.kind == "random":
        source = DataSource(
            kind="random",
            train_samples=positive_int("data", "train_samples", source.train_samples),
            test_samples=positive_int("data", "test_samples", source.test_samples),
            features=positive_int("data", "features", source.features),
            classes=positive_int("data", "classes", source.classes),
        )
    transforms_raw = data_raw.get("transforms", [])
    if not isinstance(transforms_raw, list):
        raise check.fail("data.transforms", "expected a list of {op = ...} tables")
    transforms = []
    for index, item in enumerate(transforms_raw):
        try:
            transforms.append(parse_transform(item, f"data.transforms[{index}]"))
        except TransformSpecError as exc:
            raise check.fail(exc.key, exc.problem) from None

    # model
    input_shape = raw["model"].get("input_shape")
    if input_shape is not None:
        if (
            not isinstance(input_shape, list)
            or not input_shape
            or not all(
                isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in input_shape
            )
        ):
            raise check.fail(
                "model.input_shape",
                f"expected a list of positive whole numbers, got {input_shape!r}",
            )
        input_shape = tuple(input_shape)
    layers = tuple(
        LayerSpec(
            kind=layer["type"],
            args={k: v for k, v in layer.items() if k != "type"},
            key=f"model.layers[{index}]",
        )
        for index, layer in enumerate(raw["model"]["layers"])
    )

    for spec, raw_layer in zip(layers, preset.raw["model"]["layers"], strict=True):
        rules = LAYER_RULES.get(spec.kind, {})
        for arg, value in spec.args.items():
            rule = rules.get(arg) or _ANY_LAYER_RULES.get(arg)
            if rule is not None:
                _check_value(check, rule, value, f"{spec.key}.{arg}", raw_layer[arg])

    # compile
    metrics = raw["compile"].get("metrics", [])
    if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
        raise check.fail("compile.metrics", f"expected a list of metric names, got {metrics!r}")
    learning_rate = raw["compile"].get("learning_rate")
    if learning_rate is not None and (
        isinstance(learning_rate, bool)
        or not isinstance(learning_rate, int | float)
        or not learning_rate > 0
    ):
        raise check.fail(
            "compile.learning_rate", f"expected a positive number, got {learning_rate!r}"
        )

    # fit
    validation: Validation
    raw_validation = raw["fit"].get("validation", "none")
    if raw_validation in ("test", "none") or (
        isinstance(raw_validation, float) and 0 < raw_validation < 1
    ):
        validation = raw_validation
    else:
        raise check.fail(
            "fit.validation",
            'expected "test" (validate on the test set), '
            f'"none", or a fraction between 0 and 1, got {raw_validation!r}',
        )
    shuffle = raw["fit"].get("shuffle", True)
    if not isinstance(shuffle, bool):
        raise check.fail("fit.shuffle", f"expected true or false, got {shuffle!r}")
    monitor = raw["fit"].get("monitor")
    if monitor is not None and (not isinstance(monitor, str) or not monitor.strip()):
        raise check.fail(
            "fit.monitor", f"expected a metric name such as 'val_loss', got {monitor!r}"
        )
    try:
        mode = check_mode(raw["fit"].get("mode", "auto"))
    except ValueError as exc:
        raise check.fail("fit.mode", str(exc)) from None
    if mode != "auto" and monitor is None:
        raise check.fail("fit.mode", 'a mode needs a monitor: add monitor = "val_..."')
    seed = raw.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise check.fail("seed", f"expected a whole number of at least 0, got {seed!r}")
    backend = raw.get("backend")
    if backend is not None:
        try:
            backend = normalize(backend) if isinstance(backend, str) else None
        except KtuiError:
            backend = None
        if backend is None:
            raise check.fail(
                "backend", f"expected one of {', '.join(BACKENDS)}, got {raw['backend']!r}"
            )
    strategy = raw.get("strategy", "auto")
    try:
        strategy = normalize_strategy(strategy) if isinstance(strategy, str) else None
    except KtuiError:
        strategy = None
    if strategy is None:
        raise check.fail(
            "strategy", f"expected one of {', '.join(STRATEGIES)}, got {raw['strategy']!r}"
        )

    optimizer = text("compile", "optimizer")
    loss = text("compile", "loss")
    raw_compile = preset.raw["compile"]
    for key, value, written in (
        ("optimizer", optimizer, raw_compile["optimizer"]),
        ("loss", loss, raw_compile["loss"]),
    ):
        _check_value(check, SETTING_RULES[f"compile.{key}"], value, f"compile.{key}", written)
    for index, name in enumerate(metrics):
        written = (
            raw_compile["metrics"][index] if isinstance(raw_compile["metrics"], list) else name
        )
        _check_value(
            check, SETTING_RULES["compile.metrics"], name, f"compile.metrics[{index}]", written
        )

    return RunConfig(
        preset=preset,
        values=dict(values),
        data=source,
        transforms=tuple(transforms),
        input_shape=input_shape,
        layers=layers,
        optimizer=optimizer,
        learning_rate=None if learning_rate is None else float(learning_rate),
        loss=loss,
        metrics=tuple(metrics),
        batch_size=positive_int("fit", "batch_size"),
        epochs=positive_int("fit", "epochs"),
        validation=validation,
        shuffle=shuffle,
        seed=seed,
        monitor=monitor,
        mode=mode,
        source_text=source_text,
        backend=backend,
        strategy=strategy,
    )


# --------------------------------------------------------------------------- TOML writing
def _deep_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value
