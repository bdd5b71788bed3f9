"""The alerts read model and the service's alert methods (what the TUI's Alerts screen shows and does)."""

from __future__ import annotations

import datetime as dt

import pytest

from praf_engine.alerts import outbox
from praf_engine.errors import PipelineError

NOW = dt.datetime(2025, 6, 6, 9, 0)
NIGHT = NOW.date()


def put(db, rule: str, subject: str, severity: str, night: dt.date = NIGHT, text: str = "x\n→ cmd"):
    return outbox.enqueue(db, rule=rule, subject=subject, night=night, severity=severity, text=text, now=NOW)


def test_the_view_lists_the_outbox_most_severe_first_with_counts_mutes_and_what_is_missing(service) -> None:
    svc = service
    svc.wiring = svc.wiring.with_clock(lambda: NOW)
    put(svc.db, "latency", "api_latency", "warning")
    put(svc.db, "job_failed", "qa", "critical", text="❗ QA pipeline crashed\n→ grep")
    put(svc.db, "lag", "lag_check", "critical", night=NIGHT - dt.timedelta(days=30))  # outside the week: not listed
    from praf_engine.db.models import AlertOutbox

    AlertOutbox.update(status="sent").where(AlertOutbox.rule == "latency").execute()
    AlertOutbox.update(last_error="ALERTSEND: Telegram unreachable: bot123456:TEST-token-for-the-sandbox-000000000/x").where(
        AlertOutbox.rule == "job_failed").execute()
    view = svc.alerts_view()
    assert [(r.rule, r.status) for r in view.rows] == [("job_failed", "pending"), ("latency", "sent")]
    assert view.rows[0].headline == "❗ QA pipeline crashed"
    assert view.rows[0].last_error.startswith("ALERTSEND: Telegram unreachable") and "TEST-token" not in view.rows[0].last_error
    assert view.pending == 2 and view.counts["sent"] == 1  # the pending count spans every night
    assert view.missing == ("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID") and view.mutes == ()

    mute = svc.mute_alerts("lag", "2h", "tester", "holiday")
    assert (mute.rule, mute.muted_until, mute.created_by) == ("lag", NOW + dt.timedelta(hours=2), "tester")
    assert [m.rule for m in svc.alerts_view().mutes] == ["lag"]
    assert svc.unmute_alerts("lag", "tester") == 1 and svc.alerts_view().mutes == ()


def test_bad_mutes_are_alertbad_and_change_nothing(service) -> None:
    for rule, duration in (("lagg", "2h"), ("lag", "2 days"), ("lag", "0m"), (None, "200d"), ("lag", "99999999999999d")):
        with pytest.raises(PipelineError) as info:
            service.mute_alerts(rule, duration, "tester")
        assert info.value.error_code == "ALERTBAD" and info.value.exit_code == 2
    assert service.alerts_view().mutes == ()


def test_a_test_alert_without_telegram_says_what_is_missing(service) -> None:
    with pytest.raises(PipelineError) as info:
        service.send_test_alert()
    assert info.value.error_code == "ALERTCONFIG" and "TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID missing" in info.value.msg


def test_the_dashboard_snapshot_counts_pending_alerts_of_every_night(service) -> None:
    put(service.db, "lag", "lag_check", "critical", night=NIGHT - dt.timedelta(days=30))
    put(service.db, "job_failed", "qa", "critical")
    put(service.db, "latency", "api_latency", "warning")
    from praf_engine.db.models import AlertOutbox

    AlertOutbox.update(status="sent").where(AlertOutbox.rule == "latency").execute()
    assert service.dashboard_snapshot(NIGHT).alerts_pending == 2
