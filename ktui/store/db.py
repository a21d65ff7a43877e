"""The run store: every training run, its epochs and its log, in one SQLite file.

Layout on disk (``runs.sqlite`` in the data folder by default)::

    runs.sqlite            the database (WAL mode, so also runs.sqlite-wal / -shm)
    runs/<id>/             one folder per run: model.keras, history.csv, log.txt
    other.sqlite           another store in the same folder (``--store other.sqlite``)
    other.runs/<id>/       ... has run folders of its own (see RunStore.runs_dir)

Several ktui processes may use the same store at once: SQLite's WAL mode lets
readers go on while one writer commits, every write is a short ``BEGIN IMMEDIATE``
transaction, and a busy timeout makes a writer wait for another instead of failing.
Each epoch is committed when it ends (by the recorder's writer thread, which also
retries while the store is locked or full: :mod:`ktui.store.writer`), so a process
killed mid-run loses at most the epoch in progress; the next ktui marks its run
``interrupted`` (:meth:`RunStore.mark_interrupted`). Commands that only read open
the store ``read_only``: then they create nothing, and on a full disk they read the
file as it is.

A running run also has live progress on its row (phase, epoch, step; written by its
process about twice a second, see :meth:`RunStore.set_progress`) and a queue of
control commands (pause, resume, stop, learning rate; :meth:`RunStore.add_command`)
that its process polls: that is how another ktui follows and steers it.

Only its owner may use a store: a new store file is created readable and writable
by its owner only (0600; SQLite gives its -wal and -shm files the same mode), and a
folder ktui creates for it, and ``runs/``, are owner-only (0700). An existing file or
folder keeps the permissions it has.

The schema's version is ``PRAGMA user_version``; the migrations in
:mod:`ktui.store.schema` bring an older file forward (after a backup copy). A file
that is not a ktui store, is corrupt, or comes from a newer ktui is refused with a
:class:`StoreError` and is never written to.

What the store returns lives in :mod:`ktui.store.records`, how values sit in columns
in :mod:`ktui.store.rows`, and whether a run's process is alive in
:mod:`ktui.store.liveness`; a run's best epoch follows :mod:`ktui.core.metrics`.

A PostgreSQL database (``--store postgresql://user@host/db``) holds the same schema,
written by the same SQL and migrations: :mod:`ktui.store.dialect` is the connection
both fit, :mod:`ktui.store.backend_postgres` the one that speaks PostgreSQL (its
version table, its access checks, its messages). Only opening, the schema's version and
error messages differ by database here. Its run folders stay on the host that trains
(:attr:`RunStore.runs_dir`); access is the database's, so the file-permission rules
above do not apply. An SQLite file on a network file system is refused
(:mod:`ktui.store.network`).

Plain Python and :mod:`sqlite3` (psycopg only for a PostgreSQL store): the command line
lists runs without loading TensorFlow, and the UI reads the store from any thread.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from ktui.core import backends
from ktui.core.errors import KtuiError, StoreError, StoreUnavailable
from ktui.core.files import PRIVATE_DIR
from ktui.core.metrics import BestEpoch, MetricPolicy, policy_of
from ktui.core.paths import data_dir, no_access
from ktui.core.store_url import DatabaseUrl, StoreLocation, store_location
from ktui.store import network
from ktui.store.dialect import Connection, SchemaKeeper, SqliteSchema
from ktui.store.liveness import process_alive, process_token, recorded_alive, this_host
from ktui.store.records import (
    COMMAND_KINDS,
    SORT_KEYS,
    STATUSES,
    Command,
    CommandKind,
    EpochRecord,
    LearningRateRecord,
    Run,
    RunProgress,
    RunSnapshot,
    RunSummary,
    SortKey,
    Status,
)
from ktui.store.rows import dumps, loads, metric_value
from ktui.store.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION, VALUES_PREFIX

DEFAULT_NAME = "runs.sqlite"
"""The store's usual file name; only a store of this name keeps its run folders in ``runs/``."""

BUSY_TIMEOUT = 10.0
"""Seconds a write waits for another process's write to finish before giving up."""

_SQLITE_HEADER = b"SQLite format 3\x00"


# --------------------------------------------------------------------------- helpers
def _best_rank(metric: str | None, value: float | None, policy: MetricPolicy) -> float | None:
    """``best_rank``: the best value oriented so that smaller is better (the best sort)."""
    if metric is None or value is None:
        return None
    return value if policy.lower_is_better(metric) else -value


def _create_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600 if it does not exist (SQLite then makes a
    new database in it, and its -wal and -shm files with the same mode)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass  # an existing store (or another process just made it) keeps its mode
    except OSError as exc:
        raise StoreError(f"cannot create the run store {path}: {exc}") from None


def disk_full(path: Path) -> bool:
    """Whether the file system holding ``path`` has no space left for ordinary users
    (SQLite reports a full disk while it sets up a WAL index as a "disk I/O error")."""
    try:
        stats = os.statvfs(path.parent if not path.is_dir() else path)
    except (OSError, AttributeError):  # AttributeError: no statvfs (Windows)
        return False
    return stats.f_bavail * stats.f_frsize < 64 * 1024


_SUMMARY_COLUMNS = (
    "id, preset, status, hyperparameters, defaults, data, device, started_at, ended_at,"
    " epochs_done, epochs_planned, best_metric, best_value, best_epoch, test_loss,"
    " test_accuracy, error, monitor, monitor_mode, versions"
)
_SUMMARY_SIZE = _SUMMARY_COLUMNS.count(",") + 1
_RUN_COLUMNS = (
    _SUMMARY_COLUMNS + ", model, info, seconds, error_type, traceback, pid, host, folder,"
    " data_source, evaluation_skipped"
)


_PROGRESS_FIELDS = (
    "phase",
    "phase_detail",
    "progress_epoch",
    "progress_step",
    "progress_steps",
    "progress_logs",
    "samples_per_second",
    "epoch_elapsed",
    "learning_rate_change",
    "updated_at",
)
_COMMAND_COLUMNS = "id, run_id, kind, value, created_at, taken_at"
_LR_COLUMNS = "id, epoch, step, value_before, value_after, source, error, recorded_at"


def _learning_rate(row: Sequence[Any]) -> LearningRateRecord:
    change_id, epoch, step, before, after, source, error, recorded_at = row
    return LearningRateRecord(
        int(change_id),
        int(epoch),
        int(step),
        metric_value(before),
        metric_value(after),
        str(source),
        str(error or ""),
        recorded_at,
    )


def _progress(row: Sequence[Any]) -> RunProgress:
    phase, detail, epoch, step, steps, logs, rate, elapsed, change, updated = row
    return RunProgress(
        phase=phase,
        detail=detail or "",
        epoch=epoch,
        step=step,
        steps=steps,
        logs=loads(logs, {}),
        samples_per_second=rate,
        epoch_elapsed=elapsed,
        learning_rate_change=loads(change, None),
        updated_at=updated,
    )


def _command(row: Sequence[Any]) -> Command:
    command_id, run_id, kind, value, created_at, taken_at = row
    return Command(command_id, run_id, kind, value, created_at, taken_at)


def _not_live(run_id: int, status: str, ended_at: float | None) -> StoreError:
    when = (
        ""
        if ended_at is None
        else f" at {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(ended_at))}"
    )
    verb = "was interrupted" if status == "interrupted" else status
    return StoreError(
        f"run {run_id} {verb}{when}; nothing to control",
        hint="`ktui attach` lists the runs that are going now.",
    )


_BEST = "best_rank"
"""A run's best value oriented by its metric policy so that smaller is better (see
:func:`_best_rank`); an index keeps it sorted."""

_ORDERS: dict[str, tuple[str, bool, bool]] = {
    # key: (expression, ascending by default, can be NULL). NULLs always last, then id
    # as a tiebreak (newest first; oldest first when reversed). Each indexed expression
    # is spelled exactly as in its index (see _v8_list_indexes in schema.py), or SQLite
    # sorts instead.
    "id": ("id", False, False),
    "started": ("started_at", False, False),
    "preset": ("preset", True, False),
    "status": ("status", True, False),
    "best": (_BEST, True, True),
    "test_error": ("(-test_accuracy)", True, True),
    "duration": ("(COALESCE(ended_at, :now) - started_at)", False, False),
    "epochs": ("epochs_done", False, False),
    # Not a SortKey of the command line: the runs screen's hyperparameters column,
    # ordered by the start of their recorded text (a bounded index: _v13 in schema.py).
    "values": (f"substr(hyperparameters, 1, {VALUES_PREFIX})", True, False),
}


def _order_parts(sort: str, reverse: bool) -> tuple[str, str, bool]:
    """(expression, "key DIR, id DIR", nullable) for ``sort``."""
    if sort not in _ORDERS:
        raise StoreError(
            f"cannot sort runs by {sort!r}", hint=f"Sort by one of: {', '.join(SORT_KEYS)}."
        )
    expression, ascending, nullable = _ORDERS[sort]
    if reverse:
        ascending = not ascending
    direction = "ASC" if ascending else "DESC"
    tiebreak = "ASC" if reverse else "DESC"
    if expression == "id":
        return expression, f"id {tiebreak}", nullable
    return expression, f"{expression} {direction}, id {tiebreak}", nullable


def _order_by(sort: str, reverse: bool) -> str:
    """ORDER BY for ``sort``, in its natural direction (newest, best, longest first)."""
    expression, order, nullable = _order_parts(sort, reverse)
    return f"{expression} IS NULL, {order}" if nullable else order


# --------------------------------------------------------------------------- the store
class _OpenFiles:
    """How many connections this process has open to each store file."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    @staticmethod
    def _key(path: Path) -> str:
        return os.path.realpath(path)

    def count(self, path: Path) -> int:
        with self._lock:
            return self._counts.get(self._key(path), 0)

    def add(self, path: Path) -> str:
        key = self._key(path)
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1
        return key

    def remove(self, key: str) -> None:
        with self._lock:
            left = self._counts.get(key, 0) - 1
            if left > 0:
                self._counts[key] = left
            else:
                self._counts.pop(key, None)


_OPEN = _OpenFiles()


class RunStore:
    """An open run store. Safe to share between threads; each call is one short transaction.

    Raises :class:`StoreError` (with the file's path and what to do) when the file
    is not a ktui store, is corrupt, comes from a newer ktui, or stays locked.
    """

    def __init__(
        self,
        path: StoreLocation | str,
        *,
        busy_timeout: float = BUSY_TIMEOUT,
        read_only: bool = False,
    ) -> None:
        """Open (or create) the store at ``path``: an SQLite file, or a PostgreSQL
        database (a :class:`~ktui.core.store_url.DatabaseUrl` or ``postgresql://`` text).

        ``read_only`` is for commands that only read (``ktui runs``, ``attach``): the
        file must exist and nothing is created; and when the store cannot be opened
        normally because its disk is full, it is opened as it is on disk instead
        (:attr:`degraded` says so), so the history can still be read. On PostgreSQL
        it lets a role that may only read open the store (a writing open refuses it).
        """
        location = store_location(path) if isinstance(path, str) else path.expanduser()
        self.path: StoreLocation = location
        """The SQLite file, or the PostgreSQL database (prints without its password)."""
        self.read_only = read_only
        self.degraded: str | None = None
        """Why this store is read as a snapshot that cannot be written (a full disk)."""
        self._busy_timeout = busy_timeout
        self._registered: str | None = None
        self._lock = threading.RLock()
        self._db: Connection
        self._schema: SchemaKeeper
        # Begins a transaction that writes, and one that reads a consistent snapshot.
        self._begin_write = "BEGIN IMMEDIATE"
        self._begin_snapshot = "BEGIN"
        if isinstance(location, DatabaseUrl):
            # Run folders (models, logs) stay on the host that trains, in its data folder.
            self._home = data_dir() / "postgres" / location.folder_name
            self._file = self._home
            self._open_postgres(location)
            return
        self._file = location
        self._home = location.parent
        try:
            network.refuse_network_store(location)
            self._check_file()
            if read_only:
                if not self._file.exists():
                    raise StoreError(f"there is no run store at {self.path}")
            else:
                self._create()
        except PermissionError as exc:
            raise no_access(self._file, exc) from None
        with self._errors("open"):
            # check_same_thread=False: the training thread records while the UI thread
            # reads; self._lock makes sure only one of them uses the connection at a time.
            # isolation_level=None: transactions are begun explicitly (BEGIN IMMEDIATE).
            self._sqlite = sqlite3.connect(
                location, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
            self._db = self._sqlite
            self._schema = SqliteSchema(self._sqlite)
        try:
            self._open()
        except StoreUnavailable:
            self._sqlite.close()
            if not read_only or not disk_full(location):
                raise
            self._open_as_is()
        except BaseException:
            self._sqlite.close()
            raise
        self._registered = _OPEN.add(location)

    def _open_postgres(self, url: DatabaseUrl) -> None:
        """Connect, check or bring the schema forward, and refuse a writing open by a
        role that may only read (see :mod:`ktui.store.backend_postgres`)."""
        from ktui.store import backend_postgres as pg

        with self._errors("connect"):
            conn = pg.PgConnection(url, timeout=min(self._busy_timeout, pg.CONNECT_TIMEOUT))
        self._db = conn
        self._schema = pg.PgSchema(conn, APPLICATION_ID)
        self._begin_write = "BEGIN"
        # Every read of a snapshot sees one moment, as an SQLite read transaction does.
        self._begin_snapshot = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
        try:
            with self._errors("open"):
                version, application, has_runs = pg.versions(conn)
                self._check_postgres(version, application, has_runs)
                if version == 0 and self.read_only:
                    # Reading creates nothing, as for a file: a mistyped database name
                    # must not look like an empty history (nor get ktui's tables).
                    raise StoreError(
                        f"there is no ktui run store in the database {url} yet",
                        hint="`ktui run` (as a role that may create tables there) sets it "
                        "up with the first run; or check the URL's database name.",
                    )
                if version < SCHEMA_VERSION:
                    self._migrate()
                if not self.read_only and not pg.can_write(conn):
                    raise pg.read_only_error(url, conn.role)
        except BaseException:
            conn.close()
            raise

    def _check_postgres(self, version: int, application: str | None, has_runs: bool) -> None:
        if application is None and has_runs:
            raise StoreError(
                f"the database {self.path} has a table 'runs' that ktui did not make; "
                "ktui leaves it untouched",
                hint="Use another database, or another schema for ktui "
                "(?options=-csearch_path%3Dktui in the URL).",
            )
        self._check_version(version, APPLICATION_ID if application == "ktui" else 0)

    def _create(self) -> None:
        try:
            if not self._file.parent.is_dir():
                # Owner-only: the store holds commands that steer running trainings.
                self._file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except PermissionError:
            raise
        except OSError as exc:
            raise StoreError(
                f"cannot create the run store's folder {self._file.parent}: {exc}"
            ) from None
        _create_private(self._file)

    def _open_as_is(self) -> None:
        """Open the file read-only without its WAL index: SQLite cannot create the
        index (-shm) on a full disk, and reading does not need it when no other process
        has the store open. Writes then fail (with a message), reads work."""
        wal = self._file.with_name(self._file.name + "-wal")
        try:
            unfinished = wal.stat().st_size > 0
        except OSError:
            unfinished = False
        with self._errors("open"):
            self._sqlite = sqlite3.connect(
                f"{self._file.resolve().as_uri()}?mode=ro&immutable=1",
                uri=True,
                timeout=self._busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
            self._db = self._sqlite
            self._schema = SqliteSchema(self._sqlite)
        try:
            with self._errors("open"):
                version, app_id = self._versions()
                self._check_version(version, app_id)
            if version < SCHEMA_VERSION:
                raise StoreError(
                    f"the run store {self.path} needs an upgrade, which cannot be written: "
                    "its disk is full",
                    hint="Free some space and try again.",
                )
        except BaseException:
            self._sqlite.close()
            raise
        self.degraded = (
            f"the disk holding the run store {self.path} is full: it is read as it is on "
            "disk and nothing can be recorded"
            + (" (the latest writes of a run still going may be missing)" if unfinished else "")
        )

    # -- opening --------------------------------------------------------------------
    def _check_file(self) -> None:
        """Refuse a file that is not SQLite before SQLite gets a chance to write to it."""
        if self._file.is_dir():
            raise StoreError(f"the run store {self.path} is a folder, not a file")
        if _OPEN.count(self._file):
            # Already open in this process, so already checked; and reading it here
            # would be harmful: closing any descriptor of the file drops every POSIX
            # lock this process holds on it, so another process could take our
            # connections for gone and delete the WAL under them (lost commits).
            return
        try:
            with self._file.open("rb") as file:
                header = file.read(len(_SQLITE_HEADER))
        except FileNotFoundError:
            return
        except PermissionError:
            raise  # said with the folder and its owner by the caller
        except OSError as exc:
            raise StoreError(f"cannot read the run store {self.path}: {exc}") from None
        if header and header != _SQLITE_HEADER:  # an empty file is a new, empty database
            raise self._not_a_store("it is not an SQLite database")

    def _not_a_store(self, why: str) -> StoreError:
        return StoreError(
            f"{self.path} is not a ktui run store ({why}); ktui leaves it untouched",
            hint="Move the file away to start a new store there, or choose another file "
            "with --store PATH or the KTUI_STORE environment variable.",
        )

    def _open(self) -> None:
        db = self._sqlite
        with self._errors("open"):
            version, app_id = self._versions()
            self._check_version(version, app_id)
            if 0 < version < SCHEMA_VERSION:
                # Outside the migration's transaction: a backup cannot read a database
                # its own connection is writing to.
                self._backup(version)
            # WAL: readers never block the writer, and a commit is one append to the
            # log. synchronous=NORMAL does not fsync each commit; a committed epoch still
            # survives the process being killed (only a power cut can lose the last ones).
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA foreign_keys = ON")
            if self._versions()[0] < SCHEMA_VERSION:
                self._migrate()

    def _versions(self) -> tuple[int, int]:
        return self._schema.read()

    def _check_version(self, version: int, app_id: int) -> None:
        if app_id not in (0, APPLICATION_ID) or (version > 0 and app_id != APPLICATION_ID):
            raise self._not_a_store("it is another program's SQLite database")
        if version == 0 and self._schema.foreign_tables():
            raise self._not_a_store("it is an SQLite database with other tables")
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the run store {self.path} was written by a newer ktui (schema version "
                f"{version}; this ktui knows up to {SCHEMA_VERSION}); ktui leaves it untouched",
                hint="Upgrade ktui, or choose another file with --store PATH or KTUI_STORE.",
            )

    def _migrate(self) -> None:
        db = self._db
        with self._schema.turn():
            self._migrate_in_turn(db)

    def _migrate_in_turn(self, db: Connection) -> None:
        db.execute(self._begin_write)
        try:
            # Another process may have migrated (or created) it while we waited.
            version, app_id = self._versions()
            self._check_version(version, app_id)
            if version >= SCHEMA_VERSION:
                db.execute("COMMIT")
                return
            # PostgreSQL's DDL is transactional: a failed step leaves the old schema
            # whole, so it needs no backup copy.
            for migration in MIGRATIONS[version:]:
                migration(db)
            self._schema.write(SCHEMA_VERSION)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _backup(self, version: int) -> None:
        """Copy the file before changing its schema: ``runs.sqlite.v1.bak`` and so on."""
        target = self._file.with_name(f"{self._file.name}.v{version}.bak")
        if target.exists():
            return
        _create_private(target)
        copy = sqlite3.connect(target)
        try:
            self._sqlite.backup(copy)
        finally:
            copy.close()

    # -- plumbing -------------------------------------------------------------------
    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Turn the database's exceptions into a StoreError that names the store."""
        try:
            yield
        except KtuiError:
            raise
        except Exception as exc:
            if isinstance(self.path, DatabaseUrl):
                from ktui.store import backend_postgres as pg

                if pg.is_driver_error(exc):
                    raise pg.error(exc, self.path, doing) from None
                raise
            if not isinstance(exc, sqlite3.DatabaseError):
                raise
            text = str(exc)
            if isinstance(exc, sqlite3.OperationalError) and "locked" in text:
                raise StoreUnavailable(
                    f"the run store {self.path} is busy: another ktui kept it locked for "
                    f"longer than {self._busy_timeout:g} s ({doing})",
                    hint="Try again; if it persists, look for a stuck ktui process.",
                ) from None
            if "not a database" in text or "malformed" in text:
                raise StoreError(
                    f"the run store {self.path} is corrupt ({text}); ktui leaves it untouched",
                    hint="Move it away (with its -wal and -shm files) to start a new store "
                    "there, or choose another file with --store PATH or KTUI_STORE.",
                ) from None
            if "full" in text or ("disk I/O error" in text and disk_full(self._file)):
                raise StoreUnavailable(
                    f"the disk holding the run store {self.path} is full ({doing})",
                    hint="Free some space; runs recorded so far are kept.",
                ) from None
            if "disk I/O error" in text:
                raise StoreUnavailable(f"the run store {self.path}: {doing}: {text}") from None
            raise StoreError(f"the run store {self.path}: {doing}: {text}") from None

    @contextlib.contextmanager
    def _write(self, doing: str) -> Iterator[Connection]:
        """One write transaction; IMMEDIATE takes the write lock up front, so two
        writers queue on the busy timeout instead of one failing on an upgrade."""
        with self._lock, self._errors(doing):
            self._db.execute(self._begin_write)
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextlib.contextmanager
    def _read(self, doing: str) -> Iterator[Connection]:
        with self._lock, self._errors(doing):
            yield self._db

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            self._db.close()
            key, self._registered = self._registered, None
        if key is not None:
            _OPEN.remove(key)

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def busy_timeout(self) -> float:
        """Seconds a write waits for another process's lock before it fails."""
        return self._busy_timeout

    @property
    def runs_dir(self) -> Path:
        """Where this store's new run folders go: ``runs/`` beside ``runs.sqlite`` (the
        default name), ``<stem>.runs/`` beside any other store (``exp.sqlite`` →
        ``exp.runs/``), so stores kept in one folder never share run folders.

        A PostgreSQL store keeps them on the host that trains: ``runs/`` in
        ``<data dir>/postgres/<host>-<port>-<database>/``."""
        if isinstance(self.path, DatabaseUrl) or self._file.name == DEFAULT_NAME:
            return self._home / "runs"
        return self._home / f"{self._file.stem}.runs"

    @property
    def schema_version(self) -> int:
        """The store's schema version (always :data:`SCHEMA_VERSION` once open)."""
        with self._read("read the schema version"):
            return self._versions()[0]

    # -- writing --------------------------------------------------------------------
    def create_run(
        self,
        preset: str,
        *,
        values: Mapping[str, Any] | None = None,
        defaults: Mapping[str, Any] | None = None,
        data: str = "",
        epochs: int | None = None,
        started_at: float | None = None,
        pid: int | None = None,
        data_source: str | None = None,
        policy: MetricPolicy | None = None,
    ) -> int:
        """Record a new run with status ``running``, owned by process ``pid`` (this one
        by default) of this host; create its folder. Returns the run's id.

        ``data_source``: the data source as the person typed it; ``policy``: the run's
        objective (a preset's ``[fit] monitor``/``mode``), by which its best epoch is kept.
        """
        pid = os.getpid() if pid is None else pid
        policy = policy or MetricPolicy()
        with self._write("record a new run") as db:
            cursor = db.execute(
                "INSERT INTO runs (preset, status, hyperparameters, defaults, data, started_at,"
                " epochs_planned, pid, host, process, data_source, monitor, monitor_mode)"
                " VALUES (?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    preset,
                    dumps(dict(values or {})),
                    dumps(dict(defaults or {})),
                    data,
                    time.time() if started_at is None else started_at,
                    epochs,
                    pid,
                    this_host(),
                    process_token(pid),
                    data_source,
                    policy.monitor,
                    policy.mode,
                ),
            )
            run_id = int(cursor.lastrowid or 0)
            folder = self._make_folder(run_id)
            db.execute("UPDATE runs SET folder = ? WHERE id = ?", (folder, run_id))
        return run_id

    def _make_folder(self, run_id: int) -> str:
        """``runs/<id>`` (in :attr:`runs_dir`), or ``runs/<id>-2``... when a folder of
        that name is left over (from a deleted store of the same name): never mix runs."""
        if not self.runs_dir.is_dir():
            with contextlib.suppress(OSError):  # a full disk is handled below
                self.runs_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        root = self.runs_dir.name
        for attempt in range(1, 100):
            name = f"{root}/{run_id}" if attempt == 1 else f"{root}/{run_id}-{attempt}"
            folder = self._home / name
            try:
                # Owner-only, like the store: the umask could leave it open to everyone.
                folder.mkdir(mode=PRIVATE_DIR, parents=True)
                os.chmod(folder, PRIVATE_DIR)
            except FileExistsError:
                continue
            except OSError:
                return name  # a full disk: the model cannot be saved, the metrics still can
            return name
        return f"{root}/{run_id}-{time.time_ns()}"

    def set_details(
        self,
        run_id: int,
        *,
        values: Mapping[str, Any] | None = None,
        data: str | None = None,
        device: str | None = None,
        versions: Mapping[str, str] | None = None,
        model: Mapping[str, Any] | None = None,
        info: Mapping[str, Any] | None = None,
        epochs: int | None = None,
    ) -> None:
        """Fill in what is known once the model is built (fields left ``None`` are kept)."""
        fields: dict[str, object] = {
            "hyperparameters": None if values is None else dumps(dict(values)),
            "data": data,
            "device": device,
            "versions": None if versions is None else dumps(dict(versions)),
            "model": None if model is None else dumps(dict(model)),
            "info": None if info is None else dumps(dict(info)),
            "epochs_planned": epochs,
        }
        changes = {k: v for k, v in fields.items() if v is not None}
        if not changes:
            return
        assignments = ", ".join(f"{k} = ?" for k in changes)
        with self._write("record a run's details") as db:
            self._require(db, run_id)
            db.execute(f"UPDATE runs SET {assignments} WHERE id = ?", (*changes.values(), run_id))

    def add_epoch(
        self,
        run_id: int,
        epoch: int,
        metrics: Mapping[str, float],
        *,
        learning_rate: float | None = None,
        seconds: float | None = None,
        samples_per_second: float | None = None,
        log: Sequence[str] = (),
    ) -> None:
        """Commit one finished epoch (and log lines gathered since the last commit).

        Recording an epoch twice replaces it. Also updates the run's summary (epochs
        done, best metric) so listing runs never has to read the epochs.
        """
        metrics = {str(k): float(v) for k, v in metrics.items()}
        with self._write(f"record epoch {epoch} of run {run_id}") as db:
            row = db.execute(
                "SELECT best_metric, best_value, best_epoch, epochs_done, monitor, monitor_mode"
                " FROM runs WHERE id = ?",
                (run_id,),
            ).fetchone()
            if row is None:
                raise self._unknown(run_id)
            summary = BestEpoch(row[0], row[1], row[2], row[3], policy_of(row[4], row[5]))
            summary.add(epoch, metrics)
            db.execute(
                "INSERT INTO epochs (run_id, epoch, metrics, learning_rate, seconds,"
                " samples_per_second, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (run_id, epoch) DO UPDATE SET metrics = excluded.metrics,"
                " learning_rate = excluded.learning_rate, seconds = excluded.seconds,"
                " samples_per_second = excluded.samples_per_second,"
                " ended_at = excluded.ended_at",
                (
                    run_id,
                    epoch,
                    dumps(metrics),
                    learning_rate,
                    seconds,
                    samples_per_second,
                    time.time(),
                ),
            )
            # A run that another process wrongly took for dead comes back to life.
            db.execute(
                "UPDATE runs SET epochs_done = ?, best_metric = ?, best_value = ?, best_epoch = ?,"
                " best_rank = ?,"
                " status = CASE status WHEN 'interrupted' THEN 'running' ELSE status END,"
                " ended_at = CASE status WHEN 'interrupted' THEN NULL ELSE ended_at END"
                " WHERE id = ?",
                (
                    summary.epochs,
                    summary.metric,
                    summary.value,
                    summary.epoch,
                    _best_rank(summary.metric, summary.value, summary.policy),
                    run_id,
                ),
            )
            self._insert_log(db, run_id, log)

    def append_log(self, run_id: int, lines: Sequence[str]) -> None:
        """Add captured log lines to a run (one transaction for all of them)."""
        if not lines:
            return
        with self._write(f"record the log of run {run_id}") as db:
            self._require(db, run_id)
            self._insert_log(db, run_id, lines)

    @staticmethod
    def _insert_log(db: Connection, run_id: int, lines: Sequence[str]) -> None:
        if lines:
            db.executemany(
                "INSERT INTO log (run_id, line) VALUES (?, ?)", ((run_id, line) for line in lines)
            )

    def finish_run(
        self,
        run_id: int,
        status: Literal["finished", "stopped", "interrupted", "diverged", "pruned"] = "finished",
        *,
        test_loss: float | None = None,
        test_accuracy: float | None = None,
        seconds: float | None = None,
        log: Sequence[str] = (),
        message: str = "",
    ) -> None:
        """Record how a run ended without failing: all epochs, stopped by the user,
        stopped cleanly because its terminal hung up (``interrupted``), or its loss
        became NaN (``diverged``; ``message`` says where, kept as the run's error), or a
        sweep's pruner stopped it (``pruned``; ``message`` says why)."""
        if status not in ("finished", "stopped", "interrupted", "diverged", "pruned"):
            raise ValueError(
                "finish_run: status must be finished, stopped, interrupted, diverged or pruned,"
                f" not {status!r}"
            )
        with self._write(f"record the end of run {run_id}") as db:
            self._require(db, run_id)
            db.execute(
                "UPDATE runs SET status = ?, ended_at = ?, test_loss = ?, test_accuracy = ?,"
                " seconds = ?, error = ? WHERE id = ?",
                (status, time.time(), test_loss, test_accuracy, seconds, message or None, run_id),
            )
            self._insert_log(db, run_id, log)

    def fail_run(
        self,
        run_id: int,
        message: str,
        *,
        error_type: str = "",
        traceback: str = "",
        log: Sequence[str] = (),
    ) -> None:
        """Record that a run failed, with the message for the user and the traceback."""
        with self._write(f"record the failure of run {run_id}") as db:
            self._require(db, run_id)
            db.execute(
                "UPDATE runs SET status = 'failed', ended_at = ?, error = ?, error_type = ?,"
                " traceback = ? WHERE id = ?",
                (time.time(), message, error_type or None, traceback or None, run_id),
            )
            self._insert_log(db, run_id, log)

    def set_status(self, run_id: int, status: Status) -> None:
        """Force a run's status (e.g. ``interrupted`` for a run abandoned by its process)."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        with self._write(f"change the status of run {run_id}") as db:
            self._require(db, run_id)
            db.execute(
                "UPDATE runs SET status = ?, ended_at = CASE WHEN ? = 'running' THEN NULL"
                " ELSE COALESCE(ended_at, ?) END WHERE id = ?",
                (status, status, time.time(), run_id),
            )

    def mark_interrupted(self) -> list[int]:
        """Mark ``running`` runs whose process on this host is gone as ``interrupted``.

        Their epochs are kept; the end time becomes the last recorded epoch's. Runs
        of live processes, and of other hosts (which cannot be checked), are left
        alone. Returns the ids marked (none on a store read :attr:`degraded`).
        """
        if self.degraded:
            return []
        with self._read("look for interrupted runs") as db:
            rows = db.execute(
                "SELECT id, pid, process FROM runs WHERE status = 'running' AND host = ?",
                (this_host(),),
            ).fetchall()
        dead = [run_id for run_id, pid, token in rows if not process_alive(pid or 0, token)]
        if not dead:
            return []
        with self._write("mark interrupted runs") as db:
            for run_id in dead:
                db.execute(
                    "UPDATE runs SET status = 'interrupted', ended_at = COALESCE("
                    "(SELECT max(ended_at) FROM epochs WHERE run_id = runs.id), started_at)"
                    " WHERE id = ? AND status = 'running'",
                    (run_id,),
                )
        return dead

    def delete_run(self, run_id: int) -> None:
        """Delete a run, its epochs, its log and its folder.

        Refuses (StoreError) while the run is being recorded by a live process.
        """
        with self._write(f"delete run {run_id}") as db:
            row = db.execute(
                "SELECT status, pid, host, process, folder FROM runs WHERE id = ?", (run_id,)
            ).fetchone()
            if row is None:
                raise self._unknown(run_id)
            status, pid, host, token, folder = row
            if status == "running" and (host != this_host() or process_alive(pid or 0, token)):
                raise StoreError(
                    f"run {run_id} is still being recorded (process {pid} on {host})",
                    hint="Stop it first, then delete it.",
                )
            db.execute("DELETE FROM log WHERE run_id = ?", (run_id,))
            db.execute("DELETE FROM epochs WHERE run_id = ?", (run_id,))
            db.execute("DELETE FROM commands WHERE run_id = ?", (run_id,))
            db.execute("DELETE FROM run_tags WHERE run_id = ?", (run_id,))
            db.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        path = self._folder_path(folder)
        if path is not None:
            shutil.rmtree(path, ignore_errors=True)

    # -- reading --------------------------------------------------------------------
    def list_runs(
        self,
        *,
        preset: str | None = None,
        status: Status | None = None,
        tag: str | None = None,
        sort: SortKey | Literal["values"] = "id",
        reverse: bool = False,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[RunSummary]:
        """Runs, filtered by preset, status and tag, newest first by default.

        ``sort`` orders by that column in its natural direction (newest, best,
        lowest test error, longest first; preset and status alphabetically);
        ``reverse`` flips it. ``limit`` and ``offset`` give one page of that order
        (``limit`` None or 0: all): a page is read through an index in the sort's
        order, so it costs the same at run 10 or run 100,000. Reads only the runs table.
        """
        where, params = self._where(preset, status, tag)
        params["now"] = time.time()
        offset = max(0, offset)
        if not limit or limit <= 0:
            sql = f"SELECT {_SUMMARY_COLUMNS} FROM runs {where} ORDER BY {_order_by(sort, reverse)}"
            if offset:
                sql += " LIMIT -1 OFFSET :offset"
                params["offset"] = offset
            with self._read("list runs") as db:
                rows = db.execute(sql, params).fetchall()
            return [self._summary(row) for row in rows]
        with self._read("list runs") as db:
            ids = self._page_ids(db, where, params, sort, reverse, limit, offset)
            if not ids:
                return []
            marks = ", ".join("?" * len(ids))
            rows = db.execute(
                f"SELECT {_SUMMARY_COLUMNS} FROM runs WHERE id IN ({marks})", ids
            ).fetchall()
        by_id = {row[0]: row for row in rows}
        return [self._summary(by_id[run_id]) for run_id in ids if run_id in by_id]

    @staticmethod
    def _page_ids(
        db: Connection,
        where: str,
        params: dict[str, object],
        sort: str,
        reverse: bool,
        limit: int,
        offset: int,
    ) -> list[int]:
        """The ids of one page, in order, read from the sort's index only (the rows
        skipped by the offset are never read).

        A key that can be NULL is read in two parts, the runs that have it and then
        the others (newest first): "NULLs last" in both directions would otherwise
        keep SQLite from walking the index.
        """
        expression, order, nullable = _order_parts(sort, reverse)
        page = {**params, "limit": limit, "offset": offset}

        def ids(extra: str, order: str, values: dict[str, object]) -> list[int]:
            clause = f"{where} AND {extra}" if where else f"WHERE {extra}"
            sql = f"SELECT id FROM runs {clause} ORDER BY {order} LIMIT :limit OFFSET :offset"
            return [run_id for (run_id,) in db.execute(sql, values)]

        if not nullable:
            sql = f"SELECT id FROM runs {where} ORDER BY {order} LIMIT :limit OFFSET :offset"
            return [run_id for (run_id,) in db.execute(sql, page)]
        first = ids(f"{expression} IS NOT NULL", order, page)
        if len(first) == limit:
            return first
        if first:
            skipped = 0  # the page starts among the runs that have the key
        else:
            clause = f"{where} AND" if where else "WHERE"
            having = db.execute(
                f"SELECT count(*) FROM runs {clause} {expression} IS NOT NULL", params
            ).fetchone()[0]
            skipped = offset - int(having)
        rest = {**params, "limit": limit - len(first), "offset": max(0, skipped)}
        tiebreak = "id ASC" if reverse else "id DESC"
        return first + ids(f"{expression} IS NULL", tiebreak, rest)

    def count_runs(
        self,
        *,
        preset: str | None = None,
        status: Status | None = None,
        tag: str | None = None,
    ) -> int:
        """How many runs match the filters."""
        where, params = self._where(preset, status, tag)
        with self._read("count runs") as db:
            return int(db.execute(f"SELECT count(*) FROM runs {where}", params).fetchone()[0])

    def run_position(
        self,
        run_id: int,
        *,
        preset: str | None = None,
        status: Status | None = None,
        tag: str | None = None,
        sort: SortKey | Literal["values"] = "id",
        reverse: bool = False,
    ) -> int | None:
        """Where run ``run_id`` is (0 first) in ``list_runs`` with the same arguments;
        None when the filters leave it out. Counts the runs before it along the
        sort's index (two range counts), without reading the list."""
        where, params = self._where(preset, status, tag)
        params["now"] = time.time()
        params["run"] = run_id
        expression, _, nullable = _order_parts(sort, reverse)
        _, ascending, _ = _ORDERS[sort]
        if reverse:
            ascending = not ascending
        before = "<" if ascending else ">"
        newer = "<" if reverse else ">"  # ties: newest first, oldest first reversed
        clause = f"{where} AND" if where else "WHERE"

        def count(condition: str) -> int:
            sql = f"SELECT count(*) FROM runs {clause} {condition}"
            return int(db.execute(sql, params).fetchone()[0])

        with self._read("find a run in the list") as db:
            row = db.execute(f"SELECT {expression} FROM runs {clause} id = :run", params).fetchone()
            if row is None:
                return None
            params["value"] = row[0]
            if expression == "id":
                return count(f"id {newer} :run")
            if row[0] is None:
                return count(f"{expression} IS NOT NULL") + count(
                    f"{expression} IS NULL AND id {newer} :run"
                )
            return count(f"{expression} {before} :value") + count(
                f"{expression} = :value AND id {newer} :run"
            )

    def presets_used(self) -> list[str]:
        """The presets that have runs, A to Z (read from the preset index)."""
        with self._read("list the presets of the runs") as db:
            return [name for (name,) in db.execute("SELECT DISTINCT preset FROM runs ORDER BY 1")]

    def tag_names(self) -> list[str]:
        """Every tag some run has, A to Z."""
        with self._read("list the tags") as db:
            return [tag for (tag,) in db.execute("SELECT DISTINCT tag FROM run_tags ORDER BY 1")]

    def tags_of(self, run_ids: Iterable[int]) -> dict[int, list[str]]:
        """The tags of the runs ``run_ids`` (those that have some), each sorted."""
        ids = list(run_ids)
        tagged: dict[int, list[str]] = {}
        if not ids:
            return tagged
        marks = ", ".join("?" * len(ids))
        with self._read("read the tags") as db:
            rows = db.execute(
                f"SELECT run_id, tag FROM run_tags WHERE run_id IN ({marks}) ORDER BY run_id, tag",
                ids,
            ).fetchall()
        for rid, tag in rows:
            tagged.setdefault(rid, []).append(tag)
        return tagged

    def notes_of(self, run_ids: Iterable[int]) -> dict[int, str]:
        """The notes of the runs ``run_ids`` that have one."""
        ids = list(run_ids)
        if not ids:
            return {}
        marks = ", ".join("?" * len(ids))
        with self._read("read the notes") as db:
            return dict(
                db.execute(
                    f"SELECT id, note FROM runs WHERE id IN ({marks}) AND note != ''", ids
                ).fetchall()
            )

    def best_metrics(
        self,
        *,
        preset: str | None = None,
        status: Status | None = None,
        tag: str | None = None,
        limit: int = 2,
    ) -> list[str]:
        """Up to ``limit`` of the metrics the matching runs are judged by (one: they all
        share it)."""
        where, params = self._where(preset, status, tag)
        clause = f"{where} AND" if where else "WHERE"
        params["limit"] = limit
        with self._read("read the runs' metrics") as db:
            return [
                name
                for (name,) in db.execute(
                    f"SELECT DISTINCT best_metric FROM runs {clause} best_metric IS NOT NULL"
                    " LIMIT :limit",
                    params,
                )
            ]

    @staticmethod
    def _where(
        preset: str | None, status: str | None, tag: str | None = None
    ) -> tuple[str, dict[str, object]]:
        clauses, params = [], {}
        if preset is not None:
            clauses.append("preset = :preset")
            params["preset"] = preset
        if status is not None:
            if status not in STATUSES:
                raise StoreError(
                    f"no run status {status!r}", hint=f"Statuses: {', '.join(STATUSES)}."
                )
            clauses.append("status = :status")
            params["status"] = status
        if tag is not None:
            clauses.append("id IN (SELECT run_id FROM run_tags WHERE tag = :tag)")
            params["tag"] = tag
        return ("WHERE " + " AND ".join(clauses)) if clauses else "", dict(params)

    def get_run(self, run_id: int) -> Run:
        """Everything recorded about run ``run_id``; StoreError if there is none."""
        with self._read(f"read run {run_id}") as db:
            row = db.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise self._unknown(run_id)
        return self._run(row)

    def _run(self, row: Sequence[Any]) -> Run:
        summary = self._summary(row[:_SUMMARY_SIZE])
        versions = row[_SUMMARY_SIZE - 1]  # the summary's last column
        (
            model,
            info,
            seconds,
            error_type,
            traceback,
            pid,
            host,
            folder,
            data_source,
            evaluation_skipped,
        ) = row[_SUMMARY_SIZE:]
        run_id = summary.id
        return Run(
            **{name: getattr(summary, name) for name in RunSummary.__dataclass_fields__},
            data_source=data_source,
            evaluation_skipped=evaluation_skipped,
            versions=loads(versions, {}),
            model=loads(model, None),
            info=loads(info, {}),
            seconds=seconds,
            error_type=error_type,
            traceback=traceback,
            pid=pid,
            host=host,
            folder=self._folder_path(folder) or self.runs_dir / str(run_id),
        )

    def has_run(self, run_id: int) -> bool:
        """Whether a run with this id exists."""
        with self._read(f"read run {run_id}") as db:
            return db.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is not None

    def epochs(self, run_id: int) -> list[EpochRecord]:
        """The run's recorded epochs, in order; StoreError for an unknown run."""
        with self._read(f"read the epochs of run {run_id}") as db:
            self._require(db, run_id)
            rows = db.execute(
                "SELECT epoch, metrics, learning_rate, seconds, samples_per_second, ended_at"
                " FROM epochs WHERE run_id = ? ORDER BY epoch",
                (run_id,),
            ).fetchall()
        return [
            EpochRecord(epoch, loads(metrics, {}), lr, seconds, rate, ended)
            for epoch, metrics, lr, seconds, rate, ended in rows
        ]

    def log(self, run_id: int, *, tail: int | None = None) -> list[str]:
        """The run's captured log lines (only the last ``tail`` when given)."""
        with self._read(f"read the log of run {run_id}") as db:
            self._require(db, run_id)
            if tail is None:
                rows = db.execute(
                    "SELECT line FROM log WHERE run_id = ? ORDER BY id", (run_id,)
                ).fetchall()
            else:
                rows = db.execute(
                    "SELECT line FROM log WHERE run_id = ? ORDER BY id DESC LIMIT ?",
                    (run_id, max(tail, 0)),
                ).fetchall()[::-1]
        return [line for (line,) in rows]

    def log_size(self, run_id: int) -> int:
        """How many log lines the run has."""
        with self._read(f"read the log of run {run_id}") as db:
            return int(
                db.execute("SELECT count(*) FROM log WHERE run_id = ?", (run_id,)).fetchone()[0]
            )

    def folder(self, run_id: int) -> Path:
        """The run's folder: where model.keras, history.csv and log.txt go."""
        with self._read(f"read run {run_id}") as db:
            row = db.execute("SELECT folder FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise self._unknown(run_id)
        return self._folder_path(row[0]) or self.runs_dir / str(run_id)

    # -- tags and notes ---------------------------------------------------------------
    def add_tags(self, run_id: int, tags: Iterable[str]) -> None:
        """Tag run ``run_id`` (a tag it has already is kept once); StoreError if unknown."""
        with self._write(f"tag run {run_id}") as db:
            self._require(db, run_id)
            db.executemany(
                "INSERT INTO run_tags (run_id, tag) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [(run_id, tag) for tag in tags],
            )

    def remove_tags(self, run_id: int, tags: Iterable[str]) -> list[str]:
        """Take ``tags`` off run ``run_id``; returns those it did not have."""
        with self._write(f"untag run {run_id}") as db:
            self._require(db, run_id)
            missing = []
            for tag in tags:
                cursor = db.execute(
                    "DELETE FROM run_tags WHERE run_id = ? AND tag = ?", (run_id, tag)
                )
                if not cursor.rowcount:
                    missing.append(tag)
        return missing

    def tags(self, run_id: int | None = None) -> dict[int, list[str]]:
        """Each tagged run's tags, sorted (only run ``run_id``'s when given)."""
        sql = "SELECT run_id, tag FROM run_tags"
        params: tuple[int, ...] = ()
        if run_id is not None:
            sql += " WHERE run_id = ?"
            params = (run_id,)
        with self._read("read the tags") as db:
            rows = db.execute(sql + " ORDER BY run_id, tag", params).fetchall()
        tagged: dict[int, list[str]] = {}
        for rid, tag in rows:
            tagged.setdefault(rid, []).append(tag)
        return tagged

    def tagged(self, tag: str) -> set[int]:
        """The ids of the runs tagged ``tag``."""
        with self._read(f"find the runs tagged {tag}") as db:
            rows = db.execute("SELECT run_id FROM run_tags WHERE tag = ?", (tag,)).fetchall()
        return {rid for (rid,) in rows}

    def set_note(self, run_id: int, note: str) -> None:
        """Replace run ``run_id``'s note (``""`` removes it); StoreError if unknown."""
        with self._write(f"write the note of run {run_id}") as db:
            self._require(db, run_id)
            db.execute("UPDATE runs SET note = ? WHERE id = ?", (note, run_id))

    def notes(self, run_id: int | None = None) -> dict[int, str]:
        """Each run's note, for the runs that have one (only run ``run_id``'s when given)."""
        sql = "SELECT id, note FROM runs WHERE note != ''"
        params: tuple[int, ...] = ()
        if run_id is not None:
            sql += " AND id = ?"
            params = (run_id,)
        with self._read("read the notes") as db:
            return dict(db.execute(sql, params).fetchall())

    # -- live runs: ownership, progress, commands --------------------------------------
    def adopt_run(self, run_id: int, pid: int | None = None) -> None:
        """Make process ``pid`` (this one by default) of this host the owner of a run.

        A detached run's row is created by the command that starts it; the training
        process adopts it. A run marked ``interrupted`` in between (its first owner
        exited) is ``running`` again; a run that has ended cannot be adopted.
        """
        pid = os.getpid() if pid is None else pid
        with self._write(f"adopt run {run_id}") as db:
            row = db.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise self._unknown(run_id)
            if row[0] not in ("running", "interrupted"):
                raise StoreError(f"run {run_id} has already ended ({row[0]}); it cannot be resumed")
            db.execute(
                "UPDATE runs SET status = 'running', ended_at = NULL, pid = ?, host = ?,"
                " process = ? WHERE id = ?",
                (pid, this_host(), process_token(pid), run_id),
            )

    def is_live(self, run_id: int) -> bool:
        """True while the run is ``running`` and its process is alive (or on another
        host, where it cannot be checked)."""
        with self._read(f"read run {run_id}") as db:
            row = db.execute(
                "SELECT status, pid, host, process FROM runs WHERE id = ?", (run_id,)
            ).fetchone()
        if row is None:
            raise self._unknown(run_id)
        return row[0] == "running" and recorded_alive(row[1], row[2], row[3])

    def set_progress(self, run_id: int, progress: RunProgress) -> None:
        """Write where a running run is now (its process calls this about twice a second)."""
        with self._write(f"record the progress of run {run_id}") as db:
            db.execute(
                f"UPDATE runs SET {', '.join(f'{c} = ?' for c in _PROGRESS_FIELDS)} WHERE id = ?",
                (
                    progress.phase,
                    progress.detail,
                    progress.epoch,
                    progress.step,
                    progress.steps,
                    dumps(progress.logs) if progress.logs else None,
                    progress.samples_per_second,
                    progress.epoch_elapsed,
                    None
                    if progress.learning_rate_change is None
                    else dumps(progress.learning_rate_change),
                    time.time(),
                    run_id,
                ),
            )

    def progress(self, run_id: int) -> RunProgress:
        """The run's live progress as its process last wrote it."""
        with self._read(f"read the progress of run {run_id}") as db:
            row = db.execute(
                f"SELECT {', '.join(_PROGRESS_FIELDS)} FROM runs WHERE id = ?", (run_id,)
            ).fetchone()
        if row is None:
            raise self._unknown(run_id)
        return _progress(row)

    def add_command(self, run_id: int, kind: CommandKind, value: float | None = None) -> int:
        """Queue a control command for a live run; returns its id.

        Raises :class:`StoreError` when the run is unknown or not running ("run 12
        finished at ...; nothing to control"), and when its process on this host is
        gone, after marking the run ``interrupted``. ``value`` is the learning rate
        for ``learning_rate`` (a positive number) and must be ``None`` otherwise.
        """
        if kind not in COMMAND_KINDS:
            raise ValueError(f"unknown command {kind!r}; commands: {', '.join(COMMAND_KINDS)}")
        if kind == "learning_rate":
            if value is None or not math.isfinite(value) or value <= 0:
                raise ValueError(f"learning rate must be a positive number, got {value!r}")
            value = float(value)
        elif value is not None:
            raise ValueError(f"the {kind} command takes no value, got {value!r}")
        gone = None
        with self._write(f"send a command to run {run_id}") as db:
            row = db.execute(
                "SELECT status, ended_at, pid, host, process FROM runs WHERE id = ?", (run_id,)
            ).fetchone()
            if row is None:
                raise self._unknown(run_id)
            status, ended_at, pid, host, token = row
            if status != "running":
                raise _not_live(run_id, status, ended_at)
            if not recorded_alive(pid, host, token):
                # Marked here, in the same transaction that found it dead.
                db.execute(
                    "UPDATE runs SET status = 'interrupted', ended_at = COALESCE("
                    "(SELECT max(ended_at) FROM epochs WHERE run_id = runs.id), started_at)"
                    " WHERE id = ?",
                    (run_id,),
                )
                gone = pid
            else:
                cursor = db.execute(
                    "INSERT INTO commands (run_id, kind, value, created_at) VALUES (?, ?, ?, ?)",
                    (run_id, kind, value, time.time()),
                )
                return int(cursor.lastrowid or 0)
        raise StoreError(
            f"run {run_id}'s process ({gone} on {this_host()}) is gone; marked interrupted",
            hint="`ktui runs show " + str(run_id) + "` has what it recorded.",
        )

    def take_commands(self, run_id: int) -> list[Command]:
        """The run's pending commands, oldest first, now marked taken (its process calls
        this). Only a read while there are none: polling it costs no write lock."""
        with self._read(f"read the commands of run {run_id}") as db:
            rows = db.execute(
                f"SELECT {_COMMAND_COLUMNS} FROM commands WHERE run_id = ? AND taken_at IS NULL"
                " ORDER BY id",
                (run_id,),
            ).fetchall()
        if not rows:
            return []
        now = time.time()
        with self._write(f"take the commands of run {run_id}") as db:
            db.executemany(
                "UPDATE commands SET taken_at = ? WHERE id = ? AND taken_at IS NULL",
                ((now, row[0]) for row in rows),
            )
        return [_command(row[:5] + (now,)) for row in rows]

    def commands(self, run_id: int, *, pending: bool = False) -> list[Command]:
        """The commands sent to a run, oldest first (only those not yet taken if ``pending``)."""
        where = " AND taken_at IS NULL" if pending else ""
        with self._read(f"read the commands of run {run_id}") as db:
            rows = db.execute(
                f"SELECT {_COMMAND_COLUMNS} FROM commands WHERE run_id = ?{where} ORDER BY id",
                (run_id,),
            ).fetchall()
        return [_command(row) for row in rows]

    def command(self, command_id: int) -> Command:
        """One command by id (to see whether it was taken)."""
        with self._read("read a command") as db:
            row = db.execute(
                f"SELECT {_COMMAND_COLUMNS} FROM commands WHERE id = ?", (command_id,)
            ).fetchone()
        if row is None:
            raise StoreError(f"no command with id {command_id} in {self.path}")
        return _command(row)

    def snapshot(
        self, run_id: int, *, log_after: int = 0, epoch_after: int = 0, lr_after: int = 0
    ) -> RunSnapshot:
        """The run, its progress, and its log lines and epochs newer than the given ones,
        read in one transaction (so they agree with each other): what a follower polls."""
        with self._read(f"read run {run_id}") as db:
            db.execute(self._begin_snapshot)
            try:
                row = db.execute(
                    f"SELECT {_RUN_COLUMNS}, {', '.join(_PROGRESS_FIELDS)}, process"
                    " FROM runs WHERE id = ?",
                    (run_id,),
                ).fetchone()
                if row is None:
                    raise self._unknown(run_id)
                log = db.execute(
                    "SELECT id, line FROM log WHERE run_id = ? AND id > ? ORDER BY id",
                    (run_id, log_after),
                ).fetchall()
                epochs = db.execute(
                    "SELECT epoch, metrics, learning_rate, seconds, samples_per_second, ended_at"
                    " FROM epochs WHERE run_id = ? AND epoch > ? ORDER BY epoch",
                    (run_id, epoch_after),
                ).fetchall()
                rates = db.execute(
                    f"SELECT {_LR_COLUMNS} FROM lr_changes WHERE run_id = ? AND id > ? ORDER BY id",
                    (run_id, lr_after),
                ).fetchall()
            finally:
                db.execute("COMMIT")
        *row, token = row
        split = len(row) - len(_PROGRESS_FIELDS)
        run = self._run(row[:split])
        return RunSnapshot(
            run=run,
            progress=_progress(row[split:]),
            log=[(int(line_id), line) for line_id, line in log],
            epochs=[
                EpochRecord(epoch, loads(metrics, {}), lr, seconds, rate, ended)
                for epoch, metrics, lr, seconds, rate, ended in epochs
            ],
            alive=run.status == "running" and recorded_alive(run.pid, run.host, token),
            learning_rates=[_learning_rate(row) for row in rates],
        )

    # -- learning-rate changes and skipped evaluations -------------------------------------
    def add_learning_rate_change(
        self,
        run_id: int,
        *,
        epoch: int,
        step: int,
        before: float | None,
        after: float | None,
        source: str,
        error: str = "",
    ) -> int:
        """Record a learning-rate change of run ``run_id`` (``after`` None: it failed)."""
        with self._write(f"record a learning-rate change of run {run_id}") as db:
            self._require(db, run_id)
            cursor = db.execute(
                "INSERT INTO lr_changes (run_id, epoch, step, value_before, value_after, source,"
                " error, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, epoch, step, before, after, source, error, time.time()),
            )
            return int(cursor.lastrowid or 0)

    def learning_rate_changes(self, run_id: int) -> list[LearningRateRecord]:
        """Every learning-rate change of run ``run_id``, in order."""
        with self._read(f"read the learning-rate changes of run {run_id}") as db:
            rows = db.execute(
                f"SELECT {_LR_COLUMNS} FROM lr_changes WHERE run_id = ? ORDER BY id", (run_id,)
            ).fetchall()
        return [_learning_rate(row) for row in rows]

    def set_evaluation_skipped(self, run_id: int, reason: str) -> None:
        """Record why run ``run_id`` made no confusion matrix."""
        with self._write(f"record run {run_id}'s evaluation") as db:
            self._require(db, run_id)
            db.execute("UPDATE runs SET evaluation_skipped = ? WHERE id = ?", (reason, run_id))

    # -- row helpers ----------------------------------------------------------------
    def _folder_path(self, folder: str | None) -> Path | None:
        """The folder named in a row, only if it really is inside :attr:`runs_dir` or
        ``runs/`` (where an older ktui put every store's run folders)."""
        if not folder:
            return None
        path = (self._home / folder).resolve()
        roots = {self.runs_dir.resolve(), (self._home / "runs").resolve()}
        return path if path.parent in roots else None

    def _require(self, db: Connection, run_id: int) -> None:
        if db.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
            raise self._unknown(run_id)

    def _unknown(self, run_id: int) -> StoreError:
        return StoreError(
            f"no run with id {run_id} in {self.path}", hint="`ktui runs` lists the runs."
        )

    @staticmethod
    def _summary(row: Sequence[Any]) -> RunSummary:
        (
            run_id,
            preset,
            status,
            values,
            defaults,
            data,
            device,
            started_at,
            ended_at,
            epochs_done,
            epochs_planned,
            best_metric,
            best_value,
            best_epoch,
            test_loss,
            test_accuracy,
            error,
            monitor,
            monitor_mode,
            versions,
        ) = row
        return RunSummary(
            id=run_id,
            preset=preset,
            status=status,
            values=loads(values, {}),
            defaults=loads(defaults, {}),
            data=data,
            device=device,
            started_at=started_at,
            ended_at=ended_at,
            epochs_done=epochs_done,
            epochs_planned=epochs_planned,
            best_metric=best_metric,
            best_value=metric_value(best_value),
            best_epoch=best_epoch,
            test_loss=metric_value(test_loss),
            test_accuracy=metric_value(test_accuracy),
            error=error,
            monitor=monitor,
            monitor_mode=monitor_mode or "auto",
            backend=backends.recorded(loads(versions, {})),
        )
