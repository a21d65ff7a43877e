"""Preset loading and validation: every error names the file, the key path and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import tiny_preset_text, write_preset

from ktui.core.errors import DataError, KtuiError, PresetError
from ktui.core.presets import (
    Hyperparameter,
    dump_values,
    load,
    load_catalog,
    loads,
    shipped_presets_dir,
)

SOURCE = "/presets/broken.toml"


def _error(text: str, source: str = SOURCE) -> PresetError:
    with pytest.raises(PresetError) as info:
        loads(text, source=source)
    return info.value


def _replace(old: str, new: str, text: str | None = None) -> str:
    base = tiny_preset_text() if text is None else text
    assert old in base, f"test bug: {old!r} is not in the preset"
    return base.replace(old, new, 1)


# ------------------------------------------------------------------------ shipped presets
def test_shipped_presets_all_load() -> None:
    catalog = load_catalog([shipped_presets_dir()])
    assert catalog.errors == []
    assert set(catalog.presets) == {"dummy_binary", "mnist_mlp", "mnist_cnn"}
    for preset in catalog.presets.values():
        assert preset.description
        assert Path(preset.source).parent == shipped_presets_dir()
        for hp in preset.hyperparameters.values():
            assert hp.help, f"{preset.name}.{hp.name} has no help"
            assert hp.validate(hp.default) == hp.default


def test_dummy_binary_reproduces_the_seed_script() -> None:
    config = load(shipped_presets_dir() / "dummy_binary.toml").resolve()
    assert (config.data.kind, config.data.train_samples, config.data.features) == (
        "random",
        1000,
        20,
    )
    assert (config.data.test_samples, config.data.classes) == (100, 2)
    assert config.input_shape == (20,)
    layers = [(spec.kind, spec.args) for spec in config.layers]
    assert layers == [
        ("Dense", {"units": 64, "activation": "relu"}),
        ("Dropout", {"rate": 0.5}),
        ("Dense", {"units": 64, "activation": "relu"}),
        ("Dropout", {"rate": 0.5}),
        ("Dense", {"units": 1, "activation": "sigmoid"}),
    ]
    assert (config.loss, config.optimizer, config.metrics) == (
        "binary_crossentropy",
        "rmsprop",
        ("accuracy",),
    )
    assert (config.batch_size, config.epochs, config.validation) == (200, 10, "none")
    assert config.steps_per_epoch(1000) == 5


def test_mnist_mlp_reproduces_the_seed_script() -> None:
    config = load(shipped_presets_dir() / "mnist_mlp.toml").resolve()
    assert config.data.kind == "mnist" and config.seed == 7
    assert [t.describe() for t in config.transforms] == [
        "reshape x to (784,)",
        "cast x to float32",
        "divide x by 255",
        "one-hot y",
    ]
    assert [(s.kind, s.args) for s in config.layers] == [
        ("Dense", {"units": 784, "activation": "relu"}),
        ("Dense", {"units": 10, "activation": "softmax"}),
    ]
    assert (config.loss, config.optimizer) == ("categorical_crossentropy", "adam")
    assert (config.batch_size, config.epochs, config.validation) == (200, 10, "test")


def test_mnist_cnn_reproduces_the_seed_script() -> None:
    config = load(shipped_presets_dir() / "mnist_cnn.toml").resolve()
    assert config.input_shape == (1, 28, 28)
    assert config.transforms[0].args == {"shape": [1, 28, 28]}
    kinds = [spec.kind for spec in config.layers]
    assert kinds == ["Conv2D", "MaxPooling2D", "Dropout", "Flatten", "Dense", "Dense"]
    conv = config.layers[0].args
    assert conv == {
        "filters": 32,
        "kernel_size": [5, 5],
        "activation": "relu",
        "data_format": "channels_first",
    }
    assert config.layers[2].args == {"rate": 0.2}
    assert config.layers[4].args == {"units": 128, "activation": "relu"}
    assert (config.batch_size, config.epochs, config.validation) == (200, 10, "test")


@pytest.mark.parametrize("name", ["dummy_binary", "mnist_mlp", "mnist_cnn"])
def test_shipped_presets_survive_save_and_reload(name: str) -> None:
    preset = load(shipped_presets_dir() / f"{name}.toml")
    changed = {"epochs": 3, "learning_rate": 0.0005}
    text = dump_values(preset, changed, name=f"{name}_copy", description="my copy")
    again = loads(text, source="copy.toml")
    assert again.name == f"{name}_copy" and again.description == "my copy"
    assert again.defaults() == {**preset.defaults(), **changed}
    original = preset.resolve(changed)
    copy = again.resolve()
    for attr in ("layers", "transforms", "input_shape", "loss", "optimizer", "metrics"):
        assert getattr(copy, attr) == getattr(original, attr), attr
    assert (copy.epochs, copy.learning_rate) == (3, 0.0005)


# --------------------------------------------------------------------------- tiny preset
def test_tiny_preset_loads_and_resolves() -> None:
    preset = loads(tiny_preset_text(), source="/somewhere/tiny.toml")
    assert preset.name == "tiny" and preset.source == "/somewhere/tiny.toml"
    config = preset.resolve({"units": 5, "epochs": 4})
    assert config.layers[0].args == {"units": 5, "activation": "relu"}
    assert (config.epochs, config.batch_size, config.learning_rate) == (4, 16, 0.01)
    assert config.data.train_samples == 64 and config.input_shape == (4,)
    assert config.values == {"units": 5, "learning_rate": 0.01, "batch_size": 16, "epochs": 4}


def test_name_defaults_to_the_file_name(tmp_path: Path) -> None:
    text = _replace('name = "tiny"\n', "")
    assert load(write_preset(tmp_path, text, name="my-net")).name == "my-net"


def test_relative_npz_source_is_next_to_the_preset(tmp_path: Path) -> None:
    text = _replace('source = "random"', 'source = "data/mine.npz"')
    config = load(write_preset(tmp_path, text)).resolve()
    assert config.data.kind == "npz" and config.data.path == tmp_path / "data" / "mine.npz"


def test_data_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    preset = loads(tiny_preset_text())
    config = preset.resolve(data="other.npz")
    assert config.data.path == tmp_path / "other.npz"
    assert preset.resolve(data="fashion-mnist").data.kind == "fashion_mnist"
    with pytest.raises(DataError, match="not recognised"):
        preset.resolve(data="imagenet")


# -------------------------------------------------------------------------- every error
ERROR_CASES: list[tuple[str, str, str, str]] = [
    # (id, preset text, key path, what the message must say)
    ("syntax", tiny_preset_text() + "\n[fit\n", "", "not valid TOML"),
    ("syntax-value", _replace("units = 1\n", "units = one\n"), "", "not valid TOML"),
    ("unknown-top-key", "epoch = 3\n" + tiny_preset_text(), "epoch", "unknown key"),
    (
        "unknown-fit-key",
        _replace("[fit]\n", "[fit]\nbatchsize = 3\n"),
        "fit.batchsize",
        "did you mean 'batch_size'",
    ),
    (
        "unknown-compile-key",
        _replace("[compile]\n", "[compile]\nlr = 0.1\n"),
        "compile.lr",
        "Expected one of: learning_rate, loss, metrics, optimizer",
    ),
    (
        "unknown-hp-key",
        _replace("[hyperparameters.units]\n", "[hyperparameters.units]\nstep = 2\n"),
        "hyperparameters.units.step",
        "unknown key",
    ),
    (
        "wrong-type-batch-size",
        _replace('batch_size = "$batch_size"', 'batch_size = "big"'),
        "fit.batch_size",
        "expected a positive whole number, got 'big'",
    ),
    (
        "wrong-type-float-batch-size",
        _replace('batch_size = "$batch_size"', "batch_size = 2.5"),
        "fit.batch_size",
        "expected a positive whole number, got 2.5",
    ),
    (
        "wrong-type-shuffle",
        _replace("shuffle = true", 'shuffle = "yes"'),
        "fit.shuffle",
        "expected true or false",
    ),
    (
        "wrong-type-metrics",
        _replace('metrics = ["accuracy"]', 'metrics = "accuracy"'),
        "compile.metrics",
        "expected a list of metric names",
    ),
    (
        "wrong-type-input-shape",
        _replace("input_shape = [4]", 'input_shape = "4"'),
        "model.input_shape",
        "expected a list of positive whole numbers",
    ),
    (
        "wrong-type-section",
        _replace("[compile]\n", "[compile.sub]\n"),
        "compile.sub",
        "unknown key",
    ),
    (
        "wrong-type-hp-default",
        _replace("default = 8\n", 'default = "eight"\n'),
        "hyperparameters.units.default",
        "expects a whole number from 1 to 64, got 'eight'",
    ),
    (
        "wrong-type-hp-default-bool",
        _replace("default = 8\n", "default = true\n"),
        "hyperparameters.units.default",
        "a whole number",
    ),
    (
        "wrong-type-optimizer",
        _replace('optimizer = "adam"', "optimizer = 3"),
        "compile.optimizer",
        "expected a name, got 3",
    ),
    (
        "out-of-bounds-hp-default",
        _replace("default = 8\n", "default = 0\n"),
        "hyperparameters.units.default",
        "from 1 to 64, got 0",
    ),
    (
        "out-of-bounds-float-default",
        _replace("default = 0.01\n", "default = 20.0\n"),
        "hyperparameters.learning_rate.default",
        "a number from 1e-07 to 10, got 20.0",
    ),
    (
        "out-of-bounds-validation",
        _replace('validation = "none"', "validation = 1.5"),
        "fit.validation",
        "a fraction between 0 and 1, got 1.5",
    ),
    (
        "out-of-bounds-epochs",
        _replace('epochs = "$epochs"', "epochs = 0"),
        "fit.epochs",
        "expected a positive whole number, got 0",
    ),
    (
        "out-of-bounds-learning-rate",
        _replace('learning_rate = "$learning_rate"', "learning_rate = -0.1"),
        "compile.learning_rate",
        "expected a positive number",
    ),
    (
        "out-of-bounds-samples",
        _replace("train_samples = 64", "train_samples = 0"),
        "data.train_samples",
        "expected a positive whole number, got 0",
    ),
    (
        "out-of-bounds-seed",
        _replace("seed = 3", "seed = -1"),
        "seed",
        "expected a whole number of at least 0",
    ),
    (
        "hp-min-above-max",
        _replace("min = 1\nmax = 64", "min = 65\nmax = 64"),
        "hyperparameters.units.min",
        "min (65) is larger than max (64)",
    ),
    (
        "hp-unknown-type",
        _replace('type = "int"\ndefault = 8', 'type = "integer"\ndefault = 8'),
        "hyperparameters.units.type",
        "expected int, float, choice or bool, got 'integer'",
    ),
    (
        "hp-missing-help",
        _replace('help = "units of the hidden layer."\n', ""),
        "hyperparameters.units.help",
        "expected a one-line help text",
    ),
    (
        "hp-missing-default",
        _replace("default = 8\n", ""),
        "hyperparameters.units.default",
        "missing",
    ),
    (
        "hp-choice-without-choices",
        _replace('type = "int"\ndefault = 8\nmin = 1\nmax = 64', 'type = "choice"\ndefault = "a"'),
        "hyperparameters.units.choices",
        "expected a non-empty list of strings",
    ),
    (
        "hp-bad-name",
        _replace("[hyperparameters.units]", '[hyperparameters."my-units"]'),
        "hyperparameters.my-units",
        "identifier",
    ),
    (
        "unknown-reference",
        _replace('units = "$units"', 'units = "$width"'),
        "model.layers[0].units",
        "unknown hyperparameter 'width'",
    ),
    ("missing-section", _replace("[fit]\n", "[fitting]\n"), "fitting", "unknown key"),
    (
        "missing-data-source",
        _replace('source = "random"\n', ""),
        "data.source",
        "missing: random, mnist, fashion_mnist or a .npz path",
    ),
    (
        "unknown-data-source",
        _replace('source = "random"', 'source = "imagenet"'),
        "data.source",
        "data source 'imagenet' is not recognised",
    ),
    (
        "bad-transform-op",
        _replace("classes = 2\n", 'classes = 2\ntransforms = [{ op = "resize" }]\n'),
        "data.transforms[0].op",
        "expected one of astype, flatten, one_hot, reshape, scale, got 'resize'",
    ),
    (
        "bad-transform-arg",
        _replace("classes = 2\n", 'classes = 2\ntransforms = [{ op = "reshape", shape = "4" }]\n'),
        "data.transforms[0].shape",
        "expected a list of positive integers",
    ),
    (
        "layer-without-type",
        _replace('type = "Dense"\nunits = "$units"', 'units = "$units"'),
        "model.layers[0].type",
        "expected a Keras layer name such as 'Dense', got None",
    ),
    (
        "layer-type-not-a-name",
        _replace('type = "Dense"\nunits = "$units"', 'type = "Dense Layer"\nunits = "$units"'),
        "model.layers[0].type",
        "expected a Keras layer name",
    ),
    (
        "no-layers",
        _replace("[[model.layers]]", "[[model.blocks]]"),
        "model.blocks",
        "unknown key",
    ),
    (
        "missing-optimizer",
        _replace('optimizer = "adam"\n', ""),
        "compile.optimizer",
        "missing",
    ),
    (
        "bad-name",
        _replace('name = "tiny"', 'name = "my net"'),
        "name",
        "expected a name of letters, digits, _ or -, got 'my net'",
    ),
]


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_every_error_names_file_key_and_expectation(text: str, key: str, expected: str) -> None:
    error = _error(text)
    message = str(error)
    assert error.source == SOURCE
    assert error.key == key
    assert expected in error.problem, message
    assert message.startswith(f"{SOURCE}: {key}: " if key else f"{SOURCE}: "), message
    assert isinstance(error, KtuiError)


def test_syntax_error_says_where_in_the_file() -> None:
    error = _error(tiny_preset_text() + "\nepochs = \n")
    assert "line" in error.problem


def test_no_layers_at_all() -> None:
    text = tiny_preset_text()
    start = text.index("[[model.layers]]")
    end = text.index("[compile]")
    error = _error(text[:start] + text[end:])
    assert error.key == "model.layers"
    assert "at least one [[model.layers]]" in error.problem


def test_missing_whole_section() -> None:
    text = tiny_preset_text()
    start, end = text.index("[fit]"), text.index("[hyperparameters.units]")
    error = _error(text[:start] + text[end:])
    assert (error.key, error.problem) == ("fit", "missing section")


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(PresetError, match="cannot be read") as info:
        load(tmp_path / "absent.toml")
    assert info.value.source == str(tmp_path / "absent.toml")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00name")
    with pytest.raises(PresetError, match="cannot be read"):
        load(binary)


# ------------------------------------------------------------------------ catalog
def test_a_broken_file_does_not_stop_the_others(tmp_path: Path) -> None:
    folder = tmp_path / "presets"
    write_preset(folder, tiny_preset_text(), name="good")
    write_preset(folder, _replace("[fit]\n", "[fit]\nbatchsize = 3\n"), name="typo")
    write_preset(folder, "this is not toml", name="garbage")
    catalog = load_catalog([shipped_presets_dir(), folder])
    # The good file's name comes from its `name = "tiny"`.
    assert {"dummy_binary", "mnist_mlp", "mnist_cnn", "tiny"} <= set(catalog.presets)
    assert sorted(Path(e.source).name for e in catalog.errors) == ["garbage.toml", "typo.toml"]
    typo = next(e for e in catalog.errors if e.source.endswith("typo.toml"))
    assert typo.key == "fit.batchsize"
    with pytest.raises(PresetError) as info:
        catalog.get("typo")
    assert info.value is typo


def test_later_folders_win(tmp_path: Path) -> None:
    user = tmp_path / "user"
    text = _replace('name = "tiny"', 'name = "dummy_binary"')
    write_preset(user, text, name="dummy_binary")
    catalog = load_catalog([shipped_presets_dir(), user])
    assert catalog.get("dummy_binary").source == str(user / "dummy_binary.toml")
    assert catalog.errors == []


def test_a_broken_override_is_reported_not_silently_replaced(tmp_path: Path) -> None:
    """A user's broken copy of a shipped preset must not fall back to the shipped one."""
    user = tmp_path / "user"
    write_preset(user, "name = 'dummy_binary'\n[data\n", name="dummy_binary")
    catalog = load_catalog([shipped_presets_dir(), user])
    with pytest.raises(PresetError) as info:
        catalog.get("dummy_binary")
    assert info.value.source == str(user / "dummy_binary.toml")
    assert "dummy_binary" not in catalog.presets
    assert "mnist_mlp" in catalog.presets


def test_a_good_override_replaces_a_broken_file(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    write_preset(first, "broken = [", name="tiny")
    write_preset(second, tiny_preset_text(), name="tiny")
    catalog = load_catalog([first, second])
    assert catalog.get("tiny").source == str(second / "tiny.toml")
    assert catalog.errors == []


def test_get_unknown_name_lists_the_known_ones() -> None:
    catalog = load_catalog([shipped_presets_dir()])
    with pytest.raises(KtuiError) as info:
        catalog.get("mnist_mpl")
    assert "no preset called 'mnist_mpl'" in str(info.value)
    assert "dummy_binary, mnist_cnn, mnist_mlp" in str(info.value)


def test_get_a_toml_file_by_path(tmp_path: Path) -> None:
    path = write_preset(tmp_path / "elsewhere", tiny_preset_text(), name="loose")
    catalog = load_catalog([shipped_presets_dir()])
    assert catalog.get(str(path)).source == str(path)
    broken = write_preset(tmp_path / "elsewhere", "[data", name="loose-broken")
    with pytest.raises(PresetError, match="not valid TOML"):
        catalog.get(str(broken))


def test_missing_folders_are_skipped(tmp_path: Path) -> None:
    catalog = load_catalog([tmp_path / "nope", shipped_presets_dir()])
    assert len(catalog.presets) == 3


# ------------------------------------------------------------------- --set and resolve
def test_set_parses_typed_values() -> None:
    preset = loads(tiny_preset_text())
    values = preset.parse_assignments(
        ["epochs=3", " units = 12 ", "learning_rate=1e-4", "batch_size=1_000"]
    )
    assert values == {"epochs": 3, "units": 12, "learning_rate": 0.0001, "batch_size": 1000}
    assert isinstance(values["learning_rate"], float) and isinstance(values["epochs"], int)
    assert preset.parse_assignments(["epochs=4.0"]) == {"epochs": 4}


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("epoch=3", "has no hyperparameter 'epoch'"),
        ("nonsense=1", "has no hyperparameter 'nonsense'"),
        ("epochs", "expected NAME=VALUE"),
        ("=3", "expected NAME=VALUE"),
        ("epochs=three", "epochs expects a whole number from 1 to 10000, got 'three'"),
        ("epochs=2.5", "got 2.5"),
        ("epochs=0", "got 0"),
        ("epochs=", "got ''"),
        ("learning_rate=fast", "learning_rate expects a number from 1e-07 to 10"),
        ("learning_rate=nan", "learning_rate expects a number"),
        ("units=65", "from 1 to 64, got 65"),
    ],
)
def test_set_refuses_bad_names_and_values(item: str, expected: str) -> None:
    preset = loads(tiny_preset_text())
    with pytest.raises(KtuiError) as info:
        preset.parse_assignments([item])
    assert expected in str(info.value)
    assert f"--set {item!r}" in str(info.value)


def test_set_unknown_name_suggests_and_lists() -> None:
    preset = loads(tiny_preset_text())
    with pytest.raises(KtuiError) as info:
        preset.parse_assignments(["epoch=3"])
    assert "did you mean 'epochs'" in str(info.value)
    assert "batch_size, epochs, learning_rate, units" in str(info.value)


def test_resolve_refuses_unknown_and_invalid_values() -> None:
    preset = loads(tiny_preset_text(), source="/p/tiny.toml")
    with pytest.raises(PresetError) as info:
        preset.resolve({"width": 3})
    assert info.value.source == "/p/tiny.toml" and "unknown hyperparameter 'width'" in str(
        info.value
    )
    with pytest.raises(PresetError) as info:
        preset.resolve({"units": 1000})
    assert info.value.key == "hyperparameters.units"
    assert "from 1 to 64, got 1000" in str(info.value)


def test_hyperparameter_kinds() -> None:
    flag = Hyperparameter("shuffle", "bool", True, "shuffle it")
    assert [flag.parse(t) for t in ("yes", "off", "TRUE", "0")] == [True, False, True, False]
    with pytest.raises(ValueError, match="true or false"):
        flag.parse("maybe")
    choice = Hyperparameter("act", "choice", "relu", "activation", choices=("relu", "tanh"))
    assert choice.parse(" tanh ") == "tanh"
    with pytest.raises(ValueError, match="one of relu, tanh"):
        choice.parse("gelu")
    rate = Hyperparameter("rate", "float", 0.5, "rate", min=0.0, max=1.0)
    assert rate.parse("0.25") == 0.25 and rate.format(1.0) == "1"
    with pytest.raises(ValueError, match="from 0 to 1"):
        rate.parse("1.5")
    with pytest.raises(ValueError):
        rate.parse("inf")
    count = Hyperparameter("n", "int", 1, "n", min=1)
    assert count.describe_expected() == "a whole number of at least 1"
    assert count.parse("1_000_000") == 1_000_000


# --------------------------------------------------------------------------- saving strings
AWKWARD = 'say "hi" \\ C:\\temp\nsecond line\ttab \x01\x07\x1b[0m\x7f é ✓'
"""Quotes, backslashes, a newline, a tab, control characters (DEL too), non-ASCII."""


def test_saved_preset_keeps_strings_with_quotes_backslashes_and_control_characters() -> None:
    import tomli_w
    import tomllib

    raw = tomllib.loads(tiny_preset_text())
    raw["description"] = AWKWARD
    raw["hyperparameters"]["units"]["help"] = AWKWARD + " (units)"
    raw["data"]["source"] = "random"
    preset = loads(tomli_w.dumps(raw), source="awkward.toml")
    assert preset.description == AWKWARD

    text = dump_values(preset, {"units": 9}, name="awkward_copy", description=AWKWARD + "!")
    again = tomllib.loads(text)  # the file is TOML that tomllib accepts
    assert again["description"] == AWKWARD + "!"
    assert again["hyperparameters"]["units"]["help"] == AWKWARD + " (units)"
    copy = loads(text, source="awkward_copy.toml")
    assert copy.description == AWKWARD + "!"
    assert copy.hyperparameters["units"].help == AWKWARD + " (units)"
    assert copy.defaults() == {**preset.defaults(), "units": 9}
    same = ("data", "model", "compile", "fit", "seed")
    assert {k: again[k] for k in same} == {k: raw[k] for k in same}


# ------------------------------------------- Keras names and argument ranges (no Keras)
KERAS_ERRORS = [
    ({"layer": "Dnse"}, "model.layers[0].type", "unknown Keras layer 'Dnse'; did you mean 'Dense'"),
    ({"activation": "relux"}, "model.layers[0].activation", "unknown activation 'relux'; did "),
    ({"optimizer": "adamm"}, "compile.optimizer", "unknown optimizer 'adamm'; did you mean 'adam'"),
    ({"loss": "binary_crossentropyy"}, "compile.loss", "unknown loss 'binary_crossentropyy'; "),
    ({"metrics": '["accuracy", "acuracy"]'}, "compile.metrics[1]", "unknown metric 'acuracy'; "),
]


@pytest.mark.parametrize(("overrides", "key", "expected"), KERAS_ERRORS)
def test_unknown_keras_names_are_found_without_keras(
    overrides: dict[str, str], key: str, expected: str
) -> None:
    error = _error(tiny_preset_text(**overrides))
    assert error.key == key and error.problem.startswith(expected), error.problem
    assert str(error).startswith(f"{SOURCE}: {key}: ")


@pytest.mark.parametrize(
    ("old", "new", "key", "expected"),
    [
        ('units = "$units"', "units = -5", "model.layers[0].units",
         "Dense units must be a whole number of at least 1, got -5"),
        ('units = "$units"', "units = 0", "model.layers[0].units",
         "Dense units must be a whole number of at least 1, got 0"),
        ('units = "$units"', 'units = "abc"', "model.layers[0].units",
         "Dense units must be a whole number of at least 1, got 'abc'"),
        ('units = 1\n', 'units = 1\n[[model.layers]]\ntype = "Dropout"\nrate = 1.5\n',
         "model.layers[2].rate",
         "Dropout rate must be a number of at least 0 and below 1, got 1.5"),
        ('activation = "sigmoid"', "activation = 3", "model.layers[1].activation",
         "expected a Keras activation name, got 3"),
    ],
)  # fmt: skip
def test_layer_arguments_out_of_range_are_found_without_keras(
    old: str, new: str, key: str, expected: str
) -> None:
    error = _error(_replace(old, new))
    assert (error.key, error.problem) == (key, expected)


def test_a_hyperparameter_whose_bounds_allow_an_invalid_value_is_an_error() -> None:
    text = _replace("min = 1\nmax = 64", "min = 0\nmax = 64")
    error = _error(text)
    assert error.key == "hyperparameters.units.min"
    assert error.problem == (
        "min = 0 allows model.layers[0].units = 0, but Dense units must be a whole number "
        "of at least 1"
    )


def test_a_choice_hyperparameter_must_offer_only_keras_names() -> None:
    text = _replace('activation = "relu"', 'activation = "$act"') + (
        '\n[hyperparameters.act]\ntype = "choice"\ndefault = "relu"\n'
        'choices = ["relu", "tanhh"]\nhelp = "activation"\n'
    )
    error = _error(text)
    assert error.key == "hyperparameters.act.choices"
    assert error.problem.startswith(
        "act is used as model.layers[0].activation (Dense activation): "
        "unknown activation 'tanhh'; did you mean 'tanh'"
    )
    float_units = _replace('type = "int"\ndefault = 8', 'type = "float"\ndefault = 8.0')
    assert _error(float_units).key == "hyperparameters.units.type"


def test_an_unbounded_hyperparameter_is_refused_when_filled_in() -> None:
    preset = loads(_replace("min = 1\nmax = 64\n", ""), source=SOURCE)
    with pytest.raises(PresetError) as info:
        preset.resolve({"units": 0})
    assert str(info.value) == (
        f"{SOURCE}: model.layers[0].units: Dense units must be a whole number of at least 1, "
        "got 0 (from $units)"
    )
    with pytest.raises(KtuiError):
        preset.resolve(preset.parse_assignments(["units=-5"]))
    assert preset.resolve({"units": 3}).layers[0].args["units"] == 3


def test_kernel_size_lists_of_references_are_checked_element_by_element() -> None:
    text = (shipped_presets_dir() / "mnist_cnn.toml").read_text(encoding="utf-8")
    bad = text.replace("min = 1\nmax = 28", "min = 0\nmax = 28", 1)
    assert bad != text
    error = _error(bad)
    assert error.key == "hyperparameters.kernel_size.min"
    assert "model.layers[0].kernel_size[0] = 0" in error.problem


def test_ktui_presets_lists_keras_name_errors_and_misfit_defaults(tmp_path: Path) -> None:
    from conftest import run_ktui

    folder = tmp_path / "mine"
    bad_layer = write_preset(folder, tiny_preset_text(layer="Dnse"), name="typo")
    cnn = (shipped_presets_dir() / "mnist_cnn.toml").read_text(encoding="utf-8")
    # Defaults that do not fit 28×28 images: a 28×28 kernel leaves nothing to pool.
    cnn = cnn.replace('name = "mnist_cnn"', 'name = "big"').replace(
        "default = 5\n", "default = 28\n"
    )
    misfit = write_preset(folder, cnn, name="big")
    env = {"KTUI_DATA_DIR": str(tmp_path / "data"), "KTUI_CONFIG_DIR": str(tmp_path / "cfg")}
    result = run_ktui("--presets", str(folder), "presets", env=env)
    assert result.returncode == 1
    assert f"{bad_layer}: model.layers[0].type: unknown Keras layer 'Dnse'" in result.stderr
    assert f"{misfit}: model.layers[1]: MaxPooling2D pool_size 2×2 is larger" in result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("big\t") for line in lines)  # usable with other values
    assert not any(line.startswith("typo\t") for line in lines)
