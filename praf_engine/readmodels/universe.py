"""Universe health detail (issue 15): the listings behind the universe panel's numbers — new, delisted and relisted
in one month, per exchange — each a row the TUI opens on the symbol screen."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass

from praf_engine.db.models import Ticker
from praf_engine.errors import PipelineError
from praf_engine.readmodels.rows import as_date

CHANGES = ("new", "delisted", "relisted")
LIMIT = 5000  # listings shown for one month (a first scrape makes the whole universe "new"); the counts are exact
_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")


@dataclass(frozen=True)
class UniverseListing:
    """One listing that changed in the month: ``change`` new (first seen), delisted (absent from its exchange's
    scrape; archived later counts too) or relisted (seen again after a delisting); ``on`` the day of the change."""

    symbol: str
    exchange: str
    name: str | None
    change: str
    on: dt.date
    status: str


@dataclass(frozen=True)
class ExchangeDelta:
    exchange: str
    new: int
    delisted: int
    relisted: int


@dataclass(frozen=True)
class UniverseDetail:
    month: str  # YYYY-MM
    months: tuple[str, ...]  # the months the panel shows, oldest first (the detail's choices)
    change: str | None  # the filter (None: every change)
    exchanges: tuple[ExchangeDelta, ...]  # per exchange, the month's counts (whatever the filter)
    listings: tuple[UniverseListing, ...]  # by exchange, change, symbol; at most LIMIT
    total: int  # listings of the filter (more than len(listings) when cut at LIMIT)


def months_upto(as_of: dt.date, months: int = 6) -> tuple[str, ...]:
    """``months`` YYYY-MM keys ending with as_of's month, oldest first (the universe panel's)."""
    y, m = as_of.year, as_of.month
    keys = []
    for _ in range(months):
        keys.append(f"{y:04d}-{m:02d}")
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    return tuple(reversed(keys))


def month_bounds(month: str) -> tuple[dt.date, dt.date]:
    """First and last day of ``month`` (YYYY-MM); UNIVERSEQUERY for anything else."""
    match = _MONTH.fullmatch(month) if isinstance(month, str) else None
    if match is None:
        raise PipelineError("UNIVERSEQUERY", f"a month is YYYY-MM, not {str(month)[:20]!r}", {"month": str(month)[:20]})
    y, m = int(match.group(1)), int(match.group(2))
    first = dt.date(y, m, 1)
    nxt = dt.date(y + 1, 1, 1) if m == 12 else dt.date(y, m + 1, 1)
    return first, nxt - dt.timedelta(days=1)


def universe_detail(as_of: dt.date, month: str | None = None, change: str | None = None, limit: int = LIMIT) -> UniverseDetail:
    """The listings that changed in ``month`` (default: as_of's), up to as_of: new (first_seen in the month), delisted
    (status delisted/archived, status_changed in the month — the panel's rule) and relisted (active again: status
    active, status_changed in the month after its first_seen). ``change`` keeps one kind."""
    if change is not None and change not in CHANGES:
        raise PipelineError("UNIVERSEQUERY", f"a change is one of {', '.join(CHANGES)}, not {str(change)[:20]!r}", {"change": str(change)[:20]})
    month = month or f"{as_of.year:04d}-{as_of.month:02d}"
    first, last = month_bounds(month)
    last = min(last, as_of)
    cols = (Ticker.symbol, Ticker.exchange_code, Ticker.name, Ticker.status, Ticker.first_seen, Ticker.status_changed)
    rows: list[UniverseListing] = []
    if first <= last:
        for sym, exch, name, status, seen, _changed in Ticker.select(*cols).where(Ticker.first_seen.between(first, last)).tuples():
            rows.append(UniverseListing(sym, exch, name, "new", as_date(seen) or first, status))
        for sym, exch, name, status, _seen, changed in Ticker.select(*cols).where(
                Ticker.status.in_(("delisted", "archived")), Ticker.status_changed.between(first, last)).tuples():
            rows.append(UniverseListing(sym, exch, name, "delisted", as_date(changed) or first, status))
        for sym, exch, name, status, _seen, changed in Ticker.select(*cols).where(
                Ticker.status == "active", Ticker.status_changed.between(first, last), Ticker.first_seen < Ticker.status_changed).tuples():
            rows.append(UniverseListing(sym, exch, name, "relisted", as_date(changed) or first, status))
    counts: Counter[tuple[str, str]] = Counter((r.exchange, r.change) for r in rows)
    exchanges = tuple(ExchangeDelta(e, counts[(e, "new")], counts[(e, "delisted")], counts[(e, "relisted")])
                      for e in sorted({r.exchange for r in rows}))
    kept = sorted((r for r in rows if change is None or r.change == change),
                  key=lambda r: (r.exchange, CHANGES.index(r.change), r.symbol))
    return UniverseDetail(month, months_upto(as_of), change, exchanges, tuple(kept[:limit]), len(kept))
