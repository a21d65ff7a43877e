"""Starting a sweep in the background: the one path ``ktui sweep --detach``, ``ktui
sweeps resume --detach`` and the form's sweep mode share.

:func:`launch_sweep` records a checked :class:`~ktui.core.sweep.SweepSpec` and starts
its coordinator (``ktui sweep-run ID``) in a process of its own session — no terminal,
stdin ``/dev/null``, output into ``runs/sweeps/ID.log`` beside the run folders — so the
sweep outlives the terminal or dashboard that started it; :func:`start_coordinator`
does the second half for a sweep that is recorded already (a resume). The
coordinator itself (and its worker processes) is the command line's
(:mod:`ktui.cli.sweep`); this module only starts it.

:func:`epoch_seconds` reads how long an epoch of a preset took in its recorded runs,
for the form's estimate of a sweep's total time.

Plain Python: importing it loads neither Optuna, TensorFlow nor Textual.
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ktui.core.errors import KtuiError
from ktui.core.sweep import SweepSpec
from ktui.store import RunStore
from ktui.store.sweeps import SweepStore

#: Recorded runs of a preset whose epochs the estimate of its epoch time reads (the
#: newest ones: the machine and the preset's file may have changed since the older).
EPOCH_TIME_RUNS = 5


@dataclass(frozen=True)
class DetachedSweep:
    """A sweep whose coordinator runs in a process of its own."""

    sweep_id: int
    pid: int
    output: Path
    """The file its coordinator and workers write their lines to."""


def output_file(runs: RunStore, sweep_id: int) -> Path:
    """Where a detached sweep's coordinator and workers write their lines."""
    folder = runs.runs_dir / "sweeps"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder / f"{sweep_id}.log"


def ktui_argv(store: Path, presets: Sequence[Path], *command: str) -> list[str]:
    """``python -m ktui --store STORE [--presets DIR ...] COMMAND...`` for a child
    process of a sweep, with absolute paths (it may run from another folder)."""
    argv = [sys.executable, "-m", "ktui", "--store", str(store.resolve())]
    for folder in presets:
        argv += ["--presets", str(Path(folder).resolve())]
    return argv + list(command)


def check_engine() -> None:
    """Refuse a sweep before anything is recorded when its search engine (Optuna) is
    not installed; found without importing it (a second and more)."""
    if importlib.util.find_spec("optuna") is None:
        raise KtuiError(
            "sweeps need the optuna package, which is not installed",
            hint="Install it with `pip install optuna` (or `pip install 'ktui[sweep]'`).",
        )


def start_coordinator(
    store: Path,
    sweep_id: int,
    *,
    presets: Sequence[Path] = (),
    env: Mapping[str, str] | None = None,
) -> DetachedSweep:
    """Start the coordinator of recorded sweep ``sweep_id`` in a session of its own;
    ``env`` is added to its environment (and so its workers', e.g.
    ``CUDA_VISIBLE_DEVICES``). Raises :class:`KtuiError` if it cannot start (the sweep
    is then recorded ``stopped`` with why)."""
    with RunStore(store) as runs:
        output = output_file(runs, sweep_id)
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            child = subprocess.Popen(
                ktui_argv(store, presets, "sweep-run", str(sweep_id)),
                stdin=subprocess.DEVNULL,
                stdout=fd,
                stderr=fd,
                # Its own session: neither a hang-up nor Ctrl+C of the terminal (or the
                # dashboard) that started it reaches it.
                start_new_session=True,
                close_fds=True,
                env={**os.environ, **env} if env else None,
            )
        except OSError as exc:
            SweepStore(runs).set_status(sweep_id, "stopped", f"could not start: {exc}")
            raise KtuiError(f"could not start the sweep in the background: {exc}") from None
        finally:
            os.close(fd)
        # The sweep names its coordinator from now on, so it is known alive (or dead).
        SweepStore(runs).adopt(sweep_id, child.pid)
    return DetachedSweep(sweep_id, child.pid, output)


def launch_sweep(
    spec: SweepSpec,
    *,
    store: Path,
    presets: Sequence[Path] = (),
    env: Mapping[str, str] | None = None,
) -> DetachedSweep:
    """Record the checked sweep ``spec`` and start its coordinator in the background
    (see :func:`start_coordinator`). Raises :class:`KtuiError` when Optuna is missing
    (nothing is recorded then), the store cannot take it, or the process cannot start."""
    check_engine()
    with RunStore(store) as runs:
        sweep_id = SweepStore(runs).create_sweep(spec)
    return start_coordinator(store, sweep_id, presets=presets, env=env)


def epoch_seconds(runs: RunStore, preset: str) -> tuple[float, int] | None:
    """How long an epoch of ``preset`` takes here: the median of the epochs of its
    newest recorded runs (at most :data:`EPOCH_TIME_RUNS` that have timed epochs),
    and how many runs it comes from; None when no run of it has one yet."""
    seconds: list[float] = []
    used = 0
    for run in runs.list_runs(preset=preset, limit=4 * EPOCH_TIME_RUNS):
        timed = [e.seconds for e in runs.epochs(run.id) if e.seconds is not None and e.seconds > 0]
        if timed:
            seconds.extend(timed)
            used += 1
            if used >= EPOCH_TIME_RUNS:
                break
    if not seconds:
        return None
    return statistics.median(seconds), used
