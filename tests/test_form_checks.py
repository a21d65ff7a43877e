"""The form refuses, before Start and without TensorFlow, values whose model does not
fit the data (issue 10, item 15) and values Keras would refuse where the preset uses
them (item 14). Pilot tests with the fake trainer."""

from __future__ import annotations

import time
from pathlib import Path

from conftest import make_app
from fakes import FakeTrainer
from textual.pilot import Pilot
from textual.widgets import Button, Input, Static

from ktui.core.presets import load_catalog, loads, shipped_presets_dir
from ktui.screens.form import FormScreen


async def _settle(pilot: Pilot[int], form: FormScreen, name: str, value: str) -> None:
    form.query_one(f"#hp-{name}", Input).value = value
    deadline = time.monotonic() + 10
    while form.query_one(f"#hp-{name}", Input).value != value:  # pragma: no cover
        assert time.monotonic() < deadline
        await pilot.pause(0.02)
    await pilot.pause()


async def test_kernel_size_28_blocks_start_with_the_layer_named(tmp_path: Path) -> None:
    trainer = FakeTrainer()
    app = make_app(trainer, user_presets_dir=tmp_path / "user-presets")
    async with app.run_test(size=(120, 40)) as pilot:
        form = FormScreen(load_catalog([shipped_presets_dir()]).get("mnist_cnn"))
        await app.push_screen(form)
        await pilot.pause()
        assert not form.query_one("#start", Button).disabled
        await _settle(pilot, form, "kernel_size", "28")
        assert form.query_one("#start", Button).disabled
        derived = str(form.query_one("#derived", Static).render())
        assert "Cannot start: model.layers[1]: MaxPooling2D pool_size 2×2 is larger" in derived
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert app.screen is form and trainer.runs == []
        await _settle(pilot, form, "kernel_size", "27")
        assert not form.query_one("#start", Button).disabled


async def test_an_unbounded_value_keras_would_refuse_blocks_start(tmp_path: Path) -> None:
    text = (shipped_presets_dir() / "dummy_binary.toml").read_text(encoding="utf-8")
    marker = "[hyperparameters.units]"
    head, _, tail = text.partition(marker)
    body, sep, rest = tail.partition("\n[")
    unbounded = "\n".join(
        line for line in body.splitlines() if not line.startswith(("min =", "max ="))
    )
    preset = loads(head + marker + unbounded + sep + rest, source="unbounded.toml")
    assert preset.hyperparameters["units"].min is None
    app = make_app(user_presets_dir=tmp_path / "user-presets")
    async with app.run_test(size=(120, 40)) as pilot:
        form = FormScreen(preset)
        await app.push_screen(form)
        await pilot.pause()
        await _settle(pilot, form, "units", "0")
        assert form.query_one("#start", Button).disabled
        derived = str(form.query_one("#derived", Static).render())
        assert "Dense units must be a whole number of at least 1, got 0 (from $units)" in derived
        assert "got 0 (from $units)" in str(form.query_one("#error-units", Static).render())
        assert form.query_one("#field-units").has_class("invalid")
        await _settle(pilot, form, "units", "16")
        assert not form.query_one("#start", Button).disabled
        assert not form.query_one("#field-units").has_class("invalid")
