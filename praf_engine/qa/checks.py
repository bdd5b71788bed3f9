"""The primary QA checks (seed §5.2 and SPEC §5), vectorised over every bar of the universe's window at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from praf_engine import calendars
from praf_engine.db.models import BatchLatency
from praf_engine.lake import PRICE_COLUMNS
from praf_engine.qa.data import EPOCH, QAData, iso

Failure = tuple[str, dict[str, Any]]  # (symbol or '*', details a person can act on)
CheckFn = Callable[[QAData, dict[str, Any]], list[Failure]]
MAX_LISTED = 50  # dates listed in one failure's details


def by_symbol(data: QAData, mask: np.ndarray, **columns: np.ndarray) -> list[Failure]:
    """One failure per symbol having a True in ``mask``: the dates, and each extra column's values, as lists."""
    idx = np.flatnonzero(mask)
    if not len(idx):
        return []
    frame = pd.DataFrame({"sym": data.sym[idx], "date": iso(data.day[idx]), **{k: v[idx] for k, v in columns.items()}})
    out: list[Failure] = []
    for sym, group in frame.groupby("sym", sort=True):
        details: dict[str, Any] = {"count": len(group)}
        for key in ("date", *columns):
            values = group[key].tolist()[:MAX_LISTED]
            details["dates" if key == "date" else key] = [round(v, 6) if isinstance(v, float) else v for v in values]
        out.append((str(data.universe["symbol"].iat[int(sym)]), details))
    return out


def lag_check(data: QAData, p: dict[str, Any]) -> list[Failure]:
    behind = days_behind(data)
    fail = (behind < 0) | (behind > p["max_days_behind"])
    u = data.universe
    out = []
    for i in np.flatnonzero(fail):
        last = u["last_fetched_day"].iat[i]
        out.append((str(u["symbol"].iat[i]), {
            "days_behind": None if behind[i] < 0 else int(behind[i]), "calendar": u["mic"].iat[i],
            "last_fetched_date": None if last < 0 else iso(np.array([last]))[0],
            "threshold": p["max_days_behind"], "hint": "never fetched" if behind[i] < 0 else "sessions missed since the last fetch"}))
    return out


def days_behind(data: QAData) -> np.ndarray:
    """Sessions of each listing's calendar after its last fetched date, up to the as-of date (-1 = never fetched)."""
    u = data.universe
    last = u["last_fetched_day"].to_numpy()
    mic = u["mic_idx"].to_numpy()
    known = last >= 0
    behind = np.full(len(u), -1, dtype=np.int64)
    asof = np.full(int(known.sum()), data.as_of_day)
    sessions_after = data.sessions_upto(mic[known], asof) - data.sessions_upto(mic[known], np.minimum(last[known], data.as_of_day))
    behind[known] = np.maximum(sessions_after, 0)
    return behind


def date_shift_mask(data: QAData, window: int) -> np.ndarray:
    return data.in_window(window) & ~data.is_session()


def missing_dates(data: QAData, p: dict[str, Any]) -> list[Failure]:
    """Sessions in [max(window start, first bar in the lake), min(as_of, last fetched)] without a bar. The lower bound
    is the listing's first bar, not the day PRAF first saw it (back-filled history is checked too); only a listing
    with no bar at all in the lake falls back to first_seen. Listings whose bars sit on non-sessions (date_shift)
    are left to that check: their shifted bars would show here as gaps."""
    u = data.universe
    n = len(u)
    mic = u["mic_idx"].to_numpy()
    first_bar = u["first_bar_day"].to_numpy()
    lo = np.maximum(data.window_start(p["window_sessions"])[mic], np.where(first_bar >= 0, first_bar, u["first_seen_day"].to_numpy()))
    last_bar = np.full(n, -1, dtype=np.int64)
    if len(data.day):
        np.maximum.at(last_bar, data.sym, data.day)
    hi = u["last_fetched_day"].to_numpy().copy()
    hi = np.where(hi < 0, last_bar, np.minimum(hi, data.as_of_day))
    expected = np.where(hi >= lo, data.sessions_upto(mic, hi) - data.sessions_upto(mic, lo - 1), 0)
    lo_b, hi_b = lo[data.sym], hi[data.sym]
    present_rows = data.is_session() & ~data.repeated_date() & (data.day >= lo_b) & (data.day <= hi_b)
    present = np.bincount(data.sym[present_rows], minlength=n) if n else np.zeros(0, dtype=np.int64)
    missing = expected - present
    shifted = np.zeros(n, dtype=bool)
    shifted[data.sym[date_shift_mask(data, p["window_sessions"])]] = True
    out = []
    for i in np.flatnonzero((missing >= p["min_missing"]) & ~shifted):
        sess = calendars.sessions_between(data.mics[mic[i]], (EPOCH + lo[i]).item(), (EPOCH + hi[i]).item())
        a, b = np.searchsorted(data.sym, i), np.searchsorted(data.sym, i, "right")
        have = data.day[a:b] + EPOCH
        gone = np.setdiff1d(sess, have.astype("datetime64[D]"))
        out.append((str(u["symbol"].iat[i]), {"count": int(missing[i]), "dates": np.datetime_as_string(gone[:MAX_LISTED]).tolist(),
                                              "calendar": data.mics[mic[i]], "window_sessions": p["window_sessions"]}))
    return out


def null_fields(data: QAData, p: dict[str, Any]) -> list[Failure]:
    nulls = np.column_stack([np.isnan(data.prices[c]) for c in PRICE_COLUMNS]) if len(data.day) else np.zeros((0, 5), bool)
    mask = data.in_window(p["window_sessions"]) & nulls.any(axis=1)
    names = np.array([",".join(c for c, isnull in zip(PRICE_COLUMNS, row, strict=True) if isnull) for row in nulls[mask]], dtype=object)
    fields = np.empty(len(data.day), dtype=object)
    fields[mask] = names
    return by_symbol(data, mask, fields=fields)


def zero_volume(data: QAData, p: dict[str, Any]) -> list[Failure]:
    return by_symbol(data, data.in_window(p["window_sessions"]) & data.is_session() & (data.volume == 0))


def _moves(data: QAData) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return data.prices["close"] / data.previous_close()


def _unit_shift(ratio: np.ndarray, p: dict[str, Any]) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.abs(np.abs(np.log10(ratio)) - np.log10(p["factor"])) <= p["log10_tolerance"]


UNIT_DEFAULTS = {"factor": 100.0, "log10_tolerance": 0.15}


def stale_runs(data: QAData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per bar: does it repeat the symbol's previous bar exactly (open, high, low, close and volume; volume not 0,
    prices not null), the length of its run of identical bars, and the day of the run's first bar. A second stored
    bar of one date (duplicate_dates) is left out; two bars with no volume (null) count as the same volume."""
    if "stale" not in data._cache:
        n = len(data.day)
        rows = np.flatnonzero(~data.repeated_date())
        sym, vol = data.sym[rows], data.volume[rows]
        same = np.zeros(len(rows), dtype=bool)
        if len(rows) > 1:
            same[1:] = (sym[1:] == sym[:-1]) & ((vol[1:] == vol[:-1]) | (np.isnan(vol[1:]) & np.isnan(vol[:-1]))) & (vol[1:] != 0)
            for col in ("open", "high", "low", "close"):
                price = data.prices[col][rows]
                same[1:] &= price[1:] == price[:-1]  # NaN never equals: a null price is null_fields'
        run = np.cumsum(~same) - 1  # run number of each kept bar
        starts = np.flatnonzero(~same)
        repeat, length, since = np.zeros(n, dtype=bool), np.ones(n, dtype=np.int64), np.full(n, -1, dtype=np.int64)
        repeat[rows] = same
        length[rows] = np.diff(np.append(starts, len(rows)))[run] if len(rows) else 0
        since[rows] = data.day[rows][starts][run] if len(rows) else 0
        data._cache["stale"] = (repeat, length, since)
    return data._cache["stale"]


def resumed_after_stale(data: QAData) -> np.ndarray:
    """Per bar: the first bar after a run of stale_price (its move is measured against a stale close)."""
    out = np.zeros(len(data.day), dtype=bool)
    if data.stale_min_bars is None or not len(data.day):
        return out
    repeat, length, _since = stale_runs(data)
    rows = np.flatnonzero(~data.repeated_date())
    prev = rows[:-1]
    out[rows[1:]] = (~repeat[rows[1:]] & (data.sym[rows[1:]] == data.sym[prev]) & repeat[prev]
                     & (length[prev] >= data.stale_min_bars))
    return out


def stale_price(data: QAData, p: dict[str, Any]) -> list[Failure]:
    """min_bars identical consecutive bars (a frozen or stale feed); the repeated bars in the window are listed."""
    repeat, length, since = stale_runs(data)
    mask = data.in_window(p["window_sessions"]) & repeat & (length >= p["min_bars"])
    out = by_symbol(data, mask, since=np.array(iso(since), dtype=object), bars=length, close=data.prices["close"],
                    volume=data.volume)
    for _sym, details in out:
        details["hint"] = "the provider served the same bar again (frozen feed): refetch these dates"
    return out


def price_jump(data: QAData, p: dict[str, Any]) -> list[Failure]:
    """A move above max_move that is neither on a corporate-action day, nor a ~100x unit shift (currency_unit), nor the
    first bar after a frozen run (stale_price)."""
    ratio = _moves(data)
    move = ratio - 1.0
    mask = (data.in_window(p["window_sessions"]) & (np.abs(move) > p["max_move"]) & ~data.on_action_day()
            & ~_unit_shift(ratio, UNIT_DEFAULTS) & ~resumed_after_stale(data))
    return by_symbol(data, mask, move_pct=move * 100.0, prev_close=data.previous_close(), close=data.prices["close"])


def ohlc_sanity(data: QAData, p: dict[str, Any]) -> list[Failure]:
    o, h, lo, c = (data.prices[k] for k in ("open", "high", "low", "close"))
    eps = 1e-9 * np.nan_to_num(np.abs(h), nan=1.0)
    with np.errstate(invalid="ignore"):
        bad = (h < lo - eps) | (o > h + eps) | (o < lo - eps) | (c > h + eps) | (c < lo - eps)
        for k in PRICE_COLUMNS:
            bad |= data.prices[k] <= 0
    mask = data.in_window(p["window_sessions"]) & bad
    return by_symbol(data, mask, open=o, high=h, low=lo, close=c)


def duplicate_dates(data: QAData, p: dict[str, Any]) -> list[Failure]:
    return by_symbol(data, data.in_window(p["window_sessions"]) & data.repeated_date(), close=data.prices["close"])


def currency_unit(data: QAData, p: dict[str, Any]) -> list[Failure]:
    ratio = _moves(data)
    mask = data.in_window(p["window_sessions"]) & _unit_shift(ratio, p)  # no split explains a 100x move in adjusted data
    currency = data.universe["currency"].fillna("").to_numpy().astype(object)[data.sym]
    return by_symbol(data, mask, ratio=ratio, currency=currency)


def date_shift(data: QAData, p: dict[str, Any]) -> list[Failure]:
    out = by_symbol(data, date_shift_mask(data, p["window_sessions"]))
    mic = data.universe.set_index("symbol")["mic"]
    for sym, details in out:
        details["calendar"] = mic[sym]
        details["hint"] = "bars on days that are not sessions: the provider's dates are shifted (time zone?)"
    return out


def fetch_error(data: QAData, p: dict[str, Any]) -> list[Failure]:
    u = data.universe
    fails = u[u["consecutive_failures"] >= p["nights"]]
    return [(str(r.symbol), {"consecutive_failures": int(r.consecutive_failures), "last_error_code": r.last_error_code,
                             "fetch_status": r.fetch_status, "threshold": p["nights"]}) for r in fails.itertuples(index=False)]


def api_latency(data: QAData, p: dict[str, Any]) -> list[Failure]:
    rows = BatchLatency.select(BatchLatency.night, BatchLatency.latency_ms).where(BatchLatency.night <= data.as_of).tuples()
    frame = pd.DataFrame(list(rows), columns=["night", "latency_ms"])
    if frame.empty:
        return []
    p95 = frame.groupby("night")["latency_ms"].quantile(0.95).sort_index().tail(p["nights"]) / 1000.0
    if len(p95) < p["nights"] or not bool((p95 > p["p95_s"]).all()):
        return []
    return [("*", {"nights": [str(n)[:10] for n in p95.index], "p95_s": [round(float(v), 3) for v in p95], "threshold_s": p["p95_s"]})]


CHECK_FUNCTIONS: dict[str, CheckFn] = {
    "lag_check": lag_check, "missing_dates": missing_dates, "null_fields": null_fields, "zero_volume": zero_volume,
    "price_jump": price_jump, "fetch_error": fetch_error, "api_latency": api_latency, "ohlc_sanity": ohlc_sanity,
    "duplicate_dates": duplicate_dates, "currency_unit": currency_unit, "date_shift": date_shift, "stale_price": stale_price,
}
