"""The triage filters: the query state (check, severity, exchange, resolved state, symbol text, sort) and the bar
of Select widgets and the symbol search Input that shows it. The screen owns the query; the bar only mirrors it
and reports what the operator picked."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Input, Select
from textual.widgets.select import InvalidSelectValueError

from praf_engine.service import FailureFilters

SORTS = ("date", "symbol", "check", "severity")
STATES = ("unresolved", "resolved", "all")


@dataclass(frozen=True)
class TriageQuery:
    """What the triage list shows; ``filters()`` are the keyword arguments of service.failures / export."""

    check: str | None = None
    severity: str | None = None
    exchange: str | None = None
    state: str = "unresolved"
    symbol: str = ""
    sort: str = "date"
    descending: bool = True

    def filters(self) -> dict[str, Any]:
        resolved = {"unresolved": False, "resolved": True}.get(self.state)
        return {"check": self.check, "severity": self.severity, "exchange": self.exchange, "resolved": resolved,
                "symbol": self.symbol or None, "sort": self.sort, "descending": self.descending}

    def same_rows(self, other: TriageQuery) -> bool:
        """True when ``other`` selects the same set of rows (only the order may differ)."""
        return replace(self, sort=other.sort, descending=other.descending) == other

    def sort_text(self) -> str:
        return f"sort {self.sort} {'↓' if self.descending else '↑'}"


def cycle(value: Any, choices: Sequence[Any], *, allow_none: bool = True) -> Any:
    """The choice after ``value`` (None, when allowed, comes first and follows the last)."""
    ring = ([None] if allow_none else []) + list(choices)
    if not ring:
        return None
    try:
        return ring[(ring.index(value) + 1) % len(ring)]
    except ValueError:
        return ring[0]


class SymbolSearch(Input):
    """Text search on the symbol: Enter applies it, Escape puts back the applied text and returns to the list."""

    BINDINGS = [Binding("escape", "leave", "Back to the list", tooltip="Forget the edit and return to the list", id="search.leave")]

    class Left(Message):
        """Escape was pressed: the screen refocuses the list."""

    applied = ""

    def action_leave(self) -> None:
        self.value = self.applied
        self.post_message(self.Left())


class FilterBar(Horizontal):
    """Check, severity, exchange and resolved-state selects plus the symbol search, on one line."""

    class Picked(Message):
        """The operator picked a value in one of the selects (not sent when the screen sets them)."""

        def __init__(self, field: str, value: Any) -> None:
            super().__init__()
            self.field = field
            self.value = value

    def compose(self) -> ComposeResult:
        yield Select[str]([], prompt="any check", compact=True, id="filter-check", tooltip="Filter by QA check (c)")
        yield Select[str]([], prompt="any severity", compact=True, id="filter-severity",
                          tooltip="Filter by severity (v)")
        yield Select[str]([], prompt="any exchange", compact=True, id="filter-exchange",
                          tooltip="Filter by exchange (x)")
        yield Select[str]([(s, s) for s in STATES], allow_blank=False, value="unresolved", compact=True,
                          id="filter-state", tooltip="Open failures, triaged ones, or all (u)")
        yield SymbolSearch(placeholder="/ symbol", compact=True, id="filter-symbol",
                           tooltip="Text search on the symbol: / to type, Enter to apply, Esc to go back")

    def set_choices(self, choices: FailureFilters) -> None:
        for field, values in (("check", [name for name, _ in choices.checks]), ("severity", list(choices.severities)),
                              ("exchange", list(choices.exchanges))):
            select = self.query_one(f"#filter-{field}", Select)
            with select.prevent(Select.Changed):
                select.set_options([(v, v) for v in values])

    def show(self, query: TriageQuery) -> None:
        """Mirror ``query`` in the widgets without reporting it back as a pick."""
        for field in ("check", "severity", "exchange", "state"):
            select = self.query_one(f"#filter-{field}", Select)
            value = getattr(query, field)
            wanted = Select.NULL if value is None else value
            if select.value != wanted:
                # suppress: the choices have not arrived yet
                with select.prevent(Select.Changed), suppress(InvalidSelectValueError):
                    select.value = wanted
        search = self.query_one(SymbolSearch)
        search.applied = query.symbol
        if search.value != query.symbol:
            with search.prevent(Input.Changed):
                search.value = query.symbol

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        field = (event.select.id or "").removeprefix("filter-")
        self.post_message(self.Picked(field, None if event.value is Select.NULL else event.value))
