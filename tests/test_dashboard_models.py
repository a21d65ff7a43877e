"""``ktui.Dashboard`` in a person's own ``fit``, for every kind of model and input.

Each test fits a small real Keras model on tiny random data with a real
:class:`Dashboard` recording into a store in ``tmp_path``, and reads the run back
from the store: subclassed models (with and without their own ``train_step``,
before and after ``build``), a ``Sequential`` without ``keras.Input``, a
multi-output functional model, ``tf.data``, ``PyDataset`` and generator inputs,
metric names Textual ids refuse, and ``ReduceLROnPlateau`` before the dashboard.
The odd metric names are then opened in the history, the run detail, compare and
attached, as a person would.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import run_ktui
from conftest import wait_for as shared_wait_for
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from ktui import Dashboard
from ktui.app import create_app
from ktui.core.presets import load_catalog, shipped_presets_dir
from ktui.screens.compare import CompareScreen
from ktui.screens.presets import PresetScreen
from ktui.screens.run_detail import RunDetailScreen
from ktui.screens.runs import RunsScreen
from ktui.screens.training import TrainingScreen
from ktui.store import RunStore
from ktui.store.records import EpochRecord, Run
from ktui.training import callback as callback_module
from ktui.training import dashboard as dashboard_module
from ktui.training.builder import UNKNOWN_SHAPE
from ktui.widgets.chart import MetricChart
from ktui.widgets.ids import data_id

FEATURES, CLASSES, SAMPLES, BATCH = 8, 3, 64, 16
ODD_NAMES = ("acc@2", "top-1 acc", "precision/macro")


@pytest.fixture(autouse=True)
def seeded() -> None:
    keras.utils.set_random_seed(3)


def arrays(n: int = SAMPLES) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(n)
    x = rng.random((n, FEATURES), dtype=np.float32)
    y = keras.utils.to_categorical(rng.integers(0, CLASSES, n), CLASSES)
    return x, y


def fit_recorded(
    model: keras.Model,
    store: Path,
    *args: Any,
    before: tuple[keras.callbacks.Callback, ...] = (),
    **kwargs: Any,
) -> tuple[Dashboard, Any, Run, list[EpochRecord]]:
    """Fit with a quiet Dashboard (after ``before``); the board, history, run, epochs."""
    board = Dashboard("models", store=store, quiet=True)
    kwargs.setdefault("epochs", 2)
    history = model.fit(*args, verbose=0, callbacks=[*before, board], **kwargs)
    assert board.run_id is not None, board.warnings
    with RunStore(store) as runs:
        return board, history, runs.get_run(board.run_id), runs.epochs(board.run_id)


def assert_recorded(run: Run, epochs: list[EpochRecord], history: Any) -> None:
    """Finished, every epoch, the metrics Keras logged, and a learning rate each."""
    assert run.status == "finished"
    assert [e.epoch for e in epochs] == list(range(1, len(history.history["loss"]) + 1))
    assert set(epochs[0].metrics) == set(history.history) - {"learning_rate"}
    for record in epochs:
        assert record.metrics["loss"] == pytest.approx(history.history["loss"][record.epoch - 1])
        assert record.learning_rate == pytest.approx(0.01)


def params_of(model: keras.Model) -> int:
    return sum(int(np.prod(w.shape)) for w in model.weights)


def dense_pair() -> tuple[keras.layers.Layer, keras.layers.Layer]:
    return keras.layers.Dense(16, activation="relu"), keras.layers.Dense(
        CLASSES, activation="softmax"
    )


def compiled(model: keras.Model, **kwargs: Any) -> keras.Model:
    kwargs.setdefault("loss", "categorical_crossentropy")
    kwargs.setdefault("metrics", ["accuracy"])
    model.compile(optimizer=keras.optimizers.Adam(0.01), **kwargs)
    return model


class Subclassed(keras.Model):
    """A model of its own class: no symbolic outputs, built by its first batch."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden, self.out = dense_pair()

    def call(self, inputs: Any) -> Any:
        return self.out(self.hidden(inputs))


class OwnTrainStep(Subclassed):
    """A subclassed model with its own ``train_step``, as in Keras's guide."""

    def train_step(self, data: Any) -> dict[str, Any]:
        x, y = data
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred)
        gradients = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply(gradients, self.trainable_variables)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {metric.name: metric.result() for metric in self.metrics}


# --------------------------------------------------------------------- kinds of model
def test_a_subclassed_model_is_recorded_with_its_layers_and_parameters(tmp_path: Path) -> None:
    model = compiled(Subclassed())
    assert not model.built  # the case that made on_train_begin raise
    board, history, run, epochs = fit_recorded(model, tmp_path / "runs.sqlite", *arrays())
    assert_recorded(run, epochs, history)
    assert board.warnings == []
    assert run.model is not None
    assert [layer["kind"] for layer in run.model["layers"]] == ["Dense", "Dense"]
    assert {layer["output_shape"] for layer in run.model["layers"]} == {UNKNOWN_SHAPE}
    # Built by the first batch: the summary is completed at the first epoch's end.
    assert run.model["total_params"] == params_of(model) > 0
    layers = [model.hidden, model.out]
    assert [layer["params"] for layer in run.model["layers"]] == [
        layer.count_params() for layer in layers
    ]


@pytest.mark.filterwarnings("ignore:`build\\(\\)` was called:UserWarning")
def test_a_subclassed_model_with_its_own_train_step_built_before_fit(tmp_path: Path) -> None:
    model = compiled(OwnTrainStep())
    model.build((None, FEATURES))
    board, history, run, epochs = fit_recorded(
        model, tmp_path / "runs.sqlite", *arrays(), batch_size=BATCH
    )
    assert_recorded(run, epochs, history)
    assert board.warnings == []
    assert run.model is not None and run.model["total_params"] == params_of(model)
    assert run.values["batch_size"] == BATCH and run.info["train_samples"] == SAMPLES


def test_a_sequential_without_input_gets_its_shapes_once_built(tmp_path: Path) -> None:
    model = compiled(keras.Sequential([*dense_pair()]))
    board, history, run, epochs = fit_recorded(
        model, tmp_path / "runs.sqlite", *arrays(), batch_size=BATCH
    )
    assert_recorded(run, epochs, history)
    assert board.warnings == []
    assert run.model is not None and run.model["total_params"] == params_of(model)
    shapes = [layer["output_shape"] for layer in run.model["layers"]]
    assert shapes == [str(tuple(layer.output.shape)) for layer in model.layers]


def test_a_multi_output_functional_model(tmp_path: Path) -> None:
    inputs = keras.Input(shape=(FEATURES,))
    hidden = keras.layers.Dense(16, activation="relu")(inputs)
    kind = keras.layers.Dense(CLASSES, activation="softmax", name="kind")(hidden)
    size = keras.layers.Dense(1, name="size")(hidden)
    model = keras.Model(inputs, {"kind": kind, "size": size})
    compiled(
        model,
        loss={"kind": "categorical_crossentropy", "size": "mse"},
        metrics={"kind": ["accuracy"], "size": ["mae"]},
    )
    x, y = arrays()
    targets = {"kind": y, "size": x[:, :1]}
    board, history, run, epochs = fit_recorded(
        model, tmp_path / "runs.sqlite", x, targets, validation_split=0.25, batch_size=BATCH
    )
    assert_recorded(run, epochs, history)
    assert board.warnings == []
    assert any(name.startswith("val_") for name in epochs[0].metrics)
    assert run.model is not None and len(run.model["layers"]) == 4


# --------------------------------------------------------------------- kinds of input
def test_a_tf_data_input_records_its_batch_size_and_samples(tmp_path: Path) -> None:
    x, y = arrays()
    train = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(SAMPLES).batch(BATCH).prefetch(2)
    validation = tf.data.Dataset.from_tensor_slices(arrays(24)).batch(8)
    model = compiled(keras.Sequential([keras.Input(shape=(FEATURES,)), *dense_pair()]))
    board, history, run, epochs = fit_recorded(
        model, tmp_path / "runs.sqlite", train, validation_data=validation, shuffle=False
    )
    assert_recorded(run, epochs, history)
    assert run.info["batch_size"] == BATCH and run.values["batch_size"] == BATCH
    assert run.info["train_samples"] == SAMPLES and run.info["validation_samples"] == 24
    assert run.info["steps_per_epoch"] == SAMPLES // BATCH
    assert run.data == f"tf.data.Dataset of x (None, {FEATURES}) float32, y (None, 3) {y.dtype}"
    assert all(e.samples_per_second is not None and e.samples_per_second > 0 for e in epochs)


class Batches(keras.utils.PyDataset):
    """Four batches of 16."""

    def __init__(self) -> None:
        super().__init__()
        self.x, self.y = arrays()

    def __len__(self) -> int:
        return SAMPLES // BATCH

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        part = slice(index * BATCH, (index + 1) * BATCH)
        return self.x[part], self.y[part]


def test_a_py_dataset_records_its_batch_size_and_says_samples_are_unknown(tmp_path: Path) -> None:
    model = compiled(keras.Sequential([keras.Input(shape=(FEATURES,)), *dense_pair()]))
    store = tmp_path / "runs.sqlite"
    board, history, run, epochs = fit_recorded(model, store, Batches())
    assert_recorded(run, epochs, history)
    assert run.info["batch_size"] == BATCH and run.info["train_samples"] is None
    y_dtype = arrays()[1].dtype
    assert run.data == (
        f"PyDataset Batches, 4 batches of x ({BATCH}, {FEATURES}) float32, "
        f"y ({BATCH}, {CLASSES}) {y_dtype}"
    )
    # Four batches of 16 each epoch: the speed is known even if the sample count is not.
    for record in epochs:
        assert record.samples_per_second == pytest.approx(SAMPLES / (record.seconds or 1), rel=0.05)
    shown = run_ktui("--store", str(store), "runs", "show", str(board.run_id))
    assert shown.returncode == 0, shown.stderr
    assert f"train unknown · validation 0 · test 0 · batch {BATCH}" in shown.stdout


def test_a_generator_records_the_size_of_its_first_batch(tmp_path: Path) -> None:
    x, y = arrays()

    def batches() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        while True:
            for start in range(0, SAMPLES, BATCH):
                yield x[start : start + BATCH], y[start : start + BATCH]

    model = compiled(keras.Sequential([keras.Input(shape=(FEATURES,)), *dense_pair()]))
    board, history, run, epochs = fit_recorded(
        model, tmp_path / "runs.sqlite", batches(), steps_per_epoch=SAMPLES // BATCH, shuffle=False
    )
    assert_recorded(run, epochs, history)
    assert run.info["batch_size"] == BATCH and run.info["train_samples"] is None
    assert run.data.startswith(f"generator generator of x ({BATCH}, {FEATURES}) float32")
    assert all(e.samples_per_second is not None for e in epochs)


# --------------------------------------------------------------------- learning rate
@pytest.mark.parametrize("dashboard_first", [False, True])
def test_the_learning_rate_an_epoch_ran_at_whatever_the_callback_order(
    tmp_path: Path, dashboard_first: bool
) -> None:
    # min_delta so large that no epoch after the first counts as better: the rate is
    # halved at the end of epoch 2 (patience 0), and epoch 3 runs at half of it.
    reduce = keras.callbacks.ReduceLROnPlateau(
        monitor="loss", factor=0.5, patience=0, min_delta=1e9
    )
    model = compiled(keras.Sequential([keras.Input(shape=(FEATURES,)), *dense_pair()]))
    board = Dashboard("lr", store=tmp_path / "runs.sqlite", quiet=True)
    callbacks = [board, reduce] if dashboard_first else [reduce, board]
    history = model.fit(*arrays(), epochs=3, verbose=0, callbacks=callbacks)
    ran_at = history.history["learning_rate"]  # ReduceLROnPlateau logs the rate before it acts
    assert ran_at[0] == ran_at[1] > ran_at[2]
    with RunStore(tmp_path / "runs.sqlite") as runs:
        recorded = [e.learning_rate for e in runs.epochs(board.run_id or 0)]
        metrics = runs.epochs(board.run_id or 0)[0].metrics
    assert recorded == pytest.approx(ran_at)
    assert "learning_rate" not in metrics


# --------------------------------------------------------------------- faults
def test_a_failing_hook_costs_the_record_never_the_fit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_summary(model: Any) -> Any:
        raise RuntimeError("no summary today")

    calls = []

    def broken_batch_end(self: Any, batch: int, logs: Any = None) -> None:
        calls.append(batch)
        raise ValueError("no progress today")

    monkeypatch.setattr(dashboard_module, "summarize", broken_summary)
    monkeypatch.setattr(callback_module.EventCallback, "on_train_batch_end", broken_batch_end)
    model = compiled(keras.Sequential([keras.Input(shape=(FEATURES,)), *dense_pair()]))
    board = Dashboard("faulty", store=tmp_path / "runs.sqlite", quiet=True)
    history = model.fit(*arrays(), batch_size=BATCH, epochs=2, verbose=0, callbacks=[board])
    assert len(history.history["loss"]) == 2  # the fit went on
    assert len(calls) == 2 * SAMPLES // BATCH
    start = [w for w in board.warnings if "the start of training" in w]
    batch = [w for w in board.warnings if "a batch's end" in w]
    assert len(start) == 1 and "RuntimeError: no summary today" in start[0]
    assert len(batch) == 1 and "ValueError: no progress today" in batch[0]  # said once
    with RunStore(tmp_path / "runs.sqlite") as runs:
        run = runs.get_run(board.run_id or 0)
        assert run.status == "finished" and len(runs.epochs(run.id)) == 2
        assert any("no progress today" in line for line in runs.log(run.id))


# --------------------------------------------------------------------- the store
def test_the_hint_names_a_store_that_is_not_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    x, y = arrays(16)
    model = compiled(keras.Sequential([keras.Input(shape=(FEATURES,)), *dense_pair()]))
    model.fit(x, y, epochs=1, verbose=0, callbacks=[Dashboard("default")])
    assert "(follow it with `ktui attach 1`)" in capsys.readouterr().err

    other = tmp_path / "my stores" / "exp.sqlite"
    monkeypatch.setenv("KTUI_STORE", str(other))
    model.fit(x, y, epochs=1, verbose=0, callbacks=[Dashboard("other")])
    err = capsys.readouterr().err
    assert f"(follow it with `ktui --store {shlex.quote(str(other))} attach 1`)" in err
    with RunStore(other) as runs:
        assert runs.get_run(1).preset == "other"
        assert runs.folder(1) == other.parent / "exp.runs" / "1"


def test_stores_in_one_folder_have_run_folders_of_their_own(tmp_path: Path) -> None:
    folders = {}
    for name in ("runs.sqlite", "a.sqlite", "b.sqlite"):
        with RunStore(tmp_path / name) as runs:
            run_id = runs.create_run("p")
            folders[name] = runs.folder(run_id)
            assert folders[name].is_dir() and run_id == 1
    assert folders == {
        "runs.sqlite": tmp_path / "runs" / "1",  # the default store's layout is kept
        "a.sqlite": tmp_path / "a.runs" / "1",
        "b.sqlite": tmp_path / "b.runs" / "1",
    }


def test_a_store_made_by_an_older_ktui_keeps_its_run_folders(tmp_path: Path) -> None:
    with RunStore(tmp_path / "exp.sqlite") as runs:
        run_id = runs.create_run("p")
        # An older ktui put every store's runs in runs/, numbered around the others'.
        old = tmp_path / "runs" / "1-19"
        old.mkdir(parents=True)
        (old / "model.keras").write_bytes(b"model")
        runs._db.execute("UPDATE runs SET folder = 'runs/1-19' WHERE id = ?", (run_id,))
        runs._db.commit()
        assert runs.folder(run_id) == old.resolve() == runs.get_run(run_id).folder
        runs.finish_run(run_id, "finished")
        runs.delete_run(run_id)
        assert not old.exists()


# --------------------------------------------------------------------- odd metric names
def test_data_ids_are_valid_and_one_per_name() -> None:
    names = [*ODD_NAMES, "val_loss", "acc_40_2", "acc_2", "a_b", "a__b", "a b", "a-b", "é", ""]
    ids = [data_id("chart", name) for name in names]
    assert len(set(ids)) == len(ids)
    assert data_id("chart", "val_loss") == "chart-val_loss"  # plain names read as before
    for each in ids:
        Static(id=each)  # Textual's own check: raises BadIdentifier for an invalid id


@pytest.fixture(scope="module")
def odd_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with two finished runs whose metrics have names ids refuse."""
    store = tmp_path_factory.mktemp("odd") / "runs.sqlite"
    for seed in (1, 2):
        keras.utils.set_random_seed(seed)
        model = keras.Sequential([keras.Input(shape=(FEATURES,)), *dense_pair()])
        compiled(
            model,
            metrics=[
                keras.metrics.TopKCategoricalAccuracy(k=2, name=ODD_NAMES[0]),
                keras.metrics.CategoricalAccuracy(name=ODD_NAMES[1]),
                keras.metrics.Precision(name=ODD_NAMES[2]),
            ],
        )
        _, history, run, epochs = fit_recorded(
            model, store, *arrays(), validation_split=0.25, batch_size=BATCH
        )
        assert run.status == "finished"
        assert set(epochs[0].metrics) == set(history.history)
        assert {f"val_{name}" for name in ODD_NAMES} <= set(epochs[0].metrics)
    return store


async def wait_for(pilot: Pilot[int], predicate: Callable[[], bool], timeout: float = 20) -> None:
    """The shared wait, with longer by default: the run trains in another process."""
    await shared_wait_for(pilot, predicate, timeout)


def chart_titles(screen: Any) -> set[str]:
    return {str(chart.title) for chart in screen.query(MetricChart)}


async def test_odd_names_in_the_history_detail_and_compare(odd_store: Path) -> None:
    store = RunStore(odd_store)
    app = create_app(load_catalog([shipped_presets_dir()]), store=store)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            assert isinstance(app.screen, PresetScreen)
            await pilot.press("h")
            await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
            runs = app.screen
            assert isinstance(runs, RunsScreen)
            await wait_for(pilot, lambda: len(runs.runs) == 2 and runs.loaded)
            await pilot.pause()

            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
            detail = app.screen
            await pilot.pause()
            assert set(ODD_NAMES) <= chart_titles(detail)  # the real names, shown
            table = detail.query_one("#detail-epochs", DataTable)
            labels = [str(column.label) for column in table.ordered_columns]
            assert {*ODD_NAMES, *(f"val_{n}" for n in ODD_NAMES)} <= set(labels)
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is runs)

            await pilot.press("space", "space", "c")
            await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
            compare = app.screen
            await pilot.pause()
            assert set(ODD_NAMES) <= chart_titles(compare)
            assert app.is_running
    finally:
        store.close()


async def test_odd_names_attached(odd_store: Path) -> None:
    store = RunStore(odd_store)
    app = create_app(load_catalog([shipped_presets_dir()]), store=store, attach=2)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen))
            screen = app.screen
            assert isinstance(screen, TrainingScreen)
            table = screen.query_one("#epochs", DataTable)
            await wait_for(pilot, lambda: table.row_count == 2 and not screen.running)
            await pilot.pause()
            labels = [str(column.label) for column in table.ordered_columns]
            assert set(ODD_NAMES) <= set(labels)
            # As many charts as fit (loss first), each titled with the real name.
            assert ODD_NAMES[0] in chart_titles(screen) <= {"loss", *ODD_NAMES}
            spark_labels = " ".join(str(s.render()) for s in screen.query(".metric-label"))
            assert all(name in spark_labels for name in ODD_NAMES)
            assert not any(math.isnan(e.learning_rate) for e in screen.epochs)
            assert app.is_running
    finally:
        store.close()
