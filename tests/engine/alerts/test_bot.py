"""The command listener over the stub's long polling with python-telegram-bot's Application: /mute /unmute /status
/help only from the configured chats; garbage gets a usage reply; the listener's retry pass catches up an outage."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest

from praf_engine.alerts import outbox
from praf_engine.alerts.bot import UsageError, parse_mute, start_listener
from praf_engine.alerts.deliver import dispatch
from praf_engine.db.models import AlertMute, AlertOutbox, CronStatus
from praf_engine.sandbox.telegram import DEFAULT_CHAT_ID
from tests.engine.alerts.conftest import NIGHT, NOW, put

STRANGER = 777001


@pytest.fixture
def listening(alerting, stub):
    wiring = alerting.wiring.with_clock(lambda: NOW)
    stop = threading.Event()
    thread = start_listener(wiring, stop)
    assert stub.wait_for_long_poll(15)
    yield wiring
    stop.set()
    thread.join(15)
    assert not thread.is_alive()


def _ask(stub, text: str, n: int) -> str:
    stub.push_command(text)
    assert stub.wait_for_messages(n, 15), f"no reply to {text}"
    return stub.messages[n - 1]["text"]


def test_mute_lag_from_the_operator_mutes_from_another_chat_nothing(listening, stub, alerting) -> None:
    stub.push_command("/mute lag 1d", chat_id=STRANGER, user="intruder")
    stub.push_command("/mute 2h", chat_id=STRANGER, user="intruder")
    reply = _ask(stub, "/mute lag 1d", 1)  # handled after the stranger's updates (in order)
    assert reply.startswith("🔕 lag muted until 2026-03-05 02:00 UTC")
    mutes = list(AlertMute.select())
    assert [(m.rule, m.muted_until) for m in mutes] == [("lag", NOW + dt.timedelta(days=1))]
    assert mutes[0].created_by.startswith(f"telegram:{DEFAULT_CHAT_ID}:")
    assert all(str(m["chat_id"]) == str(DEFAULT_CHAT_ID) for m in stub.messages)  # never a reply to the stranger
    assert put(alerting.db, "lag", "universe").status == "muted"
    assert put(alerting.db, "job_failed", "qa").status == "pending"
    lines = [json.loads(x) for x in (alerting.settings.logs_dir / "app.jsonl").read_text().splitlines()]
    ignored = [x for x in lines if x["msg"] == "telegram command from an unconfigured chat ignored"]
    assert [x["detail"]["chat_id"] for x in ignored] == [STRANGER, STRANGER]


def test_garbage_gets_a_usage_reply_then_unmute_status_help(listening, stub) -> None:
    assert "not a duration: 'forever'" in _ask(stub, "/mute lag forever", 1)
    assert "unknown alert rule 'lagg'" in _ask(stub, "/mute lagg 1d", 2)
    assert "at most 90 days" in _ask(stub, "/mute 1000d", 3)
    assert "at most 90 days" in _ask(stub, "/mute 99999999999999999999d", 4)
    assert AlertMute.select().count() == 0
    assert _ask(stub, "/mute 2h", 5).startswith("🔕 all alerts muted until 2026-03-04 04:00 UTC")
    assert _ask(stub, "/unmute", 6) == "🔔 1 mute(s) ended"
    assert outbox.mutes(None, NOW) == []
    CronStatus.create(job="fetch", run_id="r1", started_at=NOW - dt.timedelta(hours=1), finished_at=NOW, exit_code=0)
    CronStatus.create(job="qa", run_id="r2", started_at=NOW - dt.timedelta(minutes=15), finished_at=NOW,
                      exit_code=1, error_code="QAFAIL")
    status = _ask(stub, "/status", 7)
    assert status.startswith("📊 PRAF status 2026-03-04 02:00 UTC") and "Lag > 2 trading days: 0" in status
    assert "  qa: exit 1 03-04 01:45 [QAFAIL]\n  fetch: ok 03-04 01:00" in status
    assert "Outbox: 0 pending" in status
    assert "/mute RULE DURATION" in _ask(stub, "/help", 8)
    assert "/mute RULE DURATION" in _ask(stub, "/what", 9)


def test_the_listener_retries_what_an_outage_left_pending(alerting, stub) -> None:
    put(alerting.db, "lag", "universe")
    stub.set_failure("down", methods=["sendMessage"])
    assert dispatch(alerting.wiring, NIGHT, now=NOW).error_code == "ALERTSEND"
    assert AlertOutbox.get().status == "pending"
    stub.set_failure("none")
    stop = threading.Event()
    thread = start_listener(alerting.wiring.with_clock(lambda: NOW + dt.timedelta(hours=2)), stop)
    try:
        assert stub.wait_for_messages(1, 15)
    finally:
        stop.set()
        thread.join(15)
    assert AlertOutbox.get().status == "sent" and len(stub.messages) == 1


def test_parse_mute() -> None:
    assert parse_mute(["2h"]) == (None, dt.timedelta(hours=2))
    assert parse_mute(["LAG", "1d"]) == ("lag", dt.timedelta(days=1))
    for bad in ([], ["2x"], ["0m"], ["lag"], ["lag", "1d", "x"], ["resolved", "1d"], ["all", "1d"], ["9" * 30 + "w"]):
        with pytest.raises(UsageError):
            parse_mute(bad)
