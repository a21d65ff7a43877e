"""Insight screens: the model, the data before training, and what a run got wrong.

* :class:`ModelScreen` — layers, output shapes and parameter counts, with the input
  shape explained in words (channels first 'th' versus channels last 'tf').
* :class:`DataPreviewScreen` — a few training images drawn in the terminal with their
  labels, the label distribution as bars; for data that is not images, the arrays.
* :class:`ConfusionScreen` — the test set's confusion matrix as a heat map with
  counts, and per-class precision and recall.
* :class:`MistakesScreen` — the test images the model got wrong, most confident
  first, stepped through with ← and →.

Every screen shows what it has and says what is missing (no saved predictions, no
images, data not on this machine) instead of an empty pane, and asks for a bigger
terminal rather than drawing a broken layout. Loading (data, a saved evaluation,
building a model) happens in thread workers; nothing here imports TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from rich.color import Color
from rich.columns import Columns
from rich.console import Group, RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, Static

from ktui.core import backends, insight
from ktui.core import data as data_mod
from ktui.core.errors import KtuiError
from ktui.core.events import ModelSummary
from ktui.core.insight import DataPreview, Evaluation
from ktui.core.pictures import (
    CLI_BASE,
    CLI_HEAT,
    Picture,
    bar_chart,
    confusion_caption,
    confusion_table,
    metrics_table,
)
from ktui.core.presets import RunConfig
from ktui.core.preview import PreviewSuperseded
from ktui.navigation import EvaluationSource
from ktui.widgets.footer import KtuiFooter

if TYPE_CHECKING:
    from typing import Self

    from ktui.app import KtuiApp

RGB = tuple[int, int, int]

DataLoader = Callable[[RunConfig], tuple[data_mod.Dataset, data_mod.Dataset | None, str]]
"""Loads a config's data for the preview: ``(raw, transformed or None, transform problem)``."""


def load_preview_data(
    config: RunConfig,
) -> tuple[data_mod.Dataset, data_mod.Dataset | None, str]:
    """The config's data as read (never downloaded: that needs TensorFlow) and transformed."""
    status = data_mod.locate(config.data)
    if status.state != "available":
        raise KtuiError(
            f"{status.message}.",
            hint="The preview reads data that is on this machine; a run downloads it first.",
        )
    raw = data_mod.load(config.data, seed=config.seed, download=None)
    try:
        return raw, data_mod.apply_transforms(raw, config.transforms, classes=config.classes), ""
    except KtuiError as exc:
        return raw, None, exc.message


def image_order(config: RunConfig | None) -> insight.ImageOrder | None:
    """``channels_first`` or ``channels_last`` when the preset's layers say so."""
    if config is None:
        return None
    for spec in config.layers:
        value = spec.args.get("data_format")
        if value in ("channels_first", "channels_last"):
            return cast("insight.ImageOrder", value)
    return None


# --------------------------------------------------------------------------- base
class InsightScreen(Screen[None]):
    """A screen with a body that is replaced by a note when the terminal is too small."""

    MIN_SIZE: tuple[int, int] = (40, 12)
    """Columns × rows the body needs (subclasses may compute it from their content)."""

    BINDINGS = [Binding("escape", "back", "Back")]

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield Static("", classes="insight-too-small")
        with Vertical(classes="insight-body"):
            yield from self.compose_body()
        yield KtuiFooter()

    def compose_body(self) -> ComposeResult:
        """The screen's own widgets."""
        yield from ()

    @property
    def ktui(self) -> KtuiApp:
        return cast("KtuiApp", self.app)

    def min_size(self) -> tuple[int, int]:
        """What the body needs now; :attr:`MIN_SIZE` unless a subclass knows better."""
        return self.MIN_SIZE

    def on_mount(self) -> None:
        self.fit()

    def on_resize(self, event: events.Resize) -> None:
        self.fit()

    def fit(self) -> None:
        """Show the body, or the note asking for more room when the terminal is too small."""
        width, height = self.app.size
        need_w, need_h = self.min_size()
        small = width < need_w or height < need_h
        note = self.query_one(".insight-too-small", Static)
        note.display = small
        self.query_one(".insight-body").display = not small
        if small:
            note.update(
                f"This view needs at least {need_w}×{need_h}; the terminal is "
                f"{width}×{height}. Enlarge the terminal, or press esc to go back."
            )
        self.set_class(width < 100, "-narrow")
        self.set_class(height < 36, "-short")

    def action_back(self) -> None:
        """Back to the previous screen."""
        self.app.pop_screen()

    # -- colours from the theme (rich renderables need real colours) -----------------
    def theme_rgb(self, name: str, fallback: RGB) -> RGB:
        """A theme colour (``primary``, ``background``...) as RGB."""
        value = self.app.theme_variables.get(name, "")
        try:
            triplet = Color.parse(value).triplet if value else None
        except Exception:  # noqa: BLE001 - an unparsable theme value falls back
            triplet = None
        return fallback if triplet is None else (triplet.red, triplet.green, triplet.blue)

    def picture(self, sample: Any) -> Picture | None:
        """A picture of ``sample``, or None when it is not an image.

        Half blocks in colour; the character ramp when the user asked for NO_COLOR.
        """
        try:
            return Picture(sample, mode="ramp" if self.app.no_color else "blocks")
        except ValueError:
            return None


def _missing(text: str) -> Text:
    return Text(text, style="italic")


# --------------------------------------------------------------------------- model
class ModelScreen(InsightScreen):
    """The model's layers, output shapes and parameters, and its input shape in words."""

    MIN_SIZE = (50, 12)

    @dataclass
    class Built(Message):
        """The model was built in the background (or could not be)."""

        summary: ModelSummary | None
        error: str

    def __init__(
        self, summary: ModelSummary | None = None, *, config: RunConfig | None = None
    ) -> None:
        super().__init__()
        self.summary = summary
        self.config = config
        self.sub_title = "Model" + (f" · {config.preset.name}" if config else "")

    def compose_body(self) -> ComposeResult:
        yield Static("", id="model-totals")
        with VerticalScroll(id="model-body"):
            yield Static("", id="model-input")
            yield Static("", id="model-layers")

    def on_mount(self) -> None:
        super().on_mount()
        if self.summary is not None:
            self.show(self.summary)
        elif self.config is not None:
            self.query_one("#model-input", Static).update(
                _missing("Building the model… (TensorFlow loads the first time)")
            )
            self._build(self.config)
        else:
            self.query_one("#model-input", Static).update(
                _missing("No model to show: there is no preset or run to build it from.")
            )

    @work(thread=True, exclusive=True, exit_on_error=False, group="insight")
    def _build(self, config: RunConfig) -> None:
        try:
            summary = self.ktui.describe_model(config, channel=f"model:{id(self)}")
        except PreviewSuperseded:  # only by a newer request of this very screen
            return
        except KtuiError as exc:
            self.post_message(self.Built(None, str(exc)))
        except Exception as exc:  # noqa: BLE001 - shown in place of the model
            self.post_message(self.Built(None, f"{type(exc).__name__}: {exc}"))
        else:
            self.post_message(self.Built(summary, ""))

    def on_model_screen_built(self, message: Built) -> None:
        if message.summary is None:
            self.query_one("#model-input", Static).update(
                Text(f"The model cannot be built: {message.error}", style="bold")
            )
            return
        self.summary = message.summary
        self.show(message.summary)

    def show(self, summary: ModelSummary) -> None:
        """Fill the view from ``summary``."""
        order = image_order(self.config) or insight.image_order(
            insight.parse_shape(summary.input_shape) or ()
        )
        words = Text()
        words.append("Input ", style="bold")
        for index, line in enumerate(insight.explain_shape(summary.input_shape, order)):
            words.append(("\n" if index else "") + line, style="" if index < 1 else "dim")
        note = backends.layout_note(backends.current(), order)
        if note is not None:
            words.append("\n" + note, style="dim")
        self.query_one("#model-input", Static).update(words)

        table = Table(box=None, padding=(0, 1), pad_edge=False, expand=True)
        table.add_column("layer (type)", no_wrap=True)
        table.add_column("output shape", no_wrap=True)
        table.add_column("params", justify="right", no_wrap=True)
        table.add_column("what it means", ratio=1, style="dim")
        previous = summary.input_shape
        for layer in summary.layers:
            table.add_row(
                f"{layer.name} ({layer.kind})",
                layer.output_shape,
                f"{layer.params:,}",
                insight.explain_layer(layer, previous, order),
            )
            previous = layer.output_shape
        self.query_one("#model-layers", Static).update(table)

        untrainable = summary.total_params - summary.trainable_params
        totals = Text()
        totals.append(f"{len(summary.layers)} layers · ")
        totals.append(f"{summary.total_params:,} parameters", style="bold")
        totals.append(f" · {summary.trainable_params:,} trainable · {untrainable:,} not")
        # float32 weights: roughly what the model takes in memory and on disk.
        totals.append(f" · {_size(summary.total_params * 4)} as float32", style="dim")
        self.query_one("#model-totals", Static).update(totals)


def _size(nbytes: int) -> str:
    if nbytes < 1024 * 1024:
        return f"{nbytes / 1024:.1f} KB"
    return f"{nbytes / 1024 / 1024:.1f} MB"


# --------------------------------------------------------------------------- data preview
class DataPreviewScreen(InsightScreen):
    """A few training images with their labels and the label distribution, before training.

    The data is read in a thread worker (numpy only); for data that is not images
    (the dummy preset's random vectors) the arrays are described instead.
    """

    MIN_SIZE = (40, 16)

    @dataclass
    class Loaded(Message):
        """The preview was computed (or the data could not be read)."""

        preview: DataPreview | None
        error: str

    def __init__(self, config: RunConfig, *, loader: DataLoader | None = None) -> None:
        super().__init__()
        self.config = config
        self.preview: DataPreview | None = None
        self._loader = loader or load_preview_data
        self.sub_title = f"Data · {config.preset.name} · {config.data.describe()}"

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="data-body"):
            yield Static("", id="data-note")
            with Horizontal(id="data-main"):
                yield Static("", id="data-images")
                yield Static("", id="data-bars")
            yield Static("", id="data-arrays")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#data-main").display = False
        self.query_one("#data-arrays").display = False
        self.query_one("#data-note", Static).update(
            _missing(f"Loading {self.config.data.describe()}…")
        )
        self._load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="insight")
    def _load(self) -> None:
        try:
            raw, model, problem = self._loader(self.config)
            preview = insight.preview_dataset(
                raw, model, kind=self.config.data.kind, transform_problem=problem
            )
        except KtuiError as exc:
            self.post_message(self.Loaded(None, str(exc)))
        except Exception as exc:  # noqa: BLE001 - shown in place of the preview
            self.post_message(self.Loaded(None, f"{type(exc).__name__}: {exc}"))
        else:
            self.post_message(self.Loaded(preview, ""))

    def on_data_preview_screen_loaded(self, message: Loaded) -> None:
        note = self.query_one("#data-note", Static)
        if message.preview is None:
            note.update(Text(f"No preview: {message.error}", style="bold"))
            return
        self.preview = preview = message.preview
        self.query_one("#data-main").display = True
        self.query_one("#data-arrays").display = True
        images = self.query_one("#data-images", Static)
        images.update(self._rows(preview) if preview.not_images else self._cards(preview))
        self._show_header(preview)
        self._show_bars(preview)
        self._show_arrays(preview)

    def on_resize(self, event: events.Resize) -> None:
        super().on_resize(event)
        if self.preview is not None:
            # Both follow the layout: the bars' width, and whether they are below.
            self._show_header(self.preview)
            self._show_bars(self.preview)

    def _show_header(self, preview: DataPreview) -> None:
        header = Text()
        header.append("Data ", style="bold")
        header.append(preview.origin)
        if not preview.not_images:
            header.append(f"\n{len(preview.samples)} training images", style="bold")
            header.append(" (the first of each class)" if preview.labels else " (the first ones)")
            if preview.image_note:
                header.append(f" · {preview.image_note}", style="dim")
            if self.has_class("-narrow"):
                header.append("\n↓ PgDn: the label distribution and the arrays", style="dim")
        else:
            header.append(f"\nNot drawn: {preview.not_images}.", style="italic")
        self.query_one("#data-note", Static).update(header)

    def _rows(self, preview: DataPreview) -> RenderableType:
        """The first samples as numbers, for data that is not images."""
        table = Table(
            title="First training samples",
            title_justify="left",
            title_style="bold",
            box=None,
            padding=(0, 1),
            pad_edge=False,
            expand=True,
        )
        table.add_column("#", justify="right", min_width=2, no_wrap=True)
        table.add_column("label", justify="right", min_width=5, no_wrap=True)
        table.add_column("values", overflow="ellipsis", no_wrap=True, ratio=1)
        for index, label, sample in preview.samples:
            values = np.asarray(sample).ravel()
            table.add_row(
                str(index),
                "—" if label is None else _class_label(preview.labels, label),
                " ".join(f"{v:.2f}" for v in values[:32]) + (" …" if values.size > 32 else ""),
            )
        return table

    def _cards(self, preview: DataPreview) -> RenderableType:
        cards: list[RenderableType] = []
        for index, label, sample in preview.samples:
            picture = self.picture(sample)
            if picture is None:
                continue
            name = "no label" if label is None else _class_label(preview.labels, label)
            caption = Text(f"#{index} {name}", no_wrap=True, overflow="ellipsis")
            caption.truncate(picture.width, overflow="ellipsis")
            cards.append(Group(picture, caption))
        # Columns fits as many 28-wide cards per row as the pane has room for.
        return Columns(cards, padding=(1, 1), equal=True)

    def _show_bars(self, preview: DataPreview) -> None:
        bars = self.query_one("#data-bars", Static)
        counts = preview.raw.train_counts
        if counts is None or not preview.labels:
            bars.update(_missing("The training labels are not classes: no distribution."))
            return
        text = Text("Label distribution (training)\n", style="bold")
        names = [_class_label(preview.labels, i) for i in range(len(counts))]
        # Beside the images in a wide terminal (see ktui.tcss), below them otherwise.
        width = min(60, self.app.size.width - 4) if self.has_class("-narrow") else 28
        text.append_text(
            bar_chart(names, [int(c) for c in counts], width=width, style=self._accent())
        )
        bars.update(text)

    def _accent(self) -> str:
        return "" if self.app.no_color else self.app.theme_variables.get("primary", "")

    def _show_arrays(self, preview: DataPreview) -> None:
        text = Text("Arrays as read\n", style="bold")
        text.append("\n".join(preview.raw.lines()))
        text.append("\nAs the model sees them (after the preset's transforms)\n", style="bold")
        if preview.model is not None:
            text.append("\n".join(preview.model.lines()))
        else:
            text.append(f"The transforms do not fit: {preview.transform_problem}", style="italic")
        self.query_one("#data-arrays", Static).update(text)


def _short_label(labels: tuple[str, ...], index: int) -> str:
    return labels[index] if 0 <= index < len(labels) else str(index)


def _class_label(labels: tuple[str, ...], index: int) -> str:
    if 0 <= index < len(labels) and labels[index] != str(index):
        return f"{index} {labels[index]}"
    return str(index)


# --------------------------------------------------------------------------- evaluation
@dataclass
class EvaluationLoaded(Message):
    """A saved evaluation was read in the background (or could not be)."""

    evaluation: Evaluation | None
    error: str


class _EvaluationScreen(InsightScreen):
    """Shared by the confusion and mistakes screens: an evaluation, perhaps to load."""

    def __init__(
        self,
        evaluation: Evaluation | None = None,
        *,
        path: Path | str | None = None,
        missing: str = "",
        title: str = "",
    ) -> None:
        super().__init__()
        self.evaluation = evaluation
        self.path = None if path is None else Path(path)
        self.missing = missing
        self.title_text = title

    @classmethod
    def of(cls, source: EvaluationSource) -> Self:
        """The view of the evaluation ``source`` says where to find."""
        return cls(source.evaluation, path=source.path, missing=source.missing, title=source.title)

    @property
    def source(self) -> EvaluationSource:
        """Where this view's evaluation comes from (for the other view of the same run)."""
        return EvaluationSource(self.evaluation, self.path, self.missing, self.title_text)

    def start_loading(self, *, need_images: bool) -> bool:
        """Read the saved file in a worker when it holds what is needed; True if started."""
        has = self.evaluation is not None and (
            not need_images or self.evaluation.images_total or len(self.evaluation.mistakes)
        )
        if has or self.path is None:
            return False
        self._read(self.path)
        return True

    @work(thread=True, exclusive=True, exit_on_error=False, group="insight")
    def _read(self, path: Path) -> None:
        try:
            evaluation = insight.load_evaluation(path)
        except KtuiError as exc:
            self.post_message(EvaluationLoaded(None, str(exc)))
        else:
            self.post_message(EvaluationLoaded(evaluation, ""))

    def what_is_missing(self) -> str:
        """Why there is nothing (more) to show."""
        if self.missing:
            return self.missing
        if self.path is None:
            return "The predictions were not saved: this run has no folder (it is not recorded)."
        return f"No saved predictions at {self.path}."


class ConfusionScreen(_EvaluationScreen):
    """The confusion matrix as a heat map with counts, and precision/recall per class."""

    BINDINGS = [
        Binding("w", "mistakes", "Wrong predictions"),
        Binding("escape", "back", "Back"),
    ]

    def compose_body(self) -> ComposeResult:
        yield Static("", id="confusion-title")
        with VerticalScroll(id="confusion-body"), Horizontal(id="confusion-main"):
            yield Static("", id="confusion-matrix")
            yield Static("", id="confusion-metrics")

    def on_mount(self) -> None:
        self.sub_title = "Confusion matrix" + (f" · {self.title_text}" if self.title_text else "")
        super().on_mount()
        if self.evaluation is not None:
            self.show(self.evaluation)
        elif self.start_loading(need_images=False):
            self.query_one("#confusion-title", Static).update(_missing("Reading the predictions…"))
        else:
            self.query_one("#confusion-title", Static).update(
                Text(f"No confusion matrix. {self.what_is_missing()}", style="bold")
            )

    def on_evaluation_loaded(self, message: EvaluationLoaded) -> None:
        if message.evaluation is None:
            self.query_one("#confusion-title", Static).update(
                Text(f"No confusion matrix: {message.error}", style="bold")
            )
            return
        self.evaluation = message.evaluation
        self.show(message.evaluation)

    def _table(self, evaluation: Evaluation) -> Table:
        heat = None if self.app.no_color else self.theme_rgb("primary", CLI_HEAT)
        base = self.theme_rgb("background", CLI_BASE)
        return confusion_table(evaluation, heat=heat, base=base)

    def min_size(self) -> tuple[int, int]:
        if self.evaluation is None:
            return self.MIN_SIZE
        # The heat map must fit side to side: its columns are the classes.
        console = self.app.console
        width = Measurement.get(console, console.options, self._table(self.evaluation)).maximum
        return (max(self.MIN_SIZE[0], width + 2), self.MIN_SIZE[1])

    def show(self, evaluation: Evaluation) -> None:
        """Fill the view from ``evaluation``."""
        wrong = evaluation.samples - evaluation.correct
        title = Text()
        title.append("Confusion matrix", style="bold")
        title.append(
            f" · {evaluation.samples:,} test samples · accuracy "
            f"{evaluation.accuracy * 100:.2f}% · {wrong:,} wrong"
        )
        if evaluation.binary:
            title.append(" · sigmoid output, class 1 when ≥ 0.5", style="dim")
        self.query_one("#confusion-title", Static).update(title)
        self.query_one("#confusion-matrix", Static).update(
            Group(self._table(evaluation), confusion_caption(shaded=not self.app.no_color))
        )
        metrics = Text()
        confusions = evaluation.top_confusions(3)
        if confusions:
            metrics.append("\nMost often confused\n", style="bold")
            for true, predicted, count in confusions:
                metrics.append(
                    f"{_class_label(evaluation.labels, true)} → "
                    f"{_class_label(evaluation.labels, predicted)}: {count:,}\n"
                )
        self.query_one("#confusion-metrics", Static).update(
            Group(metrics_table(evaluation), metrics)
        )
        self.fit()

    def action_mistakes(self) -> None:
        """Browse the wrong predictions (read from the saved file if this has none)."""
        self.app.switch_screen(MistakesScreen.of(self.source))


class MistakesScreen(_EvaluationScreen):
    """The test samples the model got wrong, most confident first, one at a time."""

    MIN_SIZE = (44, 18)

    BINDINGS = [
        Binding("left", "step(-1)", "Previous"),
        Binding("right", "step(1)", "Next"),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
        Binding("c", "confusion", "Confusion matrix"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(
        self,
        evaluation: Evaluation | None = None,
        *,
        path: Path | str | None = None,
        missing: str = "",
        title: str = "",
    ) -> None:
        super().__init__(evaluation, path=path, missing=missing, title=title)
        self.position = 0

    NEXT = 4
    """How many of the following mistakes the strip under the picture shows (if room)."""

    def compose_body(self) -> ComposeResult:
        yield Static("", id="mistakes-title")
        with Horizontal(id="mistakes-main"):
            yield Static("", id="mistakes-picture")
            yield Static("", id="mistakes-detail")
        yield Static("", id="mistakes-next")

    def on_mount(self) -> None:
        self.sub_title = "Wrong predictions" + (f" · {self.title_text}" if self.title_text else "")
        super().on_mount()
        if self.start_loading(need_images=True):
            self.query_one("#mistakes-title", Static).update(_missing("Reading the predictions…"))
        else:
            self.show()

    def on_evaluation_loaded(self, message: EvaluationLoaded) -> None:
        if message.evaluation is None:
            self.missing = message.error
        else:
            self.evaluation = message.evaluation
        self.show()

    def show(self) -> None:
        """Show the mistake at :attr:`position` (or what is missing)."""
        title = self.query_one("#mistakes-title", Static)
        picture = self.query_one("#mistakes-picture", Static)
        detail = self.query_one("#mistakes-detail", Static)
        evaluation = self.evaluation
        if evaluation is None:
            title.update(Text(f"No wrong predictions to show. {self.what_is_missing()}"))
            picture.display = detail.display = False
            return
        mistakes = evaluation.mistakes
        if not len(mistakes):
            wrong = evaluation.samples - evaluation.correct
            title.update(
                Text(
                    "Every test sample was classified correctly."
                    if wrong == 0
                    else f"{wrong:,} wrong predictions, but they were not saved. "
                    + self.what_is_missing()
                )
            )
            picture.display = detail.display = False
            return
        picture.display = detail.display = True
        self.position = max(0, min(self.position, len(mistakes) - 1))
        i = self.position
        total = max(evaluation.images_total, len(mistakes))
        head = Text()
        head.append(f"Wrong prediction {i + 1} of {total:,}", style="bold")
        head.append("  most confident first · ← → to step", style="dim")
        title.update(head)

        true, predicted = int(mistakes.true[i]), int(mistakes.predicted[i])
        sample = mistakes.image(i)
        info = Text()
        info.append("test sample ", style="bold")
        info.append(f"#{int(mistakes.index[i]):,}\n")
        info.append("true       ", style="bold")
        info.append(f"{_class_label(evaluation.labels, true)}\n")
        info.append("predicted  ", style="bold")
        info.append(f"{_class_label(evaluation.labels, predicted)}\n")
        info.append("probability ", style="bold")
        info.append(f"{float(mistakes.probability[i]) * 100:.1f}%")
        info.append(" (the model's confidence in its wrong answer)\n", style="dim")
        shown = self.picture(sample) if sample is not None else None
        if sample is None:
            kept = 0 if mistakes.images is None else len(mistakes.images)
            why = (
                f"only the {kept} most confident mistakes keep their image"
                if kept
                else "the images were not saved with this evaluation"
            )
            picture.update(_missing(f"No image: {why}."))
        elif shown is None:
            values = np.asarray(sample).ravel()
            picture.update(
                _missing(
                    f"Not an image: {values.size} numbers, "
                    f"{values.min():.3g}…{values.max():.3g}\n\n"
                    + " ".join(f"{v:.2f}" for v in values[:48])
                    + (" …" if values.size > 48 else "")
                )
            )
        else:
            picture.update(shown)
            if shown.note:
                info.append(f"\n{shown.note}", style="dim")
        detail.update(info)
        self._show_next(evaluation)

    def _show_next(self, evaluation: Evaluation) -> None:
        """The next few mistakes, small captions under each (hidden when rows are short)."""
        strip = self.query_one("#mistakes-next", Static)
        mistakes = evaluation.mistakes
        cards: list[RenderableType] = []
        for k in range(self.position + 1, min(len(mistakes), self.position + 1 + self.NEXT)):
            sample = mistakes.image(k)
            shown = self.picture(sample) if sample is not None else None
            if shown is None:
                break
            caption = Text(
                f"{k + 1}: {_short_label(evaluation.labels, int(mistakes.true[k]))} → "
                f"{_short_label(evaluation.labels, int(mistakes.predicted[k]))} "
                f"{float(mistakes.probability[k]) * 100:.0f}%",
                no_wrap=True,
                overflow="ellipsis",
            )
            caption.truncate(shown.width, overflow="ellipsis")
            cards.append(Group(shown, caption))
        # A class, not .display: the layout's .-short rule must still be able to hide it.
        strip.set_class(not cards, "-empty")
        if cards:
            strip.update(Group(Text("Next", style="bold"), Columns(cards, padding=(0, 1))))

    def action_step(self, delta: int) -> None:
        """Show the previous (-1) or next (+1) mistake."""
        self.position += delta
        self.show()

    def action_jump(self, position: int) -> None:
        """Show the first (0) or last (-1) mistake."""
        evaluation = self.evaluation
        count = len(evaluation.mistakes) if evaluation is not None else 0
        self.position = position if position >= 0 else count - 1
        self.show()

    def action_confusion(self) -> None:
        """Back to the confusion matrix."""
        self.app.switch_screen(ConfusionScreen.of(self.source))
