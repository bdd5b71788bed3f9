"""Data-fault injection of the sandbox market: turns clean Yahoo-style bars into what a faulty Yahoo serves."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np

from praf_engine.sandbox.faults import DATA_FAULTS, FaultConfig, Injection, stable_hash, stable_unit

if TYPE_CHECKING:
    from praf_engine.sandbox.market import Bars

GRID = 30  # sessions: the window faults are placed in, and the period of each kind's fault dates
GRID_OFFSETS = {"gap": 0, "null_field": 6, "zero_volume": 12, "jump": 18, "frozen_bar": 24}  # distinct, so dates never collide
REWRITE_BACK = 10  # history_rewrite: the split lands within the last 10 sessions before the market's anchor
REVEAL_AFTER = 3  # ... and shows up (event + re-adjusted history) 3 sessions after it
PRICE_FIELDS = ("open", "high", "low", "close", "adj_close")
JUMP_FACTORS = (2.2, 0.2)  # +120 % or -80 %: both beyond the 75 % simple-return threshold
REWRITE_RATIOS = (2.0, 3.0)
SHIFT_BARS = 10
FROZEN_REPEATS = (2, 4)  # frozen_bar: the source bar served again on 2-4 more sessions (runs of 3-5 identical bars)
ONE_DAY = np.timedelta64(1, "D")


@dataclass(frozen=True)
class FaultContext:
    """What fault placement needs to know about one symbol; row r of the clean bars is session first_idx + r."""

    faults: FaultConfig
    seed: int
    symbol: str
    currency: str
    sessions: np.ndarray  # the venue's full session calendar
    first_idx: int
    event_idx: frozenset[int]  # true split/dividend sessions (the full plan, independent of as_of)
    anchor_idx: int  # last session of the symbol at the market's anchor date (-1 if none)
    as_of: date

    def hits(self, kind: str) -> bool:
        if kind == "currency_switch" and self.currency != "GBp":
            return False
        return self.faults.hits(kind, self.symbol, self.seed)


def kinds_hit(ctx: FaultContext) -> list[str]:
    return [k for k in DATA_FAULTS if ctx.hits(k)]


def _day(x: np.datetime64) -> date:
    return x.astype("datetime64[D]").item()


def rewrite_plan(ctx: FaultContext) -> tuple[int, float] | None:
    """(session index, ratio) of the history_rewrite split, stable for the market's lifetime; None if no room."""
    idx = ctx.anchor_idx - stable_hash("rewrite-at", ctx.seed, ctx.symbol) % REWRITE_BACK
    while idx in ctx.event_idx and idx > ctx.first_idx:
        idx -= 1
    if idx <= ctx.first_idx or idx + REVEAL_AFTER >= len(ctx.sessions):
        return None
    return idx, REWRITE_RATIOS[stable_hash("rewrite-ratio", ctx.seed, ctx.symbol) % 2]


def apply_data_faults(bars: Bars, ctx: FaultContext) -> tuple[Bars, list[Injection]]:
    """Apply every data fault that hits ``ctx.symbol`` to clean bars; return the served bars and the injections.

    Order: history_rewrite, jump, null_field, zero_volume, gap, currency_switch, frozen_bar, duplicate_last_row, date_shift.
    Injection dates are true session dates, except date_shift, whose dates are the served (shifted) dates.
    """
    kinds = kinds_hit(ctx)
    n = len(bars.dates)
    if not kinds or n == 0:
        return bars, []
    cols: dict[str, np.ndarray] = {f: getattr(bars, f).astype(float, copy=True) for f in (*PRICE_FIELDS, "volume")}
    dates = bars.dates.copy()
    dividends, splits = dict(bars.dividends), dict(bars.splits)
    first, last = ctx.first_idx, ctx.first_idx + n - 1
    sym, seed = ctx.symbol, ctx.seed
    out: list[Injection] = []
    sessions = ctx.sessions

    rewrite = rewrite_plan(ctx)
    if "history_rewrite" in kinds and rewrite and rewrite[0] <= last:
        idx, ratio = rewrite
        day, revealed_on = _day(sessions[idx]), _day(sessions[idx + REVEAL_AFTER])
        revealed = ctx.as_of >= revealed_on
        rows = slice(None) if revealed else slice(idx - first, None)
        for f in PRICE_FIELDS:
            cols[f][rows] /= ratio
        cols["volume"][rows] *= ratio
        dividends = {d: (a / ratio if revealed or d >= day else a) for d, a in dividends.items()}
        if revealed:
            splits = dict(sorted({**splits, day: ratio}.items()))
        out.append(Injection("history_rewrite", sym, (day,), {"ratio": ratio, "revealed_on": revealed_on, "revealed": revealed}))

    lo = max(last - GRID + 1, first)
    phase = stable_hash("grid", seed, sym)

    def grid_idx(kind: str) -> int | None:
        j = last - (last - phase - GRID_OFFSETS[kind]) % GRID
        return j if j >= lo else None

    if "jump" in kinds and (j := grid_idx("jump")) is not None:
        busy = ctx.event_idx | ({rewrite[0]} if rewrite else set())
        free = [k for k in (*range(j, last + 1), *range(j - 1, lo - 1, -1)) if k > first and k not in busy]
        if free:
            j = free[0]
            factor = JUMP_FACTORS[stable_hash("jump-factor", seed, sym) % 2]
            for f in PRICE_FIELDS:
                cols[f][j - first :] *= factor
            out.append(Injection("jump", sym, (_day(sessions[j]),), {"factor": factor}))
    if "null_field" in kinds and (j := grid_idx("null_field")) is not None:
        field = PRICE_FIELDS[stable_hash("null-field", seed, sym) % len(PRICE_FIELDS)]
        cols[field][j - first] = np.nan
        out.append(Injection("null_field", sym, (_day(sessions[j]),), {"field": field}))
    if "zero_volume" in kinds and (j := grid_idx("zero_volume")) is not None:
        cols["volume"][j - first] = 0.0
        out.append(Injection("zero_volume", sym, (_day(sessions[j]),), {}))
    keep = np.ones(n, dtype=bool)
    if "gap" in kinds and (j := grid_idx("gap")) is not None:
        length = 1 + stable_hash("gap-length", seed, sym) % 3
        if rewrite and j <= rewrite[0] < j + length:  # keep the history_rewrite split row visible
            j = rewrite[0] + 1 if rewrite[0] < last else max(lo, rewrite[0] - length)
        end = min(j + length, last + 1, rewrite[0] if rewrite and j < rewrite[0] else last + 1)
        if end - j < n:
            keep[j - first : end - first] = False
            out.append(Injection("gap", sym, tuple(_day(d) for d in sessions[j:end]), {"sessions": end - j}))
    if not keep.all():
        dates = dates[keep]
        cols = {f: a[keep] for f, a in cols.items()}

    if "currency_switch" in kinds:
        k = min(len(dates), 5 + stable_hash("currency-bars", seed, sym) % 6)
        for f in PRICE_FIELDS:
            cols[f][-k:] /= 100.0
        out.append(Injection("currency_switch", sym, tuple(_day(d) for d in dates[-k:]), {"divisor": 100.0, "bars": k}))
    if "frozen_bar" in kinds and (j := grid_idx("frozen_bar")) is not None:
        busy = {d for inj in out for d in inj.dates} | {_day(sessions[k]) for k in ctx.event_idx if first <= k <= last}
        frozen = _freeze(dates, cols, busy, int(np.searchsorted(dates, sessions[j])), int(np.searchsorted(dates, sessions[lo])),
                         FROZEN_REPEATS[0] + stable_hash("frozen-repeats", seed, sym) % (FROZEN_REPEATS[1] - FROZEN_REPEATS[0] + 1))
        if frozen:
            out.append(Injection("frozen_bar", sym, frozen[1:], {"source": frozen[0], "bars": len(frozen)}))
    if "duplicate_last_row" in kinds:
        u = stable_unit("duplicate", seed, sym)
        delta = (0.001 + 0.009 * u) * (1 if u < 0.5 else -1)
        row = {f: a[-1] for f, a in cols.items()}
        close = row["close"] * (1 + delta)
        row.update(close=close, adj_close=row["adj_close"] * (1 + delta),
                   high=row["high"] if np.isnan(row["high"]) else max(row["high"], close),
                   low=row["low"] if np.isnan(row["low"]) else min(row["low"], close))
        cols = {f: np.append(a, row[f]) for f, a in cols.items()}
        dates = np.append(dates, dates[-1])
        out.append(Injection("duplicate_last_row", sym, (_day(dates[-1]),), {"close": float(close), "delta": delta}))
    if "date_shift" in kinds:
        k = min(SHIFT_BARS, len(dates))
        while k < len(dates) and dates[-k - 1] >= dates[-k] - ONE_DAY:  # extend so no two bars share a date
            k += 1
        original = tuple(_day(d) for d in dates[-k:])
        dates = dates.copy()
        dates[-k:] -= ONE_DAY
        shifted = tuple(dict.fromkeys(_day(d) for d in dates[-k:]))
        out.append(Injection("date_shift", sym, shifted, {"days": -1, "bars": k, "original_dates": tuple(dict.fromkeys(original))}))

    served: dict[str, Any] = {"dates": dates, **cols, "dividends": dividends, "splits": splits}
    return dataclasses.replace(bars, **served), out


def _freeze(dates: np.ndarray, cols: dict[str, np.ndarray], busy: set[date], want: int, lo: int, repeats: int) -> tuple[date, ...]:
    """frozen_bar: serve the bar of one row again (every price and the volume) on the next ``repeats`` rows, in place.

    The source row is ``want`` (the kind's grid session) or the nearest earlier, else later, row whose run and the
    bar after it (the feed resumes) touch no other fault's date nor a corporate-action date; rows start at ``lo``.
    Returns the source date and the repeated dates (empty when no row fits)."""
    days = dict(enumerate((_day(d) for d in dates[lo:]), start=lo))  # the rows of the window only

    def fits(r: int) -> bool:
        return r >= lo and r + repeats + 1 < len(dates) and not busy.intersection(days[k] for k in range(r, r + repeats + 2))

    for r in (*range(want, lo - 1, -1), *range(want + 1, len(dates))):
        if fits(r):
            for a in cols.values():
                a[r + 1 : r + repeats + 1] = a[r]
            return tuple(days[k] for k in range(r, r + repeats + 1))
    return ()


STALE_SOURCE_BACK = (60, 120)  # stale_source: Yahoo's history ends 60-120 sessions before the market's anchor


def cut_stale_source(bars: Bars, ctx: FaultContext) -> tuple[Bars, list[Injection]]:
    """stale_source: the served history (and its events) ends STALE_SOURCE_BACK sessions before the anchor, a day
    fixed for the market's lifetime; the listing stays in the universe and Yahoo still answers 200."""
    if not ctx.hits("stale_source") or ctx.anchor_idx < ctx.first_idx:
        return bars, []
    lo, hi = STALE_SOURCE_BACK
    end = max(ctx.first_idx, ctx.anchor_idx - lo - stable_hash("stale-source", ctx.seed, ctx.symbol) % (hi - lo + 1))
    day = _day(ctx.sessions[end])
    if not len(bars.dates) or bars.dates[-1] <= np.datetime64(day, "D"):
        return bars, []
    cut = bars.between(end=day)
    return cut, [Injection("stale_source", ctx.symbol, (day,), {"bars_cut": len(bars) - len(cut)})]
