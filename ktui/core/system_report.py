"""What ``ktui runs show`` says about a run's machine and input: rows of plain text.

From the run's recorded :class:`~ktui.core.system.SystemSample` series (averages and
peaks: CPU %, memory, GPU %, GPU memory, the backend's device memory) and its
per-epoch :class:`~ktui.core.input_bound.EpochTiming` (the share of step time spent
waiting for data, and the verdict when it is high). Plain Python, no formatting
library: the command line and the run detail screen print the rows as they like.
"""

from __future__ import annotations

from collections.abc import Sequence

from ktui.core.input_bound import EpochTiming, diagnose
from ktui.core.system import SystemSample, format_bytes, summarize

__all__ = ["input_rows", "system_rows"]


def _mean_peak(mean: float | None, peak: float | None, unit: str) -> str:
    if mean is None or peak is None:
        return "–"
    if unit == "%":
        return f"{mean:.0f}% average, {peak:.0f}% peak"
    return f"{format_bytes(mean)} average, {format_bytes(peak)} peak"


def system_rows(samples: Sequence[SystemSample]) -> list[list[str]]:
    """``[label, text]`` rows: averages and peaks over the run (empty without samples)."""
    if not samples:
        return []
    summary = summarize(samples)
    rows = [
        ["CPU", _mean_peak(summary.process_cpu_mean, summary.process_cpu_peak, "%")
         + " (the training process; 100% is one core)"],
        ["memory", _mean_peak(summary.process_rss_mean, summary.process_rss_peak, "B")
         + " (resident)"],
    ]
    if summary.gpu_util_mean is not None or summary.gpu_memory_mean is not None:
        names = sorted({g.name for s in samples for g in s.gpus})
        rows.append(
            ["GPU", _mean_peak(summary.gpu_util_mean, summary.gpu_util_peak, "%")
             + (f" ({', '.join(names)})" if names else "")]
        )
        rows.append(
            ["GPU memory", _mean_peak(summary.gpu_memory_mean, summary.gpu_memory_peak, "B")]
        )
    else:
        note = next((s.gpu_note for s in reversed(samples) if s.gpu_note), None)
        rows.append(["GPU", note or "no GPU figures"])
    if summary.device_memory_peak is not None:
        rows.append(["model on device", f"{format_bytes(summary.device_memory_peak)} peak"])
    rows.append(["samples", f"{summary.samples}"])
    return rows


def input_rows(timings: Sequence[EpochTiming], data_kind: str | None = None) -> list[list[str]]:
    """``[label, text]`` rows: per-epoch wait for data, and the verdict on the last epoch."""
    measured = [t for t in timings if t.waiting_share is not None]
    if not measured:
        return []
    shares = ", ".join(f"{(t.waiting_share or 0) * 100:.0f}%" for t in measured[-8:])
    more = f" (last 8 of {len(measured)} epochs)" if len(measured) > 8 else ""
    rows = [["waiting for data", f"{shares} of step time per epoch{more}"]]
    verdict = diagnose(measured[-1], data_kind)
    rows.append(["input", verdict or "not input-bound"])
    return rows
