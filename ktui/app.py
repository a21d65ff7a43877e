"""The Textual application: pick a preset, edit it, train it, watch it.

The app is given its presets and a factory for its trainer (see :func:`create_app`),
so the command line and the tests build it the same way and the tests can swap in a
fast fake trainer. Nothing here imports TensorFlow: the real trainer is created by
the factory inside the training worker's thread, so the UI opens instantly.
"""

from __future__ import annotations

import asyncio
import gc
import signal
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on
from textual.actions import parse as parse_action
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.dom import DOMNode
from textual.screen import Screen
from textual.theme import Theme

from ktui.core import backends
from ktui.core.errors import KtuiError
from ktui.core.events import ModelSummary
from ktui.core.presets import PresetCatalog, RunConfig
from ktui.core.preview import PreviewClosed, Previewer, ProcessPreviewer
from ktui.core.trainer import Trainer
from ktui.navigation import (
    Navigate,
    OpenCompare,
    OpenConfusion,
    OpenDataPreview,
    OpenForm,
    OpenMistakes,
    OpenModel,
    OpenRunDetail,
    OpenRuns,
    OpenSweep,
    OpenSweepInsight,
    OpenSweeps,
    OpenTraining,
)
from ktui.screens.compare import CompareScreen
from ktui.screens.dialogs import ConfirmDialog
from ktui.screens.form import FormScreen
from ktui.screens.insights import ConfusionScreen, DataPreviewScreen, MistakesScreen, ModelScreen
from ktui.screens.presets import PresetScreen
from ktui.screens.run_detail import RunDetailScreen
from ktui.screens.runs import RunsScreen
from ktui.screens.sweeps import SweepsScreen
from ktui.screens.training import TrainingScreen
from ktui.store import RunStore

if TYPE_CHECKING:
    from ktui.screens.leaderboard import LeaderboardScreen

TrainerFactory = Callable[[], Trainer]
Clock = Callable[[], float]


def keras_trainer() -> Trainer:
    """The real trainer; imports Keras and its backend, so call it off the UI thread."""
    from ktui.core import backends

    # Keras reads KERAS_BACKEND once, at import: the person's setting, else the first
    # installed (a run that asks for another backend trains in a process of its own).
    backends.activate(backends.choose())
    from ktui.training.engine import KerasTrainer

    return KerasTrainer()


#: How many presets' forms are kept to open again at once (~100 widgets each).
KEPT_FORMS = 8


class KtuiApp(App[int]):
    """ktui's dashboard."""

    TITLE = "ktui"
    SUB_TITLE = "train Keras models from the terminal"
    CSS_PATH = "ktui.tcss"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [
        Binding("q", "quit", "Quit", priority=False),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(
        self,
        catalog: PresetCatalog,
        trainer_factory: TrainerFactory = keras_trainer,
        *,
        user_presets_dir: Path | None = None,
        clock: Clock = time.monotonic,
        store: RunStore | None = None,
        attach: int | None = None,
        sweep: int | None = None,
        theme: str | None = None,
        config_path: Path | None = None,
        previewer: Previewer | None = None,
    ) -> None:
        super().__init__()
        self.previewer = previewer
        """Builds model previews in a process of its own until this process has loaded
        Keras (see :meth:`describe_model`); None: always with :meth:`trainer`."""
        self.start_theme = theme
        """The theme to open with (``theme`` in config.toml), or None for Textual's."""
        self.config_path = config_path
        """The config.toml a theme picked in the app is saved to; None saves nothing."""
        self.sweep_id = sweep
        """The sweep whose leaderboard to open on (``ktui attach --sweep``), or None."""
        self.catalog = catalog
        self.store = store
        """Where runs are recorded; None records nothing (some tests)."""
        self.attach_run_id = attach
        """The recorded run to open on (``ktui attach``), or None."""
        self.user_presets_dir = user_presets_dir
        self.clock = clock
        self._trainer_factory = trainer_factory
        self._trainer: Trainer | None = None
        self._trainer_lock = threading.Lock()
        self._forms: dict[str, FormScreen] = {}
        """The forms closed before, by preset, to open again at once (the newest last)."""

    def trainer(self) -> Trainer:
        """The trainer, created on first use (call from a worker thread: it may import TF)."""
        with self._trainer_lock:
            if self._trainer is None:
                self._trainer = self._trainer_factory()
                # TensorFlow's import leaves a big heap that lives as long as the app;
                # frozen, the collector's full passes skip it (else 100+ ms UI stalls).
                gc.freeze()
            return self._trainer

    def describe_model(self, config: RunConfig, *, channel: str) -> ModelSummary:
        """Build ``config``'s model and summarise it; call from a worker thread.

        Until this process has loaded Keras the :attr:`previewer`'s process does it:
        loading TensorFlow in a thread here would hold the GIL, and the event loop,
        for seconds. Once a run here has loaded Keras a build costs ~40 ms of CPU here
        (measured, with the heap frozen by :meth:`trainer`), so it is done here and the
        preview process, which holds ~700 MB, is closed.
        Raises :class:`KtuiError`, or :class:`~ktui.core.preview.PreviewSuperseded`
        when a newer request of the same ``channel`` replaced this one.
        """
        previewer = self.previewer
        if previewer is not None:
            if self._trainer is None and backends.loaded() is None:
                try:
                    return previewer.describe(config, channel=channel)
                except PreviewClosed:
                    if self._trainer is None and backends.loaded() is None:
                        raise  # the app is closing
                    # closed by the switch to in-process below, meanwhile: build it here
            else:
                self.previewer = None
                previewer.close()
        return self.trainer().describe(config)

    def on_unmount(self) -> None:
        # The preview process would end at its stdin's end anyway; this is at once.
        if self.previewer is not None:
            self.previewer.close()

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """Textual's commands plus every key of the current screen and of the app, shown
        in the footer or not, each under its description with its keys as help."""
        yield from super().get_system_commands(screen)
        for title, (node, binding, keys) in key_commands(self, screen).items():
            _, name, parameters = parse_action(binding.action)
            target = self if binding.action.startswith("app.") else node
            greyed = not target.check_action(name, parameters)
            help_text = f"key: {', '.join(keys)}" + (" · not available now" if greyed else "")

            def run(action: str = binding.action, on: DOMNode = node, what: str = title) -> None:
                self.call_later(self._run_key_command, action, on, what)

            yield SystemCommand(title, help_text, run)

    async def _run_key_command(self, action: str, node: DOMNode, title: str) -> None:
        """Run a key's action from the palette; one that is greyed out now says so."""
        if not await self.run_action(action, node):
            self.notify(f"{title}: not available now.", severity="warning")

    def on_mount(self) -> None:
        # Start-up objects live as long as the app: keep them out of the garbage
        # collector's full passes, which otherwise cost tens of ms once the heap grows.
        gc.freeze()
        self._apply_start_theme()
        if not self.is_headless:
            # A dropped SSH session: stop our own runs cleanly instead of dying mid-epoch.
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.hang_up)
        self.push_screen(PresetScreen())
        if self.attach_run_id is not None and self.store is not None:
            self.push_screen(TrainingScreen(None, attach=self.attach_run_id))
        if self.sweep_id is not None and self.store is not None:
            from ktui.screens.leaderboard import LeaderboardScreen

            self.push_screen(LeaderboardScreen(self.store, self.sweep_id, self.catalog))

    def on_leaderboard_screen_open_run(self, message: LeaderboardScreen.OpenRun) -> None:
        """A trial chosen on a leaderboard: its live training screen, or its detail."""
        if message.live:
            self.push_screen(TrainingScreen(None, attach=message.run_id))
        else:
            self.push_screen(RunDetailScreen(message.run_id))

    def _apply_start_theme(self) -> None:
        """Open with the saved theme, then save each theme the person picks."""
        if self.start_theme is not None:
            if self.start_theme in self.available_themes:
                self.theme = self.start_theme
            else:
                self.notify(
                    f"The theme {self.start_theme!r} in config.toml is not a Textual theme; "
                    "pick one with ctrl+p, then Theme.",
                    severity="warning",
                    timeout=10,
                )
        # Subscribed after the start theme is set: opening with it is not a choice to save.
        self.theme_changed_signal.subscribe(self, self._save_theme)

    def _save_theme(self, theme: Theme) -> None:
        if self.config_path is None:
            return
        from ktui.core.config import save_setting

        try:
            save_setting("theme", theme.name, self.config_path)
        except KtuiError as exc:
            self.notify(f"The theme was not saved: {exc}", severity="warning", timeout=10)

    def hang_up(self) -> None:
        """The terminal hung up: stop this ktui's runs after their batch, record them
        ``interrupted`` with their finished epochs, and exit (attached runs go on)."""
        screens = [s for s in self.screen_stack if isinstance(s, TrainingScreen)]
        for screen in screens:
            screen.hang_up()

        async def exit_when_stopped() -> None:
            for screen in screens:
                if not screen.attached:
                    await screen.stop_and_wait()
            self.exit(129)

        self.run_worker(exit_when_stopped(), group="hang-up")

    # --------------------------------------------------------------- navigator
    # The one place that moves between screens: screens post the requests of
    # ktui.navigation and never import each other (an import-linter contract).
    def run_going(self) -> str | None:
        """A description of the run this ktui is training ("run 3 of mnist_mlp"), or
        None; runs followed from another process (attached) do not count."""
        for screen in self.screen_stack:
            if isinstance(screen, TrainingScreen) and screen.running and not screen.attached:
                which = f"run {screen.run_id}" if screen.run_id is not None else "a run"
                return f"{which} of {screen.preset_name}"
        return None

    def _open(self, request: Navigate, screen: Screen[Any]) -> None:
        if request.replace and len(self.screen_stack) > 1:
            self.switch_screen(screen)
        else:
            self.push_screen(screen)

    @on(OpenRuns)
    def _open_runs(self, request: OpenRuns) -> None:
        self._open(request, RunsScreen())

    @on(OpenForm)
    def _open_form(self, request: OpenForm) -> None:
        stack = self.screen_stack
        if request.reuse_below and len(stack) > 1 and isinstance(stack[-2], FormScreen):
            self.pop_screen()  # the form the run came from, its values as they were
            return
        # A form closed before is kept (installed: Textual does not remove it when it is
        # popped) and opened again as new: building one is most of its opening time.
        name = f"form:{request.preset.name}"
        form = self._forms.pop(name, None)
        if form is not None and form in stack:
            # In use below (a rerun from its run): a new form, removed when closed.
            self._forms[name] = form
            self._open(request, FormScreen(request.preset, request.values, request.data))
            return
        if form is not None and (form.preset is not request.preset or not form.reusable):
            self._forget_form(form)  # the preset was loaded again, or it was a sweep's
            form = None
        if form is not None:
            form.reopen(request.values, request.data)
        else:
            form = FormScreen(request.preset, request.values, request.data)
            self.install_screen(form, name)
        self._forms[name] = form  # the newest last
        for old in list(self._forms.values())[:-KEPT_FORMS]:
            if old not in stack:
                del self._forms[next(k for k, v in self._forms.items() if v is old)]
                self._forget_form(old)
        self._open(request, form)

    def _forget_form(self, form: FormScreen) -> None:
        self.uninstall_screen(form)
        if form.is_running:
            form.remove()  # in the background: nothing waits for it

    @on(OpenTraining)
    def _open_training(self, request: OpenTraining) -> None:
        self._open(request, TrainingScreen(request.config, attach=request.attach))

    @on(OpenRunDetail)
    def _open_run_detail(self, request: OpenRunDetail) -> None:
        self._open(request, RunDetailScreen(request.run_id))

    @on(OpenSweeps)
    def _open_sweeps(self, request: OpenSweeps) -> None:
        self._open(request, SweepsScreen())

    @on(OpenSweep)
    def _open_sweep(self, request: OpenSweep) -> None:
        if self.store is None:
            self.notify("Sweeps need the run store, which is not open.", severity="error")
            return
        from ktui.screens.leaderboard import LeaderboardScreen

        self._open(request, LeaderboardScreen(self.store, request.sweep_id, self.catalog))

    @on(OpenCompare)
    def _open_compare(self, request: OpenCompare) -> None:
        self._open(request, CompareScreen(request.run_ids))

    @on(OpenSweepInsight)
    def _open_sweep_insight(self, request: OpenSweepInsight) -> None:
        if self.store is None:
            return
        from ktui.screens.sweep_insight import SweepInsightScreen

        self._open(request, SweepInsightScreen(self.store, request.sweep_id))

    @on(OpenModel)
    def _open_model(self, request: OpenModel) -> None:
        self._open(request, ModelScreen(request.summary, config=request.config))

    @on(OpenDataPreview)
    def _open_data_preview(self, request: OpenDataPreview) -> None:
        self._open(request, DataPreviewScreen(request.config))

    @on(OpenConfusion)
    def _open_confusion(self, request: OpenConfusion) -> None:
        self._open(request, ConfusionScreen.of(request.source))

    @on(OpenMistakes)
    def _open_mistakes(self, request: OpenMistakes) -> None:
        self._open(request, MistakesScreen.of(request.source))

    async def action_quit(self) -> None:
        """Quit; a run that is going is stopped cleanly first (after asking)."""
        # Attached runs belong to another process: they carry on after ktui closes.
        running = [
            s
            for s in self.screen_stack
            if isinstance(s, TrainingScreen) and s.running and not s.attached
        ]
        if not running:
            self.exit(0)
            return

        async def stop_and_exit(confirmed: bool | None) -> None:
            if not confirmed:
                return
            for screen in running:
                await screen.stop_and_wait()
            self.exit(0)

        await self.push_screen(
            ConfirmDialog(
                "A run is going. Stop it after the current batch and quit?",
                confirm="Stop and quit",
            ),
            stop_and_exit,
        )


def key_commands(
    app: App[Any], screen: Screen[Any]
) -> dict[str, tuple[DOMNode, Binding, list[str]]]:
    """The keys of ``screen`` and then of ``app``, by description: ``{title: (node, binding,
    keys)}``, every binding ktui declares, shown in the footer or not.

    Left out: bindings with no description (a key's fallback, such as the training
    screen's "c,w" while the confusion matrix is not there yet) and actions whose
    ``check_action`` hides them (False); greyed-out ones (None) stay, so people can
    find them. Keys with the same description share one entry.
    """
    found: dict[str, tuple[DOMNode, Binding, list[str]]] = {}
    for node in (screen, app):
        for binding in declared_bindings(node):
            if not binding.description:
                continue
            namespace, name, parameters = parse_action(binding.action)
            target = app if namespace == "app" else node
            if target.check_action(name, parameters) is False:
                continue
            key = app.get_key_display(binding)
            entry = found.setdefault(binding.description, (node, binding, []))
            if key not in entry[2]:
                entry[2].append(key)
    return found


def declared_bindings(node: DOMNode) -> list[Binding]:
    """The bindings declared by ``node``'s own classes (not Textual's), one per key,
    base classes first."""
    bindings: list[Binding] = []
    for cls in reversed(type(node).__mro__):
        declared = cls.__dict__.get("BINDINGS")
        if declared and not cls.__module__.startswith("textual."):
            bindings.extend(Binding.make_bindings(declared))
    return bindings


def create_app(
    catalog: PresetCatalog,
    *,
    trainer_factory: TrainerFactory = keras_trainer,
    user_presets_dir: Path | None = None,
    clock: Clock = time.monotonic,
    store: RunStore | None = None,
    attach: int | None = None,
    sweep: int | None = None,
    theme: str | None = None,
    config_path: Path | None = None,
    previewer: Previewer | None = None,
) -> KtuiApp:
    """Build the app; the CLI and the tests share this. ``theme`` is the theme to open
    with; a theme picked in the app is saved to ``config_path`` (config.toml).

    With the real trainer, model previews are built in a process of their own
    (``previewer`` defaults to a :class:`~ktui.core.preview.ProcessPreviewer` logging
    to ``preview.log`` in ktui's log folder); a fake trainer describes in-process."""
    if previewer is None and trainer_factory is keras_trainer:
        from ktui.core.paths import logs_dir

        previewer = ProcessPreviewer(log_path=logs_dir() / "preview.log")
    return KtuiApp(
        catalog,
        trainer_factory,
        user_presets_dir=user_presets_dir,
        clock=clock,
        store=store,
        attach=attach,
        sweep=sweep,
        theme=theme,
        config_path=config_path,
        previewer=previewer,
    )
