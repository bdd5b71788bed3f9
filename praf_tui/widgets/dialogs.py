"""Small modal dialogs: ask for a symbol, a date, or an optional triage note. Enter accepts, Escape cancels."""

from __future__ import annotations

import datetime as dt

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class PromptDialog(ModalScreen[str | None]):
    """One line of input; dismisses with the text (stripped) or None on Escape."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    PromptDialog { align: center middle; }
    PromptDialog > Vertical { width: 60; max-width: 95%; height: auto; border: round $accent; padding: 0 1;
                              background: $surface; }
    PromptDialog Label { width: 100%; }
    PromptDialog #prompt-error { color: $error; }
    """

    def __init__(self, title: str, placeholder: str = "", value: str = "", *, allow_empty: bool = True) -> None:
        super().__init__()
        self.title_text = title
        self.placeholder = placeholder
        self.value = value
        self.allow_empty = allow_empty

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, id="prompt-title")
            yield Input(value=self.value, placeholder=self.placeholder, id="prompt-input")
            yield Label("Enter to accept · Esc to cancel", id="prompt-error")

    def validate(self, text: str) -> str | None:
        """An error message for ``text``, or None when it is acceptable."""
        if not text and not self.allow_empty:
            return "a value is needed"
        return None

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        error = self.validate(text)
        if error:
            self.query_one("#prompt-error", Label).update(error)
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)


class DatePrompt(PromptDialog):
    def __init__(self, title: str, value: dt.date | None) -> None:
        super().__init__(title, "YYYY-MM-DD (empty: today)", value.isoformat() if value else "")

    def validate(self, text: str) -> str | None:
        if not text:
            return None
        try:
            dt.date.fromisoformat(text)
        except ValueError:
            return f"not a date: {text!r} (use YYYY-MM-DD)"
        return None
