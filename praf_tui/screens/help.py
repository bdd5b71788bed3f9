"""`?`: every key of the screen underneath and of the app, generated from the bindings (never written by hand)."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Label


def binding_rows(screen: Screen[Any]) -> list[tuple[str, str, str]]:
    """(key, action, explanation) for every described binding active on ``screen``, screen's own first."""
    rows, seen = [], set()
    for key, active in screen.active_bindings.items():
        binding = active.binding
        if not binding.description or (key, binding.action) in seen:
            continue
        seen.add((key, binding.action))
        shown = binding.key_display or screen.app.get_key_display(binding)
        rows.append((shown, binding.description, binding.tooltip or ""))
    return rows


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close", key_display="esc", id="help.close")]

    def __init__(self, under: Screen[Any]) -> None:
        super().__init__()
        self.under = under

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"[b]Keys[/b] — {type(self.under).__name__.removesuffix('Screen') or 'screen'} · "
                        "ctrl+p: every action by name · esc: close")
            table: DataTable[str] = DataTable(cursor_type="row", zebra_stripes=True, id="help-table")
            table.add_columns("Key", "Action", "What it does")
            table.add_rows(binding_rows(self.under))
            yield table

    def action_close(self) -> None:
        self.dismiss(None)
