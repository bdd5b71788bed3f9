"""The dashboard shell: KPI cards from the service, refresh and quit by keyboard."""

from __future__ import annotations

import datetime as dt

from praf_engine.db.models import Ticker
from praf_engine.service import EngineService
from praf_tui.app import PrafApp


async def test_kpis_show_the_service_summary_and_q_quits(sqlite_settings) -> None:
    service = EngineService.open(sqlite_settings)
    try:
        for i in range(3):
            Ticker.create(symbol=f"S{i}", exchange_code="nasdaq", first_seen=dt.date(2020, 1, 1), last_seen=dt.date.today())
        app = PrafApp(service)
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert "3" in str(app.query_one("#kpi-total_active").render())
            Ticker.create(symbol="S9", exchange_code="nasdaq", first_seen=dt.date.today(), last_seen=dt.date.today())
            await pilot.press("r")
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert "4" in str(app.query_one("#kpi-total_active").render())
            assert "1" in str(app.query_one("#kpi-new_30d").render())
            await pilot.press("q")
        assert app.return_code == 0
    finally:
        service.close()
