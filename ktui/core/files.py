"""Owner-only files and folders, written whole or not at all.

A run's folder holds its model, history, log and predictions: only its owner should
read them (like the run store, which is 0600). Modes are given explicitly when a
file is created and set again with ``chmod`` afterwards, so the person's umask never
decides them. Text files are written beside their final name and renamed over it,
so a reader (or a full disk) never leaves half a file under the real name.

Plain Python: no TensorFlow, Keras or Textual.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import zipfile
from pathlib import Path

PRIVATE_FILE = 0o600
"""Mode of every file ktui writes for a run: the owner reads and writes, nobody else."""

PRIVATE_DIR = 0o700
"""Mode of every folder ktui makes for a run."""

NO_SPACE = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})
"""errno values that mean "the disk is full": worth trying again once space comes back."""


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` is a write that failed because the disk (or the quota) is full."""
    return isinstance(exc, OSError) and exc.errno in NO_SPACE


def private_dir(path: Path) -> Path:
    """Make ``path`` (and missing parents) and leave it owner-only (0700); returns it.

    A shared folder that already exists with the sticky bit (``/tmp``, a team's
    drop folder) is left as it is: tightening it would lock every other user out.
    """
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    with contextlib.suppress(OSError):  # not ours (an existing folder of another user)
        if not os.stat(path).st_mode & stat.S_ISVTX:
            os.chmod(path, PRIVATE_DIR)
    return path


def write_private(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` (mode 0600) through a temporary name and a rename.

    On any failure the temporary file is removed and the previous ``path`` (if any) is
    left as it was; the OSError propagates (see :func:`is_disk_full`).
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    partial = path.with_name(f".{path.name}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(raw)
        os.chmod(partial, PRIVATE_FILE)
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise


def make_private(folder: Path) -> None:
    """Set every file under ``folder`` to 0600 and every folder to 0700 (best effort):
    for what other code wrote there with its own modes (Keras's model, TensorBoard)."""
    with contextlib.suppress(OSError):
        os.chmod(folder, PRIVATE_DIR)
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            with contextlib.suppress(OSError):
                os.chmod(os.path.join(root, name), PRIVATE_DIR)
        for name in files:
            with contextlib.suppress(OSError):
                os.chmod(os.path.join(root, name), PRIVATE_FILE)


def is_complete_model(path: Path) -> bool:
    """Whether ``path`` is a whole ``.keras`` file: a zip whose directory (written last)
    can be read and that holds the model's config. A save killed half-way, or a disk
    that filled during it, leaves a file that fails this."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (OSError, zipfile.BadZipFile, ValueError):
        return False
    return "config.json" in names
