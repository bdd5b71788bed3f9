"""The freshness gate per exchange (seed §1.4 "Scraper fails"): a failed scrape warns and the fetch goes on with
the previous universe; only an exchange whose universe is really old is skipped; every exchange old = refused."""

from __future__ import annotations

import datetime as dt
import json

from praf_engine.db.models import CronStatus, ScrapeControl, Ticker, TickerFetchMeta
from praf_engine.lake import Lake
from praf_engine.sandbox.faults import FaultConfig
from tests.engine.fetch.conftest import TODAY, insert_universe, run_fetch, with_day


def _last_run() -> CronStatus:
    return CronStatus.select().where(CronStatus.job == "fetch").order_by(CronStatus.id.desc()).first()


def _scraped(exchange: str, month: str, day: dt.date, status: str = "success") -> None:
    ScrapeControl.create(month=month, exchange=exchange, scrape_status=status, row_count=10,
                         finished_at=dt.datetime.combine(day, dt.time(0, 30)))


def _warnings(settings, code: str) -> list[dict]:
    lines = [json.loads(line) for line in (settings.logs_dir / "app.jsonl").read_text().splitlines() if line.strip()]
    return [r for r in lines if r.get("error_code") == code and r.get("level") == "warning"]


def _by_exchange(symbols: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for t in Ticker.select().where(Ticker.symbol.in_(symbols)):
        out.setdefault(t.exchange_code, []).append(t.symbol)
    return out


def test_a_failed_scrape_of_one_exchange_warns_and_fetches_its_previous_universe(make_sandbox, fetch_home):
    sandbox = make_sandbox(40)
    settings, service = fetch_home(sandbox)
    symbols = insert_universe(sandbox.market, on=dt.date(2025, 6, 1))
    exchanges = _by_exchange(symbols)
    for code in exchanges:
        _scraped(code, "202506", dt.date(2025, 6, 1))
    ScrapeControl.update(scrape_status="structure_error", error_code="SCRAPESTRUCT").where(ScrapeControl.exchange == "ftse").execute()
    _scraped("ftse", "202505", dt.date(2025, 5, 4))  # ftse: last good universe 33 days old, still within 35

    assert run_fetch(settings, service.db) == 0
    run = _last_run()
    assert run.exit_code == 0 and run.detail["failed_scrapes"] == ["ftse"] and run.detail["stale_exchanges"] == {}
    assert TickerFetchMeta.select().where(TickerFetchMeta.fetch_status == "ok").count() == len(symbols)  # ftse too
    assert Ticker.select().where(Ticker.status != "active").count() == 0  # nothing purged
    warned = _warnings(settings, "UNIVERSESTALE")
    assert warned and "ftse" in json.dumps(warned[-1])


def test_only_the_exchange_whose_universe_is_really_old_is_skipped(make_sandbox, fetch_home):
    sandbox = make_sandbox(40)
    settings, service = fetch_home(sandbox)
    symbols = insert_universe(sandbox.market, on=TODAY)
    exchanges = _by_exchange(symbols)
    for code in exchanges:
        _scraped(code, "202506", dt.date(2025, 6, 1))
    old = dt.date(2025, 4, 20)  # 47 days before the night: beyond fetch.universe_max_age_days (35)
    ScrapeControl.delete().where(ScrapeControl.exchange == "dax").execute()
    _scraped("dax", "202504", old)
    _scraped("dax", "202505", dt.date(2025, 5, 31), "error")
    _scraped("dax", "202506", dt.date(2025, 6, 1), "error")
    Ticker.update(last_seen=old).where(Ticker.exchange_code == "dax").execute()

    assert run_fetch(settings, service.db) == 0
    run = _last_run()
    assert run.detail["stale_exchanges"] == {"dax": 47} and run.detail["failed_scrapes"] == ["dax"]
    assert run.detail["skipped_stale"] == len(exchanges["dax"])
    fetched = {m.symbol_id for m in TickerFetchMeta.select().where(TickerFetchMeta.fetch_status == "ok")}
    assert fetched == set(symbols) - set(exchanges["dax"])
    assert Ticker.select().where(Ticker.status != "active").count() == 0
    assert any("dax" in json.dumps(w) for w in _warnings(settings, "UNIVERSESTALE"))

    one = exchanges["dax"][0]  # --symbols: the operator named it, so it is fetched (and the state logged)
    assert run_fetch(settings, service.db, symbols=[one]) == 0
    assert TickerFetchMeta.get_by_id(one).fetch_status == "ok" and _last_run().detail["stale_exchanges"] == {"dax": 47}

    assert run_fetch(settings, service.db, force=True) == 0  # --force: every exchange
    assert TickerFetchMeta.select().where(TickerFetchMeta.fetch_status == "ok").count() == len(symbols)
    assert _last_run().detail["skipped_stale"] == 0


def test_every_exchange_old_refuses_the_whole_fetch(make_sandbox, fetch_home):
    sandbox = make_sandbox(12)
    settings, service = fetch_home(sandbox)
    insert_universe(sandbox.market, on=TODAY - dt.timedelta(days=40))
    assert run_fetch(settings, service.db) == 1
    run = _last_run()
    assert run.error_code == "UNIVERSESTALE" and TickerFetchMeta.select().count() == 0
    assert set(run.detail["error"]["detail"]["stale_exchanges"]) == {t.exchange_code for t in Ticker.select()}


def test_a_failing_listing_of_an_exchange_whose_scrape_failed_is_not_delisted(make_sandbox, fetch_home):
    """Delisting needs the listing's own exchange to have been scraped without it: another exchange's newer
    scrape does not count, and a failed scrape of its own exchange keeps it."""
    sandbox = make_sandbox(40)
    settings, service = fetch_home(sandbox, fetch__dlq_after_nights=5, fetch__delist_after_failures=2)
    market = sandbox.market
    symbols = insert_universe(market, on=dt.date(2025, 5, 12))
    exchanges = _by_exchange(symbols)
    for code in exchanges:
        _scraped(code, "202505", dt.date(2025, 5, 12))
    Ticker.update(last_seen=dt.date(2025, 6, 5)).where(Ticker.exchange_code != "ftse").execute()
    for code in exchanges:
        _scraped(code, "202506", dt.date(2025, 6, 5), "success" if code != "ftse" else "error")
    assert run_fetch(settings, service.db) == 0
    victim = exchanges["ftse"][0]
    market.faults = FaultConfig(targets={"delisted": [victim]})
    for day in (dt.date(2025, 6, 9), dt.date(2025, 6, 10)):
        market.today = day
        assert run_fetch(with_day(settings, day), service.db) == 0
    assert TickerFetchMeta.get_by_id(victim).consecutive_failures == 2
    assert Ticker.get_by_id(victim).status == "active"
    assert Lake(settings.lake_dir).last_date(victim) is not None
