"""The dashboard's DTOs (frozen dataclasses): KPI cards, panels, failure rows; re-exported by praf_engine.service."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class KpiCard:
    key: str
    label: str
    count: int
    pct_of_universe: float
    colour: str  # green / yellow / red (seed §5.6); "neutral" for the universe counts
    threshold: str  # shown on hover
    panel: str


@dataclass(frozen=True)
class LagRow:
    symbol: str
    exchange_code: str
    calendar: str
    last_fetched_date: dt.date | None
    days_behind: int | None  # None: never fetched


@dataclass(frozen=True)
class TimelinessPanel:
    as_of: dt.date
    threshold: int
    lagging: tuple[LagRow, ...]  # most behind first
    total_lagging: int
    histogram: tuple[tuple[str, int], ...]  # (bucket, symbols) over the whole active universe


@dataclass(frozen=True)
class SymbolIssue:
    symbol: str
    check_name: str
    count: int
    dates: tuple[str, ...]
    details: dict[str, Any]


@dataclass(frozen=True)
class CheckPanel:
    """Completeness (missing_dates, null_fields) or volume/price quality (zero_volume, price_jump, …)."""

    qa_date: dt.date | None
    counts: dict[str, int]
    colours: dict[str, str]
    issues: dict[str, tuple[SymbolIssue, ...]]


@dataclass(frozen=True)
class FetchErrorRow:
    symbol: str
    error_code: str
    msg: str
    tries: int
    exit_name: str | None


@dataclass(frozen=True)
class NightPoint:
    night: dt.date
    p50_ms: float | None
    p95_ms: float | None
    batches: int
    errors: int


@dataclass(frozen=True)
class FetchHealthPanel:
    night: dt.date | None
    errors: tuple[FetchErrorRow, ...]
    colour: str
    series: tuple[NightPoint, ...]  # the 30 nights up to as_of, oldest first


@dataclass(frozen=True)
class UniverseMonth:
    month: str  # YYYY-MM
    new: int
    delisted: int


@dataclass(frozen=True)
class FailureRow:
    id: int
    symbol: str
    date: dt.date
    check_name: str
    severity: str
    details: dict[str, Any]
    resolved: bool
    resolution: str | None
    note: str | None
    resolved_by: str | None
    resolved_at: dt.datetime | None


@dataclass(frozen=True)
class FailurePage:
    total: int
    offset: int
    limit: int
    rows: tuple[FailureRow, ...]
