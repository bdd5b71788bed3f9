"""QA triage (SPEC §8, seed §6.3): the qa_failures list, filtered, sorted and paged on the server so 50,000 open
failures cost one page; multi-select; resolve / false positive / reopen with a note; CSV export of the view.

State lives here: the query (filters and sort), the page number, the selection (failure ids, kept across pages,
cleared when the filters change the set of rows). Every service call runs on the screen's own database thread (a
one-thread executor awaited by async workers: the connection stays open, calls run in order, input never
waits); one page load is in flight at a time and a reload asked meanwhile runs when it returns."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from praf_engine.service import FailureFilters, FailurePage, PipelineError, redact
from praf_tui.widgets.dialogs import PromptDialog
from praf_tui.widgets.failure_table import FailureTable, detail_text, fixed_width, theme_colours
from praf_tui.widgets.filters import SORTS, STATES, FilterBar, SymbolSearch, TriageQuery, cycle

T = TypeVar("T")
ACTIONS = {"resolved": "Resolve", "false_positive": "Mark false positive", "reopen": "Reopen"}


class TriageScreen(Screen[None]):
    PAGE_SIZE = 100
    AUTO_FOCUS = "FailureTable"
    DEFAULT_CSS = """
    TriageScreen FilterBar { height: 1; }
    TriageScreen FailureTable { height: 1fr; }
    TriageScreen #detail-pane { height: 8; border-top: solid $primary; padding: 0 1; }
    TriageScreen #detail-pane:focus { border-top: solid $accent; }
    TriageScreen #triage-status { height: 1; padding: 0 1; color: $text-muted; }
    """
    BINDINGS = [
        Binding("r", "triage('resolved')", "Resolve", tooltip="Resolve the selection (or the cursor row), with an optional note"),
        Binding("f", "triage('false_positive')", "False pos.",
                tooltip="Mark the selection (or the cursor row) as a false positive, with an optional note"),
        Binding("o", "triage('reopen')", "Reopen", tooltip="Reopen the selection (or the cursor row), with an optional note"),
        Binding("space", "toggle_select", "Select", tooltip="Select or unselect the cursor row, then move down"),
        Binding("ctrl+a", "select_page", "Select page", tooltip="Select every row of this page (again: unselect them)"),
        Binding("asterisk", "select_page", "Select page", show=False, key_display="*",
                tooltip="Select every row of this page (again: unselect them)"),
        Binding("slash", "search", "Search", key_display="/", tooltip="Type a symbol search; Enter applies, Esc returns"),
        Binding("e", "export", "Export", tooltip="Write every row of this view (all pages) to a CSV file"),
        Binding("c", "cycle('check')", "Check", show=False, tooltip="Filter by the next QA check (then: any check)"),
        Binding("v", "cycle('severity')", "Severity", show=False, tooltip="Filter by the next severity (then: any)"),
        Binding("x", "cycle('exchange')", "Exchange", show=False, tooltip="Filter by the next exchange (then: any)"),
        Binding("u", "cycle('state')", "State", show=False, tooltip="Show unresolved, resolved, or all failures"),
        Binding("s", "cycle_sort", "Sort", show=False, tooltip="Sort by the next key: date, symbol, check, severity"),
        Binding("S", "toggle_direction", "Sort direction", show=False, tooltip="Toggle ascending / descending"),
        Binding("escape", "clear_filters", "Clear filters", show=False, tooltip="Back to every unresolved failure"),
        Binding("n", "next_page", "Next page", show=False, tooltip="Load the next page of failures from the database"),
        Binding("p", "previous_page", "Previous page", show=False,
                tooltip="Load the previous page of failures from the database"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.query_state = TriageQuery()
        self.page_no = 0
        self.total = 0
        self.selected: set[int] = set()
        self.choices: FailureFilters | None = None
        self.loads = 0  # pages shown so far
        self._loading = False
        self._pending = False
        self._cursor = 0
        self._width = 0
        self._page: FailurePage | None = None
        self._own_version = -1
        self._view: tuple[TriageQuery, int] | None = None  # the (query, page) the table shows
        self._db_thread: ThreadPoolExecutor | None = None

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield FilterBar(id="filters")
        yield FailureTable(id="failures")
        with VerticalScroll(id="detail-pane"):
            yield Static(id="detail")
        yield Static("loading…", id="triage-status")
        yield Footer()

    def on_mount(self) -> None:
        # one long-lived thread for this screen's service calls: its database connection stays open between
        # loads, and loads and writes run in order
        self._db_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="praf-triage-db")
        self.sub_title = "QA triage"
        self.watch(self.app, "data_version", self._data_changed, init=False)
        self.watch(self.app, "as_of", self._reload, init=False)
        self.watch(self.app, "theme", self._render_page, init=False)
        self._reload()

    def on_unmount(self) -> None:
        if self._db_thread is not None:
            self._db_thread.shutdown(wait=False, cancel_futures=True)

    @property
    def table(self) -> FailureTable:
        return self.query_one(FailureTable)

    # Loading ---------------------------------------------------------------------------------------
    def _reload(self, *_: Any) -> None:
        if self._loading:
            self._pending = True
            return
        self._loading = True
        self._load(self.query_state, self.page_no, self.choices is None)

    def _data_changed(self, version: int) -> None:
        if version != self._own_version:  # not the bump of our own write, whose page is already shown
            self._reload()

    async def _call(self, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        """Run a service call on this screen's database thread (never on the UI thread)."""
        return await asyncio.get_running_loop().run_in_executor(self._db_thread, partial(fn, *args, **kw))

    @work(group="triage-load")
    async def _load(self, query: TriageQuery, page_no: int, need_choices: bool) -> None:
        service = self.app.service
        try:
            choices = await self._call(service.failure_filters) if need_choices else None
            page = await self._call(service.failures, **query.filters(), offset=page_no * self.PAGE_SIZE,
                                    limit=self.PAGE_SIZE)
        except PipelineError as exc:
            self._load_failed(exc.error_code, exc.msg)
        except Exception as exc:  # noqa: BLE001 - a broken query must not take the dashboard down
            self._load_failed(type(exc).__name__, str(exc))
        else:
            self._loaded(query, page_no, page, choices)

    def _load_failed(self, code: str, msg: str) -> None:
        self._loading = False
        self._error(code, msg, "Triage")
        self.query_one("#triage-status", Static).update(f"[{code}] could not load the failures")
        if self._pending:
            self._pending = False
            self._reload()

    def _loaded(self, query: TriageQuery, page_no: int, page: FailurePage, choices: FailureFilters | None) -> None:
        self._loading = False
        pending, self._pending = self._pending, False
        if choices is not None:
            self.choices = choices
            bar = self.query_one(FilterBar)
            bar.set_choices(choices)
            bar.show(self.query_state)
        self._present(query, page_no, page)
        if pending and not self._loading:
            self._reload()

    def _present(self, query: TriageQuery, page_no: int, page: FailurePage) -> None:
        """Show a page loaded for (query, page_no), unless the operator has moved on meanwhile (then: reload)."""
        if query != self.query_state or page_no != self.page_no:
            self._reload()
            return
        if not page.rows and page.total and page_no:  # the page emptied (rows triaged away): go to the last one
            self.page_no = (page.total - 1) // self.PAGE_SIZE
            self._reload()
            return
        self.total = page.total
        self.loads += 1
        if page == self._page:  # a live refresh that found nothing new: leave the table as it is
            self._show_status()
            return
        self._page = page
        self._render_page()

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
        self._reload()

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
        self._reload()

    def action_previous_page(self) -> None:
        if self.page_no == 0:
            self.app.bell()
            return
        self.page_no -= 1
        self._cursor = 0
        self._reload()

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
        dialog = PromptDialog(f"{ACTIONS[action]} {what} — note (optional)", "note, e.g. checked with the exchange")
        self.app.push_screen(dialog, partial(self._triage_answered, action, ids))

    def _triage_answered(self, action: str, ids: list[int], note: str | None) -> None:
        if note is None:  # Esc: nothing changes
            return
        query, page_no, size = self.query_state, self.page_no, self.PAGE_SIZE
        service, who = self.app.service, self.app.who

        def write_then_page() -> tuple[int, FailurePage | None]:
            """The write, then the page reloaded in the same database-thread call (one connection, one hop)."""
            changed = service.triage_failures(ids, action, note or None, who)
            try:
                return changed, service.failures(**query.filters(), offset=page_no * size, limit=size)
            except PipelineError:
                return changed, None  # the reload after app.changed() reports it

        if self._db_thread is None:  # not mounted
            return
        # submitted now, not when a worker starts: the write runs while the UI redraws under the closed dialog
        self._triage(action, ids, query, page_no, self._db_thread.submit(write_then_page))

    @work(group="triage-write")
    async def _triage(self, action: str, ids: list[int], query: TriageQuery, page_no: int,
                      future: Future[tuple[int, FailurePage | None]]) -> None:
        try:
            changed, page = await asyncio.wrap_future(future)
        except PipelineError as exc:
            msg = exc.msg
            gone = {int(i) for i in exc.detail.get("missing", ())} & self.selected
            if gone:  # rows deleted meanwhile (retention, another operator): drop them so a retry can work
                self.selected -= gone
                msg += f" — {len(gone)} gone row{'s' if len(gone) > 1 else ''} left the selection; apply again"
            self._error(exc.error_code, msg, ACTIONS[action])
            self._reload()
            return
        self._triaged(action, ids, changed, query, page_no, page)

    def _triaged(self, action: str, ids: list[int], changed: int, query: TriageQuery, page_no: int,
                 page: FailurePage | None) -> None:
        self.selected.difference_update(ids)
        fresh = page is not None and not self._loading  # a load in flight may predate the write: let it reload
        if fresh:
            self._present(query, page_no, page)
        self.notify(f"{ACTIONS[action]}: {changed:,} failure{'s' if changed != 1 else ''}", title="Triage")
        self._own_version = self.app.data_version + 1 if fresh else -1
        self.app.changed()  # every other screen reloads

    def action_open_symbol(self) -> None:
        row = self.table.current
        if row is None:
            return
        if row.symbol == "*":
            self.notify("a universe-level failure has no symbol page", title="Triage")
            return
        self.app.open_symbol(row.symbol)

    def action_export(self) -> None:
        default = Path(self.app.service.settings.home) / f"qa_failures_{self.app.effective_as_of().isoformat()}.csv"
        dialog = PromptDialog(f"Export this view ({self.total:,} rows, every page) to CSV", "path of the CSV file",
                              str(default), allow_empty=False)
        self.app.push_screen(dialog, partial(self._export_answered, self.query_state))

    def _export_answered(self, query: TriageQuery, path: str | None) -> None:
        if path:
            self._export(path, query)

    @work(group="triage-export")
    async def _export(self, path: str, query: TriageQuery) -> None:
        try:
            rows = await self._call(self.app.service.export_failures, path, **query.filters())
        except PipelineError as exc:
            self._error(exc.error_code, exc.msg, "Export")
        else:
            self.notify(f"exported {rows:,} rows to {path}", title="Export")

    def _error(self, code: str, msg: str, title: str) -> None:
        self.notify(f"[{code}] {redact(msg)}", title=title, severity="error")
