"""The connection the store's SQL runs on, whichever database holds it.

:class:`sqlite3.Connection` and :class:`~ktui.store.backend_postgres.PgConnection` both
fit :class:`Connection`: the store, its migrations and its helpers (sweeps, system
samples) are written once against it, in SQL both databases read (``?`` and ``:name``
placeholders, ``INSERT ... ON CONFLICT``, no SQLite-only functions); the PostgreSQL
connection translates the little that differs. Plain Python.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any, Protocol


class Cursor(Protocol):
    """What the store reads from a statement's result."""

    @property
    def rowcount(self) -> int: ...

    @property
    def lastrowid(self) -> int | None: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """What the store does with a connection."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Cursor: ...

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any], /) -> Cursor: ...

    def close(self) -> None: ...


class SchemaKeeper(Protocol):
    """Where a database keeps the store's schema version, and how migrations take turns:
    :class:`SqliteSchema` here, ``PgSchema`` in :mod:`ktui.store.backend_postgres`."""

    def read(self) -> tuple[int, int]:
        """(schema version, application id): (0, 0) for a store not set up yet."""
        ...

    def write(self, version: int) -> None:
        """Record ``version`` (inside the migration's transaction)."""
        ...

    def turn(self) -> AbstractContextManager[None]:
        """Held around the migration's transaction: one process migrates at a time."""
        ...

    def foreign_tables(self) -> int:
        """How many tables a store not set up yet already has (another program's)."""
        ...


class SqliteSchema:
    """``PRAGMA user_version`` and ``application_id``; BEGIN IMMEDIATE takes turns."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def read(self) -> tuple[int, int]:
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        app_id = int(self._db.execute("PRAGMA application_id").fetchone()[0])
        return version, app_id

    def write(self, version: int) -> None:
        self._db.execute(f"PRAGMA user_version = {int(version)}")

    def turn(self) -> AbstractContextManager[None]:
        return contextlib.nullcontext()  # the write transaction's lock is the turn

    def foreign_tables(self) -> int:
        return int(
            self._db.execute(
                "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
            ).fetchone()[0]
        )
