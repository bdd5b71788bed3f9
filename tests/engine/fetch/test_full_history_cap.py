"""The nightly cap on full-history downloads (`fetch.full_history_cap`, 500): never-fetched symbols first, the rest
deferred to the following nights, named symbols (--symbols) never capped."""

from __future__ import annotations

import datetime as dt

from praf_engine.db.models import CronStatus, Ticker, TickerFetchMeta
from praf_engine.fetch.batches import plan_night
from praf_engine.lake import Lake
from tests.engine.fetch.conftest import TODAY, insert_universe, lake_matches, run_fetch, with_day


def _tickers(n: int) -> list[str]:
    symbols = [f"S{i:04d}" for i in range(n)]
    Ticker.insert_many([{"symbol": s, "exchange_code": "nasdaq", "exchange_symbol": s, "name": s, "mic": "XNAS",
                         "currency": "USD", "first_seen": TODAY, "last_seen": TODAY, "status": "active"}
                        for s in symbols]).execute()
    return symbols


def test_at_most_500_full_histories_a_night_never_fetched_first(service, settings):
    symbols = _tickers(505)
    assert settings.fetch.full_history_cap == 500
    stale = symbols[:3]  # fetched once, but further behind than fetch.full_history_after_days: full history too
    TickerFetchMeta.insert_many([{"symbol": s, "last_fetched_date": TODAY - dt.timedelta(days=30)} for s in stale]).execute()
    plan = plan_night(settings, TODAY)
    assert len(plan.full) == 500 and plan.symbols == 500
    assert plan.full == symbols[3:503]  # the 502 never fetched come first, in symbol order
    assert plan.deferred == symbols[503:] + stale
    assert not plan.incremental

    named = plan_night(settings, TODAY, symbols=symbols)  # `fetch --symbols`: exactly what was asked, no cap
    assert len(named.full) == 505 and not named.deferred


def test_deferred_full_histories_follow_on_the_next_nights(make_sandbox, fetch_home):
    sandbox = make_sandbox(10)
    settings, service = fetch_home(sandbox, fetch__full_history_cap=3)
    market, lake = sandbox.market, Lake(settings.lake_dir)
    symbols = sorted(insert_universe(market))
    n = len(symbols)
    assert 6 < n <= 9  # three nights at 3 a night

    def fetched() -> set[str]:
        return {m.symbol_id for m in TickerFetchMeta.select().where(TickerFetchMeta.last_fetched_date.is_null(False))}

    def detail() -> dict:
        return CronStatus.select().where(CronStatus.job == "fetch").order_by(CronStatus.id.desc()).first().detail

    assert run_fetch(settings, service.db) == 0
    first = fetched()
    assert first == set(symbols[:3]) and (detail()["planned"], detail()["deferred_full_history"]) == (3, n - 3)
    assert all(lake.last_date(s) is None for s in symbols[3:])

    market.today = TODAY + dt.timedelta(days=3)  # the next session
    assert run_fetch(with_day(settings, market.today), service.db) == 0
    assert fetched() - first == set(symbols[3:6]) and detail()["deferred_full_history"] == n - 6
    assert detail()["planned"] == 6  # three full histories, and the first night's three incrementally

    market.today = TODAY + dt.timedelta(days=4)
    assert run_fetch(with_day(settings, market.today), service.db) == 0
    assert fetched() == set(symbols) and detail()["deferred_full_history"] == 0
    assert all(lake_matches(lake, market, s) for s in symbols)
