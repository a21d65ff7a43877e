"""The model preview process: ``python -m ktui.training.preview``.

Started by :class:`ktui.core.preview.ProcessPreviewer` so the dashboard's own process
never loads Keras for a preview (see that module for the protocol). It loads Keras on
the backend ``KERAS_BACKEND`` names, says it is ready, then answers one JSON line per
request line on stdin until stdin ends — its parent closed it, or died.

Only the protocol's lines go to the real stdout: fd 1 is pointed at fd 2 (the log
file the parent gave) before anything loads, so whatever Keras or TensorFlow prints
cannot be taken for an answer.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import sys
from typing import IO, Any

from ktui.core.errors import KtuiError
from ktui.core.keras_names import plain_message
from ktui.core.preview import config_of, error_to_json, summary_to_json


def _protocol_stream() -> IO[str]:
    """The real stdout for answers; fd 1 then leads to the log (fd 2)."""
    out = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return out


def _send(out: IO[str], answer: dict[str, Any]) -> None:
    out.write(json.dumps(answer, allow_nan=True) + "\n")
    out.flush()


def answer(line: str, trainer: Any) -> dict[str, Any]:
    """The answer to one request line (never raises for a bad request or model)."""
    try:
        request = json.loads(line)
    except ValueError as exc:
        return {"id": None, **error_to_json(KtuiError(f"not a JSON request line: {exc}"))}
    request_id = request.get("id") if isinstance(request, dict) else None
    try:
        if not isinstance(request, dict):
            raise KtuiError("a model preview request must be a JSON object")
        summary = trainer.describe(config_of(request))
    except KtuiError as exc:
        return {"id": request_id, **error_to_json(exc)}
    except Exception as exc:  # noqa: BLE001 - Keras's own errors: shown in the preview
        message = f"{type(exc).__name__}: {plain_message(str(exc))}"
        return {"id": request_id, **error_to_json(KtuiError(message))}
    return {"id": request_id, "summary": summary_to_json(summary)}


def main() -> int:
    """Serve previews until stdin ends."""
    out = _protocol_stream()
    # Background work: on a busy machine the dashboard (and its runs) go first, so
    # loading Keras here does not take the CPU a key's screen needs.
    with contextlib.suppress(OSError, AttributeError):
        os.nice(10)
    try:
        from ktui.training.devices import backend
        from ktui.training.engine import KerasTrainer

        trainer = KerasTrainer(capture=None, download=None)
        name = backend()
    except KtuiError as exc:
        _send(out, {"fatal": exc.message, "hint": exc.hint})
        return 1
    except BaseException as exc:  # noqa: BLE001 - told to the parent, not in a traceback
        _send(
            out,
            {
                "fatal": f"the model preview cannot load Keras: {type(exc).__name__}: {exc}",
                "hint": "Check that a Keras backend is installed (`ktui run dummy_binary` "
                "shows the full error).",
            },
        )
        return 1
    # Keras's clear_session (before each build) runs a full collection; with the heap
    # that loading Keras left frozen, a preview costs ~40 ms of CPU instead of ~270.
    gc.freeze()
    _send(out, {"ready": True, "backend": name, "pid": os.getpid()})
    for line in sys.stdin:
        if line.strip():
            _send(out, answer(line, trainer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
