"""The sandbox's synthetic market: the single source of listings, calendars and Yahoo-style bars with faults."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from praf_engine.calendars import resolve_mic
from praf_engine.sandbox import market_prices as mp
from praf_engine.sandbox.faults import FaultConfig, Injection, stable_hash
from praf_engine.sandbox.market_faults import FaultContext, apply_data_faults, cut_stale_source, kinds_hit
from praf_engine.sandbox.market_universe import (
    EURONEXT_MARKETS,
    EXCHANGES,
    SECURITY_KINDS,
    generate_listings,
    isin_check_digit,
    isin_is_valid,
    to_yahoo,
)

__all__ = [
    "EURONEXT_MARKETS", "EXCHANGES", "SECURITY_KINDS", "Bars", "Listing", "Market",
    "isin_check_digit", "isin_is_valid", "to_yahoo",
]


@dataclass(frozen=True)
class Listing:
    symbol: str  # Yahoo symbol (the scrapers must arrive at exactly this)
    exchange_code: str  # one of EXCHANGES
    exchange_symbol: str  # the exchange's own code as it appears in its file/page
    name: str
    isin: str
    currency: str  # as Yahoo reports it: USD, GBp, EUR, NOK
    sector: str
    mic: str  # trading calendar
    tz: str
    market: str  # Nasdaq tier Q/G/S, "NYSE Arca", "FTSE 100"/"FTSE 250", "DAX", or the Euronext market name
    is_etf: bool
    financial_status: str  # Nasdaq N/D/E/Q, "" elsewhere
    listed_on: date
    delisted_on: date | None

    def active_on(self, day: date) -> bool:
        return self.listed_on <= day and (self.delisted_on is None or day < self.delisted_on)


_LISTING_FIELDS = tuple(f.name for f in dataclasses.fields(Listing))
_COLUMNS = ("open", "high", "low", "close", "adj_close", "volume")


@dataclass(frozen=True, eq=False)
class Bars:
    """Daily bars as Yahoo serves them: prices and volume split-adjusted, adj_close also dividend-adjusted."""

    symbol: str
    currency: str
    dates: np.ndarray  # datetime64[D], ascending (a fault may add a duplicate or a non-session date)
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    adj_close: np.ndarray
    volume: np.ndarray  # float64, integral values, NaN = null
    dividends: dict[date, float] = field(default_factory=dict)  # ex-date -> amount (split-adjusted)
    splits: dict[date, float] = field(default_factory=dict)  # ex-date -> numerator/denominator

    def __len__(self) -> int:
        return len(self.dates)

    def frame(self) -> pd.DataFrame:
        data: dict[str, Any] = {"date": self.dates.astype("datetime64[s]")}
        data.update({c: getattr(self, c) for c in _COLUMNS})
        return pd.DataFrame(data)

    def between(self, start: date | None = None, end: date | None = None) -> Bars:
        """The bars (and events) with start <= date <= end."""
        if start is None and end is None:
            return self
        lo = np.datetime64(start or date.min, "D")
        hi = np.datetime64(end or date.max, "D")
        mask = (self.dates >= lo) & (self.dates <= hi)
        s, e = start or date.min, end or date.max
        return dataclasses.replace(
            self,
            dates=self.dates[mask],
            **{c: getattr(self, c)[mask] for c in _COLUMNS},
            dividends={d: a for d, a in self.dividends.items() if s <= d <= e},
            splits={d: r for d, r in self.splits.items() if s <= d <= e},
        )


def _calendar(mic: str) -> mp.CalendarArrays:
    """The sessions of a listing MIC, through the engine's one MIC -> calendar mapping (XNAS, ARCX -> XNYS)."""
    return mp.calendar_arrays(resolve_mic(mic))


def _as_date(value: date | datetime | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return date.fromisoformat(value)
    raise TypeError(f"expected a date, got {value!r}")


def _check_bounds(name: str, day: date) -> date:
    if not mp.CAL_START <= day <= mp.CAL_END:
        raise ValueError(f"{name} {day} is outside the sandbox calendars ({mp.CAL_START}..{mp.CAL_END})")
    return day


class Market:
    """A seeded synthetic market. Everything is a pure function of (size, seed, anchor, history_start, faults, today).

    ``anchor`` is the ``today`` given at construction: listing dates and the history_rewrite split are placed
    relative to it, so moving ``today`` later (tests move the sandbox a month ahead) changes the universe and
    extends histories without rewriting the past.
    """

    def __init__(
        self,
        size: int = 300,
        seed: int = 42,
        today: date | None = None,
        faults: FaultConfig | None = None,
        history_start: date = date(2006, 1, 2),
        *,
        cache_size: int = 256,
    ) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be a positive integer, got {size!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        self._size, self._seed = size, seed
        self.faults = faults if faults is not None else FaultConfig.none()
        self._history_start = _check_bounds("history_start", _as_date(history_start))
        self._anchor = _check_bounds("today", _as_date(today if today is not None else date.today()))
        if self._anchor <= self._history_start:
            raise ValueError(f"today {self._anchor} must be after history_start {self._history_start}")
        self._today = self._anchor
        specs = generate_listings(size, seed, self._anchor, self._history_start)
        self._listings = tuple(Listing(**{k: d[k] for k in _LISTING_FIELDS}) for d in specs)
        self._by_symbol = {listing.symbol: listing for listing in self._listings}
        self._kinds = {d["symbol"]: d["kind"] for d in specs}
        self._cache_size = cache_size
        self._init_caches()

    def _init_caches(self) -> None:
        self._profiles: dict[str, mp.Profile] = {}
        self._raw = functools.lru_cache(maxsize=self._cache_size)(self._build_raw)
        self._clean = functools.lru_cache(maxsize=self._cache_size)(self._build_clean)

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_profiles", "_raw", "_clean")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_caches()

    # ------------------------------------------------------------ identity
    @property
    def seed(self) -> int:
        return self._seed

    @property
    def size(self) -> int:
        return self._size

    @property
    def anchor(self) -> date:
        """The ``today`` the market was built for (listing dates and history_rewrite splits are placed around it)."""
        return self._anchor

    @property
    def history_start(self) -> date:
        return self._history_start

    @property
    def today(self) -> date:
        return self._today

    @today.setter
    def today(self, value: date) -> None:
        day = _check_bounds("today", _as_date(value))
        if day <= self._history_start:
            raise ValueError(f"today {day} must be after history_start {self._history_start}")
        self._today = day

    # ------------------------------------------------------------ universe
    @property
    def listings(self) -> tuple[Listing, ...]:
        """Every listing ever, including those listed after or delisted before ``today``."""
        return self._listings

    def universe(self, on: date | None = None) -> list[Listing]:
        day = _as_date(on) if on is not None else self._today
        return [listing for listing in self._listings if listing.active_on(day)]

    def listing(self, symbol: str) -> Listing | None:
        return self._by_symbol.get(symbol)

    def security_kind(self, symbol: str) -> str:
        """One of SECURITY_KINDS: common, class, adr, etf, spac, unit, warrant, right, preferred."""
        return self._kinds[self._require(symbol).symbol]

    def _require(self, symbol: str) -> Listing:
        listing = self._by_symbol.get(symbol)
        if listing is None:
            raise KeyError(f"unknown sandbox symbol {symbol!r}")
        return listing

    # ------------------------------------------------------------ calendars
    def sessions(self, mic: str, start: date, end: date) -> np.ndarray:
        """Trading sessions of ``mic`` with start <= session <= end (datetime64[D], read-only)."""
        cal = _calendar(mic)
        return cal.sessions[cal.index(_as_date(start)) : cal.index(_as_date(end), "right")]

    def session_open_epoch(self, mic: str, dates: np.ndarray) -> np.ndarray:
        """Epoch seconds of each date's market open (exchange local open; regular open time on non-sessions)."""
        return _calendar(mic).open_epoch(dates)

    # ------------------------------------------------------------ bars
    def _profile(self, listing: Listing) -> mp.Profile:
        prof = self._profiles.get(listing.symbol)
        if prof is None:
            prof = mp.build_profile(
                self._seed, listing.symbol, self._kinds[listing.symbol], listing.exchange_code, listing.currency,
                max(listing.listed_on, self._history_start), self._anchor, _calendar(listing.mic),
            )
            self._profiles[listing.symbol] = prof
        return prof

    def _end_idx(self, listing: Listing, as_of: date) -> int:
        """Global session index one past the symbol's last bar as of ``as_of``."""
        last = as_of if listing.delisted_on is None else min(as_of, date.fromordinal(listing.delisted_on.toordinal() - 1))
        return _calendar(listing.mic).index(last, "right")

    def _build_raw(self, symbol: str, i1: int) -> mp.RawHistory:
        listing = self._by_symbol[symbol]
        return mp.generate_raw(self._profile(listing), _calendar(listing.mic), i1, stable_hash("path", self._seed, symbol))

    def _build_clean(self, symbol: str, i1_today: int, i1: int) -> Bars:
        listing = self._by_symbol[symbol]
        raw = self._raw(symbol, i1_today)
        view = mp.adjust(raw, max(0, i1 - self._profile(listing).i0))
        for key in ("dates", *_COLUMNS):
            view[key].flags.writeable = False  # type: ignore[union-attr]
        return Bars(symbol, listing.currency, **view)  # type: ignore[arg-type]

    def _clean_bars(self, listing: Listing, as_of: date) -> Bars:
        i1_today = self._end_idx(listing, self._today)
        return self._clean(listing.symbol, i1_today, min(i1_today, self._end_idx(listing, as_of)))

    def raw_bars(self, symbol: str) -> Bars:
        """Unadjusted history as traded up to ``today`` (a split shows as a price drop; adj_close == close)."""
        listing = self._require(symbol)
        raw = self._raw(symbol, self._end_idx(listing, self._today))
        return Bars(
            symbol, listing.currency, raw.dates, raw.open, raw.high, raw.low, raw.close, raw.close, raw.volume,
            dict(zip(raw.dates[raw.div_pos].tolist(), raw.div_amount.tolist(), strict=True)),
            dict(zip(raw.dates[raw.split_pos].tolist(), raw.split_ratio.tolist(), strict=True)),
        )

    def true_bars(self, symbol: str, as_of: date | None = None) -> Bars:
        """The clean history listed_on..min(today, delisted_on - 1 day) as Yahoo would serve it, without faults.

        ``as_of`` (default and cap: today) gives the clean view of an earlier day (bars and events up to it).
        """
        day = min(_as_date(as_of), self._today) if as_of is not None else self._today
        clean = self._clean_bars(self._require(symbol), day)
        return dataclasses.replace(clean, dividends=dict(clean.dividends), splits=dict(clean.splits))

    def _fault_context(self, listing: Listing, as_of: date) -> FaultContext:
        prof = self._profile(listing)
        return FaultContext(
            self.faults, self._seed, listing.symbol, listing.currency, _calendar(listing.mic).sessions,
            prof.i0, prof.event_idx, self._end_idx(listing, self._anchor) - 1, as_of,
        )

    def _served(self, symbol: str, as_of: date | None) -> tuple[Bars, list[Injection]]:
        listing = self._require(symbol)
        day = min(_as_date(as_of), self._today) if as_of is not None else self._today
        clean = self._clean_bars(listing, day)
        ctx = self._fault_context(listing, day)
        if not kinds_hit(ctx):
            served, out = dataclasses.replace(clean, dividends=dict(clean.dividends), splits=dict(clean.splits)), []
        else:
            served, out = apply_data_faults(clean, ctx)
        served, cut = cut_stale_source(served, ctx)  # a source fault: Yahoo's history of the listing stopped
        return served, out + cut

    def bars(self, symbol: str, start: date | None = None, end: date | None = None, as_of: date | None = None) -> Bars:
        """Bars as served on ``as_of`` (default and cap: today) with data and source faults applied, sliced to [start, end]."""
        served, _ = self._served(symbol, as_of)
        return served.between(_as_date(start) if start else None, _as_date(end) if end else None)

    def injections(self, symbols: Iterable[str] | None = None, as_of: date | None = None) -> list[Injection]:
        """The data and source faults bars() applies on ``as_of`` (default today), for the universe or the given symbols."""
        day = min(_as_date(as_of), self._today) if as_of is not None else self._today
        names = [x.symbol for x in self.universe(day)] if symbols is None else list(symbols)
        out: list[Injection] = []
        for sym in names:
            ctx = self._fault_context(self._require(sym), day)
            if kinds_hit(ctx) or ctx.hits("stale_source"):
                out.extend(self._served(sym, day)[1])
        return out
