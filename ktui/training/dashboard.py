"""``ktui.Dashboard``: record and steer your own ``model.fit`` from ktui.

Add it to the callbacks of any Keras training::

    from ktui import Dashboard

    model.fit(x_train, y_train, epochs=10, callbacks=[Dashboard()])

The run is recorded in ktui's run store (the model summary, the fit settings, each
epoch's metrics, how it ended), shows up in ``ktui`` and ``ktui attach`` live, and
can be paused, stopped and given another learning rate from there. The events come
from the same callback ktui's own trainer uses (:class:`EventCallback`), so a
script's run looks and behaves like one started in the dashboard.

The callback never touches your process's output beyond one line saying which run
it records (``quiet=True`` drops it), and a store it cannot use costs the record,
never the training.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import math
import os
import shlex
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

from ktui.core.config import ConfigError
from ktui.core.controls import RunControls
from ktui.core.errors import StoreError
from ktui.core.events import (
    Event,
    LogLine,
    ModelSummary,
    PhaseChanged,
    RunFinished,
    RunStarted,
)
from ktui.core.metrics import MetricPolicy, Mode, accuracy_metric, check_mode
from ktui.core.paths import data_dir, store_path
from ktui.core.store_url import StoreLocation
from ktui.runs import RecordedRun, record_fit
from ktui.store import RunStore
from ktui.training.builder import summarize
from ktui.training.callback import EventCallback, current_learning_rate
from ktui.training.fit_info import describe_fit, fit_arguments, sample_count
from ktui.training.save import save_model
from ktui.training.timing import TimedPyDataset
from ktui.training.watch import RunWatch

_Hook = TypeVar("_Hook", bound=Callable[..., None])


def _guarded(what: str) -> Callable[[_Hook], _Hook]:
    """Run a ``fit`` hook so that whatever goes wrong in it costs the record, not the
    training: the exception is said once (:meth:`Dashboard._hook_failed`), ``fit`` goes on.
    """

    def wrap(hook: _Hook) -> _Hook:
        @functools.wraps(hook)
        def guarded(self: Dashboard, *args: Any, **kwargs: Any) -> None:
            try:
                hook(self, *args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - watching must never break training
                self._hook_failed(what, exc)

        return guarded  # type: ignore[return-value]

    return wrap


class Dashboard(EventCallback):
    """A Keras callback that records a ``model.fit`` in ktui's run store and obeys
    pause, stop and learning-rate changes sent from ``ktui``.

    Args:
        name: what the run is listed as (its "preset"); default: the script's file
            name without ``.py``.
        hyperparameters: values to record with the run besides those the callback
            sees itself (epochs, batch size, steps, optimizer, learning rate).
        data: a description of the training data; default: the shape and dtype of
            the arrays given to ``fit``, when it can tell.
        test_data: ``(x_test, y_test)``: evaluated when training ends, and recorded as
            the run's test loss and accuracy (the line ktui shows at the end).
        store: the run store's file; default as for ``ktui`` (``KTUI_STORE``, else
            ``runs.sqlite`` in ktui's data folder).
        save_model: also save the trained model as ``model.keras`` in the run's folder.
        quiet: do not print the line that says which run is recorded.
        monitor: the metric the run is judged by (its "best" in the history); default
            ``val_loss``, else ``loss``.
        mode: ``min`` or ``max``: which way ``monitor`` is better; default ``auto``
            (by Keras's rules for its name, see :mod:`ktui.core.metrics`).
        seed: the random seed your script set (``keras.utils.set_random_seed``),
            recorded with the run: a callback cannot see it.
        stop_on_nan: end training at the first NaN or infinite loss, as Keras's
            ``TerminateOnNaN`` does. Default False: watching never changes your
            ``fit``, so a loss that becomes NaN is only recorded (``diverged``, with
            the epoch and step) and warned about, and training goes on.

    After ``fit``, :attr:`run_id` is the recorded run's id (``None`` if the store
    could not be used; :attr:`warnings` says why).
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        hyperparameters: Mapping[str, Any] | None = None,
        data: str | None = None,
        test_data: tuple[Any, Any] | None = None,
        store: str | os.PathLike[str] | None = None,
        save_model: bool = False,
        quiet: bool = False,
        monitor: str | None = None,
        mode: Mode = "auto",
        seed: int | None = None,
        stop_on_nan: bool = False,
    ) -> None:
        super().__init__(self._emit, RunControls(), 0, stop_on_divergence=stop_on_nan)
        self.policy = MetricPolicy(monitor, check_mode(mode))
        self.seed = seed
        """How the run's metrics are judged (its objective and their directions)."""
        self.name = name or _script_name()
        self.hyperparameters = dict(hyperparameters or {})
        self.data = data
        self.test_data = test_data
        self.store_file = Path(store) if store is not None else None
        self.save_model = save_model
        self.quiet = quiet
        self.run_id: int | None = None
        """The id of the run being (or last) recorded."""
        self.warnings: list[str] = []
        """What could not be recorded."""
        self._store: RunStore | None = None
        self._recorded: RecordedRun | None = None
        self._forward: Any = None
        self._began = 0.0
        self._planned = 0
        self._failed: set[str] = set()
        self._summary: ModelSummary | None = None
        self._watch: RunWatch | None = None

    # -- events ---------------------------------------------------------------------
    def _emit(self, event: Event) -> None:
        forward = self._forward
        if forward is not None:
            forward(event)

    @property
    def controls(self) -> RunControls:
        """The controls of the run in progress (the TUI's commands arrive here)."""
        return self._controls

    # -- fit's hooks ------------------------------------------------------------------
    @_guarded("the start of training")
    def on_train_begin(self, logs: Any = None) -> None:
        self._end_unfinished()
        self._failed = set()
        # A fresh run: the controls and counters of a previous fit must not carry over.
        self._controls = RunControls()
        self._stopping = False
        self.divergence = None
        self._known_rate = None
        self.epochs_completed = 0
        self._began = time.monotonic()
        model = self.model
        params = self.params or {}
        fit = fit_arguments(model)
        epochs = int(params.get("epochs") or fit.get("epochs") or 0)
        steps = int(params.get("steps") or 0)
        inputs = describe_fit(fit, params)
        batch_size, train_samples = inputs.batch_size, inputs.train_samples
        self._train_samples, self._batch_size = train_samples, batch_size
        self._planned = epochs
        values = self._values(model, fit, epochs, steps, batch_size)
        data = self.data or inputs.data
        try:
            path = store_path(self.store_file)
            self._store = RunStore(path)
            self._store.mark_interrupted()
            # The run service, as for every other way a run starts.
            recorded = record_fit(
                self._store,
                self.name,
                self._controls,
                values=values,
                data=data,
                epochs=epochs,
                policy=self.policy,
                warn=self._warn,
            )
        except (StoreError, ConfigError) as exc:  # a broken config.toml too: fit goes on
            self._warn(f"ktui: this training is not recorded: {exc}")
            self._close_store()
            return
        self._recorded = recorded
        self.run_id = recorded.run_id
        self._forward = recorded.listener
        atexit.register(self._at_exit)
        from ktui.training.devices import describe_device, versions

        # A subclassed model or a Sequential without keras.Input is built by its first
        # batch (``built`` says little: ``build()`` sets it with no weights made), so
        # the summary is looked at again at the first epoch's end.
        self._summary = None
        summary = summarize(model)

        self._emit(
            RunStarted(
                preset=self.name,
                values=values,
                model=summary,
                train_samples=train_samples,
                validation_samples=inputs.validation_samples,
                test_samples=_test_samples(self.test_data),
                batch_size=batch_size,
                epochs=epochs,
                steps_per_epoch=steps,
                device=describe_device(),
                data=data,
                versions=versions(),
                seed=self.seed,
            )
        )
        self._summary = summary
        self._emit(PhaseChanged("running"))
        # The machine and the wait for data, as for ktui's own runs.
        x = fit.get("x")
        self._watch = RunWatch(
            self._emit,
            data_kind=inputs.data,
            batch_size=batch_size,
            clock=x.clock if isinstance(x, TimedPyDataset) else None,
        )
        self._watch.timer.on_train_begin()
        self._watch.start()
        if not self.quiet:
            store = _store_option(path)
            print(
                f"ktui: recording this training as run {recorded.run_id} "
                f"(follow it with `ktui{store} attach {recorded.run_id}`)",
                file=sys.stderr,
                flush=True,
            )

    @_guarded("the end of training")
    def on_train_end(self, logs: Any = None) -> None:
        recorded = self._recorded
        if recorded is None:
            return
        stopped = self._controls.stop_requested and self.epochs_completed < self._planned
        if self.divergence is not None:
            self._warn(f"ktui: run {recorded.run_id} diverged: {self.divergence}")
        test_loss = test_accuracy = None
        if self.test_data is not None and (self.epochs_completed > 0 or not stopped):
            self._emit(PhaseChanged("evaluating", f"{_test_samples(self.test_data)} test samples"))
            try:
                scores = self.model.evaluate(*self.test_data, verbose=0, return_dict=True)
            except Exception as exc:  # noqa: BLE001 - the training is done; keep it
                self._emit(LogLine(f"ktui: could not evaluate the test data: {exc}"))
            else:
                test_loss = _number(scores.get("loss"))
                accuracy = accuracy_metric(scores)
                test_accuracy = None if accuracy is None else _number(scores[accuracy])
        if self.save_model and (self.epochs_completed > 0 or not stopped):
            save_model(self.model, recorded.folder, self._emit)
        self._stop_watch()  # its last sample before the end
        self._emit(
            RunFinished(
                status="diverged"
                if self.divergence is not None
                else "stopped"
                if stopped
                else "finished",
                epochs_completed=self.epochs_completed,
                seconds=time.monotonic() - self._began,
                test_loss=test_loss,
                test_accuracy=test_accuracy,
                message=self.divergence or "",
            )
        )
        self._finish()

    @_guarded("an epoch's end")
    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        super().on_epoch_end(epoch, logs)
        if self._watch is not None:
            self._watch.timer.on_epoch_end(epoch, logs)
        if self._summary is not None:
            self._complete_summary(self._summary)

    @_guarded("an epoch's start")
    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        super().on_epoch_begin(epoch, logs)
        if self._watch is not None:
            self._watch.timer.on_epoch_begin(epoch, logs)

    @_guarded("a batch's start")
    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        super().on_train_batch_begin(batch, logs)
        if self._watch is not None:
            self._watch.timer.on_train_batch_begin(batch, logs)

    @_guarded("a batch's end")
    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        super().on_train_batch_end(batch, logs)
        if self._watch is not None:
            self._watch.timer.on_train_batch_end(batch, logs)

    def _stop_watch(self) -> None:
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.stop()

    # -- helpers ------------------------------------------------------------------------
    def _hook_failed(self, what: str, exc: Exception) -> None:
        """Say once per hook that it failed; a failed end still ends the record."""
        if what not in self._failed:
            self._failed.add(what)
            message = (
                f"ktui: could not record {what} ({type(exc).__name__}: {exc}); "
                "the training goes on, its record may miss this"
            )
            with contextlib.suppress(Exception):
                self._warn(message)
                self._emit(LogLine(message))
        if what == "the end of training":
            with contextlib.suppress(Exception):
                self._end_unfinished()

    def _complete_summary(self, first: ModelSummary) -> None:
        """Record the model's summary again if the first epoch built more of it."""
        self._summary = None  # once
        summary = summarize(self.model)
        if summary != first and self._recorded is not None:
            # Queued on the recorder's writer: the training thread never waits for the store.
            self._recorded.recorder.update_model(asdict(summary))

    def _values(
        self, model: Any, fit: dict[str, Any], epochs: int, steps: int, batch_size: int | None
    ) -> dict[str, Any]:
        values: dict[str, Any] = {"epochs": epochs}
        if batch_size:
            values["batch_size"] = batch_size
        if steps:
            values["steps_per_epoch"] = steps
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None:
            values["optimizer"] = type(optimizer).__name__.lower()
            with contextlib.suppress(Exception):  # a schedule has no single value
                values["learning_rate"] = current_learning_rate(model)
        split = fit.get("validation_split")
        if isinstance(split, int | float) and split:
            values["validation_split"] = float(split)
        if fit.get("shuffle") is False:
            values["shuffle"] = False
        initial = fit.get("initial_epoch")
        if isinstance(initial, int) and initial:
            values["initial_epoch"] = initial
        values.update(self.hyperparameters)
        return values

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        if not self.quiet:
            with contextlib.suppress(Exception):
                print(message, file=sys.stderr, flush=True)

    def _finish(self) -> None:
        self._stop_watch()
        self._forward = None
        if self._recorded is not None:
            # Ends the control channel, then waits (bounded) for writes a stuck store
            # holds up; what could not be written is said through _warn.
            self._recorded.close()
            self._recorded = None
        self._close_store()
        with contextlib.suppress(Exception):
            atexit.unregister(self._at_exit)

    def _close_store(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def _end_unfinished(self) -> None:
        """A previous fit that never reached its end (it raised): recorded interrupted."""
        if self._recorded is not None:
            self._recorded.abandon()
            self._finish()

    def _at_exit(self) -> None:
        # The script ends (or dies of an exception) in the middle of fit.
        with contextlib.suppress(Exception):
            self._end_unfinished()


def _script_name() -> str:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv else "")
    stem = Path(path).stem if path else ""
    return stem if stem and stem not in ("-c", "-") else "script"


def _store_option(path: StoreLocation) -> str:
    """`` --store PATH`` for a store other than the default one, for the printed hint
    (a database URL without its password)."""
    with contextlib.suppress(OSError):
        if isinstance(path, Path) and path.resolve() == (data_dir() / "runs.sqlite").resolve():
            return ""
    return f" --store {shlex.quote(str(path))}"


def _test_samples(test_data: tuple[Any, Any] | None) -> int:
    return (sample_count(test_data[0]) or 0) if test_data else 0


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
