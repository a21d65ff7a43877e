"""The Keras engine on tiny data: real TensorFlow training, real events, real controls.

Every run here trains a real model on 64 random samples for a few epochs; the
whole module shares one TensorFlow import.
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import KtuiDirs, tiny_preset_text, write_mnist_npz, write_preset

from ktui.core.capture import StderrCapture
from ktui.core.controls import RunControls
from ktui.core.errors import PresetError
from ktui.core.events import (
    BatchProgress,
    EpochEnded,
    EvaluationReady,
    EvaluationSkipped,
    Event,
    LearningRateChanged,
    LogLine,
    PhaseChanged,
    RunFailed,
    RunFinished,
    RunStarted,
    SystemSampled,
)
from ktui.core.presets import RunConfig, load, loads, shipped_presets_dir

engine = pytest.importorskip("ktui.training.engine", reason="TensorFlow is not installed")
keras = pytest.importorskip("keras")

WAIT = 60.0  # generous bound for waiting on the training thread; never a timing assertion


def no_network(name: str) -> Any:
    """A downloader that fails like Keras does without network."""
    raise OSError(f"URL fetch failure on https://storage.googleapis.com/{name}.npz: no network")


def tiny_config(values: dict[str, Any] | None = None, **overrides: Any) -> RunConfig:
    return loads(tiny_preset_text(**overrides), source="/presets/tiny.toml").resolve(values)


class Recorder:
    """Collects events (from any thread) and lets a test react to them."""

    def __init__(self, react: Callable[[Event], None] | None = None) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()
        self._react = react

    def __call__(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)
        if self._react is not None:
            self._react(event)

    def of(self, kind: type[Any]) -> list[Any]:
        with self._lock:
            return [e for e in self.events if isinstance(e, kind)]

    def phases(self) -> list[str]:
        return [e.phase for e in self.of(PhaseChanged)]


def train(
    config: RunConfig,
    *,
    controls: RunControls | None = None,
    react: Callable[[Event], None] | None = None,
    artifacts: Path | None = None,
    **trainer_args: Any,
) -> tuple[Event, Recorder]:
    trainer_args.setdefault("capture", None)
    trainer_args.setdefault("download", no_network)
    recorder = Recorder(react)
    final = engine.KerasTrainer(**trainer_args).run(
        config, recorder, controls or RunControls(), artifacts=artifacts
    )
    return final, recorder


def saved_iterations(folder: Path) -> int:
    """How many batches the saved model's optimizer has applied."""
    model = keras.models.load_model(folder / "model.keras")
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))


def epochs_of(recorder: Recorder) -> list[int]:
    return [e.epoch for e in recorder.of(EpochEnded)]


# -------------------------------------------------------------------------------- events
def test_events_arrive_in_order_with_the_right_fields() -> None:
    config = tiny_config({"epochs": 3})
    final, rec = train(config)

    assert isinstance(final, RunFinished), final
    assert rec.events[-1] is final
    # System samples come from the sampler's thread, when they come: not in the outline.
    outline = [
        type(e).__name__ for e in rec.events if not isinstance(e, BatchProgress | SystemSampled)
    ]
    assert outline == [
        "PhaseChanged",
        "PhaseChanged",
        "RunStarted",
        "PhaseChanged",
        "EpochEnded",
        "InputTiming",  # each epoch's wait for data, right after it
        "EpochEnded",
        "InputTiming",
        "EpochEnded",
        "InputTiming",
        "PhaseChanged",
        "EvaluationReady",  # the tiny preset is a classifier: its confusion matrix
        "RunFinished",
    ]
    assert rec.phases() == ["preparing data", "building model", "running", "evaluating"]
    assert rec.of(PhaseChanged)[0].detail == "random 64×4, 2 classes"

    (started,) = rec.of(RunStarted)
    assert started.preset == "tiny"
    assert started.values == {"units": 8, "learning_rate": 0.01, "batch_size": 16, "epochs": 3}
    assert (started.train_samples, started.validation_samples, started.test_samples) == (64, 0, 32)
    assert (started.batch_size, started.epochs, started.steps_per_epoch) == (16, 3, 4)
    assert started.device.startswith(("CPU", "GPU"))
    assert started.data == "random (seed 3)"
    backend = keras.backend.backend()  # the versions name the backend in use, and its own
    assert set(started.versions) == {"ktui", "keras", "backend", backend, "python"}
    assert started.versions["backend"] == backend
    layers = started.model.layers
    assert [(layer.kind, layer.output_shape, layer.params) for layer in layers] == [
        ("Dense", "(None, 8)", 4 * 8 + 8),
        ("Dense", "(None, 1)", 8 + 1),
    ]
    assert started.model.total_params == started.model.trainable_params == 49

    # Batch progress: inside the epoch it belongs to, ending on the epoch's last step.
    index = {id(e): i for i, e in enumerate(rec.events)}
    for ended in rec.of(EpochEnded):
        batches = [b for b in rec.of(BatchProgress) if b.epoch == ended.epoch]
        assert batches, f"no progress in epoch {ended.epoch}"
        assert all(index[id(b)] < index[id(ended)] for b in batches)
        assert [b.step for b in batches] == sorted({b.step for b in batches})
        assert batches[-1].step == batches[-1].steps == 4
        assert all(math.isfinite(b.logs["loss"]) and b.samples_per_second > 0 for b in batches)

    ended = rec.of(EpochEnded)
    assert [e.epoch for e in ended] == [1, 2, 3] and {e.epochs for e in ended} == {3}
    for e in ended:
        assert list(e.metrics) == ["loss", "accuracy"]
        assert all(math.isfinite(v) for v in e.metrics.values())
        assert 0.0 <= e.metrics["accuracy"] <= 1.0
        assert e.learning_rate == pytest.approx(0.01)
        assert e.seconds > 0 and e.samples_per_second > 0

    assert final.status == "finished" and final.epochs_completed == 3
    assert final.test_loss is not None and math.isfinite(final.test_loss)
    assert final.test_accuracy is not None and 0.0 <= final.test_accuracy <= 1.0
    assert final.test_error_percent == pytest.approx(100 - final.test_accuracy * 100)


def test_validation_on_the_test_set_and_on_a_fraction() -> None:
    final, rec = train(tiny_config({"epochs": 1}, validation='"test"'))
    assert isinstance(final, RunFinished)
    (started,) = rec.of(RunStarted)
    assert started.validation_samples == 32
    (ended,) = rec.of(EpochEnded)
    assert list(ended.metrics) == ["loss", "accuracy", "val_loss", "val_accuracy"]

    final, rec = train(tiny_config({"epochs": 1}, validation="0.25"))
    assert isinstance(final, RunFinished)
    (started,) = rec.of(RunStarted)
    assert (started.train_samples, started.validation_samples) == (48, 16)
    assert started.steps_per_epoch == 3
    assert rec.of(BatchProgress)[-1].steps == 3
    assert "val_loss" in rec.of(EpochEnded)[0].metrics


def test_a_shipped_preset_trains_from_the_keras_cache(ktui_dirs: KtuiDirs) -> None:
    """mnist_mlp as shipped, reading a tiny mnist.npz where Keras keeps its download."""
    write_mnist_npz(ktui_dirs.keras_datasets / "mnist.npz", n_train=64, n_test=32)
    preset = load(shipped_presets_dir() / "mnist_mlp.toml")
    config = preset.resolve({"units": 8, "epochs": 1, "batch_size": 32})
    final, rec = train(config, download=None)
    assert isinstance(final, RunFinished), final
    (started,) = rec.of(RunStarted)
    assert started.data == str(ktui_dirs.keras_datasets / "mnist.npz")
    assert started.model.layers[-1].output_shape == "(None, 10)"
    assert started.model.total_params == 784 * 8 + 8 + 8 * 10 + 10
    assert (started.train_samples, started.validation_samples) == (64, 32)
    assert list(rec.of(EpochEnded)[0].metrics) == ["loss", "accuracy", "val_loss", "val_accuracy"]


def test_fd2_output_during_a_run_becomes_log_lines() -> None:
    """With an active capture, what is written to fd 2 during the run reaches the listener."""
    capture = StderrCapture()
    text = "ktui-test: written to fd 2 during training"
    delivered = threading.Event()

    def react(event: Event) -> None:
        if isinstance(event, RunStarted):
            # Subscribed after the engine, so once this sees the line the engine has too.
            capture.subscribe(lambda line: delivered.set() if line == text else None)
            os.write(2, (text + "\n").encode())
        elif isinstance(event, PhaseChanged) and event.phase == "evaluating":
            assert delivered.wait(WAIT)

    capture.start()
    try:
        final, rec = train(tiny_config({"epochs": 1}), capture=capture, react=react)
    finally:
        capture.stop()
    assert isinstance(final, RunFinished), final
    assert text in [e.text for e in rec.of(LogLine)]
    assert text in capture.lines()


# ------------------------------------------------------------------------- stop and pause
def test_stop_before_training_starts() -> None:
    controls = RunControls()
    controls.stop()
    final, rec = train(tiny_config(), controls=controls)
    assert isinstance(final, RunFinished)
    assert (final.status, final.epochs_completed) == ("stopped", 0)
    assert final.test_loss is None and final.test_accuracy is None
    assert rec.of(RunStarted) and not rec.of(EpochEnded) and not rec.of(BatchProgress)


def test_stop_between_epochs_starts_no_further_batch(tmp_path: Path) -> None:
    controls = RunControls()

    def react(event: Event) -> None:
        if isinstance(event, EpochEnded) and event.epoch == 1:
            controls.stop()

    final, rec = train(
        tiny_config({"epochs": 5}), controls=controls, react=react, artifacts=tmp_path
    )
    assert isinstance(final, RunFinished), final
    assert (final.status, final.epochs_completed) == ("stopped", 1)
    assert epochs_of(rec) == [1]
    assert "stopping" in rec.phases()
    # The run stopped and was still evaluated on the test set.
    assert final.test_accuracy is not None
    assert saved_iterations(tmp_path) == 4  # exactly one epoch of 4 batches


def test_pause_holds_and_stop_ends_mid_epoch(tmp_path: Path) -> None:
    """Paused before epoch 2's first batch, nothing trains; a stop then ends after that batch."""
    controls = RunControls()
    paused = threading.Event()

    def react(event: Event) -> None:
        if isinstance(event, EpochEnded) and event.epoch == 1:
            controls.pause()
        elif isinstance(event, PhaseChanged) and event.phase == "paused":
            paused.set()

    result: list[tuple[Event, Recorder]] = []
    thread = threading.Thread(
        target=lambda: result.append(
            train(tiny_config({"epochs": 3}), controls=controls, react=react, artifacts=tmp_path)
        )
    )
    thread.start()
    try:
        assert paused.wait(WAIT), "the run never reported that it paused"
        # Held: give the training thread every chance to move on, then check it did not.
        thread.join(0.5)
        assert thread.is_alive()
    finally:
        controls.stop()
        thread.join(WAIT)
    assert not thread.is_alive()
    final, rec = result[0]

    assert isinstance(final, RunFinished), final
    assert (final.status, final.epochs_completed) == ("stopped", 1)
    # The stopped epoch 2 is not reported as if it had finished.
    assert epochs_of(rec) == [1]
    assert not [b for b in rec.of(BatchProgress) if b.epoch == 2 and b.step == b.steps]
    assert rec.phases()[-3:] == ["paused", "stopping", "evaluating"]
    # One epoch of 4 batches, then the one batch that was waiting when the stop came.
    assert saved_iterations(tmp_path) == 4 + 1
    assert final.test_accuracy is not None


def test_pause_holds_and_resume_continues() -> None:
    controls = RunControls()
    paused = threading.Event()
    sampled_while_paused = threading.Event()

    def react(event: Event) -> None:
        if isinstance(event, EpochEnded) and event.epoch == 1:
            controls.pause()
        elif isinstance(event, PhaseChanged) and event.phase == "paused":
            paused.set()
        elif isinstance(event, SystemSampled) and paused.is_set():
            sampled_while_paused.set()

    recorder: list[Recorder] = []
    finals: list[Event] = []

    def run() -> None:
        final, rec = train(tiny_config({"epochs": 3}), controls=controls, react=react)
        finals.append(final)
        recorder.append(rec)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert paused.wait(WAIT), "the run never reported that it paused"
        # Held through at least one of the sampler's intervals (1.5 s): the machine is
        # still watched while training holds, and that sample lands inside the pause.
        assert sampled_while_paused.wait(WAIT), "no system sample arrived during the pause"
        assert thread.is_alive()
        assert controls.paused
    finally:
        controls.resume()
        thread.join(WAIT)
    assert not thread.is_alive()
    final, rec = finals[0], recorder[0]
    assert isinstance(final, RunFinished), final
    assert (final.status, final.epochs_completed) == ("finished", 3)
    assert epochs_of(rec) == [1, 2, 3]
    assert rec.phases() == [
        "preparing data",
        "building model",
        "running",
        "paused",
        "running",
        "evaluating",
    ]
    # Nothing of epoch 2 happened before the pause was lifted: between "paused" and
    # "running" only the sampler's thread spoke (it samples on while training holds).
    positions = [i for i, e in enumerate(rec.events) if isinstance(e, PhaseChanged)]
    pause_at, resume_at = positions[3], positions[4]
    during = rec.events[pause_at + 1 : resume_at]
    assert during and all(isinstance(e, SystemSampled) for e in during), during
    assert all(e.epoch == 1 for e in rec.events[:pause_at] if isinstance(e, BatchProgress))


def test_stop_from_another_thread_mid_epoch() -> None:
    """The UI's way: a stop from a progress event's thread, with many batches per epoch."""
    controls = RunControls()

    def react(event: Event) -> None:
        if isinstance(event, BatchProgress) and event.epoch == 2:
            controls.stop()

    config = tiny_config({"epochs": 20, "batch_size": 1})
    final, rec = train(config, controls=controls, react=react)
    assert isinstance(final, RunFinished), final
    assert final.status == "stopped"
    assert 1 <= final.epochs_completed < 20
    assert epochs_of(rec) == list(range(1, final.epochs_completed + 1))
    assert "stopping" in rec.phases()


# -------------------------------------------------------------------------- learning rate
def test_learning_rate_change_takes_effect() -> None:
    """With plain SGD and no shuffling, a near-zero rate freezes the weights from epoch 2."""
    controls = RunControls()

    def react(event: Event) -> None:
        if isinstance(event, EpochEnded) and event.epoch == 1:
            controls.set_learning_rate(1e-9)

    config = tiny_config({"epochs": 3, "learning_rate": 0.5}, optimizer="sgd", shuffle="false")
    final, rec = train(config, controls=controls, react=react)
    assert isinstance(final, RunFinished), final

    (changed,) = rec.of(LearningRateChanged)
    assert (changed.epoch, changed.step, changed.error) == (2, 1, "")
    assert changed.value == 1e-9
    ended = rec.of(EpochEnded)
    assert ended[0].learning_rate == pytest.approx(0.5)
    assert ended[1].learning_rate == pytest.approx(1e-9, rel=1e-5)
    assert ended[2].learning_rate == pytest.approx(1e-9, rel=1e-5)
    losses = [e.metrics["loss"] for e in ended]
    # Epoch 1 trained at 0.5: the loss moved. Epochs 2 and 3 saw the same weights.
    assert abs(losses[1] - losses[0]) > 1e-3
    assert losses[2] == pytest.approx(losses[1], abs=1e-6)


# ------------------------------------------------------------------------------ failures
def test_a_learning_rate_change_in_the_middle_of_an_epoch_lasts() -> None:
    """A rate set mid-epoch applies from the next batch and lasts past the epoch's end.

    On JAX, ``fit`` carries the optimizer's variables in its own state during an
    epoch and writes them back at its end, so this is worth proving on every backend.
    """
    controls = RunControls()
    asked = threading.Event()

    def react(event: Event) -> None:
        # The first progress of epoch 1 (on JAX, batch ends arrive late and out of order).
        first = isinstance(event, BatchProgress) and event.epoch == 1 and not asked.is_set()
        if first and event.step < event.steps:
            asked.set()
            controls.set_learning_rate(1e-9)

    config = tiny_config(
        {"epochs": 2, "learning_rate": 0.5, "batch_size": 4},
        optimizer="sgd",
        shuffle="false",
        train_samples=256,
        validation='"test"',
    )
    final, rec = train(config, controls=controls, react=react)
    assert isinstance(final, RunFinished), final
    (changed,) = rec.of(LearningRateChanged)
    assert changed.epoch == 1 and 1 < changed.step < 64, changed  # really mid-epoch
    ended = rec.of(EpochEnded)
    assert [e.learning_rate for e in ended] == pytest.approx([1e-9, 1e-9], rel=1e-5)
    # From the change on the weights stood still: the same validation loss after epoch 2.
    assert ended[1].metrics["val_loss"] == pytest.approx(ended[0].metrics["val_loss"], abs=1e-6)


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="TensorFlow's own error: JAX and PyTorch do not check the labels' range",
)
def test_an_exception_in_training_becomes_a_failure_event() -> None:
    """Labels 0/1 with one output unit and a sparse loss: TensorFlow raises inside fit."""
    final, rec = train(tiny_config({"epochs": 2}, loss="sparse_categorical_crossentropy"))
    assert isinstance(final, RunFailed), final
    assert rec.events[-1] is final and not rec.of(RunFinished)
    assert final.error_type == "InvalidArgumentError"
    assert final.message.startswith("InvalidArgumentError: ")
    assert "Received a label value of 1" in final.message
    # The message is for a person: TensorFlow's embedded stack stays in the traceback.
    assert "File " not in final.message and "\n" not in final.message
    assert "Traceback (most recent call last)" in final.traceback
    assert "sparse_categorical_crossentropy" in final.traceback


def test_an_exception_in_a_listener_becomes_a_failure_event() -> None:
    def react(event: Event) -> None:
        if isinstance(event, BatchProgress):
            raise RuntimeError("listener broke")

    final, rec = train(tiny_config(), react=react)
    assert isinstance(final, RunFailed), final
    assert (final.error_type, final.message) == ("RuntimeError", "RuntimeError: listener broke")
    assert "RuntimeError: listener broke" in final.traceback
    assert rec.events[-1] is final


def _with_bad_names(config: RunConfig, overrides: dict[str, str]) -> RunConfig:
    """``config`` with the bad names of ``overrides``, past the preset's own checks."""
    first = config.layers[0]
    args = dict(first.args)
    if "activation" in overrides:
        args["activation"] = overrides["activation"]
    layer = dataclasses.replace(first, kind=overrides.get("layer", first.kind), args=args)
    metrics = ("accuracy", "acuracy") if "metrics" in overrides else config.metrics
    return dataclasses.replace(
        config,
        layers=(layer, *config.layers[1:]),
        optimizer=overrides.get("optimizer", config.optimizer),
        loss=overrides.get("loss", config.loss),
        metrics=metrics,
    )


NAME_ERRORS = [
    ({"layer": "Dens"}, "model.layers[0].type", "unknown Keras layer 'Dens'; did you mean 'Dense'"),
    ({"activation": "reluu"}, "model.layers[0].activation", "unknown activation 'reluu'"),
    ({"optimizer": "adamm"}, "compile.optimizer", "unknown optimizer 'adamm'; did you mean 'adam'"),
    ({"loss": "binary_crossentropyy"}, "compile.loss", "unknown loss 'binary_crossentropyy'"),
    ({"metrics": '["accuracy", "acuracy"]'}, "compile.metrics[1]", "unknown metric 'acuracy'"),
]


@pytest.mark.parametrize(
    ("overrides", "key", "expected"),
    NAME_ERRORS,
    ids=["layer", "activation", "optimizer", "loss", "metric"],
)
def test_unknown_keras_names_name_the_file_and_key(
    tmp_path: Path, overrides: dict[str, str], key: str, expected: str
) -> None:
    path = write_preset(tmp_path, tiny_preset_text(**overrides), name="bad")
    # The preset is refused when it loads, without TensorFlow (core.keras_names) ...
    with pytest.raises(PresetError) as refused:
        load(path)
    assert str(refused.value).startswith(f"{path}: {key}: ") and expected in str(refused.value)
    # ... and the backend still refuses such a config with the same kind of message.
    good = load(write_preset(tmp_path, tiny_preset_text(), name="bad")).resolve()
    config = _with_bad_names(good, overrides)
    final, rec = train(config)
    assert isinstance(final, RunFailed), final
    assert final.error_type == "PresetError"
    assert final.message.startswith(f"{path}: {key}: "), final.message
    assert expected in final.message
    assert final.traceback == ""
    assert not rec.of(RunStarted)

    # The UI's model preview gets the same error before any data is loaded.
    with pytest.raises(PresetError) as info:
        engine.KerasTrainer(capture=None).describe(config)
    assert str(info.value) == final.message


def test_a_layer_argument_keras_refuses(tmp_path: Path) -> None:
    text = tiny_preset_text().replace('units = "$units"', 'units = "$units"\nunitz = 3', 1)
    config = load(write_preset(tmp_path, text, name="bad")).resolve()
    final, _ = train(config)
    assert isinstance(final, RunFailed) and final.error_type == "PresetError"
    assert f"{tmp_path / 'bad.toml'}: model.layers[0]: Dense does not accept" in final.message
    assert "unitz" in final.message


def test_describe_summarizes_without_data() -> None:
    summary = engine.KerasTrainer(capture=None).describe(tiny_config())
    assert [layer.kind for layer in summary.layers] == ["Dense", "Dense"]
    assert summary.total_params == 49 and summary.input_shape == "(None, 4)"


# -------------------------------------------------------------------------------- data
def _npz_config(tmp_path: Path, source: Path, **overrides: Any) -> RunConfig:
    text = tiny_preset_text(**overrides).replace('source = "random"', f'source = "{source}"')
    return load(write_preset(tmp_path / "presets", text)).resolve()


def test_a_missing_data_file(tmp_path: Path) -> None:
    final, _ = train(_npz_config(tmp_path, tmp_path / "nowhere.npz"))
    assert isinstance(final, RunFailed) and final.error_type == "DataError"
    assert f"data file {tmp_path / 'nowhere.npz'} does not exist" in final.message
    assert "--data" in final.message and "x_train, y_train, x_test, y_test" in final.message
    assert final.traceback == ""


def test_a_corrupt_data_file(tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.npz"
    bad.write_bytes(b"PK\x03\x04 this is not really a zip file")
    final, _ = train(_npz_config(tmp_path, bad))
    assert isinstance(final, RunFailed) and final.error_type == "DataError"
    assert str(bad) in final.message and "damaged" in final.message
    assert final.traceback == ""


def test_a_data_file_of_the_wrong_shape(tmp_path: Path) -> None:
    images = write_mnist_npz(tmp_path / "images.npz", n_train=16, n_test=8)
    final, _ = train(_npz_config(tmp_path, images))
    assert isinstance(final, RunFailed) and final.error_type == "DataError"
    assert "model.input_shape is (4,)" in final.message
    assert "(28, 28)" in final.message and str(tmp_path / "presets" / "tiny.toml") in final.message

    # The shipped MLP's reshape step cannot turn 10×10 images into 784 values.
    small = write_mnist_npz(tmp_path / "small.npz", n_train=16, n_test=8, side=10)
    config = load(shipped_presets_dir() / "mnist_mlp.toml").resolve(data=str(small))
    final, _ = train(config)
    assert isinstance(final, RunFailed) and final.error_type == "DataError"
    assert "data.transforms[0]" in final.message and "(16, 10, 10)" in final.message


def test_no_network_says_where_to_put_the_file(ktui_dirs: KtuiDirs) -> None:
    config = load(shipped_presets_dir() / "mnist_mlp.toml").resolve()
    final, _ = train(config, download=no_network)
    assert isinstance(final, RunFailed) and final.error_type == "DataError"
    assert "MNIST is not on this machine and could not be downloaded" in final.message
    assert "no network" in final.message
    assert "Put mnist.npz" in final.message and str(ktui_dirs.keras_datasets) in final.message
    assert final.traceback == ""


def test_saved_model_predicts(tmp_path: Path) -> None:
    final, _ = train(tiny_config({"epochs": 1}), artifacts=tmp_path / "run")
    assert isinstance(final, RunFinished)
    model = keras.models.load_model(tmp_path / "run" / "model.keras")
    predictions = np.asarray(model.predict(np.zeros((3, 4), dtype=np.float32), verbose=0))
    assert predictions.shape == (3, 1)
    assert np.all((predictions >= 0) & (predictions <= 1))


def test_a_preview_built_while_another_starts_names_its_layers_apart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After a run, the form's "Parameters" said "cannot build the model: Name 'dense' is
    already the name of a layer": another preview (or a run starting) cleared Keras's
    session, resetting the name counters, in the middle of this preview's build."""
    from ktui.core.events import ModelSummary
    from ktui.training import builder

    real = builder.make_layer
    first_layer_made, go_on = threading.Event(), threading.Event()

    def make_layer(config: RunConfig, spec: Any) -> Any:
        layer = real(config, spec)
        if threading.current_thread().name == "first" and not first_layer_made.is_set():
            first_layer_made.set()  # hold the first preview between its two layers
            go_on.wait(30)
        return layer

    monkeypatch.setattr(builder, "make_layer", make_layer)
    trainer = engine.KerasTrainer(capture=None)
    results: dict[str, object] = {}

    def describe() -> None:
        try:
            results[threading.current_thread().name] = trainer.describe(tiny_config())
        except Exception as exc:  # noqa: BLE001 - what the form would show
            results[threading.current_thread().name] = exc

    first = threading.Thread(target=describe, name="first")
    first.start()
    assert first_layer_made.wait(60)
    second = threading.Thread(target=describe, name="second")
    second.start()
    second.join(1.0)  # unguarded, the second preview clears the session here
    go_on.set()
    first.join(60)
    second.join(60)
    for name in ("first", "second"):
        summary = results[name]
        assert isinstance(summary, ModelSummary), (name, summary)
        names = [layer.name for layer in summary.layers]
        assert len(names) == 2 and len(set(names)) == 2, names


def test_a_run_validated_on_the_test_set_is_not_evaluated_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its last epoch's validation was the test set with the final weights: the test
    figures are those (exactly what evaluate gives), with no second pass."""
    passes: list[int] = []
    evaluate = keras.Model.evaluate

    def counted(self: keras.Model, *args: Any, **kwargs: Any) -> Any:
        if not kwargs.get("_use_cached_eval_dataset"):  # not fit's own validation
            passes.append(1)
        return evaluate(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "evaluate", counted)
    final, rec = train(tiny_config({"epochs": 2}, validation='"test"'))
    assert isinstance(final, RunFinished) and final.status == "finished"
    last = rec.of(EpochEnded)[-1].metrics
    assert passes == []
    assert final.test_loss == last["val_loss"] and final.test_accuracy == last["val_accuracy"]
    # Another validation (or none) still evaluates the test set after the fit.
    final, _ = train(tiny_config({"epochs": 1}, validation="0.25"))
    assert isinstance(final, RunFinished) and final.test_loss is not None and passes == [1]


def test_a_trainer_may_leave_out_the_test_set_predictions() -> None:
    """A sweep's worker predicts only for its best trials (``predict_test``): the others
    say why they have no confusion matrix, and keep their test figures."""
    trainer = engine.KerasTrainer(capture=None, download=no_network)
    asked: list[int] = []
    trainer.predict_test = lambda: bool(asked.append(1))
    recorder = Recorder()
    final = trainer.run(tiny_config({"epochs": 1}), recorder, RunControls())
    assert isinstance(final, RunFinished) and final.test_accuracy is not None
    assert asked == [1] and not recorder.of(EvaluationReady)
    (skipped,) = recorder.of(EvaluationSkipped)
    assert skipped.reason == engine.DEFERRED_PREDICTIONS
