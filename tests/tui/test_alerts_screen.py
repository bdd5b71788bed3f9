"""The Alerts screen: the outbox with statuses and errors, the mutes, and its keys (mute, unmute, test alert) going
through the service — on a copy of the fixture home with alerts queued through the real outbox."""

from __future__ import annotations

import datetime as dt

from textual.widgets import DataTable, Static

from praf_engine.alerts import outbox
from praf_engine.sandbox.fixture_home import FIXTURE_AS_OF
from praf_tui.screens.alerts import AlertsScreen
from tests.tui.conftest import settle

NOW = dt.datetime.combine(FIXTURE_AS_OF, dt.time(2, 0))


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def messages(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def open_alerts(app, pilot) -> AlertsScreen:
    await settle(pilot)
    await pilot.press("l")
    await settle(pilot)
    assert isinstance(app.screen, AlertsScreen)
    return app.screen


async def test_the_outbox_mutes_and_the_keys(make_app, tui_service) -> None:
    outbox.enqueue(tui_service.db, rule="latency", subject="api_latency", night=FIXTURE_AS_OF, severity="warning",
                   text="⚠ Yahoo latency: P95 12 s above 10 s on 3 nights running\n→ praf-tui --check api_latency", now=NOW)
    outbox.enqueue(tui_service.db, rule="job_failed", subject="qa", night=FIXTURE_AS_OF, severity="critical",
                   text="❗ QA pipeline crashed [QAFAIL]: qa exited 1, run r1.\n→ grep r1 app.jsonl", now=NOW)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_alerts(app, pilot)
        table = screen.query_one("#outbox", DataTable)
        assert table.row_count == 2
        assert [str(c) for c in table.get_row_at(0)][2:5] == ["job_failed", "qa", "pending"]  # most severe first
        assert "❗ QA pipeline crashed" in text_of(screen, "#alerts-detail")
        summary = text_of(screen, "#alerts-summary")
        assert summary.startswith("2 pending") and "Telegram not configured (TELEGRAM_BOT_TOKEN, TELEGRAM_CHAT_ID missing)" in summary
        assert text_of(screen, "#alerts-mutes") == "no mutes in force"

        await pilot.press("m")
        await pilot.press(*"lag 2h", "enter")
        await settle(pilot)
        assert text_of(screen, "#alerts-mutes").startswith("muted: lag until")
        assert any(m.startswith("muted lag until") for m in messages(app))

        await pilot.press("m")
        await pilot.press(*"lagg 2h", "enter")
        await settle(pilot)
        assert any(m.startswith("[ALERTBAD] unknown alert rule 'lagg'") for m in messages(app))

        await pilot.press("u", "enter")  # empty: every mute
        await settle(pilot)
        assert text_of(screen, "#alerts-mutes") == "no mutes in force" and "1 mute(s) ended" in messages(app)

        await pilot.press("x", "y")  # test alert, confirmed: no Telegram configured in the fixture home
        await settle(pilot)
        assert any(m.startswith("[ALERTCONFIG] Telegram is not configured") for m in messages(app))


async def test_l_opens_the_screen_and_the_header_counts_pending_alerts_in_red(make_app, tui_service) -> None:
    from textual.widgets import Label

    outbox.enqueue(tui_service.db, rule="job_failed", subject="fetch", night=FIXTURE_AS_OF, severity="critical",
                   text="❗ Fetch stopped: Yahoo API down [APIDOWN]\n→ grep r2 app.jsonl", now=NOW)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        label = app.screen.query_one("#alerts-status", Label)
        assert "1 alert pending (l)" in str(label.render()) and label.has_class("-pending")
        await pilot.press("l")
        await settle(pilot)
        assert isinstance(app.screen, AlertsScreen)
        outbox.enqueue(tui_service.db, rule="latency", subject="api_latency", night=FIXTURE_AS_OF, severity="warning",
                       text="⚠ Yahoo latency\n→ praf-tui --check api_latency", now=NOW)
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert "2 alerts pending (l)" in str(app.screen.query_one("#alerts-status", Label).render())
