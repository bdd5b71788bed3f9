"""Trading calendars and seeded price paths (raw prices, splits, dividends, Yahoo adjustment) for the sandbox market."""

from __future__ import annotations

import functools
import math
import random
import threading
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import numpy as np

from praf_engine.sandbox.faults import stable_hash

CAL_START = date(2000, 1, 1)  # explicit, wide calendar bounds (exchange_calendars defaults to ~20 years back)
CAL_END = date(2035, 12, 31)
_TRADING_DAYS = 252.0


@dataclass(frozen=True)
class CalendarArrays:
    """One exchange calendar as arrays: sessions (datetime64[D]) and their market opens (epoch seconds)."""

    mic: str
    tz: str
    sessions: np.ndarray
    opens: np.ndarray
    open_time: time  # the regular local open, for dates that are not sessions

    def index(self, day: date | np.datetime64, side: str = "left") -> int:
        return int(np.searchsorted(self.sessions, np.datetime64(day, "D"), side=side))  # type: ignore[call-overload]

    def open_epoch(self, days: np.ndarray) -> np.ndarray:
        days = np.asarray(days, dtype="datetime64[D]")
        idx = np.clip(np.searchsorted(self.sessions, days), 0, len(self.sessions) - 1)
        hit = self.sessions[idx] == days
        out = np.where(hit, self.opens[idx], 0).astype(np.int64)
        if not hit.all():
            zone = ZoneInfo(self.tz)
            for k in np.flatnonzero(~hit):
                local = datetime.combine(days[k].item(), self.open_time, tzinfo=zone)
                out[k] = int(local.timestamp())
        return out


_CAL_LOCK = threading.Lock()
_CALS: dict[str, CalendarArrays] = {}


def calendar_arrays(mic: str) -> CalendarArrays:
    """The cached calendar of ``mic`` between CAL_START and CAL_END (built once per process)."""
    cal = _CALS.get(mic)
    if cal is not None:
        return cal
    with _CAL_LOCK:
        if mic not in _CALS:
            import exchange_calendars as xc

            xcal = xc.get_calendar(mic, start=CAL_START.isoformat(), end=CAL_END.isoformat())
            sessions = xcal.sessions.values.astype("datetime64[D]")
            opens = xcal.opens.values.astype("datetime64[s]").astype(np.int64)
            sessions.flags.writeable = False
            opens.flags.writeable = False
            _CALS[mic] = CalendarArrays(mic, str(xcal.tz), sessions, opens, xcal.open_times[-1][1])
        return _CALS[mic]


@dataclass(frozen=True)
class Profile:
    """A symbol's fixed parameters: price process, volume level and corporate-action schedule (global indices)."""

    i0: int  # global session index of the first bar
    p0: float
    sigma: float  # daily volatility
    mu: float  # daily log drift
    phi: float  # AR(1) coefficient of the log-price deviation (mean reversion)
    growth: float  # extra daily log drift until the last planned split, so split stocks grow into their splits
    t_growth: int
    range_k: float
    vol_base: float  # volume median in pre-split share units
    vol_sigma: float
    split_idx: np.ndarray
    split_ratio: np.ndarray
    div_idx: np.ndarray
    div_q: float  # dividend per payment as a share of the price

    @functools.cached_property
    def event_idx(self) -> frozenset[int]:
        return frozenset(int(i) for i in np.concatenate([self.split_idx, self.div_idx]))


_KIND_LEVEL = {  # price level: median, log sigma, min, max
    "etf": (45.0, 0.5, 8.0, 500.0), "spac": (10.3, 0.02, 9.0, 12.0), "unit": (10.5, 0.03, 9.0, 13.0),
    "warrant": (0.35, 0.7, 0.02, 3.0), "right": (0.15, 0.6, 0.01, 1.0), "preferred": (24.0, 0.08, 15.0, 30.0),
}
_CURRENCY_LEVEL = {"USD": (35.0, 0.9, 2.0, 800.0), "GBp": (450.0, 0.9, 20.0, 9000.0),
                   "EUR": (35.0, 0.9, 1.0, 900.0), "NOK": (120.0, 0.9, 5.0, 2500.0)}
_KIND_VOL = {"etf": (0.08, 0.28), "spac": (0.02, 0.06), "unit": (0.02, 0.06), "warrant": (0.6, 1.1),
             "right": (0.6, 1.1), "preferred": (0.05, 0.12)}
_VOLUME = {"nasdaq": (400e3, 1.3), "arca": (300e3, 1.2), "ftse": (1.5e6, 1.0), "dax": (1.2e6, 0.8),
           "euronext": (250e3, 1.3), ("nasdaq", "etf"): (60e3, 1.5), ("arca", "etf"): (150e3, 1.7),
           "spac": (40e3, 1.0), "unit": (3e3, 1.0), "warrant": (30e3, 1.0), "right": (20e3, 1.0),
           "preferred": (25e3, 0.8)}


def _dividend_policy(r: random.Random, kind: str, exchange: str, mic: str) -> tuple[int, float]:
    """(payments per year, annual yield); (0, 0) for non-payers."""
    if kind in ("spac", "unit", "warrant", "right"):
        return 0, 0.0
    if kind == "preferred":
        return 4, r.uniform(0.05, 0.075)
    if exchange in ("nasdaq", "arca"):
        p = 0.7 if kind == "etf" else 0.45
        return (4, r.uniform(0.005, 0.04)) if r.random() < p else (0, 0.0)
    if r.random() >= {"ftse": 0.75, "dax": 0.8}.get(exchange, 0.7):
        return 0, 0.0
    freq = {"ftse": r.choices((2, 4, 1), (0.6, 0.2, 0.2))[0], "dax": 1}.get(
        exchange, r.choices((1, 2, 4), (0.5, 0.2, 0.3))[0] if mic == "XOSL" else r.choices((1, 2), (0.6, 0.4))[0])
    return freq, r.uniform(0.01, 0.06)


def build_profile(seed: int, symbol: str, kind: str, exchange: str, currency: str, gen_start: date,
                  anchor: date, cal: CalendarArrays) -> Profile:
    """Per-symbol parameters from a stable per-symbol RNG; independent of the market's current ``today``."""
    r = random.Random(stable_hash("profile", seed, symbol))
    i0 = cal.index(gen_start)
    med, lsig, lo, hi = _KIND_LEVEL.get(kind) or _CURRENCY_LEVEL[currency]
    if exchange == "dax":
        med = 80.0
    p0 = min(hi, max(lo, r.lognormvariate(math.log(med), lsig)))
    vlo, vhi = _KIND_VOL.get(kind, (0.18, 0.5))
    sigma = math.exp(r.uniform(math.log(vlo), math.log(vhi))) / math.sqrt(_TRADING_DAYS)
    phi = 0.5 ** (1.0 / (r.uniform(1.0, 3.0) * _TRADING_DAYS))
    freq, yld = _dividend_policy(r, kind, exchange, cal.mic)
    if kind in ("spac", "unit"):
        base = 0.0
    elif kind in ("warrant", "right"):
        base = r.uniform(-0.08, 0.0)
    else:
        base = min(0.08, max(-0.04, r.gauss(0.02, 0.03)))
    mu = (base + yld) / _TRADING_DAYS

    # splits: 1-3 forward splits (2:1, 3:1, 3:2) or one 1:10 reverse split, on planned dates up to a year ahead
    split_idx, split_ratio = np.empty(0, np.int64), np.empty(0)
    first, last = gen_start.toordinal() + 365, anchor.toordinal() + 365
    if kind in ("common", "class", "adr", "etf") and last > first and r.random() < (0.05 if kind == "etf" else 0.15):
        if kind != "etf" and r.random() < 0.1:
            ratios = [0.1]
        else:
            ratios = r.choices((2.0, 3.0, 1.5), (0.6, 0.25, 0.15), k=r.choices((1, 2, 3), (0.55, 0.3, 0.15))[0])
        days = sorted(date.fromordinal(r.randint(first, last)) for _ in ratios)
        idx = np.searchsorted(cal.sessions, np.array(days, dtype="datetime64[D]"))
        idx, keep = np.unique(idx, return_index=True)
        ok = (idx > i0) & (idx < len(cal.sessions))
        split_idx, split_ratio = idx[ok].astype(np.int64), np.asarray(ratios, dtype=float)[keep][ok]
    growth, t_growth = 0.0, 0
    if len(split_idx):
        t_growth = max(int(split_idx[-1]) - i0, int(_TRADING_DAYS))
        growth = math.log(float(np.prod(split_ratio))) / t_growth

    # dividend ex-dates: every 12/freq months on a fixed day, moved to the next session
    div_idx = np.empty(0, np.int64)
    if freq:
        step = 12 // freq
        m0 = r.randrange(3, 6) if freq == 1 else r.randrange(step)
        months = np.arange(np.datetime64(gen_start, "M"), np.datetime64(CAL_END, "M"))
        months = months[(months.astype(np.int64) % 12 - m0) % step == 0]
        days = months.astype("datetime64[D]") + r.randrange(28)
        idx = np.unique(np.searchsorted(cal.sessions, days))
        div_idx = idx[(idx > i0) & (idx < len(cal.sessions)) & ~np.isin(idx, split_idx)].astype(np.int64)

    vmed, vsig = _VOLUME.get((exchange, kind)) or _VOLUME.get(kind) or _VOLUME[exchange]
    vol_med = min(5e7, max(500.0, r.lognormvariate(math.log(vmed), vsig)))
    vol_base = vol_med / float(np.prod(split_ratio)) if len(split_ratio) else vol_med
    return Profile(i0, p0, sigma, mu, phi, growth, t_growth, r.uniform(0.4, 0.8), vol_base, 0.45,
                   split_idx, split_ratio, div_idx, yld / freq if freq else 0.0)


@dataclass(frozen=True)
class RawHistory:
    """Unadjusted prices as traded (a split shows as a price drop), raw volumes and events by row position."""

    dates: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    split_pos: np.ndarray
    split_ratio: np.ndarray
    div_pos: np.ndarray
    div_amount: np.ndarray


def _ou(e: np.ndarray, phi: float, block: int = 256) -> np.ndarray:
    """x_t = phi * x_{t-1} + e_t, vectorised in blocks (prefix-stable: a longer input never changes earlier x)."""
    x = np.empty(len(e))
    k = np.arange(1, block + 1, dtype=float)
    pk, pinv = phi**k, phi ** (-k)
    prev = 0.0
    for s in range(0, len(e), block):
        eb = e[s : s + block]
        m = len(eb)
        xb = pk[:m] * (prev + np.cumsum(eb * pinv[:m]))
        x[s : s + m] = xb
        prev = float(xb[-1])
    return x


def _tick(x: np.ndarray) -> np.ndarray:
    x = np.maximum(x, 1e-4)
    return np.where(x >= 1.0, np.round(x, 2), np.round(x, 4))


def generate_raw(p: Profile, cal: CalendarArrays, i1: int, stream: int) -> RawHistory:
    """Rows for global sessions [p.i0, i1): a mean-reverting geometric random walk with drift, OHLC and volume."""
    i0 = p.i0
    n = max(0, i1 - i0)
    z = np.random.default_rng(stream).standard_normal((n, 5))  # C order: row t never depends on n
    t = np.arange(n, dtype=float)
    logp = math.log(p.p0) + p.mu * t + p.growth * np.minimum(t, p.t_growth) + _ou(p.sigma * z[:, 0], p.phi)
    div_pos = p.div_idx[p.div_idx < i1] - i0
    if len(div_pos):
        drops = np.zeros(n)
        drops[div_pos] = math.log1p(-p.div_q)  # the price falls by the dividend on the ex-date
        logp += np.cumsum(drops)
    level = np.exp(logp)
    sel = p.split_idx < i1
    split_pos, split_ratio = p.split_idx[sel] - i0, p.split_ratio[sel]
    shares = np.ones(n)  # cumulative split ratio: shares per original share
    for s, ratio in zip(split_pos, split_ratio, strict=True):
        shares[s:] *= ratio
    level_open = np.empty(n)
    level_open[1:] = level[:-1]
    level_open[:1] = level[:1]
    level_open *= np.exp(0.3 * p.sigma * z[:, 1])
    close, open_ = _tick(level / shares), _tick(level_open / shares)
    high = np.maximum(_tick(np.maximum(level_open, level) * np.exp(np.abs(z[:, 2]) * p.range_k * p.sigma) / shares),
                      np.maximum(open_, close))
    low = np.minimum(_tick(np.minimum(level_open, level) * np.exp(-np.abs(z[:, 3]) * p.range_k * p.sigma) / shares),
                     np.minimum(open_, close))
    base = np.exp(math.log(p.vol_base) + p.vol_sigma * z[:, 4] + 0.35 * np.abs(z[:, 0]))
    volume = np.maximum(np.rint(base * shares), 1.0)
    div_amount = np.round(close[div_pos - 1] * p.div_q, 4)
    for arr in (open_, high, low, close, volume, split_pos, split_ratio, div_pos, div_amount):
        arr.flags.writeable = False  # cached: callers get views, never a way to change the market
    return RawHistory(cal.sessions[i0:i1], open_, high, low, close, volume, split_pos, split_ratio, div_pos, div_amount)


def adjust(raw: RawHistory, m: int) -> dict[str, object]:
    """Yahoo's view of the first ``m`` rows: prices and volume split-adjusted, adj_close also dividend-adjusted.

    factor_split[t] = product of split ratios with ex-row > t; served price = raw / factor_split,
    served volume = rint(raw volume * factor_split); adj_close = close * product over later ex-dates e of
    (1 - dividend_e / close[e - 1]), dividends in split-adjusted units.
    """
    sp_sel, dv_sel = raw.split_pos < m, raw.div_pos < m
    split_pos, split_ratio = raw.split_pos[sp_sel], raw.split_ratio[sp_sel]
    div_pos = raw.div_pos[dv_sel]
    step = np.ones(m)
    step[split_pos - 1] = split_ratio
    factor = np.cumprod(step[::-1])[::-1]  # step[s - 1] holds the split at row s: it applies to rows t < s
    close = raw.close[:m] / factor
    div_amount = raw.div_amount[dv_sel] / factor[div_pos]
    dstep = np.ones(m)
    dstep[div_pos - 1] = 1.0 - div_amount / close[div_pos - 1]
    dfactor = np.cumprod(dstep[::-1])[::-1]
    dates = raw.dates[:m]
    return {
        "dates": dates,
        "open": raw.open[:m] / factor,
        "high": raw.high[:m] / factor,
        "low": raw.low[:m] / factor,
        "close": close,
        "adj_close": close * dfactor,
        "volume": np.maximum(np.rint(raw.volume[:m] * factor), 1.0),
        "dividends": dict(zip(dates[div_pos].tolist(), div_amount.tolist(), strict=True)),
        "splits": dict(zip(dates[split_pos].tolist(), split_ratio.tolist(), strict=True)),
    }
