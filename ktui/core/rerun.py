"""Re-run planning: what a new run of a recorded one uses, and what it could not keep.

One planner for every place that re-runs — the training screen (``r``/``e``), the
history screens and ``ktui runs rerun`` — so they agree: the same hyperparameter
values, the data source exactly as the person typed it, the same seed, where it ran
(its strategy, Keras backend and GPUs: ``CUDA_VISIBLE_DEVICES``), and a note for each
thing that could not be kept (a hyperparameter the preset no longer has, a value its
bounds no longer allow, a data source recorded only as a description).

Plain Python: no TensorFlow, Keras or Textual.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ktui.core import data as data_mod
from ktui.core.errors import KtuiError
from ktui.core.presets import Preset, RunConfig


@dataclass(frozen=True)
class RerunPlan:
    """What a re-run uses; :meth:`config` resolves it."""

    preset: Preset
    values: dict[str, Any]
    """The recorded values the preset still takes."""
    data: str | None
    """The data source to pass as ``data`` (as typed); None: the preset's own."""
    seed: int | None
    """The recorded seed (None: the preset's, or none was recorded)."""
    notes: tuple[str, ...] = ()
    """What could not be kept, one sentence each (empty: the re-run is the same run)."""
    dropped: tuple[str, ...] = ()
    """The names of the recorded hyperparameters it could not keep."""
    backend: str | None = None
    """The Keras backend it ran on (None: unknown, the preset's or Keras's own)."""
    strategy: str | None = None
    """Its strategy (``auto``, ``mirrored``, ``multiworker``; None: the preset's)."""
    devices: str | None = None
    """The GPUs it was given (its ``CUDA_VISIBLE_DEVICES``); None: every GPU."""
    workers: int = 1
    """How many processes a ``multiworker`` run had."""
    run_id: int | None = None
    """The recorded run this re-runs (None: a run of this process)."""

    def config(self, overrides: Mapping[str, Any] | None = None) -> RunConfig:
        """The run's config, ``overrides`` (``--set``, parsed) over the recorded values
        (raises :class:`KtuiError` if the data source is refused)."""
        values = {**self.values, **(overrides or {})}
        config = self.preset.resolve(
            values, data=self.data, backend=self.backend, strategy=self.strategy
        )
        if self.seed is not None and config.seed != self.seed:
            config = replace(config, seed=self.seed)
        return config

    @property
    def devices_environment(self) -> dict[str, str]:
        """What the re-run's process needs in its environment to get the same GPUs."""
        return {} if self.devices is None else {"CUDA_VISIBLE_DEVICES": self.devices}

    def cluster_problem(self, environ: Mapping[str, str]) -> KtuiError | None:
        """Why a ``multiworker`` run cannot be re-run from a process with ``environ``
        (no ``TF_CONFIG``: it would start one worker of a cluster, which waits for the
        others forever); None when it can, or it is not multi-worker."""
        if self.strategy != "multiworker" or environ.get("TF_CONFIG", "").strip():
            return None
        which = f"run {self.run_id}" if self.run_id is not None else "this run"
        again = f"ktui runs rerun {self.run_id}" if self.run_id is not None else "ktui run"
        return KtuiError(
            f"{which} ran on {self.workers} workers (multiworker): a re-run needs the "
            "cluster, and TF_CONFIG is not set here",
            hint=f"On every host of the cluster, set TF_CONFIG (the same cluster, each "
            f"host its own task index) and run `{again}` there; the chief (task 0) "
            "records the run.",
        )


def assignments(preset: Preset, values: Mapping[str, Any]) -> list[str]:
    """``values`` as ``--set NAME=VALUE`` texts that ``preset`` parses back to the same
    values (a float by repr: every digit; the form's display format rounds)."""
    return [
        f"{name}={value!r}"
        if isinstance(value, float)
        else f"{name}={preset.hyperparameters[name].format(value)}"
        for name, value in values.items()
    ]


def plan_rerun(
    presets: Mapping[str, Preset],
    preset: str,
    values: Mapping[str, Any],
    *,
    data_source: str | None = None,
    data: str = "",
    seed: int | None = None,
    backend: str | None = None,
    strategy: str | None = None,
    devices: str | None = None,
    workers: int = 1,
    run_id: int | None = None,
) -> RerunPlan:
    """Plan a re-run of a run of ``preset`` with ``values``.

    ``data_source`` is the source as the person typed it (recorded since store schema
    4); without it the recorded description ``data`` is read back where it is
    unambiguous. ``backend``, ``strategy``, ``devices`` and ``workers`` are where it
    ran (see :class:`RerunPlan`). Raises :class:`KtuiError` when the preset is not
    loaded.
    """
    found = presets.get(preset)
    if found is None:
        raise KtuiError(
            f"preset {preset} is no longer available (no such preset file in the preset "
            "folders), so this run cannot be re-run",
            hint="`ktui presets` lists the presets; --presets DIR adds a folder.",
        )
    notes: list[str] = []
    dropped: list[str] = []
    kept: dict[str, Any] = {}
    for name, value in values.items():
        hp = found.hyperparameters.get(name)
        if hp is None:
            dropped.append(name)
            notes.append(f"preset {found.name} no longer has {name} (the run had {value!r})")
            continue
        try:
            kept[name] = hp.validate(value)
        except ValueError as exc:
            dropped.append(name)
            notes.append(f"{name}={value!r} is no longer valid ({exc}); the default is used")
    own = found.raw.get("data", {}).get("source")
    source: str | None
    if data_source is not None:
        source = None if data_source == own else data_source
    else:
        source = recorded_source(data, found)  # a run recorded before the source was kept
    if seed is not None and seed != found.raw.get("seed"):
        notes.append(
            f"the preset's seed is now {found.raw.get('seed')!r}; the run's {seed} is kept"
        )
    return RerunPlan(
        found,
        kept,
        source,
        seed,
        tuple(notes),
        tuple(dropped),
        backend=backend,
        strategy=strategy,
        devices=devices,
        workers=workers,
        run_id=run_id,
    )


def plan_config(config: RunConfig) -> RerunPlan:
    """The plan of a run of ``config`` started in this process (nothing is lost)."""
    return plan_rerun(
        {config.preset.name: config.preset},
        config.preset.name,
        config.values,
        data_source=config.source_text or None,
        seed=config.seed,
        backend=config.backend,
        strategy=config.strategy,
    )


def recorded_source(data: str, preset: Preset) -> str | None:
    """The data source a run recorded before ktui kept the source as typed, read back
    from its description where unambiguous; None: the preset's own (or unknown).

    Such runs have a description (``random (seed 3)``, ``MNIST``, the path of a .npz
    file, ``downloaded by Keras (...)``), not the source as typed.
    """
    text = data.strip()
    default = str(preset.raw["data"]["source"])
    source: str | None = None
    if text.startswith("random"):
        source = "random"
    elif text in ("MNIST", "Fashion-MNIST"):
        source = text.lower().replace("-", "_")
    elif text.endswith(".npz") and not text.startswith("downloaded by Keras"):
        path = Path(text).expanduser()
        # Keras's own mnist.npz is what the preset's "mnist" source loads.
        if path.parent != data_mod.keras_cache_dir():
            source = str(path)
    if source is None:
        return None
    try:
        same = data_mod.parse_source(source) == data_mod.parse_source(default)
    except KtuiError:
        same = False
    return None if same else source
