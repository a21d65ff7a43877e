"""The system panel widget: one line at 80×24, sparkline rows from 32 rows up (snapshots)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.pilot import Pilot

from ktui.core.system import GpuSample, SystemSample
from ktui.widgets.system import SystemPanel

SIZES = [(80, 24), (120, 40)]
GIB = 2**30


def samples(gpus: bool = True, n: int = 24) -> list[SystemSample]:
    """A run's samples with a rising and falling load, fixed numbers (no clock)."""
    out = []
    for i in range(n):
        load = (i % 8) / 7
        gpu_list = (
            tuple(
                GpuSample(
                    index=k,
                    name="NVIDIA H200",
                    utilization=20 + 75 * load - 10 * k,
                    memory_used=int((30 + 4 * load + 10 * k) * GIB),
                    memory_total=140 * GIB,
                    power_watts=150 + 400 * load,
                    temperature_c=45 + 20 * load,
                )
                for k in range(2)
            )
            if gpus
            else ()
        )
        out.append(
            SystemSample(
                time=float(i),
                process_cpu=90 + 100 * load,
                process_rss=int((1.5 + 0.5 * load) * GIB),
                machine_cpu=30 + 50 * load,
                memory_available=int((12 - 2 * load) * GIB),
                memory_total=31 * GIB,
                gpus=gpu_list,
                gpu_note=None if gpus else "no GPU: NVML cannot start (no NVIDIA driver library "
                "on this machine)",
                device_memory=int((8 + 2 * load) * GIB) if gpus else None,
                device_memory_peak=int(10 * GIB) if gpus else None,
            )
        )
    return out


class PanelApp(App[None]):
    def __init__(self, data: list[SystemSample]) -> None:
        super().__init__()
        self.data = data

    def compose(self) -> ComposeResult:
        yield SystemPanel(id="system")

    def on_mount(self) -> None:
        self.query_one(SystemPanel).add_samples(self.data)


async def settle(pilot: Pilot[None]) -> None:
    await pilot.pause()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_panel_with_gpus(snap_compare, size: tuple[int, int]) -> None:
    assert snap_compare(PanelApp(samples()), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_panel_without_a_gpu(snap_compare, size: tuple[int, int]) -> None:
    assert snap_compare(PanelApp(samples(gpus=False)), terminal_size=size, run_before=settle)


async def test_the_panel_collapses_to_one_line_and_grows_with_the_terminal() -> None:
    app = PanelApp(samples())
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        panel = app.query_one(SystemPanel)
        assert panel.collapsed and panel.size.height == 1
        line = str(app.query_one("#sys-line").render())
        assert line.startswith("System  CPU 190% | RSS 2.0 GiB") and "GPU1" in line
        await pilot.resize_terminal(120, 40)
        await settle(pilot)
        assert not panel.collapsed
        # CPU, memory, two GPUs, the device's own memory
        assert panel.size.height == 5
        assert len(panel.query_one("#sys-gpu0").values) == 24


async def test_without_a_gpu_the_panel_says_why_in_one_line() -> None:
    app = PanelApp(samples(gpus=False, n=3))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        panel = app.query_one(SystemPanel)
        assert panel.size.height == 3
        note = str(app.query_one("#sys-note").render())
        assert note == "no GPU: NVML cannot start (no NVIDIA driver library on this machine)"


async def test_the_training_screen_shows_the_panel_and_says_when_input_bound(
    tmp_path: Path,
) -> None:
    from test_snapshots import make_app
    from test_snapshots import settle as settle_app
    from textual.widgets import Input

    from ktui.screens.training import TrainingScreen

    app = make_app(user_presets_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("enter")
        await settle_app(pilot)
        app.screen.query_one("#hp-epochs", Input).value = "4"
        await pilot.pause()
        await pilot.press("ctrl+r")
        await settle_app(pilot)
        screen = app.screen
        assert isinstance(screen, TrainingScreen) and not screen.running
        status = str(screen.query_one("#status").render())
        assert "input-bound: 46 % of step time waiting for data; try a larger batch size" in status
        panel = screen.query_one(SystemPanel)
        assert len(panel.query_one("#sys-cpu").values) == 4 and not panel.collapsed
        log = "\n".join(str(line.text) for line in screen.query_one("#log").lines)
        assert "ktui: epoch 3: input-bound: 46 %" in log and "ktui: epoch 4" not in log
        assert "ktui: memory estimate ≈ 233 KiB for a batch of 200" in log


async def test_an_attached_run_shows_its_recorded_system_figures(tmp_path: Path) -> None:
    import time

    from fakes import FakeTrainer

    from ktui.app import create_app
    from ktui.core.controls import RunControls
    from ktui.core.input_bound import EpochTiming
    from ktui.core.presets import load_catalog, shipped_presets_dir
    from ktui.screens.training import TrainingScreen
    from ktui.store import RunRecorder, RunStore
    from ktui.store.system import record_samples, record_timing

    store = RunStore(tmp_path / "runs.sqlite")
    catalog = load_catalog([shipped_presets_dir()])
    config = catalog.get("dummy_binary").resolve({"epochs": 2})
    recorder = RunRecorder.for_config(store, config)
    FakeTrainer(system=False).run(config, recorder, RunControls())
    record_samples(store, recorder.run_id, samples(n=5))
    record_timing(store, recorder.run_id, EpochTiming(2, 10, 0.3, 0.0, 0.7))
    app = create_app(
        catalog, store=store, attach=recorder.run_id, user_presets_dir=tmp_path,
        clock=time.monotonic,
    )
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(100):
            await pilot.pause(0.05)
            screen = app.screen
            if isinstance(screen, TrainingScreen) and screen.final is not None:
                break
        screen = app.screen
        assert isinstance(screen, TrainingScreen) and screen.attached
        panel = screen.query_one(SystemPanel)
        assert len(panel.query_one("#sys-cpu").values) == 5
        assert panel.query_one("#sys-row-gpu1") is not None
        status = str(screen.query_one("#status").render())
        assert "input-bound: 70 % of step time waiting for data" in status
    store.close()
