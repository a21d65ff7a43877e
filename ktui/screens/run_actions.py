"""Re-running, editing and deleting a recorded run from the screens that show one
(the history and a run's detail): the plan, the checks, the messages, the dialog."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from textual.screen import Screen

from ktui.core import data as data_mod
from ktui.core.errors import KtuiError, StoreError
from ktui.core.presets import Preset, RunConfig
from ktui.screens.dialogs import ConfirmDialog
from ktui.store import RunSummary

if TYPE_CHECKING:
    from ktui.app import KtuiApp


def training_in_progress(app: KtuiApp) -> str | None:
    """A description of the run that is going in this app, or None."""
    from ktui.screens.training import TrainingScreen

    for screen in app.screen_stack:
        if isinstance(screen, TrainingScreen) and screen.running and not screen.attached:
            which = f"run {screen.run_id}" if screen.run_id is not None else "a run"
            return f"{which} of {screen.preset_name}"
    return None


def recorded_source(data: str, preset: Preset) -> str | None:
    """The data source to re-run with, from what the store recorded; None: the preset's own.

    The store keeps a description of the data the run used (``random (seed 3)``,
    ``MNIST``, the path of a .npz file, ``downloaded by Keras (...)``), not the
    source as typed; this reads back the descriptions that are unambiguous.
    """
    text = data.strip()
    default = str(preset.raw["data"]["source"])
    source: str | None = None
    if text.startswith("random"):
        source = "random"
    elif text in ("MNIST", "Fashion-MNIST"):
        source = text.lower().replace("-", "_")
    elif text.endswith(".npz") and not text.startswith("downloaded by Keras"):
        path = Path(text).expanduser()
        # Keras's own mnist.npz is what the preset's "mnist" source loads.
        if path.parent != data_mod.keras_cache_dir():
            source = str(path)
    if source is None:
        return None
    try:
        same = data_mod.parse_source(source) == data_mod.parse_source(default)
    except KtuiError:
        same = False
    return None if same else source


@dataclass(frozen=True)
class RerunPlan:
    """What a re-run of a stored run would use."""

    preset: Preset
    values: dict[str, Any]
    data: str | None
    dropped: list[str]
    """Recorded hyperparameters the preset no longer has."""


def plan_rerun(app: KtuiApp, run: RunSummary) -> RerunPlan | str:
    """The preset, values and data to re-run ``run`` with, or why it cannot be re-run."""
    preset = app.catalog.presets.get(run.preset)
    if preset is None:
        return (
            f"Run {run.id} cannot be re-run: its preset {run.preset} is no longer available "
            "(no such preset file in the preset folders)."
        )
    values = {k: v for k, v in run.values.items() if k in preset.hyperparameters}
    dropped = sorted(k for k in run.values if k not in preset.hyperparameters)
    return RerunPlan(preset, values, recorded_source(run.data, preset), dropped)


def rerun(screen: Screen[Any], run: RunSummary) -> bool:
    """Start a run with ``run``'s preset, values and data; False (and a message) if not."""
    app = cast("KtuiApp", screen.app)
    busy = training_in_progress(app)
    if busy is not None:
        app.notify(f"{busy.capitalize()} is going; wait for it to end first.", severity="warning")
        return False
    plan = plan_rerun(app, run)
    if isinstance(plan, str):
        app.notify(plan, severity="error", timeout=10)
        return False
    if plan.dropped:
        app.notify(
            f"Run {run.id} cannot be re-run as it was: preset {plan.preset.name} no longer has "
            f"{', '.join(plan.dropped)}. Press e to edit and re-run.",
            severity="error",
            timeout=10,
        )
        return False
    try:
        config = plan.preset.resolve(plan.values, data=plan.data)
    except KtuiError as exc:
        app.notify(
            f"Run {run.id} cannot be re-run with the same values: {exc}. Press e to edit them.",
            severity="error",
            timeout=10,
        )
        return False
    status = data_mod.locate(config.data)
    if status.state == "missing":
        app.notify(status.message, severity="error", timeout=10)
        return False
    start_training(app, config)
    return True


def start_training(app: KtuiApp, config: RunConfig) -> None:
    """Push a training screen for ``config``."""
    from ktui.screens.training import TrainingScreen

    app.push_screen(TrainingScreen(config))


def edit_rerun(screen: Screen[Any], run: RunSummary) -> bool:
    """Open the form of ``run``'s preset, filled in with its values and data."""
    app = cast("KtuiApp", screen.app)
    plan = plan_rerun(app, run)
    if isinstance(plan, str):
        app.notify(plan, severity="error", timeout=10)
        return False
    from ktui.screens.form import FormScreen

    app.push_screen(FormScreen(plan.preset, plan.values, plan.data))
    if plan.dropped:
        app.notify(
            f"Preset {plan.preset.name} no longer has {', '.join(plan.dropped)}; "
            "the form has its current fields.",
            severity="warning",
            timeout=8,
        )
    return True


def confirm_delete(screen: Screen[Any], run: RunSummary, deleted: Callable[[int], None]) -> None:
    """Ask, then delete ``run`` (its epochs, log and folder); ``deleted(id)`` afterwards."""
    app = cast("KtuiApp", screen.app)
    store = app.store
    if store is None:
        return

    def answer(confirmed: bool | None) -> None:
        if not confirmed:
            return
        try:
            store.delete_run(run.id)
        except StoreError as exc:
            app.notify(f"Run {run.id} was not deleted: {exc}", severity="error", timeout=10)
            return
        app.notify(f"Deleted run {run.id}.")
        deleted(run.id)

    app.push_screen(
        ConfirmDialog(
            f"Delete run {run.id} ({run.preset}, {run.status})? Its epochs, log and saved "
            "model are removed for good.",
            confirm="Delete",
        ),
        answer,
    )
