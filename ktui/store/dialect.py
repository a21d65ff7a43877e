"""The connection the store's SQL runs on, whichever database holds it.

:class:`sqlite3.Connection` and :class:`~ktui.store.backend_postgres.PgConnection` both
fit :class:`Connection`: the store, its migrations and its helpers (sweeps, system
samples) are written once against it, in SQL both databases read (``?`` and ``:name``
placeholders, ``INSERT ... ON CONFLICT``, no SQLite-only functions); the PostgreSQL
connection translates the little that differs. Plain Python.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
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
