"""The Keras callback that turns ``fit``'s hooks into ktui events and obeys the controls."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras

from ktui.core.controls import RunControls
from ktui.core.events import (
    BatchProgress,
    EpochEnded,
    LearningRateChanged,
    LearningRateSource,
    Listener,
    PhaseChanged,
)
from ktui.core.format import order_metrics
from ktui.core.metrics import divergence_message, non_finite_loss

#: Batch updates are sent at most this often; more would cost speed and nobody can read them.
BATCH_INTERVAL = 0.05

#: Seconds between two votes of paused workers (each vote is one small collective).
PAUSED_VOTE_INTERVAL = 0.2


def current_learning_rate(model: keras.Model) -> float:
    """The optimizer's learning rate now, as a Python float."""
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


def _settable_rate(model: keras.Model) -> float | None:
    """The optimizer's learning rate when it is one value (not a per-step schedule)."""
    optimizer = getattr(model, "optimizer", None)
    schedule = getattr(optimizer, "_learning_rate", None)
    if optimizer is None or isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
        return None
    try:
        return current_learning_rate(model)
    except Exception:  # noqa: BLE001 - an optimizer without a readable rate
        return None


def epoch_learning_rate(model: keras.Model, logs: Mapping[str, Any] | None) -> float:
    """The learning rate the epoch that just ended ran at (NaN if it cannot be told).

    Keras's ``ReduceLROnPlateau`` and ``LearningRateScheduler`` put it in the epoch's
    logs before they change it: read there first, so a callback listed after them
    does not record the already-reduced rate for an epoch run at the old one.
    """
    logged = (logs or {}).get("learning_rate")
    try:
        value = float(logged) if logged is not None else current_learning_rate(model)
    except (AttributeError, TypeError, ValueError):
        return math.nan  # no optimizer (a custom train_step), or a schedule object
    return value if math.isfinite(value) else math.nan


class EventCallback(keras.callbacks.Callback):
    """Emits batch and epoch events; pauses, stops and changes the learning rate on request.

    The control checks run in ``on_train_batch_begin``, which Keras calls synchronously
    in the training thread, so a pause really holds training. Progress is reported
    from ``on_train_batch_end``; the callback is ``async_safe`` so Keras keeps
    dispatching batches asynchronously (a plain override would make every batch wait
    for its logs), and it sends at most one update per :data:`BATCH_INTERVAL`.

    A loss that becomes NaN or infinite (read from the batch logs Keras already hands
    over, as ``TerminateOnNaN`` does: no extra device read) is noted in
    :attr:`divergence` once, and stops training there when ``stop_on_divergence``.

    Keras ends an epoch that a stop cut short with ``on_epoch_end`` too; that partial
    epoch is not reported as an :class:`EpochEnded` nor counted in
    :attr:`epochs_completed`, which counts whole passes over the data only.
    """

    def __init__(
        self,
        listener: Listener,
        controls: RunControls,
        train_samples: int | None,
        batch_size: int | None = None,
        *,
        stop_on_divergence: bool = True,
        agree: Callable[[Sequence[float]], list[float]] | None = None,
        agree_every: int = 5,
    ) -> None:
        """``train_samples`` and ``batch_size`` are per epoch and per step, ``None`` when
        unknown (a dataset or generator): samples per second are then reported from
        whichever is known, or as ``None``. ``stop_on_divergence``: end training at the
        first non-finite loss (ktui's own runs) or only note it (a person's own ``fit``).

        ``agree``: the run is one worker of several (a multi-worker strategy), and this
        sums a vector over all of them (a collective every worker calls at the same
        step). Pause, stop and learning-rate requests are then applied only every
        ``agree_every`` steps, where every worker votes with its own requests (only the
        chief has pause and learning-rate ones; any worker's stop stops all), so every
        worker applies them at the same step and none is left waiting in a collective."""
        super().__init__()
        self.async_safe = True
        self._listener = listener
        self._controls = controls
        self._train_samples = train_samples
        self._batch_size = batch_size
        self._lock = threading.Lock()
        self._epoch = 0
        self._epoch_start = 0.0
        self._paused_seconds = 0.0
        self._last_sent = 0.0
        self._last_step = -1
        self._steps = 0  # steps per epoch, from Keras's params at each epoch's begin
        self._stopping = False
        self._batches_begun = 0
        self._known_rate: float | None = None  # the rate as last seen, to notice a schedule's
        self._agree = agree
        self._agree_every = max(1, agree_every)
        self._global_step = 0
        self.epochs_completed = 0
        self.stop_on_divergence = stop_on_divergence
        self.divergence: str | None = None
        """Set at the first non-finite loss: where it happened and what to try."""

    # -- control (training thread) -------------------------------------------------
    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        if self._agree is not None:
            self._agreed_batch_begin(batch)
            return
        controls = self._controls
        if controls.nothing_pending:
            # Nearly every batch: one attribute read, then only the epoch's first looks
            # at the rate. The requests themselves are looked at below when one is made.
            self._batches_begun += 1
            if batch == 0:
                self._notice_schedule()
            return
        if controls.paused and not controls.stop_requested:
            self._listener(PhaseChanged("paused"))
            started = time.monotonic()
            controls.wait_while_paused()
            self._paused_seconds += time.monotonic() - started
            if not controls.stop_requested:
                self._listener(PhaseChanged("running"))
        self._batches_begun += 1
        if batch == 0:
            self._notice_schedule()
        self._check_stop("after the current batch")
        request = controls.take_learning_rate_request()
        if request is not None:
            self._set_rate(request.value, batch, request.source)

    def _set_rate(self, value: float, batch: int, source: LearningRateSource) -> None:
        before = _settable_rate(self.model)
        try:
            self.model.optimizer.learning_rate = value
        except (TypeError, ValueError) as exc:
            # A preset with a learning-rate schedule has no single value to set.
            self._listener(
                LearningRateChanged(math.nan, self._epoch, batch + 1, str(exc), before, source)
            )
        else:
            self._known_rate = value
            self._listener(
                LearningRateChanged(value, self._epoch, batch + 1, previous=before, source=source)
            )

    # -- control agreed between workers (multi-worker runs) ---------------------------
    def _agreed_batch_begin(self, batch: int) -> None:
        self._batches_begun += 1
        if batch == 0:
            self._notice_schedule()
        self._global_step += 1
        if self._global_step % self._agree_every or self._stopping:
            return
        stop, paused, rate, source = self._vote()
        if paused and not stop:
            self._listener(PhaseChanged("paused", f"every worker, at step {self._global_step}"))
            started = time.monotonic()
            while paused and not stop:
                time.sleep(PAUSED_VOTE_INTERVAL)
                stop, paused, later, later_source = self._vote()
                if later > 0:
                    rate, source = later, later_source
            self._paused_seconds += time.monotonic() - started
            if not stop:
                self._listener(PhaseChanged("running"))
        if stop:
            self._controls.stop()  # a worker that did not ask learns of it here
            self._check_stop(f"at step {self._global_step}, on every worker")
        if rate > 0:
            self._set_rate(rate, batch, source)

    def _vote(self) -> tuple[bool, bool, float, LearningRateSource]:
        """One round: every worker's (stop, paused, learning rate) summed over all."""
        controls = self._controls
        request = controls.take_learning_rate_request()
        assert self._agree is not None
        total = self._agree(
            [
                1.0 if controls.stop_requested else 0.0,
                1.0 if controls.paused else 0.0,
                request.value if request is not None else 0.0,
            ]
        )
        # Only one worker (the chief) has a rate to give at a time: the sum is its rate.
        source: LearningRateSource = request.source if request is not None else "command"
        return total[0] > 0, total[1] > 0, total[2], source

    def _check_stop(self, detail: str) -> None:
        if self._controls.stop_requested and not self._stopping:
            self._stopping = True
            self.model.stop_training = True
            self._listener(PhaseChanged("stopping", detail))

    # -- progress -----------------------------------------------------------------
    def _notice_schedule(self) -> None:
        """A rate that moved since the last epoch without a request was the model's own
        doing (ReduceLROnPlateau, LearningRateScheduler): recorded as "schedule".

        Looked at before an epoch's first batch, after every callback's
        ``on_epoch_begin`` (where a scheduler sets it), once per epoch: cheap."""
        rate = _settable_rate(self.model)
        known = self._known_rate
        if rate is not None and known is not None and not math.isclose(rate, known, rel_tol=1e-6):
            self._listener(
                LearningRateChanged(rate, self._epoch, 1, previous=known, source="schedule")
            )
        self._known_rate = rate

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self._batches_begun = 0
        # Read once an epoch, not every batch (Keras sets the params before training).
        self._steps = int((self.params or {}).get("steps") or 0)
        with self._lock:
            self._epoch = epoch + 1
            self._epoch_start = time.monotonic()
            self._paused_seconds = 0.0
            self._last_step = -1
            self._last_sent = 0.0

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        # Called from Keras's executor threads, possibly out of order. Most batches cost
        # a look at the loss and the clock: no lock, no call, nothing allocated.
        loss = logs.get("loss") if logs else None
        # A finite float minus itself is 0.0; NaN, ±inf and anything not a float go on
        # to the full check.
        if loss is not None and (type(loss) is not float or loss - loss != 0.0):
            bad = non_finite_loss(logs)
            if bad is not None:
                self._diverged(batch + 1, bad)
        steps = self._steps
        now = time.monotonic()
        if now - self._last_sent < BATCH_INTERVAL and not 0 < steps <= batch + 1:
            # Read without the lock: a stale time only sends this batch on to the
            # locked check below, which decides again.
            return
        with self._lock:
            if batch <= self._last_step:
                return
            last = steps > 0 and batch + 1 >= steps
            if not last and now - self._last_sent < BATCH_INTERVAL:
                return
            self._last_sent = now
            self._last_step = batch
            epoch, elapsed = self._epoch, max(now - self._epoch_start - self._paused_seconds, 1e-9)
        done = self._samples_done(batch + 1, steps)
        self._listener(
            BatchProgress(
                epoch=epoch,
                step=batch + 1,
                steps=steps,
                logs={k: float(v) for k, v in (logs or {}).items()},
                samples_per_second=None if done is None else done / elapsed,
                epoch_elapsed=elapsed,
            )
        )

    def _diverged(self, step: int, loss: float) -> None:
        """The first non-finite loss: say where, and stop when asked to."""
        with self._lock:
            if self.divergence is not None:
                return
            # Read once, at the divergence: the rate the run was going at.
            self.divergence = divergence_message(
                self._epoch, step, loss, _settable_rate(self.model)
            )
        if self.stop_on_divergence:
            self.model.stop_training = True

    def _samples_done(self, steps_done: int, steps: int) -> int | None:
        """Samples in the first ``steps_done`` batches of an epoch; None when unknown."""
        samples = self._train_samples
        batch_size = (
            self._batch_size
            or int(self.params.get("batch_size") or 0)
            or (math.ceil(samples / steps) if samples and steps else 0)
        )
        if not batch_size:
            return samples if samples is not None and steps and steps_done >= steps else None
        done = steps_done * batch_size
        return min(done, samples) if samples is not None else done

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        seconds = max(time.monotonic() - self._epoch_start - self._paused_seconds, 1e-9)
        steps = int(self.params.get("steps") or 0)
        cut_short = self._stopping or (self.divergence is not None and self.stop_on_divergence)
        if cut_short and (steps == 0 or self._batches_begun < steps):
            return  # cut short by a stop: not a whole epoch
        self.epochs_completed = epoch + 1
        metrics = {k: float(v) for k, v in (logs or {}).items() if k != "learning_rate"}
        done = self._samples_done(self._batches_begun, steps)
        if self._train_samples is not None and (not steps or self._batches_begun >= steps):
            done = self._train_samples  # a whole pass: exactly the training samples
        self._listener(
            EpochEnded(
                epoch=epoch + 1,
                epochs=int(self.params.get("epochs") or 0),
                metrics=order_metrics(metrics),
                learning_rate=epoch_learning_rate(self.model, logs),
                seconds=seconds,
                samples_per_second=None if done is None else done / seconds,
            )
        )
        # A stop asked for during this epoch's last batch, its validation or by a
        # listener of the event above ends the run here, before another epoch begins
        # (between workers only where they agreed: one ending alone would leave the
        # others waiting for it in a collective).
        if self._agree is None:
            self._check_stop("after this epoch")
