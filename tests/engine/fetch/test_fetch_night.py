"""The nightly fetch against the sandbox over real sockets: backfill, incremental nights, faults, guards, DLQ."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np

from praf_engine.db.models import (
    CronStatus,
    DLQSymbol,
    FetchError,
    ScrapeControl,
    Ticker,
    TickerFetchMeta,
    utcnow,
)
from praf_engine.lake import Lake
from praf_engine.sandbox.faults import FaultConfig
from tests.engine.fetch.conftest import TODAY, insert_universe, lake_matches, run_fetch, with_day


def _last_run() -> CronStatus:
    return CronStatus.select().where(CronStatus.job == "fetch").order_by(CronStatus.id.desc()).first()


def _rows(lake: Lake, sym: str) -> np.ndarray:
    return lake.read_symbol(sym, columns=["date"]).column("date").to_numpy()


def test_backfill_then_exactly_one_new_session(make_sandbox, fetch_home):
    sandbox = make_sandbox(50)
    settings, service = fetch_home(sandbox)
    market, lake = sandbox.market, Lake(settings.lake_dir)
    symbols = insert_universe(market)

    assert run_fetch(settings, service.db) == 0
    assert all(lake_matches(lake, market, s) for s in symbols)
    meta = {m.symbol_id: m for m in TickerFetchMeta.select()}
    assert all(meta[s].last_fetched_date == lake.last_date(s) and not meta[s].full_history_pending for s in symbols)
    assert all(len(meta[s].raw_hash) == 64 for s in symbols)
    assert (settings.cache_dir / "yahoo" / symbols[0] / f"{TODAY}.csv").is_file()
    before = {s: len(_rows(lake, s)) for s in symbols}

    market.today = TODAY + dt.timedelta(days=3)  # Friday -> Monday: one new session (Whit Monday closes Oslo)
    assert run_fetch(with_day(settings, market.today), service.db) == 0
    grew = 0
    for s in symbols:
        dates = _rows(lake, s)
        new = [d for d in np.unique(market.bars(s).dates) if d > np.datetime64(TODAY)]
        assert len(new) <= 1 and len(dates) == before[s] + len(new), s
        assert len(np.unique(dates)) == len(dates) and lake_matches(lake, market, s)
        grew += len(new)
    assert grew >= 0.7 * len(symbols)
    assert FetchError.select().count() == 0
    detail = _last_run().detail
    assert detail["outcomes"]["ok"] == len(symbols) and detail["vpn_fail"] is False
    assert TickerFetchMeta.select().where(TickerFetchMeta.latency_ms.is_null()).count() == 0


def test_response_faults_recorded_and_nothing_lost(make_sandbox, fetch_home):
    sandbox = make_sandbox(40)
    settings, service = fetch_home(sandbox, fetch__request_timeout_s=0.5, sandbox__slow_seconds=2.0)
    market, lake = sandbox.market, Lake(settings.lake_dir)
    symbols = insert_universe(market)
    assert run_fetch(settings, service.db) == 0
    stored = {s: _rows(lake, s) for s in symbols}

    kinds = {"empty": "YFEMPTY", "delisted": "YFDELISTED", "malformed_json": "YFMALFORMED", "slow": "YFTIMEOUT", "http_500": "YFHTTP"}
    victims = dict(zip(kinds, symbols[:5], strict=True))
    market.faults = FaultConfig(targets={k: [v] for k, v in victims.items()}, slow_seconds=2.0)
    market.today = TODAY + dt.timedelta(days=3)
    assert run_fetch(with_day(settings, market.today), service.db) == 0  # per-symbol failures are not fatal

    codes = {e.symbol: e.error_code for e in FetchError.select()}
    assert codes == {victims[k]: code for k, code in kinds.items()}
    assert TickerFetchMeta.get_by_id(victims["empty"]).fetch_status == "suspect_missing"
    for s in symbols:
        now = _rows(lake, s)
        assert set(stored[s]) <= set(now) and len(np.unique(now)) == len(now)  # nothing lost or duplicated
        meta = TickerFetchMeta.get_by_id(s)
        if s in victims.values():
            assert meta.last_fetched_date == TODAY and meta.consecutive_failures == 1
        else:
            assert meta.last_fetched_date == lake.last_date(s) == dt.date.fromisoformat(str(market.bars(s).dates[-1]))
    detail = _last_run().detail
    assert detail["outcomes"]["ok"] == len(symbols) - 5 - detail["up_to_date"]


def test_dead_letter_queue_after_three_failed_nights(make_sandbox, fetch_home):
    sandbox = make_sandbox(20)
    settings, service = fetch_home(sandbox)
    market = sandbox.market
    symbols = insert_universe(market)
    assert run_fetch(settings, service.db) == 0
    victim = symbols[3]
    market.faults = FaultConfig(targets={"delisted": [victim]})
    day = TODAY
    for _night in range(3):
        day += dt.timedelta(days=1)
        while day.weekday() >= 5:
            day += dt.timedelta(days=1)
        market.today = day
        assert run_fetch(with_day(settings, day), service.db) == 0
    assert DLQSymbol.get_by_id(victim).failures == 3
    assert [e.consecutive_failures for e in FetchError.select().where(FetchError.symbol == victim).order_by(FetchError.id)] == [1, 2, 3]
    assert run_fetch(with_day(settings, day), service.db, symbols=None) == 0  # the same night again: DLQ skipped
    assert FetchError.select().where(FetchError.symbol == victim).count() == 3


def test_freshness_guard_refuses_a_stale_universe_unless_forced(make_sandbox, fetch_home):
    sandbox = make_sandbox(12)
    settings, service = fetch_home(sandbox)
    symbols = insert_universe(sandbox.market, on=TODAY - dt.timedelta(days=40))
    assert run_fetch(settings, service.db) == 2 or _last_run().error_code == "UNIVERSESTALE"
    assert _last_run().error_code == "UNIVERSESTALE" and TickerFetchMeta.select().count() == 0
    assert run_fetch(settings, service.db, force=True) == 0
    assert TickerFetchMeta.select().where(TickerFetchMeta.fetch_status == "ok").count() == len(symbols)

    Ticker.update(last_seen=TODAY).execute()  # a failed scrape alone does not stop the fetch (test_freshness.py)
    ScrapeControl.create(month="202506", exchange="ftse", scrape_status="structure_error", finished_at=utcnow())
    assert run_fetch(settings, service.db) == 0
    assert _last_run().error_code is None and _last_run().detail["failed_scrapes"] == ["ftse"]


def test_fetch_command_rejects_bad_symbols_and_records_the_run(sqlite_settings, capsys, monkeypatch):
    from praf_engine.cli import main

    monkeypatch.delenv("DATABASE_URL", raising=False)  # this test is about the SQLite home

    home = str(sqlite_settings.home)
    assert main(["--home", home, "fetch"]) == 2  # no home yet: a mistyped --home is refused
    assert main(["--home", home, "init"]) == 0
    assert main(["--home", home, "fetch", "--symbols", "../etc/passwd"]) == 2
    run = _last_run()
    assert run.exit_code == 2 and run.error_code == "CONFIGBAD"
    assert main(["--home", home, "fetch", "--symbols", "NOPE"]) == 2
    assert "unknown symbols" in json.dumps(_last_run().detail)
    assert main(["--home", home, "fetch"]) == 0  # an empty universe is a completed, empty run
    assert _last_run().detail["planned"] == 0
    assert "fetch finished with exit code 0" in capsys.readouterr().err


def test_failing_symbol_absent_from_the_last_scrape_is_delisted(make_sandbox, fetch_home):
    sandbox = make_sandbox(16)
    settings, service = fetch_home(sandbox, fetch__dlq_after_nights=5, fetch__delist_after_failures=2)
    market = sandbox.market
    symbols = insert_universe(market)
    assert run_fetch(settings, service.db) == 0
    gone, kept = symbols[2], symbols[5]
    market.faults = FaultConfig(targets={"delisted": [gone, kept]})
    Ticker.update(last_seen=TODAY + dt.timedelta(days=1)).where(Ticker.symbol != gone).execute()
    ScrapeControl.create(month="202506", exchange="nasdaq", scrape_status="success",
                         finished_at=dt.datetime(2025, 6, 7, 0, 30))  # the scrape saw every symbol but `gone`
    for day in (dt.date(2025, 6, 10), dt.date(2025, 6, 11)):
        market.today = day
        assert run_fetch(with_day(settings, day), service.db) == 0
    assert Ticker.get_by_id(gone).status == "delisted" and Ticker.get_by_id(gone).status_changed == dt.date(2025, 6, 11)
    assert Ticker.get_by_id(kept).status == "active" and TickerFetchMeta.get_by_id(kept).consecutive_failures == 2
    assert DLQSymbol.select().count() == 0
