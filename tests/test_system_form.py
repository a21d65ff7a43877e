"""The form's "will it fit" line: the estimate, and the batch size that fits when not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_snapshots import make_app, settle
from textual.widgets import Static


async def test_the_form_says_a_batch_does_not_fit_and_which_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ktui.core import system

    monkeypatch.setattr(system, "free_memory", lambda devices=None: ("GPU0 (NVIDIA H200)", 2**17))
    app = make_app(user_presets_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("enter")
        await settle(pilot)
        await pilot.pause(0.4)  # the parameter count (and the estimate) is debounced
        await settle(pilot)
        text = str(app.screen.query_one("#derived", Static).render())
        assert "Memory ≈ 233 KiB a step at batch_size 200: does NOT fit" in " ".join(text.split())
        assert "(128 KiB free on GPU0 (NVIDIA H200)); batch_size 64 would fit" in " ".join(
            text.split()
        )


async def test_the_devices_field_is_checked_and_given_to_a_background_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from textual.widgets import Button, Input


    launched = _launches(monkeypatch)
    app = _app_with_store(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("enter")
        await settle(pilot)
        form = app.screen
        form.query_one("#devices", Input).value = "gpu0"
        await pilot.pause()
        error = " ".join(str(form.query_one("#error-devices", Static).render()).split())
        assert error.startswith("devices 'gpu0' is not a list of GPU numbers; write e.g. 0")
        assert form.query_one("#start-background", Button).disabled
        form.query_one("#devices", Input).value = "1"
        await pilot.pause()
        assert not form.query_one("#start-background", Button).disabled
        await pilot.press("ctrl+b")
        await pilot.pause()
        assert launched == [{"CUDA_VISIBLE_DEVICES": "1"}]
    app.store.close()


async def test_start_with_devices_chosen_trains_in_a_process_that_sees_only_those(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """This process's GPUs were fixed when its framework loaded, so a run on chosen
    devices gets a process of its own (as ^b would), not a notice that they are ignored."""
    from textual.widgets import Input

    from ktui.screens.training import TrainingScreen

    launched = _launches(monkeypatch)
    app = _app_with_store(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("enter")
        await settle(pilot)
        app.screen.query_one("#devices", Input).value = "0"
        await pilot.pause()
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert launched == [{"CUDA_VISIBLE_DEVICES": "0"}]
        assert not isinstance(app.screen, TrainingScreen)  # not trained in this process
    app.store.close()


def _launches(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, str] | None]:
    """Background launches, recorded (their ``env``) and refused, not started."""
    import ktui.runs as runs_mod
    from ktui.core.errors import KtuiError

    launched: list[dict[str, str] | None] = []

    def fake_launch(*args: object, env: dict[str, str] | None = None, **kwargs: object) -> None:
        launched.append(env)
        raise KtuiError("not really starting a process in this test")

    monkeypatch.setattr(runs_mod, "launch_detached", fake_launch)
    return launched


def _app_with_store(tmp_path: Path) -> Any:
    from ktui.store import RunStore

    app = make_app(user_presets_dir=tmp_path)
    app.store = RunStore(tmp_path / "runs.sqlite")
    return app
