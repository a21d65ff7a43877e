"""Batch timings per epoch, to tell whether training waits for its data.

:class:`StepTimer` is a Keras callback that measures each batch's ``begin → end`` and
``end → next begin`` and, at each epoch's end, hands an
:class:`~ktui.core.input_bound.EpochTiming` to its listener (the method, and what
Keras's asynchronous dispatch means for it, is in :mod:`ktui.core.input_bound`).
:class:`TimedPyDataset` wraps a ``keras.utils.PyDataset`` and notes when each batch is
ready, which is how the wait is seen on TensorFlow, where the batch is taken inside
the compiled step.

The callback is ``async_safe``: it reads no batch logs, so it never makes Keras wait
for a step's results by itself; its hooks cost two ``perf_counter`` calls a batch.
A failure in its listener is said once (``on_error``) and costs the timings only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import keras

from ktui.core.input_bound import EpochTiming

__all__ = ["BatchClock", "StepTimer", "TimedPyDataset"]


class BatchClock:
    """When the batches of the current epoch became ready, in the order they did.

    Keras shuffles a PyDataset's indices, and the batches reach the step in the order
    they are made; with several workers they still reach it in request order, and the
    k-th batch made is then ready no later than the k-th one consumed, so counting by
    order never makes a wait look longer than it was.
    """

    def __init__(self) -> None:
        self._ready: list[float] = []
        self._lock = threading.Lock()

    def mark(self) -> None:
        """A batch is ready now (called from the data's own thread)."""
        now = time.perf_counter()
        with self._lock:
            self._ready.append(now)

    def ready(self, nth: int) -> float | None:
        """When the ``nth`` batch (0-based) of this epoch was ready, if it has been."""
        with self._lock:
            return self._ready[nth] if nth < len(self._ready) else None

    def start_epoch(self, since: float) -> None:
        """A new epoch: forget the batches made before ``since`` (the last epoch's, and
        the ones Keras reads before training to learn the batches' shapes)."""
        with self._lock:
            self._ready = [t for t in self._ready if t >= since]


class TimedPyDataset(keras.utils.PyDataset):
    """A ``PyDataset`` that notes when each of its batches is ready.

    Give it to ``fit`` instead of the dataset it wraps, and its :attr:`clock` to a
    :class:`StepTimer`. Batches, length and epoch hooks are the wrapped dataset's; so are
    ``workers`` and ``max_queue_size``. With ``use_multiprocessing`` the batches are made
    in other processes, where this clock cannot see them: the wait is then measured
    between steps only.
    """

    def __init__(self, dataset: keras.utils.PyDataset, clock: BatchClock | None = None) -> None:
        super().__init__(
            workers=getattr(dataset, "workers", 1),
            use_multiprocessing=getattr(dataset, "use_multiprocessing", False),
            max_queue_size=getattr(dataset, "max_queue_size", 10),
        )
        self.dataset = dataset
        self.clock = clock or BatchClock()

    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def num_batches(self) -> int | None:
        """The wrapped dataset's batch count (None when it is endless)."""
        return self.dataset.num_batches  # type: ignore[no-any-return]

    def __getitem__(self, index: int) -> Any:
        batch = self.dataset[index]
        self.clock.mark()
        return batch

    def on_epoch_begin(self) -> None:
        self.dataset.on_epoch_begin()

    def on_epoch_end(self) -> None:
        self.dataset.on_epoch_end()


class StepTimer(keras.callbacks.Callback):
    """Measures batch timings; gives one :class:`EpochTiming` per epoch to ``on_epoch``.

    ``clock`` is the :attr:`TimedPyDataset.clock` of the data being fitted, if any.
    :attr:`epochs` keeps every epoch's timing.

    Keras calls ``on_train_batch_begin`` on the training thread always, but, when every
    callback is ``async_safe`` (ktui's are), ``on_train_batch_end`` on a worker thread
    some time later. So a step is measured from one ``begin`` to the next (the whole
    iteration: the step and the fetch of the next batch), and ``end`` is used only
    when it comes on the training thread, to split off the time between steps. The
    first batch of an epoch (tracing, the iterator's start) and the last (followed by
    validation before the next ``begin``) are left out.
    """

    def __init__(
        self,
        on_epoch: Callable[[EpochTiming], None] | None = None,
        clock: BatchClock | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__()
        self.async_safe = True  # reads no logs: never makes Keras wait for a step
        self.on_epoch = on_epoch
        self.clock = clock
        self.on_error = on_error
        self.epochs: list[EpochTiming] = []
        self._thread = threading.get_ident()
        self._since = time.perf_counter()
        self._reset()

    def _reset(self) -> None:
        self._begin: float | None = None
        self._end: float | None = None
        self._seen = 0
        self._steps = 0
        self._total = 0.0
        self._between = 0.0
        self._inside = 0.0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._thread = threading.get_ident()
        self._since = time.perf_counter()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._reset()
        if self.clock is not None:
            self.clock.start_epoch(self._since)

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        now = time.perf_counter()
        begin, end = self._begin, self._end
        self._begin, self._end = now, None
        self._seen += 1
        if begin is None or self._seen <= 2:
            return  # nothing before, or what came before was the first batch
        # the iteration of the previous batch (number self._seen - 2, 0-based)
        waited = 0.0
        if self.clock is not None:
            ready = self.clock.ready(self._seen - 2)
            if ready is not None:
                waited = max(0.0, min(ready, now) - begin)
        between = max(0.0, now - end) if end is not None else 0.0
        self._steps += 1
        self._total += now - begin
        self._inside += waited
        self._between += min(between, now - begin - waited)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if threading.get_ident() == self._thread:
            self._end = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        timing = EpochTiming(
            epoch=epoch + 1,
            steps=self._steps,
            compute=max(0.0, self._total - self._inside - self._between),
            between=self._between,
            waiting_inside=self._inside,
        )
        self.epochs.append(timing)
        self._since = time.perf_counter()  # what is made from now on is the next epoch's
        if self.on_epoch is not None:
            try:
                self.on_epoch(timing)
            except Exception as exc:  # noqa: BLE001 - timings are not worth the fit
                self.on_epoch = None
                if self.on_error is not None:
                    self.on_error(f"Step timings stopped: {type(exc).__name__}: {exc}")
