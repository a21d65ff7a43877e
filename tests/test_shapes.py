"""The plain-Python shape walk (ktui.core.shapes) that refuses, before Start, a model
whose layers do not fit its data (issue 10, item 15): kernels larger than what is left
of the image, pooling below one pixel, channels-first images, a classifier without
Flatten. One test compares the walk with the shapes Keras computes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import write_preset

from ktui.core.errors import PresetError
from ktui.core.presets import LayerSpec, RunConfig, load, loads, shipped_presets_dir
from ktui.core.shapes import check_model, model_input_shape, output_shapes


def cnn(**values: Any) -> RunConfig:
    return load(shipped_presets_dir() / "mnist_cnn.toml").resolve(values)


def layers(*specs: tuple[str, dict[str, Any]]) -> list[LayerSpec]:
    return [LayerSpec(kind, args, f"model.layers[{i}]") for i, (kind, args) in enumerate(specs)]


def test_mnist_cnn_defaults_fit_and_its_shapes_are_channels_first() -> None:
    config = cnn()
    assert model_input_shape(config) == (1, 28, 28)
    check_model(config)
    shapes = output_shapes(config.layers, (1, 28, 28))
    assert shapes == [(32, 24, 24), (32, 12, 12), (32, 12, 12), (4608,), (128,), (10,)]


def test_mnist_cnn_kernel_28_is_refused_at_the_pooling_layer() -> None:
    config = cnn(kernel_size=28)
    with pytest.raises(PresetError) as info:
        check_model(config)
    assert info.value.key == "model.layers[1]"
    assert info.value.problem.startswith(
        "MaxPooling2D pool_size 2×2 is larger than the 1×1 image it gets from "
        "model.layers[0] (Conv2D, 32×1×1); make a kernel_size or pool_size smaller"
    )
    check_model(cnn(kernel_size=27))  # 2×2 left: one pooled pixel


def test_data_format_is_followed() -> None:
    # The same 1×28×28 images read as channels-last are 1 row of 28: a 5×5 kernel is too big.
    specs = layers(("Conv2D", {"filters": 4, "kernel_size": 5}))
    with pytest.raises(PresetError) as info:
        output_shapes(specs, (1, 28, 28), source="p.toml")
    assert str(info.value).startswith(
        "p.toml: model.layers[0]: Conv2D kernel_size 5×5 is larger than the 1×28 image it "
        "gets from the input (1×28×28 per sample); "
    )


@pytest.mark.parametrize(
    ("specs", "shape", "key", "expected"),
    [
        ([("Conv2D", {"filters": 2, "kernel_size": 3})], (784,), "model.layers[0]",
         "Conv2D needs 3 dimensions per sample (rows and columns, and channels), but gets 784"),
        ([("Flatten", {}), ("Reshape", {"target_shape": [10, 10]})], (28, 28), "model.layers[1]",
         "Reshape target_shape [10, 10] holds 100 values, but it gets 784 (784 values)"),
        ([("LSTM", {"units": 4})], (784,), "model.layers[0]",
         "LSTM needs 2 dimensions per sample (steps and features), but gets 784"),
        ([("Conv1D", {"filters": 2, "kernel_size": 3, "dilation_rate": 5})], (10, 1),
         "model.layers[0]", "Conv1D kernel_size 11 dilated is larger than the 10 steps it gets"),
    ],
)  # fmt: skip
def test_layers_that_do_not_fit_name_their_key(
    specs: list[tuple[str, dict[str, Any]]], shape: tuple[int, ...], key: str, expected: str
) -> None:
    with pytest.raises(PresetError) as info:
        output_shapes(layers(*specs), shape)
    assert info.value.key == key
    assert info.value.problem.startswith(expected), info.value.problem


def test_an_unknown_layer_ends_the_walk() -> None:
    specs = layers(("Lambda", {}), ("Conv2D", {"filters": 2, "kernel_size": 99}))
    assert output_shapes(specs, (28, 28, 1)) == []


def test_a_classifier_without_flatten_is_refused(tmp_path: Any) -> None:
    text = (shipped_presets_dir() / "mnist_mlp.toml").read_text(encoding="utf-8")
    text = text.replace('{ op = "reshape", shape = [784] },', "").replace(
        "input_shape = [784]", "input_shape = [28, 28]"
    )
    config = loads(text, source="mlp.toml").resolve()
    with pytest.raises(PresetError) as info:
        check_model(config)
    assert info.value.key == "model.layers[1]"
    assert info.value.problem.startswith("the model outputs 28×10 per sample")


def test_a_declared_input_shape_is_checked_against_the_data(tmp_path: Any) -> None:
    path = tmp_path / "small.npz"
    rng = np.random.default_rng(0)
    np.savez(
        path,
        x_train=rng.random((4, 10, 10)),
        y_train=np.arange(4),
        x_test=rng.random((2, 10, 10)),
        y_test=np.arange(2),
    )
    text = (shipped_presets_dir() / "mnist_cnn.toml").read_text(encoding="utf-8")
    text = text.replace("shape = [1, 28, 28] }", "shape = [1, 10, 10] }", 1)
    config = load(write_preset(tmp_path, text, name="cnn10")).resolve(data=str(path))
    with pytest.raises(PresetError) as info:
        check_model(config)
    assert info.value.key == "model.input_shape"
    assert "is [1, 28, 28] but each sample" in info.value.problem and "1×10×10" in (
        info.value.problem
    )


CASES: list[tuple[tuple[int, ...], list[tuple[str, dict[str, Any]]]]] = [
    ((1, 28, 28), [
        ("Conv2D", {"filters": 3, "kernel_size": [5, 3], "strides": 2,
                    "data_format": "channels_first"}),
        ("MaxPooling2D", {"pool_size": 3, "data_format": "channels_first"}),
        ("Flatten", {}), ("Dense", {"units": 5}),
    ]),
    ((20, 20, 3), [
        ("Conv2D", {"filters": 4, "kernel_size": 3, "padding": "same", "strides": 3}),
        ("AveragePooling2D", {"pool_size": 2, "strides": 1}),
        ("DepthwiseConv2D", {"kernel_size": 2, "depth_multiplier": 2}),
        ("SeparableConv2D", {"filters": 3, "kernel_size": 2}),
        ("Conv2DTranspose", {"filters": 2, "kernel_size": 3, "strides": 2}),
        ("UpSampling2D", {"size": [2, 1]}),
        ("GlobalMaxPooling2D", {}), ("Dropout", {"rate": 0.1}), ("Dense", {"units": 2}),
    ]),
    ((30, 4), [
        ("Conv1D", {"filters": 6, "kernel_size": 3, "dilation_rate": 2}),
        ("MaxPooling1D", {"pool_size": 2, "padding": "same"}),
        ("LSTM", {"units": 5, "return_sequences": True}),
        ("GRU", {"units": 3}), ("RepeatVector", {"n": 4}), ("Permute", {"dims": [2, 1]}),
        ("Reshape", {"target_shape": [-1, 2]}), ("Flatten", {}),
    ]),
    ((12,), [("Embedding", {"input_dim": 50, "output_dim": 3}), ("SimpleRNN", {"units": 2})]),
]  # fmt: skip


@pytest.mark.parametrize(("shape", "specs"), CASES)
def test_the_walk_agrees_with_keras(
    shape: tuple[int, ...], specs: list[tuple[str, dict[str, Any]]]
) -> None:
    keras = pytest.importorskip("keras", reason="Keras is not installed")
    model = keras.Sequential(
        [keras.Input(shape), *(getattr(keras.layers, kind)(**args) for kind, args in specs)]
    )
    expected = [tuple(int(d) for d in layer.output.shape[1:]) for layer in model.layers]
    assert output_shapes(layers(*specs), shape) == expected
