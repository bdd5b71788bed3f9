"""`praf-engine run retention` archives long-delisted tickers and exports last years' archived rows (SPEC §2, §4)."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
from pathlib import Path

from praf_engine.db.models import CronStatus, Ticker, TickerFetchMeta
from praf_engine.service import EngineService
from tests.conftest import make_settings
from tests.engine.test_cli import praf


def _ticker(symbol: str, status: str, changed: dt.date) -> None:
    Ticker.create(symbol=symbol, exchange_code="nasdaq", exchange_symbol=symbol, name=f"{symbol} Inc.", currency="USD",
                  mic="XNAS", first_seen=dt.date(2015, 1, 2), last_seen=changed, status=status, status_changed=changed,
                  scraper_source="NasdaqScraper")


def test_retention_run_archives_old_delisted_and_writes_the_yearly_export(tmp_path: Path, backend: str | None) -> None:
    home = tmp_path / "home"
    assert praf(home, "init", backend=backend).returncode == 0
    today = dt.datetime.now(dt.UTC).date()
    last_year = today.year - 1
    settings = make_settings(home, backend)
    service = EngineService.open(settings, init=False)
    try:
        _ticker("OLDCO", "delisted", today - dt.timedelta(days=3 * 366))  # delisted > 24 months: archived now
        _ticker("RECENT", "delisted", today - dt.timedelta(days=200))  # not yet
        _ticker("LIVE", "active", today)
        _ticker("GONE", "archived", dt.date(last_year, 3, 15))  # archived last year: exported and deleted
        TickerFetchMeta.create(symbol="GONE", last_fetched_date=dt.date(last_year - 2, 3, 1))
    finally:
        service.close()

    run = praf(home, "run", "retention", backend=backend)
    assert run.returncode == 0, run.stderr

    export = home / "archive" / f"tickers_{last_year}.csv.gz"
    with gzip.open(export, "rt", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["symbol"], r["status"], r["status_changed"], r["name"]) for r in rows] == \
        [("GONE", "archived", f"{last_year}-03-15", "GONE Inc.")]
    service = EngineService.open(settings, init=False)
    try:
        statuses = {t.symbol: (t.status, t.status_changed) for t in Ticker.select()}
        assert statuses == {"OLDCO": ("archived", today), "RECENT": ("delisted", today - dt.timedelta(days=200)),
                            "LIVE": ("active", today)}
        assert not TickerFetchMeta.select().where(TickerFetchMeta.symbol == "GONE").exists()
        detail = CronStatus.get(CronStatus.job == "retention").detail
        assert detail["archive"] == {"archived": 1, "exported": {f"tickers_{last_year}.csv.gz": 1}}
    finally:
        service.close()

    again = praf(home, "run", "retention", backend=backend)  # idempotent: nothing new to archive or export
    assert again.returncode == 0, again.stderr
    with gzip.open(export, "rt", encoding="utf-8", newline="") as fh:
        assert [r["symbol"] for r in csv.DictReader(fh)] == ["GONE"]
