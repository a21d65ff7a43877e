"""Build a Keras model from a preset's :class:`RunConfig`, with messages that name the key.

Keras's own errors about an unknown layer, activation, optimizer or loss are turned
into :class:`PresetError` naming the preset file and the key path, with a suggestion.
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any

import keras
import numpy as np

from ktui.core.errors import PresetError
from ktui.core.events import LayerInfo, ModelSummary
from ktui.core.keras_names import plain_message
from ktui.core.presets import LayerSpec, RunConfig

_ACTIVATION_KEYS = ("activation", "recurrent_activation")


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3)
    if close:
        return "did you mean " + " or ".join(repr(c) for c in close) + "?"
    return "see the Keras documentation for the names it knows"


def _layer_names() -> list[str]:
    return sorted(
        name
        for name, obj in vars(keras.layers).items()
        if inspect.isclass(obj) and issubclass(obj, keras.layers.Layer)
    )


def _activation_names() -> list[str]:
    return sorted(
        name
        for name, obj in vars(keras.activations).items()
        if callable(obj)
        and not name.startswith("_")
        and name not in ("get", "serialize", "deserialize")
    )


def _check_activation(config: RunConfig, spec: LayerSpec, key: str, value: Any) -> None:
    if not isinstance(value, str) or value is None:
        return
    try:
        keras.activations.get(value)
    except (ValueError, TypeError):
        raise PresetError(
            config.preset.source,
            f"{spec.key}.{key}",
            f"unknown activation {value!r}; {_suggest(value, _activation_names())}",
        ) from None


def make_layer(config: RunConfig, spec: LayerSpec) -> keras.layers.Layer:
    """Create one layer, or raise :class:`PresetError` naming where it is in the file."""
    cls = getattr(keras.layers, spec.kind, None)
    if not (inspect.isclass(cls) and issubclass(cls, keras.layers.Layer)):
        raise PresetError(
            config.preset.source,
            f"{spec.key}.type",
            f"unknown Keras layer {spec.kind!r}; {_suggest(spec.kind, _layer_names())}",
        )
    for key in _ACTIVATION_KEYS:
        if key in spec.args:
            _check_activation(config, spec, key, spec.args[key])
    try:
        return cls(**spec.args)
    except (TypeError, ValueError) as exc:
        raise PresetError(
            config.preset.source,
            spec.key,
            f"{spec.kind} does not accept these arguments: {plain_message(str(exc))}",
        ) from None


def make_optimizer(config: RunConfig) -> keras.optimizers.Optimizer:
    """The configured optimizer with the configured learning rate."""
    try:
        optimizer = keras.optimizers.get(config.optimizer)
    except (ValueError, TypeError):
        known = sorted(
            name.lower()
            for name, obj in vars(keras.optimizers).items()
            if inspect.isclass(obj) and issubclass(obj, keras.optimizers.Optimizer)
        )
        raise PresetError(
            config.preset.source,
            "compile.optimizer",
            f"unknown optimizer {config.optimizer!r}; {_suggest(config.optimizer.lower(), known)}",
        ) from None
    if config.learning_rate is not None:
        optimizer = optimizer.__class__(learning_rate=config.learning_rate)
    return optimizer


def check_loss(config: RunConfig) -> None:
    """Raise :class:`PresetError` if Keras does not know the loss."""
    try:
        keras.losses.get(config.loss)
    except (ValueError, TypeError):
        known = sorted(
            name
            for name, obj in vars(keras.losses).items()
            if callable(obj) and not inspect.isclass(obj) and not name.startswith("_")
        )
        raise PresetError(
            config.preset.source,
            "compile.loss",
            f"unknown loss {config.loss!r}; {_suggest(config.loss, known)}",
        ) from None


def check_metrics(config: RunConfig) -> None:
    """Raise :class:`PresetError` for a metric Keras does not know.

    ``compile`` only resolves metric names when training starts, which would turn a
    typo into a failure with a traceback in the middle of a run.
    """
    for index, name in enumerate(config.metrics):
        # Keras's compile picks the right accuracy for the labels from these two names.
        if name.lower() in ("accuracy", "acc"):
            continue
        try:
            keras.metrics.get(name)
        except (ValueError, TypeError):
            known = sorted(
                item
                for item, obj in vars(keras.metrics).items()
                if callable(obj) and not item.startswith("_") and item not in ("get", "Metric")
            )
            raise PresetError(
                config.preset.source,
                f"compile.metrics[{index}]",
                f"unknown metric {name!r}; {_suggest(name, known)}",
            ) from None


def build_model(config: RunConfig, input_shape: tuple[int, ...]) -> keras.Model:
    """Build and compile the preset's model for inputs of ``input_shape`` (per sample)."""
    layers = [make_layer(config, spec) for spec in config.layers]
    optimizer = make_optimizer(config)
    check_loss(config)
    check_metrics(config)
    try:
        model = keras.Sequential([keras.Input(shape=input_shape), *layers], name=config.preset.name)
    except (ValueError, TypeError) as exc:
        raise PresetError(
            config.preset.source,
            "model.layers",
            f"the layers do not fit together for inputs of shape {input_shape}: "
            f"{plain_message(str(exc))}",
        ) from None
    try:
        model.compile(optimizer=optimizer, loss=config.loss, metrics=list(config.metrics))
    except (ValueError, TypeError) as exc:
        raise PresetError(config.preset.source, "compile", plain_message(str(exc))) from None
    return model


UNKNOWN_SHAPE = "?"
"""The output shape of a layer Keras cannot tell (a subclassed model's layers)."""


def summarize(model: keras.Model) -> ModelSummary:
    """The model's layers, output shapes and parameter counts, as plain data; never raises.

    A model built from ``keras.Input`` knows everything. A subclassed model, or a
    ``Sequential`` without ``keras.Input``, has no symbolic outputs (and before its
    first batch no weights): its layers are listed with :data:`UNKNOWN_SHAPE` and
    the parameter counts it has so far, rather than failing the caller (for
    ``ktui.Dashboard``, a person's own ``fit``).
    """
    layers = tuple(
        LayerInfo(
            name=str(getattr(layer, "name", "")),
            kind=type(layer).__name__,
            output_shape=_output_shape(layer),
            params=_count(layer.weights if hasattr(layer, "weights") else ()),
        )
        for layer in _layers(model)
    )
    return ModelSummary(
        layers=layers,
        total_params=_count(model.weights),
        trainable_params=_count(model.trainable_weights),
        input_shape=_input_shape(model),
    )


def _layers(model: keras.Model) -> list[Any]:
    try:
        return list(model.layers)
    except Exception:  # noqa: BLE001 - a model that cannot list its layers lists none
        return []


def _count(weights: Any) -> int:
    """Parameters in ``weights`` (0 for a layer that has none yet: not built)."""
    try:
        return sum(int(np.prod(w.shape)) for w in weights)
    except Exception:  # noqa: BLE001 - odd weights are not worth failing a summary
        return 0


def _output_shape(layer: Any) -> str:
    try:
        # Raises AttributeError for a layer never called on symbolic inputs.
        shape = tuple(layer.output.shape)
    except Exception:  # noqa: BLE001 - no symbolic output: say so, not fail
        return UNKNOWN_SHAPE
    return str(shape)


def _input_shape(model: keras.Model) -> str:
    try:
        return str(tuple(model.inputs[0].shape))
    except Exception:  # noqa: BLE001 - a subclassed model has no ``inputs``
        return ""
