"""Refuse an SQLite store on a network file system.

SQLite's locks and its WAL index (shared memory in the ``-shm`` file) need one
machine's file system: on NFS, SMB or sshfs two hosts can both believe they hold the
write lock, and the file is corrupted. A team that wants one history shares it through
PostgreSQL instead. :func:`refuse_network_store` reads the mount table
(``/proc/mounts``; nothing to read elsewhere, so nothing is refused there) and raises a
:class:`~ktui.core.errors.StoreError` that says so, unless ``KTUI_ALLOW_NETWORK_STORE=1``.
Plain Python.
"""

from __future__ import annotations

import os
from pathlib import Path

from ktui.core.errors import StoreError

MOUNTS = Path("/proc/mounts")
"""The mount table read (a module attribute, so a test can hand it another)."""

NETWORK_TYPES = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "fuse.sshfs", "sshfs", "9p", "afs", "ceph"}
)
"""File systems whose locking SQLite cannot rely on."""

OVERRIDE = "KTUI_ALLOW_NETWORK_STORE"
"""Set to 1 to use an SQLite store on a network file system anyway."""


def _unescape(field: str) -> str:
    # /proc/mounts writes a space in a path as \040 (and tab, newline, backslash alike).
    return (field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n")).replace(
        "\\134", "\\"
    )


def file_system(path: Path) -> tuple[str, str] | None:
    """(mount point, file-system type) of the mount holding ``path``, or None when the
    mount table cannot be read."""
    try:
        lines = MOUNTS.read_text(errors="replace").splitlines()
    except OSError:
        return None
    # The nearest existing folder: a new store's file (and maybe folder) is not there yet.
    target = path.expanduser().absolute()
    while not target.exists() and target != target.parent:
        target = target.parent
    resolved = os.path.realpath(target)
    best: tuple[str, str] | None = None
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        point, kind = _unescape(fields[1]), fields[2]
        inside = resolved == point or resolved.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= len(best[0])):
            best = (point, kind)
    return best


def refuse_network_store(path: Path) -> None:
    """StoreError when the SQLite store ``path`` is on a network file system."""
    if os.environ.get(OVERRIDE, "") == "1":
        return
    found = file_system(path)
    if found is None or found[1] not in NETWORK_TYPES:
        return
    point, kind = found
    raise StoreError(
        f"the run store {path} is on a network file system ({kind} at {point}), where "
        "SQLite's locking is not safe: two hosts writing it would corrupt it",
        hint="To share the history between hosts use PostgreSQL (--store "
        "postgresql://user@host/db, see the README's 'Sharing the history'); or keep the "
        f"store on a local disk (--store PATH). {OVERRIDE}=1 uses it anyway (one host at a "
        "time only).",
    )
