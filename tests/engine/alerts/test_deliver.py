"""Delivery against the Telegram stub over HTTP with the real python-telegram-bot: the 3 + 1 throttle, outages and
restarts (exactly once), 429 retry_after, 401/403 without a retry storm, no token configured."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest

from praf_engine.alerts.deliver import dispatch, nights_due
from praf_engine.db.models import AlertOutbox
from praf_engine.sandbox.telegram import DEFAULT_CHAT_ID
from praf_engine.service import EngineService
from tests.engine.alerts.conftest import NIGHT, NOW, alert_settings, put

# ten triggers of one night, in no particular order of severity
TEN = [("latency", "yahoo", "warning"), ("lag", "universe", "critical"), ("site_down", "ftse", "warning"),
       ("resolved", "lag:prev", "info"), ("critical_check", "price_jump", "critical"), ("exit_fallback", "fetch", "warning"),
       ("site_down", "dax", "warning"), ("job_failed", "qa", "critical"), ("nordvpn_list", "fetch", "warning"),
       ("critical_check", "ohlc_sanity", "critical")]


def _status(rule_subject: tuple[str, str]) -> str:
    rule, subject = rule_subject
    return AlertOutbox.get((AlertOutbox.rule == rule) & (AlertOutbox.subject == subject)).status


def test_ten_triggers_give_three_messages_and_one_digest_most_severe_first(alerting, stub) -> None:
    db = alerting.db
    for rule, subject, severity in TEN:
        put(db, rule, subject, severity)
    report = dispatch(alerting.wiring, NIGHT, now=NOW)
    texts = [m["text"] for m in stub.messages]
    assert len(texts) == 4 and report.digest_sent and report.pending == 0
    assert [t.split()[0] for t in texts[:3]] == ["lag", "critical_check", "job_failed"]  # critical first, oldest first
    assert texts[3].startswith("📋 PRAF digest for night 2026-03-04: 6 more alert(s)")
    assert "• critical_check: 1 — ohlc_sanity" in texts[3] and "• site_down: 2 — ftse, dax" in texts[3]
    assert "✅ resolved (1):" in texts[3]
    assert all(m["parse_mode"] == "HTML" and str(m["chat_id"]) == str(DEFAULT_CHAT_ID) for m in stub.messages)
    assert all(t.rstrip().endswith("</code>") for t in texts)  # every message ends with the command to run
    # later the same night: another critical alert cannot break the 3 + 1 limit, and nothing is sent twice
    put(db, "missed_run", "fetch", "critical", now=NOW + dt.timedelta(hours=2))
    dispatch(alerting.wiring, NIGHT, now=NOW + dt.timedelta(hours=2))
    assert len(stub.messages) == 4
    assert _status(("missed_run", "fetch")) == "folded"
    assert "digest was sent" in AlertOutbox.get(AlertOutbox.rule == "missed_run").last_error
    assert AlertOutbox.select().where(AlertOutbox.status == "sent").count() == 4


def test_under_the_limit_no_digest_and_muted_rows_go_to_the_digest(alerting, stub) -> None:
    db = alerting.db
    put(db, "lag", "universe")
    dispatch(alerting.wiring, NIGHT, now=NOW)
    assert len(stub.messages) == 1 and AlertOutbox.select().count() == 1  # no digest row either
    from praf_engine.alerts import outbox
    outbox.mute(db, "latency", NOW + dt.timedelta(days=1), "424242", now=NOW)
    put(db, "latency", "yahoo", "warning", now=NOW + dt.timedelta(minutes=5))
    dispatch(alerting.wiring, NIGHT, now=NOW + dt.timedelta(minutes=5))
    assert len(stub.messages) == 2 and "• latency: 1 (1 muted) — yahoo" in stub.messages[1]["text"]


def test_outage_then_restart_then_recovery_delivers_each_exactly_once(alerting, stub, tmp_path, backend) -> None:
    db = alerting.db
    for rule, subject, severity in TEN[:5]:
        put(db, rule, subject, severity)
    stub.stop()  # Telegram unreachable: connection refused
    report = dispatch(alerting.wiring, NIGHT, now=NOW)
    assert report.error_code == "ALERTSEND" and report.sent == []
    rows = list(AlertOutbox.select().where(AlertOutbox.status == "pending"))
    assert len(rows) == 4  # three kept + the digest; the other two were folded
    assert any((r.last_error or "").startswith("ALERTSEND: Telegram unreachable") for r in rows)
    assert nights_due(NOW) == []  # the whole night waits for the back-off (retry_s), not only the failed row
    assert nights_due(NOW + dt.timedelta(seconds=60)) == [NIGHT]
    alerting.close()  # a restart: another process, another database connection, another Bot
    restarted = EngineService.open(alert_settings(tmp_path / "home", backend, stub))
    try:
        stub.start()
        later = NOW + dt.timedelta(hours=3)
        report = restarted.wiring and dispatch(restarted.wiring, NIGHT, now=later)
        assert len(report.sent) == 4 and report.pending == 0 and report.error_code is None
        dispatch(restarted.wiring, NIGHT, now=later + dt.timedelta(hours=1))  # and again: nothing new
        texts = [m["text"] for m in stub.messages]
        assert len(texts) == 4 and len(set(texts)) == 4
        assert texts[0].startswith("lag universe") and texts[3].startswith("📋")
        assert {r.message_id for r in AlertOutbox.select().where(AlertOutbox.status == "sent")} == \
            {m["message_id"] for m in stub.messages}
    finally:
        restarted.close()


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # PTB's own int->timedelta notice
def test_429_retry_after_is_waited_then_sent(alerting, stub) -> None:
    put(alerting.db, "lag", "universe")
    stub.set_failure("rate_limit", count=1, retry_after=1, methods=["sendMessage"])
    started = time.monotonic()
    report = dispatch(alerting.wiring, NIGHT, now=NOW)
    assert time.monotonic() - started >= 1.0
    assert stub.calls["sendMessage"] == 2 and len(stub.messages) == 1 and report.sent
    # a retry_after longer than alerts.max_wait_s: not waited here, the row waits in the outbox
    put(alerting.db, "job_failed", "qa", now=NOW + dt.timedelta(minutes=1))
    stub.set_failure("rate_limit", count=1, retry_after=600, methods=["sendMessage"])
    report = dispatch(alerting.wiring, NIGHT, now=NOW + dt.timedelta(minutes=1))
    row = AlertOutbox.get(AlertOutbox.rule == "job_failed")
    assert row.status == "pending" and row.next_attempt_at == NOW + dt.timedelta(minutes=1, seconds=600)
    assert "429" in row.last_error and report.error_code == "ALERTSEND"


def test_revoked_token_or_blocked_bot_pending_with_a_code_and_no_retry_storm(alerting, stub) -> None:
    for rule, subject, severity in TEN[:3]:
        put(alerting.db, rule, subject, severity)
    for day, (mode, code) in enumerate((("unauthorized", "401"), ("forbidden", "403"))):
        stub.set_failure(mode, methods=["sendMessage"])
        before = stub.calls["sendMessage"]
        report = dispatch(alerting.wiring, NIGHT, now=NOW + dt.timedelta(days=day))
        assert stub.calls["sendMessage"] - before == 1  # one refused request stops the dispatch
        assert report.error_code == "ALERTAUTH" and code in report.error
        for seconds in (10, 59):  # retry passes inside the back-off (alerts.retry_s = 60): not a request
            dispatch(alerting.wiring, NIGHT, now=NOW + dt.timedelta(days=day, seconds=seconds))
        assert stub.calls["sendMessage"] - before == 1
        step = {r.next_attempt_at for r in AlertOutbox.select()}
        assert len(step) == 1  # the whole night waits for the same next attempt
        dispatch(alerting.wiring, NIGHT, now=step.pop())  # then: one request again
        assert stub.calls["sendMessage"] - before == 2
    assert stub.messages == []
    assert AlertOutbox.select().where(AlertOutbox.status != "pending").count() == 0
    assert all(r.last_error is None or r.last_error.startswith("ALERTAUTH") for r in AlertOutbox.select())


def test_no_token_keeps_rows_pending_with_one_log_line_a_night(tmp_path, backend, stub) -> None:
    svc = EngineService.open(alert_settings(tmp_path / "home", backend, stub, telegram_token=None))
    try:
        put(svc.db, "lag", "universe")
        for minutes in (0, 30, 60):
            if minutes == 30:  # a later alert of the same night: still no second line
                put(svc.db, "job_failed", "qa", now=NOW + dt.timedelta(minutes=minutes))
            report = dispatch(svc.wiring, NIGHT, now=NOW + dt.timedelta(minutes=minutes))
            assert report.error_code == "ALERTCONFIG" and "TELEGRAM_BOT_TOKEN" in report.error
        assert stub.calls == {} and {r.status for r in AlertOutbox.select()} == {"pending"}
        assert all("TELEGRAM_BOT_TOKEN" in r.last_error for r in AlertOutbox.select())
        lines = [json.loads(x) for x in (svc.settings.logs_dir / "app.jsonl").read_text().splitlines()]
        assert sum(1 for x in lines if x["error_code"] == "ALERTCONFIG") == 1
    finally:
        svc.close()


def test_html_is_escaped_and_an_overlong_message_is_cut_with_a_marker(alerting, stub) -> None:
    put(alerting.db, "critical_check", "<A&B>", text="price_jump: 1 open failure: <A&B> & Co\n→ praf-tui --screen triage")
    put(alerting.db, "lag", "universe", text="x" * 5000 + "\n→ praf-tui --screen triage --check lag_check")
    dispatch(alerting.wiring, NIGHT, now=NOW)
    first, second = (m["text"] for m in stub.messages)
    assert "&lt;A&amp;B&gt; &amp; Co" in first and "<A&B>" not in first
    assert len(second) <= 4096 and "… (cut: " in second
    assert second.endswith("→ <code>praf-tui --screen triage --check lag_check</code>")


def test_two_dispatchers_at_once_send_each_row_once(alerting, stub) -> None:
    """The daemon's job and a manual `alerts dispatch` racing: the claim (a conditional UPDATE) lets one of them
    send each row."""
    import threading

    for rule, subject, severity in TEN:
        put(alerting.db, rule, subject, severity)
    stub.set_failure("slow", delay=0.05, methods=["sendMessage"])  # keep both inside their sends together
    start = threading.Barrier(2)
    reports: list = []

    def run() -> None:
        start.wait()
        try:
            reports.append(dispatch(alerting.wiring, NIGHT, now=NOW))
        finally:
            alerting.db.close()  # this thread's connection

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(reports) == 2
    texts = [m["text"] for m in stub.messages]
    assert len(texts) == 4 and len(set(texts)) == 4 and texts[3].startswith("📋")
    assert sorted(i for r in reports for i in r.sent) == sorted(
        r.id for r in AlertOutbox.select().where(AlertOutbox.status == "sent"))


CHILD = """
import datetime as dt, json, sys
from praf_engine.alerts.deliver import dispatch
from praf_engine.config import load_settings
from praf_engine.logs import configure_logging
from praf_engine.service import EngineService
settings = load_settings()
configure_logging(settings.logs_dir, secrets=settings.secrets(), console_level=None)
service = EngineService.open(settings)
report = dispatch(service.wiring, dt.date.fromisoformat(sys.argv[1]), now=dt.datetime.fromisoformat(sys.argv[2]))
service.close()
print(json.dumps(report.as_dict()))
"""


def test_a_new_process_after_the_outage_sends_each_row_once(alerting, stub, backend) -> None:
    """The restart is a real one: the dispatch after the outage runs in another process, then this one dispatches
    again; every row reaches the stub exactly once."""
    import subprocess
    import sys

    from tests.conftest import REPO, cli_env

    for rule, subject, severity in TEN[:6]:
        put(alerting.db, rule, subject, severity)
    stub.stop()
    assert dispatch(alerting.wiring, NIGHT, now=NOW).error_code == "ALERTSEND"
    stub.start()
    settings = alerting.settings
    env = cli_env(backend, PRAF_HOME=str(settings.home), TELEGRAM_BOT_TOKEN=settings.telegram_token.get_secret_value(),
                  TELEGRAM_CHAT_ID=settings.telegram_chat_id, PRAF_ALERTS__TELEGRAM_API_URL=stub.api_url)
    later = NOW + dt.timedelta(hours=1)
    child = subprocess.run([sys.executable, "-c", CHILD, NIGHT.isoformat(), later.isoformat()], env=env, cwd=REPO,
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, child.stderr
    assert json.loads(child.stdout.splitlines()[-1])["sent"] == 4
    again = dispatch(alerting.wiring, NIGHT, now=later + dt.timedelta(hours=1))
    assert again.sent == [] and again.pending == 0
    texts = [m["text"] for m in stub.messages]
    assert len(texts) == 4 and len(set(texts)) == 4


def test_messages_ask_for_no_link_preview(alerting, stub) -> None:
    put(alerting.db, "lag", "universe")
    dispatch(alerting.wiring, NIGHT, now=NOW)
    assert json.loads(stub.messages[0]["params"]["link_preview_options"]) == {"is_disabled": True}
