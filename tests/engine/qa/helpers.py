"""Hand-built QA inputs: tiny universes of bars on real calendars, as QAData or as a home (tickers + lake)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from praf_engine import calendars
from praf_engine.db.models import CorporateAction, Ticker, TickerFetchMeta
from praf_engine.lake import Lake
from praf_engine.qa.data import EPOCH, QAData, day_number

MIC_EXCHANGE = {"XNYS": "nasdaq", "XLON": "ftse", "XETR": "dax", **{m: "euronext" for m in ("XPAR", "XAMS", "XBRU", "XLIS", "XDUB", "XOSL", "XMIL")}}


def session_dates(mic: str, start: dt.date, end: dt.date) -> list[dt.date]:
    return [d.item() for d in calendars.sessions_between(mic, start, end)]


def frame(dates: Sequence[dt.date], close: Sequence[float] | None = None, **cols: Sequence[float]) -> pd.DataFrame:
    """OHLCV bars: open=low=close*0.99 .. high=close*1.01 unless given; volume 1000 on the last bar and 1000-1004 before
    it, never the same on two bars in a row (so flat prices are a quiet market, not a frozen feed: no stale_price)."""
    c = np.asarray(close if close is not None else np.full(len(dates), 10.0), dtype=float)
    data = {"date": pd.to_datetime(list(dates)), "open": c, "high": c * 1.01, "low": c * 0.99, "close": c, "adj_close": c,
            "volume": 1000.0 + (np.arange(len(dates))[::-1] % 5)}
    data.update({k: np.asarray(v, dtype=float) for k, v in cols.items()})
    return pd.DataFrame(data)


def make_home(lake: Lake, listings: Mapping[str, tuple[str, pd.DataFrame]], *, last_fetched: Mapping[str, dt.date | None] | None = None,
              failures: Mapping[str, int] | None = None, actions: Sequence[tuple[str, dt.date]] = (),
              first_seen: dt.date | Mapping[str, dt.date] = dt.date(2020, 1, 2)) -> None:
    """tickers + ticker_fetch_meta + corporate_actions rows and the lake frames of ``listings`` {symbol: (mic, frame)};
    ``first_seen`` (the day PRAF first scraped the listing) for all, or per symbol."""
    lake.write_many({s: f for s, (_m, f) in listings.items() if len(f)})
    for sym, (mic, f) in listings.items():
        seen = first_seen.get(sym, dt.date(2020, 1, 2)) if isinstance(first_seen, Mapping) else first_seen
        Ticker.insert(symbol=sym, exchange_code=MIC_EXCHANGE[mic], mic=mic, currency="USD", first_seen=seen,
                      last_seen=dt.date(2030, 1, 1), status="active").on_conflict_ignore().execute()
        last = (last_fetched or {}).get(sym, f["date"].max().date() if len(f) else None)
        TickerFetchMeta.insert(symbol=sym, last_fetched_date=last, consecutive_failures=(failures or {}).get(sym, 0),
                               fetch_status="ok").on_conflict_ignore().execute()
    for sym, day in actions:
        CorporateAction.insert(symbol=sym, action_date=day, action_type="split", ratio=2.0).on_conflict_ignore().execute()


def make_data(listings: Mapping[str, tuple[str, pd.DataFrame]], as_of: dt.date, *,
              last_fetched: Mapping[str, dt.date | None] | None = None, actions: Sequence[tuple[str, dt.date]] = (),
              first_seen: dt.date = dt.date(2000, 1, 3), history_sessions: int = 60) -> QAData:
    """QAData straight from frames (no database, no lake): for pure, fast property tests of the checks."""
    symbols = sorted(listings)
    mics = sorted({m for m, _ in listings.values()})
    rows: dict[str, Any] = {"symbol": symbols, "exchange_code": [MIC_EXCHANGE[listings[s][0]] for s in symbols],
                            "mic": [listings[s][0] for s in symbols], "currency": ["USD"] * len(symbols)}
    universe = pd.DataFrame(rows)
    universe["mic_idx"] = [mics.index(m) for m in universe["mic"]]
    universe["first_seen_day"] = day_number(first_seen)
    universe["first_bar_day"] = [day_number(listings[s][1]["date"].min().date()) if len(listings[s][1]) else -1 for s in symbols]
    lf = []
    for s in symbols:
        f = listings[s][1]
        default = f["date"].max().date() if len(f) else None
        value = (last_fetched or {}).get(s, default)
        lf.append(-1 if value is None else day_number(value))
    universe["last_fetched_day"] = lf
    universe["consecutive_failures"] = 0
    universe["last_error_code"] = None
    universe["fetch_status"] = "ok"
    start = min(calendars.window_start(m, as_of, history_sessions) for m in mics) - dt.timedelta(days=10)
    d0 = day_number(start)
    span = np.arange(d0, day_number(as_of) + 1)
    session = np.vstack([calendars.is_session(m, (span + EPOCH.astype(np.int64)).astype("datetime64[D]")) for m in mics])
    parts = []
    for i, s in enumerate(symbols):
        f = listings[s][1]
        f = f[(f["date"] >= pd.Timestamp(start)) & (f["date"] <= pd.Timestamp(as_of))]
        parts.append(pd.DataFrame({"sym": i, "day": (f["date"].to_numpy().astype("datetime64[D]") - EPOCH).astype(np.int64),
                                   **{c: f[c].to_numpy(dtype=float) for c in ("open", "high", "low", "close", "adj_close", "volume")}}))
    bars = pd.concat(parts).sort_values(["sym", "day"], kind="stable")
    pos = {s: i for i, s in enumerate(symbols)}
    return QAData(as_of, universe, mics, bars["sym"].to_numpy(np.int32), bars["day"].to_numpy(np.int32),
                  {c: bars[c].to_numpy(float) for c in ("open", "high", "low", "close", "adj_close")}, bars["volume"].to_numpy(float),
                  d0, session, np.cumsum(session, axis=1).astype(np.int32), {(pos[s], day_number(d)) for s, d in actions})
