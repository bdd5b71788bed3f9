"""Stale at source: a listing whose Yahoo history stopped long ago (acquired, renamed) is recorded YFSTALE, not ok,
backed off (not downloaded every night) and dead-lettered after fetch.stale_dlq_after_nights; end to end through the
sandbox's Yahoo emulator with the real yfinance."""

from __future__ import annotations

import datetime as dt

from praf_engine.db.models import CronStatus, DLQSymbol, FetchError, Ticker, TickerFetchMeta
from praf_engine.lake import Lake
from praf_engine.sandbox.faults import FaultConfig
from praf_engine.sandbox.market import Market
from tests.engine.fetch.conftest import TODAY, insert_universe, run_fetch, with_day


def _last_run() -> CronStatus:
    return CronStatus.select().where(CronStatus.job == "fetch").order_by(CronStatus.id.desc()).first()


def _stale_victim(market: Market) -> tuple[str, dt.date]:
    """A long-listed symbol, made stale at source; (symbol, the last day Yahoo has)."""
    victim = next(x.symbol for x in market.universe() if x.listed_on < dt.date(2024, 1, 1) and x.exchange_code == "nasdaq")
    market.faults = FaultConfig(targets={"stale_source": [victim]})
    (inj,) = market.injections([victim])
    assert inj.kind == "stale_source" and inj.dates[0] < market.today - dt.timedelta(days=60)
    return victim, inj.dates[0]


def _night(sandbox, settings, service, day: dt.date) -> int:
    sandbox.market.today = day
    return run_fetch(with_day(settings, day), service.db)


def test_stale_at_source_is_recorded_backed_off_then_dead_lettered(make_sandbox, fetch_home):
    sandbox = make_sandbox(30)
    settings, service = fetch_home(sandbox, fetch__stale_backoff_nights=[1, 2], fetch__stale_dlq_after_nights=4)
    market, requests = sandbox.market, sandbox.yahoo.chart_requests
    symbols = insert_universe(market)
    victim, ends = _stale_victim(market)

    # night 1: the full download brings nothing near the night -> YFSTALE, not ok (its history is still kept)
    assert _night(sandbox, settings, service, TODAY) == 0
    meta = TickerFetchMeta.get_by_id(victim)
    assert (meta.fetch_status, meta.last_error_code) == ("stale", "YFSTALE")
    assert meta.last_fetched_date == ends == Lake(settings.lake_dir).last_date(victim)
    assert meta.stale_since == TODAY and meta.retry_after == TODAY + dt.timedelta(days=2)
    (error,) = FetchError.select().where(FetchError.symbol == victim)
    assert error.error_code == "YFSTALE" and ends.isoformat() in error.msg
    detail = _last_run().detail
    assert detail["outcomes"]["stale"] == 1 and detail["outcomes"]["ok"] == len(symbols) - 1
    asked = requests[victim]
    assert asked >= 1

    # night 2: backed off, not asked for at all
    assert _night(sandbox, settings, service, TODAY + dt.timedelta(days=1)) == 0
    assert requests[victim] == asked and _last_run().detail["stale_backed_off"] == 1
    assert FetchError.select().where(FetchError.symbol == victim).count() == 1

    # night 3: retried (a small incremental request), still stale: backed off two nights
    assert _night(sandbox, settings, service, TODAY + dt.timedelta(days=2)) == 0
    assert requests[victim] > asked
    meta = TickerFetchMeta.get_by_id(victim)
    assert meta.stale_checks == 2 and meta.retry_after == TODAY + dt.timedelta(days=5)
    for day in (3, 4):
        asked = requests[victim]
        assert _night(sandbox, settings, service, TODAY + dt.timedelta(days=day)) == 0
        assert requests[victim] == asked

    # night 6: stale for 5 nights >= 4 -> the dead-letter queue (skipped until the monthly scrape sees it again)
    assert _night(sandbox, settings, service, TODAY + dt.timedelta(days=5)) == 0
    dlq = DLQSymbol.get_by_id(victim)
    assert dlq.reason == "YFSTALE" and Ticker.get_by_id(victim).status == "active"  # still listed by its exchange
    asked = requests[victim]
    assert _night(sandbox, settings, service, TODAY + dt.timedelta(days=9)) == 0
    assert requests[victim] == asked
    assert [e.error_code for e in FetchError.select().where(FetchError.symbol == victim)] == ["YFSTALE"] * 3


def test_an_incremental_fetch_that_brings_only_old_bars_is_stale_and_recovers(make_sandbox, fetch_home):
    sandbox = make_sandbox(30)
    settings, service = fetch_home(sandbox, fetch__full_history_after_days=90, fetch__stale_backoff_nights=[1])
    market = sandbox.market
    victim, ends = _stale_victim(market)
    first = ends + dt.timedelta(days=1)
    insert_universe(market, on=first + dt.timedelta(days=30))
    assert _night(sandbox, settings, service, first) == 0  # Yahoo's history ends the day before: fresh, ok
    assert TickerFetchMeta.get_by_id(victim).fetch_status == "ok"

    later = first + dt.timedelta(days=30)  # a month on, the incremental request still ends on `ends`
    assert _night(sandbox, settings, service, later) == 0
    meta = TickerFetchMeta.get_by_id(victim)
    assert (meta.fetch_status, meta.last_error_code, meta.last_fetched_date) == ("stale", "YFSTALE", ends)
    assert not meta.full_history_pending

    market.faults = FaultConfig()  # Yahoo catches up: the retry is ok again and the stale state cleared
    assert _night(sandbox, settings, service, later + dt.timedelta(days=2)) == 0
    meta = TickerFetchMeta.get_by_id(victim)
    assert meta.fetch_status == "ok" and meta.stale_since is None and meta.retry_after is None and meta.stale_checks == 0
    assert meta.last_fetched_date > ends
