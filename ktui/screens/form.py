"""The hyperparameter form: typed fields generated from a preset, checked as you type.

``F4`` turns it into a sweep's form (:mod:`ktui.screens.sweep_fields`): each
hyperparameter fixed, a list, a range or a choice of values, and the sweep's settings;
``ctrl+r`` then starts the sweep in the background (:func:`ktui.runs.launch_sweep`, as
``ktui sweep --detach``) and the app opens its leaderboard.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.compose import compose
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import (
    Button,
    Header,
    Input,
    Label,
    Select,
    SelectionList,
    Static,
    Switch,
)

from ktui.core import backends
from ktui.core import data as data_mod
from ktui.core import system as system_mod
from ktui.core.distribute import STRATEGIES, per_replica_text
from ktui.core.errors import KtuiError, PresetError
from ktui.core.events import ModelSummary
from ktui.core.keras_names import plain_message
from ktui.core.memory import fit_verdict
from ktui.core.presets import Hyperparameter, Preset, RunConfig, dump_values
from ktui.core.preview import PreviewSuperseded, PreviewUnavailable
from ktui.core.shapes import check_model
from ktui.navigation import OpenDataPreview, OpenModel, OpenSweep, OpenTraining
from ktui.runs import epoch_seconds, launch_sweep
from ktui.screens import sweep_fields
from ktui.screens.dialogs import AskDialog
from ktui.screens.sweep_fields import SweepCheck, SweepFields
from ktui.widgets.footer import KtuiFooter

if TYPE_CHECKING:
    from ktui.app import KtuiApp

#: The backend field's value for "no choice": the dashboard's own backend.
_AUTO_BACKEND = "auto"

#: How a preset error names the hyperparameter a refused value came from.
_FROM_REF = re.compile(r"\(from \$([A-Za-z_][A-Za-z0-9_]*)\)")

#: Training samples of the built-in Keras data sets, for the derived figures.
_KNOWN_TRAIN_SAMPLES = {"mnist": 60_000, "fashion_mnist": 60_000}


def _devices_problem(devices: str) -> str | None:
    """Why the devices field cannot be used, or None."""
    try:
        system_mod.parse_devices(devices)
    except ValueError as exc:
        return str(exc).replace("--devices", "devices", 1)
    return None


def _memory_verdict(summary: ModelSummary, config: RunConfig) -> str:
    """``Memory ≈ 15 MiB for a batch of 128 (…); fits in GPU0 (NVIDIA H200)'s 139 GiB free``."""
    try:
        where, available = system_mod.free_memory()
        return fit_verdict(summary, config.batch_size, config.optimizer, available, where)
    except Exception:  # noqa: BLE001 - an estimate is not worth a broken form
        return ""


class FormScreen(Screen[None]):
    """Edit a preset's hyperparameters and start a run."""

    # The first field, so typing goes somewhere at once (Textual's default would pick
    # the first focusable widget, the scrolling container of the fields).
    AUTO_FOCUS = "#data-source"

    BINDINGS = [
        Binding("ctrl+r", "start", "Start", priority=True),
        Binding("ctrl+b", "start_background", "Start in background", priority=True),
        # A text field takes letters; F4 next to the previews' F2 and F3.
        Binding("f4", "sweep_mode", "Sweep mode"),
        Binding("ctrl+d", "reset", "Reset defaults", priority=True),
        Binding("ctrl+s", "save", "Save as preset", priority=True),
        # F-keys: the text fields take letters, and ctrl+v/ctrl+c are paste/copy there.
        Binding("f2", "data_preview", "Data preview"),
        Binding("f3", "model", "Model"),
        Binding("escape", "back", "Back"),
    ]

    @dataclass
    class ParamsCounted(Message):
        """The parameter count for some values was computed in the background."""

        key: tuple[tuple[str, Any], ...]
        text: str
        memory: str = ""
        """Will it fit: the memory a batch needs and whether the device has it."""

    def __init__(
        self, preset: Preset, values: dict[str, Any] | None = None, data: str | None = None
    ) -> None:
        super().__init__()
        self.preset = preset
        self.values: dict[str, Any] = {**preset.defaults(), **(values or {})}
        self.default_data = str(preset.raw["data"]["source"])
        self.data = data or self.default_data
        self.devices = "all"
        """The GPUs a background run trains on (``CUDA_VISIBLE_DEVICES`` of its process)."""
        preset_backend = preset.raw.get("backend")
        self.backend: str | None = preset_backend if isinstance(preset_backend, str) else None
        """The backend chosen in the form (or the preset's); None: the dashboard's own."""
        preset_strategy = preset.raw.get("strategy")
        self.strategy = preset_strategy if preset_strategy in STRATEGIES else "auto"
        """The strategy chosen in the form (or the preset's): auto, mirrored, multiworker."""
        self.errors: dict[str, str] = {}
        self._params_text: dict[tuple[tuple[str, Any], ...], str] = {}
        self._memory_text: dict[tuple[tuple[str, Any], ...], str] = {}
        self._debounce: Timer | None = None
        self.sweep_mode = False
        """Whether the form defines a sweep (F4) instead of one run."""
        self.sweep_kinds: dict[str, sweep_fields.Kind] = {}
        """How each hyperparameter varies in sweep mode (missing: fixed)."""
        self.sweep_check: SweepCheck | None = None
        """The sweep the fields describe, as last checked (sweep mode only)."""
        self._epoch_time: tuple[float, int] | None = None
        self._epoch_time_read = False
        self._sweep_built = False
        """Whether the sweep mode's settings and kinds are mounted (at the first F4)."""
        self._controls_built: set[str] = set()
        """The hyperparameters whose list, range or choices widgets are mounted."""
        self._sweep_seen: dict[str, object] = {}
        """Each sweep widget's value as last handled, by widget id."""

    @property
    def ktui(self) -> KtuiApp:
        return cast("KtuiApp", self.app)

    @property
    def reusable(self) -> bool:
        """Whether :meth:`reopen` can make this form new again: its sweep mode was never
        built (a hundred more widgets, which would restyle and lay out with it)."""
        return not self._sweep_built

    def reopen(self, values: dict[str, Any] | None = None, data: str | None = None) -> None:
        """Make this form, opened before and now off the screen stack, what a new one
        would be: the preset's defaults and ``values``, ``data``, one run, the first
        field focused; the parameter counts already made are kept. Building a form is
        most of the time it takes to open (a hundred widgets), so the app keeps them.
        Only for a :attr:`reusable` form."""
        if self._debounce is not None:
            self._debounce.stop()
        fresh = FormScreen(self.preset, values, data)
        for name in ("values", "data", "devices", "backend", "strategy"):
            setattr(self, name, getattr(fresh, name))
        self.errors.clear()
        self.sweep_kinds.clear()
        self.sweep_check = None
        self._epoch_time_read = False  # runs may have been recorded since
        # Never in sweep mode: the app does not keep a form whose sweep mode was built.
        self._fill(self.query_one("#data-source", Input), self.data)
        self._fill(self.query_one("#devices", Input), self.devices)
        self.query_one("#backend-select", Select).value = self.backend or _AUTO_BACKEND
        self.query_one("#strategy-select", Select).value = self.strategy
        for hp in self.preset.hyperparameters.values():
            widget = self.query_one(f"#hp-{hp.name}")
            value = self.values[hp.name]
            if isinstance(widget, Input):
                self._fill(widget, hp.format(value))
            elif isinstance(widget, Select):
                widget.value = value
            elif isinstance(widget, Switch):
                widget.value = bool(value)
        self.query_one("#form-fields", VerticalScroll).scroll_home(animate=False)
        first = self.query_one("#data-source", Input)
        self.set_focus(first)
        first.select_all()  # as a new field is when focused: typing replaces the value
        self._refresh()

    @staticmethod
    def _fill(field: Input, text: str) -> None:
        """Put ``text`` in ``field`` with the cursor at its end, as a new field has it."""
        field.value = text
        field.cursor_position = len(text)

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Horizontal(id="form-body"):
            with VerticalScroll(id="form-fields"):
                yield Static(
                    Text.assemble((self.preset.name, "bold"), " · ", self.preset.description),
                    id="form-title",
                )
                # The sweep mode's settings come here (after the title) at the first F4.
                with Vertical(classes="field", id="field-data"):
                    with Horizontal(classes="field-row"):
                        yield Label("data", classes="field-label")
                        yield Input(
                            self.data,
                            id="data-source",
                            classes="field-input",
                            placeholder="random, mnist, fashion_mnist or a .npz path",
                            # The form checks every value itself; Textual's validation
                            # would only flip a class on each input as it mounts (a restyle).
                            validate_on=(),
                        )
                    yield Static(
                        "data: random, mnist, fashion_mnist, or a .npz file with x_train, "
                        "y_train, x_test, y_test (the preset's transforms still apply).",
                        classes="field-help",
                    )
                    yield Static("", classes="field-error", id="error-data")
                yield from self._backend_field()
                yield from self._strategy_field()
                for hp in self.preset.hyperparameters.values():
                    yield from self._field(hp)
                with Vertical(classes="field", id="field-devices"):
                    with Horizontal(classes="field-row"):
                        yield Label("devices", classes="field-label")
                        yield Input(
                            self.devices,
                            id="devices",
                            classes="field-input",
                            placeholder="all, cpu, or GPU numbers: 0,1",
                            validate_on=(),
                        )
                    yield Static(
                        "devices: the GPUs a background run (^b) trains on, as nvidia-smi "
                        "numbers them (0 or 0,1), all, or cpu.",
                        classes="field-help",
                    )
                    yield Static("", classes="field-error", id="error-devices")
            with Vertical(id="form-side"):
                yield Static("", id="derived")
                yield Button("Start  ^r", variant="success", id="start")
                yield Button("Start in background  ^b", id="start-background")
                yield Button("Sweep mode  F4", id="sweep-mode")
                yield Button("Reset defaults  ^d", id="reset")
                yield Button("Save as preset  ^s", id="save")
                yield Button("Back  esc", id="back")
        yield KtuiFooter()

    def _backend_field(self) -> ComposeResult:
        here = backends.current()
        names = list(backends.installed())
        if self.backend is not None and self.backend not in names:
            names.append(self.backend)  # the preset's choice, even if it is missing here
        with Vertical(classes="field", id="field-backend"):
            with Horizontal(classes="field-row"):
                yield Label("backend", classes="field-label")
                yield Select(
                    [(f"auto ({here})", _AUTO_BACKEND), *[(name, name) for name in names]],
                    value=self.backend or _AUTO_BACKEND,
                    allow_blank=False,
                    id="backend-select",
                    classes="field-input",
                )
            yield Static(
                f"backend: the Keras backend to train on; this dashboard runs {here}. "
                "A run on another backend trains in a background process of its own.",
                classes="field-help",
            )

    def _strategy_field(self) -> ComposeResult:
        with Vertical(classes="field", id="field-strategy"):
            with Horizontal(classes="field-row"):
                yield Label("strategy", classes="field-label")
                yield Select(
                    [(name, name) for name in STRATEGIES],
                    value=self.strategy,
                    allow_blank=False,
                    id="strategy-select",
                    classes="field-input",
                )
            yield Static(
                "strategy: auto trains on one device; mirrored on every local GPU; "
                "multiworker on several hosts (TF_CONFIG; a background run). "
                "batch_size is then the global batch, split over the replicas.",
                classes="field-help",
            )

    def _field(self, hp: Hyperparameter) -> ComposeResult:
        with Vertical(classes="field", id=f"field-{hp.name}"):
            with Horizontal(classes="field-row"):
                yield Label(hp.name, classes="field-label")
                # Sweep mode puts its kind here, and the kind's controls after the value.
                value = self.values[hp.name]
                if hp.type == "choice":
                    yield Select(
                        [(c, c) for c in hp.choices],
                        value=value,
                        allow_blank=False,
                        id=f"hp-{hp.name}",
                        classes="field-input fixed-input",
                    )
                elif hp.type == "bool":
                    yield Switch(value=bool(value), id=f"hp-{hp.name}", classes="fixed-input")
                else:
                    yield Input(
                        hp.format(value),
                        id=f"hp-{hp.name}",
                        classes="field-input fixed-input",
                        placeholder=hp.describe_expected(),
                        validate_on=(),
                    )
            yield Static(hp.help, classes="field-help")
            yield Static("", classes="field-error", id=f"error-{hp.name}")

    def on_mount(self) -> None:
        self._refresh()

    # ------------------------------------------------------------------ editing
    # Every field posts a Changed as it mounts, with the value it was built with: the
    # handlers refresh only on a change of what the form holds, so opening the form
    # costs one refresh (on_mount's), not one per field.
    def _name_of(self, widget_id: str | None) -> str | None:
        if widget_id and widget_id.startswith("hp-"):
            return widget_id.removeprefix("hp-")
        return None

    def _is_news(self, widget_id: str | None, value: object) -> bool:
        """Whether a sweep widget's value differs from the one last handled (or, for
        a widget just built, from the one it was built with); remembers it."""
        if widget_id is None:
            return True
        if widget_id in self._sweep_seen and self._sweep_seen[widget_id] == value:
            return False
        self._sweep_seen[widget_id] = value
        return True

    def on_input_changed(self, event: Input.Changed) -> None:
        widget_id = event.input.id
        if _is_sweep_widget(widget_id):
            if self._is_news(widget_id, event.value):
                self._refresh()
            return
        if widget_id == "devices":
            devices = event.value.strip() or "all"
            if devices != self.devices:
                self.devices = devices
                self._refresh()
            return
        if widget_id == "data-source":
            data = event.value.strip()
            if data != self.data:
                self.data = data
                self._refresh()
            return
        name = self._name_of(widget_id)
        if name is None:
            return
        hp = self.preset.hyperparameters[name]
        before = (self.values.get(name), self.errors.get(name))
        try:
            self.values[name] = hp.parse(event.value)
        except ValueError:
            self.errors[name] = f"expects {hp.describe_expected()}"
        else:
            self.errors.pop(name, None)
        if (self.values.get(name), self.errors.get(name)) != before:
            self._refresh()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        # Enter starts one run; a sweep (many runs) starts only by ^r or its button.
        if self.sweep_mode:
            return
        if event.input.id == "data-source" or self._name_of(event.input.id) is not None:
            self.action_start()

    async def on_select_changed(self, event: Select.Changed) -> None:
        widget_id = event.select.id or ""
        value = event.value
        if widget_id == "strategy-select":
            if isinstance(value, str) and value != self.strategy:
                self.strategy = value
                self._refresh()
            return
        if widget_id.startswith("kind-") and isinstance(value, str):
            swept = widget_id.removeprefix("kind-")
            if value == self.sweep_kinds.get(swept, "fixed"):
                return
            await self._build_value_controls(swept)
            self.query_one(f"#field-{swept}").update_classes(
                {f"kind-{kind}": kind == value for kind in ("fixed", "list", "range", "choices")}
            )
            if value == "list":
                listed = self.query_one(f"#list-{swept}", Input)
                if not listed.value and swept not in self.errors:
                    # The fixed value to start from: a list grows by typing ",128".
                    hp = self.preset.hyperparameters[swept]
                    listed.value = hp.format(self.values[swept])
            self.sweep_kinds[swept] = value  # type: ignore[assignment]  # its options
            self._refresh()
            return
        if _is_sweep_widget(widget_id):
            if self._is_news(widget_id, value):
                self._refresh()
            return
        if widget_id == "backend-select":
            backend = value if isinstance(value, str) and value != _AUTO_BACKEND else None
            if backend != self.backend:
                self.backend = backend
                self._refresh()
            return
        name = self._name_of(widget_id)
        if name is not None and isinstance(value, str) and value != self.values.get(name):
            self.values[name] = value
            self._refresh()

    def on_selection_list_selected_changed(
        self, event: SelectionList.SelectedChanged[str]
    ) -> None:
        if self._is_news(event.selection_list.id, tuple(event.selection_list.selected)):
            self._refresh()

    def on_switch_changed(self, event: Switch.Changed) -> None:
        widget_id = event.switch.id
        if _is_sweep_widget(widget_id):
            if self._is_news(widget_id, event.value):
                self._refresh()
            return
        name = self._name_of(widget_id)
        if name is not None and event.value != self.values.get(name):
            self.values[name] = event.value
            self._refresh()

    def _refresh(self) -> None:
        """Show each field's error, enable Start only when all are valid, update figures."""
        if self.sweep_mode:
            self._refresh_sweep()
            return
        for name in self.preset.hyperparameters:
            _show_error(self.query_one(f"#error-{name}", Static), self.errors.get(name, ""))
            self.query_one(f"#field-{name}").set_class(name in self.errors, "invalid")
        config = self.config()
        # One look at the disk per keystroke, shared by the data field and the figures.
        status = data_mod.locate(config.data) if config is not None else None
        data_error = self._data_problem(status)
        _show_error(self.query_one("#error-data", Static), data_error or "")
        self.query_one("#field-data").set_class(data_error is not None, "invalid")
        # A data source that cannot be read is said next to its field, once.
        problem = None if data_error is not None else self.config_problem(config, status)
        # A value Keras would refuse where the preset uses it is said at its field too.
        source = _FROM_REF.search(problem or "")
        if source is not None and source.group(1) in self.preset.hyperparameters:
            name = source.group(1)
            _show_error(self.query_one(f"#error-{name}", Static), problem or "")
            self.query_one(f"#field-{name}").set_class(True, "invalid")
        blocked = config is None or data_error is not None or problem is not None
        devices_error = _devices_problem(self.devices)
        _show_error(self.query_one("#error-devices", Static), devices_error or "")
        self.query_one("#field-devices").set_class(devices_error is not None, "invalid")
        self.query_one("#start", Button).disabled = blocked
        self.query_one("#start-background", Button).disabled = blocked or bool(devices_error)
        self._show_derived(config, status, problem)

    # ------------------------------------------------------------------ sweep mode
    def _sweep_fields(self) -> SweepFields:
        """What the sweep mode's widgets hold now."""
        fields = SweepFields(kinds=dict(self.sweep_kinds))
        for name, kind in self.sweep_kinds.items():
            if kind == "list":
                fields.lists[name] = self.query_one(f"#list-{name}", Input).value
            elif kind == "range":
                fields.lows[name] = self.query_one(f"#min-{name}", Input).value
                fields.highs[name] = self.query_one(f"#max-{name}", Input).value
                fields.logs[name] = self.query_one(f"#log-{name}", Switch).value
            elif kind == "choices":
                chosen = self.query_one(f"#choices-{name}", SelectionList)
                fields.chosen[name] = [str(v) for v in chosen.selected]
        fields.trials = self.query_one("#sweep-trials", Input).value
        fields.time = self.query_one("#sweep-time", Input).value
        fields.workers = self.query_one("#sweep-workers", Input).value
        for setting in ("sampler", "pruner", "objective"):
            value = self.query_one(f"#sweep-{setting}", Select).value
            if isinstance(value, str):
                setattr(fields, setting, value)
        return fields

    def _refresh_sweep(self) -> None:
        """Check the sweep as typed: each mistake at its field, Start only when the
        whole sweep is valid, the grid, trials and estimated time beside."""
        check = sweep_fields.check_sweep(
            self.preset, self.values, self.errors, self._sweep_fields()
        )
        self.sweep_check = check
        for name in self.preset.hyperparameters:
            error = check.errors.get(name, "")
            _show_error(self.query_one(f"#error-{name}", Static), error)
            self.query_one(f"#field-{name}").set_class(bool(error), "invalid")
        for setting in sweep_fields.SETTINGS:
            error = check.errors.get(f"sweep-{setting}", "")
            _show_error(self.query_one(f"#error-sweep-{setting}", Static), error)
            self.query_one(f"#field-sweep-{setting}").set_class(bool(error), "invalid")
        # A sweep's trials train on the preset's own data: its spec holds no other.
        data_error = (
            None
            if self.data == self.default_data
            else f"a sweep trains on the preset's data ({self.default_data}); put "
            f"{self.data} in a copy of the preset to sweep on it, or F4 for one run"
        )
        _show_error(self.query_one("#error-data", Static), data_error or "")
        self.query_one("#field-data").set_class(data_error is not None, "invalid")
        devices_error = _devices_problem(self.devices)
        _show_error(self.query_one("#error-devices", Static), devices_error or "")
        self.query_one("#field-devices").set_class(devices_error is not None, "invalid")
        blocked = check.spec is None or data_error is not None or devices_error is not None
        self.query_one("#start", Button).disabled = blocked
        self.query_one("#derived", Static).update(
            sweep_fields.describe(check, self._epoch_time)
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # A sweep always runs in the background: ^b has nothing to add in sweep mode.
        return not (action == "start_background" and self.sweep_mode)

    # Most of the form's widgets are the sweep mode's (a kind per hyperparameter, each
    # kind's fields, the settings): the one-run form, opened dozens of times a day,
    # builds none of them. The first F4 mounts the settings and the kinds, and a kind
    # chosen for the first time its fields, where compose would have put them.
    def _remember(self, widgets: list[Widget]) -> None:
        """Take the values ``widgets`` (just mounted) hold as handled: the Changed
        each posts as it mounts is no news."""
        for widget in widgets:
            for node in (widget, *widget.query("*")):
                if isinstance(node, Input | Select | Switch):
                    self._sweep_seen[node.id or ""] = node.value
                elif isinstance(node, SelectionList):
                    self._sweep_seen[node.id or ""] = tuple(node.selected)

    async def _build_sweep(self) -> None:
        """Mount the sweep's settings (after the title) and each hyperparameter's kind
        (after its label)."""
        self._sweep_built = True
        fields = self.query_one("#form-fields", VerticalScroll)
        settings = compose(fields, sweep_fields.settings_fields(self.preset))
        mounts = [fields.mount_all(settings, after="#form-title")]
        kinds: list[Widget] = []
        for hp in self.preset.hyperparameters.values():
            label = self.query_one(f"#field-{hp.name} .field-label", Label)
            row = label.parent
            assert isinstance(row, Widget)
            new = compose(row, sweep_fields.kind_select(hp))
            kinds += new
            mounts.append(row.mount_all(new, after=label))
        await asyncio.gather(*mounts)
        self._remember(settings + kinds)

    async def _build_value_controls(self, name: str) -> None:
        """Mount ``name``'s list, range (after its value) and choices (under its row)."""
        if name in self._controls_built:
            return
        self._controls_built.add(name)
        hp = self.preset.hyperparameters[name]
        fixed = self.query_one(f"#hp-{name}")
        row = fixed.parent
        assert isinstance(row, Widget)
        controls = compose(row, sweep_fields.value_controls(hp))
        choices = compose(row, sweep_fields.choices_control(hp, self.values[name]))
        if controls:
            await row.mount_all(controls, after=fixed)
        if choices:
            await self.query_one(f"#field-{name}").mount_all(choices, after=row)
        self._remember(controls + choices)

    @on(Button.Pressed, "#sweep-mode")
    async def action_sweep_mode(self) -> None:
        """Define a sweep instead of one run (F4 again: back to one run)."""
        if not self._sweep_built:
            await self._build_sweep()
        self.sweep_mode = not self.sweep_mode
        self.set_class(self.sweep_mode, "sweeping")
        self.refresh_bindings()
        if self.sweep_mode and not self._epoch_time_read:
            self._epoch_time_read = True
            store = self.ktui.store
            if store is not None:
                try:
                    self._epoch_time = epoch_seconds(store, self.preset.name)
                except KtuiError:
                    self._epoch_time = None  # no estimate is no reason to refuse a sweep
        start = self.query_one("#start", Button)
        start.label = "Start sweep  ^r" if self.sweep_mode else "Start  ^r"
        self.query_one("#sweep-mode", Button).label = (
            "One run  F4" if self.sweep_mode else "Sweep mode  F4"
        )
        self._refresh()
        if self.sweep_mode:
            self.query_one("#sweep-trials", Input).focus()

    def _start_sweep(self) -> None:
        """Record the sweep and start it in the background; open its leaderboard."""
        self._refresh_sweep()
        check = self.sweep_check
        spec = check.spec if check is not None else None
        if spec is None:
            self.notify(
                (check.problem if check is not None and check.problem else None)
                or "Some sweep values are invalid; see the messages next to the fields.",
                severity="error",
            )
            return
        if self.data != self.default_data or _devices_problem(self.devices) is not None:
            self.notify("Fix the fields marked in red first.", severity="error")
            return
        store = self.ktui.store
        if store is None:
            self.notify("Sweeps need the run store, which is not open.", severity="error")
            return
        config = self.preset.resolve({**spec.fixed})
        status = data_mod.locate(config.data)
        if status.state == "missing":
            self.notify(status.message, severity="error", timeout=10)
            return
        if self.backend is not None:
            # Every trial trains on the backend chosen here (recorded with each run);
            # the sweep's workers load it, whatever this dashboard runs on.
            try:
                backends.require(backends.BackendChoice(self.backend, "the form"))
            except KtuiError as exc:
                self.notify(str(exc), severity="error", timeout=10)
                return
            spec = dataclasses.replace(spec, backend=self.backend)
        try:
            started = launch_sweep(
                spec, store=store.path, env=system_mod.devices_environment(self.devices)
            )
        except KtuiError as exc:
            self.notify(str(exc), severity="error", timeout=10)
            return
        self.notify(
            f"Sweep {started.sweep_id} runs in the background (pid {started.pid}); it goes "
            f"on when ktui closes. Its output: {started.output}",
            timeout=8,
        )
        self.post_message(OpenSweep(started.sweep_id))

    def config(self) -> RunConfig | None:
        """The run's config, or None while any value is invalid."""
        if self.errors:
            return None
        try:
            return self.preset.resolve(
                self.values,
                data=None if self.data == self.default_data else self.data,
                backend=self.backend,
                strategy=self.strategy,
            )
        except KtuiError:
            return None

    def config_problem(
        self, config: RunConfig | None, status: data_mod.DataStatus | None
    ) -> str | None:
        """Why these values cannot start though every field parses: a value Keras
        would refuse where the preset uses it, or layers that do not fit the data's
        shape (``kernel_size`` = 28 on 28×28 images). Checked without TensorFlow."""
        if self.errors:
            return None
        try:
            if config is None:
                self.preset.resolve(
                    self.values, data=None if self.data == self.default_data else self.data
                )
            elif status is not None and status.state != "missing":
                check_model(config)
        except PresetError as exc:
            return f"{exc.key}: {exc.problem}" if exc.key else exc.problem
        except KtuiError as exc:
            return exc.message
        return None

    def _data_problem(self, status: data_mod.DataStatus | None) -> str | None:
        """Why the data field cannot be used (``status``: where its data is), or None."""
        try:
            data_mod.parse_source(self.data)
        except KtuiError as exc:
            return exc.message
        if status is None:
            return None
        return status.message if status.state == "missing" else None

    def _show_derived(
        self,
        config: RunConfig | None,
        status: data_mod.DataStatus | None,
        problem: str | None = None,
    ) -> None:
        derived = self.query_one("#derived", Static)
        if problem is not None:
            derived.update(Text(f"Cannot start: {problem}", style="bold red"))
            return
        if config is None or status is None:
            bad = ", ".join(sorted(self.errors)) or "a value"
            derived.update(Text(f"Fix {bad} to start.", style="bold red"))
            return
        samples = _train_samples(config)
        lines = Text()
        lines.append("Data ", style="bold")
        lines.append(f"{config.data.describe()}\n")
        lines.append(f"{status.message}\n", style="dim")
        if samples is not None:
            if isinstance(config.validation, float):
                samples -= int(samples * config.validation)
            steps = config.steps_per_epoch(samples)
            lines.append("Steps per epoch ", style="bold")
            lines.append(f"{steps:,}  (⌈{samples:,} / {config.batch_size}⌉)\n")
            lines.append("Total steps ", style="bold")
            lines.append(f"{steps * config.epochs:,}  ({config.epochs} epochs)\n")
        if config.strategy != "auto":
            lines.append("Batch ", style="bold")
            lines.append(f"{_batch_meaning(config, self.devices)}\n")
        key = tuple(sorted(config.values.items()))
        lines.append("Parameters ", style="bold")
        lines.append(self._params_text.get(key, "counting…"))
        memory = self._memory_text.get(key)
        if memory:
            lines.append("\n")
            lines.append(memory, style="bold red" if "does NOT fit" in memory else "")
        derived.update(lines)
        if key not in self._params_text:
            if self._debounce is not None:
                self._debounce.stop()
            self._debounce = self.set_timer(0.3, lambda: self._count_params(config, key))

    @work(thread=True, exclusive=True, group="params", exit_on_error=False)
    def _count_params(self, config: RunConfig, key: tuple[tuple[str, Any], ...]) -> None:
        memory = ""
        try:
            summary = self.ktui.describe_model(config, channel=f"form:{id(self)}")
            text = f"{summary.total_params:,}"
            memory = _memory_verdict(summary, config)
        except PreviewSuperseded:
            return  # newer values are being counted; these are counted again if they return
        except PreviewUnavailable as exc:  # the process, not the model: next values ask again
            text = str(exc)
        except KtuiError as exc:
            text = f"cannot build the model: {exc}"
        except Exception as exc:  # noqa: BLE001 - shown in place of the count
            text = f"cannot build the model: {type(exc).__name__}: {plain_message(str(exc))}"
        self.post_message(self.ParamsCounted(key, text, memory))

    def on_form_screen_params_counted(self, message: ParamsCounted) -> None:
        self._params_text[message.key] = message.text
        self._memory_text[message.key] = message.memory
        self._refresh()

    # ------------------------------------------------------------------ actions
    @on(Button.Pressed, "#start")
    def action_start(self) -> None:
        """Start a run with the form's values (in sweep mode: the sweep)."""
        if self.sweep_mode:
            self._start_sweep()
            return
        config = self._startable()
        if config is None:
            return
        if (
            (config.backend is not None and config.backend != backends.current())
            or config.strategy == "multiworker"
            or self.devices != "all"
        ):
            # Keras's backend is fixed once loaded, a multi-worker strategy must be set up
            # before TensorFlow starts, and the GPUs a process sees are fixed when its
            # framework loads (CUDA_VISIBLE_DEVICES): each needs a process of its own.
            if self.devices != "all":
                self.notify(
                    f"devices {self.devices}: the run trains in a process of its own that "
                    "sees only those, followed here.",
                    timeout=6,
                )
            self.action_start_background()
            return
        self.post_message(OpenTraining(config))

    def _startable(self) -> RunConfig | None:
        """The config to start, or None after telling the user why not."""
        config = self.config()
        if config is None:
            self.notify(
                "Some values are invalid; see the messages next to the fields.", severity="error"
            )
            return None
        status = data_mod.locate(config.data)
        if status.state == "missing":
            self.notify(status.message, severity="error", timeout=10)
            return None
        problem = self.config_problem(config, status)
        if problem is not None:
            self.notify(problem, severity="error", timeout=10)
            return None
        if config.backend is not None:
            try:
                backends.require(backends.BackendChoice(config.backend, "the form"))
            except KtuiError as exc:
                self.notify(str(exc), severity="error", timeout=10)
                return None
        return config

    @on(Button.Pressed, "#start-background")
    def action_start_background(self) -> None:
        """Start the run in a process of its own that outlives ktui and the terminal
        (like ``ktui run --detach``), and follow it here. A sweep always runs so."""
        if self.sweep_mode:
            self._start_sweep()
            return
        config = self._startable()
        if config is None:
            return
        store = self.ktui.store
        if store is None:
            self.notify("Background runs need the run store, which is not open.", severity="error")
            return
        from ktui.core import rerun as rerun_mod
        from ktui.runs import launch_detached

        assignments = rerun_mod.assignments(self.preset, config.values)
        data = None if self.data == self.default_data else self.data
        if _devices_problem(self.devices) is not None:
            self.notify(_devices_problem(self.devices) or "", severity="error", timeout=10)
            return
        try:
            started = launch_detached(
                config,
                assignments,
                data,
                store=store.path,
                env=system_mod.devices_environment(self.devices),
            )
        except KtuiError as exc:
            self.notify(str(exc), severity="error", timeout=10)
            return
        self.notify(
            f"Run {started.run_id} trains in the background (pid {started.pid}); it goes on "
            f"when ktui closes. Its output: {started.output}",
            timeout=8,
        )
        self.post_message(OpenTraining(None, attach=started.run_id))

    @on(Button.Pressed, "#reset")
    def action_reset(self) -> None:
        """Put every field back to the preset's default."""
        self.values = self.preset.defaults()
        self.errors.clear()
        self.data = self.default_data
        self.query_one("#data-source", Input).value = self.data
        for hp in self.preset.hyperparameters.values():
            widget = self.query_one(f"#hp-{hp.name}")
            if isinstance(widget, Input):
                widget.value = hp.format(hp.default)
            elif isinstance(widget, Select):
                widget.value = hp.default
            elif isinstance(widget, Switch):
                widget.value = bool(hp.default)
        self._refresh()

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        """Save the values as a new preset in the user's preset folder."""
        if self.config() is None:
            self.notify("Fix the invalid values before saving.", severity="error")
            return
        folder = self.ktui.user_presets_dir
        if folder is None:
            self.notify("No user preset folder is configured.", severity="error")
            return

        def check(name: str) -> str | None:
            name = name.strip()
            if not name or not all(c.isalnum() or c in "_-" for c in name):
                return "use letters, digits, _ and - only"
            if name in self.ktui.catalog.presets:
                return f"a preset called {name} exists; choose another name"
            return None

        def save(name: str | None) -> None:
            if name is None:
                return
            path = folder / f"{name}.toml"
            try:
                text = dump_values(
                    self.preset,
                    self.values,
                    name=name,
                    description=f"{self.preset.description} (saved from {self.preset.name})",
                )
                folder.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
            except (OSError, KtuiError) as exc:
                self.notify(f"Could not save {path}: {exc}", severity="error", timeout=10)
                return
            from ktui.core.presets import load

            self.ktui.catalog.presets[name] = load(path)
            self.notify(f"Saved {path}")

        self.app.push_screen(
            AskDialog("Name of the new preset:", value=f"{self.preset.name}_custom", check=check),
            save,
        )

    def action_data_preview(self) -> None:
        """Show a few training samples and the label distribution of the chosen data."""
        config = self.config()
        if config is None:
            self.notify("Fix the invalid values to preview the data.", severity="error")
            return
        self.post_message(OpenDataPreview(config))

    def action_model(self) -> None:
        """Show the model these values build: layers, shapes, parameters."""
        config = self.config()
        if config is None:
            self.notify("Fix the invalid values to see the model.", severity="error")
            return
        self.post_message(OpenModel(config=config))

    @on(Button.Pressed, "#back")
    def action_back(self) -> None:
        """Back to the presets."""
        self.app.pop_screen()


def _batch_meaning(config: RunConfig, devices: str) -> str:
    """What batch_size means under the strategy: the global batch, per replica."""
    gpus = [part for part in devices.split(",") if part.strip().isdigit()]
    if config.strategy == "mirrored" and gpus:
        return per_replica_text(config.batch_size, len(gpus))
    where = "every GPU (one replica on a CPU)" if config.strategy == "mirrored" else (
        "every worker's devices"
    )
    return (
        f"{config.batch_size} global, split over {where}: per replica = "
        f"{config.batch_size} / replicas"
    )


def _is_sweep_widget(widget_id: str | None) -> bool:
    """Whether ``widget_id`` is one of the sweep mode's fields (kind, list, range,
    choices, settings)."""
    return bool(widget_id) and str(widget_id).startswith(
        ("kind-", "list-", "min-", "max-", "log-", "choices-", "sweep-")
    )


def _train_samples(config: RunConfig) -> int | None:
    if config.data.kind == "random":
        return config.data.train_samples
    return _KNOWN_TRAIN_SAMPLES.get(config.data.kind)


def _show_error(widget: Static, text: str) -> None:
    """An error line under a field, taking no room while there is none."""
    if widget.content == text and widget.display == bool(text):
        return  # each keystroke refreshes every field: an update is a layout of the form
    widget.update(text)
    widget.display = bool(text)
