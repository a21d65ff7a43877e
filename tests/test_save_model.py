"""The one model-save path (engine and Dashboard): complete or absent, owner-only."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from ktui.core.events import Event, LogLine

keras = pytest.importorskip("keras")
save = pytest.importorskip("ktui.training.save")


def tiny_model() -> Any:
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(loss="mse", optimizer="sgd")
    return model


def test_a_saved_model_is_complete_and_owner_only(tmp_path: Path) -> None:
    events: list[Event] = []
    path = save.save_model(tiny_model(), tmp_path / "run", events.append)
    assert path == tmp_path / "run" / "model.keras" and events == []
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.keras"]
    assert keras.models.load_model(path).count_params() == 4


def test_a_save_that_dies_halfway_leaves_no_truncated_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tiny_model()

    def half_a_file(self: Any, filepath: Any, *args: Any, **kwargs: Any) -> None:
        Path(filepath).write_bytes(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(type(model), "save", half_a_file)
    events: list[Event] = []
    assert save.save_model(model, tmp_path, events.append) is None
    assert list(tmp_path.iterdir()) == []  # neither model.keras nor the partial file
    [line] = events
    assert isinstance(line, LogLine) and "could not save the model" in line.text
    assert "No space left on device" in line.text
