"""The fetch's per-batch work done at once: splitting yfinance's frame, the raw CSV, the meta and event writes."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from praf_engine.db.models import CorporateAction, Ticker, TickerFetchMeta
from praf_engine.fetch import tracker
from praf_engine.fetch.actions import last_adj_ratio, record_events, record_events_many
from praf_engine.fetch.cache import raw_csv
from praf_engine.fetch.client import split_frames

DAY = dt.date(2025, 6, 2)


def _reference_split(data: pd.DataFrame, symbol: str, end: dt.date):
    """The one-``xs``-per-symbol split the batched one replaced (kept here as the specification)."""
    sub = data.xs(symbol, axis=1, level=1)
    keep = sub.reindex(columns=["Open", "High", "Low", "Close", "Adj Close"]).notna().any(axis=1)
    sub = sub[keep]
    frame = pd.DataFrame({
        "date": pd.DatetimeIndex(sub.index).tz_localize(None).normalize(),
        "open": sub.get("Open"), "high": sub.get("High"), "low": sub.get("Low"), "close": sub.get("Close"),
        "adj_close": sub.get("Adj Close"), "volume": sub.get("Volume"),
    }).reset_index(drop=True)
    frame = frame[frame["date"].dt.date <= end]

    def events(column: pd.Series) -> dict[dt.date, float]:
        values = column[column.fillna(0) != 0]
        return {ts.date(): float(v) for ts, v in values.items()}

    return frame, (events(sub["Dividends"]) if "Dividends" in sub else {}), (events(sub["Stock Splits"]) if "Stock Splits" in sub else {})


def _download_frame() -> pd.DataFrame:
    """A (Price, Ticker) frame shaped like ``yf.download(..., actions=True)`` of three symbols over six days."""
    index = pd.DatetimeIndex(pd.date_range("2025-06-02", periods=6, freq="D", unit="s"), name="Date")
    rng = np.random.default_rng(3)
    columns: dict[tuple[str, str], np.ndarray] = {}
    for sym in ("AAA", "BBB.L", "CCC"):
        close = 10 + rng.random(6)
        if sym == "BBB.L":
            close[[1, 4]] = np.nan  # no trade those days (another symbol did)
        for field in ("Open", "High", "Low", "Close", "Adj Close"):
            values = close * (0.98 if field == "Adj Close" else 1.0)
            columns[(field, sym)] = values if field == "Close" else np.where(np.isnan(close), np.nan, values)
        columns[("Volume", sym)] = (np.arange(6) * 1000 + 7) if sym != "BBB.L" else np.where(np.isnan(close), np.nan, 5.0)
        columns[("Dividends", sym)] = np.array([0, 0, 0.25 if sym == "AAA" else 0, 0, 0, 0.5], dtype=float)
        columns[("Stock Splits", sym)] = np.array([0, 0, 0, 2.0 if sym == "CCC" else 0, 0, 0], dtype=float)
    columns[("Capital Gains", "CCC")] = np.zeros(6)
    frame = pd.DataFrame(columns, index=index)
    frame.columns = pd.MultiIndex.from_tuples(frame.columns, names=["Price", "Ticker"])
    return frame.sort_index(axis=1)


@pytest.mark.parametrize("end", [dt.date(2025, 6, 7), dt.date(2025, 6, 5)])
def test_split_frames_gives_what_one_xs_per_symbol_gave(end: dt.date) -> None:
    data = _download_frame()
    got = split_frames(data, ["AAA", "BBB.L", "CCC", "ABSENT"], end)
    assert set(got) == {"AAA", "BBB.L", "CCC"}
    for sym, (frame, dividends, splits) in got.items():
        ref_frame, ref_dividends, ref_splits = _reference_split(data, sym, end)
        pd.testing.assert_frame_equal(frame, ref_frame, check_index_type=False)
        assert list(frame.index) == list(range(len(frame)))
        assert (dividends, splits) == (ref_dividends, ref_splits)
    assert len(got["BBB.L"][0]) == (4 if end.day == 7 else 3) and got["BBB.L"][0]["volume"].dtype == np.float64
    assert got["AAA"][1] == {dt.date(2025, 6, 4): 0.25, dt.date(2025, 6, 7): 0.5}  # events after `end` are kept
    assert split_frames(data.droplevel(1, axis=1).iloc[:, :8], ["AAA"]) == {}  # not yfinance's two-level frame


def _reference_csv(frame: pd.DataFrame, dividends: dict, splits: dict) -> bytes:
    out = frame.copy()
    days = out["date"].dt.date
    out["dividends"] = days.map(dividends).fillna(0.0)
    out["stock_splits"] = days.map(splits).fillna(0.0)
    return out.to_csv(index=False, date_format="%Y-%m-%d").encode()


def test_raw_csv_is_byte_for_byte_what_pandas_writes() -> None:
    data = _download_frame()
    cases = [item for item in split_frames(data, ["AAA", "BBB.L", "CCC"]).values()]
    frame = cases[0][0].copy()
    frame.loc[1, "open"] = np.nan
    frame.loc[2, "high"] = 1e16
    frame.loc[3, "low"] = 1.5e-7
    frame.loc[4, "close"] = 0.1 + 0.2
    cases += [(frame, {dt.date(2025, 6, 3): 0.123456789, dt.date(2030, 1, 1): 1.0}, {dt.date(2025, 6, 2): 3.0}),
              (frame.iloc[:0], {}, {}), (frame.assign(volume=None), {}, {})]  # empty; an object column (pandas path)
    for frame, dividends, splits in cases:
        assert raw_csv(frame, dividends, splits) == _reference_csv(frame, dividends, splits)


def test_last_adj_ratio_skips_bars_without_both_prices() -> None:
    frame = pd.DataFrame({"close": [10.0, 20.0, 0.0, np.nan], "adj_close": [5.0, 19.0, 1.0, 2.0]})
    assert last_adj_ratio(frame) == 19.0 / 20.0
    assert last_adj_ratio(frame.iloc[2:]) is None
    assert last_adj_ratio(pd.DataFrame({"close": [None, None], "adj_close": [1.0, 2.0]})) is None


def _tickers(*symbols: str) -> None:
    Ticker.insert_many([{"symbol": s, "exchange_code": "nasdaq", "first_seen": DAY, "last_seen": DAY} for s in symbols]).execute()


def test_record_successes_is_one_statement_per_batch_and_keeps_a_missing_ratio(service) -> None:
    _tickers("AAA", "BBB", "CCC")
    TickerFetchMeta.insert_many([
        {"symbol": "AAA", "adj_ratio": 0.5, "consecutive_failures": 2, "fetch_status": "error", "last_error_code": "YF429"},
        {"symbol": "BBB", "adj_ratio": 0.7}, {"symbol": "CCC"}]).execute()
    with service.db.atomic():
        tracker.record_successes([
            tracker.Success("AAA", DAY, "a" * 64, "direct", None, False),  # no ratio this time: the stored one stays
            tracker.Success("BBB", DAY, None, "proxy-1", 0.75, True),
        ], [10.0, 30.0, 20.0])
    rows = {m.symbol_id: m for m in TickerFetchMeta.select()}
    a, b, c = rows["AAA"], rows["BBB"], rows["CCC"]
    assert (a.last_fetched_date, a.adj_ratio, a.raw_hash, a.last_exit, a.full_history_pending) == (DAY, 0.5, "a" * 64, "direct", False)
    assert (a.consecutive_failures, a.fetch_status, a.last_error_code, a.latency_ms) == (0, "ok", None, 20.0)
    assert isinstance(a.last_attempt_at, dt.datetime) and a.last_attempt_at == b.last_attempt_at
    assert (b.adj_ratio, b.raw_hash, b.last_exit, b.full_history_pending) == (0.75, None, "proxy-1", True)
    assert (c.last_fetched_date, c.fetch_status) == (None, "pending")  # not in the batch: untouched
    tracker.record_successes([], [])


def test_record_events_many_counts_only_new_events(service) -> None:
    _tickers("AAA", "BBB", "CCC")
    assert record_events("AAA", {DAY: 0.25}, {}) == 1
    new = record_events_many({
        "AAA": ({DAY: 0.25, DAY + dt.timedelta(days=1): 0.3}, {DAY: 2.0}),  # one known, two new (a split on DAY too)
        "BBB": ({}, {}),
        "CCC": ({DAY - dt.timedelta(days=400): 1.0}, {}),
    }, chunk=1)
    assert new == {"AAA": 2, "CCC": 1}
    assert record_events_many({"AAA": ({DAY: 0.25}, {DAY: 2.0})}) == {"AAA": 0}
    got = {(r.symbol, r.action_date, r.action_type, r.ratio) for r in CorporateAction.select()}
    assert got == {("AAA", DAY, "dividend", 0.25), ("AAA", DAY + dt.timedelta(days=1), "dividend", 0.3),
                   ("AAA", DAY, "split", 2.0), ("CCC", DAY - dt.timedelta(days=400), "dividend", 1.0)}
