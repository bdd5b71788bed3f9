"""The fetcher's only door to the database: fetch state, errors, DLQ, delisting, latency, the freshness guard."""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from peewee import fn

from praf_engine.config import Settings
from praf_engine.db.database import is_postgres
from praf_engine.db.models import (
    BatchLatency,
    DLQSymbol,
    FetchError,
    ScrapeControl,
    Ticker,
    TickerFetchMeta,
    database_proxy,
    utcnow,
)
from praf_engine.errors import PipelineError
from praf_engine.logs import get_logger

log = get_logger(__name__)


def ensure_meta(symbols: Iterable[str]) -> None:
    """A ticker_fetch_meta row (pending, full history due) for every symbol that has none."""
    wanted = list(symbols)
    for i in range(0, len(wanted), 500):
        chunk = wanted[i:i + 500]
        have = {r.symbol_id for r in TickerFetchMeta.select(TickerFetchMeta.symbol).where(TickerFetchMeta.symbol.in_(chunk))}
        rows = [{"symbol": s, "full_history_pending": True} for s in chunk if s not in have]
        if rows:
            TickerFetchMeta.insert_many(rows).on_conflict_ignore().execute()


def adj_ratios(symbols: Iterable[str]) -> dict[str, float | None]:
    wanted = list(symbols)
    out: dict[str, float | None] = {}
    for i in range(0, len(wanted), 500):
        q = TickerFetchMeta.select(TickerFetchMeta.symbol, TickerFetchMeta.adj_ratio).where(TickerFetchMeta.symbol.in_(wanted[i:i + 500]))
        out.update({r.symbol_id: r.adj_ratio for r in q})
    return out


@dataclass(frozen=True)
class Success:
    """One symbol stored in the lake: what its ticker_fetch_meta row becomes."""

    symbol: str
    last_date: dt.date
    raw_hash: str | None
    exit_name: str
    adj_ratio: float | None  # None keeps the stored ratio
    full_pending: bool


def _success_sql() -> str:
    m, p = TickerFetchMeta, database_proxy.param
    sets = [f"{m.last_fetched_date.column_name} = {p}", f"{m.consecutive_failures.column_name} = 0",
            f"{m.fetch_status.column_name} = 'ok'", f"{m.last_error_code.column_name} = NULL",
            f"{m.last_attempt_at.column_name} = {p}", f"{m.latency_ms.column_name} = {p}",
            f"{m.raw_hash.column_name} = {p}", f"{m.last_exit.column_name} = {p}",
            f"{m.adj_ratio.column_name} = COALESCE({p}, {m.adj_ratio.column_name})",
            f"{m.full_history_pending.column_name} = {p}"]
    return f"UPDATE {m._meta.table_name} SET {', '.join(sets)} WHERE {m.symbol.column_name} = {p}"


def record_successes(rows: list[Success], latencies: list[float]) -> None:
    """Called only after the lake write returned (durable): advances last_fetched_date, never beyond the lake.
    One statement for every row of a batch (``latencies``: the batch's per-symbol latencies, their median is kept)."""
    if not rows:
        return
    m = TickerFetchMeta
    now = m.last_attempt_at.db_value(utcnow())
    latency = statistics.median(latencies) if latencies else None
    params = [(m.last_fetched_date.db_value(r.last_date), now, latency, r.raw_hash, r.exit_name,
               None if r.adj_ratio is None else float(r.adj_ratio), m.full_history_pending.db_value(r.full_pending),
               r.symbol) for r in rows]
    sql = _success_sql()
    cursor = database_proxy.cursor()
    if is_postgres(database_proxy.obj):
        from psycopg2.extras import execute_batch

        execute_batch(cursor, sql, params, page_size=500)
    else:
        cursor.executemany(sql, params)


def mark_full_pending(symbol: str) -> None:
    TickerFetchMeta.update(full_history_pending=True).where(TickerFetchMeta.symbol == symbol).execute()


def last_scrape_day() -> dt.date | None:
    value = ScrapeControl.select(fn.MAX(ScrapeControl.finished_at)).where(ScrapeControl.scrape_status == "success").scalar()
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.date() if value else None


def record_failure(settings: Settings, *, run_id: str, night: dt.date, symbol: str, error_code: str, msg: str,
                   exit_name: str, suspect_missing: bool) -> int:
    """One fetch_errors row; the failure counts once per night; DLQ and delisting follow the counts."""
    meta = TickerFetchMeta.get_or_none(TickerFetchMeta.symbol == symbol)
    failures = meta.consecutive_failures if meta else 0
    already = FetchError.select().where(FetchError.symbol == symbol, FetchError.night == night).exists()
    if not already:
        failures += 1
    TickerFetchMeta.update(consecutive_failures=failures, fetch_status="suspect_missing" if suspect_missing else "error",
                           last_error_code=error_code, last_attempt_at=utcnow(), last_exit=exit_name
                           ).where(TickerFetchMeta.symbol == symbol).execute()
    FetchError.create(run_id=run_id, night=night, symbol=symbol, error_code=error_code, msg=msg[:2000],
                      consecutive_failures=failures, exit_name=exit_name)
    f = settings.fetch
    if failures >= f.dlq_after_nights and not DLQSymbol.select().where(DLQSymbol.symbol == symbol).exists():
        DLQSymbol.insert(symbol=symbol, reason=error_code, failures=failures, last_error=msg[:2000]).on_conflict_ignore().execute()
        log.warning("symbol moved to the dead-letter queue", error_code=error_code, detail={"symbol": symbol, "failures": failures})
    if failures >= f.delist_after_failures:
        scraped = last_scrape_day()
        ticker = Ticker.get_or_none(Ticker.symbol == symbol)
        if scraped and ticker and ticker.status == "active" and ticker.last_seen < scraped:
            Ticker.update(status="delisted", status_changed=night, updated_at=utcnow()).where(Ticker.symbol == symbol).execute()
            log.warning("symbol delisted: absent from the last scrape and failing", error_code=error_code,
                        detail={"symbol": symbol, "failures": failures})
    return failures


def record_batch(*, run_id: str, night: dt.date, batch_no: int, exit_name: str, symbols: int, ok: int, latency_ms: float) -> None:
    BatchLatency.create(run_id=run_id, night=night, batch_no=batch_no, exit_name=exit_name, symbols=symbols, ok=ok,
                        latency_ms=latency_ms)


@dataclass(frozen=True)
class Freshness:
    age_days: int | None
    last_scrape_failed: bool
    reason: str | None


def freshness(settings: Settings, night: dt.date) -> Freshness:
    """How old the universe is (last successful scrape, else newest tickers.last_seen) and whether the last scrape failed."""
    latest_month = ScrapeControl.select(fn.MAX(ScrapeControl.month)).scalar()
    failed: list[str] = []
    if latest_month:
        failed = [r.exchange for r in ScrapeControl.select(ScrapeControl.exchange).where(
            ScrapeControl.month == latest_month, ScrapeControl.scrape_status.in_(["error", "structure_error"]))]
    day = last_scrape_day()
    if day is None:
        seen = Ticker.select(fn.MAX(Ticker.last_seen)).scalar()
        day = dt.date.fromisoformat(seen) if isinstance(seen, str) else seen
    age = (night - day).days if day else None
    reason = None
    if failed:
        reason = f"the last scrape ({latest_month}) failed for {', '.join(sorted(failed))}"
    elif age is not None and age > settings.fetch.universe_max_age_days:
        reason = f"the universe is {age} days old (limit {settings.fetch.universe_max_age_days})"
    return Freshness(age, bool(failed), reason)


def guard_freshness(settings: Settings, night: dt.date, force: bool) -> Freshness:
    state = freshness(settings, night)
    if state.reason and not force:
        raise PipelineError("UNIVERSESTALE", f"refusing to fetch: {state.reason}; fix the scrape or run with --force",
                            {"age_days": state.age_days, "last_scrape_failed": state.last_scrape_failed})
    if state.reason:
        log.warning("freshness guard overridden with --force", error_code="UNIVERSESTALE", detail={"reason": state.reason})
    return state
