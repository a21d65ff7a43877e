"""``ktui runs show ID --confusion``: the matrix from the run's folder, plain in a pipe."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fakes import fixed_evaluation
from rich.console import Console

from ktui.cli import build_parser
from ktui.cli.confusion import show_confusion
from ktui.cli.runs import runs_command
from ktui.core import insight
from ktui.core.errors import KtuiError
from ktui.store import RunStore


def recorded(
    tmp_path: Path, *, predictions: bool, log: list[str] | None = None, skipped: str = ""
) -> Path:
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as store:
        run_id = store.create_run("mnist_mlp", values={"epochs": 1}, data="Fashion-MNIST")
        if predictions:
            fixed_evaluation().save(store.folder(run_id) / insight.PREDICTIONS_FILE)
        if skipped:
            store.set_evaluation_skipped(run_id, skipped)
        store.finish_run(run_id, test_loss=0.3, test_accuracy=0.85, seconds=1.0, log=log or [])
    return path


def run(store: Path, *argv: str) -> str:
    args = build_parser().parse_args(["runs", *argv])
    out = io.StringIO()
    assert runs_command(args, store, out=out) == 0
    return out.getvalue()


def test_plain_matrix_in_a_pipe(tmp_path: Path) -> None:
    lines = run(recorded(tmp_path, predictions=True), "show", "1", "--confusion").splitlines()
    assert lines[0] == ("Run 1  mnist_mlp  confusion matrix of 100 test samples, accuracy 85.00%")
    assert lines[2].split() == ["true", "\\", "pred", *"0123456789"]
    assert lines[3].split() == ["0", "T-shirt/top", "8", "1", "1", *["0"] * 7]
    assert any(line.startswith("6 Shirt") and "100.0%" in line for line in lines)
    assert lines[-1].split() == ["accuracy", "85.0%", "100"]
    assert "\x1b[" not in "\n".join(lines)


def test_rich_heat_map_on_a_terminal(tmp_path: Path) -> None:
    with RunStore(recorded(tmp_path, predictions=True)) as store:
        console = Console(
            file=io.StringIO(), force_terminal=True, color_system="truecolor", width=100
        )
        assert show_confusion(store, 1, console) == 0
        text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "9 Ankle boot" in text and "precision" in text
    assert "48;2;" in text  # shaded cells


def test_a_run_without_predictions_says_why(tmp_path: Path) -> None:
    # Why is kept as data (EvaluationSkipped), not read back from a log line.
    store = recorded(tmp_path, predictions=False, skipped="the preset has no accuracy metric.")
    with pytest.raises(KtuiError, match="has no confusion matrix") as caught:
        run(store, "show", "1", "--confusion")
    assert caught.value.hint is not None and "no accuracy metric" in caught.value.hint
