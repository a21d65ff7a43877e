"""Small modal dialogs: confirm, ask for a number, ask for a name."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


class ConfirmDialog(ModalScreen[bool]):
    """Ask a yes/no question; dismisses with True for yes."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, *, confirm: str = "Yes", cancel: str = "No") -> None:
        super().__init__()
        self.question = question
        self.confirm_label = confirm
        self.cancel_label = cancel

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question, classes="dialog-question")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.confirm_label} (y)", variant="error", id="yes")
                yield Button(f"{self.cancel_label} (n)", variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class AskDialog(ModalScreen[str | None]):
    """Ask for one value; ``check`` returns an error message or None for a valid value."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        question: str,
        *,
        value: str = "",
        check: Callable[[str], str | None] | None = None,
        placeholder: str = "",
    ) -> None:
        super().__init__()
        self.question = question
        self.initial = value
        self.check = check or (lambda _text: None)
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question, classes="dialog-question")
            yield Input(self.initial, placeholder=self.placeholder, id="answer")
            yield Static("", classes="field-error", id="answer-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("OK (enter)", variant="primary", id="ok")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#answer", Input).focus()
        self._validate(self.initial)

    def _validate(self, text: str) -> bool:
        problem = self.check(text)
        self.query_one("#answer-error", Static).update(problem or "")
        self.query_one("#ok", Button).disabled = problem is not None
        return problem is None

    def on_input_changed(self, event: Input.Changed) -> None:
        self._validate(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if self._validate(event.value):
            self.dismiss(event.value.strip())

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            value = self.query_one("#answer", Input).value
            if self._validate(value):
                self.dismiss(value.strip())
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
