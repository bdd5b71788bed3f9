"""Read models of the dashboard (seed §6.3, §6.7): KPI cards, panel data, the failures list and its triage, as DTOs."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from peewee import JOIN, Case, fn

from praf_engine import calendars
from praf_engine.config import Settings
from praf_engine.db.models import (
    BatchLatency,
    FetchError,
    QAFailure,
    QASummary,
    Ticker,
    TickerFetchMeta,
    utcnow,
)
from praf_engine.errors import PipelineError
from praf_engine.qa import catalog
from praf_engine.qa.dto import (
    CheckPanel,
    FailurePage,
    FailureRow,
    FetchErrorRow,
    FetchHealthPanel,
    KpiCard,
    LagRow,
    NightPoint,
    SymbolIssue,
    TimelinessPanel,
    UniverseMonth,
)

HISTOGRAM_BUCKETS = ("0", "1", "2", "3-5", "6-10", ">10", "never")


def _date(value: Any) -> dt.date | None:
    if value is None or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def latest_qa_date(as_of: dt.date) -> dt.date | None:
    return _date(QASummary.select(fn.MAX(QASummary.date)).where(QASummary.date <= as_of).scalar())


def cards(summary: Any, settings: Settings) -> tuple[KpiCard, ...]:
    """The seed's 7 KPI cards (§6.7) with count, % of the active universe and colour (§5.6)."""
    dash, size = settings.dashboard, summary.total_active

    def card(key: str, label: str, count: int, rule: str | None, panel: str) -> KpiCard:
        pct = round(100.0 * count / size, 2) if size else 0.0
        colour = catalog.colour(rule, count, size, dash) if rule else "neutral"
        return KpiCard(key, label, count, pct, colour, catalog.threshold_text(rule, dash) if rule else "", panel)

    return (
        card("total_active", "Total active tickers", summary.total_active, None, "universe"),
        card("new_30d", "New tickers (30 d)", summary.new_30d, None, "universe"),
        card("delisted_30d", "Delisted tickers (30 d)", summary.delisted_30d, None, "universe"),
        card("lag_2d", "Lag > 2 trading days", summary.lag_2d, catalog.COLOUR_PCT, "timeliness"),
        card("missing_dates", "Tickers with missing dates", summary.missing_dates, catalog.COLOUR_ROWS, "completeness"),
        card("fetch_errors", "Fetch errors (last night)", summary.fetch_errors, catalog.COLOUR_FETCH, "fetch"),
        card("price_jumps", "Price-jump anomalies (7 d)", summary.price_jumps, catalog.COLOUR_ROWS, "quality"),
    )


def timeliness(as_of: dt.date, threshold: int, limit: int = 100) -> TimelinessPanel:
    """Days behind for every active symbol on its own calendar; the lagging table and the histogram."""
    rows = _fetch_state()
    symbols = [r[0] for r in rows]
    exchanges = [r[1] for r in rows]
    pairs = {(m, e): calendars.resolve_mic(m, e) for _, e, m, _ in rows}
    cals = [pairs[(m, e)] for _, e, m, _ in rows]
    lasts = [_date(r[3]) for r in rows]
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


def check_panel(as_of: dt.date, checks: tuple[str, ...], settings: Settings, limit: int = 200) -> CheckPanel:
    """Failures of ``checks`` on the latest QA date on or before ``as_of`` (false positives left out)."""
    day = latest_qa_date(as_of)
    counts, colours, issues = {}, {}, {}
    for name in checks:
        query = QAFailure.select().where(QAFailure.check_name == name, QAFailure.date == day,
                                         QAFailure.resolution.is_null() | (QAFailure.resolution != "false_positive"))
        rows = list(query.order_by(QAFailure.symbol).limit(limit)) if day else []
        counts[name] = query.count() if day else 0
        colours[name] = catalog.colour(catalog.CHECKS[name].colour_rule, counts[name], Ticker.select().where(Ticker.status == "active").count(),
                                       settings.dashboard)
        issues[name] = tuple(SymbolIssue(r.symbol, name, int(r.details.get("count", 1)), tuple(map(str, r.details.get("dates", ()))),
                                         r.details) for r in rows)
    return CheckPanel(day, counts, colours, issues)


def fetch_health(as_of: dt.date, settings: Settings, nights: int = 30) -> FetchHealthPanel:
    night = _date(FetchError.select(fn.MAX(FetchError.night)).where(FetchError.night <= as_of).scalar())
    errors = tuple(FetchErrorRow(r.symbol, r.error_code, r.msg, int(r.consecutive_failures), r.exit_name)
                   for r in FetchError.select().where(FetchError.night == night).order_by(FetchError.symbol)) if night else ()
    start = as_of - dt.timedelta(days=nights - 1)
    by_night: dict[dt.date, list[float]] = {}
    for n, ms in BatchLatency.select(BatchLatency.night, BatchLatency.latency_ms).where(
            BatchLatency.night.between(start, as_of)).tuples():
        by_night.setdefault(_date(n), []).append(float(ms))
    errs = dict(FetchError.select(FetchError.night, fn.COUNT(FetchError.id)).where(FetchError.night.between(start, as_of))
                .group_by(FetchError.night).tuples())
    errs = {_date(k): v for k, v in errs.items()}
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
    new = [str(_date(d))[:7] for (d,) in Ticker.select(Ticker.first_seen).where(Ticker.first_seen.between(start, as_of)).tuples()]
    gone = [str(_date(d))[:7] for (d,) in Ticker.select(Ticker.status_changed).where(
        Ticker.status.in_(("delisted", "archived")), Ticker.status_changed.between(start, as_of)).tuples()]
    return tuple(UniverseMonth(k, new.count(k), gone.count(k)) for k in keys)


def _row(r: QAFailure) -> FailureRow:
    return FailureRow(r.id, r.symbol, _date(r.date), r.check_name, r.severity, dict(r.details or {}), bool(r.resolved),
                      r.resolution, r.note, r.resolved_by, r.resolved_at)


# severity sorts by rank (critical > warning > info), not alphabetically
SEVERITY_RANK = Case(QAFailure.severity, (("critical", 3), ("warning", 2), ("info", 1)), 0)
SORT_KEYS = {"date": QAFailure.date, "symbol": QAFailure.symbol, "check": QAFailure.check_name, "severity": SEVERITY_RANK}


def failures(*, check: str | None = None, severity: str | None = None, exchange: str | None = None,
             resolved: bool | None = None, symbol: str | None = None, date: dt.date | None = None,
             offset: int = 0, limit: int = 50, sort: str = "date", descending: bool = True) -> FailurePage:
    """Server-side filtered, sorted and paged ``qa_failures``, with the total count of the filter.
    ``sort``: date, symbol, check or severity (ties broken by date, check, symbol, id)."""
    if offset < 0 or not 1 <= limit <= 1000:
        raise PipelineError("QATRIAGE", f"paging out of range: offset={offset} (>= 0), limit={limit} (1..1000)")
    if check is not None and check not in catalog.CHECKS:
        raise PipelineError("QATRIAGE", f"unknown check {check!r}; known: {', '.join(catalog.CHECKS)}")
    query = QAFailure.select()
    if check:
        query = query.where(QAFailure.check_name == check)
    if severity:
        query = query.where(QAFailure.severity == severity)
    if exchange:
        query = query.where(QAFailure.symbol.in_(Ticker.select(Ticker.symbol).where(Ticker.exchange_code == exchange)))
    if resolved is not None:
        query = query.where(QAFailure.resolved == resolved)
    if symbol:
        query = query.where(fn.LOWER(QAFailure.symbol).contains(symbol.lower()))
    if date:
        query = query.where(QAFailure.date == date)
    if sort not in SORT_KEYS:
        raise PipelineError("QATRIAGE", f"unknown sort {sort!r}; use {', '.join(SORT_KEYS)}")
    total = query.count()
    key = SORT_KEYS[sort]
    order = [key.desc() if descending else key.asc()]
    order += [o for f, o in ((QAFailure.date, QAFailure.date.desc()), (QAFailure.check_name, QAFailure.check_name),
                             (QAFailure.symbol, QAFailure.symbol)) if f is not key]
    rows = query.order_by(*order, QAFailure.id).offset(offset).limit(limit)
    return FailurePage(total, offset, limit, tuple(_row(r) for r in rows))


def triage(failure_id: int, action: str, note: str | None, who: str) -> FailureRow:
    """resolve / false_positive / reopen one failure with a note, who and when; the QA rerun keeps it."""
    if action not in ("resolved", "false_positive", "reopen"):
        raise PipelineError("QATRIAGE", f"unknown triage action {action!r}: use resolved, false_positive or reopen")
    if not who or not str(who).strip():
        raise PipelineError("QATRIAGE", "triage needs the name of who does it")
    row = QAFailure.get_or_none(QAFailure.id == failure_id)
    if row is None:
        raise PipelineError("QATRIAGE", f"no QA failure with id {failure_id}", {"id": failure_id})
    now = utcnow()
    if action == "reopen":
        values = {"resolved": False, "resolution": None, "resolved_by": who[:64], "resolved_at": None}
    else:
        values = {"resolved": True, "resolution": action, "resolved_by": who[:64], "resolved_at": now}
    values.update(note=note if note is not None else row.note, updated_at=now)
    QAFailure.update(**values).where(QAFailure.id == failure_id).execute()
    return _row(QAFailure.get_by_id(failure_id))
