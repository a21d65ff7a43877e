"""Model previews built in a process of their own, so the dashboard never loads Keras for one.

Loading TensorFlow's C++ libraries holds Python's GIL for seconds at a time; done in a
thread of the dashboard (the preset list's model preview, the form's parameter count,
the model view), it starved the event loop: keys were handled seconds late, one was
lost. :class:`ProcessPreviewer` asks a long-lived child process instead
(``python -m ktui.training.preview``, started on the first request) to build and
summarise models. Requests and answers are JSON lines over the child's stdin and
stdout, one request in flight at a time:

* request: ``{"id": 3, "preset": {"toml", "source", "name"}, "values": {...},
  "data": "mnist" | null}`` — the preset travels as its own TOML text, so a preset
  saved or edited since ktui started is previewed as the dashboard sees it;
* answers: ``{"ready": true, "backend": "tensorflow"}`` once Keras is loaded, then
  ``{"id": 3, "summary": {...}}`` or ``{"id": 3, "error": "...", "hint": "..."}``
  (the same :class:`KtuiError` texts an in-process preview gives), or
  ``{"fatal": "..."}`` when the child cannot load Keras at all.

The child runs on the backend the dashboard would train on, never on a GPU
(``CUDA_VISIBLE_DEVICES=""``: a preview must not create a GPU context), writes fd 1
and fd 2 into a log file, and exits at the end of its stdin, so it dies with the
dashboard even when the dashboard is killed. A child that cannot start, crashes or
does not answer in time is a one-line :class:`KtuiError` for that preview; the next
request starts a new one.

Plain Python (subprocess, threads, JSON): nothing here imports Keras.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

import tomli_w

from ktui.core import backends
from ktui.core.errors import KtuiError
from ktui.core.events import LayerInfo, ModelSummary
from ktui.core.files import PRIVATE_FILE, private_dir
from ktui.core.presets import RunConfig, loads

#: The child's module (``python -m``); named, not imported: it imports Keras.
CHILD_MODULE = "ktui.training.preview"

#: Seconds a new child may take to load Keras before its first answer. TensorFlow
#: takes 3 s on an idle machine and 8 s was seen on a loaded 2-core one; a child
#: that is still not ready after this is stuck, not slow.
START_TIMEOUT = 90.0

#: Seconds one model may take to build once Keras is loaded (milliseconds usually;
#: a big model some seconds).
ANSWER_TIMEOUT = 30.0


class PreviewSuperseded(Exception):
    """A newer request of the same channel replaced this one before it was sent:
    nobody is waiting for its answer any more (not a :class:`KtuiError`: there is
    nothing to tell the person)."""


class PreviewClosed(KtuiError):
    """The previewer was closed (the app is ending, or previews moved in-process)."""

    def __init__(self) -> None:
        super().__init__("the model preview is closed")


class PreviewUnavailable(KtuiError):
    """The preview process could not start, stopped, or did not answer in time: says
    so in one line. Unlike a model's error it is not the preset's: the next request
    starts a new process, so a screen should ask again rather than keep the message."""

    def __init__(self, what: str, log_path: Path | None = None) -> None:
        log = f" (its log: {log_path})" if log_path is not None else ""
        super().__init__(f"{what}; the next preview starts it again{log}")


class Previewer(Protocol):
    """Builds and summarises models somewhere that does not hold up the caller's UI."""

    def describe(self, config: RunConfig, *, channel: str = "preview") -> ModelSummary:
        """Block until ``config``'s model is summarised; call from a worker thread.

        A later request on the same ``channel`` replaces this one while it waits:
        this one then raises :class:`PreviewSuperseded`. Raises :class:`KtuiError`
        for a model that cannot be built or a previewer that cannot answer.
        """
        ...

    def close(self) -> None:
        """Stop; waiting and later requests raise :class:`PreviewClosed`."""
        ...


# --------------------------------------------------------------------------- protocol
def request_of(config: RunConfig) -> dict[str, Any]:
    """The JSON request for ``config``'s preview (without its id)."""
    preset = config.preset
    return {
        "preset": {
            "toml": tomli_w.dumps(dict(preset.raw)),
            "source": preset.source,
            "name": preset.name,
        },
        "values": config.values,
        "data": config.data_override,
    }


def config_of(request: Mapping[str, Any]) -> RunConfig:
    """The config a request describes; raises :class:`KtuiError` (a
    :class:`~ktui.core.errors.PresetError` for a preset or value that does not check)."""
    try:
        preset_part = request["preset"]
        preset = loads(preset_part["toml"], source=preset_part["source"], name=preset_part["name"])
        values = dict(request.get("values") or {})
        data = request.get("data")
    except (KeyError, TypeError, AttributeError) as exc:
        raise KtuiError(f"a model preview request is malformed ({exc!r})") from None
    return preset.resolve(values, data=data if isinstance(data, str) else None)


def summary_to_json(summary: ModelSummary) -> dict[str, Any]:
    """``summary`` as a JSON object."""
    return {
        "layers": [[x.name, x.kind, x.output_shape, x.params] for x in summary.layers],
        "total_params": summary.total_params,
        "trainable_params": summary.trainable_params,
        "input_shape": summary.input_shape,
    }


def summary_of(data: Mapping[str, Any]) -> ModelSummary:
    """The :class:`ModelSummary` of :func:`summary_to_json`'s object."""
    return ModelSummary(
        layers=tuple(LayerInfo(str(n), str(k), str(s), int(p)) for n, k, s, p in data["layers"]),
        total_params=int(data["total_params"]),
        trainable_params=int(data["trainable_params"]),
        input_shape=str(data.get("input_shape", "")),
    )


def error_to_json(exc: KtuiError) -> dict[str, Any]:
    """A :class:`KtuiError` as an answer's fields; :func:`error_of` gives the same text back."""
    return {"error": exc.message, "hint": exc.hint}


def error_of(answer: Mapping[str, Any]) -> KtuiError:
    """The :class:`KtuiError` of an error answer, with the text the child's had."""
    hint = answer.get("hint")
    return KtuiError(str(answer.get("error")), hint=hint if isinstance(hint, str) else None)


# --------------------------------------------------------------------------- client
@dataclass
class _Request:
    id: int
    channel: str
    payload: dict[str, Any]
    done: threading.Event = field(default_factory=threading.Event)
    summary: ModelSummary | None = None
    error: BaseException | None = None

    def finish(
        self, summary: ModelSummary | None = None, error: BaseException | None = None
    ) -> None:
        self.summary, self.error = summary, error
        self.done.set()


@dataclass
class _Child:
    """One preview process and what its reader thread has read from it."""

    process: subprocess.Popen[str]
    answers: queue.Queue[dict[str, Any] | None] = field(default_factory=queue.Queue)
    ready: bool = False


class ProcessPreviewer:
    """The :class:`Previewer` that asks a child process (see the module's docstring).

    Thread-safe: any number of worker threads may call :meth:`describe`; one
    dispatcher thread sends their requests to the child one at a time, oldest
    channel first, and only the newest request of each channel is kept waiting.
    """

    def __init__(
        self,
        *,
        log_path: Path | None = None,
        env: Mapping[str, str] | None = None,
        command: list[str] | None = None,
        start_timeout: float = START_TIMEOUT,
        answer_timeout: float = ANSWER_TIMEOUT,
    ) -> None:
        """``log_path`` takes the child's fd 1 and 2 (TensorFlow's chatter), emptied when
        the first child starts; None discards them. ``env`` replaces ``os.environ`` as
        the child's base environment; ``command`` replaces ``python -m`` :data:`CHILD_MODULE`."""
        self.log_path = log_path
        self._env = env
        self._command = command or [sys.executable, "-m", CHILD_MODULE]
        self.start_timeout = start_timeout
        self.answer_timeout = answer_timeout
        self._cond = threading.Condition()
        self._pending: dict[str, _Request] = {}
        self._next_id = 0
        self._closed = False
        self._child: _Child | None = None
        self._dispatcher: threading.Thread | None = None
        self._started = 0
        #: The backend the child loaded, once it said it is ready.
        self.backend: str | None = None
        # A last guard (the app closes it on exit, the child ends at its stdin's end);
        # weakly, so a previewer nobody uses any more is not kept alive for it.
        atexit.register(_close_if_alive, weakref.ref(self))

    @property
    def pid(self) -> int | None:
        """The child's process id while one is running, else None."""
        child = self._child
        return child.process.pid if child is not None and child.process.poll() is None else None

    @property
    def starts(self) -> int:
        """How many children were started (a crashed or stuck one is replaced)."""
        return self._started

    def describe(self, config: RunConfig, *, channel: str = "preview") -> ModelSummary:
        """See :meth:`Previewer.describe`."""
        payload = request_of(config)
        with self._cond:
            if self._closed:
                raise PreviewClosed
            self._next_id += 1
            request = _Request(self._next_id, channel, payload)
            older = self._pending.pop(channel, None)
            if older is not None:
                older.finish(error=PreviewSuperseded())
            self._pending[channel] = request
            if self._dispatcher is None or not self._dispatcher.is_alive():
                self._dispatcher = threading.Thread(
                    target=self._dispatch, name="ktui-preview", daemon=True
                )
                self._dispatcher.start()
            self._cond.notify_all()
        # The dispatcher's own timeouts end every request; this one is a last guard
        # (requests queued behind others wait for those too).
        if not request.done.wait(self.start_timeout + 4 * self.answer_timeout):
            raise PreviewUnavailable("the model preview did not answer in time")
        if request.error is not None:
            raise request.error
        assert request.summary is not None
        return request.summary

    def close(self) -> None:
        """Stop the child (at once: it holds nothing of value) and fail waiting requests."""
        with self._cond:
            self._closed = True
            waiting = list(self._pending.values())
            self._pending.clear()
            child, self._child = self._child, None
            self._cond.notify_all()
        for request in waiting:
            request.finish(error=PreviewClosed())
        if child is not None:
            _stop(child.process)

    # ------------------------------------------------------------ dispatcher thread
    def _dispatch(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                channel = next(iter(self._pending))
                request = self._pending.pop(channel)
            try:
                summary = self._ask(request)
            except KtuiError as exc:
                request.finish(error=exc)
            except Exception as exc:  # noqa: BLE001 - a bug here costs a preview, not the app
                request.finish(error=KtuiError(f"the model preview failed: {exc!r}"))
            else:
                request.finish(summary)

    def _ask(self, request: _Request) -> ModelSummary:
        child = self._running_child()
        line = json.dumps({"id": request.id, **request.payload}, allow_nan=True)
        try:
            assert child.process.stdin is not None
            child.process.stdin.write(line + "\n")
            child.process.stdin.flush()
        except (OSError, ValueError):
            pass  # it died: the reader's end of file below says how
        while True:
            timeout = self.answer_timeout if child.ready else self.start_timeout
            try:
                answer = child.answers.get(timeout=timeout)
            except queue.Empty:
                self._discard(child)
                what = "answer" if child.ready else "load Keras"
                raise PreviewUnavailable(
                    f"the model preview process did not {what} within {timeout:.0f} s "
                    "and was stopped",
                    self.log_path,
                ) from None
            if answer is None:
                self._discard(child)
                code = child.process.poll()
                raise PreviewUnavailable(
                    f"the model preview process stopped (exit code {code})", self.log_path
                )
            if "fatal" in answer:
                self._discard(child)
                raise PreviewUnavailable(str(answer["fatal"]), self.log_path)
            if answer.get("ready"):
                child.ready = True
                self.backend = str(answer.get("backend") or "") or None
                continue
            if answer.get("id") != request.id:
                continue  # the late answer to a request that timed out
            if "summary" in answer:
                return summary_of(answer["summary"])
            raise error_of(answer)

    def _running_child(self) -> _Child:
        child = self._child
        if child is not None and child.process.poll() is None:
            return child
        if child is not None:
            self._discard(child)
        # The backend the dashboard would train on; not installed is the same message
        # an in-process preview gives.
        choice = backends.require(backends.choose(env=self._env))
        env = dict(os.environ if self._env is None else self._env)
        env["KERAS_BACKEND"] = choice.name
        env["CUDA_VISIBLE_DEVICES"] = ""  # a preview never creates a GPU context
        env["JAX_PLATFORMS"] = "cpu"
        # The child runs this very ktui, wherever it was imported from.
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        log = self._open_log()
        try:
            process = subprocess.Popen(
                self._command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log if log is not None else subprocess.DEVNULL,
                text=True,
                encoding="utf-8",
                errors="replace",
                bufsize=1,
                env=env,
                close_fds=True,
            )
        except OSError as exc:
            raise PreviewUnavailable(
                f"the model preview process could not start ({' '.join(self._command)}): "
                f"{exc.strerror or exc}"
            ) from None
        finally:
            if log is not None:
                log.close()  # the child has its own copy
        child = _Child(process)
        threading.Thread(
            target=_read_answers, args=(child,), name="ktui-preview-reader", daemon=True
        ).start()
        self._started += 1
        with self._cond:
            if self._closed:
                _stop(process)
                raise PreviewClosed
            self._child = child
        return child

    def _discard(self, child: _Child) -> None:
        with self._cond:
            if self._child is child:
                self._child = None
        _stop(child.process)

    def _open_log(self) -> IO[bytes] | None:
        if self.log_path is None:
            return None
        try:
            private_dir(self.log_path.parent)
            # Emptied by the first child of this dashboard; a restarted one appends.
            flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if self._started else os.O_TRUNC)
            fd = os.open(self.log_path, flags, PRIVATE_FILE)
        except OSError:
            return None
        return os.fdopen(fd, "ab")


def _close_if_alive(ref: weakref.ref[ProcessPreviewer]) -> None:
    previewer = ref()
    if previewer is not None:
        previewer.close()


def _read_answers(child: _Child) -> None:
    """The reader thread: the child's answer lines into its queue; None at its end."""
    stdout = child.process.stdout
    assert stdout is not None
    with contextlib.suppress(OSError, ValueError):
        for line in stdout:
            try:
                answer = json.loads(line)
            except ValueError:
                continue  # not ours; the protocol's lines are whole JSON objects
            if isinstance(answer, dict):
                child.answers.put(answer)
    child.answers.put(None)


def _stop(process: subprocess.Popen[str]) -> None:
    """End a child at once and reap it (SIGTERM, then SIGKILL after 2 s)."""
    with contextlib.suppress(OSError):
        if process.stdin is not None:
            process.stdin.close()
    if process.poll() is None:
        with contextlib.suppress(OSError):
            process.terminate()
        try:
            process.wait(2)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(2)
