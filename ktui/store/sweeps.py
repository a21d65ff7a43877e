"""Sweeps in the run store: a sweep, its trials and its history of changes.

Each trial is an ordinary run (``runs.sweep_id`` and ``runs.trial`` say which sweep
and trial it is); its row in ``sweep_trials`` adds what only the sweep knows: the
trial's number in the budget ("trial 7 of 20"), its state (``pruned`` is a sweep's
word too: its run ends ``pruned``), its objective per epoch and why it was pruned.

Worker processes take trials with :meth:`SweepStore.claim_trial`, one short write
transaction that holds the sweep's row first (SQLite's ``BEGIN IMMEDIATE`` holds the
file; on PostgreSQL an UPDATE of the row locks it), so two workers — of one host or
of several — never take the same slot of the budget and the budget is never
overrun. A trial whose worker died is ``interrupted`` and frees its slot
(:meth:`SweepStore.interrupt_dead`), so the sweep re-queues it: a worker of this
host is judged by its pid (at once), one of another host by its heartbeat
(:meth:`SweepStore.heartbeat`, written every few seconds while it trains), which
must not be older than :func:`~ktui.core.workers.heartbeat_timeout`.

Plain Python and the store's connection (SQLite or PostgreSQL); the search engine's
own tables (Optuna's) live in a file of their own beside an SQLite store
(:func:`optuna_path`), in the same database for a PostgreSQL one (:func:`optuna_url`).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from ktui.core.errors import KtuiError, StoreError
from ktui.core.format import format_seconds
from ktui.core.paths import data_dir
from ktui.core.store_url import DatabaseUrl, StoreLocation
from ktui.core.sweep import (
    FAILURES_TO_PAUSE,
    ParamSpec,
    SweepSettings,
    SweepSpec,
    SweepStatus,
    TrialRow,
    TrialState,
    format_param,
)
from ktui.core.workers import heartbeat_timeout, worker_label
from ktui.store.db import RunStore
from ktui.store.liveness import process_alive, process_token, this_host
from ktui.store.rows import loads

#: Trial states that end a trial (it will not change again).
ENDED: tuple[TrialState, ...] = ("finished", "pruned", "failed", "stopped", "interrupted")


def optuna_path(store: StoreLocation) -> Path:
    """Optuna's SQLite file for the sweeps of an SQLite ``store``: ``runs.optuna.sqlite``
    beside ``runs.sqlite``. A file of its own: Optuna creates and migrates its own
    tables, which must not change the run store's schema. (A PostgreSQL store keeps
    the study in its own database, :func:`optuna_url`; this host's lock file for it
    goes in this host's folder for that database.)"""
    if isinstance(store, DatabaseUrl):
        return data_dir() / "postgres" / store.folder_name / "runs.optuna.sqlite"
    return store.with_name(f"{store.stem}.optuna.sqlite")


def optuna_url(store: DatabaseUrl) -> str:
    """The SQLAlchemy URL of a PostgreSQL store's database for Optuna's RDB storage,
    through psycopg 3 (``postgresql+psycopg://``, the driver the store uses): Optuna's
    tables (``studies``, ``trials``, ...) sit beside ktui's, so a worker on any host
    that reaches the store reaches the study too."""
    _, rest = store.url.split("://", 1)
    return f"postgresql+psycopg://{rest}"


def _locked_sweep(db: Any, sweep_id: int, columns: str) -> Any:
    """The sweep's ``columns`` (its row, or ``None`` when there is no such sweep),
    read with the row held until the transaction ends, so two workers that take
    trials at once queue here instead of both seeing the same slot free. (SQLite's
    ``BEGIN IMMEDIATE`` holds the whole file already; PostgreSQL's ``READ COMMITTED``
    needs the row lock an UPDATE takes, and the SELECT after it then sees what the
    other committed.)"""
    db.execute("UPDATE sweeps SET status = status WHERE id = ?", (sweep_id,))
    return db.execute(f"SELECT {columns} FROM sweeps WHERE id = ?", (sweep_id,)).fetchone()


@dataclass(frozen=True)
class SweepRecord:
    """A sweep as recorded."""

    id: int
    spec: SweepSpec
    status: SweepStatus
    reason: str
    study: str
    """The Optuna study's name in :func:`optuna_path`."""
    created_at: float
    ended_at: float | None
    pid: int | None
    host: str | None
    process: str | None
    heartbeat_at: float | None = None
    """When its coordinator last wrote that it is there (Unix time; None: never)."""

    @property
    def settings(self) -> SweepSettings:
        """The sweep's settings (trials, workers, sampler, pruner, objective)."""
        return self.spec.settings

    @property
    def preset(self) -> str:
        """The swept preset's name."""
        return self.spec.preset


@dataclass(frozen=True)
class TrialRecord(TrialRow):
    """A trial row with what the orchestration needs besides the leaderboard."""

    id: int = 0
    optuna_number: int | None = None
    pid: int | None = None
    host: str | None = None
    process: str | None = None
    device: str | None = None
    """The GPU(s) its worker was given (``CUDA_VISIBLE_DEVICES``), if any."""
    heartbeat_at: float | None = None
    """When its worker last said it is still there."""


@dataclass(frozen=True)
class Claim:
    """A slot of the budget taken by a worker."""

    id: int
    number: int
    rerun: dict[str, Any] | None = None
    """Hyperparameters to try in this slot, when it re-runs a trial (see
    :meth:`SweepStore.rerun_trial`): the worker gives them to the study first."""


#: The key of the sweep's spec (JSON) holding re-runs not yet taken by a worker.
RERUNS = "reruns"


_TRIAL_COLUMNS = (
    "number, state, params, objective, epochs, run_id, reason, started_at, ended_at, curve,"
    " id, optuna_number, pid, host, process, device, heartbeat_at"
)
_SWEEP_COLUMNS = (
    "id, spec, settings, status, reason, study, created_at, ended_at, pid, host, process,"
    " heartbeat_at"
)


def _trial(row: tuple[Any, ...], planned: int | None = None) -> TrialRecord:
    return TrialRecord(
        number=int(row[0]),
        state=cast(TrialState, row[1]),
        params=json.loads(row[2] or "{}"),
        objective=row[3],
        epochs=int(row[4] or 0),
        epochs_planned=planned,
        run_id=row[5],
        reason=row[6] or "",
        started_at=row[7],
        ended_at=row[8],
        curve=tuple(float(v) for v in json.loads(row[9] or "[]")),
        id=int(row[10]),
        optuna_number=row[11],
        pid=row[12],
        host=row[13],
        process=row[14],
        device=row[15],
        heartbeat_at=row[16],
        worker=worker_label(row[13], row[12], row[15]),
    )


def _sweep(row: tuple[Any, ...]) -> SweepRecord:
    return SweepRecord(
        id=int(row[0]),
        spec=SweepSpec.from_json(json.loads(row[1]), json.loads(row[2])),
        status=cast(SweepStatus, row[3]),
        reason=row[4] or "",
        study=row[5],
        created_at=float(row[6]),
        ended_at=row[7],
        pid=row[8],
        host=row[9],
        process=row[10],
        heartbeat_at=row[11],
    )


class SweepStore:
    """The sweeps of one open :class:`RunStore` (sharing its connection and its lock)."""

    def __init__(self, runs: RunStore) -> None:
        self.runs = runs

    # -- sweeps ---------------------------------------------------------------------
    def create_sweep(self, spec: SweepSpec, *, pid: int | None = None) -> int:
        """Record a new sweep, status ``running``; returns its id."""
        pid = os.getpid() if pid is None else pid
        with self.runs._write("record a new sweep") as db:
            cursor = db.execute(
                "INSERT INTO sweeps (preset, spec, settings, status, study, created_at, pid,"
                " host, process) VALUES (?, ?, ?, 'running', '', ?, ?, ?, ?)",
                (
                    spec.preset,
                    json.dumps(spec.to_json()),
                    json.dumps(spec.settings.to_json()),
                    time.time(),
                    pid,
                    this_host(),
                    process_token(pid),
                ),
            )
            sweep_id = int(cursor.lastrowid or 0)
            db.execute(
                "UPDATE sweeps SET study = ? WHERE id = ?", (f"ktui-sweep-{sweep_id}", sweep_id)
            )
            params = " ".join(p.describe() for p in spec.params)
            s = spec.settings
            budget = "" if s.time_budget is None else f", time {format_seconds(s.time_budget)}"
            self._change(
                db,
                sweep_id,
                f"created: {params}; {'no set number of' if s.trials is None else s.trials} "
                f"trials{budget}, {s.workers} worker(s), sampler "
                f"{s.sampler}, pruner {s.pruner}, objective {s.objective} ({s.direction})",
            )
        return sweep_id

    def get(self, sweep_id: int) -> SweepRecord:
        """One sweep; a :class:`StoreError` names the known ones otherwise."""
        with self.runs._read(f"read sweep {sweep_id}") as db:
            row = db.execute(
                f"SELECT {_SWEEP_COLUMNS} FROM sweeps WHERE id = ?", (sweep_id,)
            ).fetchone()
        if row is None:
            raise StoreError(
                f"no sweep {sweep_id} in {self.runs.path}",
                hint="`ktui sweeps` lists the sweeps of this store.",
            )
        return _sweep(row)

    def all(self) -> list[SweepRecord]:
        """Every sweep, newest first."""
        with self.runs._read("list the sweeps") as db:
            rows = db.execute(f"SELECT {_SWEEP_COLUMNS} FROM sweeps ORDER BY id DESC").fetchall()
        return [_sweep(r) for r in rows]

    def set_status(
        self, sweep_id: int, status: SweepStatus, reason: str = "", *, change: str | None = None
    ) -> None:
        """Change a sweep's status (with why), recorded in its history of changes."""
        ended = status in ("stopped", "finished", "interrupted")
        with self.runs._write(f"change the status of sweep {sweep_id}") as db:
            db.execute(
                "UPDATE sweeps SET status = ?, reason = ?, ended_at = ? WHERE id = ?",
                (status, reason, time.time() if ended else None, sweep_id),
            )
            self._change(db, sweep_id, change or f"{status}" + (f": {reason}" if reason else ""))

    def set_trials(self, sweep_id: int, trials: int) -> None:
        """Change the sweep's budget (applied to trials not yet started), recorded in its
        history; a finished sweep given more trials runs again."""
        with self.runs._write(f"change sweep {sweep_id}") as db:
            row = _locked_sweep(db, sweep_id, "settings, status")
            if row is None:
                raise StoreError(f"no sweep {sweep_id} in {self.runs.path}")
            settings = json.loads(row[0])
            before = settings.get("trials")  # None: a time-only sweep
            taken = int(
                db.execute(
                    "SELECT count(DISTINCT number) FROM sweep_trials"
                    " WHERE sweep_id = ? AND state != 'interrupted'",
                    (sweep_id,),
                ).fetchone()[0]
            )
            if trials < taken:
                raise StoreError(
                    f"sweep {sweep_id} has started {taken} trials already; "
                    f"it cannot have only {trials}",
                    hint=f"Give it at least {taken} (or stop it: `ktui sweeps stop {sweep_id}`).",
                )
            settings["trials"] = trials
            db.execute(
                "UPDATE sweeps SET settings = ? WHERE id = ?", (json.dumps(settings), sweep_id)
            )
            if row[1] == "finished" and trials > taken:
                db.execute(
                    "UPDATE sweeps SET status = 'paused', reason = ?, ended_at = NULL WHERE id = ?",
                    (
                        f"more trials were added: `ktui sweeps resume {sweep_id}` runs them",
                        sweep_id,
                    ),
                )
            shown = "as many as the time allows" if before is None else before
            self._change(db, sweep_id, f"trials {shown} → {trials}")

    def set_time(self, sweep_id: int, seconds: float, *, add: bool = False) -> float:
        """Change the sweep's time budget (counted from its start), recorded in its
        history; with ``add``, give it ``seconds`` more: after its current budget, or
        after now when that is spent (or it had none). A sweep that finished when its
        time was spent runs again, paused until resumed. Returns the new budget."""
        if not (math.isfinite(seconds) and seconds > 0):
            raise KtuiError(f"--time: a time budget must be above 0, got {seconds!r}")
        with self.runs._write(f"change sweep {sweep_id}") as db:
            row = _locked_sweep(db, sweep_id, "settings, status, created_at")
            if row is None:
                raise StoreError(f"no sweep {sweep_id} in {self.runs.path}")
            settings = json.loads(row[0])
            before = settings.get("time_budget")
            created = float(row[2])
            if add:
                elapsed = time.time() - created
                base = max(float(before), elapsed) if before is not None else elapsed
                budget = base + seconds
            else:
                budget = seconds
            settings["time_budget"] = budget
            db.execute(
                "UPDATE sweeps SET settings = ? WHERE id = ?", (json.dumps(settings), sweep_id)
            )
            counted = SweepSettings.from_json(settings)
            taken = int(
                db.execute(
                    "SELECT count(DISTINCT number) FROM sweep_trials"
                    " WHERE sweep_id = ? AND state != 'interrupted'",
                    (sweep_id,),
                ).fetchone()[0]
            )
            more = not counted.time_spent(created, time.time()) and (
                counted.trials is None or counted.trials > taken
            )
            if row[1] == "finished" and more:
                db.execute(
                    "UPDATE sweeps SET status = 'paused', reason = ?, ended_at = NULL WHERE id = ?",
                    (f"more time was added: `ktui sweeps resume {sweep_id}` runs it", sweep_id),
                )
            shown = "none" if before is None else format_seconds(float(before))
            self._change(db, sweep_id, f"time budget {shown} → {format_seconds(budget)}")
        return budget

    def set_workers(self, sweep_id: int, workers: int) -> None:
        """Change how many worker processes the sweep's coordinator keeps going
        (it starts or retires them between trials), recorded in the sweep's history."""
        if workers < 1:
            raise KtuiError(
                f"--workers {workers}: a sweep needs at least 1 worker",
                hint=f"To start no new trials, pause it: `ktui sweeps pause {sweep_id}`.",
            )
        with self.runs._write(f"change sweep {sweep_id}") as db:
            row = _locked_sweep(db, sweep_id, "settings")
            if row is None:
                raise StoreError(f"no sweep {sweep_id} in {self.runs.path}")
            settings = json.loads(row[0])
            before = int(settings.get("workers", 1))
            settings["workers"] = workers
            db.execute(
                "UPDATE sweeps SET settings = ? WHERE id = ?", (json.dumps(settings), sweep_id)
            )
            self._change(db, sweep_id, f"workers {before} → {workers}")

    def adopt(self, sweep_id: int, pid: int) -> None:
        """Make process ``pid`` (of this host) the sweep's coordinator."""
        with self.runs._write(f"record sweep {sweep_id}'s process") as db:
            db.execute(
                "UPDATE sweeps SET pid = ?, host = ?, process = ?, heartbeat_at = ? WHERE id = ?",
                (pid, this_host(), process_token(pid), time.time(), sweep_id),
            )

    def coordinator_beat(self, sweep_id: int) -> None:
        """The sweep's coordinator is still there (it calls this every
        :func:`~ktui.core.workers.heartbeat_interval` seconds)."""
        with self.runs._write(f"record the heartbeat of sweep {sweep_id}") as db:
            db.execute("UPDATE sweeps SET heartbeat_at = ? WHERE id = ?", (time.time(), sweep_id))

    def coordinator_alive(
        self, sweep: SweepRecord, *, timeout: float | None = None, now: float | None = None
    ) -> bool:
        """Whether the sweep's coordinating process still runs: by its process on this
        host, by its heartbeat (at most ``timeout`` seconds old, default
        :func:`heartbeat_timeout`) on another."""
        if sweep.pid is None:
            return False
        if sweep.host == this_host():
            return process_alive(sweep.pid, sweep.process)
        if sweep.heartbeat_at is None:
            return False
        timeout = heartbeat_timeout() if timeout is None else timeout
        return (time.time() if now is None else now) - sweep.heartbeat_at <= timeout

    def shown_status(self, sweep: SweepRecord) -> str:
        """The sweep's status as people see it: a ``running`` sweep whose processes are
        all gone (killed, a reboot) is ``interrupted``."""
        if sweep.status == "running" and not self.coordinator_alive(sweep):
            # A trial of another host is going while its heartbeat is fresh.
            going = [t for t in self.trials(sweep.id) if t.state == "running" and trial_alive(t)]
            if not going:
                return "interrupted"
        return sweep.status

    def changes(self, sweep_id: int) -> list[tuple[float, str]]:
        """The sweep's history of changes, oldest first."""
        with self.runs._read(f"read sweep {sweep_id}'s history") as db:
            rows = db.execute(
                "SELECT at, change FROM sweep_changes WHERE sweep_id = ? ORDER BY id",
                (sweep_id,),
            ).fetchall()
        return [(float(at), str(text)) for at, text in rows]

    def add_change(self, sweep_id: int, text: str) -> None:
        """Record a line in the sweep's history of changes."""
        with self.runs._write(f"record a change of sweep {sweep_id}") as db:
            self._change(db, sweep_id, text)

    @staticmethod
    def _change(db: Any, sweep_id: int, text: str) -> None:
        db.execute(
            "INSERT INTO sweep_changes (sweep_id, at, change) VALUES (?, ?, ?)",
            (sweep_id, time.time(), text),
        )

    def change_param(self, sweep_id: int, param: ParamSpec) -> str:
        """Replace how the swept hyperparameter ``param.name`` varies, for the trials not
        started yet; recorded in the history. Returns the change in words.

        The caller checks ``param`` against the preset (:func:`ktui.core.sweep.parse_param`);
        here the sweep's own rules: the hyperparameter must be swept already, with the
        same kind (a range stays a range, a list a list) and scale, and not by the grid
        sampler (its grid is fixed when the study starts).
        """
        with self.runs._write(f"change sweep {sweep_id}") as db:
            row = db.execute(
                "SELECT spec, settings, status FROM sweeps WHERE id = ?", (sweep_id,)
            ).fetchone()
            if row is None:
                raise StoreError(f"no sweep {sweep_id} in {self.runs.path}")
            raw = json.loads(row[0])
            spec = SweepSpec.from_json(raw, json.loads(row[1]))
            change = spec.changed_param(param, sweep_id)  # raises with what to do
            raw["params"] = [p.to_json() for p in change.params]
            db.execute("UPDATE sweeps SET spec = ? WHERE id = ?", (json.dumps(raw), sweep_id))
            self._change(db, sweep_id, change.text)
        return change.text

    def rerun_trial(self, sweep_id: int, number: int) -> str:
        """Try trial ``number``'s hyperparameters again, as one more trial of the budget
        (the next worker to take a slot gives them to the study with
        ``enqueue_trial``); recorded in the history. Returns the change in words."""
        with self.runs._write(f"re-run trial {number} of sweep {sweep_id}") as db:
            row = db.execute(
                "SELECT spec, settings, status FROM sweeps WHERE id = ?", (sweep_id,)
            ).fetchone()
            if row is None:
                raise StoreError(f"no sweep {sweep_id} in {self.runs.path}")
            found = db.execute(
                "SELECT params FROM sweep_trials WHERE sweep_id = ? AND number = ?"
                " AND params IS NOT NULL ORDER BY id DESC LIMIT 1",
                (sweep_id, number),
            ).fetchone()
            if found is None:
                raise StoreError(
                    f"trial {number} of sweep {sweep_id} has not started, so it has no "
                    "values to re-run",
                    hint=f"`ktui sweeps show {sweep_id}` lists the trials that have.",
                )
            params = json.loads(found[0] or "{}")
            raw = json.loads(row[0])
            spec = SweepSpec.from_json(raw, json.loads(row[1]))
            spec.check_rerun(params, number, sweep_id)  # a choice dropped since: refused
            raw[RERUNS] = [*raw.get(RERUNS, []), params]
            settings = json.loads(row[1])
            counted = settings.get("trials") is not None
            # A time-only sweep has no number of trials to raise: the re-run is its next.
            before = int(settings["trials"]) if counted else 0
            if counted:
                settings["trials"] = before + 1
            db.execute(
                "UPDATE sweeps SET spec = ?, settings = ? WHERE id = ?",
                (json.dumps(raw), json.dumps(settings), sweep_id),
            )
            if row[2] == "finished":
                db.execute(
                    "UPDATE sweeps SET status = 'paused', reason = ?, ended_at = NULL WHERE id = ?",
                    (f"a trial was added: `ktui sweeps resume {sweep_id}` runs it", sweep_id),
                )
            shown = " ".join(f"{k}={format_param(v)}" for k, v in params.items())
            text = f"trial {number} re-run with the same values ({shown})" + (
                f"; trials {before} → {before + 1}" if counted else ""
            )
            self._change(db, sweep_id, text)
        return text

    def stop_trial(self, sweep_id: int, number: int) -> int:
        """Stop trial ``number`` after its current batch (the sweep goes on: the trial
        ends ``stopped``); recorded in the history. Returns its run's id."""
        with self.runs._read(f"read trial {number} of sweep {sweep_id}") as db:
            row = db.execute(
                "SELECT id, state, run_id FROM sweep_trials WHERE sweep_id = ? AND number = ?"
                " ORDER BY id DESC LIMIT 1",
                (sweep_id, number),
            ).fetchone()
        if row is None or row[1] != "running" or row[2] is None:
            state = "queued" if row is None else str(row[1])
            raise StoreError(
                f"trial {number} of sweep {sweep_id} is {state}, not running; nothing to stop",
                hint=f"Lower the budget instead (`ktui sweeps change {sweep_id} --trials N`)"
                if state == "queued"
                else f"`ktui sweeps rerun-trial {sweep_id} {number}` tries its values again.",
            )
        row_id, _, run_id = row
        self.runs.add_command(int(run_id), "stop")  # a StoreError when it ended meanwhile
        with self.runs._write(f"stop trial {number} of sweep {sweep_id}") as db:
            db.execute(
                "UPDATE sweep_trials SET reason = 'stopped by you'"
                " WHERE id = ? AND state = 'running'",
                (row_id,),
            )
            self._change(db, sweep_id, f"trial {number} (run {run_id}) stopped")
        return int(run_id)

    # -- trials -----------------------------------------------------------------------
    def claim_trial(
        self, sweep_id: int, *, pid: int | None = None, device: str | None = None
    ) -> Claim | None:
        """Take the lowest free slot of the budget for process ``pid`` of this host
        (given GPU ``device``); ``None`` when the sweep is not running or every slot
        is taken."""
        pid = os.getpid() if pid is None else pid
        with self.runs._write(f"take a trial of sweep {sweep_id}") as db:
            row = _locked_sweep(db, sweep_id, "status, settings, spec, created_at")
            if row is None or row[0] != "running":
                return None
            settings = SweepSettings.from_json(json.loads(row[1]))
            now = time.time()
            if settings.time_spent(float(row[3]), now):
                return None  # no new trial after the time budget, on any worker
            taken = {
                int(n)
                for (n,) in db.execute(
                    "SELECT number FROM sweep_trials WHERE sweep_id = ? AND state != 'interrupted'",
                    (sweep_id,),
                )
            }
            # A time-only sweep's next slot is one past the highest (or a lower one an
            # interrupted trial freed).
            trials = settings.trials if settings.trials is not None else len(taken) + 1
            free = [n for n in range(1, trials + 1) if n not in taken]
            if not free:
                return None
            # A re-run waiting for a slot takes this one (in the same transaction, so
            # two workers never take the same re-run). Its values go into the trial's
            # row at once: a worker that dies before it gives them to the study leaves
            # an interrupted trial whose values are re-queued like any other's
            # (:meth:`interrupt_dead`), so the re-run is never lost.
            raw = json.loads(row[2])
            waiting = list(raw.get(RERUNS) or [])
            rerun = None
            if waiting:
                rerun = dict(waiting.pop(0))
                raw[RERUNS] = waiting
                db.execute("UPDATE sweeps SET spec = ? WHERE id = ?", (json.dumps(raw), sweep_id))
            cursor = db.execute(
                "INSERT INTO sweep_trials (sweep_id, number, state, started_at, pid, host,"
                " process, device, heartbeat_at, params)"
                " VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?)",
                (
                    sweep_id,
                    free[0],
                    now,
                    pid,
                    this_host(),
                    process_token(pid),
                    device,
                    now,
                    json.dumps(rerun or {}),
                ),
            )
            return Claim(int(cursor.lastrowid or 0), free[0], rerun)

    def heartbeat(self, claim: Claim) -> bool:
        """The trial's worker is still there. ``False`` when the trial is no longer
        its to run (another host took it for dead and re-queued it): stop training it."""
        with self.runs._write(f"record the heartbeat of trial {claim.number}") as db:
            cursor = db.execute(
                "UPDATE sweep_trials SET heartbeat_at = ? WHERE id = ? AND state = 'running'",
                (time.time(), claim.id),
            )
            return bool(cursor.rowcount)

    def start_trial(
        self,
        claim: Claim,
        sweep_id: int,
        *,
        optuna_number: int,
        params: Mapping[str, Any],
        run_id: int | None,
    ) -> None:
        """Note the trial's hyperparameters and its run (which gets the sweep's id)."""
        with self.runs._write(f"start trial {claim.number} of sweep {sweep_id}") as db:
            db.execute(
                "UPDATE sweep_trials SET optuna_number = ?, params = ?, run_id = ? WHERE id = ?",
                (optuna_number, json.dumps(dict(params)), run_id, claim.id),
            )
            if run_id is not None:
                db.execute(
                    "UPDATE runs SET sweep_id = ?, trial = ? WHERE id = ?",
                    (sweep_id, claim.number, run_id),
                )

    def report_epoch(
        self, claim: Claim, epoch: int, value: float | None, objective: float | None
    ) -> None:
        """An epoch of the trial ended: its objective ``value`` joins the curve, and
        ``objective`` (the best so far) becomes the trial's."""
        with self.runs._write(f"record an epoch of trial {claim.number}") as db:
            row = db.execute("SELECT curve FROM sweep_trials WHERE id = ?", (claim.id,)).fetchone()
            curve = json.loads(row[0] or "[]") if row else []
            if value is not None:
                curve.append(value)
            db.execute(
                "UPDATE sweep_trials SET curve = ?, epochs = ?, objective = ? WHERE id = ?",
                (json.dumps(curve), epoch, objective, claim.id),
            )

    def end_trial(
        self,
        claim: Claim,
        state: TrialState,
        *,
        objective: float | None = None,
        reason: str = "",
        epochs: int | None = None,
    ) -> None:
        """Record how the trial ended (``objective`` and ``epochs`` kept as they were
        when ``None``)."""
        with self.runs._write(f"record the end of trial {claim.number}") as db:
            # A trial stopped by a person keeps the reason recorded then ("stopped by you").
            keep = "CASE WHEN reason != '' THEN reason ELSE ? END" if state == "stopped" else "?"
            db.execute(
                f"UPDATE sweep_trials SET state = ?, reason = {keep}, ended_at = ?,"
                " objective = COALESCE(?, objective), epochs = COALESCE(?, epochs)"
                " WHERE id = ? AND state = 'running'",
                (state, reason, time.time(), objective, epochs, claim.id),
            )

    def trials(self, sweep_id: int) -> list[TrialRecord]:
        """Every trial row of the sweep (interrupted ones included), by number."""
        with self.runs._read(f"read the trials of sweep {sweep_id}") as db:
            rows = db.execute(
                f"SELECT {_TRIAL_COLUMNS}, (SELECT epochs_planned FROM runs"
                " WHERE runs.id = sweep_trials.run_id)"
                " FROM sweep_trials WHERE sweep_id = ? ORDER BY number, id",
                (sweep_id,),
            ).fetchall()
        return [_trial(tuple(r[:-1]), r[-1]) for r in rows]

    def _epoch_metrics(self, sweep_id: int) -> list[tuple[int, dict[str, Any]]]:
        """(run id, metrics) of every epoch of the sweep's trials' runs, in order. Decoded
        here, not in SQL: the store's SQL is the same on SQLite and PostgreSQL."""
        with self.runs._read(f"read the epochs of sweep {sweep_id}") as db:
            rows = db.execute(
                "SELECT e.run_id, e.metrics FROM sweep_trials t JOIN epochs e"
                " ON e.run_id = t.run_id WHERE t.sweep_id = ? ORDER BY e.run_id, e.epoch",
                (sweep_id,),
            ).fetchall()
        return [(int(run_id), loads(metrics, {})) for run_id, metrics in rows]

    def metric_names(self, sweep_id: int) -> list[str]:
        """Every metric the sweep's trials' runs logged in an epoch, sorted."""
        names: set[str] = set()
        for _, metrics in self._epoch_metrics(sweep_id):
            names.update(metrics)
        return sorted(names)

    def metric_curves(self, sweep_id: int, metric: str) -> dict[int, tuple[float, ...]]:
        """Each trial run's ``metric`` per epoch, by run id (one query for the sweep)."""
        curves: dict[int, list[float]] = {}
        for run_id, metrics in self._epoch_metrics(sweep_id):
            value = metrics.get(metric)
            curves.setdefault(run_id, []).append(
                float(value) if isinstance(value, int | float) else math.nan
            )
        return {run_id: tuple(values) for run_id, values in curves.items()}

    def sweep_of_run(self, run_id: int) -> tuple[int, int] | None:
        """(sweep id, trial number) of the sweep whose trial run ``run_id`` is, or None
        for a run of no sweep."""
        with self.runs._read(f"read the sweep of run {run_id}") as db:
            row = db.execute(
                "SELECT sweep_id, trial FROM runs WHERE id = ? AND sweep_id IS NOT NULL",
                (run_id,),
            ).fetchone()
        return None if row is None else (int(row[0]), int(row[1] or 0))

    def failures_in_a_row(self, sweep_id: int) -> int:
        """How many of the latest ended trials failed, counting back to one that did not."""
        count = 0
        with self.runs._read(f"read the trials of sweep {sweep_id}") as db:
            for (state,) in db.execute(
                "SELECT state FROM sweep_trials WHERE sweep_id = ? AND state IN"
                " ('finished', 'pruned', 'failed', 'stopped') ORDER BY ended_at DESC, id DESC",
                (sweep_id,),
            ):
                if state != "failed":
                    break
                count += 1
                if count >= FAILURES_TO_PAUSE:
                    break
        return count

    def interrupt_dead(
        self, sweep_id: int, *, timeout: float | None = None, now: float | None = None
    ) -> list[TrialRecord]:
        """Mark ``running`` trials whose worker is gone as ``interrupted`` (their runs
        too), freeing their slots; returns them, so the caller re-queues them.

        A worker of this host is gone when its process is (the pid and its start
        token); one of another host when its latest heartbeat is more than
        ``timeout`` seconds old (default :func:`heartbeat_timeout`). Every worker and
        the coordinator call this; each trial is marked (and returned) by one of them.
        """
        timeout = heartbeat_timeout() if timeout is None else timeout
        now = time.time() if now is None else now
        here = this_host()
        with self.runs._read(f"read the trials of sweep {sweep_id}") as db:
            rows = db.execute(
                "SELECT id, pid, host, process, run_id, COALESCE(heartbeat_at, started_at)"
                " FROM sweep_trials WHERE sweep_id = ? AND state = 'running'",
                (sweep_id,),
            ).fetchall()
        dead: list[tuple[int, int | None, str]] = []
        for row_id, pid, host, token, run_id, beat in rows:
            if host == here:
                if not process_alive(pid or 0, token):
                    dead.append((int(row_id), None, "its worker process ended mid-trial"))
            elif now - float(beat) > timeout:
                dead.append(
                    (
                        int(row_id),
                        run_id,
                        f"its worker on {host} sent no heartbeat for {now - float(beat):.0f} s"
                        " (the host or the worker died)",
                    )
                )
        if not dead:
            return []
        marked: list[int] = []
        with self.runs._write(f"mark interrupted trials of sweep {sweep_id}") as db:
            for row_id, remote_run, why in dead:
                cursor = db.execute(
                    "UPDATE sweep_trials SET state = 'interrupted', ended_at = ?, reason = ?"
                    " WHERE id = ? AND state = 'running'",
                    (now, f"{why}; re-queued", row_id),
                )
                if not cursor.rowcount:
                    continue  # another worker marked it first
                marked.append(row_id)
                if remote_run is not None:
                    # Its host cannot say so itself: the run ends with its last epoch.
                    db.execute(
                        "UPDATE runs SET status = 'interrupted', ended_at = COALESCE("
                        "(SELECT max(ended_at) FROM epochs WHERE run_id = runs.id), started_at)"
                        " WHERE id = ? AND status = 'running'",
                        (remote_run,),
                    )
        self.runs.mark_interrupted()
        return [t for t in self.trials(sweep_id) if t.id in marked]

    def finish_if_done(self, sweep_id: int) -> bool:
        """Mark a running sweep ``finished`` once every slot is taken and no trial is
        going; returns whether this call did (workers and the coordinator all try)."""
        with self.runs._write(f"finish sweep {sweep_id}") as db:
            row = _locked_sweep(db, sweep_id, "status, settings, created_at")
            if row is None or row[0] != "running":
                return False
            settings = SweepSettings.from_json(json.loads(row[1]))
            taken, going = db.execute(
                "SELECT count(DISTINCT CASE WHEN state != 'interrupted' THEN number END),"
                " count(CASE WHEN state = 'running' THEN 1 END)"
                " FROM sweep_trials WHERE sweep_id = ?",
                (sweep_id,),
            ).fetchone()
            if int(going):
                return False
            spent = settings.time_spent(float(row[2]), time.time())
            if settings.trials is None and not spent:
                return False
            if settings.trials is not None and int(taken) < settings.trials and not spent:
                return False
            db.execute(
                "UPDATE sweeps SET status = 'finished', reason = '', ended_at = ? WHERE id = ?",
                (time.time(), sweep_id),
            )
            self._change(
                db,
                sweep_id,
                f"finished: all {settings.trials} trials ended"
                if settings.trials is not None and int(taken) >= settings.trials
                else f"finished: its time budget was spent after {int(taken)} "
                f"trial{'s' if int(taken) != 1 else ''}",
            )
        return True

    def running_count(self, sweep_id: int) -> int:
        """Trials of the sweep that are going now."""
        with self.runs._read(f"count the trials of sweep {sweep_id}") as db:
            return int(
                db.execute(
                    "SELECT count(*) FROM sweep_trials WHERE sweep_id = ? AND state = 'running'",
                    (sweep_id,),
                ).fetchone()[0]
            )

    def taken_count(self, sweep_id: int) -> int:
        """Slots of the budget a trial has taken (an interrupted one's slot is free)."""
        with self.runs._read(f"count the trials of sweep {sweep_id}") as db:
            return int(
                db.execute(
                    "SELECT count(DISTINCT number) FROM sweep_trials"
                    " WHERE sweep_id = ? AND state != 'interrupted'",
                    (sweep_id,),
                ).fetchone()[0]
            )

    def free_slots(self, sweep: SweepRecord) -> int:
        """Slots of the budget no trial has taken yet."""
        with self.runs._read(f"count the trials of sweep {sweep.id}") as db:
            taken = int(
                db.execute(
                    "SELECT count(DISTINCT number) FROM sweep_trials"
                    " WHERE sweep_id = ? AND state != 'interrupted'",
                    (sweep.id,),
                ).fetchone()[0]
            )
        s = sweep.settings
        if s.time_spent(sweep.created_at, time.time()):
            return 0
        if s.trials is None:
            # A time-only sweep: as many as its workers can start now.
            return s.workers
        return max(0, s.trials - taken)


def trial_alive(
    trial: TrialRecord, *, timeout: float | None = None, now: float | None = None
) -> bool:
    """Is the worker of a ``running`` trial still there? By its process on this host,
    by its heartbeat on another (see :meth:`SweepStore.interrupt_dead`)."""
    if trial.host == this_host():
        return trial.pid is not None and process_alive(trial.pid, trial.process)
    beat = trial.heartbeat_at if trial.heartbeat_at is not None else trial.started_at
    timeout = heartbeat_timeout() if timeout is None else timeout
    return beat is not None and (time.time() if now is None else now) - beat <= timeout


def leaderboard_rows(sweep: SweepRecord, trials: list[TrialRecord]) -> list[TrialRow]:
    """The trials to show: one row per slot of the budget (its latest attempt; a slot
    no trial took yet is ``queued``)."""
    latest: dict[int, TrialRecord] = {}
    for trial in trials:
        current = latest.get(trial.number)
        if current is None or current.state == "interrupted":
            latest[trial.number] = trial
    rows: list[TrialRow] = list(latest.values())
    # A time-only sweep has no queued slots: its next trial is numbered when it starts.
    for number in range(1, (sweep.settings.trials or 0) + 1):
        if number not in latest:
            rows.append(TrialRow(number=number, state="queued"))
    return rows


def require_sweep(store: SweepStore, text: str) -> SweepRecord:
    """The sweep a person named on the command line (``ktui sweeps show 3``)."""
    try:
        sweep_id = int(text)
    except ValueError:
        raise StoreError(
            f"{text!r} is not a sweep id", hint="`ktui sweeps` lists the sweeps and their ids."
        ) from None
    return store.get(sweep_id)
