"""The run store's schema, one migration per version, for SQLite and PostgreSQL alike.

The schema's version is ``PRAGMA user_version`` in SQLite and the ``ktui_schema``
table in PostgreSQL: :data:`MIGRATIONS` brings an older store forward, one step at a
time, inside one transaction (the store makes a backup copy of an SQLite file first,
see :class:`~ktui.store.db.RunStore`). A released migration is never edited: a change
to the schema is a new one at the end, and :data:`SCHEMA_VERSION` goes up by one.

The migrations are written once, in SQLite's DDL; the PostgreSQL connection maps its
column types (:func:`ktui.store.backend_postgres.translate`). Only v7 differs by
database: SQLite cannot alter a CHECK constraint, PostgreSQL can.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from ktui.core.metrics import BestEpoch, policy_of
from ktui.store.dialect import Connection
from ktui.store.rows import loads

SCHEMA_VERSION = 14
"""The schema this ktui writes; older files are migrated, newer ones refused."""

APPLICATION_ID = 0x6B747569
"""``PRAGMA application_id`` of a ktui store ("ktui"), to tell it from other SQLite files."""

Migration = Callable[[Connection], None]


def _v1(db: Connection) -> None:
    """The first schema: runs, their epochs and their log lines."""
    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    db.execute(
        """
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: a deleted id is never reused
            preset TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN
                ('running', 'finished', 'stopped', 'failed', 'interrupted')),
            hyperparameters TEXT NOT NULL DEFAULT '{}',
            data TEXT NOT NULL DEFAULT '',
            device TEXT NOT NULL DEFAULT '',
            versions TEXT NOT NULL DEFAULT '{}',
            model TEXT,
            info TEXT NOT NULL DEFAULT '{}',
            started_at REAL NOT NULL,
            ended_at REAL,
            seconds REAL,
            test_loss REAL,
            test_accuracy REAL,
            error TEXT,
            error_type TEXT,
            traceback TEXT,
            pid INTEGER,
            host TEXT,
            process TEXT,
            folder TEXT NOT NULL DEFAULT ''
        )
        """
    )
    db.execute(
        """
        CREATE TABLE epochs (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            epoch INTEGER NOT NULL,
            metrics TEXT NOT NULL,
            learning_rate REAL,
            seconds REAL,
            samples_per_second REAL,
            ended_at REAL,
            PRIMARY KEY (run_id, epoch)
        ) WITHOUT ROWID
        """
    )
    db.execute(
        """
        CREATE TABLE log (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            line TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX log_by_run ON log(run_id, id)")


def _v2(db: Connection) -> None:
    """Summary columns and indexes, so listing 1,000 runs never reads their 100,000 epochs."""
    for column in (
        "defaults TEXT NOT NULL DEFAULT '{}'",
        "epochs_done INTEGER NOT NULL DEFAULT 0",
        "epochs_planned INTEGER",
        "best_metric TEXT",
        "best_value REAL",
        "best_epoch INTEGER",
    ):
        db.execute(f"ALTER TABLE runs ADD COLUMN {column}")
    db.execute("CREATE INDEX IF NOT EXISTS runs_by_status ON runs(status)")
    db.execute("CREATE INDEX IF NOT EXISTS runs_by_preset ON runs(preset)")
    db.execute("CREATE INDEX IF NOT EXISTS runs_by_start ON runs(started_at)")
    # Fill the new columns in for the runs already recorded.
    for run_id, info in db.execute("SELECT id, info FROM runs").fetchall():
        summary = BestEpoch()
        for epoch, metrics in db.execute(
            "SELECT epoch, metrics FROM epochs WHERE run_id = ? ORDER BY epoch", (run_id,)
        ):
            summary.add(epoch, loads(metrics, {}))
        planned = loads(info, {}).get("epochs")
        db.execute(
            "UPDATE runs SET epochs_done = ?, epochs_planned = ?, best_metric = ?,"
            " best_value = ?, best_epoch = ? WHERE id = ?",
            (
                summary.epochs,
                planned if isinstance(planned, int) else None,
                summary.metric,
                summary.value,
                summary.epoch,
                run_id,
            ),
        )


def _v3(db: Connection) -> None:
    """Live progress on the run row and the control commands a run's process polls."""
    for column in (
        "phase TEXT",
        "phase_detail TEXT NOT NULL DEFAULT ''",
        "progress_epoch INTEGER",
        "progress_step INTEGER",
        "progress_steps INTEGER",
        "progress_logs TEXT",
        "samples_per_second REAL",
        "epoch_elapsed REAL",
        "learning_rate_change TEXT",
        "updated_at REAL",
    ):
        db.execute(f"ALTER TABLE runs ADD COLUMN {column}")
    db.execute(
        """
        CREATE TABLE commands (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            kind TEXT NOT NULL CHECK (kind IN ('pause', 'resume', 'stop', 'learning_rate')),
            value REAL,
            created_at REAL NOT NULL,
            taken_at REAL
        )
        """
    )
    # The run's process looks for pending commands five times a second: keep that
    # an index lookup however many commands were ever sent.
    db.execute("CREATE INDEX commands_pending ON commands(run_id, id) WHERE taken_at IS NULL")


def _v4_tags_and_notes(db: Connection) -> None:
    """Tags (any number per run, found by tag through an index) and a note per run,
    set from the command line (``ktui runs tag`` / ``note``)."""
    db.execute("ALTER TABLE runs ADD COLUMN note TEXT NOT NULL DEFAULT ''")
    db.execute(
        """
        CREATE TABLE run_tags (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            tag TEXT NOT NULL,
            PRIMARY KEY (run_id, tag)
        ) WITHOUT ROWID
        """
    )
    db.execute("CREATE INDEX run_tags_by_tag ON run_tags(tag)")


def _v5(db: Connection) -> None:
    """The run's data source as typed, its objective, learning-rate changes as rows, and
    why it made no confusion matrix; best epochs recomputed by the one metric policy."""
    for column in (
        "data_source TEXT",
        "monitor TEXT",
        "monitor_mode TEXT NOT NULL DEFAULT 'auto'",
        "evaluation_skipped TEXT",
    ):
        db.execute(f"ALTER TABLE runs ADD COLUMN {column}")
    db.execute(
        """
        CREATE TABLE lr_changes (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            epoch INTEGER NOT NULL,
            step INTEGER NOT NULL,
            value_before REAL,
            value_after REAL,
            source TEXT NOT NULL,
            error TEXT NOT NULL DEFAULT '',
            recorded_at REAL NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX lr_changes_by_run ON lr_changes(run_id, id)")
    # Earlier versions judged by val_accuracy first and guessed directions by suffix.
    for (run_id,) in db.execute("SELECT id FROM runs").fetchall():
        summary = BestEpoch()
        for epoch, metrics in db.execute(
            "SELECT epoch, metrics FROM epochs WHERE run_id = ? ORDER BY epoch", (run_id,)
        ):
            summary.add(epoch, loads(metrics, {}))
        db.execute(
            "UPDATE runs SET best_metric = ?, best_value = ?, best_epoch = ? WHERE id = ?",
            (summary.metric, summary.value, summary.epoch, run_id),
        )


def _v6_sweeps(db: Connection) -> None:
    """Sweeps (issue 12): a sweep, its trials (each linked to an ordinary run) and its
    history of changes. Additive: runs gain the sweep and trial they belong to."""
    db.execute("ALTER TABLE runs ADD COLUMN sweep_id INTEGER")
    db.execute("ALTER TABLE runs ADD COLUMN trial INTEGER")
    db.execute(
        """
        CREATE TABLE sweeps (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            preset TEXT NOT NULL,
            spec TEXT NOT NULL,
            settings TEXT NOT NULL,
            status TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            study TEXT NOT NULL,
            created_at REAL NOT NULL,
            ended_at REAL,
            pid INTEGER,
            host TEXT,
            process TEXT
        )
        """
    )
    db.execute(
        """
        CREATE TABLE sweep_trials (
            id INTEGER PRIMARY KEY,
            sweep_id INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
            number INTEGER NOT NULL,
            optuna_number INTEGER,
            run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,
            state TEXT NOT NULL,
            params TEXT NOT NULL DEFAULT '{}',
            objective REAL,
            curve TEXT NOT NULL DEFAULT '[]',
            epochs INTEGER NOT NULL DEFAULT 0,
            reason TEXT NOT NULL DEFAULT '',
            pid INTEGER,
            host TEXT,
            process TEXT,
            started_at REAL NOT NULL,
            ended_at REAL
        )
        """
    )
    db.execute("CREATE INDEX sweep_trials_by_sweep ON sweep_trials(sweep_id, number)")
    db.execute(
        """
        CREATE TABLE sweep_changes (
            id INTEGER PRIMARY KEY,
            sweep_id INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
            at REAL NOT NULL,
            change TEXT NOT NULL
        )
        """
    )


def _v7_diverged(db: Connection) -> None:
    """The status ``diverged`` (a loss that became NaN or infinite).

    Only the status column's CHECK list grows, which changes nothing stored: SQLite's
    documented way for that is to edit the table's text in the schema (rebuilding
    ``runs`` would cascade-delete every epoch through the foreign keys). PostgreSQL
    replaces the constraint (named ``runs_status_check`` by the server in v1)."""
    if not isinstance(db, sqlite3.Connection):
        db.execute(
            "ALTER TABLE runs DROP CONSTRAINT runs_status_check, ADD CONSTRAINT"
            " runs_status_check CHECK (status IN ('running', 'finished', 'stopped', 'failed',"
            " 'interrupted', 'diverged'))"
        )
        return
    (sql,) = db.execute(
        "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'runs'"
    ).fetchone()
    old = "'failed', 'interrupted')"
    if old not in sql:
        raise sqlite3.DatabaseError("the runs table's status check is not the one ktui wrote")
    (schema_version,) = db.execute("PRAGMA schema_version").fetchone()
    db.execute("PRAGMA writable_schema = ON")
    try:
        db.execute(
            "UPDATE sqlite_schema SET sql = ? WHERE type = 'table' AND name = 'runs'",
            (sql.replace(old, "'failed', 'interrupted', 'diverged')"),),
        )
        # Tell every connection the schema changed, so none keeps the old check.
        db.execute(f"PRAGMA schema_version = {int(schema_version) + 1}")
    finally:
        db.execute("PRAGMA writable_schema = OFF")


def _v8_list_indexes(db: Connection) -> None:
    """Indexes in the runs screen's sort orders, so a page of 100,000 runs is read
    from an index instead of sorting them all (every sort but duration; ``started``
    uses ``runs_by_start``).

    Each has the id in the tiebreak direction (newest first within a key), so one
    index serves both directions: reversed, SQLite walks it backwards. The best sort
    gets a column, ``best_rank``: the best value oriented by the run's metric policy
    (smaller is better), kept by :meth:`RunStore.add_epoch` and filled here, in Python
    (the policy is :mod:`ktui.core.metrics`'s; no database function to register).
    """
    db.execute("ALTER TABLE runs ADD COLUMN best_rank REAL")
    rows = db.execute(
        "SELECT id, best_metric, best_value, monitor, monitor_mode FROM runs"
        " WHERE best_metric IS NOT NULL AND best_value IS NOT NULL"
    ).fetchall()
    db.executemany(
        "UPDATE runs SET best_rank = ? WHERE id = ?",
        [
            (value if policy_of(monitor, mode).lower_is_better(metric) else -value, run_id)
            for run_id, metric, value, monitor, mode in rows
        ],
    )
    db.execute("CREATE INDEX IF NOT EXISTS runs_by_preset_page ON runs(preset, id DESC)")
    db.execute("CREATE INDEX IF NOT EXISTS runs_by_status_page ON runs(status, id DESC)")
    db.execute("CREATE INDEX IF NOT EXISTS runs_by_best ON runs(best_rank, id DESC)")
    db.execute("CREATE INDEX IF NOT EXISTS runs_by_test_error ON runs((-test_accuracy), id DESC)")
    db.execute("CREATE INDEX IF NOT EXISTS runs_by_epochs ON runs(epochs_done)")
    db.execute("CREATE INDEX IF NOT EXISTS runs_by_metric ON runs(best_metric)")
    db.execute("CREATE INDEX IF NOT EXISTS runs_by_values ON runs(hyperparameters, id DESC)")
    # The ids alone: skipping 100,000 of them to a deep page reads 1 MB, not the table.
    db.execute("CREATE INDEX IF NOT EXISTS runs_by_id ON runs(id)")


def _v9_system(db: Connection) -> None:
    """What the machine did while a run trained, and how long its steps waited for data
    (written and read by :mod:`ktui.store.system`)."""
    db.execute(
        """
        CREATE TABLE system_samples (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            time REAL NOT NULL,
            process_cpu REAL,
            process_rss INTEGER,
            machine_cpu REAL,
            memory_available INTEGER,
            memory_total INTEGER,
            gpus TEXT NOT NULL DEFAULT '[]',
            gpu_note TEXT,
            device_memory INTEGER,
            device_memory_peak INTEGER
        )
        """
    )
    # An attached dashboard reads the samples after the last one it has.
    db.execute("CREATE INDEX system_samples_run ON system_samples(run_id, time)")
    db.execute(
        """
        CREATE TABLE step_timings (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            epoch INTEGER NOT NULL,
            steps INTEGER NOT NULL,
            compute REAL NOT NULL,
            between_steps REAL NOT NULL,
            waiting_inside REAL NOT NULL,
            PRIMARY KEY (run_id, epoch)
        )
        """
    )


def _v11_placement(db: Connection) -> None:
    """Where a run ran (its strategy, hosts, devices and replicas, as JSON) and every
    worker's last report of a multi-worker run (written and read by
    :mod:`ktui.store.placement`). Additive: older runs have ``'{}'`` and no workers."""
    db.execute("ALTER TABLE runs ADD COLUMN placement TEXT NOT NULL DEFAULT '{}'")
    db.execute(
        """
        CREATE TABLE workers (
            cluster TEXT NOT NULL,
            rank INTEGER NOT NULL,
            host TEXT NOT NULL DEFAULT '',
            pid INTEGER NOT NULL DEFAULT 0,
            phase TEXT NOT NULL DEFAULT '',
            epoch INTEGER NOT NULL DEFAULT 0,
            step INTEGER NOT NULL DEFAULT 0,
            updated_at REAL NOT NULL,
            PRIMARY KEY (cluster, rank)
        ) WITHOUT ROWID
        """
    )


def _v10_sweep_workers(db: Connection) -> None:
    """Which worker runs a sweep's trial, and whether it is still there (issue 14):
    the GPU its worker was given (``CUDA_VISIBLE_DEVICES``) and the worker's latest
    heartbeat, by which a trial of another host is judged (its pid cannot be)."""
    db.execute("ALTER TABLE sweep_trials ADD COLUMN device TEXT")
    db.execute("ALTER TABLE sweep_trials ADD COLUMN heartbeat_at REAL")


def _widen_status_check(db: Connection, old: str, new: str, statuses: tuple[str, ...]) -> None:
    """Let the runs table's status CHECK take ``statuses``, in place, as :func:`_v7_diverged`
    does: on SQLite ``old`` becomes ``new`` in the table's text, on PostgreSQL the
    constraint is replaced."""
    if not isinstance(db, sqlite3.Connection):
        listed = ", ".join(f"'{status}'" for status in statuses)
        db.execute(
            "ALTER TABLE runs DROP CONSTRAINT runs_status_check, ADD CONSTRAINT"
            f" runs_status_check CHECK (status IN ({listed}))"
        )
        return
    (sql,) = db.execute(
        "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'runs'"
    ).fetchone()
    if old not in sql:
        raise sqlite3.DatabaseError("the runs table's status check is not the one ktui wrote")
    (schema_version,) = db.execute("PRAGMA schema_version").fetchone()
    db.execute("PRAGMA writable_schema = ON")
    try:
        db.execute(
            "UPDATE sqlite_schema SET sql = ? WHERE type = 'table' AND name = 'runs'",
            (sql.replace(old, new),),
        )
        # Tell every connection the schema changed, so none keeps the old check.
        db.execute(f"PRAGMA schema_version = {int(schema_version) + 1}")
    finally:
        db.execute("PRAGMA writable_schema = OFF")


def _v12_pruned(db: Connection) -> None:
    """The status ``pruned``: a sweep's trial whose run its pruner stopped (such runs
    were recorded ``stopped`` before; the sweep's trials say which, so they become
    ``pruned`` here, with the pruner's reason as the run's error)."""
    _widen_status_check(
        db,
        "'interrupted', 'diverged')",
        "'interrupted', 'diverged', 'pruned')",
        ("running", "finished", "stopped", "failed", "interrupted", "diverged", "pruned"),
    )
    db.execute(
        "UPDATE runs SET status = 'pruned', error = COALESCE(error, (SELECT reason FROM"
        " sweep_trials WHERE sweep_trials.run_id = runs.id AND state = 'pruned' LIMIT 1))"
        " WHERE status = 'stopped' AND id IN (SELECT run_id FROM sweep_trials"
        " WHERE state = 'pruned' AND run_id IS NOT NULL)"
    )


#: How many characters of a run's hyperparameters text the values sort orders by (and
#: its index holds): PostgreSQL's btree refuses an index row over ~2.7 KB, and 256
#: characters are at most 1 KB in UTF-8. ``db.py``'s ``_ORDERS`` spells the same.
VALUES_PREFIX = 256


def _v13_bounded_values_index(db: Connection) -> None:
    """The values sort's index holds the hyperparameters text's first
    :data:`VALUES_PREFIX` characters, not all of it: on PostgreSQL a run whose values
    were longer than a btree row (~2.7 KB, e.g. a long list or a path) could not be
    recorded. Runs whose first characters agree are ordered newest first."""
    db.execute("DROP INDEX IF EXISTS runs_by_values")
    db.execute(
        "CREATE INDEX runs_by_values ON runs"
        f"(substr(hyperparameters, 1, {VALUES_PREFIX}), id DESC)"
    )


def _v14_sweep_heartbeat(db: Connection) -> None:
    """The heartbeat of a sweep's coordinator (the detached sweep process), written every
    few seconds as its workers' are: another host tells a sweep that is going from one
    whose coordinator died by it, not by whether a trial happens to be running."""
    db.execute("ALTER TABLE sweeps ADD COLUMN heartbeat_at REAL")


MIGRATIONS: tuple[Migration, ...] = (
    _v1,
    _v2,
    _v3,
    _v4_tags_and_notes,
    _v5,
    _v6_sweeps,
    _v7_diverged,
    _v8_list_indexes,
    _v9_system,
    _v10_sweep_workers,
    _v11_placement,
    _v12_pruned,
    _v13_bounded_values_index,
    _v14_sweep_heartbeat,
)
"""``MIGRATIONS[n]`` takes a store from version ``n`` to ``n + 1``; never edit a released one."""

assert len(MIGRATIONS) == SCHEMA_VERSION
