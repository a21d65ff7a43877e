"""``ktui sweep`` and ``ktui sweeps``: hyperparameter sweeps on Optuna.

``ktui sweep PRESET --param ...`` checks the sweep (:func:`ktui.core.sweep.build_spec`),
records it, and runs its coordinator: in this process (plain log lines), or with
``--detach`` in a process of its own session whose output goes to a log file. The
coordinator starts ``--workers`` worker processes (``ktui sweep-worker ID``, each in a
session of its own, so neither Ctrl+C nor a hang-up reaches them; on a machine with
GPUs each is given one, see :func:`ktui.core.workers.plan_devices`), starts another
when one dies mid-trial (that trial is ``interrupted`` and re-queued with the same
hyperparameters), follows ``ktui sweeps change ID --workers N`` between trials
(starting workers, or retiring them with SIGUSR1: they leave after their trial), and
ends when the sweep has finished, paused or stopped.

``ktui sweeps worker ID`` is a worker started by a person, on this host or another
(with a PostgreSQL store): it joins the sweep beside the coordinator's workers.

Ctrl+C (or SIGTERM) on the coordinator stops the sweep: each running trial ends after
its current batch and is recorded ``stopped``. A hang-up leaves it going.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from ktui.core import backends
from ktui.core.errors import KtuiError, StoreError
from ktui.core.format import format_seconds
from ktui.core.presets import PresetCatalog
from ktui.core.store_url import StoreLocation
from ktui.core.sweep import (
    DEFAULT_OBJECTIVE,
    PRUNERS,
    SAMPLERS,
    SweepSpec,
    TrialRow,
    best,
    build_spec,
    eta_seconds,
    parse_change,
    parse_duration,
    rank,
    sweep_preset,
    trial_progress,
)
from ktui.core.workers import (
    heartbeat_interval,
    heartbeat_timeout,
    plan_devices,
    worker_environment,
)
from ktui.runs.sweeps import (
    DetachedSweep,
    check_engine,
    ktui_argv,
    launch_sweep,
    start_coordinator,
)
from ktui.store import RunStore
from ktui.store.liveness import this_host
from ktui.store.sweeps import SweepRecord, SweepStore, leaderboard_rows, require_sweep

#: Trials of a sweep given neither --trials nor --time.
DEFAULT_TRIALS = 20

#: Seconds between the coordinator's looks at its workers and the store.
POLL = 0.5

#: The latest changes ``ktui sweeps show`` lists (``ktui sweeps export`` has them all).
CHANGES_SHOWN = 10


def add_sweep_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``ktui sweep``, ``ktui sweeps`` and the hidden worker/coordinator commands."""
    sweep = sub.add_parser(
        "sweep",
        help="search a preset's hyperparameters: many trials, pruning, a leaderboard",
        description="Each trial is an ordinary ktui run. --param NAME=A,B,C (a list), "
        "NAME=MIN..MAX (a range) or NAME=MIN..MAX:log.",
    )
    sweep.add_argument("preset", help="a preset name (see `ktui presets`) or a .toml file")
    sweep.add_argument(
        "--param",
        metavar="NAME=SPEC",
        dest="params",
        action="append",
        default=[],
        help="a hyperparameter to vary: units=64,128,256, learning_rate=1e-4..1e-2:log, "
        "dropout=0.1..0.5 (may be repeated)",
    )
    sweep.add_argument(
        "--set",
        metavar="NAME=VALUE",
        dest="assignments",
        action="append",
        default=[],
        help="fix a hyperparameter for every trial, e.g. --set epochs=3",
    )
    sweep.add_argument(
        "--trials",
        type=int,
        default=None,
        help=f"the number of trials ({DEFAULT_TRIALS}; with --time and no --trials: as many "
        "as the time allows)",
    )
    sweep.add_argument(
        "--time",
        metavar="DURATION",
        type=_duration,
        dest="time_budget",
        help="a time budget (30m, 2h, 1h30m): no new trial starts after it (running ones "
        "finish); the sweep ends at its trials or its time, whichever comes first",
    )
    sweep.add_argument("--workers", type=int, default=1, help="parallel worker processes (1)")
    sweep.add_argument("--sampler", choices=SAMPLERS, default="tpe", help="tpe (default)")
    sweep.add_argument("--pruner", choices=PRUNERS, default="median", help="median (default)")
    sweep.add_argument(
        "--objective",
        metavar="METRIC",
        help=f"the metric to optimise (default: the preset's [fit] monitor, else "
        f"{DEFAULT_OBJECTIVE}, or loss for a preset without validation); its direction "
        "comes from the metric policy",
    )
    sweep.add_argument(
        "--backend",
        metavar="NAME",
        help="the Keras backend every trial trains on: tensorflow, jax or torch (default: "
        "the preset's backend key, else KERAS_BACKEND or keras.json, else the first "
        "installed)",
    )
    sweep.add_argument(
        "--detach",
        action="store_true",
        help="run the sweep in the background (it outlives this terminal); prints its id",
    )

    sweeps = sub.add_parser(
        "sweeps",
        help="list the sweeps; show, resume, pause, stop or export one",
        description="Without an action: one line per sweep, newest first.",
    )
    actions = sweeps.add_subparsers(dest="sweeps_command", metavar="ACTION")
    show = actions.add_parser(
        "show", help="a sweep's leaderboard", description="A sweep's trials, ranked."
    )
    show.add_argument("id", help="the sweep's id (see `ktui sweeps`)")
    show.add_argument(
        "--importance",
        action="store_true",
        help="also how much each hyperparameter mattered to the objective (Optuna's "
        "PED-ANOVA evaluator, over the finished trials)",
    )
    resume = actions.add_parser(
        "resume",
        help="go on with a paused or interrupted sweep (re-queues unfinished trials)",
        description="Re-queue the trials that did not finish and run the sweep again.",
    )
    resume.add_argument("id", help="the sweep's id")
    resume.add_argument("--detach", action="store_true", help="in the background")
    for name, text in (
        ("pause", "start no new trials (running ones finish)"),
        ("stop", "stop the running trials after their current batch, and the sweep"),
    ):
        action = actions.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        action.add_argument("id", help="the sweep's id")
    join = actions.add_parser(
        "worker",
        help="join a sweep as one more worker (from any process, or any host with a "
        "PostgreSQL store)",
        description="Take trials of the sweep and train them here until the sweep is "
        "done, paused or stopped. Several workers share the trials; none runs one twice. "
        "Ctrl+C stops this worker's trial after its current batch and re-queues it.",
    )
    join.add_argument("id", help="the sweep's id (see `ktui sweeps`)")
    change = actions.add_parser(
        "change",
        help="change a sweep's number of trials or workers, or a hyperparameter's range "
        "(even while it runs)",
        description="Change the number of trials, how a swept hyperparameter varies "
        "(narrow or widen a range, another list of values: trials not started yet follow "
        "them) or the number of the coordinator's worker processes (started or retired "
        "between trials). Recorded in the sweep's history of changes. A grid sweep's "
        "values cannot change.",
    )
    change.add_argument("id", help="the sweep's id")
    change.add_argument("--trials", type=int, help="the new number of trials")
    change.add_argument(
        "--time",
        metavar="[+]DURATION",
        dest="time_budget",
        help="the new time budget from the sweep's start (1h), or +DURATION to give it "
        "that much more time (+10m: after its current budget, or after now when that is "
        "spent)",
    )
    change.add_argument("--workers", type=int, help="the new number of worker processes")
    change.add_argument(
        "--param",
        metavar="NAME=SPEC",
        dest="params",
        action="append",
        default=[],
        help="how a swept hyperparameter varies from now on: units=32,64 or "
        "learning_rate=1e-4..1e-3:log (may be repeated)",
    )
    for name, text in (
        ("stop-trial", "stop one running trial after its current batch (the sweep goes on)"),
        ("rerun-trial", "try one trial's values again, as one more trial"),
    ):
        action = actions.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        action.add_argument("id", help="the sweep's id")
        action.add_argument("trial", type=int, help="the trial's number (see `ktui sweeps show`)")
    export = actions.add_parser(
        "export",
        help="a sweep's trials as csv or everything as json",
        description="A sweep's trials as CSV (one row each) or everything as JSON.",
    )
    export.add_argument("id", help="the sweep's id")
    export.add_argument("--format", choices=("csv", "json"), default="csv")
    export.add_argument("-o", "--output", metavar="FILE", type=Path, help="instead of stdout")

    worker = sub.add_parser(
        "sweep-worker", description="A worker process of a sweep (internal: started by it)."
    )
    worker.add_argument("id", type=int)
    coordinator = sub.add_parser(
        "sweep-run", description="A sweep's coordinator (internal: ktui sweep --detach)."
    )
    coordinator.add_argument("id", type=int)


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def sweep_command(
    args: argparse.Namespace,
    catalog: PresetCatalog,
    store: StoreLocation,
    *,
    out: TextIO | None = None,
) -> int:
    """Dispatch ``ktui sweep``, ``ktui sweeps ...`` and the internal commands."""
    out = out or sys.stdout
    if args.command == "sweep-worker":
        from ktui.cli.sweep_engine import worker_main

        return worker_main(store, args.id, catalog)
    if args.command == "sweep-run":
        return coordinate(store, args.id, presets=args.presets, out=out)
    if args.command == "sweep":
        return start_sweep(args, catalog, store, out=out)
    with RunStore(store) as runs:
        sweeps = SweepStore(runs)
        action = args.sweeps_command
        if action is None:
            return list_sweeps(sweeps, out)
        sweep = require_sweep(sweeps, args.id)
        if action == "show":
            out.write(leaderboard_text(sweeps, sweep))
            if args.importance:
                out.write(importance_text(sweeps, sweep))
            return 0
        if action == "export":
            text = export_sweep(sweeps, sweep, args.format)
            if args.output is None:
                out.write(text)
            else:
                try:
                    args.output.write_text(text, encoding="utf-8")
                except OSError as exc:
                    raise KtuiError(f"-o {args.output}: cannot write it: {exc}") from None
                print(f"Wrote sweep {sweep.id} to {args.output}.", file=out)
            return 0
        if action == "pause":
            return _pause(sweeps, sweep, out)
        if action == "change":
            return _change(sweeps, sweep, catalog, args, out)
        if action == "stop-trial":
            run_id = sweeps.stop_trial(sweep.id, args.trial)
            print(
                f"Sweep {sweep.id}: trial {args.trial} (run {run_id}) stops after its current "
                "batch; the sweep goes on.",
                file=out,
            )
            return 0
        if action == "rerun-trial":
            text = sweeps.rerun_trial(sweep.id, args.trial)
            changed = sweeps.get(sweep.id)
            print(
                f"Sweep {sweep.id}: {text}."
                + (f" It is {changed.status}: `ktui sweeps resume {sweep.id}` runs it."
                   if changed.status != "running" else ""),
                file=out,
            )
            return 0
        if action == "stop":
            return _stop(runs, sweeps, sweep, out)
    if action == "resume":
        return resume_sweep(store, sweep, presets=args.presets, detach=args.detach, out=out)
    if action == "worker":
        return join_sweep(store, sweep, catalog, out=out)
    raise KtuiError(f"unknown sweeps action {action!r}")


# --------------------------------------------------------------------------- starting
def start_sweep(
    args: argparse.Namespace, catalog: PresetCatalog, store: StoreLocation, *, out: TextIO
) -> int:
    """``ktui sweep``: check, record, run (or detach)."""
    preset = catalog.get(args.preset)
    trials = args.trials
    if trials is None and args.time_budget is None:
        trials = DEFAULT_TRIALS
    spec = build_spec(
        preset,
        args.params,
        args.assignments,
        trials=trials,
        workers=args.workers,
        sampler=args.sampler,
        pruner=args.pruner,
        objective=args.objective,
        time_budget=args.time_budget,
        backend=args.backend,
    )
    from ktui.cli.run import prepare

    check_engine()
    # Installed? Refused here, with how to install it, before anything is recorded.
    trial_backend(spec, preset.resolve(spec.fixed).backend)
    prepare(catalog, args.preset, args.assignments, None)  # the data is there
    if args.detach:
        # The dashboard's sweep form starts its sweeps the same way (ktui.runs.sweeps).
        started = launch_sweep(spec, store=store, presets=args.presets)
        print(f"Sweep {started.sweep_id}: {_describe(spec)}", file=out, flush=True)
        _started(started, out)
        return 0
    with RunStore(store) as runs:
        sweep_id = SweepStore(runs).create_sweep(spec)
    print(f"Sweep {sweep_id}: {_describe(spec)}", file=out, flush=True)
    return coordinate(store, sweep_id, presets=args.presets, out=out)


def trial_backend(spec: SweepSpec, preset_backend: str | None) -> backends.BackendChoice:
    """The backend a sweep's trials train on: the sweep's (``--backend``, the form's
    field), else the preset's ``backend`` key, else Keras's own setting; a
    :class:`KtuiError` when it is not installed."""
    if spec.backend is not None:
        return backends.require(backends.choose(spec.backend, source="the sweep's backend"))
    source = f"{spec.source or spec.preset}: backend"
    return backends.require(backends.choose(preset_backend, source=source))


def _describe(spec: SweepSpec) -> str:
    s = spec.settings
    grid = spec.grid_size()
    grid_text = f", a grid of {grid}" if grid is not None else ""
    if s.time_budget is not None:
        grid_text += f", at most {format_seconds(s.time_budget)}"
    trials = "trials until the time is spent" if s.trials is None else f"{s.trials} trials"
    if spec.backend is not None:
        grid_text += f", on {spec.backend}"
    return (
        f"{spec.preset}, {' '.join(p.describe() for p in spec.params)}; {trials}"
        f"{grid_text}, {s.workers} worker(s), sampler {s.sampler}, pruner {s.pruner}, "
        f"objective {s.objective} ({s.direction})"
    )


def _started(started: DetachedSweep, out: TextIO) -> None:
    print(
        f"Started sweep {started.sweep_id} in the background (pid {started.pid}). "
        f"Watch it with `ktui sweeps show {started.sweep_id}`; its output goes to "
        f"{started.output}.",
        file=out,
    )


def resume_sweep(
    store: StoreLocation, sweep: SweepRecord, *, presets: Sequence[Path], detach: bool, out: TextIO
) -> int:
    """``ktui sweeps resume ID``: re-queue unfinished trials and run the sweep again."""
    with RunStore(store) as runs:
        sweeps = SweepStore(runs)
        if sweep.status == "running" and sweeps.coordinator_alive(sweep):
            raise KtuiError(
                f"sweep {sweep.id} is running already (pid {sweep.pid})",
                hint=f"`ktui sweeps show {sweep.id}` shows how it goes.",
            )
        if sweep.status == "finished":
            raise KtuiError(f"sweep {sweep.id} has finished: all its trials ended")
        sweeps.set_status(sweep.id, "running", change="resumed")
    if detach:
        _started(start_coordinator(store, sweep.id, presets=presets), out)
        return 0
    return coordinate(store, sweep.id, presets=presets, out=out)


def join_sweep(
    store: StoreLocation, sweep: SweepRecord, catalog: PresetCatalog, *, out: TextIO
) -> int:
    """``ktui sweeps worker ID``: train the sweep's trials in this process."""
    if sweep.status != "running":
        hint = (
            f"`ktui sweeps resume {sweep.id}` runs it again."
            if sweep.status in ("paused", "interrupted")
            else "`ktui sweeps` lists the sweeps that run."
        )
        raise KtuiError(f"sweep {sweep.id} is {sweep.status}: no trials to take", hint=hint)
    from ktui.cli.sweep_engine import check_optuna, worker_main

    check_optuna()
    print(
        f"Joining sweep {sweep.id} ({sweep.preset}) as a worker; Ctrl+C stops this "
        "worker's trial after its current batch and re-queues it.",
        file=out,
        flush=True,
    )
    return worker_main(store, sweep.id, catalog)


def _change(
    sweeps: SweepStore,
    sweep: SweepRecord,
    catalog: PresetCatalog,
    args: argparse.Namespace,
    out: TextIO,
) -> int:
    """``ktui sweeps change ID [--trials N] [--workers M] [--param NAME=SPEC ...]``."""
    if (
        args.trials is None
        and args.workers is None
        and args.time_budget is None
        and not args.params
    ):
        raise KtuiError(
            "sweeps change: say what to change",
            hint=f"e.g. `ktui sweeps change {sweep.id} --trials 40`, `--time +10m`, "
            "`--workers 2` or `--param learning_rate=1e-4..1e-3:log`.",
        )
    added: float | None = None
    if args.time_budget is not None:
        text = str(args.time_budget).strip()
        add = text.startswith("+")
        try:
            added = parse_duration(text.removeprefix("+"))
        except ValueError as exc:
            raise KtuiError(
                f"--time {text}: {exc}", hint="e.g. --time 2h (from the start) or --time +10m"
            ) from None
    # Every --param is checked against the preset before anything changes.
    specs = []
    if args.params:
        preset = sweep_preset(catalog, sweep.spec)
        specs = [parse_change(preset, sweep.spec, text, sweep.id) for text in args.params]
    if args.workers is not None:
        sweeps.set_workers(sweep.id, args.workers)
        running = sweep.status == "running" and sweeps.coordinator_alive(sweep)
        print(
            f"Sweep {sweep.id}: {sweep.settings.workers} → {args.workers} worker(s)"
            + (
                " (its coordinator starts or retires them between trials)."
                if running
                else " (from its next `ktui sweeps resume`)."
            ),
            file=out,
        )
    if args.trials is not None:
        sweeps.set_trials(sweep.id, args.trials)
        changed = sweeps.get(sweep.id)
        print(
            f"Sweep {sweep.id}: {sweep.settings.trials} → {args.trials} trials"
            + (f" ({changed.reason})" if changed.status == "paused" else "")
            + ".",
            file=out,
        )
    if added is not None:
        budget = sweeps.set_time(sweep.id, added, add=add)
        changed = sweeps.get(sweep.id)
        before = sweep.settings.time_budget
        left = (changed.created_at + budget) - time.time()
        print(
            f"Sweep {sweep.id}: time budget "
            f"{'none' if before is None else format_seconds(before)} → "
            f"{format_seconds(budget)} from its start"
            + (f", {format_seconds(left)} left" if left > 0 else ", spent already")
            + (f" ({changed.reason})" if changed.status == "paused" and changed.reason else "")
            + (
                f"; its {changed.settings.trials} trials have all started: add some with "
                "--trials too"
                if changed.settings.trials is not None
                and sweeps.taken_count(sweep.id) >= changed.settings.trials
                else ""
            )
            + ".",
            file=out,
        )
    for spec in specs:
        text = sweeps.change_param(sweep.id, spec)
        print(f"Sweep {sweep.id}: {text}; trials not started yet follow it.", file=out)
    return 0


# --------------------------------------------------------------------------- coordinating
def coordinate(
    store: StoreLocation, sweep_id: int, *, presets: Sequence[Path] = (), out: TextIO | None = None
) -> int:
    """Run a sweep to its end: keep ``workers`` worker processes going, re-queue the
    trials of workers that die. Returns 0 when it finished, 1 when it paused or stopped."""
    from ktui.cli.sweep_engine import load_study, requeue

    out = out or sys.stdout
    stopping: list[int] = []

    def on_stop(signum: int, frame: object) -> None:
        stopping.append(signum)

    previous_int = signal.signal(signal.SIGINT, on_stop)
    previous_term = signal.signal(signal.SIGTERM, on_stop)
    # A hang-up of the terminal leaves the sweep going (its workers have their own
    # sessions); only this process's output is lost.
    previous_hup = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    runs = RunStore(store)
    sweeps = SweepStore(runs)
    # Worker slots: slot k keeps GPU devices[k] whenever its worker is replaced.
    workers: dict[int, subprocess.Popen[bytes]] = {}
    retired: set[int] = set()
    gpus = machine_gpus()
    try:
        sweeps.adopt(sweep_id, os.getpid())
        sweep = sweeps.get(sweep_id)
        study = None

        def requeue_dead() -> None:
            nonlocal study
            dead = sweeps.interrupt_dead(sweep_id)
            if not dead:
                return
            if study is None:
                # Only to tell and enqueue: the pruner's settings do not matter here.
                study = load_study(sweep, store, 1)
            requeue(study, dead, store, sweeps.get(sweep_id).spec.params)
            for trial in dead:
                why = (
                    "its worker ended mid-trial"
                    if trial.host == this_host()
                    else trial.reason.removesuffix("; re-queued")
                )
                _say(
                    out,
                    sweep_id,
                    f"trial {trial.number}: {why} (run {trial.run_id} interrupted); "
                    "re-queued with the same values",
                )

        requeue_dead()
        announced = False
        # Another host judges this sweep alive by this beat (it cannot see our pid).
        beat_every = heartbeat_interval(heartbeat_timeout())
        next_beat = time.monotonic() + beat_every
        time_told = False
        while True:
            if time.monotonic() >= next_beat:
                next_beat = time.monotonic() + beat_every
                with contextlib.suppress(StoreError):  # a missed beat; the next may land
                    sweeps.coordinator_beat(sweep_id)
            if stopping and not announced:
                announced = True
                _say(out, sweep_id, "stopping: running trials end after their current batch")
                try:
                    _stop(runs, sweeps, sweeps.get(sweep_id), None)
                except KtuiError:
                    pass  # it had ended meanwhile
            for slot, worker in list(workers.items()):
                if worker.poll() is not None:
                    del workers[slot]
                    retired.discard(slot)
            requeue_dead()
            current = sweeps.get(sweep_id)
            if current.status != "running":
                if not workers:
                    why = f": {current.reason}" if current.reason else ""
                    _say(out, sweep_id, f"{current.status}{why}")
                    break
            else:
                if not time_told and _time_is_up(sweeps, current, out):
                    time_told = True
                    continue  # the next look sees the budget cut to the trials started
                free = sweeps.free_slots(current)
                going = sweeps.running_count(sweep_id)
                if free == 0 and not workers and sweeps.finish_if_done(sweep_id):
                    continue  # the next look sees it finished and ends
                # (A trial still 'running' without a worker of ours: its process is
                # either alive, and finishes it, or dead, and the next look re-queues it.)
                wanted = min(current.settings.workers, free + going)
                devices = plan_devices(current.settings.workers, gpus)
                slot = 0
                while len(workers) - len(retired) < wanted and slot < current.settings.workers:
                    if slot not in workers:
                        workers[slot] = _spawn(store, sweep_id, presets, out, devices[slot])
                    slot += 1
                # Fewer workers asked for (`ktui sweeps change --workers`): the highest
                # slots leave after their trial.
                for slot in sorted(workers, reverse=True):
                    if len(workers) - len(retired) <= current.settings.workers:
                        break
                    if slot not in retired:
                        retired.add(slot)
                        _retire(workers[slot])
                        _say(out, sweep_id, f"worker {workers[slot].pid} retires after its trial")
            _wait_for_workers(workers, POLL)
        final = sweeps.get(sweep_id)
        out.write(leaderboard_text(sweeps, final))
        out.flush()
        return 0 if final.status == "finished" else 1
    finally:
        signal.signal(signal.SIGINT, previous_int)
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGHUP, previous_hup)
        runs.close()


def _wait_for_workers(workers: dict[int, subprocess.Popen[bytes]], seconds: float) -> None:
    """Wait ``seconds`` for the next look, or less when the lowest slot's worker ends
    meanwhile: the look after a single worker's last trial (the sweep's end, or its
    replacement) comes at once instead of up to a poll later. (Other workers' ends are
    seen at the next look.)"""
    if not workers:
        time.sleep(seconds)
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        workers[min(workers)].wait(timeout=seconds)


def machine_gpus() -> list[int]:
    """The GPUs the coordinator may hand its workers (NVML indices, within its own
    ``CUDA_VISIBLE_DEVICES``); none when they cannot be told by index (UUIDs)."""
    from ktui.core.system import GpuReader, visible_gpu_indices

    if "CUDA_VISIBLE_DEVICES" in os.environ and visible_gpu_indices() is None:
        return []  # given as UUIDs or MIG names: leave the workers' environment alone
    reader = GpuReader()
    try:
        return [gpu.index for gpu in reader.read()]
    finally:
        reader.close()


def _retire(worker: subprocess.Popen[bytes]) -> None:
    retire = getattr(signal, "SIGUSR1", None)
    if retire is None:  # Windows: the worker ends with the sweep instead
        return
    try:
        worker.send_signal(retire)
    except OSError:
        pass  # it ended meanwhile


def _time_is_up(sweeps: SweepStore, sweep: SweepRecord, out: TextIO) -> bool:
    """When the sweep's time budget is spent, say so (once) and start no new trial
    (running ones finish; the workers' claims refuse new ones by themselves). A sweep
    with a number of trials has it cut to the trials started, so its leaderboard ends
    "trial 7 of 7"; a time-only sweep keeps none. Returns whether it did."""
    budget = sweep.settings.time_budget
    if budget is None or not sweep.settings.time_spent(sweep.created_at, time.time()):
        return False
    trials = sweep.settings.trials
    started = sweeps.taken_count(sweep.id)
    if trials is not None and started >= trials:
        return False  # every trial started before the time ran out: nothing to cut
    try:
        sweeps.add_change(sweep.id, f"time budget {format_seconds(budget)} spent")
        if trials is not None:
            sweeps.set_trials(sweep.id, started)
    except KtuiError:
        return False  # a worker took a slot meanwhile: the next look cuts again
    _say(
        out,
        sweep.id,
        f"time budget {format_seconds(budget)} spent after {started} "
        f"trial{'s' if started != 1 else ''}: no new trials",
    )
    return True


def _spawn(
    store: StoreLocation,
    sweep_id: int,
    presets: Sequence[Path],
    out: TextIO,
    device: str | None = None,
) -> subprocess.Popen[bytes]:
    try:
        fileno: int | None = out.fileno()
    except (OSError, io.UnsupportedOperation, AttributeError):
        fileno = None
    out.flush()
    return subprocess.Popen(
        ktui_argv(store, presets, "sweep-worker", str(sweep_id)),
        env=worker_environment(device, os.environ),
        stdin=subprocess.DEVNULL,
        stdout=fileno if fileno is not None else subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # Their own sessions: Ctrl+C here is handled by the coordinator (a clean stop
        # through the store), and a hang-up never reaches them.
        start_new_session=True,
    )


def _say(out: TextIO, sweep_id: int, text: str) -> None:
    try:
        print(f"{time.strftime('%H:%M:%S')} sweep {sweep_id}: {text}", file=out, flush=True)
    except OSError:
        pass


def _pause(sweeps: SweepStore, sweep: SweepRecord, out: TextIO) -> int:
    if sweep.status != "running":
        raise KtuiError(f"sweep {sweep.id} is {sweep.status}, not running")
    sweeps.set_status(sweep.id, "paused", "paused by you", change="paused")
    print(
        f"Sweep {sweep.id} paused: running trials finish, no new ones start. "
        f"`ktui sweeps resume {sweep.id}` goes on.",
        file=out,
    )
    return 0


def _stop(runs: RunStore, sweeps: SweepStore, sweep: SweepRecord, out: TextIO | None) -> int:
    if sweep.status in ("stopped", "finished"):
        raise KtuiError(f"sweep {sweep.id} has {sweep.status} already")
    sweeps.set_status(sweep.id, "stopped", "stopped by you", change="stopped")
    stopped = 0
    for trial in sweeps.trials(sweep.id):
        if trial.state == "running" and trial.run_id is not None:
            try:
                runs.add_command(trial.run_id, "stop")
                stopped += 1
            except KtuiError:
                pass  # it ended meanwhile
    if out is not None:
        print(
            f"Sweep {sweep.id} stopped; {stopped} running trial(s) end after their current batch.",
            file=out,
        )
    return 0


# --------------------------------------------------------------------------- reading
def _value(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def _params(row: TrialRow) -> str:
    return " ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.params.items()
    )


def list_sweeps(sweeps: SweepStore, out: TextIO) -> int:
    """``ktui sweeps``: one line per sweep."""
    records = sweeps.all()
    if not records:
        print("No sweeps yet. Start one with `ktui sweep PRESET --param NAME=A,B,C`.", file=out)
        return 0
    print(
        f"{'id':>4}  {'preset':<16} {'status':<11} {'trials':>8}  {'best':>10}  objective", file=out
    )
    for sweep in records:
        rows = leaderboard_rows(sweep, sweeps.trials(sweep.id))
        done = sum(1 for r in rows if r.state not in ("queued", "running"))
        top = best(rows, sweep.settings.direction)
        budget = "∞" if sweep.settings.trials is None else str(sweep.settings.trials)
        print(
            f"{sweep.id:>4}  {sweep.preset:<16} {_status(sweeps, sweep):<11} "
            f"{done:>3}/{budget:<4}  "
            f"{_value(top.objective if top else None):>10}  {sweep.settings.objective}",
            file=out,
        )
    return 0


def _status(sweeps: SweepStore, sweep: SweepRecord) -> str:
    """A running sweep whose processes are all gone shows as interrupted."""
    return sweeps.shown_status(sweep)


def leaderboard_text(sweeps: SweepStore, sweep: SweepRecord) -> str:
    """``ktui sweeps show ID``: the sweep's state and its trials ranked."""
    s = sweep.settings
    rows = leaderboard_rows(sweep, sweeps.trials(sweep.id))
    ranked = rank(rows, s.direction)
    started = sum(1 for r in rows if r.state != "queued")
    top = best(rows, s.direction)
    now = time.time()
    end = sweep.ended_at or now
    eta = (
        eta_seconds(rows, s.trials, s.workers, now, s.deadline(sweep.created_at))
        if sweep.status == "running"
        else None
    )
    changes = [
        f"  {time.strftime('%H:%M:%S', time.localtime(at))}  {text}"
        for at, text in sweeps.changes(sweep.id)[1:]
    ]
    # Which worker (host/pid GPU) ran each trial, once more than one did.
    by_worker = len({r.worker for r in rows if r.worker}) > 1
    width = max((len(r.worker) for r in rows), default=0) if by_worker else 0
    where = f"{'worker':<{width}}  " if by_worker else ""
    lines = [
        f"Sweep {sweep.id} · {sweep.preset} · {_status(sweeps, sweep)}"
        + (f" ({sweep.reason})" if sweep.reason else ""),
        f"{trial_progress(started, s.trials)} · best {s.objective} "
        + (f"{_value(top.objective)} (trial {top.number})" if top else "—")
        + f" · elapsed {format_seconds(end - sweep.created_at)}"
        + (f" · ETA {format_seconds(eta)}" if eta is not None else ""),
        f"sampler {s.sampler} · pruner {s.pruner} · {s.workers} worker(s) · "
        + (f"time budget {format_seconds(s.time_budget)} · " if s.time_budget is not None else "")
        + " ".join(p.describe() for p in sweep.spec.params),
        *(["changes:", *changes[-CHANGES_SHOWN:]] if changes else []),
        "",
        f"{'#':>3} {'trial':>5}  {'state':<11} {s.objective:>10} {'epochs':>7} {'run':>5}  "
        f"{where}hyperparameters / why",
    ]
    for place, row in enumerate(ranked, 1):
        epochs = f"{row.epochs}/{row.epochs_planned}" if row.epochs_planned else str(row.epochs)
        run = str(row.run_id) if row.run_id is not None else "—"
        lines.append(
            f"{place:>3} {row.number:>5}  {row.state:<11} {_value(row.objective):>10} "
            f"{epochs:>7} {run:>5}  "
            + (f"{row.worker:<{width}}  " if by_worker else "")
            + _params(row)
        )
        if row.reason and row.state != "finished":
            lines.append(f"{'':>{31 + len(where)}}↳ {row.reason}")
    return "\n".join(lines) + "\n"


def importance_text(sweeps: SweepStore, sweep: SweepRecord) -> str:
    """``ktui sweeps show ID --importance``: a bar per swept hyperparameter."""
    from ktui.core.sweep_insight import EVALUATOR, importance_bars, importances

    rows = leaderboard_rows(sweep, sweeps.trials(sweep.id))
    try:
        values = importances(rows, sweep.spec.params, sweep.settings.direction)
    except KtuiError as exc:
        return f"\nImportance: none yet ({exc}).\n"
    finished = sum(1 for r in rows if r.state == "finished")
    lines = [
        "",
        f"Importance for {sweep.settings.objective} (Optuna's {EVALUATOR} evaluator, "
        f"{finished} finished trials):",
        *(f"  {line}" for line in importance_bars(values)),
    ]
    return "\n".join(lines) + "\n"


def export_sweep(sweeps: SweepStore, sweep: SweepRecord, fmt: str) -> str:
    """A sweep's trials as CSV (one row per trial) or everything as JSON."""
    trials = sweeps.trials(sweep.id)
    if fmt == "json":
        document = {
            "id": sweep.id,
            "preset": sweep.preset,
            "status": sweep.status,
            "reason": sweep.reason,
            "spec": sweep.spec.to_json(),
            "settings": sweep.settings.to_json(),
            "created_at": sweep.created_at,
            "ended_at": sweep.ended_at,
            "trials": [
                {
                    "number": t.number,
                    "state": t.state,
                    "run_id": t.run_id,
                    "params": t.params,
                    "objective": t.objective,
                    "epochs": t.epochs,
                    "curve": list(t.curve),
                    "reason": t.reason,
                    "started_at": t.started_at,
                    "ended_at": t.ended_at,
                    "host": t.host,
                    "worker": t.worker,
                }
                for t in trials
            ],
            "changes": [{"at": at, "change": text} for at, text in sweeps.changes(sweep.id)],
        }
        return json.dumps(document, indent=2) + "\n"
    names = [p.name for p in sweep.spec.params]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        ["trial", "state", "run_id", *names, sweep.settings.objective, "epochs", "reason"]
    )
    for t in trials:
        writer.writerow(
            [
                t.number,
                t.state,
                "" if t.run_id is None else t.run_id,
                *[t.params.get(n, "") for n in names],
                "" if t.objective is None else t.objective,
                t.epochs,
                t.reason,
            ]
        )
    return buffer.getvalue()
