"""Where a run ran, and the health of a multi-worker run's workers, in the store.

The run's :class:`~ktui.core.distribute.Placement` is a JSON column of ``runs``; each
worker of a multi-worker run keeps one row of ``workers`` (keyed by the cluster's id
and the worker's rank) up to date with its phase and step (migration
``_v11_placement`` in :mod:`ktui.store.schema`). :class:`WorkerBeat` is the thread
that writes a worker's row; every worker, the chief included, reads the others' to
show their health and to notice one that died.

Plain Python and :mod:`sqlite3`: no TensorFlow, Keras or Textual.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable

from ktui.core.distribute import BEAT_INTERVAL, Placement, WorkerReport
from ktui.core.errors import StoreError
from ktui.core.events import BatchProgress, EpochEnded, Event, PhaseChanged, RunFailed, RunFinished
from ktui.core.store_url import StoreLocation
from ktui.store.db import RunStore
from ktui.store.rows import dumps, loads

__all__ = ["WorkerBeat", "read_placement", "read_workers", "record_placement", "report_worker"]


def record_placement(store: RunStore, run_id: int, placement: Placement) -> None:
    """Record where run ``run_id`` runs."""
    with store._write(f"record where run {run_id} runs") as db:
        db.execute(
            "UPDATE runs SET placement = ? WHERE id = ?", (dumps(placement.to_json()), run_id)
        )


def read_placement(store: RunStore, run_id: int) -> Placement | None:
    """Where run ``run_id`` ran; None when it was not recorded (an older run)."""
    with store._read(f"read where run {run_id} ran") as db:
        row = db.execute("SELECT placement FROM runs WHERE id = ?", (run_id,)).fetchone()
    return None if row is None else Placement.from_json(loads(row[0], {}))


def report_worker(store: RunStore, report: WorkerReport) -> None:
    """Write (replace) one worker's report."""
    with store._write(f"report worker w{report.rank}") as db:
        db.execute(
            # ON CONFLICT rather than INSERT OR REPLACE: SQLite and PostgreSQL both read it.
            "INSERT INTO workers (cluster, rank, host, pid, phase, epoch, step, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (cluster, rank) DO UPDATE SET"
            " host = excluded.host, pid = excluded.pid, phase = excluded.phase,"
            " epoch = excluded.epoch, step = excluded.step, updated_at = excluded.updated_at",
            (report.cluster, report.rank, report.host, report.pid, report.phase,
             report.epoch, report.step, report.updated_at),
        )


def read_workers(store: RunStore, cluster: str) -> list[WorkerReport]:
    """Every worker's last report for ``cluster``, by rank."""
    with store._read("read the workers' reports") as db:
        rows = db.execute(
            "SELECT cluster, rank, host, pid, phase, epoch, step, updated_at FROM workers"
            " WHERE cluster = ? ORDER BY rank",
            (cluster,),
        ).fetchall()
    return [WorkerReport(*row) for row in rows]


def clear_workers(store: RunStore, cluster: str) -> None:
    """Forget ``cluster``'s reports (a new run of the same cluster starts afresh)."""
    with store._write("clear the workers' reports") as db:
        db.execute("DELETE FROM workers WHERE cluster = ?", (cluster,))


class WorkerBeat:
    """A worker's heartbeat: a listener that notes its phase and step, and a daemon
    thread that writes them to the store every :data:`BEAT_INTERVAL` seconds and reads
    the others' reports (:attr:`reports`).

    ``on_dead`` is called once, from the thread, with the first other worker whose
    process is gone or whose report is older than the timeout (see
    :func:`ktui.core.distribute.dead_worker`). Store trouble costs reports, never the
    training; it is said once through ``warn``.
    """

    def __init__(
        self,
        path: StoreLocation,
        cluster: str,
        rank: int,
        *,
        on_dead: Callable[[WorkerReport], None] | None = None,
        warn: Callable[[str], None] | None = None,
        timeout: float | None = None,
        interval: float = BEAT_INTERVAL,
    ) -> None:
        self.path = path
        self.cluster = cluster
        self.rank = rank
        self._reports: list[WorkerReport] = []
        self._on_dead = on_dead
        self._warn = warn
        self._timeout = timeout
        self._interval = interval
        self._host = socket.gethostname()
        self._lock = threading.Lock()
        self._phase = "starting"
        self._epoch = 0
        self._step = 0
        self._steps = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._warned = False
        self._dead_said = False

    def __call__(self, event: Event) -> None:
        """Note the phase and step (training thread: a lock and a few assignments)."""
        with self._lock:
            # Steps since the start (not within the epoch), to compare workers by.
            if isinstance(event, BatchProgress):
                self._epoch = event.epoch
                self._step = (event.epoch - 1) * event.steps + event.step
                self._steps = event.steps
            elif isinstance(event, EpochEnded):
                self._epoch = event.epoch
                self._step = event.epoch * self._steps if self._steps else self._step
            elif isinstance(event, PhaseChanged):
                self._phase = event.phase
            elif isinstance(event, RunFinished | RunFailed):
                self._phase = "finished"
            else:
                return
        if isinstance(event, RunFinished | RunFailed):
            self._stop.set()

    @property
    def reports(self) -> list[WorkerReport]:
        """The workers' last reports as last read, with this worker's own as it is now."""
        own = self._report()
        return sorted(
            [r for r in self._reports if r.rank != self.rank] + [own], key=lambda r: r.rank
        )

    def start(self) -> WorkerBeat:
        """Start the thread; returns ``self``."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name=f"ktui-worker-w{self.rank}", daemon=True
            )
            self._thread.start()
        return self

    def close(self, timeout: float = 2.0) -> None:
        """Write a last report and stop."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _report(self) -> WorkerReport:
        with self._lock:
            return WorkerReport(
                self.cluster, self.rank, self._host, os.getpid(), self._phase, self._epoch,
                self._step, time.time(),
            )

    def _loop(self) -> None:
        try:
            store = RunStore(self.path)
        except StoreError as exc:
            self._problem(f"ktui: worker w{self.rank} cannot report to the run store: {exc}")
            return
        try:
            while True:
                stopping = self._stop.is_set()
                self.beat(store)
                if stopping:
                    break
                self._stop.wait(self._interval)
        finally:
            store.close()

    def beat(self, store: RunStore) -> None:
        """One report written and the others read (the thread calls this)."""
        from ktui.core.distribute import WORKER_TIMEOUT, dead_worker

        try:
            report_worker(store, self._report())
            self._reports = read_workers(store, self.cluster)
        except StoreError as exc:
            self._problem(f"ktui: worker w{self.rank} cannot report to the run store: {exc}")
            return
        if self._on_dead is None or self._dead_said or self._stop.is_set():
            return
        gone = dead_worker(
            self._reports,
            own_rank=self.rank,
            timeout=self._timeout if self._timeout is not None else WORKER_TIMEOUT,
            alive=self._alive,
        )
        if gone is not None:
            self._dead_said = True
            self._on_dead(gone)

    def _alive(self, report: WorkerReport) -> bool | None:
        """Whether a worker on this host still has its process (None: another host)."""
        if report.host != self._host or not report.pid:
            return None
        try:
            os.kill(report.pid, 0)
        except ProcessLookupError:
            return False
        except OSError:
            return True  # another user's process: it exists
        return True

    def _problem(self, message: str) -> None:
        if self._warned:
            return
        self._warned = True
        if self._warn is not None:
            with contextlib.suppress(Exception):
                self._warn(message)
