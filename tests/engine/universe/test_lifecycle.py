"""Archival of long-delisted tickers and the yearly export to archive/tickers_YYYY.csv.gz."""

from __future__ import annotations

import csv
import datetime as dt
import gzip

from praf_engine.db.models import Ticker
from praf_engine.universe.lifecycle import archive_delisted


def _ticker(symbol: str, status: str, changed: dt.date) -> None:
    Ticker.create(symbol=symbol, exchange_code="nasdaq", exchange_symbol=symbol, name=f"{symbol} Inc.", currency="USD",
                  mic="XNYS", first_seen=dt.date(2020, 1, 1), last_seen=changed, status=status, status_changed=changed,
                  scraper_source="NasdaqScraper")


def _export(settings, year: int) -> list[dict[str, str]]:
    with gzip.open(settings.archive_dir / f"tickers_{year}.csv.gz", "rt", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_delisted_over_24_months_archived_then_exported_yearly_and_deleted(settings, service) -> None:
    today = dt.date(2025, 6, 1)
    _ticker("OLD", "delisted", dt.date(2023, 5, 31))  # 24 months and a day
    _ticker("RECENT", "delisted", dt.date(2023, 6, 1))  # exactly 24 months: not yet
    _ticker("LIVE", "active", dt.date(2020, 1, 1))
    assert archive_delisted(settings, today) == {"archived": 1, "exported": {}}
    statuses = {t.symbol: (t.status, t.status_changed) for t in Ticker.select()}
    assert statuses == {"OLD": ("archived", today), "RECENT": ("delisted", dt.date(2023, 6, 1)),
                        "LIVE": ("active", dt.date(2020, 1, 1))}
    assert not settings.archive_dir.exists() or not list(settings.archive_dir.iterdir())  # exported only next year

    next_year = dt.date(2026, 1, 2)
    result = archive_delisted(settings, next_year)
    assert result == {"archived": 1, "exported": {"tickers_2025.csv.gz": 1}}  # RECENT archived now, OLD exported
    rows = _export(settings, 2025)
    assert [(r["symbol"], r["status"], r["status_changed"], r["name"]) for r in rows] == \
        [("OLD", "archived", "2025-06-01", "OLD Inc.")]
    assert set(Ticker.select(Ticker.symbol).tuples()) == {("RECENT",), ("LIVE",)}

    # a second export into the same year's file appends and does not duplicate
    _ticker("LATE", "archived", dt.date(2025, 12, 31))
    assert archive_delisted(settings, next_year)["exported"] == {"tickers_2025.csv.gz": 1}
    assert [r["symbol"] for r in _export(settings, 2025)] == ["OLD", "LATE"]
    assert archive_delisted(settings, next_year) == {"archived": 0, "exported": {}}


def test_apply_scrape_takes_over_a_symbol_of_another_exchange(service) -> None:
    """A listing found under a new exchange keeps its first_seen; a delisted one comes back; the rest is untouched."""
    from praf_engine.universe.base import ScrapedListing, ScrapeResult
    from praf_engine.universe.lifecycle import apply_scrape

    _ticker("MOVED", "active", dt.date(2024, 1, 1))
    _ticker("BACK", "delisted", dt.date(2025, 1, 31))
    _ticker("STAYS", "active", dt.date(2024, 1, 1))
    day = dt.date(2025, 6, 6)
    listings = [ScrapedListing(symbol=s, exchange_code="arca", exchange_symbol=s, name=f"{s} Fund", mic="ARCX")
                for s in ("MOVED", "BACK", "FRESH")]
    stats = apply_scrape(ScrapeResult("arca", listings), day, "ArcaScraper")
    assert (stats.seen, stats.new, stats.relisted, stats.delisted) == (3, 1, 1, 0)
    rows = {t.symbol: t for t in Ticker.select()}
    assert {s: (rows[s].exchange_code, rows[s].status, rows[s].first_seen, rows[s].status_changed) for s in rows} == {
        "MOVED": ("arca", "active", dt.date(2020, 1, 1), dt.date(2024, 1, 1)),
        "BACK": ("arca", "active", dt.date(2020, 1, 1), day),
        "FRESH": ("arca", "active", day, day),
        "STAYS": ("nasdaq", "active", dt.date(2020, 1, 1), dt.date(2024, 1, 1)),
    }
    assert rows["MOVED"].last_seen == day and rows["MOVED"].name == "MOVED Fund"
