"""Read models of the dashboard's panels (seed §6.3): data timeliness, completeness and quality checks, fetch
health and the universe's monthly delta, each one DTO."""

from __future__ import annotations

import datetime as dt
from typing import Any

from peewee import JOIN, fn

from praf_engine.config import Settings
from praf_engine.db.models import BatchLatency, FetchError, QAFailure, Ticker, TickerFetchMeta
from praf_engine.qa import catalog
from praf_engine.readmodels.dto import (
    CheckPanel,
    FetchErrorRow,
    FetchHealthPanel,
    LagRow,
    NightPoint,
    SymbolIssue,
    TimelinessPanel,
    UniverseMonth,
)
from praf_engine.readmodels.rows import as_date

HISTOGRAM_BUCKETS = ("0", "1", "2", "3-5", "6-10", ">10", "never")
COMPLETENESS_CHECKS = ("missing_dates", "null_fields")
QUALITY_CHECKS = ("zero_volume", "price_jump", "ohlc_sanity", "duplicate_dates", "currency_unit", "date_shift", "stale_price")


def timeliness(as_of: dt.date, threshold: int, limit: int = 100) -> TimelinessPanel:
    """Days behind for every active symbol on its own calendar; the lagging table and the histogram."""
    import numpy as np  # numpy and the calendars load with the first snapshot, not with the service's import

    from praf_engine import calendars  # (the daemon imports the service and never draws a dashboard)

    rows = _fetch_state()
    symbols = [r[0] for r in rows]
    exchanges = [r[1] for r in rows]
    pairs = {(m, e): calendars.resolve_mic(m, e) for _, e, m, _ in rows}
    cals = [pairs[(m, e)] for _, e, m, _ in rows]
    lasts = [as_date(r[3]) for r in rows]
    behind = np.full(len(rows), -1, dtype=np.int64)
    if rows:
        last = np.array([np.datetime64(d, "D") if d else np.datetime64("NaT", "D") for d in lasts], dtype="datetime64[D]")
        cal_arr = np.array(cals)
        for cal in set(cals):
            idx = np.flatnonzero(cal_arr == cal)
            behind[idx] = calendars.sessions_behind(cal, last[idx], as_of)
    edges = [(0, 0), (1, 1), (2, 2), (3, 5), (6, 10), (11, 10**9)]
    hist = [(b, int(((behind >= lo) & (behind <= hi)).sum())) for b, (lo, hi) in zip(HISTOGRAM_BUCKETS, edges, strict=False)]
    hist.append(("never", int((behind < 0).sum())))
    lagging = np.flatnonzero((behind < 0) | (behind > threshold))
    order = lagging[np.argsort(-np.where(behind[lagging] < 0, 10**9, behind[lagging]), kind="stable")]
    out = tuple(LagRow(symbols[i], exchanges[i], cals[i], lasts[i], None if behind[i] < 0 else int(behind[i]))
                for i in order[:limit])
    return TimelinessPanel(as_of, threshold, out, len(lagging), tuple(hist))


def _fetch_state() -> list[tuple[Any, ...]]:
    return list(Ticker.select(Ticker.symbol, Ticker.exchange_code, Ticker.mic, TickerFetchMeta.last_fetched_date)
                .join(TickerFetchMeta, JOIN.LEFT_OUTER, on=(TickerFetchMeta.symbol == Ticker.symbol))
                .where(Ticker.status == "active").tuples())


def check_panel(qa_date: dt.date | None, checks: tuple[str, ...], active: int, settings: Settings,
                limit: int = 200) -> CheckPanel:
    """Failures of ``checks`` on the QA date (the latest on or before the as-of date; false positives left out),
    coloured against the ``active`` universe."""
    counts, colours, issues = {}, {}, {}
    for name in checks:
        query = QAFailure.select().where(QAFailure.check_name == name, QAFailure.date == qa_date,
                                         QAFailure.resolution.is_null() | (QAFailure.resolution != "false_positive"))
        rows = list(query.order_by(QAFailure.symbol).limit(limit)) if qa_date else []
        counts[name] = query.count() if qa_date else 0
        colours[name] = catalog.colour(catalog.CHECKS[name].colour_rule, counts[name], active, settings.dashboard)
        issues[name] = tuple(SymbolIssue(r.symbol, name, int(r.details.get("count", 1)), tuple(map(str, r.details.get("dates", ()))),
                                         r.details) for r in rows)
    return CheckPanel(qa_date, counts, colours, issues)


def fetch_health(as_of: dt.date, settings: Settings, nights: int = 30) -> FetchHealthPanel:
    """Last night's fetch errors and, per night of the last ``nights``, the batch latency p50/p95 and the errors."""
    import numpy as np  # with the first snapshot, not with the service's import

    night = as_date(FetchError.select(fn.MAX(FetchError.night)).where(FetchError.night <= as_of).scalar())
    errors = tuple(FetchErrorRow(r.symbol, r.error_code, r.msg, int(r.consecutive_failures), r.exit_name)
                   for r in FetchError.select().where(FetchError.night == night).order_by(FetchError.symbol)) if night else ()
    start = as_of - dt.timedelta(days=nights - 1)
    by_night: dict[dt.date | None, list[float]] = {}
    for n, ms in BatchLatency.select(BatchLatency.night, BatchLatency.latency_ms).where(
            BatchLatency.night.between(start, as_of)).tuples():
        by_night.setdefault(as_date(n), []).append(float(ms))
    errs = {as_date(k): v for k, v in FetchError.select(FetchError.night, fn.COUNT(FetchError.id))
            .where(FetchError.night.between(start, as_of)).group_by(FetchError.night).tuples()}
    stats = {n: (float(np.median(v)), float(np.quantile(v, 0.95)), len(v)) for n, v in by_night.items()}
    series = []
    for i in range(nights):
        day = start + dt.timedelta(days=i)
        p50, p95, count = stats.get(day, (None, None, 0))
        series.append(NightPoint(day, p50, p95, count, int(errs.get(day, 0))))
    colour = catalog.colour(catalog.COLOUR_FETCH, len({e.symbol for e in errors}), 0, settings.dashboard)
    return FetchHealthPanel(night, errors, colour, tuple(series))


def universe_delta(as_of: dt.date, months: int = 6) -> tuple[UniverseMonth, ...]:
    """New (first_seen) and delisted (status_changed of delisted/archived rows) listings per month, oldest first."""
    first = dt.date(as_of.year, as_of.month, 1)
    keys = []
    y, m = first.year, first.month
    for _ in range(months):
        keys.append(f"{y:04d}-{m:02d}")
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    keys.reverse()
    start = dt.date(int(keys[0][:4]), int(keys[0][5:]), 1)
    new = [str(as_date(d))[:7] for (d,) in Ticker.select(Ticker.first_seen).where(Ticker.first_seen.between(start, as_of)).tuples()]
    gone = [str(as_date(d))[:7] for (d,) in Ticker.select(Ticker.status_changed).where(
        Ticker.status.in_(("delisted", "archived")), Ticker.status_changed.between(start, as_of)).tuples()]
    return tuple(UniverseMonth(k, new.count(k), gone.count(k)) for k in keys)
