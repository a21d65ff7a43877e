"""``ktui run --tensorboard``: the same run also as TensorBoard event files."""

from __future__ import annotations

from pathlib import Path

from conftest import run_ktui

from ktui.store import RunStore


def test_tensorboard_event_files_in_the_run_folder(tmp_path: Path) -> None:
    store_file = tmp_path / "runs.sqlite"
    result = run_ktui(
        "--store", str(store_file), "run", "dummy_binary", "--set", "epochs=2", "--tensorboard"
    )
    assert result.returncode == 0, result.stderr
    with RunStore(store_file) as store:
        (run,) = store.list_runs()
        assert run.status == "finished"
        events = list((store.folder(run.id) / "tensorboard").rglob("events.out.tfevents.*"))
    assert events, "no TensorBoard event files were written"
    assert all(path.stat().st_size > 0 for path in events)
