"""TensorBoard event files on every Keras backend, written with ``tensorboardX``.

Keras's own ``TensorBoard`` callback writes through ``tf.summary``, which needs
TensorFlow; ``tensorboardX`` writes the same event-file format in plain Python, so a
JAX or PyTorch run can be opened in TensorBoard too. The layout follows Keras's
callback: ``train/`` and ``validation/`` folders, scalars named ``epoch_<metric>``,
so ``tensorboard --logdir`` overlays training and validation curves as usual.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Any

import keras

#: The package the writer needs; ``ktui run --tensorboard`` refuses to start without it.
PACKAGE = "tensorboardX"


class EventFileWriter(keras.callbacks.Callback):
    """Writes each epoch's metrics (and the learning rate) as TensorBoard scalars.

    Epoch ends only: per-batch summaries would cost speed for little. A writer that
    fails (a full disk) loses the event files, never the run.
    """

    def __init__(self, log_dir: Path) -> None:
        super().__init__()
        self.log_dir = log_dir
        self._writers: dict[str, Any] = {}

    def _writer(self, part: str) -> Any:
        writer = self._writers.get(part)
        if writer is None:
            from tensorboardX import SummaryWriter

            writer = SummaryWriter(logdir=str(self.log_dir / part))
            self._writers[part] = writer
        return writer

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        try:
            for key, value in (logs or {}).items():
                number = float(value)
                if not math.isfinite(number):
                    continue
                part, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
                self._writer(part).add_scalar(f"epoch_{name}", number, epoch)
            for writer in self._writers.values():
                writer.flush()
        except Exception:  # noqa: BLE001 - event files are an extra; the run goes on
            self._close()

    def on_train_end(self, logs: Any = None) -> None:
        self._close()

    def _close(self) -> None:
        for writer in self._writers.values():
            with contextlib.suppress(Exception):
                writer.close()
        self._writers.clear()
