"""One listing (`s` or Enter on a symbol anywhere): price chart, OHLCV bars, QA history with resolve/reopen,
corporate actions and the fetch state. Loads in one thread worker that posts SymbolLoaded (``screens.loading``);
reloads when the data version, the as-of date or the window changes."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import DataTable, Static, TabbedContent, TabPane

from praf_engine.service import FailureRow, PipelineError, SymbolDetail, redact
from praf_tui.messages import ActionFailed, FailuresTriaged, LoadFailed, SymbolLoaded
from praf_tui.screens.loading import LoadingScreen
from praf_tui.widgets.dialogs import PromptDialog
from praf_tui.widgets.header import PrafHeader
from praf_tui.widgets.keybar import KeyBar
from praf_tui.widgets.price_chart import PriceChart
from praf_tui.widgets.recheck import Recheck
from praf_tui.widgets.symbol_views import (
    ACTION_COLUMNS,
    BAR_COLUMNS,
    ERROR_COLUMNS,
    QA_COLUMNS,
    action_cells,
    bar_cells,
    error_cells,
    fetch_lines,
    info_line,
    price_decimals,
    qa_caption,
    qa_cells,
    qa_label,
)

WINDOWS: tuple[tuple[str, int | None], ...] = (("90 d", 90), ("1 y", 365), ("5 y", 1826), ("all", None))
DEFAULT_WINDOW = 1
TABS = ("tab-chart", "tab-bars", "tab-qa", "tab-actions", "tab-fetch")
MAX_BAR_ROWS = 2000  # the bars table shows the newest rows of the window; the chart shows all of them


class SymbolScreen(LoadingScreen):
    """The symbol page. ``symbol`` is what was asked for; ``detail`` the last load (None until then or on error)."""

    AUTO_FOCUS = "#symbol-tabs Tabs"
    BINDINGS = [
        Binding("escape,backspace", "back", "Back", key_display="esc", tooltip="Close the symbol page", id="symbol.back"),
        Binding("1", "tab(0)", "Chart", show=False, tooltip="Price chart of close and adjusted close", id="symbol.tab_chart"),
        Binding("2", "tab(1)", "Bars", show=False, tooltip="The OHLCV bars of the window, newest first", id="symbol.tab_bars"),
        Binding("3", "tab(2)", "QA history", show=False, tooltip="Every QA failure of the listing; r resolves, o reopens",
                id="symbol.tab_qa"),
        Binding("4", "tab(3)", "Actions", show=False, tooltip="Splits and dividends", id="symbol.tab_actions"),
        Binding("5", "tab(4)", "Fetch", show=False, tooltip="Fetch state, dead-letter queue and recent fetch errors",
                id="symbol.tab_fetch"),
        Binding("plus,equals_sign", "window(1)", "Wider", key_display="+",
                tooltip="Widen the window of the chart and bars: 90 d → 1 y → 5 y → all", id="symbol.wider"),
        Binding("minus", "window(-1)", "Narrower", key_display="-",
                tooltip="Narrow the window of the chart and bars: all → 5 y → 1 y → 90 d", id="symbol.narrower"),
        Binding("r", "resolve", "Resolve", tooltip="Resolve the selected QA failure, with an optional note", id="symbol.resolve"),
        Binding("o", "reopen", "Reopen", tooltip="Reopen the selected QA failure", id="symbol.reopen"),
        Binding("R", "recheck", "Refetch", key_display="R", tooltip="Refetch this listing, re-run QA on it for the date of the "
                "selected (else newest open) failure, close what no longer fails (asks: incremental or full)", id="symbol.recheck"),
    ]
    def __init__(self, symbol: str) -> None:
        super().__init__()
        self.symbol = symbol
        self.detail: SymbolDetail | None = None
        self.error: tuple[str, str] | None = None
        self.window = DEFAULT_WINDOW

    def compose(self) -> ComposeResult:
        yield PrafHeader(show_clock=False)
        yield Static("loading …", id="symbol-info")
        yield Static(id="symbol-error")
        with TabbedContent(id="symbol-tabs"):
            with TabPane("1 Chart", id="tab-chart"), Vertical():
                yield PriceChart(id="chart")
                yield Static(id="chart-empty")
                yield Static(id="chart-caption", classes="caption")
            with TabPane("2 Bars", id="tab-bars"), Vertical():
                yield DataTable(id="bars-table", cursor_type="row", zebra_stripes=True)
                yield Static(id="bars-caption", classes="caption")
            with TabPane("3 QA", id="tab-qa"), Vertical():
                yield DataTable(id="qa-table", cursor_type="row", zebra_stripes=True)
                yield Static(id="qa-caption", classes="caption")
            with TabPane("4 Actions", id="tab-actions"), Vertical():
                yield DataTable(id="actions-table", cursor_type="row", zebra_stripes=True)
                yield Static(id="actions-caption", classes="caption")
            with TabPane("5 Fetch", id="tab-fetch"), Vertical():
                yield Static(id="fetch-meta")
                yield Static("Recent fetch errors", id="errors-caption", classes="caption")
                yield DataTable(id="errors-table", cursor_type="row", zebra_stripes=True)
        yield KeyBar()

    def on_mount(self) -> None:
        self.sub_title = f"symbol {self.symbol}"
        for table_id, columns in (("#bars-table", BAR_COLUMNS), ("#qa-table", QA_COLUMNS),
                                  ("#actions-table", ACTION_COLUMNS), ("#errors-table", ERROR_COLUMNS)):
            self.query_one(table_id, DataTable).add_columns(*columns)
        self.watch(self.app, "data_version", self.reload, init=False)
        self.watch(self.app, "as_of", self.reload, init=False)
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._redraw())
        self.reload()

    # Loading -----------------------------------------------------------------------------------------
    def load(self) -> None:
        self._load(self.symbol, WINDOWS[self.window][1])

    @work(thread=True, exclusive=True, group="symbol-load")
    def _load(self, symbol: str, days: int | None) -> None:
        try:
            detail = self.praf.service.symbol_detail(symbol, days)
        except Exception as exc:  # noqa: BLE001 - a database or lake surprise is shown, never a crash
            self.send_failure(exc)
        else:
            self.send(SymbolLoaded(detail))

    def on_symbol_loaded(self, message: SymbolLoaded) -> None:
        self._show(message.detail)
        self.loaded()

    def on_load_failed(self, message: LoadFailed) -> None:
        self._show_error(message.code, message.msg)
        self.loaded()

    def _show_error(self, code: str, msg: str) -> None:
        self.detail, self.error = None, (code, msg)
        self.add_class("-error")
        self.query_one("#symbol-info", Static).update(Content(f"symbol {self.symbol!r}"))
        self.query_one("#symbol-error", Static).update(
            _markup("[b $error]$code[/]  $msg\n\n[dim]esc: back · s: open another symbol[/]", code=code, msg=msg))
        self.refresh_bindings()

    def _show(self, detail: SymbolDetail) -> None:
        self.detail, self.error = detail, None
        self.remove_class("-error")
        self.sub_title = f"symbol {detail.symbol}"
        self._redraw()

    def _redraw(self) -> None:
        """Fill every tab from ``self.detail`` (after a load, and when the theme changes)."""
        detail = self.detail
        if detail is None or not self.is_attached:
            return
        self.query_one("#symbol-info", Static).update(info_line(detail))
        self._show_chart(detail)
        self._show_bars(detail)
        self._show_qa(detail)
        actions = self.query_one("#actions-table", DataTable)
        actions.clear()
        for action in detail.actions:
            actions.add_row(*action_cells(action, detail.currency))
        self.query_one("#actions-caption", Static).update(
            f"{len(detail.actions)} splits and dividends, newest first" if detail.actions else "no corporate actions recorded")
        self.query_one("#fetch-meta", Static).update(fetch_lines(detail.fetch))
        errors = self.query_one("#errors-table", DataTable)
        errors.clear()
        for error in detail.errors:
            errors.add_row(*error_cells(error))
        self.query_one("#errors-caption", Static).update(
            f"Recent fetch errors ({len(detail.errors)}, newest first)" if detail.errors else "No recent fetch errors")
        tabs = self.query_one(TabbedContent)
        tabs.get_tab("tab-bars").label = f"2 Bars {len(detail.bars):,}"
        tabs.get_tab("tab-actions").label = f"4 Actions {len(detail.actions)}"
        trouble = detail.fetch is not None and (detail.fetch.in_dlq or detail.fetch.consecutive_failures > 0)
        tabs.get_tab("tab-fetch").label = "5 Fetch !" if trouble or detail.errors else "5 Fetch"
        self.refresh_bindings()

    def _show_chart(self, detail: SymbolDetail) -> None:
        chart = self.query_one(PriceChart)
        chart.show(detail.bars)
        window = WINDOWS[self.window][0]
        self.set_class(not chart.has_data, "-no-chart")
        if detail.bars:
            first, last = detail.bars[0].date, detail.bars[-1].date
            caption = f"{window} · {len(detail.bars):,} bars {first} → {last} · +/- window"
        else:
            caption = f"{window} · no bars · +/- window"
        self.query_one("#chart-caption", Static).update(caption)
        if not chart.has_data:
            why = "no bars in the lake (never fetched?)" if not detail.bars_total else "no prices in this window"
            self.query_one("#chart-empty", Static).update(_markup("[b]$symbol[/b]: $why", symbol=detail.symbol, why=why))

    def _show_bars(self, detail: SymbolDetail) -> None:
        table = self.query_one("#bars-table", DataTable)
        row = table.cursor_row
        table.clear()
        decimals = price_decimals(detail.bars)
        newest = detail.bars[::-1][:MAX_BAR_ROWS]
        for bar in newest:
            table.add_row(*bar_cells(bar, decimals), key=bar.date.isoformat())
        if newest:
            table.move_cursor(row=min(row, len(newest) - 1))
        shown = f"newest {len(newest):,} of {len(detail.bars):,}" if len(newest) < len(detail.bars) else f"{len(newest):,}"
        self.query_one("#bars-caption", Static).update(
            f"{WINDOWS[self.window][0]} · {shown} bars, newest first · {detail.bars_total:,} in the lake")

    def _show_qa(self, detail: SymbolDetail) -> None:
        table = self.query_one("#qa-table", DataTable)
        selected = self.selected_failure()
        row = table.cursor_row
        table.clear()
        for failure in detail.qa:
            table.add_row(*qa_cells(self.app, failure), key=str(failure.id))
        if detail.qa:
            keep = [i for i, f in enumerate(detail.qa) if selected is not None and f.id == selected.id]
            table.move_cursor(row=keep[0] if keep else min(row, len(detail.qa) - 1))
        self.query_one(TabbedContent).get_tab("tab-qa").label = qa_label(detail.qa)
        self._qa_caption()

    @on(DataTable.RowHighlighted, "#qa-table")
    def _qa_caption(self) -> None:
        """Under the QA table: the highlighted failure's details in full and who resolved it."""
        failure = self.selected_failure()
        caption = self.query_one("#qa-caption", Static)
        if failure is None:
            caption.update("no QA failures for this listing" if self.detail is not None else "")
            return
        caption.update(qa_caption(failure))

    # Selection ---------------------------------------------------------------------------------------
    def selected_failure(self) -> FailureRow | None:
        """The QA row under the QA table's cursor (by failure id, so a reload keeps it)."""
        if self.detail is None or not self.detail.qa:
            return None
        table = self.query_one("#qa-table", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((f for f in self.detail.qa if str(f.id) == key), None)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("resolve", "reopen"):
            on_qa = self.is_mounted and self.query_one(TabbedContent).active == "tab-qa"
            return True if on_qa and self.selected_failure() is not None else None
        if action in ("tab", "window"):
            return True if self.error is None else None
        return True

    @on(TabbedContent.TabActivated)
    def _tab_changed(self) -> None:
        self.refresh_bindings()

    # Actions -----------------------------------------------------------------------------------------
    def action_back(self) -> None:
        self.app.pop_screen()

    def action_recheck(self) -> None:
        on_qa = self.query_one(TabbedContent).active == "tab-qa"
        failure = self.selected_failure() if on_qa else None
        if failure is None and self.detail is not None:
            failure = next((f for f in self.detail.qa if not f.resolved), None)  # newest first
        Recheck(self.praf).ask([self.detail.symbol if self.detail else self.symbol], failure.date if failure else None)

    def action_tab(self, index: int) -> None:
        tabs = self.query_one(TabbedContent)
        tabs.active = TABS[index]
        pane = tabs.get_pane(TABS[index])
        tables = pane.query(DataTable)
        if tables:
            tables.last().focus()
        else:
            tabs.query_one("Tabs").focus()
        self.refresh_bindings()

    def action_window(self, step: int) -> None:
        new = max(0, min(len(WINDOWS) - 1, self.window + step))
        if new == self.window:
            self.notify(f"the window is already {WINDOWS[new][0]}", title="Chart", markup=False)
            return
        self.window = new
        self.reload()

    def action_resolve(self) -> None:
        failure = self.selected_failure()
        if failure is None:
            return

        def resolved(note: str | None) -> None:
            if note is not None:  # None: cancelled
                self._triage(failure.id, "resolved", note or None)

        title = f"Resolve {failure.check_name} of {failure.symbol} on {failure.date} (note optional; empty keeps the old one)"
        self.app.push_screen(PromptDialog(title, "note, e.g. checked against the exchange"), resolved)

    def action_reopen(self) -> None:
        failure = self.selected_failure()
        if failure is None:
            return
        if not failure.resolved:
            self.notify(f"{failure.check_name} of {failure.date} is already open", title="QA", markup=False)
            return
        self._triage(failure.id, "reopen", None)

    @work(thread=True, group="symbol-triage")
    def _triage(self, failure_id: int, action: str, note: str | None) -> None:
        try:
            changed = self.praf.service.triage_failures([failure_id], action, note, self.praf.who)
        except PipelineError as exc:
            self.post_message(ActionFailed("QA", exc.error_code, redact(exc.msg)))
        else:
            self.post_message(FailuresTriaged(action, (failure_id,), changed))

    def on_failures_triaged(self, message: FailuresTriaged) -> None:
        self.notify("reopened" if message.action == "reopen" else "resolved", title="QA")
        self.praf.changed()

    def on_action_failed(self, message: ActionFailed) -> None:
        self.notify(f"[{message.code}] {message.msg}", title=message.title, severity="error", markup=False)


def _markup(template: str, **values: str) -> Content:
    """Markup with the data in ``values`` substituted as plain text ($name), so data never becomes markup."""
    return Content.from_markup(template, **values)
