"""The tickers lifecycle: upsert a scraped exchange, delist the absent, relist the returning, archive and export."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dateutil.relativedelta import relativedelta

from praf_engine.atomic import replacing
from praf_engine.config import Settings
from praf_engine.db.models import DLQSymbol, ScrapeControl, Ticker, database_proxy, utcnow
from praf_engine.logs import get_logger
from praf_engine.universe.base import ScrapeResult

log = get_logger(__name__)

BATCH = 500
EXPORT_COLUMNS = ("symbol", "exchange_code", "exchange_symbol", "name", "isin", "currency", "sector", "market", "mic",
                  "is_etf", "financial_status", "first_seen", "last_seen", "status", "status_changed", "scraper_source")
_UPDATED = (Ticker.exchange_code, Ticker.exchange_symbol, Ticker.name, Ticker.isin, Ticker.currency, Ticker.sector,
            Ticker.market, Ticker.mic, Ticker.is_etf, Ticker.financial_status, Ticker.last_seen, Ticker.status,
            Ticker.status_changed, Ticker.scraper_source, Ticker.updated_at)
_INSERTED = (Ticker.symbol, Ticker.exchange_code, Ticker.exchange_symbol, Ticker.name, Ticker.isin, Ticker.currency,
             Ticker.sector, Ticker.market, Ticker.mic, Ticker.is_etf, Ticker.financial_status, Ticker.first_seen,
             Ticker.last_seen, Ticker.status, Ticker.status_changed, Ticker.scraper_source, Ticker.updated_at)


@dataclass(frozen=True)
class ApplyStats:
    """What one exchange's scrape changed in ``tickers``."""

    seen: int
    new: int
    relisted: int
    delisted: int
    dlq_cleared: int

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def month_of(day: dt.date) -> str:
    return f"{day:%Y%m}"


def previous_count(exchange: str, month: str) -> int | None:
    """Row count of the exchange's last successful scrape before ``month`` (the floor's reference), if any."""
    row = (ScrapeControl.select(ScrapeControl.row_count)
           .where(ScrapeControl.exchange == exchange, ScrapeControl.scrape_status == "success", ScrapeControl.month < month)
           .order_by(ScrapeControl.month.desc()).first())
    return row.row_count if row else None


def record_control(month: str, exchange: str, run_id: str, status: str, *, row_count: int = 0, raw_hash: str | None = None,
                   error_code: str | None = None, detail: dict[str, Any] | None = None, finished: bool = True) -> None:
    """Create or replace the scrape_control row of (month, exchange)."""
    values = {"scrape_status": status, "row_count": row_count, "hash": raw_hash, "error_code": error_code,
              "detail": detail or {}, "run_id": run_id, "finished_at": utcnow() if finished else None}
    with database_proxy.atomic():
        updated = (ScrapeControl.update(**values)
                   .where(ScrapeControl.month == month, ScrapeControl.exchange == exchange).execute())
        if not updated:
            ScrapeControl.create(month=month, exchange=exchange, started_at=utcnow(), **values)


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, dt.date) else value


def _upsert_sql() -> str:
    """INSERT ... ON CONFLICT (symbol) DO UPDATE for executemany (SQLite >= 3.24 and PostgreSQL): first_seen kept."""
    cols = [f.column_name for f in _INSERTED]
    marks = ", ".join([database_proxy.param] * len(cols))
    updates = ", ".join(f"{f.column_name} = excluded.{f.column_name}" for f in _UPDATED)
    return (f"INSERT INTO {Ticker._meta.table_name} ({', '.join(cols)}) VALUES ({marks}) "
            f"ON CONFLICT (symbol) DO UPDATE SET {updates}")


def _states(where: Any) -> dict[str, list[Any]]:
    """symbol -> [first_seen, status, status_changed] of the rows matching ``where`` (dates as the driver gives them)."""
    query = Ticker.select(Ticker.symbol, Ticker.first_seen, Ticker.status, Ticker.status_changed).where(where)
    return {sym: rest for sym, *rest in database_proxy.execute(query).fetchall()}  # the driver's values, unconverted


def apply_scrape(result: ScrapeResult, day: dt.date, source: str) -> ApplyStats:
    """Upsert the exchange's listings (first_seen on insert, last_seen = ``day``), mark its rows that were not seen
    ``delisted``, bring seen delisted/archived rows back ``active``, and clear seen symbols from the DLQ. One
    transaction: a crash leaves the previous universe."""
    code = result.exchange
    seen = {x.symbol: x for x in result.listings}
    now = utcnow()
    with database_proxy.atomic():
        existing = _states(Ticker.exchange_code == code)
        # a symbol listed under another exchange before (rare): one scan of bare symbols, then the few found
        elsewhere = [sym for (sym,) in database_proxy.execute(Ticker.select(Ticker.symbol).where(Ticker.exchange_code != code)) if sym in seen]
        for i in range(0, len(elsewhere), BATCH):
            existing.update(_states(Ticker.symbol.in_(elsewhere[i:i + BATCH])))
        rows, new, relisted = [], 0, []
        stamp = str(now)
        for sym, x in seen.items():
            first, status, changed = existing.get(sym, (day, None, None))
            if status is None:
                new += 1
                changed = day
            elif status != "active":
                relisted.append(sym)
                changed = day
            rows.append((sym, code, x.exchange_symbol, x.name, x.isin, x.currency, x.sector, x.market, x.mic, x.is_etf,
                         x.financial_status, _iso(first), day.isoformat(), "active", _iso(changed), source, stamp))
        cursor = database_proxy.cursor()
        for i in range(0, len(rows), BATCH):
            cursor.executemany(_upsert_sql(), rows[i:i + BATCH])
        gone = [s for s, (_f, status, _c) in existing.items() if status == "active" and s not in seen]
        for i in range(0, len(gone), BATCH):
            (Ticker.update(status="delisted", status_changed=day, updated_at=now)
             .where(Ticker.symbol.in_(gone[i:i + BATCH]), Ticker.exchange_code == code).execute())
        queued = [sym for (sym,) in DLQSymbol.select(DLQSymbol.symbol).tuples() if sym in seen]
        for i in range(0, len(queued), BATCH):
            DLQSymbol.delete().where(DLQSymbol.symbol.in_(queued[i:i + BATCH])).execute()
    stats = ApplyStats(len(seen), new, len(relisted), len(gone), len(queued))
    if relisted:
        log.info(f"{code}: {len(relisted)} listings seen again, active", detail={"symbols": relisted[:20]})
    return stats


def archive_delisted(settings: Settings, today: dt.date) -> dict[str, Any]:
    """Delisted for more than ``retention.delisted_archive_months`` -> ``archived``; then every row archived in an
    earlier year is appended to ``archive/tickers_YYYY.csv.gz`` (YYYY = the year it was archived) and deleted.
    Called by the scrape job and usable by the retention job."""
    cutoff = today - relativedelta(months=settings.retention.delisted_archive_months)
    archived = (Ticker.update(status="archived", status_changed=today, updated_at=utcnow())
                .where(Ticker.status == "delisted", Ticker.status_changed < cutoff).execute())
    exported: dict[str, int] = {}
    year_start = dt.date(today.year, 1, 1)
    due = list(Ticker.select().where(Ticker.status == "archived", Ticker.status_changed < year_start)
               .order_by(Ticker.status_changed, Ticker.symbol).dicts())
    by_year: dict[int, list[dict[str, Any]]] = {}
    for row in due:
        by_year.setdefault(row["status_changed"].year, []).append(row)
    for year, rows in sorted(by_year.items()):
        path = settings.archive_dir / f"tickers_{year}.csv.gz"
        _append_csv_gz(path, rows)
        with database_proxy.atomic():
            symbols = [r["symbol"] for r in rows]
            for i in range(0, len(symbols), BATCH):
                Ticker.delete().where(Ticker.symbol.in_(symbols[i:i + BATCH]), Ticker.status == "archived").execute()
        exported[path.name] = len(rows)
    if archived or exported:
        log.info("tickers archived", detail={"archived": archived, "exported": exported})
    return {"archived": archived, "exported": exported}


def _append_csv_gz(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Rewrite ``path`` atomically with its old rows plus ``rows`` (a crash leaves the old file and the DB rows)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    old: list[dict[str, str]] = []
    if path.exists():
        with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
            old = list(csv.DictReader(fh))
    known = {r["symbol"] + "|" + r["status_changed"] for r in old}
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=EXPORT_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(old)
    for r in rows:
        flat = {k: ("" if r.get(k) is None else r[k].isoformat() if isinstance(r.get(k), dt.date) else r[k]) for k in EXPORT_COLUMNS}
        if f"{flat['symbol']}|{flat['status_changed']}" not in known:
            writer.writerow(flat)
    with replacing(path) as tmp, gzip.open(tmp, "wt", encoding="utf-8", newline="") as fh:
        fh.write(buf.getvalue())
