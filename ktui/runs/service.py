"""The run service: the one way ktui starts, records and steers a run.

Every entry point goes through it — the dashboard's training screen, ``ktui run``,
``ktui run --detach`` (and the dashboard's "start in background"), and
:class:`ktui.Dashboard` inside a person's own ``fit`` — so they record the same
things the same way:

* :func:`record_run` / :func:`record_fit` open a :class:`RecordedRun`: the run's row
  in the store (:class:`~ktui.store.RunRecorder`), its control channel
  (:class:`~ktui.store.CommandBridge`, which applies pause/stop/learning-rate
  commands from other processes to the run's :class:`~ktui.core.controls.RunControls`)
  and one listener that feeds them and the caller's display, in that order (the
  store has the final status before the display learns the run is over);
* :meth:`RecordedRun.train` trains a preset in the calling thread;
* :func:`launch_detached` records a run and starts its training in a process of its
  own session;
* :class:`StopOnSignals` turns Ctrl+C, SIGTERM and a hang-up into a clean stop;
* re-runs are planned by :func:`ktui.core.rerun.plan_rerun` (:func:`plan_for_run`
  reads a recorded run for it).

Plain Python: TensorFlow is loaded only by the trainer a caller passes in.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from ktui.core.backends import BACKENDS
from ktui.core.controls import RunControls
from ktui.core.distribute import Placement
from ktui.core.errors import KtuiError, StoreError
from ktui.core.events import Event, Listener, LogLine
from ktui.core.metrics import MetricPolicy
from ktui.core.presets import Preset, RunConfig
from ktui.core.rerun import RerunPlan, plan_rerun
from ktui.core.store_url import StoreLocation, store_argument
from ktui.core.trainer import Trainer
from ktui.store import CommandBridge, Run, RunRecorder, RunStore, fan_out
from ktui.store.placement import read_placement
from ktui.store.recorder import CLOSE_WAIT

#: The file a detached run's output goes to, in its run folder.
OUTPUT_FILE = "output.log"


class RecordedRun:
    """One run recorded in a store by this process, with its control channel.

    Build it with :func:`record_run` or :func:`record_fit`. :attr:`listener` is what
    the trainer (or the callback) emits to; :meth:`close` ends the control channel
    and the store writer (after the final event). Nothing here ever raises into the training: store
    problems are reported through ``warn`` and kept in :attr:`warnings`.
    """

    def __init__(
        self,
        store: RunStore,
        recorder: RunRecorder,
        controls: RunControls,
        *,
        display: Listener | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.recorder = recorder
        self.controls = controls
        notify: Listener = recorder if display is None else fan_out(recorder, display)
        self.bridge = CommandBridge(
            store,
            recorder.run_id,
            controls,
            recorder=recorder,
            notify=notify,
            warn=warn or (lambda text: recorder(LogLine(text))),
        ).start()
        listeners: list[Listener] = [recorder, self.bridge]
        if display is not None:
            listeners.append(display)
        self.listener: Listener = fan_out(*listeners)
        """The run's listener: the recorder first, then the bridge, then the display."""

    @property
    def run_id(self) -> int:
        """The run's id in the store."""
        return self.recorder.run_id

    @property
    def folder(self) -> Path:
        """The run's folder (``model.keras``, ``history.csv``, ...)."""
        return self.recorder.folder

    @property
    def warnings(self) -> list[str]:
        """What could not be recorded, as messages for the person."""
        return self.recorder.warnings

    def train(self, config: RunConfig, trainer: Trainer) -> Event:
        """Train ``config`` in the calling thread; returns the final event."""
        return trainer.run(config, self.listener, self.controls, artifacts=self.folder)

    def hang_up(self) -> None:
        """The terminal went away: stop after the current batch, recorded ``interrupted``."""
        self.recorder.end_as = "interrupted"
        self.controls.stop()

    def prune(self, reason: str) -> None:
        """A sweep's pruner judged the run too weak: stop after the current batch,
        recorded ``pruned`` with ``reason``."""
        self.recorder.end_reason = reason
        self.recorder.end_as = "pruned"
        self.controls.stop()

    def abandon(self) -> None:
        """The process gives up on the run now (a second Ctrl+C): recorded ``interrupted``."""
        self.recorder.abandon()

    def close(self, timeout: float = CLOSE_WAIT) -> list[str]:
        """End the control channel, then wait up to ``timeout`` seconds for the store
        writes still queued (see :meth:`RunRecorder.close`); returns what could not be
        written (empty when the store has everything). Idempotent."""
        self.bridge.close()
        return self.recorder.close(timeout)


def record_run(
    store: RunStore,
    config: RunConfig,
    controls: RunControls,
    *,
    display: Listener | None = None,
    run_id: int | None = None,
    warn: Callable[[str], None] | None = None,
) -> RecordedRun:
    """Record a run of ``config`` (into the existing run ``run_id``: a detached run's
    row, made by :func:`launch_detached`) and open its control channel.

    Raises :class:`~ktui.core.errors.StoreError` when the store cannot take the run.
    """
    recorder = RunRecorder.for_config(store, config, warn=warn, run_id=run_id)
    return RecordedRun(store, recorder, controls, display=display, warn=warn)


def record_fit(
    store: RunStore,
    name: str,
    controls: RunControls,
    *,
    values: Mapping[str, Any],
    data: str,
    epochs: int,
    policy: MetricPolicy | None = None,
    display: Listener | None = None,
    warn: Callable[[str], None] | None = None,
) -> RecordedRun:
    """Record a person's own ``fit`` (:class:`ktui.Dashboard`) as run ``name``."""
    recorder = RunRecorder(
        store,
        name,
        values=values,
        data=data,
        epochs=epochs,
        warn=warn,
        data_source=data or None,
        policy=policy,
    )
    return RecordedRun(store, recorder, controls, display=display, warn=warn)


@dataclass(frozen=True)
class DetachedRun:
    """A run started in a process of its own by :func:`launch_detached`."""

    run_id: int
    pid: int
    output: Path
    """The file its output goes to."""


def launch_detached(
    config: RunConfig,
    assignments: Sequence[str],
    data: str | None,
    *,
    store: StoreLocation,
    presets: Sequence[Path] = (),
    show_log: bool = False,
    tensorboard: bool = False,
    env: Mapping[str, str] | None = None,
) -> DetachedRun:
    """Record a run of ``config`` and start its training process (``ktui run ...
    --run-id N``) in a session of its own: no terminal, stdin ``/dev/null``, output
    into ``output.log`` in the run's folder. Used by ``ktui run --detach`` and the
    dashboard's "start in background". Raises :class:`KtuiError` if it cannot start.
    ``env`` is added to the process's environment (``CUDA_VISIBLE_DEVICES`` of the
    form's devices field).
    """
    # The preset's own file, so the child finds exactly this preset wherever it lives.
    source = Path(config.preset.source)
    name = str(source.resolve()) if source.is_file() else config.preset.name
    runs = RunStore(store)
    try:
        runs.mark_interrupted()
        run_id = runs.create_run(
            config.preset.name,
            values=config.values,
            defaults=config.preset.defaults(),
            data=config.data.describe(),
            epochs=config.epochs,
            data_source=config.source_text or None,
            policy=config.policy,
        )
        output = runs.folder(run_id) / OUTPUT_FILE
        argv = [sys.executable, "-m", "ktui", "--store", store_argument(store)]
        for folder in presets:
            argv += ["--presets", str(Path(folder).resolve())]
        argv += ["run", name]
        for assignment in assignments:
            argv += ["--set", assignment]
        if data is not None:
            argv += ["--data", data]
        if show_log:
            argv.append("--log")
        if tensorboard:
            argv.append("--tensorboard")
        if config.backend is not None:  # from --backend, the form or the preset
            argv += ["--backend", config.backend]
        if config.strategy != "auto":
            argv += ["--strategy", config.strategy]
        if config.seed is not None and config.seed != config.preset.raw.get("seed"):
            argv += ["--seed", str(config.seed)]  # a re-run's recorded seed
        argv += ["--run-id", str(run_id)]
        try:
            fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                child = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=fd,
                    stderr=fd,
                    # Its own session: no controlling terminal, not in the shell's
                    # process group, so neither a hang-up nor Ctrl+C here reaches it.
                    start_new_session=True,
                    close_fds=True,
                    env={**os.environ, **env} if env else None,
                )
            finally:
                os.close(fd)
        except OSError as exc:
            runs.fail_run(
                run_id, f"could not start the training process: {exc}", error_type="OSError"
            )
            raise KtuiError(f"could not start a background run: {exc}") from None
        # The row names the training process from now on, so it is followed (and, if
        # it dies, marked interrupted) by its own pid, not this short-lived one's.
        runs.adopt_run(run_id, pid=child.pid)
    finally:
        runs.close()
    return DetachedRun(run_id, child.pid, output)


class StopOnSignals:
    """Ctrl+C and SIGTERM stop the run after the current batch; a second one raises
    :class:`KeyboardInterrupt` (quit now). With ``hang_up``, a SIGHUP (the terminal
    went away) calls it once. Installed from before TensorFlow loads to the run's
    end, so no signal in between kills the process with the run left ``running``.

    Use as a context manager in the main thread; the previous handlers come back on
    exit. :attr:`count` says how many stop signals came.
    """

    def __init__(
        self,
        controls: RunControls,
        *,
        on_stop: Callable[[], None] | None = None,
        hang_up: Callable[[], None] | None = None,
    ) -> None:
        self.controls = controls
        self.count = 0
        self.received: list[int] = []
        """The stop signals that came, in order (``ktui run`` exits 143 for a SIGTERM)."""
        self.hung_up = False
        self._on_stop = on_stop
        self._hang_up = hang_up
        self._previous: dict[int, Any] = {}

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        self.received.append(signum)
        if self.count > 1:
            raise KeyboardInterrupt
        self.controls.stop()
        if self._on_stop is not None:
            self._on_stop()

    def _hangup(self, signum: int, frame: FrameType | None) -> None:
        if self.hung_up or self._hang_up is None:
            return
        self.hung_up = True
        self._hang_up()

    def __enter__(self) -> StopOnSignals:
        wanted: list[tuple[int, Any]] = [(signal.SIGINT, self._stop), (signal.SIGTERM, self._stop)]
        if self._hang_up is not None:
            wanted.append((signal.SIGHUP, self._hangup))
        for signum, handler in wanted:
            self._previous[signum] = signal.signal(signum, handler)
        return self

    def __exit__(self, *_: object) -> None:
        for signum, handler in self._previous.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(signum, handler)
        self._previous.clear()


@contextlib.contextmanager
def ignoring_hangups() -> Iterator[None]:
    """A detached run's process has no terminal to lose: a stray SIGHUP is no stop."""
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, previous)


def plan_for_run(
    presets: Mapping[str, Preset], run: Run, placement: Placement | None = None
) -> RerunPlan:
    """The re-run of recorded ``run`` (see :func:`ktui.core.rerun.plan_rerun`), where it
    ran (``placement``, as recorded: its strategy and GPUs) and on its Keras backend."""
    seed = run.info.get("seed")
    # Runs recorded before ktui knew backends list TensorFlow's version: they ran on it.
    versions = run.versions
    backend = versions.get("backend") or ("tensorflow" if "tensorflow" in versions else None)
    return plan_rerun(
        presets,
        run.preset,
        run.values,
        data_source=run.data_source,
        data=run.data,
        seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
        backend=backend if backend in BACKENDS else None,
        strategy=None if placement is None else placement.strategy,
        devices=None if placement is None else placement.visible_devices,
        workers=1 if placement is None else placement.workers,
        run_id=run.id,
    )


def plan_recorded(presets: Mapping[str, Preset], store: RunStore, run_id: int) -> RerunPlan:
    """:func:`plan_for_run` of run ``run_id`` of ``store``, with where it ran."""
    run = store.get_run(run_id)
    placement = None
    with contextlib.suppress(StoreError):  # a store of before v11: where is unknown
        placement = read_placement(store, run_id)
    return plan_for_run(presets, run, placement)
