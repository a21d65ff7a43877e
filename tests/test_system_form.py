"""The form's "will it fit" line: the estimate, and the batch size that fits when not."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_snapshots import make_app, settle
from textual.widgets import Static


async def test_the_form_says_a_batch_does_not_fit_and_which_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ktui.core import system

    monkeypatch.setattr(system, "free_memory", lambda devices=None: ("GPU0 (NVIDIA H200)", 2**17))
    app = make_app(tmp_path)
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
