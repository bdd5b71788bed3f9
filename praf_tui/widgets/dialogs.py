"""Small modal dialogs: ask for a symbol, a date or an optional triage note (Enter accepts, Escape cancels), and the
yes/no confirmation (y or the Yes button confirms; n, Escape or the No button declines). Styles: app.tcss.

A ``SubmitDialog`` stays open while its answer is carried out and is closed by the screen that did the work, once the
result is in hand: the dialog and the stale view leave in one repaint (a triage note: Enter → the write and the page
read run at once, with the event loop idle, instead of behind the teardown and repaint a closing dialog causes)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label


class PromptDialog(ModalScreen[str | None]):
    """One line of input; dismisses with the text (stripped) or None on Escape."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]

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
        self.accept(text)

    def accept(self, text: str) -> None:
        """An acceptable answer: dismiss with it."""
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)


class SubmitDialog(PromptDialog):
    """A prompt that stays open while its answer is carried out: Enter hands the text to ``submit`` (which starts the
    work, e.g. a thread worker) and the dialog takes no more answers (Escape included); ``close()`` dismisses it once
    the work has answered. If the work takes longer than ``SAY_AFTER_S``, the dialog says that it is working."""

    SAY_AFTER_S = 0.15

    def __init__(self, title: str, placeholder: str, submit: Callable[[str], object], *, working: str = "saving…",
                 allow_empty: bool = True) -> None:
        super().__init__(title, placeholder, allow_empty=allow_empty)
        self._submit = submit
        self._working_text = working
        self.working = False
        self._close_when_shown = False

    def accept(self, text: str) -> None:
        if self.working:  # a second Enter while the first answer is carried out
            return
        self.working = True
        self.set_timer(self.SAY_AFTER_S, self._say_working)
        self._submit(text)

    def _say_working(self) -> None:
        if self.is_attached:
            self.query_one("#prompt-error", Label).update(self._working_text)

    def action_cancel(self) -> None:
        if not self.working:
            self.dismiss(None)

    def close(self) -> None:
        """The work answered: dismiss (now if this dialog is on top, else when it is shown again)."""
        if not self.is_attached:
            return
        if self.app.screen is self:
            self.dismiss(None)
        else:  # another mode's screen, or a screen pushed over it, is showing
            self._close_when_shown = True

    def on_screen_resume(self) -> None:
        if self._close_when_shown:
            self._close_when_shown = False
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


class ConfirmDialog(ModalScreen[bool]):
    """A yes/no question; dismisses with True (y, Yes) or False (n, Escape, No). The focus starts on No, so a
    stray Enter never confirms."""

    AUTO_FOCUS = "#confirm-no"
    BINDINGS = [
        Binding("y", "answer(True)", "Yes", tooltip="Confirm", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", key_display="n/esc", tooltip="Decline: nothing happens", id="confirm.no"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Content(self.question), id="confirm-question")
            with Horizontal(id="confirm-buttons"):
                yield Button("Yes (y)", variant="warning", id="confirm-yes")
                yield Button("No (n)", id="confirm-no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm-yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
