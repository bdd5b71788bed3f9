"""QA triage (SPEC §8, seed §6.3): the qa_failures list, filtered, sorted and paged on the server so 50,000 open
failures cost one page; multi-select; resolve / false positive / reopen with a note; CSV export of the view.

State lives here: the query (filters and sort), the page number, the selection (failure ids, kept across pages,
cleared when the filters change the set of rows). A page loads in the screen's one exclusive thread worker and
arrives as FailuresLoaded (``screens.loading``); a triage write reads the page again in the same worker call and
arrives as FailuresTriaged, superseding any load in flight, so the operator sees the write's result at once: the note
dialog (``SubmitDialog``) stays open while the write and the read run and closes over the new page."""

from __future__ import annotations

import math
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Input, Static

from praf_engine.service import FailureFilters, FailurePage, PipelineError, redact
from praf_tui.messages import ActionFailed, FailuresExported, FailuresLoaded, FailuresTriaged, LoadFailed
from praf_tui.screens.loading import LoadingScreen
from praf_tui.widgets.dialogs import PromptDialog, SubmitDialog
from praf_tui.widgets.failure_table import FailureTable, detail_text, fixed_width, theme_colours
from praf_tui.widgets.filters import SORTS, STATES, FilterBar, SymbolSearch, TriageQuery, cycle
from praf_tui.widgets.header import PrafHeader
from praf_tui.widgets.keybar import KeyBar
from praf_tui.widgets.recheck import Recheck

ACTIONS = {"resolved": "Resolve", "false_positive": "Mark false positive", "reopen": "Reopen"}


class TriageScreen(LoadingScreen):
    PAGE_SIZE = 100
    AUTO_FOCUS = "FailureTable"
    BINDINGS = [
        Binding("r", "triage('resolved')", "Resolve", tooltip="Resolve the selection (or the cursor row), with an optional note",
                id="triage.resolve"),
        Binding("f", "triage('false_positive')", "False pos.",
                tooltip="Mark the selection (or the cursor row) as a false positive, with an optional note",
                id="triage.false_positive"),
        Binding("o", "triage('reopen')", "Reopen", tooltip="Reopen the selection (or the cursor row), with an optional note",
                id="triage.reopen"),
        Binding("R", "recheck", "Refetch", key_display="R", tooltip="Refetch the symbols of the selection (or the cursor row), "
                "re-run QA on them, close what no longer fails (asks: incremental or full)", id="triage.recheck"),
        Binding("space", "toggle_select", "Select", tooltip="Select or unselect the cursor row, then move down",
                id="triage.select"),
        Binding("ctrl+a", "select_page", "Select page", tooltip="Select every row of this page (again: unselect them)",
                id="triage.select_page"),
        Binding("asterisk", "select_page", "Select page", show=False, key_display="*",
                tooltip="Select every row of this page (again: unselect them)", id="triage.select_page_star"),
        Binding("slash", "search", "Search", key_display="/", tooltip="Type a symbol search; Enter applies, Esc returns",
                id="triage.search"),
        Binding("L", "open_log", "Log of run", key_display="L", show=False, tooltip="The log of the QA run that found the failure "
                "under the cursor", id="triage.log"),
        Binding("e", "export", "Export", tooltip="Write every row of this view (all pages) to a CSV file", id="triage.export"),
        Binding("c", "cycle('check')", "Check", show=False, tooltip="Filter by the next QA check (then: any check)",
                id="triage.check"),
        Binding("v", "cycle('severity')", "Severity", show=False, tooltip="Filter by the next severity (then: any)",
                id="triage.severity"),
        Binding("x", "cycle('exchange')", "Exchange", show=False, tooltip="Filter by the next exchange (then: any)",
                id="triage.exchange"),
        Binding("u", "cycle('state')", "State", show=False, tooltip="Show unresolved, resolved, or all failures",
                id="triage.state"),
        Binding("s", "cycle_sort", "Sort", show=False, tooltip="Sort by the next key: date, symbol, check, severity",
                id="triage.sort"),
        Binding("S", "toggle_direction", "Sort direction", show=False, tooltip="Toggle ascending / descending",
                id="triage.sort_direction"),
        Binding("escape", "clear_filters", "Clear filters", show=False, tooltip="Back to every unresolved failure",
                id="triage.clear_filters"),
        Binding("n", "next_page", "Next page", show=False, tooltip="Load the next page of failures from the database",
                id="triage.next_page"),
        Binding("p", "previous_page", "Previous page", show=False,
                tooltip="Load the previous page of failures from the database", id="triage.previous_page"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.query_state = TriageQuery()
        self.page_no = 0
        self.total = 0
        self.selected: set[int] = set()
        self.choices: FailureFilters | None = None
        self.loads = 0  # pages shown so far
        self._cursor = 0
        self._width = 0
        self._page: FailurePage | None = None
        self._own_version = -1
        self._view: tuple[TriageQuery, int] | None = None  # the (query, page) the table shows
        self._note: SubmitDialog | None = None  # the note dialog of a triage action, open until its write answers

    def compose(self) -> ComposeResult:
        yield PrafHeader(show_clock=False)
        yield FilterBar(id="filters")
        yield FailureTable(id="failures")
        with VerticalScroll(id="detail-pane"):
            yield Static(id="detail")
        yield Static("loading…", id="triage-status")
        yield KeyBar()

    def on_mount(self) -> None:
        self.sub_title = "QA triage"
        if check := getattr(self.app, "start_check", None):  # `praf-tui --check price_jump` (an alert's command)
            self.query_state = replace(self.query_state, check=check)
            self.app.start_check = None  # type: ignore[attr-defined]
        self.watch(self.app, "data_version", self._data_changed, init=False)
        self.watch(self.app, "as_of", self.reload, init=False)
        self.watch(self.app, "theme", self._render_page, init=False)
        self.reload()

    @property
    def table(self) -> FailureTable:
        return self.query_one(FailureTable)

    # Loading ---------------------------------------------------------------------------------------
    def load(self) -> None:
        self._load(self.query_state, self.page_no, self.choices is None)

    def _data_changed(self, version: int) -> None:
        if version != self._own_version:  # not the bump of our own write, whose page is already shown
            self.reload()

    @work(thread=True, exclusive=True, group="triage-load")
    def _load(self, query: TriageQuery, page_no: int, need_choices: bool) -> None:
        service = self.praf.service
        try:
            choices = service.failure_filters() if need_choices else None
            page = service.failures(**query.filters(), offset=page_no * self.PAGE_SIZE, limit=self.PAGE_SIZE)
        except Exception as exc:  # noqa: BLE001 - a broken query must not take the dashboard down
            self.send_failure(exc)
        else:
            self.send(FailuresLoaded(query, page_no, page, choices))

    def on_load_failed(self, message: LoadFailed) -> None:
        self._error(message.code, message.msg, "Triage")
        self.query_one("#triage-status", Static).update(f"[{message.code}] could not load the failures")
        self.loaded()

    def on_failures_loaded(self, message: FailuresLoaded) -> None:
        if message.choices is not None:
            self.choices = message.choices
            bar = self.query_one(FilterBar)
            bar.set_choices(message.choices)
            bar.show(self.query_state)
        self._present(message.query, message.page_no, message.page)

    def _present(self, query: TriageQuery, page_no: int, page: FailurePage) -> None:
        """Show a page loaded for (query, page_no), unless the operator has moved on meanwhile (then: reload);
        the next poll follows."""
        if query != self.query_state or page_no != self.page_no:
            self.reload()
            return
        if not page.rows and page.total and page_no:  # the page emptied (rows triaged away): go to the last one
            self.page_no = (page.total - 1) // self.PAGE_SIZE
            self.reload()
            return
        self.total = page.total
        self.loads += 1
        if page == self._page:  # a live refresh that found nothing new: leave the table as it is
            self._show_status()
        else:
            self._page = page
            self._render_page()
        self.loaded()

    def _render_page(self, *_: Any) -> None:
        page = self._page
        if page is None:
            return
        table = self.table
        self._width = self.size.width
        rows = page.rows
        width = self._width - fixed_width(rows) - 2 * 7 - 2  # cell padding of 7 columns, vertical scrollbar
        view = (self.query_state, self.page_no)
        keep = view == self._view  # the same view reloaded: the cursor stays on its failure if still listed
        current = table.current
        ids = [r.id for r in rows]
        cursor = ids.index(current.id) if keep and current is not None and current.id in ids else self._cursor
        table.show(rows, self.selected, theme_colours(self.app), width, cursor, keep_scroll=keep)
        self._view = view
        self._show_detail()
        self._show_status()

    def on_resize(self) -> None:
        if self.size.width != self._width:
            self._render_page()

    def _show_status(self) -> None:
        pages = max(1, math.ceil(self.total / self.PAGE_SIZE))
        shown = len(self.table.rows_shown)
        first = self.page_no * self.PAGE_SIZE + 1 if shown else 0
        last = self.page_no * self.PAGE_SIZE + shown
        rows = f"rows {first:,}–{last:,} of {self.total:,}" if shown else f"rows 0 of {self.total:,}"
        text = f"{rows} · page {self.page_no + 1}/{pages} · {self.query_state.sort_text()}"
        if self.selected:
            text += f" · {len(self.selected):,} selected"
        self.query_one("#triage-status", Static).update(text)

    def _show_detail(self) -> None:
        self.query_one("#detail", Static).update(detail_text(self.table.current, theme_colours(self.app)))

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._cursor = event.cursor_row
        self._show_detail()

    # Query changes ---------------------------------------------------------------------------------
    def _apply(self, query: TriageQuery) -> None:
        if query == self.query_state:
            return
        if not query.same_rows(self.query_state):
            self.selected.clear()
        self.query_state = query
        self.page_no = 0
        self._cursor = 0
        self.query_one(FilterBar).show(query)
        self._show_status()
        self.reload()

    def on_filter_bar_picked(self, event: FilterBar.Picked) -> None:
        if event.field in ("check", "severity", "exchange") or (event.field == "state" and event.value in STATES):
            self._apply(replace(self.query_state, **{event.field: event.value}))

    @on(Input.Submitted, "SymbolSearch")
    def _search_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._apply(replace(self.query_state, symbol=event.value.strip()))
        self.table.focus()

    def on_symbol_search_left(self, event: SymbolSearch.Left) -> None:
        self.table.focus()

    def action_cycle(self, field: str) -> None:
        if field == "state":
            self._apply(replace(self.query_state, state=cycle(self.query_state.state, STATES, allow_none=False)))
            return
        if self.choices is None:
            return
        choices = {"check": [name for name, _ in self.choices.checks], "severity": list(self.choices.severities),
                   "exchange": list(self.choices.exchanges)}[field]
        self._apply(replace(self.query_state, **{field: cycle(getattr(self.query_state, field), choices)}))

    def action_cycle_sort(self) -> None:
        self._apply(replace(self.query_state, sort=cycle(self.query_state.sort, SORTS, allow_none=False)))

    def action_toggle_direction(self) -> None:
        self._apply(replace(self.query_state, descending=not self.query_state.descending))

    def action_clear_filters(self) -> None:
        self._apply(TriageQuery(sort=self.query_state.sort, descending=self.query_state.descending))

    def action_search(self) -> None:
        self.query_one(SymbolSearch).focus()

    # Paging ----------------------------------------------------------------------------------------
    def action_next_page(self) -> None:
        if (self.page_no + 1) * self.PAGE_SIZE >= self.total:
            self.app.bell()
            return
        self.page_no += 1
        self._cursor = 0
        self.reload()

    def action_previous_page(self) -> None:
        if self.page_no == 0:
            self.app.bell()
            return
        self.page_no -= 1
        self._cursor = 0
        self.reload()

    # Selection -------------------------------------------------------------------------------------
    def action_toggle_select(self) -> None:
        table = self.table
        row = table.current
        if row is None:
            return
        self.selected.symmetric_difference_update({row.id})
        table.mark([row.id], self.selected)
        table.action_cursor_down()
        self._show_status()

    def action_select_page(self) -> None:
        ids = {r.id for r in self.table.rows_shown}
        if ids <= self.selected:
            self.selected -= ids
        else:
            self.selected |= ids
        self.table.mark(ids, self.selected)
        self._show_status()

    # Actions ---------------------------------------------------------------------------------------
    def action_triage(self, action: str) -> None:
        current = self.table.current
        if self.selected:
            ids = sorted(self.selected)
            what = f"{len(ids):,} selected failure{'s' if len(ids) > 1 else ''}"
        elif current is not None:
            ids = [current.id]
            what = f"{current.symbol} · {current.check_name} · {current.date.isoformat()}"
        else:
            self.notify("no failure to triage here", title="Triage", severity="warning")
            return
        # the dialog stays open while the write and the page read run, and closes with the new page drawn under it
        self._note = SubmitDialog(f"{ACTIONS[action]} {what} — note (optional)", "note, e.g. checked with the exchange",
                                  partial(self._triage_answered, action, ids))
        self.app.push_screen(self._note)

    def action_recheck(self) -> None:
        rows = self.table.rows_of(self.selected) if self.selected else [r for r in (self.table.current,) if r is not None]
        Recheck(self.praf).ask([r.symbol for r in rows], max((r.date for r in rows), default=None))

    def _triage_answered(self, action: str, ids: list[int], note: str) -> None:
        """Enter in the note dialog (Esc dismisses it: nothing changes). The write is the open dialog's thread worker:
        its state messages go to the dialog on top, not to this screen under it, which they would wake in the middle
        of the write to repaint itself and the dialog over it (~10 ms at 120x40 with 100 rows, for a frame nobody
        needs: the dialog closes over the new page)."""
        write = partial(self._triage, action, tuple(ids), note or None, self.query_state, self.page_no)
        (self._note or self).run_worker(write, thread=True, group="triage-write", name="triage write")

    def _close_note(self) -> None:
        if self._note is not None:
            self._note.close()
            self._note = None

    def _triage(self, action: str, ids: tuple[int, ...], note: str | None, query: TriageQuery, page_no: int) -> None:
        """In a thread: the write, then the page read again in the same call (one hop: the result is on screen at
        once); both answers are posted to this screen."""
        service = self.praf.service
        try:
            changed = service.triage_failures(ids, action, note, self.praf.who)
        except PipelineError as exc:
            self.post_message(ActionFailed(ACTIONS[action], exc.error_code, redact(exc.msg), exc.detail))
            return
        try:
            page = service.failures(**query.filters(), offset=page_no * self.PAGE_SIZE, limit=self.PAGE_SIZE)
        except PipelineError:
            page = None  # the reload after app.changed() reports it
        self.post_message(FailuresTriaged(action, ids, changed, query, page_no, page))

    def on_failures_triaged(self, message: FailuresTriaged) -> None:
        self.selected.difference_update(message.ids)
        self.workers.cancel_group(self, "triage-load")  # a load in flight may have read the rows before the write
        if message.page is not None:
            self._present(message.query, message.page_no, message.page)  # reloads if the view moved on meanwhile
        else:
            self.reload()
        self._close_note()
        changed = message.changed
        self.notify(f"{ACTIONS[message.action]}: {changed:,} failure{'s' if changed != 1 else ''}", title="Triage")
        self._own_version = self.praf.data_version + 1
        self.praf.changed()  # every other screen reloads

    def on_action_failed(self, message: ActionFailed) -> None:
        if message.title != "Export":
            self._close_note()
        msg = message.msg
        gone = {int(i) for i in message.detail.get("missing", ())} & self.selected
        if gone:  # rows deleted meanwhile (retention, another operator): drop them so a retry can work
            self.selected -= gone
            msg += f" — {len(gone)} gone row{'s' if len(gone) > 1 else ''} left the selection; apply again"
        self._error(message.code, msg, message.title)
        if message.title != "Export":
            self.reload()

    def action_open_symbol(self) -> None:
        row = self.table.current
        if row is None:
            return
        if row.symbol == "*":
            self.notify("a universe-level failure has no symbol page", title="Triage")
            return
        self.praf.open_symbol(row.symbol)

    def action_open_log(self) -> None:
        row = self.table.current
        if row is None:
            return
        if not row.run_id:
            self.notify("this failure has no run id (found before runs were recorded)", title="Triage", severity="warning")
            return
        self.praf.open_logs(row.run_id)

    def action_export(self) -> None:
        default = Path(self.praf.service.settings.home) / f"qa_failures_{self.praf.effective_as_of().isoformat()}.csv"
        dialog = PromptDialog(f"Export this view ({self.total:,} rows, every page) to CSV", "path of the CSV file",
                              str(default), allow_empty=False)
        self.app.push_screen(dialog, partial(self._export_answered, self.query_state))

    def _export_answered(self, query: TriageQuery, path: str | None) -> None:
        if path:
            self._export(path, query)

    @work(thread=True, group="triage-export")
    def _export(self, path: str, query: TriageQuery) -> None:
        try:
            rows = self.praf.service.export_failures(path, **query.filters())
        except PipelineError as exc:
            self.post_message(ActionFailed("Export", exc.error_code, redact(exc.msg)))
        else:
            self.post_message(FailuresExported(path, rows))

    def on_failures_exported(self, message: FailuresExported) -> None:
        self.notify(f"exported {message.rows:,} rows to {message.path}", title="Export")

    def _error(self, code: str, msg: str, title: str) -> None:
        self.notify(f"[{code}] {redact(msg)}", title=title, severity="error")
