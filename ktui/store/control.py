"""Steering a run from another process: control commands through the run store.

The channel is the store itself (see :mod:`ktui.store.db`): :func:`send_command`
queues a command on the run's row; in the training process a
:class:`CommandBridge` thread takes pending commands five times a second and
applies them to the run's :class:`~ktui.core.controls.RunControls` — the same
object the dashboard's keys and the signal handlers use — and writes the run's live
progress back about twice a second, so a follower can draw a progress bar.

Only the store's owner may send commands: the store file is created 0600 in an
owner-only folder, and :func:`send_command` refuses a store that belongs to another
user; and a run takes no commands while its store can be written by other users
(an old store, a changed mode: :func:`open_to_others`), saying so once in its log.
Plain Python: no TensorFlow, Keras or Textual.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ktui.core.controls import RunControls
from ktui.core.errors import StoreError
from ktui.core.events import (
    BatchProgress,
    EpochEnded,
    Event,
    Listener,
    LogLine,
    PhaseChanged,
    RunStarted,
)
from ktui.core.store_url import DatabaseUrl
from ktui.store.db import RunStore
from ktui.store.recorder import RunRecorder
from ktui.store.records import Command, CommandKind, RunProgress

POLL_INTERVAL = 0.2
"""Seconds between two looks for pending commands."""

PROGRESS_INTERVAL = 0.5
"""Progress is written at most this often (a phase change goes out at once)."""

HEARTBEAT_INTERVAL = 5.0
"""Progress is written at least this often, even when nothing moved (a long pause),
so ``updated_at`` tells a follower the process is still there."""

LOG_FLUSH_INTERVAL = 1.0
"""Captured log lines reach the store at least this often, not only with each epoch."""


def check_owner(store: RunStore) -> None:
    """Refuse (StoreError) a store file that belongs to another user."""
    getuid = getattr(os, "getuid", None)
    if getuid is None or isinstance(store.path, DatabaseUrl):
        # Windows: no uids, the file's ACL is all there is. PostgreSQL: the database's
        # own grants decide who may write commands (a role that may not is refused).
        return
    try:
        owner = os.stat(store.path).st_uid
    except OSError as exc:
        raise StoreError(f"cannot read the run store {store.path}: {exc}") from None
    if owner != getuid():
        raise StoreError(
            f"the run store {store.path} belongs to another user (uid {owner}); "
            "only its owner can control its runs",
            hint="Run ktui as that user, or use your own store (--store PATH).",
        )


def open_to_others(path: Path) -> str | None:
    """Why a store file can be written by other users (its mode, or its folder's), or
    ``None`` when only its owner can. A folder with the sticky bit (``/tmp``) is fine:
    others cannot replace files in it."""
    try:
        mode = os.stat(path).st_mode
        folder = os.stat(path.parent).st_mode
    except OSError:
        return None
    if mode & 0o022:
        return f"the file's mode is {stat.S_IMODE(mode):04o}"
    if folder & 0o022 and not folder & stat.S_ISVTX:
        return f"its folder {path.parent} has mode {stat.S_IMODE(folder):04o}"
    return None


def send_command(
    store: RunStore, run_id: int, kind: CommandKind, value: float | None = None
) -> int:
    """Ask run ``run_id`` to pause, resume, stop or change its learning rate; returns
    the command's id (:meth:`RunStore.command` tells when it was taken).

    The run's process applies it within about 0.2 s (a stop then ends the run after
    the current batch; a learning rate applies from the next batch).

    Raises :class:`StoreError` with a message for the user when the store is another
    user's, the run is unknown, has ended ("run 12 finished at ...; nothing to
    control"), or its process is gone (it is then marked ``interrupted``); and
    ValueError for a learning rate that is not a positive number.
    """
    check_owner(store)
    return store.add_command(run_id, kind, value)


def wait_taken(store: RunStore, command_id: int, timeout: float = 5.0) -> bool:
    """Wait until the run's process took command ``command_id``; False on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        if store.command(command_id).taken_at is not None:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


class CommandBridge:
    """In the training process: applies commands from the store to ``controls`` and
    writes the run's live progress to the store.

    It is also a :data:`~ktui.core.events.Listener`: put it in the run's listeners
    (``fan_out(recorder, bridge, display)``) so it sees phases and batch progress.
    Listening costs a lock and a few assignments; all store work happens in its own
    daemon thread, on its own connection, so the training thread never waits for it.
    Store problems never reach the training: they are reported once through
    ``warn``. With ``recorder``, the run's buffered log lines are written every
    second too, so a follower sees them before the epoch ends. ``notify`` receives
    a :class:`LogLine` for each command applied (for the run's log and display).
    """

    def __init__(
        self,
        store: RunStore,
        run_id: int,
        controls: RunControls,
        interval: float = POLL_INTERVAL,
        *,
        progress_interval: float = PROGRESS_INTERVAL,
        recorder: RunRecorder | None = None,
        notify: Listener | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.run_id = run_id
        self.controls = controls
        self.interval = interval
        self.progress_interval = progress_interval
        self.applied: list[Command] = []
        """The commands applied so far, in order."""
        self._path = store.path
        self._store: RunStore | None = None
        self._recorder = recorder
        self._notify = notify
        self._warn = warn
        self._warned = False
        self._refused = False  # said that commands are refused (a store open to others)
        self._lock = threading.Lock()
        self._state: dict[str, Any] = {"phase": None, "detail": "", "logs": {}}
        self._dirty = False  # progress moved since the last write
        self._urgent = False  # a phase change: write it at once
        self._last_write = 0.0
        self._last_flush = 0.0
        self._closing = threading.Event()
        self._wake = threading.Event()  # set for such a change, so the thread wakes up
        self._thread: threading.Thread | None = None

    # -- the listener (training thread) --------------------------------------------------
    def __call__(self, event: Event) -> None:
        """Note what the run is doing; written by the bridge's thread."""
        with self._lock:
            state = self._state
            if isinstance(event, BatchProgress):
                state.update(
                    epoch=event.epoch,
                    step=event.step,
                    steps=event.steps,
                    logs=dict(event.logs),
                    samples_per_second=event.samples_per_second,
                    epoch_elapsed=event.epoch_elapsed,
                )
            elif isinstance(event, PhaseChanged):
                state.update(phase=event.phase, detail=event.detail)
                self._urgent = True
                self._wake.set()
            elif isinstance(event, EpochEnded):
                state.update(
                    epoch=event.epoch,
                    step=state.get("steps"),
                    samples_per_second=event.samples_per_second,
                    epoch_elapsed=event.seconds,
                )
            elif isinstance(event, RunStarted):
                state.update(epoch=1, step=0, steps=event.steps_per_epoch)
            else:
                return
            self._dirty = True

    # -- the thread --------------------------------------------------------------------
    def start(self) -> CommandBridge:
        """Open a connection of its own and start polling; returns ``self``."""
        if self._thread is not None:
            return self
        self._store = RunStore(self._path)
        self._thread = threading.Thread(
            target=self._loop, name=f"ktui-control-{self.run_id}", daemon=True
        )
        self._thread.start()
        return self

    def close(self, timeout: float = 2.0) -> None:
        """Stop polling (after one last look and progress write) and close the connection."""
        self._closing.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        if self._store is not None and (thread is None or not thread.is_alive()):
            self._store.close()
            self._store = None

    def __enter__(self) -> CommandBridge:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()

    def _loop(self) -> None:
        while not self._closing.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if not self._closing.is_set():
                self.poll()
        self.poll(final=True)

    def poll(self, *, final: bool = False) -> None:
        """One look for commands and one progress write if due (the thread calls this)."""
        store = self._store
        if store is None:
            return
        try:
            if not final:
                commands = store.take_commands(self.run_id)
                unsafe = (
                    open_to_others(store.path)
                    if commands and not isinstance(store.path, DatabaseUrl)
                    else None
                )
                if unsafe is not None:
                    self._refuse(commands, unsafe)
                    commands = []
                for command in commands:
                    self._apply(command)
            self._write_progress(store, force=final)
            self._flush_log()
        except StoreError as exc:
            self._problem(f"ktui: the control channel of run {self.run_id} failed: {exc}")
        except Exception as exc:  # noqa: BLE001 - the thread must outlive any surprise
            self._problem(
                f"ktui: the control channel of run {self.run_id} failed: "
                f"{type(exc).__name__}: {exc}"
            )

    def _refuse(self, commands: list[Command], why: str) -> None:
        """Anyone who can write the store could send these: take them, apply none."""
        if self._notify is None:
            return
        ids = ", ".join(str(command.id) for command in commands)
        text = f"ktui: command(s) {ids} from the run store ignored"
        if not self._refused:
            self._refused = True
            text = (
                f"ktui: the run store {self._path} can be written by other users ({why}), "
                "so this run takes no commands from it; "
                f"{text}. Make it owner-only: chmod 600 {self._path}; chmod 700 "
                f"{self._path.parent if isinstance(self._path, Path) else self._path}"
            )
        with contextlib.suppress(Exception):
            self._notify(LogLine(text))

    def _apply(self, command: Command) -> None:
        controls = self.controls
        if command.kind == "pause":
            controls.pause()
            text = "pause requested"
        elif command.kind == "resume":
            controls.resume()
            text = "resume requested"
        elif command.kind == "stop":
            controls.stop()
            text = "stop requested; stopping after the current batch"
        else:
            try:
                controls.set_learning_rate(float(command.value or 0.0), source="command")
            except ValueError as exc:
                text = f"learning-rate command ignored: {exc}"
            else:
                text = f"learning rate {command.value:g} requested"
        self.applied.append(command)
        if self._notify is not None:
            with contextlib.suppress(Exception):
                self._notify(LogLine(f"ktui: {text} (command {command.id} from the run store)"))

    def _write_progress(self, store: RunStore, *, force: bool) -> None:
        now = time.monotonic()
        with self._lock:
            due = self._urgent or (self._dirty and now - self._last_write >= self.progress_interval)
            if not (due or force or now - self._last_write >= HEARTBEAT_INTERVAL):
                return
            if self._state["phase"] is None and not self._dirty:
                return  # nothing known yet
            state = dict(self._state)
            self._dirty = self._urgent = False
            self._last_write = now
        store.set_progress(
            self.run_id,
            RunProgress(
                phase=state.get("phase"),
                detail=state.get("detail") or "",
                epoch=state.get("epoch"),
                step=state.get("step"),
                steps=state.get("steps"),
                logs=state.get("logs") or {},
                samples_per_second=state.get("samples_per_second"),
                epoch_elapsed=state.get("epoch_elapsed"),
            ),
        )

    def _flush_log(self) -> None:
        recorder = self._recorder
        if recorder is None or recorder.final is not None or not recorder.pending_lines:
            return
        now = time.monotonic()
        if now - self._last_flush >= LOG_FLUSH_INTERVAL:
            self._last_flush = now
            recorder.flush()

    def _problem(self, message: str) -> None:
        if self._warned:
            return
        self._warned = True
        if self._warn is not None:
            with contextlib.suppress(Exception):
                self._warn(message)
