"""Refetch and recheck from the TUI (issue 15): the dialog that asks "incremental or full?" for a few symbols, and the
request it makes (``service.recheck_symbols``: one `recheck` job through the control plane — a live scheduler starts
it, else a detached process, so it outlives the session; its progress shows on the Scheduler screen and the Jobs
panel like any run). Used by triage (R on the selection), the symbol screen (R) and the palette (symbols typed)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Label

from praf_engine.service import PipelineError, redact
from praf_tui.messages import ActionFailed, JobRequested
from praf_tui.widgets.dialogs import PromptDialog

if TYPE_CHECKING:
    from praf_tui.app import PrafApp

SHOWN = 8  # symbols named in the question; the rest are counted


def question(symbols: Sequence[str], as_of: dt.date | None) -> str:
    """What the dialog asks, e.g. "Refetch and recheck 3 symbols (AAPL, MSFT, VOD.L) for 2025-06-05?"."""
    names = ", ".join(symbols[:SHOWN]) + (f", … (+{len(symbols) - SHOWN})" if len(symbols) > SHOWN else "")
    day = as_of.isoformat() if as_of else "QA's as-of date"
    many = f"{len(symbols)} symbols ({names})" if len(symbols) > 1 else names
    return (f"Refetch and recheck {many} for {day}? Failures that no longer hold close as fixed by refetch.\n"
            "i: incremental · f: full history · n/esc: cancel")


class RecheckDialog(ModalScreen[bool | None]):
    """Dismisses with False (incremental), True (full history) or None (cancelled). The focus starts on Cancel, so
    a stray Enter never asks for anything."""

    AUTO_FOCUS = "#recheck-no"
    BINDINGS = [
        Binding("i", "answer('incremental')", "Incremental", tooltip="Refetch the new bars only, then recheck",
                id="recheck.incremental"),
        Binding("f", "answer('full')", "Full", tooltip="Refetch the whole history, then recheck", id="recheck.full"),
        Binding("n,escape", "answer('')", "Cancel", key_display="n/esc", tooltip="Nothing is requested", id="recheck.cancel"),
    ]

    def __init__(self, symbols: Sequence[str], as_of: dt.date | None) -> None:
        super().__init__()
        self.symbols, self.as_of = list(symbols), as_of
        self.question = question(self.symbols, as_of)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Content(self.question), id="recheck-question")
            with Horizontal(id="recheck-buttons"):
                yield Button("Incremental (i)", variant="primary", id="recheck-incremental")
                yield Button("Full (f)", variant="warning", id="recheck-full")
                yield Button("Cancel (n)", id="recheck-no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_answer({"recheck-incremental": "incremental", "recheck-full": "full"}.get(event.button.id or "", ""))

    def action_answer(self, how: str) -> None:
        self.dismiss({"incremental": False, "full": True}.get(how))


class Recheck:
    """The app's side: ask, then request from a thread worker (a JobRequested or ActionFailed message follows)."""

    def __init__(self, app: PrafApp) -> None:
        self.app = app

    def ask(self, symbols: Sequence[str], as_of: dt.date | None) -> None:
        """The dialog for ``symbols`` (the universe's '*' left out); then the request."""
        wanted = [s for s in dict.fromkeys(symbols) if s and s != "*"]
        if not wanted:
            self.app.notify("no symbol to refetch here", title="Recheck", severity="warning")
            return
        self.app.push_screen(RecheckDialog(wanted, as_of), partial(self._answered, wanted, as_of))

    def ask_symbols(self) -> None:
        """The palette: type the symbols (comma or space separated), then the dialog."""
        def typed(text: str | None) -> None:
            if text:
                self.ask([s for s in text.replace(",", " ").split() if s], None)

        self.app.push_screen(PromptDialog("Refetch and recheck symbols", "e.g. AAPL, VOD.L, SAP.DE", allow_empty=False), typed)

    def _answered(self, symbols: list[str], as_of: dt.date | None, full: bool | None) -> None:
        if full is not None:
            self.app.run_worker(partial(self._request, symbols, full, as_of), thread=True, group="jobs",
                                name="recheck request")

    def _request(self, symbols: list[str], full: bool, as_of: dt.date | None) -> None:
        try:
            info = self.app.service.recheck_symbols(symbols, full, as_of)
        except PipelineError as exc:
            self.app.post_message(ActionFailed("Recheck", exc.error_code, redact(exc.msg), exc.detail))
        else:
            self.app.post_message(JobRequested(info))
