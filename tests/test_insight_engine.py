"""The Keras engine makes a confusion matrix after a classification run (tiny real data)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_preset_text
from fakes import CNN_SUMMARY

from ktui.core import insight
from ktui.core.controls import RunControls
from ktui.core.events import EvaluationReady, EvaluationSkipped, Event, RunFinished
from ktui.core.presets import RunConfig, load, loads, shipped_presets_dir

engine = pytest.importorskip("ktui.training.engine", reason="TensorFlow is not installed")


def train(config: RunConfig, artifacts: Path | None) -> tuple[list[Event], Event]:
    events: list[Event] = []
    trainer = engine.KerasTrainer(capture=None, download=None)
    final = trainer.run(config, events.append, RunControls(), artifacts=artifacts)
    return events, final


def ready(events: list[Event]) -> list[EvaluationReady]:
    return [e for e in events if isinstance(e, EvaluationReady)]


@pytest.mark.filterwarnings("ignore")
def test_a_binary_run_saves_its_evaluation_in_the_run_folder(tmp_path: Path) -> None:
    config = loads(tiny_preset_text(), source="/presets/tiny.toml").resolve({"epochs": 1})
    events, final = train(config, tmp_path / "run")
    assert isinstance(final, RunFinished) and final.test_accuracy is not None
    [event] = ready(events)
    assert events.index(event) < events.index(final)
    assert event.binary and event.labels == ("0", "1")
    assert sum(map(sum, event.matrix)) == 32  # the tiny preset's test samples
    assert event.accuracy == pytest.approx(final.test_accuracy, abs=1e-6)
    assert event.path == str(tmp_path / "run" / insight.PREDICTIONS_FILE) and not event.note
    saved = insight.load_evaluation(Path(event.path))
    assert saved.matrix.tolist() == [list(row) for row in event.matrix]
    assert len(saved.mistakes) == event.misclassified
    assert saved.mistakes.images is not None and saved.mistakes.images.shape[1:] == (4,)
    assert np.all(np.diff(saved.mistakes.probability) <= 0)  # most confident first


@pytest.mark.filterwarnings("ignore")
def test_a_softmax_run_on_images_without_a_folder_says_it_was_not_saved(
    tmp_path: Path, tiny_mnist_npz: Callable[..., Path]
) -> None:
    preset = load(shipped_presets_dir() / "mnist_mlp.toml")
    config = preset.resolve({"epochs": 1, "units": 16}, data=str(tiny_mnist_npz()))
    events, final = train(config, None)
    assert isinstance(final, RunFinished)
    [event] = ready(events)
    assert event.labels == tuple("0123456789") and not event.binary
    assert sum(map(sum, event.matrix)) == 32
    assert event.accuracy == pytest.approx(final.test_accuracy, abs=1e-6)
    assert event.path is None and "not recorded" in event.note


@pytest.mark.filterwarnings("ignore")
def test_a_model_that_is_not_a_classifier_logs_why(tmp_path: Path) -> None:
    text = tiny_preset_text(loss="mse", metrics='["mae"]')
    config = loads(text, source="/presets/tiny.toml").resolve({"epochs": 1})
    events, final = train(config, tmp_path / "run")
    assert isinstance(final, RunFinished)
    assert ready(events) == []
    # Why, as an event of its own (no log line to parse).
    [skipped] = [e for e in events if isinstance(e, EvaluationSkipped)]
    assert "accuracy" in skipped.reason
    assert not (tmp_path / "run" / insight.PREDICTIONS_FILE).exists()


def test_the_snapshots_cnn_summary_is_the_real_mnist_cnn() -> None:
    config = load(shipped_presets_dir() / "mnist_cnn.toml").resolve()
    assert engine.KerasTrainer(capture=None, download=None).describe(config) == CNN_SUMMARY
