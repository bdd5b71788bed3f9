"""The bot token never reaches a log line: python-telegram-bot and httpx log request URLs holding it (debug level),
from the dispatcher and from the command listener."""

from __future__ import annotations

import datetime as dt
import threading

from praf_engine.alerts.bot import start_listener
from praf_engine.alerts.deliver import dispatch
from praf_engine.db.models import AlertOutbox
from praf_engine.sandbox.telegram import DEFAULT_TOKEN
from tests.engine.alerts.conftest import NIGHT, NOW, put


def test_no_log_line_of_a_run_holds_the_token(alerting, stub, capfd) -> None:
    put(alerting.db, "lag", "universe")
    put(alerting.db, "job_failed", "qa")
    put(alerting.db, "exit_fallback", "fetch", "warning")
    stub.set_failure("server_error", count=3, methods=["sendMessage"])  # retried: errors logged with their text
    dispatch(alerting.wiring, NIGHT, now=NOW)
    stub.set_failure("unauthorized", count=1, methods=["sendMessage"])
    report = dispatch(alerting.wiring, NIGHT, now=NOW + dt.timedelta(hours=1))
    dispatch(alerting.wiring, NIGHT, now=NOW + dt.timedelta(hours=5))
    assert len(stub.messages) == 3
    stop = threading.Event()  # and the command listener's long polls and replies
    listener = start_listener(alerting.wiring, stop)
    stub.push_command("/status")
    assert stub.wait_for_messages(4, 15)
    stop.set()
    listener.join(15)
    log = (alerting.settings.logs_dir / "app.jsonl").read_text()
    requests = [x for x in log.splitlines() if "HTTP Request: POST" in x]
    assert requests and all("/bot***/" in x for x in requests)  # httpx's lines are there, redacted
    assert any("/bot***/getUpdates" in x for x in requests)
    head, _, tail = DEFAULT_TOKEN.partition(":")
    out, err = capfd.readouterr()
    errors = [r.last_error or "" for r in AlertOutbox.select()] + [report.error or ""]
    assert any("ALERTAUTH" in e for e in errors)  # errors were written, none with the token
    for text in (log, out, err, *errors):
        assert DEFAULT_TOKEN not in text and tail not in text
