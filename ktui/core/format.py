"""How numbers of a run are written, the same in the TUI, the headless command and logs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ktui.core.events import EpochEnded, RunFinished


def order_metrics(metrics: Mapping[str, float]) -> dict[str, float]:
    """``loss`` first, then the other training metrics, then ``val_loss`` and the other
    validation metrics, each group otherwise in the given order (Keras sorts its logs
    by name, which would put ``accuracy`` before ``loss``)."""

    def rank(name: str) -> int:
        validation = name.startswith("val_")
        loss = name.removeprefix("val_") == "loss"
        return 2 * validation + (not loss)

    return {name: metrics[name] for name in sorted(metrics, key=rank)}


def format_metric(value: float | None) -> str:
    """A metric with four significant decimals (``—`` for missing)."""
    if value is None or value != value:  # NaN
        return "—"
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
        return f"{value:.3e}"
    return f"{value:.4f}"


def format_seconds(seconds: float) -> str:
    """``3.2s``, ``4m05s`` or ``1h02m``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def epoch_line(event: EpochEnded) -> str:
    """One line per epoch, as Keras's ``verbose=2`` would print it, plus rate and speed.

    It starts ``Epoch 3/10`` exactly as Keras's does (no padding), so ``grep '^Epoch 3/'``
    finds it.
    """
    metrics = "  ".join(
        f"{name} {format_metric(value)}" for name, value in order_metrics(event.metrics).items()
    )
    return (
        f"Epoch {event.epoch}/{event.epochs}  {metrics}  lr {event.learning_rate:.3g}"
        f"  {format_seconds(event.seconds)}  {format_rate(event.samples_per_second)}"
    )


def format_count(value: int | None) -> str:
    """``1,234``, or ``unknown`` for a count ktui could not tell (a dataset's samples)."""
    return "unknown" if value is None else f"{value:,}"


#: Recorded counts for which 0 is a real answer (no validation, no test set); for the
#: others (samples, batch size, steps) an older ktui wrote 0 when it did not know.
_ZERO_IS_AN_ANSWER = frozenset({"validation_samples", "test_samples"})


def recorded_count(info: Mapping[str, object], key: str) -> str:
    """A count from a run's recorded ``info`` (``train_samples``, ``batch_size``...),
    as :func:`format_count` writes it; a missing or non-numeric value is ``unknown``."""
    value = info.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return "unknown"
    if value <= 0 and not (value == 0 and key in _ZERO_IS_AN_ANSWER):
        return "unknown"
    return format_count(int(value))


def format_rate(samples_per_second: float | None) -> str:
    """``1,234 samples/s``, or ``samples/s unknown``."""
    if samples_per_second is None or samples_per_second != samples_per_second:
        return "samples/s unknown"
    return f"{samples_per_second:,.0f} samples/s"


def result_line(event: RunFinished) -> str:
    """The seed's closing line: test loss, accuracy and error %."""
    if event.test_accuracy is None:
        if event.test_loss is None and event.status == "diverged":
            return "No test result (the loss diverged; the model was not evaluated)."
        if event.test_loss is None:
            return "No test result (the run stopped before its first epoch ended)."
        return f"Test loss: {format_metric(event.test_loss)}"
    return (
        f"Test loss: {format_metric(event.test_loss)}  "
        f"Test accuracy: {event.test_accuracy * 100:.2f}%  "
        f"Test error: {event.test_error_percent:.2f}%"
    )
