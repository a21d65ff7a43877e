"""Is the training loop waiting for its data? Per-epoch step timings and the verdict.

The training layer's :class:`~ktui.training.timing.StepTimer` measures, per epoch,

* **the iteration**: from one ``on_train_batch_begin`` to the next — the step and
  the fetch of the next batch. ``begin`` is the one hook Keras always calls on the
  training thread, in order;
* **between steps**: ``on_train_batch_end`` → the next ``on_train_batch_begin``. On the
  JAX and PyTorch backends Keras takes the next batch from the data here, in Python,
  so this is the wait for data (plus the callbacks' own time, which ktui keeps small);
* **waiting inside the step**: on TensorFlow the next batch is taken *inside* the
  compiled step (``next(iterator)`` runs in the ``tf.function``), so the wait hides in
  the step. Where the data is a ``PyDataset`` wrapped in
  :class:`~ktui.training.timing.TimedPyDataset`, the time each batch became ready is
  known, and a step that began before its batch was ready waited
  ``min(ready, next begin) − begin`` of its time for it;
* **compute**: the rest of the iteration.

Asynchronous dispatch: when every callback is ``async_safe`` (ktui's are, so that
Keras keeps dispatching batches without waiting for their logs), Keras calls
``on_train_batch_end`` on a worker thread, later and out of step with the loop. Then
the end is not used and "between steps" is not split off (it counts as compute):
on TensorFlow that loses nothing (the fetch is inside the step and the clock sees
it); on JAX/PyTorch the wait shows only when some callback makes Keras call batch
ends in the loop. Also with asynchronous dispatch the device may still be working on
the previous step while the next batch is fetched: a wait measured then is an upper
bound on the device's idle time, not the idle time itself.

The first batch of each epoch is left out (it holds the step's tracing and
compilation and the data iterator's start, neither of which is input), and so is the
last (the next ``begin`` comes after validation).

This module is plain Python: the verdict and its wording for the status line,
``ktui run`` and ``ktui runs show``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["INPUT_BOUND_SHARE", "EpochTiming", "diagnose", "suggestion"]

#: From this share of step time spent waiting for data, the run is called input-bound:
#: below it the accelerator is busy most of the time and a faster pipeline gains little.
INPUT_BOUND_SHARE = 0.25


@dataclass(frozen=True)
class EpochTiming:
    """One epoch's batch timings (seconds, over the batches measured)."""

    epoch: int
    """1-based, as the epoch table counts."""
    steps: int
    """Batches measured (the epoch's first is left out)."""
    compute: float
    """Summed ``begin → end`` time, less the part spent waiting inside the step."""
    between: float
    """Summed ``end → next begin`` time."""
    waiting_inside: float = 0.0
    """Summed wait for the batch inside the step (TensorFlow with a timed PyDataset)."""

    @property
    def waiting(self) -> float:
        """Seconds the loop waited for data."""
        return self.between + self.waiting_inside

    @property
    def total(self) -> float:
        """Seconds of the measured steps, waits included."""
        return self.compute + self.waiting

    @property
    def waiting_share(self) -> float | None:
        """The share (0–1) of step time spent waiting for data, None with no measured step."""
        if self.steps <= 0 or self.total <= 0:
            return None
        return self.waiting / self.total

    @property
    def input_bound(self) -> bool:
        """Whether the wait is at least :data:`INPUT_BOUND_SHARE` of step time."""
        share = self.waiting_share
        return share is not None and share >= INPUT_BOUND_SHARE


def suggestion(data_kind: str | None, batch_size: int | None = None) -> str:
    """One concrete thing to try for the kind of input the run reads.

    ``data_kind`` is what :mod:`ktui.training.fit_info` calls the input: ``PyDataset``,
    ``tf.data``, ``generator``, ``arrays`` (or None when not known).
    """
    kind = (data_kind or "").lower()
    if "pydataset" in kind:
        return "give the PyDataset workers=4 (use_multiprocessing=True if it is CPU-heavy)"
    if "tf.data" in kind or "dataset" in kind:
        return "end the pipeline with .cache() and .prefetch(tf.data.AUTOTUNE)"
    if "generator" in kind:
        return "wrap the generator in a keras.utils.PyDataset with workers=4"
    if batch_size is not None and batch_size < 256:
        return f"try a larger batch size than {batch_size} (fewer, bigger steps)"
    return "prefetch the next batches while the step runs (tf.data .prefetch, or PyDataset workers)"


def diagnose(
    timing: EpochTiming, data_kind: str | None = None, batch_size: int | None = None
) -> str | None:
    """``input-bound: 46 % of step time waiting for data; try …``, or None when not.

    Plain text (no markup), for the status line, ``ktui run`` and ``ktui runs show``.
    """
    if not timing.input_bound:
        return None
    share = timing.waiting_share or 0.0
    return (
        f"input-bound: {share * 100:.0f} % of step time waiting for data; "
        f"{suggestion(data_kind, batch_size)}"
    )
