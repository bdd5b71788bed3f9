"""QA triage screen: browsing by keyboard (filters, search, sort, paging, detail, help, live refresh, 50,000 failures) and
its snapshots; the actions are in test_triage_actions.py."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from textual.widgets import Select, Static

from praf_engine.db.models import QAFailure, Ticker
from praf_engine.service import EngineService
from praf_tui.screens.help import HelpScreen
from praf_tui.screens.symbol import SymbolScreen
from praf_tui.screens.triage import TriageScreen
from praf_tui.widgets.failure_table import FailureTable
from praf_tui.widgets.filters import SymbolSearch
from tests.tui.conftest import settle
from tests.tui.triage_pilot import OPEN, open_triage, page_ids, shown_ids, status, type_text


def test_default_query_is_every_unresolved_failure_newest_first() -> None:
    from praf_tui.widgets.filters import TriageQuery, cycle

    q = TriageQuery()
    assert q.filters() == {"check": None, "severity": None, "exchange": None, "resolved": False, "symbol": None,
                           "sort": "date", "descending": True}
    assert cycle(None, ["a", "b"]) == "a" and cycle("b", ["a", "b"]) is None and cycle("x", ["a"]) is None
    assert cycle("all", ["unresolved", "resolved", "all"], allow_none=False) == "unresolved"


async def test_first_page_status_line_and_detail_pane(make_app: Any, tui_service: EngineService) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_triage(pilot)
        expected = tui_service.failures(resolved=False, limit=100)
        assert expected.total == 52
        assert shown_ids(screen) == [r.id for r in expected.rows]
        assert status(screen) == "rows 1–52 of 52 · page 1/1 · sort date ↓"
        first = expected.rows[0]
        detail = str(screen.query_one("#detail", Static).render())
        assert f"#{first.id} {first.symbol}" in detail and first.check_name in detail
        for key in first.details:
            assert key.replace("_", " ") + ":" in detail
        await pilot.press("down")
        await pilot.pause()
        second = expected.rows[1]
        assert f"#{second.id} {second.symbol}" in str(screen.query_one("#detail", Static).render())


@pytest.mark.parametrize(("key", "field"), [("c", "check"), ("v", "severity"), ("x", "exchange")])
async def test_each_filter_key_narrows_the_list(make_app: Any, tui_service: EngineService, key: str, field: str) -> None:
    app = make_app()
    choices = tui_service.failure_filters()
    ring = {"check": [c for c, _ in choices.checks], "severity": list(choices.severities),
            "exchange": list(choices.exchanges)}[field]
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_triage(pilot)
        for value in ring[:3]:
            await pilot.press(key)
            await settle(pilot)
            expected = tui_service.failures(**OPEN, **{field: value})
            assert getattr(screen.query_state, field) == value
            assert screen.query_one(f"#filter-{field}", Select).value == value
            assert shown_ids(screen) == [r.id for r in expected.rows]
            assert expected.total < 52
            total = f"{expected.total}"
            assert status(screen).startswith(f"rows 1–{total} of {total}" if expected.total else "rows 0 of 0")
        await pilot.press("escape")  # clear filters
        await settle(pilot)
        assert getattr(screen.query_state, field) is None
        assert screen.query_one(f"#filter-{field}", Select).value is Select.NULL
        assert status(screen).startswith("rows 1–52 of 52")


async def test_check_severity_exchange_combine_and_select_widgets_work_too(make_app: Any,
                                                                            tui_service: EngineService) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_triage(pilot)
        screen.query_one("#filter-check", Select).value = "zero_volume"  # as if picked in the drop-down
        await settle(pilot)
        assert screen.query_state.check == "zero_volume"
        assert status(screen).startswith("rows 1–12 of 12")
        screen.query_one("#filter-exchange", Select).value = "nasdaq"
        await settle(pilot)
        expected = tui_service.failures(**OPEN, check="zero_volume", exchange="nasdaq")
        assert 0 < expected.total < 12
        assert shown_ids(screen) == [r.id for r in expected.rows]
        screen.query_one("#filter-state", Select).value = "all"
        await settle(pilot)
        assert screen.query_state.state == "all"
        await pilot.press("escape")
        await settle(pilot)
        assert screen.query_one("#filter-state", Select).value == "unresolved"
        assert status(screen).startswith("rows 1–52 of 52")


async def test_state_filter_cycles_unresolved_resolved_all(make_app: Any, tui_service: EngineService) -> None:
    ids = page_ids(tui_service, **OPEN, limit=4)
    tui_service.triage_failures(ids, "false_positive", None, "someone")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_triage(pilot)
        assert status(screen).startswith("rows 1–48 of 48")
        await pilot.press("u")
        await settle(pilot)
        assert screen.query_state.state == "resolved" and sorted(shown_ids(screen)) == sorted(ids)
        await pilot.press("u")
        await settle(pilot)
        assert screen.query_state.state == "all" and status(screen).startswith("rows 1–52 of 52")
        await pilot.press("u")
        await settle(pilot)
        assert screen.query_state.state == "unresolved" and status(screen).startswith("rows 1–48 of 48")


async def test_symbol_search_enter_applies_escape_returns(make_app: Any, tui_service: EngineService) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_triage(pilot)
        ids = shown_ids(screen)
        await pilot.press("slash")
        assert isinstance(app.focused, SymbolSearch)
        await type_text(pilot, "bf")
        await pilot.press("enter")
        await settle(pilot)
        expected = tui_service.failures(**OPEN, symbol="bf")
        assert expected.total == 2 and {r.symbol for r in expected.rows} == {"BFI"}
        assert shown_ids(screen) == [r.id for r in expected.rows]
        assert isinstance(app.focused, FailureTable)
        assert status(screen).startswith("rows 1–2 of 2")
        await pilot.press("slash", "x", "y", "escape")  # an edit left with Esc is forgotten, filters kept
        await settle(pilot)
        assert isinstance(app.focused, FailureTable)
        assert screen.query_one(SymbolSearch).value == "bf" and screen.query_state.symbol == "bf"
        await pilot.press("escape")  # on the list: clear every filter
        await settle(pilot)
        assert screen.query_one(SymbolSearch).value == "" and shown_ids(screen) == ids


async def test_sort_keys_and_direction(make_app: Any, tui_service: EngineService) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_triage(pilot)
        for sort in ("symbol", "check", "severity", "date"):
            await pilot.press("s")
            await settle(pilot)
            assert screen.query_state.sort == sort
            assert shown_ids(screen) == page_ids(tui_service, **OPEN, sort=sort, descending=True)
            assert f"sort {sort} ↓" in status(screen)
        await pilot.press("s", "S")
        await settle(pilot)
        assert shown_ids(screen) == page_ids(tui_service, **OPEN, sort="symbol", descending=False)
        assert "sort symbol ↑" in status(screen)
        assert shown_ids(screen)[0] == tui_service.failures(**OPEN, sort="symbol", descending=False, limit=1).rows[0].id


async def test_paging_keys_move_whole_server_pages(make_app: Any, tui_service: EngineService,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TriageScreen, "PAGE_SIZE", 15)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_triage(pilot)
        assert status(screen).startswith("rows 1–15 of 52 · page 1/4")
        await pilot.press("pagedown")
        await settle(pilot)
        assert status(screen).startswith("rows 16–30 of 52 · page 2/4")
        assert shown_ids(screen) == page_ids(tui_service, **OPEN, offset=15, limit=15)
        await pilot.press("n", "n")
        await settle(pilot)
        assert status(screen).startswith("rows 46–52 of 52 · page 4/4")
        await pilot.press("n")  # past the end: stays
        await settle(pilot)
        assert status(screen).startswith("rows 46–52 of 52 · page 4/4")
        await pilot.press("pageup")
        await settle(pilot)
        assert status(screen).startswith("rows 31–45 of 52 · page 3/4")
        await pilot.press("p", "p", "p")
        await settle(pilot)
        assert status(screen).startswith("rows 1–15 of 52 · page 1/4")
        # the selection is kept across pages; an action covers every selected row
        await pilot.press("space", "pagedown")
        await settle(pilot)
        await pilot.press("space")
        assert status(screen).endswith("· 2 selected")
        await pilot.press("r", "enter")
        await settle(pilot)
        assert tui_service.failures(**OPEN).total == 50
        # the last page empties: the screen steps back to the new last page
        await pilot.press("n", "n")
        await settle(pilot)
        assert status(screen).startswith("rows 46–50 of 50 · page 4/4")
        await pilot.press("ctrl+a", "r", "enter")
        await settle(pilot)
        assert status(screen).startswith("rows 31–45 of 45 · page 3/3")


async def test_enter_opens_the_symbol_screen_but_not_for_universe_rows(make_app: Any, tui_service: EngineService) -> None:
    QAFailure.create(symbol="*", date=dt.date(2025, 6, 10), check_name="api_latency", severity="warning",
                     details={"p95_ms": 2500.0})
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_triage(pilot)
        assert screen.query_one(FailureTable).current.symbol == "*"  # newest first
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is screen
        assert any("no symbol page" in str(n.message) for n in app._notifications)
        await pilot.press("down")
        symbol = screen.query_one(FailureTable).current.symbol
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SymbolScreen) and getattr(app.screen, "symbol", symbol) == symbol


async def test_help_lists_the_triage_keys(make_app: Any) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_triage(pilot)
        for binding in TriageScreen.BINDINGS:
            assert binding.description and binding.tooltip  # type: ignore[union-attr]
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one("#help-table")
        actions = {str(table.get_row_at(i)[1]) for i in range(table.row_count)}
        assert {"Resolve", "False pos.", "Reopen", "Select", "Select page", "Search", "Export", "Check", "Severity",
                "Exchange", "State", "Sort", "Sort direction", "Clear filters", "Next page", "Previous page",
                "Open symbol"} <= actions
        await pilot.press("escape")
        assert app.screen is screen


def build_big_home(service: EngineService, symbols: int = 6000, failures: int = 50_000) -> None:
    """``failures`` open failures over ``symbols`` listings, straight into the tables (one transaction)."""
    exchanges = ("nasdaq", "arca", "ftse", "dax", "euronext")
    checks = ("lag_check", "missing_dates", "null_fields", "zero_volume", "price_jump", "ohlc_sanity",
              "duplicate_dates", "currency_unit", "date_shift", "iqr_jump", "volume_spike")
    severity = {"price_jump": "critical", "iqr_jump": "info", "volume_spike": "info"}
    day = dt.date(2025, 6, 9)
    with service.db.atomic():
        Ticker.insert_many([{"symbol": f"S{i:05d}", "exchange_code": exchanges[i % 5], "first_seen": dt.date(2020, 1, 2),
                             "last_seen": day} for i in range(symbols)]).execute()
        rows = []
        for n in range(failures):
            s, k = n % symbols, n // symbols
            check = checks[(s + k) % len(checks)]
            rows.append({"symbol": f"S{s:05d}", "date": day - dt.timedelta(days=(n * 7) % 40), "check_name": check,
                         "severity": severity.get(check, "warning"), "details": {"count": 1 + n % 5, "n": n}})
            if len(rows) == 1000:
                QAFailure.insert_many(rows).execute()
                rows = []
        QAFailure.insert_many(rows).execute()


async def test_fifty_thousand_open_failures_show_one_page_and_page_forward(sqlite_settings: Any) -> None:
    from praf_tui.app import PrafApp

    service = EngineService.open(sqlite_settings)
    try:
        build_big_home(service)
        assert service.failures(resolved=False, limit=1).total == 50_000
        app = PrafApp(service, as_of=dt.date(2025, 6, 9), who="tester", refresh_s=0)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_triage(pilot)
            assert status(screen) == "rows 1–100 of 50,000 · page 1/500 · sort date ↓"
            assert shown_ids(screen) == page_ids(service, **OPEN)
            assert screen.query_one(FailureTable).row_count == 100
            await pilot.press("pagedown")
            await settle(pilot)
            assert status(screen) == "rows 101–200 of 50,000 · page 2/500 · sort date ↓"
            assert shown_ids(screen) == page_ids(service, **OPEN, offset=100)
            await pilot.press("x")  # nasdaq: a fifth of them
            await settle(pilot)
            assert status(screen).startswith("rows 1–100 of 10,000 · page 1/100")
            await pilot.press("ctrl+a", "r", "enter")
            await settle(pilot)
            assert service.failures(resolved=True).total == 100
            assert status(screen).startswith("rows 1–100 of 9,900 · page 1/99")
    finally:
        service.close()


# Snapshots: the default view and a selection with the detail pane, at both sizes ------------------------
async def _triage_view(pilot: Any) -> None:
    await open_triage(pilot)


async def _triage_selection(pilot: Any) -> None:
    await open_triage(pilot)
    await pilot.press("down", "space", "space", "down", "down")
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_snapshot_default_view(snap_compare: Any, make_app: Any, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), run_before=_triage_view, terminal_size=size)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_snapshot_selection_and_detail(snap_compare: Any, make_app: Any, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), run_before=_triage_selection, terminal_size=size)


async def test_live_refresh_keeps_the_cursor_on_its_failure_and_the_scroll(make_app: Any, tui_service: EngineService) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_triage(pilot)
        table = screen.query_one(FailureTable)
        await pilot.press(*["down"] * 20)
        await pilot.pause()
        target, scroll = table.current.id, table.scroll_y
        assert table.cursor_row == 20 and scroll > 0
        page, loads = screen._page, screen.loads
        app.action_refresh()  # nothing new: the table is left as it is
        await settle(pilot)
        assert screen.loads == loads + 1 and screen._page is page
        assert table.current.id == target and table.scroll_y == scroll
        first = shown_ids(screen)[0]
        tui_service.triage_failures([first], "resolved", None, "someone-else")  # another operator, elsewhere
        app.action_refresh()
        await settle(pilot)
        assert first not in shown_ids(screen) and status(screen).startswith("rows 1–51 of 51")
        assert table.current.id == target and table.cursor_row == 19
        assert table.scroll_y == scroll
