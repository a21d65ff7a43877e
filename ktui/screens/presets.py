"""The first screen: every preset, its model and the state of its data."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Header, OptionList, Static
from textual.widgets.option_list import Option

from ktui.core import data as data_mod
from ktui.core.errors import KtuiError, PresetError
from ktui.core.events import ModelSummary
from ktui.core.presets import Preset
from ktui.core.preview import PreviewSuperseded, PreviewUnavailable
from ktui.core.shapes import check_model
from ktui.navigation import OpenForm, OpenRuns
from ktui.widgets.footer import KtuiFooter

_STATE_STYLE = {"available": "green", "download": "yellow", "missing": "red"}
_STATE_WORD = {
    "available": "available here",
    "download": "will be downloaded",
    "missing": "missing",
}


class PresetScreen(Screen[None]):
    """Choose a preset; Enter opens its hyperparameters."""

    BINDINGS = [
        # priority: the list would otherwise take Enter and the footer would not show it.
        Binding("enter", "open", "Edit & train", priority=True),
        Binding("h", "runs", "Runs"),
        Binding("q", "app.quit", "Quit"),
    ]

    @dataclass
    class PreviewReady(Message):
        """A model preview was built (or failed) in the background."""

        name: str
        summary: ModelSummary | None
        error: str | None
        """None with no summary: the request was superseded (the person moved on)."""
        transient: bool = False
        """The preview process failed, not the model: asked again next time."""

    def __init__(self) -> None:
        super().__init__()
        self._previews: dict[str, ModelSummary | str] = {}
        self._pending: set[str] = set()

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Horizontal(id="presets-body"):
            with Vertical(id="preset-list-pane"):
                yield Static("Presets", classes="pane-title")
                yield OptionList(*self._options(), id="preset-list")
            with VerticalScroll(id="preset-detail"):
                yield Static("", id="preset-title")
                yield Static("", id="preset-description")
                yield Static("", id="preset-data")
                yield Static("Model", classes="section-title")
                yield Static("", id="preview-note")
                yield DataTable(id="preview-table", cursor_type="none", zebra_stripes=True)
                yield Static("Hyperparameters (defaults)", classes="section-title")
                yield Static("", id="preset-values")
        yield KtuiFooter()

    def _options(self) -> list[Option]:
        catalog = self.app.catalog  # type: ignore[attr-defined]
        options = [Option(name, id=f"preset:{name}") for name in sorted(catalog.presets)]
        for error in catalog.errors:
            label = Text.assemble(("⚠ ", "bold red"), (_stem(error.source), "red"))
            options.append(Option(label, id=f"broken:{error.source}"))
        return options

    def on_mount(self) -> None:
        table = self.query_one("#preview-table", DataTable)
        table.add_columns("layer", "output shape", "params")
        option_list = self.query_one("#preset-list", OptionList)
        option_list.focus()
        if option_list.option_count:
            option_list.highlighted = 0
        else:
            self.query_one("#preset-title", Static).update(
                "No presets found. Put .toml files in your preset folder or pass --presets DIR."
            )

    # ------------------------------------------------------------------ selection
    @property
    def selected(self) -> Preset | None:
        """The highlighted preset, or None for a broken file."""
        option_list = self.query_one("#preset-list", OptionList)
        index = option_list.highlighted
        if index is None:
            return None
        option_id = option_list.get_option_at_index(index).id or ""
        if option_id.startswith("preset:"):
            return self.app.catalog.presets[option_id.removeprefix("preset:")]  # type: ignore[attr-defined, no-any-return]
        return None

    @on(OptionList.OptionHighlighted, "#preset-list")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        option_id = event.option.id or ""
        if option_id.startswith("broken:"):
            self._show_broken(option_id.removeprefix("broken:"))
        else:
            self._show(self.app.catalog.presets[option_id.removeprefix("preset:")])  # type: ignore[attr-defined]

    @on(OptionList.OptionSelected, "#preset-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.action_open()

    def action_runs(self) -> None:
        """Open the history of recorded runs."""
        self.post_message(OpenRuns())

    def action_open(self) -> None:
        """Open the hyperparameter form of the highlighted preset."""
        preset = self.selected
        if preset is None:
            self.notify("This preset file has an error; fix it and restart ktui.", severity="error")
            return
        self.post_message(OpenForm(preset))

    # ------------------------------------------------------------------ details
    def _show_broken(self, source: str) -> None:
        error = next(e for e in self.app.catalog.errors if e.source == source)  # type: ignore[attr-defined]
        self.query_one("#preset-title", Static).update(
            Text.assemble((_stem(source), "bold red"), ("  could not be loaded", "red"))
        )
        self.query_one("#preset-description", Static).update(Text(str(error), style="red"))
        self.query_one("#preset-data", Static).update("")
        self.query_one("#preview-note", Static).update("")
        self.query_one("#preview-table", DataTable).clear()
        self.query_one("#preset-values", Static).update("")

    def _show(self, preset: Preset) -> None:
        self.query_one("#preset-title", Static).update(Text(preset.name, style="bold"))
        self.query_one("#preset-description", Static).update(preset.description)
        config = preset.resolve()
        status = data_mod.locate(config.data)
        data_line = Text.assemble(
            ("Data: ", "bold"),
            (_STATE_WORD[status.state], _STATE_STYLE[status.state]),
            f" · {status.message}",
        )
        try:  # the default values' layers against the data's shape, without Keras
            check_model(config)
        except PresetError as exc:
            data_line.append(f"\nDefaults do not fit the data: {exc.key}: {exc.problem}", "red")
        self.query_one("#preset-data", Static).update(data_line)
        values = Text()
        for name, hp in preset.hyperparameters.items():
            values.append(f"{name}", style="bold")
            values.append(f" = {hp.format(hp.default)}   ")
        self.query_one("#preset-values", Static).update(values)
        self._show_preview(preset)

    def _show_preview(self, preset: Preset) -> None:
        table = self.query_one("#preview-table", DataTable)
        note = self.query_one("#preview-note", Static)
        table.clear()
        cached = self._previews.get(preset.name)
        if cached is None:
            note.update(
                Text(
                    "Building the model preview… (TensorFlow loads the first time)", style="italic"
                )
            )
            if preset.name not in self._pending:
                self._pending.add(preset.name)
                # The first preview imports TensorFlow (seconds of CPU in a thread);
                # start it after the screen is up so the first keys are not delayed.
                if self._previews:
                    # At once (Textual 8.2's timer of 0 s divides by zero and never fires).
                    self.call_later(self._build_preview, preset)
                else:
                    self.set_timer(0.5, lambda: self._build_preview(preset))
            return
        if isinstance(cached, str):
            note.update(Text(cached, style="red"))
            return
        for layer in cached.layers:
            table.add_row(f"{layer.name} ({layer.kind})", layer.output_shape, f"{layer.params:,}")
        note.update(
            f"input {cached.input_shape} · {cached.total_params:,} parameters "
            f"({cached.trainable_params:,} trainable)"
        )

    @work(thread=True, group="preview", exit_on_error=False, description="model preview")
    def _build_preview(self, preset: Preset) -> None:
        try:
            summary = self.app.describe_model(preset.resolve(), channel="presets")  # type: ignore[attr-defined]
        except PreviewSuperseded:
            # The person moved on before it was built: built again if they come back.
            self.post_message(self.PreviewReady(preset.name, None, None))
        except PreviewUnavailable as exc:  # not the preset's fault: shown, not kept
            self.post_message(self.PreviewReady(preset.name, None, str(exc), transient=True))
        except KtuiError as exc:
            self.post_message(self.PreviewReady(preset.name, None, str(exc)))
        except Exception as exc:  # noqa: BLE001 - shown in place of the preview
            self.post_message(self.PreviewReady(preset.name, None, f"{type(exc).__name__}: {exc}"))
        else:
            self.post_message(self.PreviewReady(preset.name, summary, None))

    def on_preset_screen_preview_ready(self, message: PreviewReady) -> None:
        self._pending.discard(message.name)
        current = self.selected
        if message.summary is None and message.error is None:  # superseded
            if current is not None and current.name == message.name:
                self._show_preview(current)  # back on it meanwhile: asks again
            return
        if message.transient:
            if current is not None and current.name == message.name:
                self.query_one("#preview-note", Static).update(
                    Text(message.error or "", style="red")
                )
            return
        self._previews[message.name] = (
            message.summary if message.summary is not None else message.error or "?"
        )
        if current is not None and current.name == message.name:
            self._show_preview(current)


def _stem(source: str) -> str:
    return source.rsplit("/", 1)[-1].removesuffix(".toml")
