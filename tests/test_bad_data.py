"""Bad data met by real training: labels that do not fit the classes, tiny data sets,
NaN in x. Each is a :class:`DataError` with a message naming the file, the array and
the value, never a Keras shape error called a bug (issue 10, item 12).

Real Keras on tiny ``.npz`` files, through the shipped ``mnist_mlp`` preset.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import mnist_arrays, tiny_preset_text

from ktui.core.controls import RunControls
from ktui.core.events import Event, RunFailed, RunFinished
from ktui.core.presets import RunConfig, load, loads, shipped_presets_dir

engine = pytest.importorskip("ktui.training.engine", reason="TensorFlow is not installed")


def mlp(data: Path) -> RunConfig:
    preset = load(shipped_presets_dir() / "mnist_mlp.toml")
    return preset.resolve({"epochs": 1, "units": 8}, data=str(data))


def train(config: RunConfig) -> Event:
    def no_download(name: str) -> Any:
        raise OSError("no network in tests")

    return engine.KerasTrainer(capture=None, download=no_download).run(
        config, lambda event: None, RunControls()
    )


def save(path: Path, **overrides: Any) -> Path:
    arrays = mnist_arrays(n_train=16, n_test=8)
    arrays.update(overrides)
    np.savez(path, **arrays)
    return path


def test_a_label_equal_to_the_number_of_classes(tmp_path: Path) -> None:
    y = np.array([0, 1, 2, 10, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5], dtype=np.uint8)
    final = train(mlp(save(tmp_path / "data.npz", y_train=y)))
    assert isinstance(final, RunFailed) and final.error_type == "DataError"
    assert final.message.startswith(
        f"{tmp_path / 'data.npz'}: y_train has label 10 at index 3, "
        "but the preset has 10 classes (0–9)"
    )
    assert final.traceback == ""


def test_a_one_sample_data_set_trains(tmp_path: Path) -> None:
    one = mnist_arrays(n_train=1, n_test=1)
    one["y_train"][:] = 3
    one["y_test"][:] = 5
    final = train(mlp(save(tmp_path / "one.npz", **one)))
    assert isinstance(final, RunFinished), final
    assert final.status == "finished" and final.epochs_completed == 1


def test_nan_in_x_is_refused_before_training(tmp_path: Path) -> None:
    x = mnist_arrays(n_train=16, n_test=8)["x_train"].astype(np.float32)
    x[5, 3, 4] = np.nan
    final = train(mlp(save(tmp_path / "nan.npz", x_train=x)))
    assert isinstance(final, RunFailed) and final.error_type == "DataError"
    assert f"{tmp_path / 'nan.npz'}: x_train has nan in sample 5 (at x_train[5, 3, 4])" in (
        final.message
    )


def test_one_sample_with_a_validation_fraction_is_a_data_error() -> None:
    config = loads(tiny_preset_text(train_samples=1, validation="0.1")).resolve()
    final = train(config)
    assert isinstance(final, RunFailed) and final.error_type == "DataError"
    assert "x_train has 1 sample, too few to keep 0.1 of them for validation" in final.message
