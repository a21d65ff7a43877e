"""The run service: starting, recording, steering and re-running runs (see
:mod:`ktui.runs.service`). Every way ktui runs a training goes through it.

Plain Python: importing it loads neither TensorFlow nor Textual.
"""

from __future__ import annotations

from ktui.core.rerun import RerunPlan, plan_config, plan_rerun
from ktui.runs.service import (
    OUTPUT_FILE,
    DetachedRun,
    RecordedRun,
    StopOnSignals,
    ignoring_hangups,
    launch_detached,
    plan_for_run,
    record_fit,
    record_run,
)

__all__ = [
    "OUTPUT_FILE",
    "DetachedRun",
    "RecordedRun",
    "RerunPlan",
    "StopOnSignals",
    "ignoring_hangups",
    "launch_detached",
    "plan_config",
    "plan_for_run",
    "plan_rerun",
    "record_fit",
    "record_run",
]
