"""Watching a run's machine and input: the system sampler and the step timer, as events.

:class:`RunWatch` belongs to one run. It starts a
:class:`~ktui.core.system.SystemSampler` (with the backend's device memory reader),
whose samples go to the run's listener as :class:`~ktui.core.events.SystemSampled`
(from the sampler's thread), and gives ``fit`` a
:class:`~ktui.training.timing.StepTimer`, whose epochs go to the listener as
:class:`~ktui.core.events.InputTiming` with the input-bound verdict. A failure in
either costs its figures and is said once as a :class:`~ktui.core.events.LogLine`;
the person's ``fit`` never sees it.

``KTUI_SYSTEM=0`` in the environment switches the sampler off (the timings stay:
they cost two clock reads a batch).
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from ktui.core.events import InputTiming, Listener, LogLine, SystemSampled
from ktui.core.input_bound import EpochTiming, diagnose
from ktui.core.system import DEFAULT_INTERVAL, SystemSample, SystemSampler
from ktui.training.gpu import device_memory_reader
from ktui.training.timing import BatchClock, StepTimer

__all__ = ["RunWatch"]


class RunWatch:
    """The sampler and the step timer of one run, feeding ``listener``."""

    def __init__(
        self,
        listener: Listener,
        *,
        data_kind: str | None = None,
        batch_size: int | None = None,
        clock: BatchClock | None = None,
        interval: float = DEFAULT_INTERVAL,
    ) -> None:
        self._listener = listener
        self.data_kind = data_kind
        self.batch_size = batch_size
        self.timer = StepTimer(on_epoch=self._timed, clock=clock, on_error=self._say)
        self.sampler: SystemSampler | None = None
        if os.environ.get("KTUI_SYSTEM", "1") != "0":
            self.sampler = SystemSampler(interval, on_error=self._say)
            self.sampler.add_listener(self._sampled)

    def callbacks(self) -> list[Any]:
        """The Keras callbacks to add to ``fit``."""
        return [self.timer]

    def start(self) -> None:
        """Start sampling (after Keras has chosen its device: the memory reader asks it)."""
        if self.sampler is None:
            return
        try:
            self.sampler.device_memory = device_memory_reader()
            self.sampler.start()
        except Exception as exc:  # noqa: BLE001 - no figures is better than no run
            self.sampler = None
            self._say(f"System figures are off: {type(exc).__name__}: {exc}")

    def stop(self) -> None:
        """Stop sampling (idempotent); the last sample is sent first."""
        sampler, self.sampler = self.sampler, None
        if sampler is None:
            return
        with contextlib.suppress(Exception):
            if sampler.running:
                self._sampled(sampler.sample())
        with contextlib.suppress(Exception):
            sampler.stop()

    def latest(self) -> SystemSample | None:
        """The newest sample, if any."""
        return self.sampler.latest() if self.sampler is not None else None

    def _sampled(self, sample: SystemSample) -> None:
        self._listener(SystemSampled(sample))

    def _timed(self, timing: EpochTiming) -> None:
        self._listener(InputTiming(timing, diagnose(timing, self.data_kind, self.batch_size)))

    def _say(self, text: str) -> None:
        with contextlib.suppress(Exception):
            self._listener(LogLine(text))
