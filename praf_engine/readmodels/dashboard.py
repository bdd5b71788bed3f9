"""Read model of the dashboard: the seed's summary document (§6.2), the 7 KPI cards (§6.7, colours of §5.6) and one
snapshot of everything the dashboard shows, with the summary computed once per refresh."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from peewee import fn

from praf_engine.config import Settings
from praf_engine.db.models import FetchError, QAFailure, QASummary, Ticker
from praf_engine.qa import catalog
from praf_engine.readmodels import alerts, jobs, panels
from praf_engine.readmodels.dto import DashboardSnapshot, KpiCard, Summary
from praf_engine.readmodels.rows import as_date


def summary(as_of: dt.date) -> Summary:
    """The 7 KPI counts at ``as_of``: the universe's, then the QA counts of the latest QA run and the fetch errors
    of the latest fetch night on or before it (false positives left out)."""
    window = as_of - dt.timedelta(days=30)
    total_active = Ticker.select().where(Ticker.status == "active").count()
    new_30d = Ticker.select().where(Ticker.first_seen > window, Ticker.first_seen <= as_of).count()
    delisted_30d = (
        Ticker.select()
        .where(Ticker.status == "delisted", Ticker.status_changed > window, Ticker.status_changed <= as_of)
        .count()
    )
    qa_date = as_date(QASummary.select(fn.MAX(QASummary.date)).where(QASummary.date <= as_of).scalar())
    fetch_night = as_date(FetchError.select(fn.MAX(FetchError.night)).where(FetchError.night <= as_of).scalar())
    return Summary(
        as_of=as_of,
        total_active=total_active,
        new_30d=new_30d,
        delisted_30d=delisted_30d,
        lag_2d=_failing_symbols("lag_check", qa_date, qa_date),
        missing_dates=_failing_symbols("missing_dates", qa_date, qa_date),
        fetch_errors=(
            FetchError.select(fn.COUNT(FetchError.symbol.distinct())).where(FetchError.night == fetch_night).scalar() or 0
            if fetch_night else 0
        ),
        price_jumps=_failing_symbols("price_jump", as_of - dt.timedelta(days=6), as_of),
        qa_date=qa_date,
        fetch_night=fetch_night,
    )


def _failing_symbols(check: str, start: dt.date | None, end: dt.date | None) -> int:
    """Distinct symbols failing ``check`` between two dates, false positives excluded."""
    if start is None or end is None:
        return 0
    query = QAFailure.select(fn.COUNT(QAFailure.symbol.distinct())).where(
        QAFailure.check_name == check,
        QAFailure.date.between(start, end),
        (QAFailure.resolution.is_null()) | (QAFailure.resolution != "false_positive"),
    )
    return query.scalar() or 0


def cards(s: Summary, settings: Settings) -> tuple[KpiCard, ...]:
    """The seed's 7 KPI cards (§6.7) with count, % of the active universe and colour (§5.6)."""
    dash, size = settings.dashboard, s.total_active

    def card(key: str, label: str, count: int, rule: str | None, panel: str) -> KpiCard:
        pct = round(100.0 * count / size, 2) if size else 0.0
        colour = catalog.colour(rule, count, size, dash) if rule else "neutral"
        return KpiCard(key, label, count, pct, colour, catalog.threshold_text(rule, dash) if rule else "", panel)

    return (
        card("total_active", "Total active tickers", s.total_active, None, "universe"),
        card("new_30d", "New tickers (30 d)", s.new_30d, None, "universe"),
        card("delisted_30d", "Delisted tickers (30 d)", s.delisted_30d, None, "universe"),
        card("lag_2d", "Lag > 2 trading days", s.lag_2d, catalog.COLOUR_PCT, "timeliness"),
        card("missing_dates", "Tickers with missing dates", s.missing_dates, catalog.COLOUR_ROWS, "completeness"),
        card("fetch_errors", "Fetch errors (last night)", s.fetch_errors, catalog.COLOUR_FETCH, "fetch"),
        card("price_jumps", "Price-jump anomalies (7 d)", s.price_jumps, catalog.COLOUR_ROWS, "quality"),
    )


def snapshot(as_of: dt.date, settings: Settings, job_summaries: Mapping[str, str]) -> DashboardSnapshot:
    """Everything the dashboard shows at ``as_of``: the summary (once), its cards, the five panels, the jobs
    (``job_summaries``: name → what it does, from the job registry) and their latest runs."""
    s = summary(as_of)
    return DashboardSnapshot(
        as_of=as_of,
        summary=s,
        cards=cards(s, settings),
        universe=panels.universe_delta(as_of),
        timeliness=panels.timeliness(as_of, settings.qa.lag_days),
        completeness=panels.check_panel(s.qa_date, panels.COMPLETENESS_CHECKS, s.total_active, settings),
        quality=panels.check_panel(s.qa_date, panels.QUALITY_CHECKS, s.total_active, settings),
        fetch=panels.fetch_health(as_of, settings),
        jobs=jobs.jobs(job_summaries),
        runs=jobs.last_runs(),
        alerts_pending=alerts.pending_count(),
    )
