"""Nothing queries the database on the event loop: every statement of a session through every screen (dashboard
panels, the command palette and its job list, the Scheduler screen with a pause and a resume, triage with a write
and paging, the symbol page, help) runs in a worker thread, so input never waits on the database."""

from __future__ import annotations

import threading
from typing import Any

from textual.command import CommandPalette

from praf_engine.service import EngineService
from praf_tui.screens.scheduler import SchedulerScreen
from praf_tui.screens.symbol import SymbolScreen
from praf_tui.screens.triage import TriageScreen
from tests.tui.conftest import settle
from tests.tui.triage_pilot import OPEN


async def test_no_screen_queries_the_database_on_the_event_loop(make_app: Any, tui_service: EngineService) -> None:
    loop_thread = threading.get_ident()  # run_test drives the app on this thread's event loop
    on_loop: list[str] = []
    in_workers: list[str] = []
    execute = tui_service.db.execute_sql

    def recording(sql: str, *args: Any, **kw: Any) -> Any:
        (on_loop if threading.get_ident() == loop_thread else in_workers).append(sql)
        return execute(sql, *args, **kw)

    first = tui_service.failures(**OPEN, limit=1).rows[0]
    tui_service.db.execute_sql = recording
    app = make_app()
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            for key in "123456":
                await pilot.press(key)
                await settle(pilot)
            titles = {c.title for c in app.get_system_commands(app.screen)}  # what the palette lists
            assert {"Run job: fetch", "Run job: qa", "Run job: retention"} <= titles
            await pilot.press("ctrl+p")  # the palette asks the app for its commands as it opens
            await pilot.pause()
            assert isinstance(app.screen, CommandPalette)
            await pilot.press("escape")
            await settle(pilot)
            await pilot.press("j")  # the Scheduler screen, a pause and a resume (writes)
            await settle(pilot)
            assert isinstance(app.screen, SchedulerScreen) and app.screen.state is not None
            await pilot.press("p")
            await settle(pilot)
            await pilot.press("p")
            await settle(pilot)
            await pilot.press("t")
            await settle(pilot)
            assert isinstance(app.screen, TriageScreen)
            await pilot.press("r", "enter")  # resolve the cursor row, no note
            await settle(pilot)
            await pilot.press("u", "s", "n", "p", "question_mark", "escape")
            await settle(pilot)
            app.open_symbol(first.symbol)
            await settle(pilot)
            assert isinstance(app.screen, SymbolScreen) and app.screen.detail is not None
            await pilot.press("plus", "3")
            await settle(pilot)
    finally:
        del tui_service.db.execute_sql
    assert tui_service.failures(resolved=True, limit=1).rows[0].id == first.id  # the write went through a worker
    assert len(in_workers) > 20
    assert on_loop == []
