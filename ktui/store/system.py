"""A run's system samples and step timings in the store, and the writer that records them.

Two tables (schema migration ``_v4_system`` in :mod:`ktui.store.db`):
``system_samples`` — one row per :class:`~ktui.core.system.SystemSample`, GPUs as
JSON — and ``step_timings`` — one row per epoch's
:class:`~ktui.core.input_bound.EpochTiming`.

:class:`SampleWriter` is a listener for the sampler: it is called on the sampler's
thread (never the training thread), keeps the samples it gets, and commits them every
:data:`WRITE_EVERY` seconds in one transaction. A store that refuses the write costs
the samples, said once through ``on_error``; training never sees it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from ktui.core.events import Event, InputTiming, RunFailed, RunFinished, SystemSampled
from ktui.core.input_bound import EpochTiming
from ktui.core.system import GpuSample, SystemSample
from ktui.store.db import RunStore

__all__ = [
    "WRITE_EVERY",
    "SampleWriter",
    "SystemRecorder",
    "read_samples",
    "read_timings",
    "record_samples",
    "record_timing",
]

#: Seconds between commits of the samples gathered: an attached dashboard is at most
#: this far behind, and the store sees one short transaction every few samples.
WRITE_EVERY = 3.0

_COLUMNS = (
    "run_id, time, process_cpu, process_rss, machine_cpu, memory_available, memory_total,"
    " gpus, gpu_note, device_memory, device_memory_peak"
)


def _gpus_json(gpus: Sequence[GpuSample]) -> str:
    return json.dumps(
        [
            [g.index, g.name, g.utilization, g.memory_used, g.memory_total, g.power_watts,
             g.temperature_c]
            for g in gpus
        ]
    )


def _gpus(text: str | None) -> tuple[GpuSample, ...]:
    try:
        rows: list[list[Any]] = json.loads(text or "[]")
        return tuple(GpuSample(int(r[0]), str(r[1]), *r[2:7]) for r in rows)
    except (ValueError, TypeError, IndexError):
        return ()  # a damaged row loses its GPUs, not the run's history


def record_samples(store: RunStore, run_id: int, samples: Sequence[SystemSample]) -> None:
    """Commit ``samples`` of run ``run_id`` in one transaction."""
    if not samples:
        return
    rows = [
        (
            run_id,
            s.time,
            s.process_cpu,
            s.process_rss,
            s.machine_cpu,
            s.memory_available,
            s.memory_total,
            _gpus_json(s.gpus),
            s.gpu_note,
            s.device_memory,
            s.device_memory_peak,
        )
        for s in samples
    ]
    with store._write(f"record system samples of run {run_id}") as db:
        db.executemany(
            f"INSERT INTO system_samples ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def read_samples(store: RunStore, run_id: int, after: float | None = None) -> list[SystemSample]:
    """Run ``run_id``'s samples, oldest first (only those after time ``after`` if given)."""
    query = f"SELECT {_COLUMNS} FROM system_samples WHERE run_id = ?"
    args: tuple[Any, ...] = (run_id,)
    if after is not None:
        query += " AND time > ?"
        args += (after,)
    with store._read(f"read the system samples of run {run_id}") as db:
        rows = db.execute(query + " ORDER BY time", args).fetchall()
    return [
        SystemSample(
            time=r[1],
            process_cpu=r[2],
            process_rss=r[3],
            machine_cpu=r[4],
            memory_available=r[5],
            memory_total=r[6],
            gpus=_gpus(r[7]),
            gpu_note=r[8],
            device_memory=r[9],
            device_memory_peak=r[10],
        )
        for r in rows
    ]


def record_timing(store: RunStore, run_id: int, timing: EpochTiming) -> None:
    """Commit one epoch's step timings (recording an epoch twice replaces it)."""
    with store._write(f"record the step timings of run {run_id}") as db:
        db.execute(
            "INSERT INTO step_timings (run_id, epoch, steps, compute, between_steps,"
            " waiting_inside) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, epoch) DO UPDATE"
            " SET steps = excluded.steps, compute = excluded.compute,"
            " between_steps = excluded.between_steps, waiting_inside = excluded.waiting_inside",
            (run_id, timing.epoch, timing.steps, timing.compute, timing.between,
             timing.waiting_inside),
        )


def read_timings(store: RunStore, run_id: int) -> list[EpochTiming]:
    """Run ``run_id``'s step timings, one per epoch, in epoch order."""
    with store._read(f"read the step timings of run {run_id}") as db:
        rows = db.execute(
            "SELECT epoch, steps, compute, between_steps, waiting_inside FROM step_timings"
            " WHERE run_id = ? ORDER BY epoch",
            (run_id,),
        ).fetchall()
    return [EpochTiming(int(r[0]), int(r[1]), float(r[2]), float(r[3]), float(r[4])) for r in rows]


class SampleWriter:
    """A sampler listener that commits a run's samples every :data:`WRITE_EVERY` s.

    Call :meth:`flush` at the run's end for the last ones. After a failed write the
    writer says so once through ``on_error`` and stops writing.
    """

    def __init__(
        self,
        store: RunStore,
        run_id: int,
        *,
        every: float = WRITE_EVERY,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.every = every
        self.on_error = on_error
        self._pending: list[SystemSample] = []
        self._lock = threading.Lock()
        self._last = time.monotonic()
        self.failed = False

    def __call__(self, sample: SystemSample) -> None:
        with self._lock:
            self._pending.append(sample)
            due = time.monotonic() - self._last >= self.every
        if due:
            self.flush()

    def flush(self) -> None:
        """Commit what is pending now."""
        with self._lock:
            pending, self._pending = self._pending, []
            self._last = time.monotonic()
        if not pending or self.failed:
            return
        try:
            record_samples(self.store, self.run_id, pending)
        except Exception as exc:  # noqa: BLE001 - samples are not worth the run
            self.failed = True
            if self.on_error is not None:
                self.on_error(f"System samples are no longer recorded: {exc}")


class SystemRecorder:
    """A run listener that records :class:`SystemSampled` and :class:`InputTiming`.

    Samples go through a :class:`SampleWriter` (committed every few seconds, from the
    sampler's thread); timings are committed as they come (once an epoch, on the
    training thread); the run's final event flushes what is pending. Every other
    event is ignored, so it sits in the run's fan-out beside the main recorder.
    """

    def __init__(
        self, store: RunStore, run_id: int, *, on_error: Callable[[str], None] | None = None
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.on_error = on_error
        self.writer = SampleWriter(store, run_id, on_error=on_error)
        self._timings_failed = False

    def __call__(self, event: Event) -> None:
        if isinstance(event, SystemSampled):
            self.writer(event.sample)
        elif isinstance(event, InputTiming):
            if self._timings_failed:
                return
            try:
                record_timing(self.store, self.run_id, event.timing)
            except Exception as exc:  # noqa: BLE001 - timings are not worth the run
                self._timings_failed = True
                if self.on_error is not None:
                    self.on_error(f"Step timings are no longer recorded: {exc}")
        elif isinstance(event, RunFinished | RunFailed):
            self.writer.flush()
