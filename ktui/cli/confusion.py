"""``ktui runs show ID --confusion``: a recorded run's confusion matrix, from its folder.

The engine saves ``predictions.npz`` in the run's folder after a classification
run; this prints it as a heat map with counts on a terminal (rich) and as plain
aligned text in a pipe. Nothing here loads TensorFlow.
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from ktui.core.errors import KtuiError
from ktui.core.insight import PREDICTIONS_FILE, load_evaluation
from ktui.core.pictures import (
    CLI_HEAT,
    confusion_caption,
    confusion_lines,
    confusion_table,
    metrics_table,
)
from ktui.store.db import RunStore


def show_confusion(store: RunStore, run_id: int, console: Console) -> int:
    """Print run ``run_id``'s confusion matrix and per-class figures; returns 0.

    A run without one (not a classifier, failed, still going, recorded before ktui
    made them) is a :class:`KtuiError` that says which and why.
    """
    run = store.get_run(run_id)
    path = store.folder(run_id) / PREDICTIONS_FILE
    if not path.is_file():
        raise KtuiError(
            f"run {run_id} ({run.preset}, {run.status}) has no confusion matrix: "
            f"there is no {PREDICTIONS_FILE} in {path.parent}",
            hint=_why_missing(store, run_id, run.status),
        )
    evaluation = load_evaluation(path)
    title = (
        f"Run {run_id}  {run.preset}  confusion matrix of {evaluation.samples:,} test samples, "
        f"accuracy {evaluation.accuracy * 100:.2f}%"
    )
    if not console.is_terminal or console.is_dumb_terminal:
        # A pipe or a file: plain lines that grep and column can read.
        for line in [title, "", *confusion_lines(evaluation)]:
            console.print(line, markup=False, highlight=False, soft_wrap=True)
        return 0
    shaded = not console.no_color
    console.print(Text(title, style="bold"))
    console.print()
    console.print(confusion_table(evaluation, heat=CLI_HEAT if shaded else None))
    console.print(confusion_caption(shaded=shaded))
    console.print()
    console.print(metrics_table(evaluation))
    return 0


def _why_missing(store: RunStore, run_id: int, status: str) -> str:
    if status == "running":
        return "The matrix is made after the run's test evaluation; try again when it ends."
    if status == "failed":
        return "The run failed before its test set was evaluated."
    reason = store.get_run(run_id).evaluation_skipped
    if reason:
        return "The run says why: " + reason
    return (
        "Only classification runs (an accuracy metric and a softmax or sigmoid output) "
        "that reached their test evaluation have one."
    )
