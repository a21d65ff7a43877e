"""Where the built-in data sets are on this machine, said without reading them.

Search order:

* ``mnist``: ``<keras cache>/mnist.npz``, else the downloader.
* ``fashion_mnist``: ``<keras cache>/fashion-mnist/`` with the four
  :data:`~ktui.core.data.files.IDX_FILES`, else :data:`DEBIAN_FASHION_MNIST_DIR` with
  the same files, else the downloader.

``<keras cache>`` is :func:`keras_cache_dir`, which follows ``KERAS_HOME``. Both the
environment variable and this module's :data:`DEBIAN_FASHION_MNIST_DIR` are read at
call time, so tests point them at temporary folders with ``monkeypatch`` (patch
``ktui.core.data.locating``, the module that reads it).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ktui.core.data.files import IDX_FILES, npz_sample_shape, tilde
from ktui.core.data.sources import TITLES, DataSource

__all__ = [
    "BUILTIN_SAMPLE_SHAPES",
    "DEBIAN_FASHION_MNIST_DIR",
    "DataStatus",
    "find_fashion_dir",
    "keras_cache_dir",
    "locate",
    "mnist_cache_file",
    "not_here_hint",
    "sample_shape",
]

#: Where the Debian package ``dataset-fashion-mnist`` installs the IDX files.
#: Read at call time, so tests may monkeypatch it.
DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


@dataclass(frozen=True)
class DataStatus:
    """Whether a source's data is here, will be downloaded, or cannot be found."""

    state: Literal["available", "download", "missing"]
    where: str | None  # the file/folder that will be read, if available
    message: str  # one line for a user


def keras_cache_dir() -> Path:
    """The folder where Keras keeps downloaded data sets (Keras's own rule).

    ``$KERAS_HOME/datasets`` if ``KERAS_HOME`` is set, else ``~/.keras/datasets``; like
    Keras, ``/tmp/.keras/datasets`` when the home folder is not writable.
    """
    home = os.environ.get("KERAS_HOME")
    if home:
        return Path(home).expanduser() / "datasets"
    base = Path("~").expanduser()
    if not os.access(base, os.W_OK):
        base = Path("/tmp")
    return base / ".keras" / "datasets"


def mnist_cache_file() -> Path:
    """Where Keras keeps (and ktui looks for) ``mnist.npz``."""
    return keras_cache_dir() / "mnist.npz"


def _fashion_dirs() -> list[Path]:
    # Keras's cache first: that is what Keras itself would read.
    return [keras_cache_dir() / "fashion-mnist", DEBIAN_FASHION_MNIST_DIR]


def find_fashion_dir() -> Path | None:
    """The first folder with all four Fashion-MNIST IDX files, or None."""
    for folder in _fashion_dirs():
        if all((folder / name).is_file() for name in IDX_FILES.values()):
            return folder
    return None


def not_here_hint(kind: str) -> str:
    """What to do when a built-in data set is neither here nor downloadable."""
    cache = tilde(keras_cache_dir())
    if kind == "mnist":
        return (
            f"Put mnist.npz (the file Keras downloads, with x_train, y_train, x_test, "
            f"y_test) in {cache}/, or run with --data PATH.npz, or use fashion_mnist "
            "(Debian package dataset-fashion-mnist)."
        )
    return (
        "Install the Debian package (apt-get install dataset-fashion-mnist), or put "
        f"the four files {', '.join(IDX_FILES.values())} in {cache}/fashion-mnist/, "
        "or run with --data PATH.npz."
    )


def locate(source: DataSource) -> DataStatus:
    """Say, without reading it, where ``source``'s data is or what will happen.

    Uses :func:`keras_cache_dir` (follows ``KERAS_HOME``) and the module variable
    :data:`DEBIAN_FASHION_MNIST_DIR`, both read at call time.
    """
    if source.kind == "random":
        return DataStatus("available", None, f"{source.describe()}: generated on each run")
    if source.kind == "npz":
        path = source.path
        assert path is not None  # guaranteed by DataSource.__post_init__
        if path.is_file():
            return DataStatus("available", str(path), f"data file {path}: found")
        if path.exists():
            return DataStatus("missing", None, f"data file {path} is not a file")
        return DataStatus("missing", None, f"data file {path} does not exist")
    title = TITLES[source.kind]
    found: Path | None
    if source.kind == "mnist":
        cached = mnist_cache_file()
        found = cached if cached.is_file() else None
        put = f"put mnist.npz in {tilde(keras_cache_dir())}/"
    else:
        found = find_fashion_dir()
        put = (
            "apt-get install dataset-fashion-mnist, or put the four .gz files in "
            f"{tilde(keras_cache_dir() / 'fashion-mnist')}/"
        )
    if found is not None:
        return DataStatus("available", str(found), f"{title}: found in {tilde(found)}")
    return DataStatus(
        "download",
        None,
        f"{title}: not on this machine; will be downloaded by Keras on first run "
        f"(needs network), or {put}",
    )


#: One sample's shape in the built-in data sets (both are 28×28 grey images).
BUILTIN_SAMPLE_SHAPES: dict[str, tuple[int, ...]] = {
    "mnist": (28, 28),
    "fashion_mnist": (28, 28),
}


def sample_shape(source: DataSource) -> tuple[int, ...] | None:
    """The shape of one raw ``x`` sample of ``source`` (before transforms), found
    without reading the data: the preset's size for ``random``, the known shape of the
    built-in sets, a ``.npz`` file's array header. None when it cannot be told."""
    if source.kind == "random":
        return (source.features,)
    if source.kind == "npz":
        assert source.path is not None  # guaranteed by DataSource.__post_init__
        try:
            stat = source.path.stat()
        except OSError:
            return None
        return _npz_shape(source.path, stat.st_mtime_ns, stat.st_size)
    return BUILTIN_SAMPLE_SHAPES[source.kind]


@functools.lru_cache(maxsize=32)
def _npz_shape(path: Path, mtime_ns: int, size: int) -> tuple[int, ...] | None:
    # Keyed on the file's mtime and size: the form asks on every keystroke.
    return npz_sample_shape(path)
