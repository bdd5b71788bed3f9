"""The triage list: one page of QA failures in a DataTable, a selection column, and the readable detail text of
one failure. Renders the service's FailureRow DTOs; runs no queries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.app import App
from textual.binding import Binding
from textual.color import Color
from textual.widgets import DataTable

from praf_engine.service import FailureRow

SELECTED_MARK = "●"
COLUMNS = (("sel", " "), ("date", "Date"), ("symbol", "Symbol"), ("check", "Check"), ("severity", "Severity"),
           ("state", "State"), ("details", "Details"))
# theme variable of each severity and state (seed §5.6 colours; 'neutral' is $primary)
SEVERITY_COLOUR = {"critical": "error", "warning": "warning", "info": "primary"}
STATE_COLOUR = {"open": "", "resolved": "success", "false pos.": "secondary", "auto": "success"}


def state_label(row: FailureRow) -> str:
    if not row.resolved:
        return "open"
    return {"false_positive": "false pos.", "auto": "auto"}.get(row.resolution or "", "resolved")


def _value(value: Any, sep: str = ", ") -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return sep.join(_value(v, sep) for v in value)
    if isinstance(value, Mapping):
        return sep.join(f"{k}={_value(v, sep)}" for k, v in value.items())
    return "—" if value is None else str(value)


def summarize(details: Mapping[str, Any], width: int) -> str:
    """One line for the table: ``key=value`` pairs, the hint last, cut to ``width`` characters."""
    keys = [k for k in details if k != "hint"] + (["hint"] if "hint" in details else [])
    text = " ".join(f"{k}={_value(details[k], ',')}" for k in keys)
    width = max(width, 4)
    return text if len(text) <= width else text[: width - 1] + "…"


def detail_lines(row: FailureRow) -> list[tuple[str, str]]:
    """(label, value) lines of one failure, for the detail pane: the details dict, then its triage state."""
    lines = [(str(k).replace("_", " "), _value(v)) for k, v in row.details.items()]
    if row.resolved:
        when = row.resolved_at.strftime("%Y-%m-%d %H:%M") if isinstance(row.resolved_at, dt.datetime) else "—"
        lines.append(("triage", f"{state_label(row)} by {row.resolved_by or '—'} at {when}"))
    elif row.resolved_by:
        lines.append(("triage", f"reopened by {row.resolved_by}"))
    if row.note:
        lines.append(("note", row.note))
    return lines


def detail_text(row: FailureRow | None, colours: Mapping[str, Any]) -> Text:
    if row is None:
        return Text("no failure under the cursor", style="dim")
    head = Text.assemble((f"#{row.id} ", "dim"), (row.symbol, "bold"), " · ", row.check_name, " · ",
                         (row.severity, colours.get(SEVERITY_COLOUR.get(row.severity, "primary"), "")), " · ",
                         row.date.isoformat(), " · ", (state_label(row), colours.get(STATE_COLOUR[state_label(row)], Style())))
    lines = [head]
    for label, value in detail_lines(row):
        lines.append(Text.assemble((f"{label}: ", "bold"), value))
    return Text("\n").join(lines)


def fixed_width(rows: Sequence[FailureRow]) -> int:
    """Width of every column but the details one, as the DataTable sizes them (widest of header and cells)."""
    return (1 + 10 + max([6, *(len(r.symbol) for r in rows)]) + max([5, *(len(r.check_name) for r in rows)])
            + max([8, *(len(r.severity) for r in rows)]) + max([5, *(len(state_label(r)) for r in rows)]))


def theme_colours(app: App[Any]) -> dict[str, Any]:
    """Rich styles of the theme variables the table uses (ANSI colours in the 16-colour theme)."""
    variables = app.theme_variables
    out: dict[str, Any] = {}
    for name in ("error", "warning", "success", "primary", "secondary"):
        try:
            out[name] = Style(color=Color.parse(variables[name]).rich_color)
        except (KeyError, ValueError):
            out[name] = Style()
    return out


class FailureTable(DataTable[Any]):
    """One page of failures. Enter opens the symbol, PageUp/PageDown move whole server pages (not the cursor)."""

    BINDINGS = [
        Binding("enter", "screen.open_symbol", "Open symbol", show=False, tooltip="Open the symbol screen of the row under the cursor",
                id="failures.open_symbol"),
        Binding("pagedown", "screen.next_page", "Next page", key_display="pgdn", show=False,
                tooltip="Load the next page of failures from the database", id="failures.next_page"),
        Binding("pageup", "screen.previous_page", "Previous page", key_display="pgup", show=False,
                tooltip="Load the previous page of failures from the database", id="failures.previous_page"),
    ]

    def __init__(self, **kw: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kw)
        self.rows_shown: tuple[FailureRow, ...] = ()
        self.seen: dict[int, FailureRow] = {}  # every row shown so far, by id: a selection spans pages
        self._shown: dict[int, tuple[FailureRow, bool]] = {}  # each row shown and whether it was marked, in table order
        self._look: tuple[dict[str, Any], int] | None = None  # the colours and details width the rows were drawn with

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    def show(self, rows: Sequence[FailureRow], selected: set[int], colours: Mapping[str, Any], details_width: int,
             cursor: int = 0, keep_scroll: bool = False) -> None:
        """Replace the rows with one page; put the cursor on row ``cursor`` (clamped). ``keep_scroll``: the same
        view reloaded, so the rows stay where the operator sees them; then, when the page only lost rows and gained
        some at its end (a resolve on an open-failures view), only those rows change: rebuilding 100 rows was most of
        a resolve's time (bench/tui.py), and only they are drawn (the cells of 100 rows were 1.4 ms of it)."""
        scroll_y = self.scroll_y
        look = (dict(colours), details_width)
        if keep_scroll and look == self._look and self._patch(rows, selected, colours, details_width):
            self.rows_shown = tuple(rows)
            self.seen.update((r.id, r) for r in rows)
            if rows:
                self.move_cursor(row=min(max(cursor, 0), len(rows) - 1), scroll=True)
            return
        self.rows_shown = tuple(rows)
        self.seen.update((r.id, r) for r in rows)
        self._look = look
        self.clear()
        for row in rows:
            self.add_row(*self._cells(row, selected, colours, details_width), key=str(row.id))
        self._shown = {r.id: (r, r.id in selected) for r in rows}
        if rows:
            row = min(max(cursor, 0), len(rows) - 1)
            self.move_cursor(row=row, scroll=not keep_scroll)
            if keep_scroll:  # once the new rows are measured; then the cursor is brought into view if it left it
                self.call_after_refresh(self._restore_scroll, scroll_y, row)

    @staticmethod
    def _cells(row: FailureRow, selected: set[int], colours: Mapping[str, Any], details_width: int) -> tuple[Any, ...]:
        state = state_label(row)
        return (SELECTED_MARK if row.id in selected else " ",
                row.date.isoformat(),
                Text(row.symbol),
                Text(row.check_name),
                Text(row.severity, style=colours.get(SEVERITY_COLOUR.get(row.severity, "primary"), "")),
                Text(state, style=colours.get(STATE_COLOUR[state], Style())),
                Text(summarize(row.details, details_width), style="dim" if row.resolved else ""))

    def _patch(self, rows: Sequence[FailureRow], selected: set[int], colours: Mapping[str, Any], details_width: int) -> bool:
        """Turn the shown page into ``rows`` in place when it is the shown rows minus some, in the same order, then new
        ones: remove the gone, redraw the changed (the row or its mark), append the new. False (nothing touched) for any
        other change."""
        shown = self._shown
        kept = [r.id for r in rows if r.id in shown]
        still = set(kept)
        if [i for i in shown if i in still] != kept or any(r.id in shown for r in rows[len(kept):]):
            return False
        new_ids = {r.id for r in rows}
        for failure_id in [i for i in shown if i not in new_ids]:
            self.remove_row(str(failure_id))
            del shown[failure_id]
        for row in rows:
            state = (row, row.id in selected)
            old = shown.get(row.id)
            if old is None:
                self.add_row(*self._cells(row, selected, colours, details_width), key=str(row.id))
            elif old != state:
                for (column, _), value in zip(COLUMNS, self._cells(row, selected, colours, details_width), strict=True):
                    self.update_cell(str(row.id), column, value)
            shown[row.id] = state
        return True

    def _restore_scroll(self, scroll_y: float, row: int) -> None:
        self.scroll_to(y=scroll_y, animate=False, immediate=True)
        self.move_cursor(row=row, scroll=True)

    def mark(self, ids: Iterable[int], selected: set[int]) -> None:
        """Refresh the selection column of the rows with ``ids``."""
        shown = {r.id for r in self.rows_shown}
        for failure_id in ids:
            if failure_id in shown:
                mark = SELECTED_MARK if failure_id in selected else " "
                self.update_cell(str(failure_id), "sel", mark)
                self._shown[failure_id] = (self._shown[failure_id][0], failure_id in selected)

    def rows_of(self, ids: Iterable[int]) -> list[FailureRow]:
        """The rows of ``ids`` as last shown (a selection made on other pages included)."""
        return [self.seen[i] for i in sorted(ids) if i in self.seen]

    @property
    def current(self) -> FailureRow | None:
        if not self.rows_shown or not 0 <= self.cursor_row < len(self.rows_shown):
            return None
        return self.rows_shown[self.cursor_row]
