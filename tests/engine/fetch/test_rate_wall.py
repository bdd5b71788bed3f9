"""The circuit breaker's two verdicts: a 429 wall on a direct connection (YFRATELIMIT) versus an outage (APIDOWN)."""

from __future__ import annotations

import json

from praf_engine.db.models import BatchLatency, CronStatus, FetchError, TickerFetchMeta
from praf_engine.errors import CATALOGUE
from praf_engine.sandbox.faults import FaultConfig
from tests.engine.fetch.conftest import insert_universe, run_fetch


def _last_run() -> CronStatus:
    return CronStatus.select().where(CronStatus.job == "fetch").order_by(CronStatus.id.desc()).first()


def _nothing_counted() -> None:
    assert FetchError.select().count() == 0
    assert TickerFetchMeta.select().where(TickerFetchMeta.consecutive_failures > 0).count() == 0


def _log(settings) -> list[dict]:
    return [json.loads(x) for x in (settings.logs_dir / "app.jsonl").read_text().splitlines()]


def test_a_429_wall_on_a_direct_connection_is_yfratelimit_and_counts_nothing(make_sandbox, fetch_home):
    # the emulator's 429 fault on every symbol, with storms longer than the night: this address gets only 429s
    walled = FaultConfig(rates={"storm_429": 1.0}, storm_length=10**6)
    sandbox = make_sandbox(30, faults=walled)
    settings, service = fetch_home(sandbox, fetch__batch_size=3, fetch__workers=2)
    symbols = insert_universe(sandbox.market)
    assert run_fetch(settings, service.db) == CATALOGUE["YFRATELIMIT"].exit_code
    run = _last_run()
    assert run.error_code == "YFRATELIMIT" and run.detail["error"]["error_code"] == "YFRATELIMIT"
    assert run.detail["done"] < len(symbols) and run.detail["outcomes"]["not_counted"] > 0
    assert sandbox.yahoo.statuses[429] > 0 and not TickerFetchMeta.select().where(TickerFetchMeta.fetch_status == "ok").exists()
    _nothing_counted()
    assert any(x["error_code"] == "YFRATELIMIT" and x["level"] == "error" for x in _log(settings))
    assert not any(x["error_code"] == "APIDOWN" for x in _log(settings))


def test_a_429_wall_after_the_vpn_fallback_is_yfratelimit(make_sandbox, fetch_home):
    sandbox = make_sandbox(30, exits=3)
    for i in range(3):
        sandbox.pool.set_failure(i, "refuse")  # every exit down: the pool falls back to direct
    sandbox.yahoo.start_storm(10**6, client_ip="127.0.0.1")  # ... where Yahoo answers only 429
    settings, service = fetch_home(sandbox, fetch__batch_size=6, fetch__workers=2)
    insert_universe(sandbox.market)
    assert run_fetch(settings, service.db) == 1
    run = _last_run()
    assert run.error_code == "YFRATELIMIT" and run.detail["vpn_fail"] is True
    assert {c.exit_name for c in BatchLatency.select()} == {"direct"}
    _nothing_counted()


def test_a_storm_on_every_exit_is_still_apidown(make_sandbox, fetch_home):
    sandbox = make_sandbox(30, exits=3)
    sandbox.yahoo.start_storm(10**6)  # every address, every request: not one IP's limit, Yahoo is down
    settings, service = fetch_home(sandbox, fetch__batch_size=3, fetch__workers=2)
    symbols = insert_universe(sandbox.market)
    assert run_fetch(settings, service.db) == 1
    run = _last_run()
    assert run.error_code == "APIDOWN" and run.detail["vpn_fail"] is False
    assert run.detail["done"] < len(symbols)  # stopped early
    assert {c.exit_name for c in BatchLatency.select()} - {"direct"}  # through the exits, not direct
    _nothing_counted()

    sandbox.yahoo.reset()  # Yahoo is back: the next run catches up everything
    assert run_fetch(settings, service.db) == 0
    assert TickerFetchMeta.select().where(TickerFetchMeta.fetch_status == "ok").count() == len(symbols)
