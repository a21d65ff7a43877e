"""Thread-safe controls for a run: stop, pause, resume and learning-rate changes.

The UI or a signal handler calls these from any thread; the training callback polls
them between batches. Stopping is cooperative (the callback sets
``model.stop_training``), never by killing a thread.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from ktui.core.events import LearningRateSource


@dataclass(frozen=True)
class LearningRateRequest:
    """A learning-rate change waiting for the next batch, and who asked for it."""

    value: float
    source: LearningRateSource


class RunControls:
    """Requests from the outside world to a running training."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        # Set while running, cleared while paused, so the trainer can wait on it.
        self._running = threading.Event()
        self._running.set()
        self._learning_rate: LearningRateRequest | None = None
        self.nothing_pending = True
        """True while no stop, pause or learning-rate change is asked for: the training
        callback reads only this before a batch (one attribute, no lock), and looks at
        the requests themselves when it is False. Set False after the request it
        announces is in place, so a reader that sees False sees the request too."""

    def _settle(self) -> None:
        """Recompute :attr:`nothing_pending` (under ``self._lock``)."""
        self.nothing_pending = (
            not self._stop.is_set() and self._running.is_set() and self._learning_rate is None
        )

    # -- requests (any thread) ------------------------------------------------
    def stop(self) -> None:
        """Ask the run to end after the current batch (also releases a pause)."""
        self._stop.set()
        self._running.set()
        with self._lock:
            self._settle()

    def pause(self) -> None:
        """Hold the run before its next batch until :meth:`resume` or :meth:`stop`."""
        if not self._stop.is_set():
            self._running.clear()
            with self._lock:
                self._settle()

    def resume(self) -> None:
        """Let a paused run continue."""
        self._running.set()
        with self._lock:
            self._settle()

    def set_learning_rate(self, value: float, source: LearningRateSource = "ktui") -> None:
        """Use ``value`` as the optimizer's learning rate from the next batch on;
        ``source`` is recorded with the change (``command``: it came through the store)."""
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"learning rate must be a positive number, got {value!r}")
        with self._lock:
            self._learning_rate = LearningRateRequest(float(value), source)
            self._settle()

    # -- state ----------------------------------------------------------------
    @property
    def stop_requested(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        """True while a pause is requested and not yet resumed."""
        return not self._running.is_set()

    # -- used by the trainer ----------------------------------------------------
    def take_learning_rate(self) -> float | None:
        """Return a pending learning-rate change once, or ``None``."""
        request = self.take_learning_rate_request()
        return None if request is None else request.value

    def take_learning_rate_request(self) -> LearningRateRequest | None:
        """Return a pending learning-rate change (with who asked) once, or ``None``."""
        if self._learning_rate is None:
            return None  # the common case, every batch: no lock to take
        with self._lock:
            request, self._learning_rate = self._learning_rate, None
            self._settle()
        return request

    def wait_while_paused(self, poll: float = 0.1) -> None:
        """Block the calling (training) thread while paused; returns on resume or stop."""
        while not self._running.wait(poll):
            pass
