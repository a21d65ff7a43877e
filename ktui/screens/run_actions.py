"""Re-running, editing and deleting a recorded run from the screens that show one
(the history and a run's detail): the plan, the checks, the messages, the dialog."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from textual.screen import Screen

from ktui.core import backends
from ktui.core import data as data_mod
from ktui.core.errors import KtuiError, StoreError
from ktui.core.presets import RunConfig
from ktui.navigation import OpenForm, OpenTraining
from ktui.runs import RerunPlan, assignments, launch_detached, plan_recorded
from ktui.screens.dialogs import ConfirmDialog
from ktui.store import RunSummary

if TYPE_CHECKING:
    from ktui.app import KtuiApp


def plan_rerun(app: KtuiApp, run: RunSummary) -> RerunPlan | str:
    """The re-run of ``run`` by the one planner (:func:`ktui.runs.plan_recorded`, also
    used by the training screen), or why it cannot be re-run."""
    try:
        if app.store is None:
            raise KtuiError("the run store is not open")
        return plan_recorded(app.catalog.presets, app.store, run.id)
    except KtuiError as exc:
        return f"Run {run.id} cannot be re-run: {exc}."


def rerun(screen: Screen[Any], run: RunSummary) -> bool:
    """Start a run with ``run``'s preset, values and data; False (and a message) if not."""
    app = cast("KtuiApp", screen.app)
    busy = app.run_going()
    if busy is not None:
        app.notify(f"{busy.capitalize()} is going; wait for it to end first.", severity="warning")
        return False
    plan = plan_rerun(app, run)
    if isinstance(plan, str):
        app.notify(plan, severity="error", timeout=10)
        return False
    if plan.notes:
        app.notify(
            f"Re-running run {run.id}, but it cannot keep everything: "
            + "; ".join(plan.notes)
            + ". Press e instead to edit it first.",
            severity="warning",
            timeout=10,
        )
    try:
        config = plan.config()
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
    return start_rerun(screen, plan, config)


def start_rerun(
    screen: Screen[Any], plan: RerunPlan, config: RunConfig, *, replace: bool = False
) -> bool:
    """Start ``config``, the re-run ``plan`` made, where the run ran: in this process,
    or in a background one of its own when it needs another Keras backend or other
    GPUs than this process has (both are fixed once Keras loads). A multi-worker run
    is not started (a dashboard would start one worker of a cluster): the message says
    how. False (and a message) when it did not start."""
    app = cast("KtuiApp", screen.app)
    if config.strategy == "multiworker":
        which = f"Run {plan.run_id}" if plan.run_id is not None else "This run"
        again = f"ktui runs rerun {plan.run_id}" if plan.run_id is not None else "ktui run"
        app.notify(
            f"{which} ran on {plan.workers} workers (multiworker); the dashboard does not "
            f"start a cluster. On every host, set TF_CONFIG (each host its own task index) "
            f"and run `{again}`.",
            severity="warning",
            timeout=15,
        )
        return False
    other_backend = config.backend is not None and config.backend != backends.current()
    other_gpus = plan.devices is not None and plan.devices != os.environ.get(
        "CUDA_VISIBLE_DEVICES"
    )
    if not (other_backend or other_gpus):
        screen.post_message(OpenTraining(config, replace=replace))
        return True
    if app.store is None:
        app.notify("Background runs need the run store, which is not open.", severity="error")
        return False
    try:
        if config.backend is not None:
            backends.require(backends.BackendChoice(config.backend, "the re-run"))
        started = launch_detached(
            config,
            assignments(config.preset, config.values),
            plan.data,
            store=app.store.path,
            env=plan.devices_environment,
        )
    except KtuiError as exc:
        app.notify(f"The re-run did not start: {exc}", severity="error", timeout=10)
        return False
    why = [f"on {config.backend}"] if other_backend else []
    if other_gpus:
        why.append(f"on GPUs {plan.devices or 'none'} (CUDA_VISIBLE_DEVICES)")
    app.notify(
        f"Run {started.run_id} re-runs {' and '.join(why)} as before, in a background "
        f"process (pid {started.pid}); its output: {started.output}",
        timeout=8,
    )
    screen.post_message(OpenTraining(None, attach=started.run_id, replace=replace))
    return True


def edit_rerun(screen: Screen[Any], run: RunSummary) -> bool:
    """Open the form of ``run``'s preset, filled in with its values and data."""
    app = cast("KtuiApp", screen.app)
    plan = plan_rerun(app, run)
    if isinstance(plan, str):
        app.notify(plan, severity="error", timeout=10)
        return False
    screen.post_message(OpenForm(plan.preset, plan.values, plan.data))
    if plan.notes:
        app.notify(
            "; ".join(plan.notes).capitalize() + ". The form has the preset's current fields.",
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
