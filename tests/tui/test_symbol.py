"""Symbol page: every binding driven by keyboard (resolve/reopen checked in the database through the service),
hostile and unknown symbols, the chart's edge cases (no bar, one bar, missing values), reloads and snapshots."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.widgets import DataTable, Input, Static, TabbedContent

from praf_engine.db.models import Ticker
from praf_engine.lake import Lake
from praf_engine.service import Bar, EngineService
from praf_tui.screens.dashboard import DashboardScreen
from praf_tui.screens.symbol import MAX_BAR_ROWS, WINDOWS, SymbolScreen
from praf_tui.widgets.dialogs import PromptDialog
from praf_tui.widgets.price_chart import PriceChart, date_ticks, series
from praf_tui.widgets.symbol_views import details_summary
from tests.engine.qa.helpers import frame
from tests.tui.conftest import settle

SYMBOL = "BFI"  # fixture home: a critical price_jump and a zero_volume warning, a year of bars, no fetch trouble
NEVER_FETCHED = "CED"  # fixture home: lag_check, no bars, two fetch errors
NULL_CLOSE = ("SUM", dt.date(2025, 4, 28))  # fixture home: a bar without close (null_fields)




async def open_symbol(pilot: Any, symbol: str) -> SymbolScreen:
    await settle(pilot)
    pilot.app.open_symbol(symbol)
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, SymbolScreen)
    return screen


def text(screen: SymbolScreen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def cells(table: DataTable[Any], row: int) -> list[str]:
    return [str(c) for c in table.get_row_at(row)]


def qa_rows(service: EngineService, symbol: str) -> dict[int, Any]:
    return {r.id: r for r in service.symbol_detail(symbol).qa}


# The page ---------------------------------------------------------------------------------------------------------
async def test_symbol_page_shows_header_chart_bars_qa_actions_and_fetch(make_app: Any, tui_service: EngineService) -> None:
    expected = tui_service.symbol_detail(SYMBOL, 365)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_symbol(pilot, SYMBOL.lower())
        assert screen.symbol == SYMBOL.lower() and screen.detail is not None and screen.detail.symbol == SYMBOL
        info = text(screen, "#symbol-info")
        for part in (SYMBOL, expected.name, expected.exchange_code, expected.currency, expected.status,
                     str(expected.first_seen), str(expected.last_seen)):
            assert part in info
        assert screen.sub_title == f"symbol {SYMBOL}"
        # 1 chart: a year of close and adj close, dates on x
        tabs = screen.query_one(TabbedContent)
        assert tabs.active == "tab-chart"
        chart = screen.query_one(PriceChart)
        assert chart.has_data and chart.bars == expected.bars and chart.display
        assert text(screen, "#chart-caption").startswith(f"1 y · {len(expected.bars)} bars {expected.bars[0].date} → {expected.bars[-1].date}")
        # 2 bars: newest first
        await pilot.press("2")
        assert tabs.active == "tab-bars"
        bars = screen.query_one("#bars-table", DataTable)
        assert app.focused is bars and bars.row_count == len(expected.bars)
        newest = expected.bars[-1]
        assert cells(bars, 0)[0] == newest.date.isoformat() and cells(bars, 1)[0] == expected.bars[-2].date.isoformat()
        assert cells(bars, 0)[-1] == f"{newest.volume:,}"
        # 3 QA history
        await pilot.press("3")
        assert tabs.active == "tab-qa"
        qa = screen.query_one("#qa-table", DataTable)
        assert app.focused is qa and qa.row_count == len(expected.qa) == 2
        first = cells(qa, 0)
        assert first[:4] == [str(expected.qa[0].date), "price_jump", "critical", "open"]
        assert "move_pct=-79.66" in first[5]
        assert "price_jump" in text(screen, "#qa-caption") and "prev_close=31.9" in text(screen, "#qa-caption")
        assert "2 open" in str(tabs.get_tab("tab-qa").label)
        # 4 actions, 5 fetch
        await pilot.press("4")
        assert tabs.active == "tab-actions"
        assert screen.query_one("#actions-table", DataTable).row_count == len(expected.actions)
        await pilot.press("5")
        assert tabs.active == "tab-fetch"
        meta = text(screen, "#fetch-meta")
        assert expected.fetch is not None
        for part in ("Last fetched", str(expected.fetch.last_fetched_date), "Status", expected.fetch.fetch_status, "Failures",
                     "0 in a row", "Last error", "Latency", "180 ms", "DLQ", "no", "Exit used"):
            assert part in meta
        assert screen.query_one("#errors-table", DataTable).row_count == len(expected.errors) == 0
        assert text(screen, "#errors-caption") == "No recent fetch errors"
        await pilot.press("1")
        assert tabs.active == "tab-chart"


async def test_never_fetched_symbol_has_no_chart_and_shows_its_fetch_errors(make_app: Any, tui_service: EngineService) -> None:
    expected = tui_service.symbol_detail(NEVER_FETCHED)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_symbol(pilot, NEVER_FETCHED)
        assert not screen.query_one(PriceChart).display and screen.query_one("#chart-empty").display
        assert "no bars in the lake" in text(screen, "#chart-empty")
        assert text(screen, "#chart-caption") == "1 y · no bars · +/- window"
        await pilot.press("2")
        assert screen.query_one("#bars-table", DataTable).row_count == 0
        await pilot.press("5")
        errors = screen.query_one("#errors-table", DataTable)
        assert errors.row_count == len(expected.errors) == 2
        assert cells(errors, 0)[:2] == [str(expected.errors[0][0]), expected.errors[0][1]]
        assert str(screen.query_one(TabbedContent).get_tab("tab-fetch").label) == "5 Fetch !"
        meta = text(screen, "#fetch-meta")
        assert expected.fetch is not None and expected.fetch.last_error_code in meta and "2 in a row" in meta


async def test_missing_close_shows_a_dash_and_the_chart_still_draws(make_app: Any) -> None:
    symbol, day = NULL_CLOSE
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_symbol(pilot, symbol)
        chart = screen.query_one(PriceChart)
        assert chart.has_data and any(b.close is None for b in chart.bars)
        assert day.toordinal() not in series(chart.bars, "close")[0] and day.toordinal() in series(chart.bars, "adj_close")[0]
        await pilot.press("2")
        bars = screen.query_one("#bars-table", DataTable)
        row = bars.get_row(day.isoformat())
        assert str(row[4]) == "–" and str(row[5]) != "–"


async def test_one_bar_listing(make_app: Any, tui_service: EngineService) -> None:
    Ticker.create(symbol="ONE", exchange_code="nasdaq", mic="XNYS", currency="USD", name="One Bar Inc.",
                  first_seen=dt.date(2025, 6, 6), last_seen=dt.date(2025, 6, 6), status="active")
    Lake(tui_service.settings.lake_dir, fsync=False).write("ONE", frame([dt.date(2025, 6, 9)], [12.5]))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_symbol(pilot, "ONE")
        chart = screen.query_one(PriceChart)
        assert len(chart.bars) == 1 and chart.has_data and chart.display
        assert "2025-06-09" in str(chart.render())
        await pilot.press("2")
        assert screen.query_one("#bars-table", DataTable).row_count == 1


# Bindings ---------------------------------------------------------------------------------------------------------
async def test_window_keys_widen_and_narrow_the_chart(make_app: Any, tui_service: EngineService) -> None:
    total = tui_service.symbol_detail(SYMBOL).bars_total
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_symbol(pilot, SYMBOL)
        assert WINDOWS[screen.window][0] == "1 y"

        async def press(key: str) -> tuple[str, int]:
            await pilot.press(key)
            await settle(pilot)
            assert screen.detail is not None
            return WINDOWS[screen.window][0], len(screen.detail.bars)

        year = len(screen.detail.bars)
        label, five = await press("plus")
        assert label == "5 y" and five > year and text(screen, "#chart-caption").startswith("5 y")
        label, everything = await press("plus")
        assert label == "all" and everything == total > MAX_BAR_ROWS
        assert f"newest {MAX_BAR_ROWS:,} of {total:,}" in text(screen, "#bars-caption")
        assert screen.query_one("#bars-table", DataTable).row_count == MAX_BAR_ROWS
        assert await press("plus") == ("all", total)  # already the widest: stays
        assert await press("minus") == ("5 y", five)
        assert await press("minus") == ("1 y", year)
        label, quarter = await press("minus")
        assert label == "90 d" and quarter < year
        assert all(b.date >= screen.detail.bars[-1].date - dt.timedelta(days=90) for b in screen.detail.bars)
        assert await press("minus") == ("90 d", quarter)
        assert await press("equals_sign") == ("1 y", year)  # '=' widens too (no shift needed)


async def test_resolve_and_reopen_from_the_qa_tab(make_app: Any, tui_service: EngineService) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_symbol(pilot, SYMBOL)
        before = qa_rows(tui_service, SYMBOL)
        # r and o do nothing outside the QA tab
        await pilot.press("r", "o")
        await settle(pilot)
        assert not isinstance(app.screen, PromptDialog) and qa_rows(tui_service, SYMBOL) == before
        await pilot.press("3", "down")
        target = screen.selected_failure()
        assert target is not None and target.check_name == "zero_volume"
        # r then escape: cancelled, nothing written
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, PromptDialog)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen and qa_rows(tui_service, SYMBOL) == before
        # o on an open failure: nothing to reopen
        await pilot.press("o")
        await settle(pilot)
        assert qa_rows(tui_service, SYMBOL) == before
        # r with a note (markup-looking text stays literal)
        version = app.data_version
        await pilot.press("r")
        await pilot.pause()
        app.screen.query_one(Input).value = "volume halt [b]confirmed[/b]"
        await pilot.press("enter")
        await settle(pilot)
        row = qa_rows(tui_service, SYMBOL)[target.id]
        assert (row.resolved, row.resolution, row.note, row.resolved_by) == (True, "resolved", "volume halt [b]confirmed[/b]", "tester")
        assert app.data_version > version
        others = {k: v for k, v in qa_rows(tui_service, SYMBOL).items() if k != target.id}
        assert others == {k: v for k, v in before.items() if k != target.id}
        qa = screen.query_one("#qa-table", DataTable)
        shown = [str(c) for c in qa.get_row(str(target.id))]
        assert shown[3] == "resolved (tester)" and shown[4] == "volume halt [b]confirmed[/b]"
        assert screen.selected_failure() is not None and screen.selected_failure().id == target.id  # cursor kept
        assert "1 open" in str(screen.query_one(TabbedContent).get_tab("tab-qa").label)
        assert "resolved by tester" in text(screen, "#qa-caption")
        # o reopens it: the resolution goes, the note stays
        await pilot.press("o")
        await settle(pilot)
        row = qa_rows(tui_service, SYMBOL)[target.id]
        assert (row.resolved, row.resolution, row.resolved_at, row.note) == (False, None, None, "volume halt [b]confirmed[/b]")
        assert str(qa.get_row(str(target.id))[3]) == "open"
        # r with an empty note resolves and keeps the old note
        await pilot.press("r")
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
        row = qa_rows(tui_service, SYMBOL)[target.id]
        assert (row.resolved, row.note) == (True, "volume halt [b]confirmed[/b]")


async def test_back_with_escape_and_backspace(make_app: Any) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        for key in ("escape", "backspace"):
            await open_symbol(pilot, SYMBOL)
            await pilot.press("3")  # from inside a table too
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, DashboardScreen)


@pytest.mark.parametrize(("symbol", "code"), [
    ("../../etc", "SCRAPEBAD"), ("[b]x[/b]", "SCRAPEBAD"), ("A" * 200, "SCRAPEBAD"), ("ZZZZ", "SYMBOLUNKNOWN"),
])
async def test_a_bad_symbol_shows_its_error_code_and_escape_goes_back(make_app: Any, symbol: str, code: str) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_symbol(pilot, symbol)
        assert screen.error is not None and screen.error[0] == code and screen.detail is None
        shown = text(screen, "#symbol-error")
        assert shown.startswith(code) and screen.error[1] in shown
        assert screen.query_one("#symbol-error").display and not screen.query_one(TabbedContent).display
        assert repr(symbol) in text(screen, "#symbol-info")
        await pilot.press("plus", "3", "r")  # inert on an error page
        await settle(pilot)
        assert app.screen is screen
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)


async def test_theme_change_recolours_the_tables(make_app: Any) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_symbol(pilot, SYMBOL)
        await pilot.press("3")
        qa = screen.query_one("#qa-table", DataTable)
        assert qa.get_row_at(0)[2].style.color.triplet is not None  # a theme colour in truecolour
        app.theme = "ansi-dark"  # the terminal's own 16 colours
        await pilot.pause()
        severity = qa.get_row_at(0)[2]
        assert str(severity) == "critical" and severity.style.color.number == 1 and severity.style.bold  # ANSI red
        assert str(qa.get_row_at(0)[3]) == "open" and qa.get_row_at(0)[3].style.color.number == 3  # ANSI yellow
        await pilot.press("1")
        await pilot.pause()
        assert "2025-06-09" in str(screen.query_one(PriceChart).render())


# Reloads ----------------------------------------------------------------------------------------------------------
async def test_reloads_on_data_version_and_as_of_without_overlapping(make_app: Any, tui_service: EngineService) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_symbol(pilot, SYMBOL)
        target = screen.detail.qa[0]
        tui_service.triage_failures([target.id], "false_positive", "elsewhere", "someone")
        app.changed()
        await settle(pilot)
        assert str(screen.query_one("#qa-table", DataTable).get_row(str(target.id))[3]) == "false pos. (someone)"
        loaded = screen.detail
        app.as_of = dt.date(2025, 6, 6)
        await settle(pilot)
        assert screen.detail is not loaded and screen.detail == loaded
        # reloads asked while one is in flight replace it: one load runs, the others never start
        for _ in range(3):
            screen.reload()
        loads = [w for w in app.workers if w.group == "symbol-load"]
        assert sorted(w.is_cancelled for w in loads) == [False, True, True]
        await settle(pilot)
        assert screen.detail == loaded and all(w.is_finished for w in app.workers)


# Chart pieces -----------------------------------------------------------------------------------------------------
def _bar(day: dt.date, close: float | None, adj: float | None = None) -> Bar:
    return Bar(day, close, close, close, close, adj if adj is not None else close, 100)


class _ChartApp(App[None]):
    def __init__(self, bars: list[Bar]) -> None:
        super().__init__()
        self.bars = bars

    def compose(self) -> ComposeResult:
        yield PriceChart(id="chart")

    def on_mount(self) -> None:
        self.query_one(PriceChart).show(self.bars)


@pytest.mark.parametrize("bars", [
    [],
    [_bar(dt.date(2025, 6, 9), 12.5)],
    [_bar(dt.date(2025, 6, 6), None, None), _bar(dt.date(2025, 6, 9), None, None)],
    [_bar(dt.date(2025, 6, 5), 10.0), _bar(dt.date(2025, 6, 6), None, 9.0), _bar(dt.date(2025, 6, 9), 11.0, None)],
    [_bar(dt.date(2025, 6, 5), 7.0), _bar(dt.date(2025, 6, 6), 7.0)],  # flat
], ids=["none", "one", "all-missing", "gaps", "flat"])
async def test_chart_draws_edge_cases(bars: list[Bar]) -> None:
    app = _ChartApp(bars)
    async with app.run_test(size=(60, 16)) as pilot:
        await pilot.pause()
        chart = app.query_one(PriceChart)
        drawn = str(chart.render())
        assert chart.has_data == any(b.close is not None or b.adj_close is not None for b in bars)
        if chart.has_data:
            assert bars[0].date.isoformat() in drawn and bars[-1].date.isoformat() in drawn


def test_date_ticks_and_details_summary() -> None:
    day = dt.date(2025, 6, 9)
    assert date_ticks(day, day, 80) == ([day.toordinal()], ["2025-06-09"])
    ticks, labels = date_ticks(dt.date(2024, 6, 10), day, 80)
    assert labels[0] == "2024-06-10" and labels[-1] == "2025-06-09" and 2 <= len(ticks) <= 6
    ticks, labels = date_ticks(dt.date(2006, 1, 3), day, 120)
    assert labels[0] == "2006-01" and labels[-1] == "2025-06" and len(ticks) == 6
    assert len(date_ticks(dt.date(2024, 6, 10), day, 20)[0]) == 2
    summary = str(details_summary({"count": 4, "dates": ["2025-05-18", "2025-05-26"], "move_pct": [-79.661442], "hint": None}))
    assert summary == "2025-05-18 +1 move_pct=-79.66 hint=–"
    assert str(details_summary({})) == "–"


# Snapshots: the chart and the QA tab of a symbol with failures, at both sizes ---------------------------------------
async def _chart_tab(pilot: Any) -> None:
    await open_symbol(pilot, SYMBOL)


async def _qa_tab(pilot: Any) -> None:
    await open_symbol(pilot, SYMBOL)
    await pilot.press("3")
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_snapshot_chart_tab(snap_compare: Any, make_app: Any, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), run_before=_chart_tab, terminal_size=size)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_snapshot_qa_tab(snap_compare: Any, make_app: Any, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), run_before=_qa_tab, terminal_size=size)
