"""The fix loop in the TUI: refetch-and-recheck from the triage selection (R), the symbol screen (R) and the palette,
each one `recheck` request through the control plane (a live scheduler's pending row here); cancelling requests
nothing; the universe detail lists the month's changes per exchange and opens the symbol screen; snapshots of the
universe detail and of the refetch dialog at 80x24 and 120x40."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import pytest
from textual.widgets import DataTable, Static

from praf_engine.db.models import JobRequest, SchedulerBeat, Ticker
from praf_engine.jobs.runner import HOST
from praf_engine.service import EngineService
from praf_tui.screens.symbol import SymbolScreen
from praf_tui.screens.universe import UniverseScreen
from praf_tui.widgets.dialogs import PromptDialog
from praf_tui.widgets.failure_table import FailureTable
from praf_tui.widgets.recheck import RecheckDialog
from tests.tui.conftest import settle
from tests.tui.triage_pilot import open_triage, type_text


def live_scheduler(service: EngineService) -> None:
    """A daemon's fresh beat: a request is a pending row it starts (no detached process in a test)."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    SchedulerBeat.create(name="scheduler", pid=os.getpid(), host=HOST, version="test", mode="daemon",
                         started_at=now - dt.timedelta(hours=1), beat_at=now + dt.timedelta(days=1), next_runs={})


async def test_triage_r_asks_then_requests_a_recheck_of_the_selected_symbols(make_app: Any, tui_service: EngineService) -> None:
    live_scheduler(tui_service)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_triage(pilot)
        table = screen.query_one(FailureTable)
        picked = [table.current]
        await pilot.press("space")
        picked.append(table.current)
        await pilot.press("space")
        assert all(picked) and len({r.id for r in picked}) == 2
        await pilot.press("R")
        await pilot.pause()
        assert isinstance(app.screen, RecheckDialog)
        assert app.screen.symbols == list(dict.fromkeys(r.symbol for r in picked))
        await pilot.press("n")  # cancelled: nothing is asked for
        await settle(pilot)
        assert JobRequest.select().count() == 0
        await pilot.press("R", "f")
        await settle(pilot)
        request = JobRequest.get()
        assert (request.job, request.status) == ("recheck", "pending")
        assert request.options == {"symbols": list(dict.fromkeys(r.symbol for r in picked)), "full": True,
                                   "as_of": max(r.date for r in picked).isoformat()}
        assert any("job recheck requested: the scheduler starts it" in str(n.message) for n in app._notifications)


async def test_symbol_r_requests_an_incremental_recheck_and_the_palette_asks_for_symbols(make_app: Any,
                                                                                        tui_service: EngineService) -> None:
    live_scheduler(tui_service)
    failing = tui_service.failures(resolved=False, limit=1).rows[0]
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.open_symbol(failing.symbol)
        await settle(pilot)
        assert isinstance(app.screen, SymbolScreen)
        await pilot.press("R")
        await pilot.pause()
        assert isinstance(app.screen, RecheckDialog) and app.screen.symbols == [failing.symbol]
        await pilot.press("i")
        await settle(pilot)
        request = JobRequest.get()
        assert request.options["symbols"] == [failing.symbol] and request.options["full"] is False
        await pilot.press("escape")
        await settle(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Refetch and recheck symbols…" in titles and "Run job: recheck" not in titles
        next(c for c in app.get_system_commands(app.screen) if c.title == "Refetch and recheck symbols…").callback()
        await pilot.pause()
        assert isinstance(app.screen, PromptDialog)
        await type_text(pilot, "NOT-A-LISTING")
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("f")
        await settle(pilot)
        assert JobRequest.select().count() == 1  # refused (JOBOPTION): nothing more was asked for
        assert any("[JOBOPTION]" in str(n.message) and "NOT-A-LISTING" in str(n.message) for n in app._notifications)


def _changes(service: EngineService) -> None:
    """One delisted and one relisted listing in the fixture's month (the scrape made every listing new)."""
    symbols = [s for (s,) in Ticker.select(Ticker.symbol).order_by(Ticker.symbol).limit(2).tuples()]
    Ticker.update(status="delisted", status_changed=dt.date(2025, 6, 6)).where(Ticker.symbol == symbols[0]).execute()
    Ticker.update(first_seen=dt.date(2024, 3, 1), status_changed=dt.date(2025, 6, 5)).where(Ticker.symbol == symbols[1]).execute()


async def test_the_universe_detail_lists_the_months_changes_and_opens_a_symbol(make_app: Any, tui_service: EngineService) -> None:
    _changes(tui_service)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("U")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, UniverseScreen) and screen.detail is not None
        detail = screen.detail
        assert detail.month == "2025-06" and {x.change for x in detail.listings} == {"new", "delisted", "relisted"}
        assert "2025-06" in str(screen.query_one("#universe-status", Static).render())
        await pilot.press("c", "c")  # every change → new → delisted
        await settle(pilot)
        assert [x.change for x in app.screen.detail.listings] == ["delisted"]
        table = app.screen.query_one("#universe-listings", DataTable)
        assert table.row_count == 1
        await pilot.press("enter")
        await settle(pilot)
        delisted = next(x.symbol for x in detail.listings if x.change == "delisted")
        assert isinstance(app.screen, SymbolScreen) and app.screen.symbol == delisted
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("[")
        await settle(pilot)
        assert app.screen.month == "2025-05"



async def _universe_detail(pilot: Any) -> None:
    await settle(pilot)
    await pilot.press("U")
    await settle(pilot)
    assert isinstance(pilot.app.screen, UniverseScreen) and pilot.app.screen.detail is not None


async def _recheck_dialog(pilot: Any) -> None:
    await open_triage(pilot)
    await pilot.press("space", "down", "space", "R")
    await settle(pilot)
    assert isinstance(pilot.app.screen, RecheckDialog) and len(pilot.app.screen.symbols) >= 1


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_snapshot_universe_detail(snap_compare: Any, make_app: Any, tui_service: EngineService, size: tuple[int, int]) -> None:
    _changes(tui_service)  # new, delisted and relisted rows in the month
    assert snap_compare(make_app(), run_before=_universe_detail, terminal_size=size)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_snapshot_recheck_dialog(snap_compare: Any, make_app: Any, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), run_before=_recheck_dialog, terminal_size=size)
