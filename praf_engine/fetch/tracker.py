"""The fetcher's only door to the database: fetch state, errors, DLQ, delisting, latency, the freshness guard."""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

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
            f"{m.full_history_pending.column_name} = {p}", f"{m.stale_since.column_name} = NULL",
            f"{m.stale_checks.column_name} = 0", f"{m.retry_after.column_name} = NULL"]
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


@dataclass(frozen=True)
class Stale:
    """One symbol stored in the lake whose newest bar is far behind the night: stale at source (YFSTALE)."""

    symbol: str
    last_date: dt.date
    behind: int  # sessions of its venue after ``last_date`` up to the night
    raw_hash: str | None
    exit_name: str
    adj_ratio: float | None


def record_stale(settings: Settings, *, run_id: str, night: dt.date, row: Stale) -> str:
    """A YFSTALE fetch_errors row; ticker_fetch_meta ``stale`` (its lake date kept true) and backed off along
    ``fetch.stale_backoff_nights``; after ``fetch.stale_dlq_after_nights`` nights stale, the dead-letter queue and,
    if its exchange's last scrape did not see it, delisted. Returns what happened: backed_off, dead_lettered, delisted."""
    f = settings.fetch
    meta = TickerFetchMeta.get_or_none(TickerFetchMeta.symbol == row.symbol)
    since = meta.stale_since if meta and meta.stale_since else night
    checks = (meta.stale_checks if meta and meta.stale_since else 0) + 1
    wait = f.stale_backoff_nights[min(checks, len(f.stale_backoff_nights)) - 1]
    retry = night + dt.timedelta(days=wait + 1)
    msg = (f"stale at source: the newest bar Yahoo has is {row.last_date.isoformat()}, {row.behind} sessions before the night "
           f"{night.isoformat()} (history stopped: acquired, renamed?); stale since {since.isoformat()}, next try {retry.isoformat()}")
    values = {"last_fetched_date": row.last_date, "consecutive_failures": 0, "fetch_status": "stale", "last_error_code": "YFSTALE",
              "last_attempt_at": utcnow(), "raw_hash": row.raw_hash, "last_exit": row.exit_name, "full_history_pending": False,
              "stale_since": since, "stale_checks": checks, "retry_after": retry}
    if row.adj_ratio is not None:
        values["adj_ratio"] = float(row.adj_ratio)
    TickerFetchMeta.update(**values).where(TickerFetchMeta.symbol == row.symbol).execute()
    FetchError.create(run_id=run_id, night=night, symbol=row.symbol, error_code="YFSTALE", msg=msg,
                      consecutive_failures=checks, exit_name=row.exit_name)
    nights = (night - since).days
    if nights < f.stale_dlq_after_nights:
        log.info("stale at source; backed off", error_code="YFSTALE",
                 detail={"symbol": row.symbol, "last_date": row.last_date.isoformat(), "retry_after": retry.isoformat()})
        return "backed_off"
    detail = {"stale_nights": nights, "last_date": row.last_date.isoformat()}
    DLQSymbol.insert(symbol=row.symbol, reason="YFSTALE", failures=checks, last_error=msg).on_conflict_ignore().execute()
    log.warning("stale at source too long: moved to the dead-letter queue", error_code="YFSTALE", detail={"symbol": row.symbol, **detail})
    return "delisted" if delist_if_unseen(row.symbol, night, "YFSTALE", detail) else "dead_lettered"


def last_scrape_day(exchange: str) -> dt.date | None:
    """The day of ``exchange``'s last successful scrape (another exchange's scrape says nothing about its listings)."""
    return _day(ScrapeControl.select(fn.MAX(ScrapeControl.finished_at))
                .where(ScrapeControl.scrape_status == "success", ScrapeControl.exchange == exchange).scalar())


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
        delist_if_unseen(symbol, night, error_code, {"failures": failures})
    return failures


def delist_if_unseen(symbol: str, night: dt.date, error_code: str, detail: dict[str, object]) -> bool:
    """``delisted`` when the last successful scrape of the symbol's own exchange did not see it (seed §1.4)."""
    ticker = Ticker.get_or_none(Ticker.symbol == symbol)
    if ticker is None or ticker.status != "active":
        return False
    scraped = last_scrape_day(ticker.exchange_code)
    if not scraped or ticker.last_seen >= scraped:
        return False
    Ticker.update(status="delisted", status_changed=night, updated_at=utcnow()).where(Ticker.symbol == symbol).execute()
    log.warning("symbol delisted: absent from its exchange's last scrape and failing", error_code=error_code,
                detail={"symbol": symbol, **detail})
    return True


def record_batch(*, run_id: str, night: dt.date, batch_no: int, exit_name: str, symbols: int, ok: int, latency_ms: float) -> None:
    BatchLatency.create(run_id=run_id, night=night, batch_no=batch_no, exit_name=exit_name, symbols=symbols, ok=ok,
                        latency_ms=latency_ms)


@dataclass(frozen=True)
class Freshness:
    """The universe's age per exchange (days since its last successful scrape, else since its newest last_seen)
    and the exchanges whose last scrape failed (exchange -> month)."""

    ages: dict[str, int | None]
    failed: dict[str, str]
    max_age: int

    @property
    def stale(self) -> dict[str, int | None]:
        """Exchanges whose universe is older than ``fetch.universe_max_age_days`` (None: never scraped)."""
        return {code: age for code, age in sorted(self.ages.items()) if age is None or age > self.max_age}

    @property
    def all_stale(self) -> bool:
        return bool(self.ages) and len(self.stale) == len(self.ages)

    def describe(self) -> str:
        parts = []
        if self.stale:
            parts.append("the universe of " + ", ".join(f"{c} ({'never scraped' if a is None else f'{a} days old'})"
                                                        for c, a in self.stale.items())
                         + f" is older than {self.max_age} days")
        if self.failed:
            parts.append("the last scrape failed for " + ", ".join(f"{c} ({m})" for c, m in sorted(self.failed.items())))
        return "; ".join(parts)

    def as_detail(self) -> dict[str, object]:
        return {"stale_exchanges": self.stale, "failed_scrapes": sorted(self.failed), "universe_age_days": dict(sorted(self.ages.items()))}


def _day(value: object) -> dt.date | None:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value) if len(value) > 10 else dt.date.fromisoformat(value)
    if isinstance(value, dt.datetime):
        return value.date()
    return value if isinstance(value, dt.date) else None


def fetch_night(clock: Callable[[], Any]) -> dt.date:
    """The market date a run fetches up to: the date of the job's clock (today UTC; the sandbox's clock says the
    market's date)."""
    now = clock()
    return now.date() if isinstance(now, dt.datetime) else now


def freshness(settings: Settings, night: dt.date) -> Freshness:
    """Per exchange with active listings: the age of its universe (last successful scrape of that exchange, else
    the newest ``tickers.last_seen`` of its listings); and every exchange whose newest scrape_control row failed."""
    seen = dict(Ticker.select(Ticker.exchange_code, fn.MAX(Ticker.last_seen)).where(Ticker.status == "active")
                .group_by(Ticker.exchange_code).tuples())
    scraped = dict(ScrapeControl.select(ScrapeControl.exchange, fn.MAX(ScrapeControl.finished_at))
                   .where(ScrapeControl.scrape_status == "success").group_by(ScrapeControl.exchange).tuples())
    ages: dict[str, int | None] = {}
    for code, last_seen in seen.items():
        day = _day(scraped.get(code)) or _day(last_seen)
        ages[code] = (night - day).days if day else None
    newest = dict(ScrapeControl.select(ScrapeControl.exchange, fn.MAX(ScrapeControl.month)).group_by(ScrapeControl.exchange).tuples())
    failed: dict[str, str] = {}
    for row in ScrapeControl.select(ScrapeControl.exchange, ScrapeControl.month, ScrapeControl.scrape_status):
        if newest.get(row.exchange) == row.month and row.scrape_status in ("error", "structure_error"):
            failed[row.exchange] = row.month
    return Freshness(ages, failed, settings.fetch.universe_max_age_days)


def guard_freshness(settings: Settings, night: dt.date, force: bool, named: bool = False) -> tuple[Freshness, set[str]]:
    """The freshness gate, per exchange (seed §1.4 "Scraper fails": the fetch runs on the previous universe).

    Returns the state and the exchanges to skip: those whose universe is older than ``fetch.universe_max_age_days``.
    Every exchange that old: UNIVERSESTALE, the fetch does not start. A failed last scrape alone is a warning.
    ``force`` skips nothing; ``named`` (``--symbols``) fetches the named symbols whatever their exchange."""
    state = freshness(settings, night)
    if state.all_stale and not force and not named:
        raise PipelineError("UNIVERSESTALE", f"refusing to fetch: {state.describe()}; fix the scrape or run with --force",
                            {**state.as_detail(), "age_days": max((a for a in state.ages.values() if a is not None), default=None),
                             "last_scrape_failed": bool(state.failed)})
    skip = set() if force or named else set(state.stale)
    if state.stale or state.failed:
        why = "--force" if force and state.stale else "--symbols" if named and state.stale else None
        action = (f"overridden with {why}: every exchange fetched" if why else
                  f"not fetched: {', '.join(sorted(skip))}" if skip else "every exchange fetched")
        log.warning(f"universe: {state.describe()}; {action}; a failed scrape's exchange is fetched on its previous "
                    "universe, nothing purged", error_code="UNIVERSESTALE", detail={**state.as_detail(), "skipped": sorted(skip)})
    return state, skip
