"""The form's sweep mode (F4): each hyperparameter fixed, a list, a range or a choice of
values, checked as typed at its field; the settings; the grid and the estimate; the
launch (the stored sweep's spec and settings, its leaderboard opened at once); a real
tiny sweep launched from the form; the sweeps reached from the runs screen; snapshots
at 80×24 and 120×40."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import make_app, wait_for
from sweep_data import fill_sweep
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Select, SelectionList, Static, Switch

from ktui.app import KtuiApp, key_commands
from ktui.core.presets import Preset, load_catalog, shipped_presets_dir
from ktui.runs import sweeps as sweep_launch
from ktui.screens.form import FormScreen
from ktui.screens.leaderboard import LeaderboardScreen
from ktui.screens.presets import PresetScreen
from ktui.screens.runs import RunsScreen
from ktui.screens.sweep_fields import SweepFields, check_sweep, describe
from ktui.screens.sweeps import SweepsScreen
from ktui.store import RunStore
from ktui.store.sweeps import SweepStore

SIZES = [(80, 24), (120, 40)]


@pytest.fixture
def preset() -> Preset:
    return load_catalog([shipped_presets_dir()]).get("dummy_binary")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RunStore]:
    runs = RunStore(tmp_path / "runs.sqlite")
    yield runs
    runs.close()


# --------------------------------------------------------------------------- the checks
def _check(preset: Preset, **fields: Any) -> Any:
    return check_sweep(preset, preset.defaults(), {}, SweepFields(**fields))


@pytest.mark.parametrize(
    ("fields", "where", "said"),
    [
        ({"kinds": {"dropout": "range"}, "lows": {"dropout": "0.5"}, "highs": {"dropout": "0.1"}},
         "dropout", "min 0.5 is not below its max 0.1"),
        ({"kinds": {"dropout": "range"}, "lows": {"dropout": "0"}, "highs": {"dropout": "0.5"},
          "logs": {"dropout": True}}, "dropout", "a log range must stay above 0"),
        ({"kinds": {"dropout": "range"}, "lows": {"dropout": "0.1"}, "highs": {"dropout": "0.99"}},
         "dropout", "from 0 to 0.95"),  # the preset's bound
        ({"kinds": {"units": "list"}, "lists": {"units": "8,abc"}}, "units", "'abc'"),
        ({"kinds": {"units": "list"}, "lists": {"units": " , "}}, "units", "no values"),
        ({"kinds": {"activation": "choices"}, "chosen": {"activation": []}},
         "activation", "no value chosen"),
        ({"kinds": {"units": "list"}, "lists": {"units": "8,16,32"}, "trials": "2",
          "sampler": "grid"}, "sweep-trials", "the grid has 3 combinations but trials is 2"),
        ({"kinds": {"dropout": "range"}, "lows": {"dropout": "0.1"}, "highs": {"dropout": "0.5"},
          "sampler": "grid"}, "sweep-sampler", "has no grid"),
        ({"kinds": {"units": "list"}, "lists": {"units": "8"}, "trials": "0"},
         "sweep-trials", "at least 1"),
        ({"kinds": {"units": "list"}, "lists": {"units": "8"}, "time": "soon"},
         "sweep-time", "expected a time such as 30m"),
        ({"kinds": {"units": "list"}, "lists": {"units": "8"}, "objective": "val_loss"},
         "sweep-objective", "does not validate"),
    ],
)  # fmt: skip
def test_each_mistake_is_kept_at_its_field(
    preset: Preset, fields: dict[str, Any], where: str, said: str
) -> None:
    check = _check(preset, **fields)
    assert check.spec is None
    assert said in check.errors[where], check.errors
    assert set(check.errors) == {where}


def test_no_trial_count_with_a_time_budget_is_a_time_only_sweep(preset: Preset) -> None:
    check = _check(preset, kinds={"units": "list"}, lists={"units": "8,16"}, trials=" ", time="10m")
    assert check.errors == {} and check.spec is not None
    assert check.spec.settings.trials is None and check.spec.settings.time_budget == 600.0
    shown = describe(check, (2.0, 3)).plain
    assert "until the time is spent" in shown and "≈ 10m00s" in shown
    # Neither a count nor a time: the trials field says what it needs.
    empty = _check(preset, kinds={"units": "list"}, lists={"units": "8,16"}, trials="")
    assert empty.spec is None and "not a whole number" in empty.errors["sweep-trials"]


def test_a_valid_sweep_has_its_spec_grid_and_epochs(preset: Preset) -> None:
    check = _check(
        preset,
        kinds={"units": "list", "learning_rate": "range", "activation": "choices"},
        lists={"units": "8, 16"},
        lows={"learning_rate": "1e-4"},
        highs={"learning_rate": "1e-2"},
        logs={"learning_rate": True},
        chosen={"activation": ["tanh", "relu"]},
        trials="6",
        time="1h30m",
        workers="2",
        sampler="random",
        pruner="none",
    )
    assert check.errors == {} and check.spec is not None
    spec = check.spec
    assert [p.describe() for p in spec.params] == [
        "units=8,16",
        "activation=relu,tanh",  # in the preset's order
        "learning_rate=0.0001..0.01:log",
    ]
    s = spec.settings
    assert (s.trials, s.workers, s.sampler, s.pruner) == (6, 2, "random", "none")
    assert (s.objective, s.direction, s.time_budget) == ("loss", "minimize", 5400.0)
    assert check.grid_size is None  # a float range has no grid
    assert check.epochs == 10


def test_nothing_varying_is_said_not_launched(preset: Preset) -> None:
    check = _check(preset)
    assert check.spec is None and check.problem and "Nothing varies yet" in check.problem


# --------------------------------------------------------------------------- pilot tests
async def open_sweep_form(pilot: Pilot[int], preset: Preset) -> FormScreen:
    pilot.app.push_screen(FormScreen(preset))
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, FormScreen))
    screen = pilot.app.screen
    assert isinstance(screen, FormScreen)
    await pilot.press("f4")
    await wait_for(pilot, lambda: screen.sweep_mode)
    return screen


async def type_into(
    pilot: Pilot[int], screen: FormScreen, widget_id: str, text: str, *, keys: bool = False
) -> None:
    """Put ``text`` in a field: key by key as a person types (``keys``), else at once
    (the same Input.Changed reaches the form, for a fraction of the time)."""
    field = screen.query_one(f"#{widget_id}", Input)
    if keys:
        field.focus()
        field.value = ""
        await pilot.pause()
        await pilot.press(*text)
    else:
        field.value = text
    await pilot.pause()


def shown(screen: FormScreen, widget_id: str) -> str:
    widget = screen.query_one(f"#{widget_id}", Static)
    return str(widget.render()) if widget.display else ""


async def test_errors_at_the_field_and_the_grid_as_typed(preset: Preset, store: RunStore) -> None:
    app = make_app(store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_sweep_form(pilot, preset)
        assert key_commands(app, screen)["Sweep mode"][2] == ["f4"]  # the palette has it
        derived = screen.query_one("#derived", Static)
        assert "Nothing varies yet" in str(derived.render())
        assert screen.query_one("#start").disabled

        screen.query_one("#kind-units", Select).value = "list"
        await pilot.pause()
        assert screen.query_one("#list-units", Input).display
        assert screen.query_one("#list-units", Input).value == "64"  # from the fixed value
        assert not screen.query_one("#hp-units", Input).display  # the fixed field gives way
        await type_into(pilot, screen, "list-units", "8,16,3x", keys=True)
        assert "'3x'" in shown(screen, "error-units")
        assert screen.query_one("#field-units").has_class("invalid")
        await pilot.press("backspace")
        await pilot.pause()
        assert shown(screen, "error-units") == ""
        assert "Grid 3 combinations" in str(derived.render())
        await pilot.press(*",64")
        await pilot.pause()
        assert "Grid 4 combinations" in str(derived.render())
        assert not screen.query_one("#start").disabled

        screen.query_one("#kind-dropout", Select).value = "range"
        await pilot.pause()
        await type_into(pilot, screen, "min-dropout", "0.5")
        await type_into(pilot, screen, "max-dropout", "0.2")
        assert "min 0.5 is not below its max 0.2" in shown(screen, "error-dropout")
        assert "Make min the smaller value" in shown(screen, "error-dropout")
        assert screen.query_one("#start").disabled
        screen.query_one("#log-dropout", Switch).value = True
        await type_into(pilot, screen, "min-dropout", "0")
        assert "a log range must stay above 0" in shown(screen, "error-dropout")
        await type_into(pilot, screen, "min-dropout", "0.01")
        assert shown(screen, "error-dropout") == ""
        assert "Grid" not in str(derived.render())  # a float range: no grid

        screen.query_one("#sweep-sampler", Select).value = "grid"
        await pilot.pause()
        assert "has no grid" in shown(screen, "error-sweep-sampler")
        screen.query_one("#kind-dropout", Select).value = "fixed"
        await pilot.pause()
        assert shown(screen, "error-sweep-sampler") == ""
        await type_into(pilot, screen, "sweep-trials", "3")
        assert "the grid has 4 combinations but trials is 3" in shown(
            screen, "error-sweep-trials"
        )
        await type_into(pilot, screen, "sweep-trials", "4")
        assert shown(screen, "error-sweep-trials") == ""
        # No run of the preset is recorded: no epoch time, said so instead of a guess.
        assert "unknown until the preset has run here once" in str(derived.render())

        await pilot.press("f4")  # back to one run: the sweep's errors and fields go
        await pilot.pause()
        assert not screen.query_one("#list-units", Input).display
        assert screen.query_one("#hp-units", Input).display


async def test_the_estimate_comes_from_the_presets_recorded_epochs(
    preset: Preset, store: RunStore
) -> None:
    for seconds in (2.0, 3.0, 4.0):
        run_id = store.create_run("dummy_binary", values=preset.defaults(), epochs=1)
        store.add_epoch(run_id, 1, {"loss": 0.7}, seconds=seconds)
        store.finish_run(run_id, "finished", seconds=seconds)
    app = make_app(store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_sweep_form(pilot, preset)
        screen.query_one("#kind-units", Select).value = "list"
        await pilot.pause()
        await type_into(pilot, screen, "list-units", "8,16")
        await type_into(pilot, screen, "sweep-trials", "6")
        await type_into(pilot, screen, "sweep-workers", "2")
        text = str(screen.query_one("#derived", Static).render())
        # 6 trials × 10 epochs × 3 s (the median) ÷ 2 workers = 90 s.
        assert "≈ 1m30s" in text, text
        assert "6 trials × 10 epochs × 3s ÷ 2 workers" in text
        assert "from 3 recorded runs" in text and "pruning not counted" in text
        await type_into(pilot, screen, "sweep-time", "1m")
        text = str(screen.query_one("#derived", Static).render())
        assert "≈ 1m00s" in text and "at most the budget 1m00s" in text


async def test_launch_records_the_spec_and_opens_its_leaderboard(
    preset: Preset, store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[int] = []

    def no_process(path: Path, sweep_id: int, **_: Any) -> sweep_launch.DetachedSweep:
        started.append(sweep_id)  # the coordinator is the CLI's; its start is tested below
        return sweep_launch.DetachedSweep(sweep_id, 4242, path.parent / "sweep.log")

    monkeypatch.setattr(sweep_launch, "start_coordinator", no_process)
    app = make_app(store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_sweep_form(pilot, preset)
        screen.query_one("#kind-units", Select).value = "list"
        screen.query_one("#kind-activation", Select).value = "choices"
        screen.query_one("#kind-learning_rate", Select).value = "range"
        await pilot.pause()
        await type_into(pilot, screen, "list-units", "8,16")
        choices = screen.query_one("#choices-activation", SelectionList)
        choices.select("tanh")  # relu, the fixed value, is chosen already
        await type_into(pilot, screen, "min-learning_rate", "0.0001")
        await type_into(pilot, screen, "max-learning_rate", "0.01")
        screen.query_one("#log-learning_rate", Switch).value = True
        await type_into(pilot, screen, "hp-epochs", "3")  # fixed: hidden in no way
        await type_into(pilot, screen, "sweep-trials", "5")
        await type_into(pilot, screen, "sweep-time", "2h")
        await type_into(pilot, screen, "sweep-workers", "2")
        screen.query_one("#sweep-sampler", Select).value = "random"
        screen.query_one("#sweep-pruner", Select).value = "hyperband"
        screen.query_one("#sweep-objective", Select).value = "accuracy"
        await pilot.pause()
        screen.query_one("#sweep-trials", Input).focus()
        await pilot.press("enter")  # Enter starts one run, never a sweep of many
        await pilot.pause()
        assert app.screen is screen and SweepStore(store).all() == []
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, LeaderboardScreen), what="board")
        board = app.screen
        assert isinstance(board, LeaderboardScreen)
        (sweep,) = SweepStore(store).all()
        assert started == [sweep.id] and board.sweep_id == sweep.id
        assert [p.to_json() for p in sweep.spec.params] == [
            {"name": "units", "kind": "values", "type": "int", "values": [8, 16],
             "low": None, "high": None, "log": False},
            {"name": "activation", "kind": "values", "type": "choice",
             "values": ["relu", "tanh"], "low": None, "high": None, "log": False},
            {"name": "learning_rate", "kind": "range", "type": "float", "values": [],
             "low": 0.0001, "high": 0.01, "log": True},
        ]  # fmt: skip
        assert sweep.spec.fixed == {"epochs": 3}  # only what differs from the preset
        assert sweep.spec.preset == "dummy_binary" and sweep.spec.source == preset.source
        assert sweep.settings.to_json() == {
            "trials": 5,
            "workers": 2,
            "sampler": "random",
            "pruner": "hyperband",
            "objective": "accuracy",
            "direction": "maximize",  # the metric policy's
            "time_budget": 7200.0,
        }
        status = str(board.query_one("#sweep-status", Static).render())
        assert f"Sweep {sweep.id} · dummy_binary" in status and "trial 0 of 5" in status


async def test_a_real_tiny_sweep_from_the_form_finishes_on_its_leaderboard(
    preset: Preset, store: RunStore
) -> None:
    app = make_app(store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_sweep_form(pilot, preset)
        screen.query_one("#kind-units", Select).value = "list"
        await pilot.pause()
        await type_into(pilot, screen, "list-units", "4,8")
        await type_into(pilot, screen, "hp-epochs", "1")
        await type_into(pilot, screen, "sweep-trials", "2")
        screen.query_one("#sweep-sampler", Select).value = "grid"
        screen.query_one("#sweep-pruner", Select).value = "none"
        await pilot.pause()
        assert not screen.query_one("#start").disabled
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, LeaderboardScreen), what="board")
        board = app.screen
        assert isinstance(board, LeaderboardScreen)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            board.refresh_board()
            if board.sweep is not None and board.sweep.status != "running":
                break
            await pilot.pause(0.5)
        sweep = board.sweep
        assert sweep is not None and sweep.status == "finished", (
            (store.runs_dir / "sweeps" / f"{board.sweep_id}.log").read_text()
        )
        rows = board.table.shown
        assert sorted(r.params["units"] for r in rows) == [4, 8]
        assert all(r.state == "finished" and r.epochs == 1 for r in rows)
        assert all(r.run_id is not None for r in rows)
        assert "trial 2 of 2" in str(board.query_one("#sweep-status", Static).render())


# --------------------------------------------------------------------------- runs screen
async def test_the_runs_screen_reaches_the_sweeps_and_a_trials_sweep(
    preset: Preset, store: RunStore
) -> None:
    sweep_id = fill_sweep(store, preset, trials=4)
    plain = store.create_run("dummy_binary", values=preset.defaults(), epochs=1)
    store.finish_run(plain, "finished")
    app = make_app(store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        assert isinstance(app.screen, PresetScreen)
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
        runs = app.screen
        assert isinstance(runs, RunsScreen)
        await wait_for(pilot, lambda: bool(runs.runs) and runs.loaded)
        table = runs.query_one("#runs-table", DataTable)
        commands = key_commands(app, runs)  # the keys, in the palette with their keys
        assert commands["Sweeps"][2] == ["w"] and commands["Trial's sweep"][2] == ["l"]

        table.move_cursor(row=table.get_row_index(str(plain)))
        await pilot.pause()
        await pilot.press("l")  # a run of no sweep: said so, nothing opens
        await pilot.pause()
        assert app.screen is runs
        assert any("not a trial of a sweep" in str(n.message) for n in app._notifications)

        trial = SweepStore(store).trials(sweep_id)[2]
        table.move_cursor(row=table.get_row_index(str(trial.run_id)))
        await pilot.pause()
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LeaderboardScreen))
        assert app.screen.sweep_id == sweep_id
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is runs)

        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, SweepsScreen))
        listing = app.screen
        assert isinstance(listing, SweepsScreen)
        await pilot.pause()
        row = [str(c) for c in listing.query_one("#sweeps-table", DataTable).get_row_at(0)]
        assert row[:4] == [str(sweep_id), "dummy_binary", "finished", "4/4"]
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, LeaderboardScreen))
        assert app.screen.sweep_id == sweep_id


# --------------------------------------------------------------------------- snapshots
async def _sweep_form(pilot: Pilot[int]) -> None:
    app: KtuiApp = pilot.app  # type: ignore[assignment]
    app.push_screen(FormScreen(app.catalog.get("dummy_binary")))
    await wait_for(pilot, lambda: isinstance(app.screen, FormScreen))
    screen = app.screen
    assert isinstance(screen, FormScreen)
    await pilot.press("f4")
    screen.query_one("#kind-units", Select).value = "list"
    screen.query_one("#kind-learning_rate", Select).value = "range"
    await pilot.pause()
    screen.query_one("#list-units", Input).value = "16,32,64"
    screen.query_one("#min-learning_rate", Input).value = "1e-4"
    screen.query_one("#max-learning_rate", Input).value = "1e-2"
    screen.query_one("#log-learning_rate", Switch).value = True
    screen.query_one("#sweep-trials", Input).value = "12"
    screen.query_one("#kind-activation", Select).value = "choices"
    await pilot.pause()
    screen.query_one("#choices-activation", SelectionList).select("tanh")
    await pilot.pause(0.4)
    await app.workers.wait_for_complete()
    for widget in screen.query(Input):
        widget.cursor_blink = False
    screen.set_focus(None)
    await pilot.pause()
    # The swept fields at the top: the settings above them are in the first picture.
    screen.query_one("#form-fields").scroll_to_widget(
        screen.query_one("#field-units"), animate=False, top=True
    )
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_sweep_form_snapshot(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    assert snap_compare(
        make_app(user_presets_dir=tmp_path), terminal_size=size, run_before=_sweep_form
    )


async def test_the_form_s_backend_is_carried_into_the_sweep(
    preset: Preset, store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The backend field applies to a sweep too: recorded in its spec, which every
    worker loads before its trials (see tests/test_sweep_backend.py)."""
    monkeypatch.setattr(
        sweep_launch,
        "start_coordinator",
        lambda path, sweep_id, **_: sweep_launch.DetachedSweep(sweep_id, 4242, path),
    )
    monkeypatch.setattr(
        "ktui.core.backends.is_installed", lambda name: name in ("tensorflow", "jax")
    )
    app = make_app(store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_sweep_form(pilot, preset)
        screen.query_one("#kind-units", Select).value = "list"
        await pilot.pause()
        await type_into(pilot, screen, "list-units", "8,16")
        await type_into(pilot, screen, "sweep-trials", "2")
        screen.backend = "jax"  # what choosing it in #backend-select sets
        await pilot.pause()
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, LeaderboardScreen), what="board")
        (sweep,) = SweepStore(store).all()
        assert sweep.spec.backend == "jax"
