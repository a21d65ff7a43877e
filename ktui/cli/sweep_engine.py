"""The search engine behind ``ktui sweep``: Optuna's study, samplers and pruners, and
the worker process that trains trials as ordinary ktui runs.

Optuna keeps its study (through ``RDBStorage``) in an SQLite file of its own beside
an SQLite run store (:func:`ktui.store.sweeps.optuna_path`), or in the same database
as a PostgreSQL one (:func:`ktui.store.sweeps.optuna_url`), so every worker process
of a sweep, on this host or another, shares one study. ktui's store says which slot
of the budget a trial holds and how it ended; Optuna's says what was sampled and
reported.

A worker (``ktui sweep-worker ID``, started by the sweep's coordinator, or
``ktui sweeps worker ID`` started by a person on any host) loops: re-queue the trials
of workers that died, take a free slot
(:meth:`~ktui.store.sweeps.SweepStore.claim_trial`), ask the study for
hyperparameters, train them as a run (:func:`train_trial`), report the objective at
every epoch end and stop the run cleanly after that epoch when the pruner says so,
tell the study the outcome. When every slot is taken but trials still run elsewhere
it waits (one of them may die and be re-queued); it ends when the sweep is done,
paused or stopped. TensorFlow is loaded once per worker.

Threads: a heartbeat thread writes the current trial's heartbeat every few seconds
(:func:`~ktui.core.workers.heartbeat_interval`) through a connection of its own, so
other hosts can tell the worker is alive; it stops the run when the trial was taken
for dead meanwhile. Signals (main thread): SIGUSR1 retires the worker after its
trial (the coordinator's way to run fewer workers); SIGINT or SIGTERM stop the trial
now, recorded ``interrupted`` and re-queued; a second one quits at once.

Optuna's ``ask`` takes a trial atomically in its RDB storage: creating a trial locks
the study's row (``SELECT ... FOR UPDATE``, retried on deadlock) and popping an
enqueued one locks that trial's row and refuses one that is no longer waiting. On
PostgreSQL those are real row locks; SQLite ignores ``FOR UPDATE`` and may answer a
read-then-write transaction with "database is locked" rather than wait, so the
workers of one host take turns at the study's file through a file lock
(:func:`study_lock`).
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast

from ktui.core import backends
from ktui.core.capture import STDERR
from ktui.core.controls import RunControls
from ktui.core.errors import KtuiError
from ktui.core.events import EpochEnded, Event, LogLine, RunFailed, RunFinished
from ktui.core.paths import logs_dir
from ktui.core.presets import Preset, PresetCatalog, RunConfig
from ktui.core.store_url import DatabaseUrl, StoreLocation
from ktui.core.sweep import FAILURES_TO_PAUSE, ParamSpec, prune_reason, trial_progress
from ktui.core.trainer import Trainer
from ktui.core.workers import (
    heartbeat_interval,
    heartbeat_timeout,
    worker_device,
    worker_label,
)
from ktui.runs import RecordedRun, record_run
from ktui.store import RunStore
from ktui.store.liveness import this_host
from ktui.store.sweeps import (
    Claim,
    SweepRecord,
    SweepStore,
    TrialRecord,
    optuna_path,
    optuna_url,
)

if TYPE_CHECKING:
    import optuna

#: Seconds a worker waits for Optuna's SQLite file when another worker writes to it.
OPTUNA_BUSY_TIMEOUT = 60

#: Seconds a worker waits to connect to a PostgreSQL store's server for the study.
OPTUNA_CONNECT_TIMEOUT = 10

#: The median pruner judges a trial only once this many trials have completed, and
#: never at the first epoch (one epoch says little about where a curve goes):
#: Optuna prunes from step n_warmup_steps on, and ktui reports epochs from 1.
MEDIAN_STARTUP_TRIALS = 2
MEDIAN_WARMUP_EPOCHS = 2

#: Times a worker tries to open the sweep's study when another creates it meanwhile.
STUDY_ATTEMPTS = 4

#: Seconds between two looks at the sweep while a worker waits for trials that run
#: elsewhere to end (or to be re-queued, when their worker died).
WAIT_POLL = 1.0

#: Set (to anything) in a worker's environment, it kills itself right after taking a
#: slot that re-runs a trial, before it gives the values to the study: the tests'
#: way to stop a worker at exactly that point (tests/test_sweep_worker.py).
TEST_DIE_AFTER_CLAIM = "KTUI_TEST_DIE_AFTER_RERUN_CLAIM"


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise KtuiError(
            "sweeps need the optuna package, which is not installed",
            hint="Install it with `pip install optuna` (or `pip install 'ktui[sweep]'`).",
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def check_optuna() -> None:
    """Refuse a sweep before anything starts when Optuna is missing."""
    _optuna()


def distributions(params: tuple[ParamSpec, ...]) -> dict[str, Any]:
    """Optuna distributions for a sweep's parameters."""
    optuna = _optuna()
    dists: dict[str, Any] = {}
    for p in params:
        # Under the name Optuna knows it by (a changed list of choices has a new one).
        if p.kind == "values":
            dists[p.optuna_key] = optuna.distributions.CategoricalDistribution(list(p.values))
        elif p.type == "int":
            dists[p.optuna_key] = optuna.distributions.IntDistribution(
                int(p.low or 0), int(p.high or 0), log=p.log
            )
        else:
            dists[p.optuna_key] = optuna.distributions.FloatDistribution(
                float(p.low or 0), float(p.high or 0), log=p.log
            )
    return dists


def to_optuna(params: Mapping[str, Any], specs: tuple[ParamSpec, ...]) -> dict[str, Any]:
    """A trial's values by the names the study knows now, for ``enqueue_trial``; a value
    a list no longer holds is left out (Optuna cannot take it: the sampler picks one)."""
    return {
        p.optuna_key: params[p.name]
        for p in specs
        if p.name in params and (p.kind == "range" or params[p.name] in p.values)
    }


def from_optuna(values: Mapping[str, Any], specs: tuple[ParamSpec, ...]) -> dict[str, Any]:
    """A trial's values by hyperparameter name (the inverse of :func:`to_optuna`)."""
    names = {p.optuna_key: p.name for p in specs}
    return {names.get(key, key): value for key, value in values.items()}


def storage_for(store: StoreLocation) -> Any:
    """Optuna's RDB storage for the sweeps of ``store``: its own SQLite file (created
    owner-only) beside an SQLite store, the store's own database for PostgreSQL."""
    optuna = _optuna()
    if isinstance(store, DatabaseUrl):
        return optuna.storages.RDBStorage(
            optuna_url(store),
            # A server restart leaves dead connections in the pool: test before use.
            engine_kwargs={
                "pool_pre_ping": True,
                "connect_args": {"connect_timeout": OPTUNA_CONNECT_TIMEOUT},
            },
        )
    path = optuna_path(store.resolve())
    if not path.exists():
        # A PostgreSQL store's local folder may not be there yet (owner-only, as ktui's).
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Owner-only like the run store: it holds the same hyperparameters and results.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    return optuna.storages.RDBStorage(
        f"sqlite:///{path}",
        engine_kwargs={"connect_args": {"timeout": OPTUNA_BUSY_TIMEOUT}},
    )


@contextlib.contextmanager
def study_lock(store: StoreLocation) -> Iterator[None]:
    """Hold the study's file for one Optuna call against the workers of this host
    (see the module's docstring); an ``flock`` on a file beside it, released by the
    system if the process dies holding it. A PostgreSQL study needs none: its row
    locks serve every host."""
    if isinstance(store, DatabaseUrl):
        yield
        return
    try:
        import fcntl
    except ImportError:  # Windows: SQLite's own locking has to do
        yield
        return
    path = optuna_path(store.resolve()).with_suffix(".lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def load_study(sweep: SweepRecord, store: StoreLocation, epochs: int) -> optuna.Study:
    """The sweep's study (created on first use) with its sampler and pruner."""
    engine = _optuna()
    s = sweep.settings
    sampler: Any
    if s.sampler == "grid":
        space = {p.name: list(p.grid_points() or ()) for p in sweep.spec.params}
        sampler = engine.samplers.GridSampler(space)
    elif s.sampler == "random":
        sampler = engine.samplers.RandomSampler()
    else:
        # constant_liar: parallel workers do not all sample next to the same best point.
        sampler = engine.samplers.TPESampler(constant_liar=s.workers > 1)
    pruner: Any
    if s.pruner == "median":
        pruner = engine.pruners.MedianPruner(
            n_startup_trials=MEDIAN_STARTUP_TRIALS, n_warmup_steps=MEDIAN_WARMUP_EPOCHS
        )
    elif s.pruner == "hyperband":
        pruner = engine.pruners.HyperbandPruner(min_resource=1, max_resource=max(1, epochs))
    else:
        pruner = engine.pruners.NopPruner()
    from sqlalchemy import exc as sql_errors

    for attempt in range(STUDY_ATTEMPTS):
        try:
            # Workers that start together would each create Optuna's tables in a new
            # storage (its schema version row clashes): one at a time on this host,
            # and a clash with another host's worker is tried again (the tables are
            # there by then).
            with study_lock(store):
                study: optuna.Study = engine.create_study(
                    study_name=sweep.study,
                    storage=storage_for(store),
                    sampler=sampler,
                    pruner=pruner,
                    direction=s.direction,
                    load_if_exists=True,
                )
            return study
        except (
            sql_errors.IntegrityError,
            sql_errors.OperationalError,
            sql_errors.ProgrammingError,  # PostgreSQL: a table the other made meanwhile
        ) as exc:
            if attempt == STUDY_ATTEMPTS - 1:
                reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
                hint = (
                    "Optuna keeps its tables (studies, trials, ...) in the store's database "
                    "and creates them on first use: the role needs CREATE on its schema "
                    "that once (ask the database's owner), and the server must be reachable."
                    if isinstance(store, DatabaseUrl)
                    else f"Check that {optuna_path(store.resolve())} can be written."
                )
                raise KtuiError(
                    f"the search engine's study of sweep {sweep.id} cannot be opened in "
                    f"{store}: {reason}",
                    hint=hint,
                ) from None
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def requeue(
    study: optuna.Study,
    trials: list[TrialRecord],
    store: StoreLocation,
    specs: tuple[ParamSpec, ...],
) -> None:
    """Give interrupted trials' hyperparameters back to the study, to be tried again
    first; their Optuna trials (left running by a dead worker) are marked failed."""
    optuna = _optuna()
    with study_lock(store):
        waiting: list[dict[str, Any]] | None = None
        for trial in trials:
            if trial.optuna_number is not None:
                with contextlib.suppress(Exception):  # already told (a race with another)
                    study.tell(trial.optuna_number, state=optuna.trial.TrialState.FAIL)
            if not trial.params:
                continue
            values = to_optuna(trial.params, specs)
            if trial.optuna_number is None:
                # A re-run whose worker died before it asked the study: if it died
                # after giving the values to the study, they wait there already and the
                # next ask takes them (enqueued twice, they would be tried twice).
                if waiting is None:
                    waiting = [
                        dict(t.system_attrs.get("fixed_params") or {})
                        for t in study.get_trials(
                            deepcopy=False, states=(optuna.trial.TrialState.WAITING,)
                        )
                    ]
                if values in waiting:
                    waiting.remove(values)
                    continue
            study.enqueue_trial(values, skip_if_exists=False)


def tell(study: optuna.Study, trial: Any, value: float | None = None, *, state: Any = None) -> None:
    """``study.tell``, for a trial asked outside ``study.optimize``.

    The grid sampler calls ``study.stop()`` once its last point is told, which raises
    outside ``optimize``; Optuna has recorded the trial's result by then (it does so
    in a ``finally``), and ktui's own store knows when the budget is spent.
    """
    try:
        if state is None:
            study.tell(trial, value)
        else:
            study.tell(trial, state=state)
    except RuntimeError as exc:
        if "Study.stop" not in str(exc):
            raise


# --------------------------------------------------------------------------- one trial
@dataclass
class TrialOutcome:
    """How one trial went, as seen by the sweep."""

    run_id: int
    final: Event
    best: float | None = None
    epochs: int = 0
    pruned: str = ""
    """Why it was pruned (empty: not pruned)."""
    missing: list[str] = field(default_factory=list)
    """Set when the objective is not among the metrics the model logs: those it logs."""


@dataclass
class TrialRun:
    """What an epoch hook may do to the trial's run while it trains."""

    controls: RunControls
    """The run's controls (``stop()`` ends it after the current batch)."""
    log: Callable[[str], None]
    """Writes a line into the run's log."""
    prune: Callable[[str], None]
    """Stops the run after the current batch, recorded ``pruned`` with the reason."""


EpochHook = Callable[[EpochEnded, TrialRun], None]
"""Called in the training thread at each epoch end, with the trial's run."""


def train_trial(
    config: RunConfig,
    runs: RunStore,
    trainer: Trainer,
    on_epoch: EpochHook,
    *,
    on_recorded: Callable[[RecordedRun], None] | None = None,
) -> tuple[int, Event]:
    """Train ``config`` as an ordinary run through the run service (recorded,
    attachable and steerable like any run) and return (run id, its final event).

    ``on_epoch`` sees each epoch's end in the training thread, after the run's own
    listeners (the epoch is recorded first). Never raises for a failed training: that
    is the final ``RunFailed``; trouble in ``on_epoch`` is a line in the run's log.
    ``on_recorded`` gets the run once it is recorded, before it trains (its controls
    stop it from another thread).
    """
    controls = RunControls()
    recorded = record_run(runs, config, controls)
    if on_recorded is not None:
        on_recorded(recorded)
    service_listener = recorded.listener

    def log(text: str) -> None:
        recorded.recorder(LogLine(text))

    handle = TrialRun(controls, log, recorded.prune)

    def listener(event: Event) -> None:
        service_listener(event)
        if isinstance(event, EpochEnded):
            try:
                on_epoch(event, handle)
            except Exception as exc:  # noqa: BLE001 - the sweep's trouble, not the run's
                log(f"ktui: the sweep could not judge this epoch: {exc}")

    recorded.listener = listener
    try:
        final = recorded.train(config, trainer)
    finally:
        recorded.close()
    return recorded.run_id, final


class Worker:
    """One worker process of a sweep: takes trials until the sweep is done, paused
    or stopped (or this worker is retired or told to leave)."""

    def __init__(
        self,
        store: StoreLocation,
        sweep_id: int,
        catalog: PresetCatalog,
        *,
        trainer: Trainer | None = None,
        out: Callable[[str], None] | None = None,
        wait: bool = True,
    ) -> None:
        self.store_path = store
        self.runs = RunStore(store)
        self.sweeps = SweepStore(self.runs)
        self.sweep = self.sweeps.get(sweep_id)
        self.preset = _preset(catalog, self.sweep)
        self.trainer = trainer
        self._out = out or _print
        self.wait = wait
        """Whether to wait, once every slot is taken, for trials running elsewhere."""
        self.device = worker_device()
        """The GPU this worker was given (``CUDA_VISIBLE_DEVICES``), recorded per trial."""
        self.timeout = heartbeat_timeout()
        self.retiring = False
        """Set by SIGUSR1: take no new trial after this one."""
        self.leaving = False
        """Set by SIGINT/SIGTERM: the trial going now ends, re-queued, and so do we."""
        self._claim: Claim | None = None
        self._recorded: RecordedRun | None = None
        self._lost = False
        self._beating = threading.Event()
        self.study = load_study(
            self.sweep, store, self.preset.resolve(self.sweep.spec.fixed).epochs
        )

    def say(self, text: str) -> None:
        """A plain log line (a terminal that went away is no reason to stop)."""
        with contextlib.suppress(OSError):
            self._out(f"{datetime.now():%H:%M:%S} sweep {self.sweep.id}: {text}")

    def run(self) -> int:
        """Take and train trials until none is left; returns the exit code."""
        beat = threading.Thread(target=self._beat, name="ktui-sweep-heartbeat", daemon=True)
        beat.start()
        try:
            while not (self.retiring or self.leaving):
                self.requeue_dead()
                claim = self.sweeps.claim_trial(self.sweep.id, device=self.device)
                if claim is not None:
                    self.one(claim)
                    continue
                if not self.wait or not self._others_going():
                    break
                if self.trainer is None:
                    # Load the backend while waiting: a re-queued trial starts at once.
                    self._trainer()
                time.sleep(WAIT_POLL)
        finally:
            self._beating.set()
            beat.join(timeout=5)
        if self.sweeps.finish_if_done(self.sweep.id):
            self.say(
                "finished: every trial of the budget ended"
                if self.sweep.settings.time_budget is None
                else "finished: every trial of the budget ended, or its time was spent"
            )
        self.runs.close()
        return 130 if self.leaving else 0

    def _others_going(self) -> bool:
        """The sweep runs and some of its trials are going (on this host or another)."""
        current = self.sweeps.get(self.sweep.id)
        return current.status == "running" and self.sweeps.running_count(self.sweep.id) > 0

    def requeue_dead(self) -> list[TrialRecord]:
        """Mark the trials of dead workers (any host) interrupted and give their
        hyperparameters back to the study; returns those this worker marked."""
        dead = self.sweeps.interrupt_dead(self.sweep.id, timeout=self.timeout)
        if dead:
            specs = self.sweeps.get(self.sweep.id).spec.params
            requeue(self.study, dead, self.store_path, specs)
            for trial in dead:
                self.say(f"trial {trial.number}: {trial.reason} (run {trial.run_id})")
        return dead

    def retire(self) -> None:
        """Take no new trial after the one going now (SIGUSR1)."""
        if not self.retiring:
            self.retiring = True
            self.say("retiring after this trial (the sweep runs fewer workers)")

    def leave(self) -> None:
        """Stop the trial going now (re-queued) and take no more (SIGINT, SIGTERM)."""
        self.leaving = True
        recorded = self._recorded
        if recorded is not None:
            recorded.recorder.end_as = "interrupted"
            recorded.controls.stop()

    def _beat(self) -> None:
        """The heartbeat thread: a connection of its own; a store that is busy or away
        for a while costs beats, never the training."""
        interval = heartbeat_interval(self.timeout)
        runs: RunStore | None = None
        try:
            while not self._beating.wait(interval):
                claim = self._claim
                if claim is None:
                    continue
                try:
                    if runs is None:
                        runs = RunStore(self.store_path)
                    ours = SweepStore(runs).heartbeat(claim)
                except Exception:  # noqa: BLE001 - the next beat tries again
                    continue
                if not ours and claim is self._claim and not self._lost:
                    self._lost = True
                    recorded = self._recorded
                    if recorded is not None:
                        recorded.controls.stop()
        finally:
            if runs is not None:
                with contextlib.suppress(Exception):
                    runs.close()

    def _trainer(self) -> Trainer:
        if self.trainer is None:
            from ktui.cli.sweep import trial_backend

            # Keras reads KERAS_BACKEND once, at its import: the sweep's backend first
            # (every worker of the sweep, the coordinator's and joined ones alike).
            preset_backend = self.preset.resolve(self.sweep.spec.fixed).backend
            backends.activate(trial_backend(self.sweep.spec, preset_backend))
            from ktui.training.engine import KerasTrainer

            self.trainer = KerasTrainer()
        return self.trainer

    def one(self, claim: Claim) -> None:
        """Ask the study for a trial, train it, tell the study how it went."""
        self._claim, self._lost = claim, False
        try:
            self._one(claim)
        finally:
            self._claim = self._recorded = None

    def _one(self, claim: Claim) -> None:
        optuna = _optuna()
        # The sweep as it is now: a change of its ranges applies from the next trial on.
        self.sweep = self.sweeps.get(self.sweep.id)
        specs = self.sweep.spec.params
        s = self.sweep.settings
        if claim.rerun is not None and os.environ.get(TEST_DIE_AFTER_CLAIM):
            os.kill(os.getpid(), signal.SIGKILL)  # the tests' way to die at this point
        with study_lock(self.store_path):
            if claim.rerun is not None:  # a person asked for these values again
                self.study.enqueue_trial(to_optuna(claim.rerun, specs), skip_if_exists=False)
            trial = self.study.ask(distributions(specs))
        params = from_optuna(trial.params, specs)
        # Which study trial holds the slot, at once: a worker that dies from here on
        # leaves a trial whose Optuna twin is told failed when it is re-queued.
        self.sweeps.start_trial(
            claim, self.sweep.id, optuna_number=trial.number, params=params, run_id=None
        )
        label = trial_progress(claim.number, s.trials)
        try:
            config = self.preset.resolve(
                {**self.sweep.spec.fixed, **params}, backend=self.sweep.spec.backend
            )
        except KtuiError as exc:
            self.sweeps.start_trial(
                claim, self.sweep.id, optuna_number=trial.number, params=params, run_id=None
            )
            self._tell(trial, state=optuna.trial.TrialState.FAIL)
            self.sweeps.end_trial(claim, "failed", reason=str(exc))
            self.say(f"{label} failed before training: {exc}")
            self._after_failure()
            return
        state: dict[str, Any] = {"best": None, "pruned": "", "missing": [], "epochs": 0}
        objective = s.objective
        minimize = s.direction == "minimize"

        def on_epoch(event: EpochEnded, run: TrialRun) -> None:
            state["epochs"] = event.epoch
            value = event.metrics.get(objective)
            if value is None:
                state["missing"] = sorted(event.metrics)
                run.controls.stop()
                return
            value = float(value)
            best = state["best"]
            if math.isfinite(value) and (
                best is None or (value < best if minimize else value > best)
            ):
                state["best"] = value
            self.sweeps.report_epoch(claim, event.epoch, value, state["best"])
            if s.pruner == "none":
                # Nothing would judge it: the curve is in ktui's store already, and two
                # writes and a read of the study per epoch are a trial's cost for nothing.
                return
            with study_lock(self.store_path):
                trial.report(value, event.epoch)
            if trial.should_prune():
                state["pruned"] = self._reason(value, event.epoch, trial.number)
                run.log(f"ktui: pruned by sweep {self.sweep.id}: {state['pruned']}")
                run.prune(state["pruned"])

        trainer = self._trainer()
        if hasattr(trainer, "predict_test"):  # the Keras trainer (a fake has none)
            cast(Any, trainer).predict_test = lambda: self._best_so_far(state)
        run_id, final = self._train(config, claim, trial.number, params, on_epoch, label)
        self._finish(claim, trial, final, state, label, run_id)

    def _best_so_far(self, state: Mapping[str, Any]) -> bool:
        """Whether the trial that just trained beats every finished trial of the sweep
        (asked by the trainer before it predicts the test set: only such trials get
        their predictions and confusion matrix, see ``KerasTrainer.predict_test``)."""
        value = state["best"]
        if value is None or state["pruned"] or state["missing"] or not math.isfinite(value):
            return False
        try:
            with study_lock(self.store_path):
                top = float(self.study.best_value)
        except ValueError:  # no trial has finished yet
            return True
        return bool(value < top if self.sweep.settings.direction == "minimize" else value > top)

    def _train(
        self,
        config: RunConfig,
        claim: Claim,
        optuna_number: int,
        params: dict[str, Any],
        on_epoch: EpochHook,
        label: str,
    ) -> tuple[int, Event]:
        shown = ", ".join(
            f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
        )

        def recorded(run: RecordedRun) -> None:
            self._recorded = run
            if self.leaving:  # told to leave while the run was being recorded
                run.recorder.end_as = "interrupted"
                run.controls.stop()
            self.sweeps.start_trial(
                claim, self.sweep.id, optuna_number=optuna_number, params=params, run_id=run.run_id
            )
            self.say(f"{label} started as run {run.run_id} on {self.worker_name}: {shown}")

        return train_trial(config, self.runs, self._trainer(), on_epoch, on_recorded=recorded)

    @property
    def worker_name(self) -> str:
        """This worker as the leaderboard names it."""
        return worker_label(this_host(), os.getpid(), self.device)

    def _tell(self, trial: Any, value: float | None = None, *, state: Any = None) -> None:
        with study_lock(self.store_path):
            tell(self.study, trial, value, state=state)

    def _reason(self, value: float, epoch: int, number: int) -> str:
        optuna = _optuna()
        s = self.sweep.settings
        states: tuple[Any, ...] = (optuna.trial.TrialState.COMPLETE,)
        if s.pruner == "hyperband":
            states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        others = [
            float(t.intermediate_values[epoch])
            for t in self.study.get_trials(deepcopy=False, states=states)
            if t.number != number and epoch in t.intermediate_values
        ]
        return prune_reason(s.objective, value, epoch, others, s.pruner, s.direction)

    def _finish(
        self,
        claim: Claim,
        trial: Any,
        final: Event,
        state: dict[str, Any],
        label: str,
        run_id: int,
    ) -> None:
        optuna = _optuna()
        states = optuna.trial.TrialState
        s = self.sweep.settings
        best = state["best"]
        if state["missing"]:
            logged = ", ".join(state["missing"]) or "nothing"
            reason = f"the objective {s.objective} is not logged by this model; it logs {logged}"
            self._tell(trial, state=states.FAIL)
            self.sweeps.end_trial(claim, "failed", reason=reason, epochs=state["epochs"])
            self.sweeps.set_status(
                self.sweep.id,
                "stopped",
                f"{reason}. Start the sweep again with --objective "
                f"{state['missing'][0] if state['missing'] else 'loss'}",
            )
            self.say(f"{label} (run {run_id}): {reason}; the sweep is stopped")
            return
        if isinstance(final, RunFailed):
            self._tell(trial, state=states.FAIL)
            self.sweeps.end_trial(claim, "failed", reason=final.message)
            self.say(f"{label} (run {run_id}) failed: {final.message}")
            self._after_failure()
            return
        assert isinstance(final, RunFinished)
        if self._lost and final.status != "finished":
            # Another worker took this trial for dead (no heartbeat for too long) and
            # re-queued it: its slot is not ours any more.
            with contextlib.suppress(Exception):
                self._tell(trial, state=states.FAIL)
            self.say(
                f"{label} (run {run_id}) stopped: it was taken for dead and re-queued "
                "(this worker's heartbeats did not reach the store in time)"
            )
            return
        if state["pruned"]:
            self._tell(trial, state=states.PRUNED)
            self.sweeps.end_trial(claim, "pruned", reason=state["pruned"])
            self.say(
                f"{label} (run {run_id}) pruned after epoch {state['epochs']}: {state['pruned']}"
            )
            return
        if self.leaving and final.status != "finished":
            self._tell(trial, state=states.FAIL)
            why = "its worker was told to leave (Ctrl+C or SIGTERM) mid-trial; re-queued"
            self.sweeps.end_trial(claim, "interrupted", reason=why, epochs=state["epochs"])
            with study_lock(self.store_path):
                self.study.enqueue_trial(dict(trial.params), skip_if_exists=False)
            self.say(f"{label} (run {run_id}) interrupted: {why}")
            return
        if final.status != "finished" or best is None:
            self._tell(trial, state=states.FAIL)
            why = (
                "stopped before its end"
                if final.status != "finished"
                else (f"no finite {s.objective} in any epoch")
            )
            self.sweeps.end_trial(
                claim, "stopped" if final.status != "finished" else "failed", reason=why
            )
            self.say(f"{label} (run {run_id}) {why}")
            return
        self._tell(trial, best)
        self.sweeps.end_trial(claim, "finished", objective=best)
        try:
            top = self.study.best_trial
            best_text = f" (best so far {top.value:.4g})"
        except ValueError:
            best_text = ""
        self.say(f"{label} (run {run_id}) finished: {s.objective} {best:.4g}{best_text}")

    def _after_failure(self) -> None:
        if self.sweeps.failures_in_a_row(self.sweep.id) >= FAILURES_TO_PAUSE:
            reason = (
                f"{FAILURES_TO_PAUSE} trials failed in a row (see `ktui sweeps show "
                f"{self.sweep.id}` for their errors); fix the cause, then `ktui sweeps "
                f"resume {self.sweep.id}`"
            )
            current = self.sweeps.get(self.sweep.id)
            if current.status == "running":
                self.sweeps.set_status(self.sweep.id, "paused", reason)
                self.say(f"paused: {reason}")


def _print(text: str) -> None:
    print(text, flush=True)


def _preset(catalog: PresetCatalog, sweep: SweepRecord) -> Preset:
    source = Path(sweep.spec.source)
    if source.is_file():
        from ktui.core.presets import load

        return load(source)
    return catalog.get(sweep.preset)


def worker_main(store: StoreLocation, sweep_id: int, catalog: PresetCatalog) -> int:
    """``ktui sweep-worker ID`` and ``ktui sweeps worker ID``: the body of a worker
    process (see the module's docstring for its signals)."""
    # A hang-up is not a reason to stop: the trial goes on (a worker started by hand
    # over SSH keeps training when the connection drops, like a detached run).
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    log_path = logs_dir() / f"{datetime.now():%Y%m%d-%H%M%S}-sweep-{sweep_id}-{os.getpid()}.log"
    STDERR.start(log_path)
    worker = Worker(store, sweep_id, catalog)
    asked: list[int] = []

    def on_leave(signum: int, frame: object) -> None:
        asked.append(signum)
        if len(asked) > 1:
            raise KeyboardInterrupt  # a second one: quit now (the trial is re-queued by pid)
        worker.say("leaving: the running trial stops after its current batch and is re-queued")
        worker.leave()

    signal.signal(signal.SIGINT, on_leave)
    signal.signal(signal.SIGTERM, on_leave)
    if hasattr(signal, "SIGUSR1"):
        signal.signal(signal.SIGUSR1, lambda signum, frame: worker.retire())
    try:
        code = worker.run()
    except KeyboardInterrupt:
        print(f"sweep {sweep_id}: worker {os.getpid()} quit", file=sys.stderr)
        return 130
    _leave_at_once(code)


def _leave_at_once(code: int) -> NoReturn:
    """End the worker process now, without the interpreter's teardown.

    Every record is written and closed by then (the runs, the store, the log); what is
    left is TensorFlow's own teardown, which takes about a second after a fit, and the
    coordinator waits for this process to end before it starts the next worker or says
    the sweep is over. A plain script pays it once; a sweep would pay it per worker.
    """
    STDERR.stop()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
