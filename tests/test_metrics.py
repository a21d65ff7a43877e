"""The one metric policy: directions by Keras's rules, "the accuracy", the objective."""

from __future__ import annotations

import pytest
from conftest import tiny_preset_text

from ktui.core.errors import PresetError
from ktui.core.metrics import (
    BestEpoch,
    MetricPolicy,
    accuracy_metric,
    best,
    direction,
    lower_is_better,
    policy_of,
)
from ktui.core.presets import loads

#: (metric, which way it is better), as Keras's metrics declare it.
DIRECTIONS = [
    ("loss", "min"),
    ("val_loss", "min"),
    ("mae", "min"),
    ("val_mae", "min"),
    ("mse", "min"),
    ("rmse", "min"),
    ("root_mean_squared_error", "min"),
    ("mape", "min"),
    ("msle", "min"),
    ("mean_absolute_error", "min"),
    ("hinge", "min"),
    ("squared_hinge", "min"),
    ("categorical_hinge", "min"),
    ("kl_divergence", "min"),
    ("poisson", "min"),
    ("logcosh", "min"),
    ("binary_crossentropy", "min"),
    ("categorical_crossentropy", "min"),
    ("val_sparse_categorical_crossentropy", "min"),
    ("reconstruction_loss", "min"),
    ("dense_1_mae", "min"),
    ("my_error", "min"),
    ("accuracy", "max"),
    ("val_accuracy", "max"),
    ("acc", "max"),
    ("binary_accuracy", "max"),
    ("sparse_categorical_accuracy", "max"),
    ("top_k_categorical_accuracy", "max"),
    ("accuracy_1", "max"),
    ("dense_accuracy", "max"),
    ("auc", "max"),
    ("val_auc_2", "max"),
    ("precision", "max"),
    ("recall", "max"),
    ("f1_score", "max"),
    ("fbeta_score", "max"),
    ("iou", "max"),
    ("mean_iou", "max"),
    ("r2_score", "max"),
    ("acc@5", "max"),
    ("top-1 acc", "max"),
    ("precision/macro", "max"),
]


@pytest.mark.parametrize(("metric", "expected"), DIRECTIONS)
def test_metric_direction_table(metric: str, expected: str) -> None:
    assert direction(metric) == expected
    assert lower_is_better(metric) is (expected == "min")


def test_the_accuracy_and_the_objective() -> None:
    names = ["loss", "binary_accuracy", "val_loss", "val_binary_accuracy", "mae"]
    assert accuracy_metric(names) == "binary_accuracy"
    assert accuracy_metric(names, validation=True) == "val_binary_accuracy"
    assert accuracy_metric(["loss", "top_k_categorical_accuracy"]) is None
    assert accuracy_metric({"loss": 0.1, "acc": 0.5, "accuracy": 0.6}) == "accuracy"
    assert MetricPolicy().objective(names) == "val_loss"
    assert MetricPolicy().objective(["loss", "accuracy"]) == "loss"
    assert MetricPolicy("val_mae").objective(names + ["val_mae"]) == "val_mae"
    assert MetricPolicy("val_mae").objective(names) is None  # not logged: nothing to judge


def test_mode_overrides_the_monitored_metric_only() -> None:
    policy = MetricPolicy("val_score", "min")
    assert policy.lower_is_better("val_score")
    assert not policy.lower_is_better("accuracy")
    assert best("val_score", [0.3, 0.1, 0.2], policy) == 0.1
    assert best("val_mae", [0.3, 0.1, 0.2]) == 0.1
    assert best("val_auc", [0.3, 0.1, 0.2]) == 0.3


def test_a_preset_sets_monitor_and_mode_and_bad_ones_are_refused() -> None:
    text = tiny_preset_text().replace("[fit]\n", '[fit]\nmonitor = "val_accuracy"\nmode = "max"\n')
    config = loads(text).resolve()
    assert (config.monitor, config.mode) == ("val_accuracy", "max")
    assert config.policy.objective(["val_loss", "val_accuracy"]) == "val_accuracy"
    with pytest.raises(PresetError, match="fit.mode"):
        loads(text.replace('mode = "max"', 'mode = "up"'))
    with pytest.raises(PresetError, match="fit.monitor"):
        loads(text.replace('monitor = "val_accuracy"', "monitor = 3"))
    with pytest.raises(PresetError, match="a mode needs a monitor"):
        loads(text.replace('monitor = "val_accuracy"\n', ""))


def test_the_best_epoch_follows_the_policy_and_never_a_diverged_epoch() -> None:
    # The store's best epoch (and its migrations) go through BestEpoch: it picks the
    # objective, keeps the better value by the policy's direction and skips NaN.
    by_loss = BestEpoch()
    for epoch, value in enumerate([0.9, 0.5, float("nan"), 0.7], start=1):
        by_loss.add(epoch, {"loss": value, "accuracy": 1 - value})
    assert (by_loss.metric, by_loss.value, by_loss.epoch, by_loss.epochs) == ("loss", 0.5, 2, 4)

    by_accuracy = BestEpoch(policy=policy_of("accuracy", "auto"))
    for epoch, value in enumerate([0.2, 0.8, 0.6], start=1):
        by_accuracy.add(epoch, {"loss": 1 - value, "accuracy": value})
    assert (by_accuracy.metric, by_accuracy.value, by_accuracy.epoch) == ("accuracy", 0.8, 2)


def test_a_stored_policy_with_an_unknown_mode_counts_as_auto() -> None:
    assert policy_of("val_mae", "max") == MetricPolicy("val_mae", "max")
    assert policy_of("val_mae", "sideways") == MetricPolicy("val_mae", "auto")
    assert policy_of(None, None) == MetricPolicy()
