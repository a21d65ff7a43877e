"""The recorder's writes, done in order on a thread of their own and never dropped.

The training thread must never wait for the run store: another process may hold its
lock for longer than any busy timeout, or its disk may fill. So a
:class:`StoreWriter` takes each write as a small function, queues it, and runs the
queue in order on its own thread and its own connection. A write that fails
because the store is busy or its disk is full (:class:`~ktui.core.errors.StoreUnavailable`,
or an ``OSError`` for a full disk) stays at the head of the queue and is tried again
with a growing pause, so order is kept and nothing is skipped; the first failure of
a streak is said at once (``warn``) and so is the recovery. Any other failure (the
run was deleted, the folder is a file) cannot get better by waiting: that write is
reported and dropped.

:meth:`StoreWriter.close` waits a bounded time for the queue to empty and returns
what could still not be written, so the end of a run can say exactly what is
missing. Writers still open when the interpreter exits are closed then, with a short
wait (the daemon thread would otherwise die with its queue).

Plain Python and the store: no TensorFlow, Keras or Textual.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ktui.core.errors import KtuiError, StoreUnavailable
from ktui.core.files import is_disk_full
from ktui.core.store_url import StoreLocation
from ktui.store.db import RunStore

WRITE_BUSY_TIMEOUT = 1.0
"""Seconds one attempt waits for another process's lock. Short, because a failed
attempt is simply tried again: waiting long inside SQLite would only delay the
message that the store is stuck."""

FIRST_RETRY = 0.05
"""Seconds before the first retry; each further one waits twice as long..."""

LONGEST_RETRY = 1.0
"""...up to this."""

EXIT_WAIT = 5.0
"""Seconds a writer still open at interpreter exit may take to finish its queue."""

Write = Callable[[RunStore], None]
"""One write: gets the writer's own connection; raises to say it failed."""


@dataclass
class _Item:
    what: str
    """What it records, for messages: ``epoch 3``, ``the end``."""
    write: Write
    done: bool = False


class StoreWriter:
    """Runs :data:`Write` functions on one thread, in the order submitted, until each
    succeeds. Thread-safe; :meth:`submit` never blocks on the store."""

    def __init__(
        self,
        path: StoreLocation,
        *,
        busy_timeout: float = WRITE_BUSY_TIMEOUT,
        warn: Callable[[str], None] | None = None,
        label: str = "",
    ) -> None:
        """``label`` names what is written in messages (``run 5``)."""
        self.path = path
        self.label = label
        self.failures = 0
        """How many attempts failed so far (retries included)."""
        self.dropped: list[str] = []
        """Writes given up because they could never succeed (already reported)."""
        self._busy_timeout = busy_timeout
        self._warn = warn
        self._queue: deque[_Item] = deque()
        self._cond = threading.Condition()
        self._running: _Item | None = None
        self._stop = False
        self._problem: str | None = None
        self._store: RunStore | None = None
        self._thread = threading.Thread(
            target=self._loop, name=f"ktui-writer {label}".strip(), daemon=True
        )
        self._thread.start()
        _OPEN_WRITERS.add(self)

    # -- the caller's side ----------------------------------------------------------
    def submit(self, what: str, write: Write) -> None:
        """Queue ``write``; returns at once. After :meth:`close` it is reported lost."""
        with self._cond:
            if self._stop:
                self.dropped.append(what)
                return
            self._queue.append(_Item(what, write))
            self._cond.notify_all()

    @property
    def pending(self) -> list[str]:
        """What waits to be written, oldest first (the one being tried included)."""
        with self._cond:
            head = [] if self._running is None else [self._running.what]
            return head + [item.what for item in self._queue]

    @property
    def problem(self) -> str | None:
        """Why writes are failing now, or ``None`` while the store takes them."""
        with self._cond:
            return self._problem

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every queued write; True when all are done."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._running is not None:
                left = deadline - time.monotonic()
                if left <= 0 or self._stop:
                    return False
                self._cond.wait(left)
            return True

    def close(self, timeout: float) -> list[str]:
        """Wait up to ``timeout`` seconds for the queue, then stop; returns what could not
        be written (queued writes and dropped ones). Idempotent."""
        self.wait(timeout)
        with self._cond:
            self._stop = True
            self._cond.notify_all()
            left = list(self._queue)
            if self._running is not None:
                left.insert(0, self._running)
        # The attempt in flight (at most one busy timeout) finishes on its own.
        self._thread.join(self._busy_timeout + 1.0)
        _OPEN_WRITERS.discard(self)
        return [*self.dropped, *(item.what for item in left if not item.done)]

    # -- the thread -----------------------------------------------------------------
    def _loop(self) -> None:
        delay = FIRST_RETRY
        while True:
            with self._cond:
                while not self._queue and not self._stop:
                    self._cond.wait()
                if self._stop:
                    break  # what is left was reported by close()
                item = self._queue.popleft()
                self._running = item
            retry = self._attempt(item)
            with self._cond:
                self._running = None
                if retry and not self._stop:
                    self._queue.appendleft(item)  # still first: order is kept
                self._cond.notify_all()
                if not retry:
                    delay = FIRST_RETRY
                    continue
                # A pause before the next try; close() or stop ends it early.
                self._cond.wait_for(lambda: self._stop, timeout=delay)
                delay = min(delay * 2, LONGEST_RETRY)
        if self._store is not None:
            with contextlib.suppress(Exception):
                self._store.close()
            self._store = None

    def _attempt(self, item: _Item) -> bool:
        """Try one write; True when it should be tried again."""
        try:
            if self._store is None:
                self._store = RunStore(self.path, busy_timeout=self._busy_timeout)
            item.write(self._store)
            item.done = True
        except StoreUnavailable as exc:
            self._failed(item, exc.message)
            return True
        except OSError as exc:
            if is_disk_full(exc):
                self._failed(item, f"{exc.strerror or exc} ({exc.filename or self.path})")
                return True
            self._give_up(item, str(exc))
            return False
        except KtuiError as exc:
            self._give_up(item, exc.message)
            return False
        except Exception as exc:  # noqa: BLE001 - the writer outlives any surprise
            self._give_up(item, f"{type(exc).__name__}: {exc}")
            return False
        self._recovered()
        return False

    def _failed(self, item: _Item, why: str) -> None:
        self.failures += 1
        with self._cond:
            first, self._problem = self._problem is None, why
        if first:
            self._say(
                f"ktui: could not record {item.what}{self._of()} now: {why}. It waits in "
                "memory with what follows and is written as soon as the store takes it."
            )

    def _recovered(self) -> None:
        with self._cond:
            was, self._problem = self._problem, None
        if was is not None:
            self._say(
                f"ktui: the run store takes writes again; what waited{self._of()} is recorded."
            )

    def _give_up(self, item: _Item, why: str) -> None:
        self.dropped.append(item.what)
        self._say(f"ktui: could not record {item.what}{self._of()}: {why}")

    def _of(self) -> str:
        return f" of {self.label}" if self.label else ""

    def _say(self, message: str) -> None:
        if self._warn is not None:
            with contextlib.suppress(Exception):  # a broken display must not stop the writes
                self._warn(message)


_OPEN_WRITERS: weakref.WeakSet[StoreWriter] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    """At exit, give each open writer a few seconds, then say what it could not write."""
    for writer in list(_OPEN_WRITERS):
        lost = writer.close(EXIT_WAIT)
        if lost:
            writer._say(
                f"ktui: {writer.label or 'a run'} is not completely recorded in "
                f"{writer.path}: {', '.join(lost)} could not be written"
            )
