"""The Keras training engine: runs a preset's ``model.fit`` and emits plain events."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import keras

from ktui.core import data as data_mod
from ktui.core import insight
from ktui.core.capture import STDERR, StderrCapture
from ktui.core.controls import RunControls
from ktui.core.distribute import AGREE_EVERY, Cluster, parse_tf_config
from ktui.core.errors import DataError, KtuiError
from ktui.core.events import (
    EvaluationSkipped,
    Event,
    Listener,
    LogLine,
    ModelSummary,
    PhaseChanged,
    RunFailed,
    RunFinished,
    RunStarted,
)
from ktui.core.keras_names import plain_message
from ktui.core.memory import out_of_memory_message
from ktui.core.metrics import accuracy_metric
from ktui.core.presets import RunConfig
from ktui.core.shapes import check_model
from ktui.training.builder import build_model, summarize
from ktui.training.callback import EventCallback

# Re-exported: the device line and versions come from the backend in use (devices.py).
from ktui.training.devices import backend, describe_device, versions  # noqa: F401
from ktui.training.distribute import open_distribution, repeating_input
from ktui.training.gpu import device_total_memory, is_out_of_memory
from ktui.training.save import save_model
from ktui.training.watch import RunWatch


def keras_download(name: str) -> Any:
    """Download a Keras data set (``mnist`` or ``fashion_mnist``) into the Keras cache."""
    loader = {"mnist": keras.datasets.mnist, "fashion_mnist": keras.datasets.fashion_mnist}[name]
    return loader.load_data()


def load_dataset(config: RunConfig, download: data_mod.Downloader | None) -> data_mod.Dataset:
    """The preset's data with its transforms applied (one-hot as wide as the model's
    classes); :func:`ktui.core.data.check_targets` then checks the labels fit."""
    raw = data_mod.load(config.data, seed=config.seed, download=download)
    return data_mod.apply_transforms(raw, config.transforms, classes=config.classes)


class _Session:
    """Guards Keras's global session: ``clear_session`` must not run under a training.

    ``clear_session`` resets global state (layer name counters, the default graph)
    for every thread; the dashboard builds model previews while a run may be going,
    so only the first of several concurrent users may clear it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs = 0

    def clear_if_idle(self) -> None:
        with self._lock:
            if self._runs == 0:
                keras.backend.clear_session()

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        with self._lock:
            if self._runs == 0:
                keras.backend.clear_session()
            self._runs += 1
        try:
            yield
        finally:
            with self._lock:
                self._runs -= 1


_SESSION = _Session()

#: Held while a model is built, and around every ``clear_session`` (which resets the
#: layer name counters of every thread: a preview built meanwhile would name two layers
#: alike, "Name 'dense' is already the name of a layer"). Taken before the session's own
#: lock. Keras draws layers' default seeds from Python's global
#: ``random``; a preview built in another thread (the preset list, the form's parameter
#: count) between a run's ``set_random_seed`` and its build would take some of its
#: numbers, and the seeded run would not be the same run twice.
_BUILDING = threading.Lock()


class KerasTrainer:
    """The real :class:`~ktui.core.trainer.Trainer`: Keras, on the backend this process
    loaded (TensorFlow, JAX or PyTorch), in this process."""

    def __init__(
        self,
        *,
        capture: StderrCapture | None = STDERR,
        download: data_mod.Downloader | None = keras_download,
        tensorboard: bool = False,
    ) -> None:
        """``tensorboard``: also write TensorBoard event files into each run's artifacts
        folder (``<run folder>/tensorboard``), so TensorBoard can open the same runs."""
        self._capture = capture
        self._download = download
        self._tensorboard = tensorboard
        self.predict_test: Callable[[], bool] | None = None
        """Asked after the test set is evaluated whether to predict it too (the
        confusion matrix and wrong predictions); ``None`` (the default): always. A
        sweep's worker predicts only for a trial that is the best so far
        (:mod:`ktui.cli.sweep_engine`): a second pass over the test set per trial, with
        its own tracing, is the largest cost a trial adds to its ``fit``."""

    def _extra_callbacks(self, artifacts: Path | None) -> list[keras.callbacks.Callback]:
        if not self._tensorboard or artifacts is None:
            return []
        from ktui.training.tensorboard import EventFileWriter

        # tensorboardX, not keras.callbacks.TensorBoard: that one needs TensorFlow.
        return [EventFileWriter(artifacts / "tensorboard")]

    def describe(self, config: RunConfig) -> ModelSummary:
        """Build the model for the preset's declared input shape and summarize it."""
        if config.input_shape is None:
            raise KtuiError(
                f"{config.preset.name}: the model's input shape comes from the data",
                hint="Add input_shape under [model] to see the model before training.",
            )
        # Cleared under _BUILDING: a clear in the middle of another thread's build would
        # reset Keras's name counters there, and its next layer would be a second "dense".
        with _BUILDING:
            _SESSION.clear_if_idle()
            return summarize(build_model(config, config.input_shape))

    def run(
        self,
        config: RunConfig,
        listener: Listener,
        controls: RunControls,
        *,
        artifacts: Path | None = None,
    ) -> Event:
        """Train in the calling thread; see :meth:`ktui.core.trainer.Trainer.run`."""
        started = time.monotonic()
        unsubscribe = (
            self._capture.subscribe(lambda line: listener(LogLine(line)))
            if self._capture is not None and self._capture.active
            else None
        )
        callback: EventCallback | None = None
        summary_for_oom: ModelSummary | None = None
        final: Event
        stack = contextlib.ExitStack()
        try:
            if config.backend is not None and config.backend != backend():
                # Keras's backend is fixed once it is imported; the form and `ktui run`
                # give such a run a process of its own, so this is a last line of defence.
                raise KtuiError(
                    f"this run asks for the {config.backend} backend, but Keras runs on "
                    f"{backend()} in this process",
                    hint=f"Start it in the background, or with `ktui run --backend "
                    f"{config.backend}`.",
                )
            listener(PhaseChanged("preparing data", config.data.describe()))
            dataset = load_dataset(config, self._download)
            input_shape = tuple(int(d) for d in dataset.x_train.shape[1:])
            if config.input_shape is not None and config.input_shape != input_shape:
                raise DataError(
                    f"{config.preset.source}: model.input_shape is {config.input_shape} but "
                    f"each training sample of {config.data.describe()} has shape {input_shape}",
                    hint="Add or change a reshape step in [data] transforms, or change "
                    "model.input_shape to match the data.",
                )
            # Our own shape walk first: its message names the layer and the preset key,
            # where Keras's would be "Computed output size would be zero or negative".
            check_model(config, input_shape)
            data_mod.check_targets(dataset, classes=config.classes, loss=config.loss)
            if isinstance(config.validation, float):
                data_mod.check_validation_split(dataset, config.validation)
            listener(PhaseChanged("building model"))
            cluster = (
                parse_tf_config(os.environ.get("TF_CONFIG"))
                if config.strategy == "multiworker"
                else None
            )
            with _BUILDING:  # taken first, also by describe: never the other way round
                stack.enter_context(_SESSION.running())
                # Before the seed and the build: a strategy must exist before the model
                # (its variables are made in the strategy's scope), and TensorFlow's
                # devices can only be arranged before its runtime starts.
                distribution = open_distribution(config.strategy, cluster)
                stack.enter_context(distribution.scope())
                if config.seed is not None:
                    keras.utils.set_random_seed(config.seed)
                model = build_model(config, input_shape)
                distribution.prepare(model)
            fit_args: dict[str, Any] = {}
            train_samples = dataset.train_samples
            batch_size = config.batch_size
            test_samples = dataset.test_samples  # all of them, also when shared out below
            if distribution.shard is not None:
                dataset, batch_size = _share(dataset, batch_size, *distribution.shard)
            validation_samples = 0
            if config.validation == "test":
                fit_args["validation_data"] = (dataset.x_test, dataset.y_test)
                validation_samples = test_samples
            elif isinstance(config.validation, float):
                fit_args["validation_split"] = config.validation
                validation_samples = int(train_samples * config.validation)
                train_samples -= validation_samples
            callback = EventCallback(
                listener,
                controls,
                train_samples,
                agree=distribution.agree,
                agree_every=AGREE_EVERY,
            )
            # The machine and the wait for data, beside the run (ktui.training.watch).
            watch = RunWatch(listener, data_kind="arrays", batch_size=config.batch_size)
            stack.callback(watch.stop)  # before the final event: its last sample first
            summary_for_oom = summarize(model)
            listener(
                RunStarted(
                    preset=config.preset.name,
                    values=dict(config.values),
                    model=summary_for_oom,
                    train_samples=train_samples,
                    validation_samples=validation_samples,
                    test_samples=test_samples,
                    batch_size=config.batch_size,
                    epochs=config.epochs,
                    steps_per_epoch=config.steps_per_epoch(train_samples),
                    device=describe_device(),
                    data=dataset.origin,
                    versions=versions(),
                    seed=config.seed,
                    # The GPUs this process was given, so a re-run is given them too.
                    placement=dataclasses.replace(
                        distribution.placement,
                        visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
                    ),
                )
            )
            watch.start()
            # A worker of several always starts: the others would wait for it in their
            # first collective. An early stop is agreed on at the first agreement step.
            history: dict[str, list[Any]] = {}
            if not controls.stop_requested or distribution.agree is not None:
                listener(PhaseChanged("running"))
                inputs: dict[str, Any] = {
                    "x": dataset.x_train,
                    "y": dataset.y_train,
                    "batch_size": batch_size,
                    "shuffle": config.shuffle,
                }
                if distribution.repeat_input:
                    # One pipeline for the whole fit (see ktui.training.distribute).
                    split = fit_args.pop("validation_split", None)
                    data, more = repeating_input(
                        dataset.x_train,
                        dataset.y_train,
                        batch_size=batch_size,
                        shuffle=config.shuffle,
                        seed=_shared_seed(config.seed, cluster),
                        validation_split=split,
                    )
                    inputs = {"x": data, **more}
                fitted = model.fit(
                    epochs=config.epochs,
                    verbose=0,
                    callbacks=[callback, *watch.callbacks(), *self._extra_callbacks(artifacts)],
                    **inputs,
                    **fit_args,
                )
                history = dict(getattr(fitted, "history", None) or {})
            # A stop that came after the last epoch's last batch changed nothing.
            stopped = controls.stop_requested and callback.epochs_completed < config.epochs
            diverged = callback.divergence is not None
            test_loss = test_accuracy = None
            # A run stopped before its first epoch ended has nothing worth evaluating or
            # keeping: an untrained model.keras would only pass for a result. Nor has one
            # whose loss became NaN: its weights are NaN too.
            trained = (callback.epochs_completed > 0 or not stopped) and not diverged
            if trained:
                listener(PhaseChanged("evaluating", f"{test_samples} test samples"))
                scores = _last_validation(history, config, stopped, distribution.shard)
                if scores is None:
                    scores = model.evaluate(
                        dataset.x_test,
                        dataset.y_test,
                        batch_size=batch_size,
                        verbose=0,
                        return_dict=True,
                    )
                test_loss = float(scores["loss"]) if "loss" in scores else None
                accuracy = accuracy_metric(scores)
                test_accuracy = None if accuracy is None else float(scores[accuracy])
                if distribution.shard is not None:
                    # Every process decides alike, so none is left in a collective.
                    listener(EvaluationSkipped(MULTIPROCESS_JAX_NO_CONFUSION))
                elif self.predict_test is None or self.predict_test():
                    _confusion(
                        model, dataset, config, artifacts, listener, test_accuracy is not None
                    )
                else:
                    listener(EvaluationSkipped(DEFERRED_PREDICTIONS))
            if artifacts is not None and trained:
                save_model(model, artifacts, listener)
            elif trained and not distribution.is_chief:
                _save_as_worker(model, listener)
            elif artifacts is not None and diverged:
                listener(LogLine("ktui: the loss diverged; not evaluated, no model saved."))
            elif artifacts is not None:
                listener(LogLine("ktui: stopped before its first epoch ended; no model saved."))
            final = RunFinished(
                status="diverged" if diverged else "stopped" if stopped else "finished",
                epochs_completed=callback.epochs_completed,
                seconds=time.monotonic() - started,
                test_loss=test_loss,
                test_accuracy=test_accuracy,
                message=callback.divergence or "",
            )
        except KtuiError as exc:
            final = RunFailed(
                message=str(exc),
                error_type=type(exc).__name__,
                traceback="",
                epochs_completed=callback.epochs_completed if callback else 0,
            )
        except Exception as exc:  # noqa: BLE001 - a failed run is reported, never raised
            message = user_message(exc)
            if is_out_of_memory(exc) and summary_for_oom is not None:
                message = out_of_memory_message(
                    summary_for_oom, config.batch_size, config.optimizer, device_total_memory()
                )
            final = RunFailed(
                message=message,
                error_type=type(exc).__name__,
                traceback=traceback.format_exc(),
                epochs_completed=callback.epochs_completed if callback else 0,
            )
        finally:
            stack.close()
            if unsubscribe is not None:
                unsubscribe()
        listener(final)
        return final


#: Why a multi-process JAX run makes no confusion matrix (README: Several devices and
#: hosts). Keras's predict there yields arrays spread over every process's devices,
#: which no process may read alone; gathering them takes collectives that every
#: process must join, batch by batch, in Keras's own predict loop.
MULTIPROCESS_JAX_NO_CONFUSION = (
    "a multi-worker run on JAX makes no confusion matrix: each prediction is spread over "
    "every worker's devices, and no one worker can read it"
)


#: Why a sweep's trial has no confusion matrix (see :attr:`KerasTrainer.predict_test`).
DEFERRED_PREDICTIONS = (
    "not predicted for this trial: a sweep predicts the test set (the confusion matrix) "
    "only for a trial that was the best so far when it ended"
)


def _last_validation(
    history: dict[str, list[Any]],
    config: RunConfig,
    stopped: bool,
    shard: tuple[int, int] | None,
) -> dict[str, float] | None:
    """The test set's scores from the fit's last validation, when that validation was
    on the test set with the final weights: a run that validates on the test set
    (``fit.validation = "test"``) and trained all its epochs has just evaluated it,
    batch for batch as ``evaluate`` would (same data, same batch size, no weight
    changed since). ``None`` when ``evaluate`` must run: another validation, a run
    stopped early (its weights moved after its last validation), or a process that
    validated only its own share of the data."""
    if config.validation != "test" or stopped or shard is not None:
        return None
    scores = {
        key.removeprefix("val_"): values[-1]
        for key, values in history.items()
        if key.startswith("val_") and len(values) == config.epochs
    }
    if "loss" not in scores:
        return None
    return {key: float(value) for key, value in scores.items()}


def _share(
    dataset: data_mod.Dataset, batch_size: int, rank: int, processes: int
) -> tuple[data_mod.Dataset, int]:
    """This process's share of the data and of the global batch (JAX multi-process).

    Keras puts the processes' batches together into one global batch, so each gives
    ``batch_size / processes`` samples a step, from its own every-n-th sample."""
    if batch_size % processes:
        nearest = batch_size - batch_size % processes or processes
        raise KtuiError(
            f"batch_size {batch_size} cannot be shared by {processes} processes",
            hint=f"Use a multiple of {processes}, e.g. {nearest}.",
        )
    import dataclasses

    shared = dataclasses.replace(
        dataset,
        x_train=dataset.x_train[rank::processes],
        y_train=dataset.y_train[rank::processes],
        x_test=dataset.x_test[rank::processes],
        y_test=dataset.y_test[rank::processes],
    )
    return shared, batch_size // processes


def _save_as_worker(model: keras.Model, listener: Listener) -> None:
    """A worker's part of the chief's save: saving under MultiWorkerMirroredStrategy is
    a collective every worker joins (the chief would wait for the others), so a worker
    saves too, into a folder that is deleted at once."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="ktui-worker-") as folder:
        save_model(model, Path(folder), listener)


#: At most this many characters of an unexpected error reach the user; the log has all.
MESSAGE_LIMIT = 600


def user_message(exc: BaseException) -> str:
    """A short message for an unexpected error, without the trace TensorFlow embeds.

    TensorFlow's graph errors carry a ``Detected at node ...`` section with one
    ``File ...`` line per frame inside their message; that is a traceback and
    belongs in the log (``RunFailed.traceback``), not in front of the user.
    """
    kept: list[str] = []
    in_trace = False
    # Keras wraps messages in terminal escape codes whatever the output is.
    for line in plain_message(str(exc)).splitlines():
        stripped = line.strip()
        if stripped.startswith("Detected at node") or stripped.startswith("Traceback ("):
            in_trace = True
            continue
        if in_trace and (not stripped or line.startswith((" ", "\t"))):
            continue
        in_trace = False
        if not stripped or stripped.startswith("[[{{node"):
            continue
        kept.append(stripped)
    text = " ".join(kept)
    if len(text) > MESSAGE_LIMIT:
        text = text[: MESSAGE_LIMIT - 1].rstrip() + "…"
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


def _shared_seed(seed: int | None, cluster: Cluster | None) -> int:
    """The shuffling seed of a multi-worker run: every worker must shuffle alike, so
    without the run's own seed, one the cluster's workers share (its id)."""
    if seed is not None:
        return seed
    return int(cluster.key, 16) % 2**31 if cluster is not None else 0


def _confusion(
    model: keras.Model,
    dataset: data_mod.Dataset,
    config: RunConfig,
    artifacts: Path | None,
    listener: Listener,
    has_accuracy: bool,
) -> None:
    """Predict the test set and emit an ``EvaluationReady`` (classifiers only).

    Runs in the training thread, after ``evaluate``. Anything that goes wrong here is
    an :class:`EvaluationSkipped`: the run itself trained and was evaluated, so it must
    not fail now.
    """
    output = model.outputs[0].shape
    activation = getattr(getattr(model.layers[-1], "activation", None), "__name__", "")
    problem = insight.classification_problem(
        output_units=int(output[-1]) if len(output) == 2 and output[-1] else 0,
        activation=str(activation),
        has_accuracy=has_accuracy,
    )
    if problem is not None:
        listener(EvaluationSkipped(f"{problem}."))
        return
    # Still the "evaluating" phase: predicting is part of evaluating the test set.
    started = time.monotonic()
    try:
        probabilities = model.predict(dataset.x_test, batch_size=config.batch_size, verbose=0)
        classes = int(output[-1]) if int(output[-1]) > 1 else 2
        evaluation = insight.evaluate(
            dataset.y_test,
            probabilities,
            labels=insight.class_names(config.data.kind, classes),
            x=dataset.x_test,
            data=dataset.origin,
        )
    except Exception as exc:  # noqa: BLE001 - the run is done; only the matrix is lost
        listener(EvaluationSkipped(user_message(exc)))
        return
    seconds = time.monotonic() - started
    path: Path | None = None
    note = "not saved: this run has no folder (it is not recorded in the run store)"
    if artifacts is not None:
        path = artifacts / insight.PREDICTIONS_FILE
        try:
            evaluation.save(path)
            note = ""
        except OSError as exc:
            note = f"could not save {path}: {exc}"
            listener(LogLine(f"ktui: {note}"))
            path = None
    listener(evaluation.to_event(path, seconds, note))
