"""A recorded run as CSV (its epochs, like Keras's ``CSVLogger``) or as one JSON document."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, fields
from typing import Any

from ktui.store.db import RunStore
from ktui.store.records import EpochRecord, Run


def metric_names(epochs: Sequence[EpochRecord]) -> list[str]:
    """Every metric name of the epochs, in the order they first appear."""
    names: dict[str, None] = {}
    for record in epochs:
        names.update(dict.fromkeys(record.metrics))
    return list(names)


def history_csv(
    epochs: Sequence[EpochRecord],
    extra: Mapping[str, Mapping[int, float | None]] | None = None,
) -> str:
    """One row per epoch: ``epoch``, each metric, ``learning_rate``, ``seconds``,
    ``samples_per_second``, then the ``extra`` columns (name → epoch → value). A metric
    an epoch lacks is an empty cell."""
    names = metric_names(epochs)
    extra = extra or {}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["epoch", *names, "learning_rate", "seconds", "samples_per_second", *extra]
    )
    for record in epochs:
        writer.writerow(
            [
                record.epoch,
                *(_cell(record.metrics.get(name)) for name in names),
                _cell(record.learning_rate),
                _cell(record.seconds),
                _cell(record.samples_per_second),
                *(_cell(column.get(record.epoch)) for column in extra.values()),
            ]
        )
    return out.getvalue()


def system_columns(store: RunStore, run_id: int) -> dict[str, dict[int, float | None]]:
    """Per-epoch system columns for the CSV, only those the run recorded: the
    training process's mean CPU %, the GPUs' mean utilisation (samples taken during
    the epoch, by time) and the share of step time spent waiting for data."""
    from ktui.store.system import read_samples, read_timings

    columns: dict[str, dict[int, float | None]] = {}
    epochs = store.epochs(run_id)
    samples = read_samples(store, run_id)
    if samples and all(e.ended_at is not None for e in epochs):
        cpu: dict[int, float | None] = {}
        gpu: dict[int, float | None] = {}
        start = samples[0].time - 1
        for record in epochs:
            end = float(record.ended_at or 0.0)
            inside = [s for s in samples if start < s.time <= end]
            start = end
            cpus = [s.process_cpu for s in inside if s.process_cpu is not None]
            gpus = [g.utilization for s in inside for g in s.gpus if g.utilization is not None]
            cpu[record.epoch] = sum(cpus) / len(cpus) if cpus else None
            gpu[record.epoch] = sum(gpus) / len(gpus) if gpus else None
        columns["cpu_percent"] = cpu
        if any(v is not None for v in gpu.values()):
            columns["gpu_percent"] = gpu
    timings = read_timings(store, run_id)
    if timings:
        columns["waiting_for_data"] = {t.epoch: t.waiting_share for t in timings}
    return columns


def _cell(value: float | None) -> str:
    # repr() keeps every digit, so a CSV read back gives the same floats.
    return "" if value is None else repr(float(value))


def run_document(
    run: Run,
    epochs: Sequence[EpochRecord],
    log: Sequence[str],
    *,
    tags: Sequence[str] = (),
    note: str = "",
) -> dict[str, Any]:
    """Everything about a run as plain JSON-ready data (NaN and infinities become null)."""
    document: dict[str, Any] = {f.name: getattr(run, f.name) for f in fields(run)}
    document["tags"] = list(tags)
    document["note"] = note
    document["folder"] = str(run.folder)
    document["test_error_percent"] = run.test_error_percent
    document["duration"] = run.duration
    document["epochs"] = [
        {f.name: getattr(record, f.name) for f in fields(record)} for record in epochs
    ]
    document["log"] = list(log)
    finite: dict[str, Any] = _finite(document)
    return finite


def system_document(store: RunStore, run_id: int) -> dict[str, Any]:
    """The run's system samples, their averages and peaks, and its step timings."""
    from ktui.core.system import summarize
    from ktui.store.system import read_samples, read_timings

    samples = read_samples(store, run_id)
    timings = read_timings(store, run_id)
    return {
        "summary": asdict(summarize(samples)),
        "samples": [asdict(sample) for sample in samples],
        "step_timings": [
            {**asdict(t), "waiting_share": t.waiting_share, "input_bound": t.input_bound}
            for t in timings
        ],
    }


def _finite(value: Any) -> Any:
    """JSON has no NaN: a diverged loss is exported as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def export_run(store: RunStore, run_id: int, format: str) -> str:  # noqa: A002 - the CLI's word
    """Run ``run_id`` as ``csv`` (its epochs) or ``json`` (everything), as text."""
    if format == "csv":
        return history_csv(store.epochs(run_id), system_columns(store, run_id))
    if format == "json":
        run = store.get_run(run_id)
        document = run_document(
            run,
            store.epochs(run_id),
            store.log(run_id),
            tags=store.tags(run_id).get(run_id, []),
            note=store.notes(run_id).get(run_id, ""),
        )
        document["system"] = _finite(system_document(store, run_id))
        return json.dumps(document, indent=2, allow_nan=False) + "\n"
    raise ValueError(f"unknown export format {format!r}; use csv or json")
