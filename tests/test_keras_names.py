"""The Keras name tables and argument rules in ktui.core.keras_names, compared with
the installed Keras so they cannot go stale (issue 10, item 14).

Every name in a table must be accepted by Keras the way the training backend looks it
up; every name Keras exports must be in the table; every value a rule accepts must
build the layer, and the values the issue names (units -5, 0, "abc"; rate 1.5) must
be refused by both.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from ktui.core import keras_names as kn

keras = pytest.importorskip("keras", reason="Keras is not installed")


def _public(module: Any, keep: Any) -> set[str]:
    return {
        name
        for name, obj in vars(module).items()
        if not name.startswith("_") and name not in ("get", "serialize", "deserialize")
        if keep(obj)
    }


def _accepted(get: Any, name: str) -> bool:
    try:
        get(name)
    # KeyError: a wrapper (LossScaleOptimizer) built without its inner optimizer.
    except (ValueError, TypeError, KeyError):
        return False
    return True


def test_every_layer_name_is_a_keras_layer_and_every_keras_layer_is_named() -> None:
    exported = _public(
        keras.layers, lambda o: inspect.isclass(o) and issubclass(o, keras.layers.Layer)
    )
    abstract = {"Layer", "InputLayer", "Wrapper"}
    assert kn.LAYERS - exported == set(), "in the table, not in keras.layers"
    assert exported - abstract - kn.LAYERS == set(), "new in keras.layers: add to LAYERS"
    assert set(kn.LAYER_RULES) <= kn.LAYERS


def test_activations_match_keras() -> None:
    exported = _public(keras.activations, callable)
    assert {n for n in kn.ACTIVATIONS if not _accepted(keras.activations.get, n)} == set()
    assert exported - kn.ACTIVATIONS == set(), "new in keras.activations: add them"


def test_optimizers_match_keras() -> None:
    exported = _public(
        keras.optimizers,
        lambda o: inspect.isclass(o) and issubclass(o, keras.optimizers.Optimizer),
    )
    assert {n for n in kn.OPTIMIZERS if not _accepted(keras.optimizers.get, n)} == set()
    # Wrappers need another optimizer; the rest must be in the table when Keras
    # builds them by name.
    wrappers = {"optimizer", "lossscaleoptimizer", "multioptimizer"}
    by_name = {n.lower() for n in exported if _accepted(keras.optimizers.get, n.lower())}
    assert by_name - wrappers - kn.OPTIMIZERS == set(), "new optimizers: add them"
    assert "adam" in kn.OPTIMIZERS and "rmsprop" in kn.OPTIMIZERS


def test_losses_match_keras() -> None:
    exported = _public(keras.losses, callable) - {"Loss"}
    assert {n for n in kn.LOSSES if not _accepted(keras.losses.get, n)} == set()
    missing = {n for n in exported if _accepted(keras.losses.get, n)} - kn.LOSSES
    assert missing == set(), "new in keras.losses: add them"


def test_metrics_match_keras() -> None:
    exported = _public(keras.metrics, callable) - {"Metric", "MeanMetricWrapper"}
    # "acc" is read by compile itself, not by keras.metrics.get.
    assert {n for n in kn.METRICS - {"acc"} if not _accepted(keras.metrics.get, n)} == set()
    missing = {n for n in exported if _accepted(keras.metrics.get, n)} - kn.METRICS
    assert missing == set(), "new in keras.metrics: add them"


_SAMPLES: dict[str, list[Any]] = {
    "int": [-5, 0, 1, 3, "abc", 2.5, True],
    "number": [-0.1, 0, 0.0, 0.5, 0.999, 1.0, 1.5, "abc"],
    "ints": [0, 1, 3, [2], [2, 2], [0, 2], [2, 2, 2], "abc"],
    "shape": [[4], [2, -1], [0, 4], [-1, -1], "abc"],
}

# What a layer needs besides the argument under test, to be built at all.
_REQUIRED: dict[str, dict[str, Any]] = {
    "Dense": {"units": 4},
    "Conv": {"filters": 2, "kernel_size": 2},
    "DepthwiseConv": {"kernel_size": 2},
    "LSTM": {"units": 2},
    "GRU": {"units": 2},
    "SimpleRNN": {"units": 2},
    "Embedding": {"input_dim": 4, "output_dim": 2},
    "RepeatVector": {"n": 2},
    "Reshape": {"target_shape": [4]},
    "Dropout": {"rate": 0.5},
    "Pool": {"pool_size": 2},
    "GaussianNoise": {"stddev": 0.1},
}


def _required(layer: str) -> dict[str, Any]:
    if layer.startswith("Global"):
        return {}
    for prefix, args in sorted(_REQUIRED.items(), key=lambda kv: -len(kv[0])):
        if prefix in layer or (prefix == "Conv" and "Convolution" in layer):
            return dict(args)
    if "Dropout" in layer:
        return {"rate": 0.5}
    return {}


def _keras_builds(layer: str, args: dict[str, Any]) -> bool:
    cls = getattr(keras.layers, layer)
    try:
        cls(**args)
    except (ValueError, TypeError):
        return False
    return True


@pytest.mark.parametrize("layer", sorted(kn.LAYER_RULES))
def test_every_value_a_rule_accepts_builds_the_layer(layer: str) -> None:
    for arg, rule in kn.LAYER_RULES[layer].items():
        if rule.kind == "name":
            samples: list[Any] = sorted(rule.names)
        else:
            samples = _SAMPLES[rule.kind]
        for value in samples:
            if rule.problem(value) is None:
                args = {**_required(layer), arg: value}
                assert _keras_builds(layer, args), f"{layer}({args}) is refused by Keras"


@pytest.mark.parametrize(
    ("layer", "arg", "value"),
    [
        ("Dense", "units", -5),
        ("Dense", "units", 0),
        ("Dense", "units", "abc"),
        ("Dropout", "rate", 1.5),
        ("Conv2D", "kernel_size", 0),
        ("Dense", "activation", "relux"),
    ],
)
def test_the_issues_bad_values_are_refused_by_the_table_and_by_keras(
    layer: str, arg: str, value: Any
) -> None:
    rule = kn.LAYER_RULES[layer][arg]
    assert rule.problem(value) is not None
    assert not _keras_builds(layer, {**_required(layer), arg: value})


def test_dropout_rate_one_is_refused_though_keras_takes_it() -> None:
    # Stricter than Keras on purpose: a rate of 1 drops everything and trains nothing.
    assert kn.LAYER_RULES["Dropout"]["rate"].problem(1.0) is not None
    assert _keras_builds("Dropout", {"rate": 1.0})


def test_plain_message_strips_keras_escape_codes() -> None:
    try:  # mnist_cnn with kernel_size = 28: the pooling after the convolution fails
        keras.Sequential(
            [
                keras.Input((1, 28, 28)),
                keras.layers.Conv2D(2, 28, data_format="channels_first"),
                keras.layers.MaxPooling2D(2, data_format="channels_first"),
            ]
        )
    except ValueError as exc:
        raw = str(exc)
    else:  # pragma: no cover - Keras changed
        pytest.fail("Keras pooled a 1×1 image 2×2")
    text = kn.plain_message(raw)
    assert "\x1b" in raw and "\x1b" not in text
    assert "Arguments received by" not in text
    assert text.startswith("Exception encountered when calling MaxPooling2D.call().")
    assert "Computed output size would be zero or negative" in text


def test_keras_errors_reach_people_without_escape_codes() -> None:
    from ktui.core.errors import PresetError
    from ktui.core.presets import load, shipped_presets_dir
    from ktui.training.builder import build_model
    from ktui.training.engine import user_message

    # Past ktui's own shape check, straight into Keras: its message is still plain.
    config = load(shipped_presets_dir() / "mnist_cnn.toml").resolve({"kernel_size": 28})
    with pytest.raises(PresetError) as info:
        build_model(config, (1, 28, 28))
    assert "Computed output size would be zero or negative" in str(info.value)
    assert "\x1b" not in str(info.value) and "Arguments received by" not in str(info.value)
    assert user_message(ValueError("\x1b[1mboom\x1b[0m\n\nArguments received by X:\n  • a=1")) == (
        "ValueError: boom"
    )
