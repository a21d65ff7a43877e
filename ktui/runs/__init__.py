"""The run service: starting, recording, steering and re-running runs (see
:mod:`ktui.runs.service`), and starting sweeps in the background
(:mod:`ktui.runs.sweeps`). Every way ktui runs a training goes through it.

Plain Python: importing it loads neither TensorFlow nor Textual.
"""

from __future__ import annotations

from ktui.core.rerun import RerunPlan, assignments, plan_config, plan_rerun
from ktui.runs.service import (
    OUTPUT_FILE,
    DetachedRun,
    RecordedRun,
    StopOnSignals,
    ignoring_hangups,
    launch_detached,
    plan_for_run,
    plan_recorded,
    record_fit,
    record_run,
)
from ktui.runs.sweeps import DetachedSweep, epoch_seconds, launch_sweep, start_coordinator

__all__ = [
    "OUTPUT_FILE",
    "DetachedRun",
    "DetachedSweep",
    "RecordedRun",
    "RerunPlan",
    "StopOnSignals",
    "assignments",
    "ignoring_hangups",
    "epoch_seconds",
    "launch_detached",
    "launch_sweep",
    "plan_config",
    "plan_for_run",
    "plan_recorded",
    "plan_rerun",
    "record_fit",
    "record_run",
    "start_coordinator",
]
