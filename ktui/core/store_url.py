"""Where the run store is: an SQLite file (a :class:`~pathlib.Path`) or a PostgreSQL
database named by a URL (:class:`DatabaseUrl`).

``--store``, ``KTUI_STORE`` and ``store`` in ``config.toml`` take either; a value that
starts with ``postgresql://`` or ``postgres://`` is a database, anything else a file.
A :class:`DatabaseUrl` answers the few questions callers ask of a store's path
(``resolve``, ``exists``, ``expanduser``) so that code passing the store along needs no
special case; it prints without its password. Plain Python: no driver is imported here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias
from urllib.parse import unquote, urlsplit, urlunsplit

SCHEMES = ("postgresql", "postgres")
"""The URL schemes of a PostgreSQL store (libpq's two spellings)."""


def is_database_url(text: str | Path | DatabaseUrl) -> bool:
    """Whether ``text`` names a PostgreSQL database rather than a file."""
    if isinstance(text, DatabaseUrl):
        return True
    if isinstance(text, Path):
        return False
    return any(text.startswith(f"{scheme}://") for scheme in SCHEMES)


@dataclass(frozen=True)
class DatabaseUrl:
    """A PostgreSQL store: ``postgresql://[user[:password]@][host][:port]/database[?...]``.

    The URL is passed to libpq as written (so ``?sslmode=require``, ``PGPASSWORD`` and
    ``~/.pgpass`` work as they do for ``psql``); :attr:`url` is the whole text,
    ``str()`` the same with any password replaced by ``***``.
    """

    url: str

    @property
    def _parts(self) -> tuple[str, str, str, str]:
        """(user, host, port, database), empty where the URL leaves them to libpq."""
        parts = urlsplit(self.url)
        return (
            unquote(parts.username or ""),
            parts.hostname or "",
            str(parts.port or "") if _port_ok(self.url) else "",
            unquote(parts.path.lstrip("/")),
        )

    @property
    def database(self) -> str:
        """The database's name ("" when libpq picks it: the user's name)."""
        return self._parts[3]

    @property
    def host(self) -> str:
        """The server's host ("" for libpq's default, the local socket)."""
        return self._parts[1]

    @property
    def user(self) -> str:
        """The role in the URL ("" when libpq picks it)."""
        return self._parts[0]

    @property
    def folder_name(self) -> str:
        """A file name for this database on this host (``db.example.org-5432-runs``):
        where the run folders of runs trained here go (see RunStore.runs_dir)."""
        _, host, port, database = self._parts
        text = "-".join(part for part in (host or "local", port, database or "default") if part)
        return re.sub(r"[^A-Za-z0-9._-]+", "_", text)

    def __str__(self) -> str:
        parts = urlsplit(self.url)
        if parts.password is None:
            return self.url
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return urlunsplit(parts._replace(netloc=netloc))

    # The parts of Path's interface that code handing a store along uses.
    def expanduser(self) -> DatabaseUrl:
        return self

    def resolve(self) -> DatabaseUrl:
        return self

    def exists(self) -> bool:
        """Always True: whether the database exists is known only once connected."""
        return True


def _port_ok(url: str) -> bool:
    try:
        urlsplit(url).port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return False
    return True


StoreLocation: TypeAlias = Path | DatabaseUrl
"""Where a run store is: an SQLite file or a PostgreSQL database."""


def store_location(value: str | Path | DatabaseUrl) -> StoreLocation:
    """``value`` as a store location: a :class:`DatabaseUrl` for a database URL, else a
    path (``~`` expanded)."""
    if isinstance(value, DatabaseUrl):
        return value
    if is_database_url(value):
        return DatabaseUrl(str(value))
    return Path(value).expanduser()


def store_argument(location: StoreLocation) -> str:
    """``location`` as a ``--store`` argument for a child ktui process: the full URL
    (with its password, if it has one), or the file's absolute path."""
    if isinstance(location, DatabaseUrl):
        return location.url
    return str(location.expanduser().resolve())
