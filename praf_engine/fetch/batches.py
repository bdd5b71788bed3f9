"""Plan a night: which symbols to fetch, from which date, in which batches (seed §2.2, §8.5)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
from peewee import JOIN

from praf_engine import calendars
from praf_engine.config import Settings
from praf_engine.db.models import DLQSymbol, Ticker, TickerFetchMeta
from praf_engine.errors import PipelineError
from praf_engine.universe.symbols import is_valid_symbol


@dataclass
class Plan:
    """``incremental``: request start -> symbols; ``full``: full-history downloads (capped); the rest is reported."""

    night: dt.date
    incremental: dict[dt.date, list[str]] = field(default_factory=dict)
    full: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)  # full-history candidates beyond the nightly cap
    up_to_date: list[str] = field(default_factory=list)  # no session of their venue since the last fetch
    last_fetched: dict[str, dt.date | None] = field(default_factory=dict)
    skipped_stale: int = 0  # active listings of exchanges the freshness gate skipped
    backed_off: list[str] = field(default_factory=list)  # stale at source, not due again before a later night
    venue: dict[str, str | None] = field(default_factory=dict)  # symbol -> trading calendar (None: weekdays)

    @property
    def symbols(self) -> int:
        return len(self.full) + sum(len(v) for v in self.incremental.values())


def venue_calendar(mic: str | None, exchange_code: str | None = None) -> str | None:
    """The trading calendar of a listing (``calendars.resolve_mic``, the one mapping); None when it has none."""
    try:
        return calendars.resolve_mic(mic, exchange_code)
    except PipelineError:
        return None  # an unknown venue: assume it trades every weekday


def sessions_between(calendar: str | None, start: dt.date, end: dt.date) -> int:
    """Sessions of ``calendar`` (None: weekdays) with start <= session <= end."""
    if start > end:
        return 0
    if calendar is None:
        return int(np.busday_count(start, end + dt.timedelta(days=1)))
    return len(calendars.sessions_between(calendar, start, end))


def has_session(mic: str | None, start: dt.date, end: dt.date, exchange_code: str | None = None) -> bool:
    """Whether the venue ``mic`` traded between ``start`` and ``end`` (inclusive)."""
    return sessions_between(venue_calendar(mic, exchange_code), start, end) > 0


def plan_night(settings: Settings, night: dt.date, *, symbols: list[str] | None = None, full: bool = False,
               skip_exchanges: Iterable[str] = ()) -> Plan:
    """Active, non-DLQ symbols (or exactly ``symbols``) outside ``skip_exchanges`` (the freshness gate's stale
    ones, counted in ``skipped_stale``); start = last_fetched_date + 1, minus the overlap window."""
    f = settings.fetch
    skip = sorted(skip_exchanges)
    query = (Ticker.select(Ticker.symbol, Ticker.mic, Ticker.exchange_code, TickerFetchMeta.last_fetched_date,
                           TickerFetchMeta.full_history_pending, TickerFetchMeta.stale_since, TickerFetchMeta.retry_after)
             .join(TickerFetchMeta, join_type=JOIN.LEFT_OUTER, on=(TickerFetchMeta.symbol == Ticker.symbol)))
    if symbols is not None:
        bad = [s for s in symbols if not is_valid_symbol(s)]
        if bad:
            raise PipelineError("CONFIGBAD", f"not valid symbols: {', '.join(bad[:10])}", {"symbols": bad[:50]})
        query = query.where(Ticker.symbol.in_(symbols))
    else:
        dlq = DLQSymbol.select(DLQSymbol.symbol)
        query = query.where((Ticker.status == "active") & Ticker.symbol.not_in(dlq))
        if skip:
            query = query.where(Ticker.exchange_code.not_in(skip))
    rows = list(query.order_by(Ticker.symbol).tuples())
    if symbols is not None:
        unknown = sorted(set(symbols) - {r[0] for r in rows})
        if unknown:
            raise PipelineError("CONFIGBAD", f"unknown symbols (not in tickers): {', '.join(unknown[:10])}", {"symbols": unknown[:50]})
    plan = Plan(night)
    if skip and symbols is None:
        plan.skipped_stale = Ticker.select().where(Ticker.status == "active", Ticker.exchange_code.in_(skip)).count()
    groups: dict[dt.date, list[str]] = defaultdict(list)
    candidates: list[tuple[int, str]] = []
    behind = night - dt.timedelta(days=f.full_history_after_days)
    calendar: dict[tuple[str | None, str], str | None] = {}
    traded: dict[tuple[str | None, dt.date], bool] = {}  # (calendar, last fetched) -> a session since: asked once
    for sym, mic, code, last, pending, stale_since, retry_after in rows:
        if (mic, code) not in calendar:
            calendar[(mic, code)] = venue_calendar(mic, code)
        cal = plan.venue[sym] = calendar[(mic, code)]
        plan.last_fetched[sym] = last
        if retry_after is not None and retry_after > night and symbols is None:
            plan.backed_off.append(sym)  # stale at source: its back-off runs (--symbols asks anyway)
            continue
        start = last + dt.timedelta(days=1) - dt.timedelta(days=f.overlap_days) if last else None
        if stale_since is not None and start is not None and not (full or pending):
            groups[start].append(sym)  # a stale symbol's retry: only what follows its newest bar, not the whole history
            continue
        if full or last is None or pending or last < behind:
            candidates.append((0 if last is None else 1, sym))
            continue
        if (cal, last) not in traded:
            traded[(cal, last)] = sessions_between(cal, last + dt.timedelta(days=1), night) > 0
        if not traded[(cal, last)]:
            plan.up_to_date.append(sym)
        else:
            groups[start].append(sym)  # type: ignore[index]
    candidates.sort()
    cap = len(candidates) if symbols is not None else f.full_history_cap
    plan.full = [s for _, s in candidates[:cap]]
    plan.deferred = [s for _, s in candidates[cap:]]
    plan.incremental = dict(sorted(groups.items()))
    return plan


def batches(plan: Plan, size: Callable[[], int]) -> Iterator[tuple[dt.date | None, list[str]]]:
    """(start, symbols) chunks; ``size`` is read at each chunk, so a fallback to half batches takes effect at once."""
    for start, group in [(None, plan.full), *plan.incremental.items()]:
        i = 0
        while i < len(group):
            n = max(1, size())
            yield start, group[i:i + n]
            i += n
