"""Reading (or generating) a source's raw arrays: :func:`load`.

Never imports TensorFlow or Keras: when a built-in data set has to be downloaded, the
caller injects a :data:`Downloader` (in practice a thin wrapper around
``keras.datasets.<name>.load_data``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

import numpy as np

from ktui.core.data.checks import check_splits
from ktui.core.data.dataset import Array, Dataset
from ktui.core.data.files import load_idx_dir, load_npz, tilde
from ktui.core.data.locating import (
    find_fashion_dir,
    keras_cache_dir,
    mnist_cache_file,
    not_here_hint,
)
from ktui.core.data.sources import TITLES, DataSource
from ktui.core.errors import DataError

__all__ = ["Downloader", "load"]

#: Given ``"mnist"`` or ``"fashion_mnist"``, returns Keras-style
#: ``((x_train, y_train), (x_test, y_test))``. It may raise anything (no network, ...).
Downloader: TypeAlias = Callable[[str], tuple[tuple[Array, Array], tuple[Array, Array]]]


def _download(kind: str, download: Downloader | None) -> Dataset:
    title = TITLES[kind]
    if download is None:
        reason = "no downloader available"
    else:
        try:
            (x_train, y_train), (x_test, y_test) = download(kind)
        # Anything can go wrong in a download (no network, proxy, disk full, ...);
        # the user needs the reason and the offline alternatives, not a traceback.
        except Exception as exc:  # noqa: BLE001 - reported to the user with the reason
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        else:
            arrays = {
                "x_train": np.asarray(x_train),
                "y_train": np.asarray(y_train),
                "x_test": np.asarray(x_test),
                "y_test": np.asarray(y_test),
            }
            check_splits(arrays, f"{title} as downloaded", not_here_hint(kind))
            return Dataset(**arrays, origin=f"downloaded by Keras ({tilde(keras_cache_dir())})")
    raise DataError(
        f"{title} is not on this machine and could not be downloaded ({reason}).",
        hint=not_here_hint(kind),
    )


def _random(source: DataSource, seed: int | None) -> Dataset:
    rng = np.random.default_rng(seed)
    # Same recipe as the original script's dummy data; float32 is what Keras uses.
    x_train = rng.random((source.train_samples, source.features), dtype=np.float32)
    y_train = rng.integers(0, source.classes, size=(source.train_samples, 1))
    x_test = rng.random((source.test_samples, source.features), dtype=np.float32)
    y_test = rng.integers(0, source.classes, size=(source.test_samples, 1))
    origin = f"random (seed {seed})" if seed is not None else "random (unseeded)"
    return Dataset(x_train, y_train, x_test, y_test, origin=origin)


def load(
    source: DataSource, *, seed: int | None = None, download: Downloader | None = None
) -> Dataset:
    """Read (or generate) the raw arrays of ``source``, before any transforms.

    ``seed`` only affects ``random``. ``download`` is called for ``mnist`` or
    ``fashion_mnist`` only when no local copy exists (see :func:`locate`); when it is
    missing or fails, a :class:`DataError` says where to put the files instead.
    """
    if source.kind == "random":
        return _random(source, seed)
    if source.kind == "npz":
        assert source.path is not None  # guaranteed by DataSource.__post_init__
        return load_npz(source.path)
    if source.kind == "mnist":
        cached = mnist_cache_file()
        if cached.is_file():
            return load_npz(cached, damaged_hint="Delete it so Keras downloads it again.")
    else:
        folder = find_fashion_dir()
        if folder is not None:
            return load_idx_dir(folder)
    return _download(source.kind, download)
