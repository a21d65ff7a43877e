"""A recorded run as CSV (its epochs, like Keras's ``CSVLogger``) or as one JSON document."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from ktui.store.db import EpochRecord, Run, RunStore


def metric_names(epochs: Sequence[EpochRecord]) -> list[str]:
    """Every metric name of the epochs, in the order they first appear."""
    names: dict[str, None] = {}
    for record in epochs:
        names.update(dict.fromkeys(record.metrics))
    return list(names)


def history_csv(epochs: Sequence[EpochRecord]) -> str:
    """One row per epoch: ``epoch``, each metric, ``learning_rate``, ``seconds``,
    ``samples_per_second``. A metric an epoch lacks is an empty cell."""
    names = metric_names(epochs)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["epoch", *names, "learning_rate", "seconds", "samples_per_second"])
    for record in epochs:
        writer.writerow(
            [
                record.epoch,
                *(_cell(record.metrics.get(name)) for name in names),
                _cell(record.learning_rate),
                _cell(record.seconds),
                _cell(record.samples_per_second),
            ]
        )
    return out.getvalue()


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
        return history_csv(store.epochs(run_id))
    if format == "json":
        run = store.get_run(run_id)
        document = run_document(
            run,
            store.epochs(run_id),
            store.log(run_id),
            tags=store.tags(run_id).get(run_id, []),
            note=store.notes(run_id).get(run_id, ""),
        )
        return json.dumps(document, indent=2, allow_nan=False) + "\n"
    raise ValueError(f"unknown export format {format!r}; use csv or json")
