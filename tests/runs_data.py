"""Recorded runs for the run-history UI tests: fixed values, curves and times, no TensorFlow.

Runs go in through the store's own API, as a training would record them; only
their start and end times are then fixed with SQL, so dates and durations are
the same on every machine (the tests also set TZ=UTC: dates are shown in local
time).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from ktui.core.metrics import MetricPolicy
from ktui.core.presets import PresetCatalog
from ktui.store import RunStore

BASE = 1_767_258_000.0
"""2026-01-01 09:00:00 UTC: the first run's start."""


@dataclass(frozen=True)
class Spec:
    """One run to record."""

    preset: str
    changes: dict[str, Any] = field(default_factory=dict)
    status: str = "finished"
    epochs: int | None = None
    """Epochs recorded; None: all of its ``epochs`` value."""
    test_accuracy: float | None = 0.9
    minutes: float = 3.0
    """From start to end."""
    validation: bool = True
    data: str = "random 1000×20, 2 classes"


SPECS: tuple[Spec, ...] = (
    Spec("dummy_binary", test_accuracy=0.52, minutes=0.5),
    Spec("dummy_binary", {"units": 32, "learning_rate": 0.01}, test_accuracy=0.55, minutes=0.75),
    Spec("mnist_mlp", test_accuracy=0.9816, minutes=12.0, data="MNIST"),
    Spec(
        "mnist_mlp",
        {"learning_rate": 0.01},
        status="stopped",
        epochs=3,
        test_accuracy=0.9512,
        minutes=4.5,
        data="MNIST",
    ),
    Spec("mnist_cnn", status="failed", epochs=2, test_accuracy=None, minutes=65.0, data="MNIST"),
    Spec(
        "dummy_binary",
        {"dropout": 0.2},
        status="interrupted",
        epochs=2,
        test_accuracy=None,
        minutes=0.2,
        validation=False,
    ),
)
"""Run 1 to 6: every status but running, three presets, values that differ."""


def metrics(epoch: int, k: int, *, validation: bool = True) -> dict[str, float]:
    """Smooth, different curves per run ``k``."""
    loss = 0.9 / (epoch + 1) + 0.04 * k
    accuracy = 0.5 + 0.4 * (1 - 1 / (epoch + 1)) - 0.01 * k
    values = {"loss": loss, "accuracy": accuracy}
    if validation:
        values |= {
            "val_loss": loss * 1.15 + 0.01 * (epoch % 3),
            "val_accuracy": accuracy - 0.02 - 0.005 * (epoch % 2),
        }
    return values


def record(
    store: RunStore, catalog: PresetCatalog, spec: Spec, index: int, *, finish: bool = True
) -> int:
    """Record one run as a training would (``finish=False`` leaves it running)."""
    preset = catalog.presets.get(spec.preset)
    defaults: dict[str, Any] = preset.defaults() if preset is not None else {"units": 8}
    values = {**defaults, **spec.changes}
    planned = int(values.get("epochs", 10))
    epochs = planned if spec.epochs is None else spec.epochs
    started = BASE + index * 86_400 + index * 3_600
    run_id = store.create_run(
        spec.preset,
        values=values,
        defaults=defaults,
        data=spec.data,
        epochs=planned,
        started_at=started,
        # Judged by their (validation) accuracy, as a preset's [fit] monitor would ask.
        policy=MetricPolicy("val_accuracy" if spec.validation else "accuracy"),
    )
    store.set_details(
        run_id,
        device="CPU (fake)",
        versions={"ktui": "test", "keras": "3.0"},
        model={"total_params": 1409, "trainable_params": 1409, "layers": [{}, {}, {}]},
        info={"train_samples": 800, "validation_samples": 100, "test_samples": 100},
    )
    store.append_log(run_id, [f"ktui: {spec.preset} on {spec.data}", "fake: a TensorFlow warning"])
    for epoch in range(1, epochs + 1):
        store.add_epoch(
            run_id,
            epoch,
            metrics(epoch, index, validation=spec.validation),
            learning_rate=float(values.get("learning_rate", 0.001)),
            seconds=1.5,
            samples_per_second=1600.0,
            log=[f"Epoch {epoch}/{planned}  loss {metrics(epoch, index)['loss']:.4f}"],
        )
    if not finish:
        return run_id
    if spec.status == "failed":
        store.fail_run(
            run_id,
            "ValueError: shapes (None, 10) and (None, 1) are incompatible",
            error_type="ValueError",
            traceback="Traceback (most recent call last):\n  ...\nValueError: shapes",
        )
    elif spec.status == "interrupted":
        store.set_status(run_id, "interrupted")
    else:
        store.finish_run(
            run_id,
            spec.status,  # type: ignore[arg-type]
            test_loss=0.25,
            test_accuracy=spec.test_accuracy,
            seconds=spec.minutes * 60,
        )
    with sqlite3.connect(store.path) as db:
        db.execute(
            "UPDATE runs SET ended_at = ? WHERE id = ?", (started + spec.minutes * 60, run_id)
        )
    return run_id


def fill(
    store: RunStore,
    catalog: PresetCatalog,
    specs: tuple[Spec, ...] = SPECS,
    *,
    running: Spec | None = None,
) -> list[int]:
    """Record ``specs`` (ids 1, 2, ...), then ``running`` left going (by this process)."""
    ids = [record(store, catalog, spec, index) for index, spec in enumerate(specs)]
    if running is not None:
        ids.append(record(store, catalog, running, len(specs), finish=False))
    return ids
