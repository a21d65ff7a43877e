"""Saving a trained model into a run's folder: the one save path of the engine and of
:class:`ktui.Dashboard`.

The model is written under a temporary name in the same folder and renamed to
``model.keras`` only once complete, so a process killed mid-save never leaves a
truncated ``model.keras``; the file is readable by its owner only (0600), like the
store. A failed save (full disk) is reported as a log line and costs only the file.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import keras

from ktui.core.events import Listener, LogLine

MODEL_FILE = "model.keras"
"""The file name of a run's saved model inside its folder."""


def save_model(model: keras.Model, folder: Path, listener: Listener) -> Path | None:
    """Save ``model`` as ``folder/model.keras``; returns its path, or None (and a
    :class:`LogLine` saying why) when it could not be saved."""
    path = folder / MODEL_FILE
    # Keras wants the .keras suffix; the leading dot keeps it out of listings meanwhile.
    partial = folder / f".{MODEL_FILE}.{os.getpid()}.partial.keras"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        model.save(partial)
        os.chmod(partial, 0o600)
        os.replace(partial, path)
    except Exception as exc:  # noqa: BLE001 - OSError, or Keras refusing a model: keep the run
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        listener(
            LogLine(
                f"ktui: could not save the model to {path}: {type(exc).__name__}: {exc}. "
                "The run's metrics are kept."
            )
        )
        return None
    return path
