"""Keep what TensorFlow writes to file descriptor 2 off the user's screen.

TensorFlow, XLA, absl and CUDA write warnings with C++ straight to fd 2, past
``sys.stderr``; over a full-screen UI or a progress bar that is garbage on the
screen. :class:`StderrCapture` points fd 2 at a pipe, reads it in a thread, keeps
the lines (a ring buffer, an optional log file and live subscribers, such as the
run that is going), and gives ktui its own handle on the real terminal.

Only the command-line entry points start it; a library user's process is left alone.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import os
import sys
import threading
import warnings
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from ktui.core.files import PRIVATE_FILE, private_dir

Subscriber = Callable[[str], None]


class StderrCapture:
    """Redirects fd 2 into a pipe whose lines are kept and passed on."""

    def __init__(self, max_lines: int = 10_000) -> None:
        self._lines: deque[str] = deque(maxlen=max_lines)
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()
        self._terminal_fd: int | None = None
        self._thread: threading.Thread | None = None
        self._log: TextIO | None = None
        self._original_showwarning = warnings.showwarning
        self._count = 0
        self._terminal: TextIO | None = None
        #: The log file of the current (or last) capture; ``None`` without one.
        self.log_path: Path | None = None

    @property
    def terminal(self) -> TextIO:
        """Writes to the real terminal's stderr; ``sys.stderr`` (as it is now) when not started."""
        return self._terminal if self._terminal is not None else sys.stderr

    @property
    def active(self) -> bool:
        """True while fd 2 is redirected."""
        return self._terminal_fd is not None

    @property
    def line_count(self) -> int:
        """How many lines were captured since :meth:`start`."""
        return self._count

    def start(self, log_path: Path | None = None) -> None:
        """Redirect fd 2; lines also go to ``log_path`` when given. Idempotent."""
        if self.active:
            return
        self.log_path = None
        if log_path is not None:
            with contextlib.suppress(OSError):
                # Owner-only: TensorFlow's output names paths, hosts and data.
                private_dir(log_path.parent)
                fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE)
                os.chmod(log_path, PRIVATE_FILE)
                self._log = open(fd, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
                self.log_path = log_path
        sys.stderr.flush()
        self._terminal_fd = os.dup(2)
        read_fd, write_fd = os.pipe()
        os.dup2(write_fd, 2)
        os.close(write_fd)
        self._terminal = io.TextIOWrapper(
            io.FileIO(self._terminal_fd, "w", closefd=False),
            encoding=getattr(sys.stderr, "encoding", None) or "utf-8",
            errors="backslashreplace",
            line_buffering=True,
        )
        self._thread = threading.Thread(
            target=self._read, args=(read_fd,), name="ktui-stderr", daemon=True
        )
        self._thread.start()
        # Python warnings are written through sys.stderr, which already points at fd 2,
        # but their default format spans two lines; one line reads better in a log pane.
        warnings.showwarning = self._show_warning
        atexit.register(self.stop)

    def stop(self, timeout: float = 2.0) -> None:
        """Point fd 2 back at the terminal, after keeping what is still in the pipe.

        Waits up to ``timeout`` seconds for the reader to take the last lines (a child
        process that inherited fd 2 can hold the pipe open longer than that).
        """
        if self._terminal_fd is None:
            return
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        # This closes the pipe's last write end, so the reader sees the end of it.
        os.dup2(self._terminal_fd, 2)
        warnings.showwarning = self._original_showwarning
        self._terminal_fd = None
        if self._terminal is not None:
            with contextlib.suppress(Exception):
                self._terminal.flush()
        self._terminal = None
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._thread = None
        if self._log is not None:
            with contextlib.suppress(OSError):
                self._log.close()
            self._log = None

    def lose_terminal(self) -> None:
        """The terminal hung up: what would go to it goes to ``/dev/null`` from now on
        (a write to a hung-up terminal fails, and would turn a clean stop into a crash).
        Lines are still captured and logged."""
        fd = self._terminal_fd
        if fd is None:
            return
        with contextlib.suppress(OSError):
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, fd)
            os.close(null)

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber`` with each new line (from the reader thread); returns an undo."""
        with self._lock:
            self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            with self._lock, contextlib.suppress(ValueError):
                self._subscribers.remove(subscriber)

        return unsubscribe

    def lines(self) -> list[str]:
        """The lines kept so far (the most recent ``max_lines``)."""
        with self._lock:
            return list(self._lines)

    def write_line(self, line: str) -> None:
        """Record a line as if it had been written to fd 2."""
        with self._lock:
            self._lines.append(line)
            self._count += 1
            subscribers = list(self._subscribers)
            log = self._log
        if log is not None:
            with contextlib.suppress(OSError, ValueError):
                log.write(line + "\n")
        for subscriber in subscribers:
            # A broken subscriber must never stop the reader: a full pipe would
            # then block every thread that writes to fd 2.
            with contextlib.suppress(Exception):
                subscriber(line)

    def _read(self, read_fd: int) -> None:
        pending = b""
        try:
            while True:
                try:
                    chunk = os.read(read_fd, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                pending += chunk
                *complete, pending = pending.split(b"\n")
                for raw in complete:
                    self.write_line(raw.decode("utf-8", "backslashreplace").rstrip("\r"))
            if pending:
                self.write_line(pending.decode("utf-8", "backslashreplace"))
        finally:
            with contextlib.suppress(OSError):
                os.close(read_fd)

    def _show_warning(
        self,
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        text = f"{category.__name__}: {message} ({filename}:{lineno})"
        if self.active and threading.current_thread() is not self._thread:
            # Through the pipe, so the warning keeps its place among fd 2's lines (but
            # never from the reader itself: with the pipe full it would wait forever).
            with contextlib.suppress(OSError):
                sys.stderr.flush()
                os.write(2, (" ".join(text.splitlines()) + "\n").encode("utf-8", "replace"))
                return
        self.write_line(text)


#: The process-wide capture used by ktui's entry points.
STDERR = StderrCapture()
