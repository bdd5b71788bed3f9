"""Proof: each alert of the seed's table (§5.4, §1.2, §2.2, §7) comes from a real run on the sandbox with the matching
fault injected — the real fetch, QA and scrape jobs — and the alerts job sends it through the sandbox's Telegram stub
with python-telegram-bot. (site_down, missed_run and dead_scheduler: test_watchdog.py.)"""

from __future__ import annotations

import datetime as dt
from typing import Any

from praf_engine.alerts.evaluate import alerts_job
from praf_engine.db.models import AlertOutbox, CronStatus, QACheck
from praf_engine.jobs.runner import JobRunner
from praf_engine.sandbox.faults import FaultConfig
from praf_engine.sandbox.telegram import DEFAULT_CHAT_ID, DEFAULT_TOKEN
from praf_engine.sandbox.wiring import sandbox_wiring
from tests.engine.fetch import conftest as fetch_fixtures
from tests.engine.fetch.conftest import TODAY, insert_universe, run_fetch, with_day

make_sandbox, fetch_home = fetch_fixtures.make_sandbox, fetch_fixtures.fetch_home  # the fetch tests' fixtures, here too

AT_TWO = dt.datetime.combine(TODAY, dt.time(2, 0))  # the scheduler's alerts time: before the fetch deadline
TELEGRAM = {"telegram_token": DEFAULT_TOKEN, "telegram_chat_id": str(DEFAULT_CHAT_ID), "alerts__send_backoff_s": [0.0]}


def send_alerts(settings: Any, service: Any, now: dt.datetime = AT_TWO) -> int:
    """The alerts job as the scheduler runs it at 02:00 of the sandbox's night."""
    wiring = sandbox_wiring(settings, db=service.db).with_clock(lambda: now)
    return JobRunner(wiring).run("alerts", alerts_job)


def rows() -> dict[str, AlertOutbox]:
    return {f"{r.rule}:{r.subject}": r for r in AlertOutbox.select()}


def messages(sandbox: Any) -> list[str]:
    return [m["text"] for m in sandbox.telegram.messages]


def last(job: str) -> CronStatus:
    return CronStatus.select().where(CronStatus.job == job).order_by(CronStatus.id.desc()).get()


def test_api_down_is_sent_and_the_next_good_fetch_resolves_it(make_sandbox, fetch_home) -> None:
    sandbox = make_sandbox(30, exits=3)
    sandbox.yahoo.start_storm(10**6)  # Yahoo answers only 429, on every exit: an outage
    settings, service = fetch_home(sandbox, fetch__batch_size=3, fetch__workers=2, **TELEGRAM)
    insert_universe(sandbox.market)
    assert run_fetch(settings, service.db) == 1 and last("fetch").error_code == "APIDOWN"
    assert send_alerts(settings, service) == 0
    assert list(rows()) == ["job_failed:fetch"]
    sent = messages(sandbox)
    assert len(sent) == 1 and sent[0].startswith("❗ Fetch stopped: Yahoo API down [APIDOWN]: fetch exited 1")
    assert last("fetch").run_id in sent[0] and "→ <code>grep " in sent[0]

    sandbox.yahoo.reset()  # Yahoo is back the same night: the rerun succeeds
    assert run_fetch(settings, service.db) == 0
    assert send_alerts(settings, service, AT_TWO + dt.timedelta(hours=1)) == 0
    assert rows()["resolved:job_failed:fetch"].status == "folded"  # a resolved line: in the digest, not a message
    assert len(messages(sandbox)) == 2 and "resolved: job_failed (fetch)" in messages(sandbox)[1]


def test_vpn_fallback_is_a_warning(make_sandbox, fetch_home) -> None:
    sandbox = make_sandbox(20, exits=3)
    for i in range(3):
        sandbox.pool.set_failure(i, "refuse")  # no exit connects: direct with half batches
    settings, service = fetch_home(sandbox, fetch__batch_size=10, **TELEGRAM)
    insert_universe(sandbox.market)
    assert run_fetch(settings, service.db) == 0
    assert send_alerts(settings, service) == 0
    assert list(rows()) == ["exit_fallback:fetch"] and rows()["exit_fallback:fetch"].severity == "warning"
    assert messages(sandbox)[0].startswith(f"⚠ VPN rotation exhausted: night {TODAY} fetched direct with half batches (5 a batch)")


def test_nordvpn_list_unavailable(make_sandbox, fetch_home) -> None:
    sandbox = make_sandbox(12, exits=2)
    sandbox.nordvpn.set_fault("http_500")
    settings, service = fetch_home(sandbox, exits__kind="nordvpn", fetch__batch_size=6, **TELEGRAM)
    insert_universe(sandbox.market)
    assert run_fetch(settings, service.db) == 0 and last("fetch").detail["nordvpn_list"] == "none"
    assert send_alerts(settings, service) == 0
    assert set(rows()) == {"nordvpn_list:fetch", "exit_fallback:fetch"}
    assert any(m.startswith(f"⚠ NordVPN server list unavailable for night {TODAY}: none kept either") for m in messages(sandbox))


def test_a_stale_universe_refused_by_the_fetch(make_sandbox, fetch_home) -> None:
    sandbox = make_sandbox(12)
    settings, service = fetch_home(sandbox, **TELEGRAM)
    insert_universe(sandbox.market, on=TODAY - dt.timedelta(days=40))
    assert run_fetch(settings, service.db) != 0 and last("fetch").error_code == "UNIVERSESTALE"
    assert send_alerts(settings, service) == 0
    assert list(rows()) == ["universe_stale:universe"]
    assert messages(sandbox)[0].startswith("🚨 Universe stale, the fetch refused to run: refusing to fetch")


def test_lag_price_jumps_and_latency_from_the_night_s_fetch_and_qa(make_sandbox, fetch_home) -> None:
    from praf_engine.qa.runner import qa_job

    faults = FaultConfig(rates={"delisted": 0.25, "jump": 0.15, "slow": 1.0}, slow_seconds=0.25)
    sandbox = make_sandbox(40, faults=faults)
    settings, service = fetch_home(sandbox, qa__latency_p95_s=0.2, qa__latency_nights=1, **TELEGRAM)
    insert_universe(sandbox.market, on=TODAY - dt.timedelta(days=1))
    assert run_fetch(with_day(settings, TODAY - dt.timedelta(days=1)), service.db) == 0  # last night (slow: QA's as-of)
    assert run_fetch(settings, service.db) == 0
    assert JobRunner(sandbox_wiring(settings, db=service.db)).run("qa", qa_job) == 0
    assert send_alerts(settings, service) == 0
    got = rows()
    assert {"lag:lag_check", "critical_check:price_jump", "latency:api_latency"} <= set(got), set(got)
    assert got["lag:lag_check"].text.startswith("🚨 Data lag: ") and "listings > 2 trading days behind" in got["lag:lag_check"].text
    assert got["critical_check:price_jump"].text.startswith("🔥 price_jump: ")
    assert "Yahoo latency: P95" in got["latency:api_latency"].text and got["latency:api_latency"].severity == "warning"
    sent = messages(sandbox)
    assert len(sent) <= settings.alerts.max_per_night + 1 and sent[0].startswith(("🚨", "🔥"))


def test_a_qa_crash_is_sent_as_the_seed_words_it(make_sandbox, fetch_home) -> None:
    from praf_engine.qa.runner import qa_job

    sandbox = make_sandbox(12)
    settings, service = fetch_home(sandbox, **TELEGRAM)
    insert_universe(sandbox.market)
    assert run_fetch(settings, service.db) == 0
    JobRunner(sandbox_wiring(settings, db=service.db)).run("qa", qa_job)  # seeds the checks' rows
    QACheck.update(threshold_params={"max_move": "seventy-five"}).where(QACheck.check_name == "price_jump").execute()
    assert JobRunner(sandbox_wiring(settings, db=service.db)).run("qa", qa_job) == 1 and last("qa").error_code == "QAFAIL"
    assert send_alerts(settings, service) == 0
    assert "job_failed:qa" in rows()
    assert any(m.startswith("❗ QA pipeline crashed [QAFAIL]: qa exited 1") for m in messages(sandbox))


def test_a_scrape_structure_error_keeps_the_previous_universe_and_is_sent(make_sandbox, fetch_home) -> None:
    from praf_engine.universe.job import make_scrape_job

    sandbox = make_sandbox(60, faults=FaultConfig(targets={"broken_structure": ["dax"]}))
    settings, service = fetch_home(sandbox, **TELEGRAM)
    assert JobRunner(sandbox_wiring(settings, db=service.db)).run("scrape", make_scrape_job(["dax"])) == 1
    assert last("scrape").error_code == "SCRAPESTRUCT"
    assert send_alerts(settings, service) == 0
    text = rows()["job_failed:scrape"].text
    assert text.startswith("❗ Scrape: page structure changed [SCRAPESTRUCT]") and "previous universe kept" in text
    assert "dax (SCRAPESTRUCT)" in text and len(messages(sandbox)) == 1
