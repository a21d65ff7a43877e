"""The metric policy: which way each metric is better, which one is "the accuracy" and
which one a run is judged by ("the objective").

One place decides this for everything in ktui — the engine's and the callback's test
accuracy, the store's best epoch and its "best" sort, the sparklines' best values,
comparisons — so a metric never counts as better one way here and the other way there.

The direction follows Keras's own metrics (each Keras metric class declares one; this
table mirrors them so it is known without importing Keras): losses and every error,
divergence, hinge and cross-entropy metric go down; accuracies, AUC, precision,
recall, F-scores, IoU, R² and cosine similarity go up. ``val_`` prefixes and Keras's
numbered copies (``accuracy_1``) are ignored, and a name Keras does not know is read
by its words (``acc@5`` and ``top-1 acc`` are accuracies, ``my_error`` an error). A
name that says nothing counts as higher-is-better; a preset's ``[fit] mode`` or
``Dashboard(mode=...)`` overrides any of this.

Plain Python: no TensorFlow, Keras or Textual.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, get_args

Direction = Literal["min", "max"]
"""``min``: lower is better; ``max``: higher is better."""

Mode = Literal["auto", "min", "max"]
"""A preset's ``[fit] mode``: ``auto`` reads the direction from the metric's name."""

MODES: tuple[Mode, ...] = get_args(Mode)

#: Keras's metric names (and their short aliases) whose lower values are better.
LOWER_IS_BETTER: frozenset[str] = frozenset(
    {
        "loss",
        "mean_squared_error",
        "mse",
        "root_mean_squared_error",
        "rmse",
        "mean_absolute_error",
        "mae",
        "mean_absolute_percentage_error",
        "mape",
        "mean_squared_logarithmic_error",
        "msle",
        "hinge",
        "squared_hinge",
        "categorical_hinge",
        "kl_divergence",
        "kld",
        "kullback_leibler_divergence",
        "poisson",
        "logcosh",
        "log_cosh",
        "log_cosh_error",
        "binary_crossentropy",
        "categorical_crossentropy",
        "sparse_categorical_crossentropy",
        "binary_focal_crossentropy",
        "categorical_focal_crossentropy",
        "huber",
        "ctc",
        "dice",
        "tversky",
        "false_positives",
        "false_negatives",
    }
)

#: Keras's metric names (and aliases) whose higher values are better.
HIGHER_IS_BETTER: frozenset[str] = frozenset(
    {
        "accuracy",
        "acc",
        "binary_accuracy",
        "categorical_accuracy",
        "sparse_categorical_accuracy",
        "top_k_categorical_accuracy",
        "sparse_top_k_categorical_accuracy",
        "auc",
        "precision",
        "recall",
        "f1_score",
        "fbeta_score",
        "iou",
        "mean_iou",
        "binary_iou",
        "one_hot_iou",
        "one_hot_mean_iou",
        "r2_score",
        "cosine_similarity",
        "precision_at_recall",
        "recall_at_precision",
        "sensitivity_at_specificity",
        "specificity_at_sensitivity",
        "true_positives",
        "true_negatives",
    }
)

#: Words that, inside a name Keras does not know, say which way it goes.
_LOWER_WORDS = ("loss", "error", "crossentropy", "divergence", "hinge", "mse", "mae", "rmse")
_HIGHER_WORDS = ("accuracy", "acc", "auc", "precision", "recall", "iou", "f1", "fbeta", "score")

#: "The accuracy" of a run, in order of preference (Keras's names for the same figure).
ACCURACY_NAMES: tuple[str, ...] = (
    "accuracy",
    "acc",
    "categorical_accuracy",
    "binary_accuracy",
    "sparse_categorical_accuracy",
)

_NUMBERED = re.compile(r"_\d+$")


def base_name(metric: str) -> str:
    """``metric`` without its ``val_`` prefix and Keras's ``_1`` numbering, lower case."""
    name = metric.strip().lower().removeprefix("val_")
    return _NUMBERED.sub("", name) or name


def _known(name: str) -> Direction | None:
    if name in LOWER_IS_BETTER:
        return "min"
    if name in HIGHER_IS_BETTER:
        return "max"
    return None


def direction(metric: str) -> Direction:
    """Which way ``metric`` is better, by Keras's rules (see the module doc)."""
    name = base_name(metric)
    known = _known(name)
    if known is not None:
        return known
    # A multi-output model's "dense_1_accuracy" or "out_mae": the name ends in a known one.
    for size in range(len(name)):
        if name[size] == "_" and (known := _known(name[size + 1 :])) is not None:
            return known
    words = [w for w in re.split(r"[^a-z0-9]+", name) if w]
    if any(word.endswith(_LOWER_WORDS) for word in words):
        return "min"
    if any(word.startswith(_HIGHER_WORDS) or word.endswith(_HIGHER_WORDS) for word in words):
        return "max"
    return "max"


def lower_is_better(metric: str) -> bool:
    """True when a lower value of ``metric`` is better (losses, errors, divergences...)."""
    return direction(metric) == "min"


def accuracy_metric(names: Iterable[str], *, validation: bool = False) -> str | None:
    """ "The accuracy" among ``names`` (``accuracy``, else ``acc``, ``categorical_accuracy``,
    ``binary_accuracy``, ``sparse_categorical_accuracy``, else the first other name ending
    in ``accuracy`` that is not a top-k one); with ``validation``, its ``val_`` twin."""
    if validation:
        stripped = {n.removeprefix("val_"): n for n in names if n.startswith("val_")}
    else:
        stripped = {n: n for n in names if not n.startswith("val_")}
    for wanted in ACCURACY_NAMES:
        if wanted in stripped:
            return stripped[wanted]
    for short, name in stripped.items():
        if short.endswith("accuracy") and "top_k" not in short:
            return name
    return None


@dataclass(frozen=True)
class MetricPolicy:
    """How one run is judged: its objective and the direction of each metric.

    ``monitor`` names the objective (a preset's ``[fit] monitor``,
    ``Dashboard(monitor=...)``); without it the objective is ``val_loss``, else
    ``loss``. ``mode`` overrides the objective's direction (``auto``: by its name).
    """

    monitor: str | None = None
    mode: Mode = "auto"

    def objective(self, names: Iterable[str]) -> str | None:
        """The metric the run is judged by, among those it logged."""
        names = list(names)
        if self.monitor is not None:
            return self.monitor if self.monitor in names else None
        for wanted in ("val_loss", "loss"):
            if wanted in names:
                return wanted
        return None

    def direction(self, metric: str) -> Direction:
        """``metric``'s direction; the ``mode`` override applies to the monitored metric."""
        if self.mode != "auto" and self.monitor is not None and metric == self.monitor:
            return self.mode
        return direction(metric)

    def lower_is_better(self, metric: str) -> bool:
        """True when a lower value of ``metric`` is better for this run."""
        return self.direction(metric) == "min"

    def is_better(self, metric: str, value: float, than: float | None) -> bool:
        """True when ``value`` of ``metric`` beats ``than`` (anything beats ``None``)."""
        if than is None:
            return True
        return value < than if self.lower_is_better(metric) else value > than


DEFAULT_POLICY = MetricPolicy()
"""The policy of a run with no monitor set: objective ``val_loss``, else ``loss``."""


def best(metric: str, values: Iterable[float], policy: MetricPolicy = DEFAULT_POLICY) -> float:
    """The best of ``values`` for ``metric`` (ValueError when there are none)."""
    values = list(values)
    if not values:
        raise ValueError("best() of no values")
    return min(values) if policy.lower_is_better(metric) else max(values)


def check_mode(value: object) -> Mode:
    """``value`` as a :data:`Mode`; ValueError naming the choices otherwise."""
    if value in MODES:
        return value  # type: ignore[return-value]
    raise ValueError(f"expected one of {', '.join(MODES)}, got {value!r}")


# --------------------------------------------------------------------------- best epoch
def policy_of(monitor: str | None, mode: str | None) -> MetricPolicy:
    """The metric policy of a stored run (an unknown mode counts as ``auto``)."""
    try:
        checked = check_mode(mode or "auto")
    except ValueError:
        checked = "auto"
    return MetricPolicy(monitor, checked)


class BestEpoch:
    """The best value of a run's objective and its epoch, updated one epoch at a time.

    The store keeps a run's best epoch with it (for its tables and the "best" sort)
    and its migrations recompute it; both go through this.
    """

    def __init__(
        self,
        metric: str | None = None,
        value: float | None = None,
        epoch: int | None = None,
        epochs: int = 0,
        policy: MetricPolicy | None = None,
    ) -> None:
        self.metric, self.value, self.epoch, self.epochs = metric, value, epoch, epochs
        self.policy = policy or MetricPolicy()

    def add(self, epoch: int, metrics: Mapping[str, float]) -> None:
        """Take epoch ``epoch``'s metrics into account."""
        self.epochs = max(self.epochs, epoch)
        if self.metric is None:
            self.metric = self.policy.objective(metrics)
        if self.metric is None:
            return
        value = metrics.get(self.metric)
        if not isinstance(value, int | float) or not math.isfinite(value):
            return  # a diverged (NaN) epoch is never the best one
        if self.policy.is_better(self.metric, float(value), self.value):
            self.value, self.epoch = float(value), epoch


# --------------------------------------------------------------------------- divergence
def non_finite_loss(logs: Mapping[str, object] | None) -> float | None:
    """The batch's loss when it is NaN or infinite (as Keras's ``TerminateOnNaN`` reads
    it), else None. ``logs`` are a batch's logs as Keras hands them to callbacks."""
    loss = (logs or {}).get("loss")
    if loss is None:
        return None
    try:
        value = float(loss)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isfinite(value) else value


def lower_learning_rate(rate: float | None) -> float | None:
    """The rate to suggest after a divergence: a tenth of the one it ran at."""
    if rate is None or not math.isfinite(rate) or rate <= 0:
        return None
    return rate / 10


def _rate(value: float) -> str:
    """A learning rate as people write it: ``1e-4``, ``0.05``, ``1e30``."""
    if 1e-2 <= value < 1e4:
        return f"{value:.3g}"
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def divergence_message(epoch: int, step: int, loss: float, rate: float | None) -> str:
    """What to tell the user when the loss became NaN or infinite at ``epoch``/``step``
    (1-based), training at learning rate ``rate`` (None: unknown)."""
    said = "nan" if math.isnan(loss) else ("inf" if loss > 0 else "-inf")
    lower = lower_learning_rate(rate)
    if lower is None or rate is None:
        hint = "try a lower learning rate"
    else:
        hint = f"try a lower learning rate, e.g. {_rate(lower)} instead of {_rate(rate)}"
    return f"loss became {said} at epoch {epoch}, step {step}; {hint}"
