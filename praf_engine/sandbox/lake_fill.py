"""Fill a home from the sandbox market as a perfect fetch would (tickers, fetch state, actions, lake through the
Lake API): the QA tests' and the QA benchmark's data."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from praf_engine.db.models import CorporateAction, Ticker, TickerFetchMeta
from praf_engine.lake import LAKE_SCHEMA, Lake
from praf_engine.sandbox.faults import Injection
from praf_engine.sandbox.market import Market

CHUNK = 500
DUPLICATE_PART = "part-duplicate.parquet"


@dataclass(frozen=True)
class SandboxLake:
    """What was written and which faults the market injected (the answer key of the QA tests)."""

    symbols: list[str]
    injections: list[Injection]
    rows: int

    def injected(self, kind: str) -> set[str]:
        return {i.symbol for i in self.injections if i.kind == kind}


def ticker_rows(market: Market) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``tickers`` and ``ticker_fetch_meta`` rows of the market's active universe."""
    tickers, meta = [], []
    for listing in market.universe():
        tickers.append({"symbol": listing.symbol, "exchange_code": listing.exchange_code, "exchange_symbol": listing.exchange_symbol,
                        "name": listing.name, "isin": listing.isin, "currency": "GBX" if listing.currency == "GBp" else listing.currency,
                        "market": listing.market[:32], "mic": listing.mic, "is_etf": listing.is_etf,
                        "first_seen": listing.listed_on, "last_seen": market.today, "status": "active"})
        meta.append({"symbol": listing.symbol, "last_fetched_date": market.today, "consecutive_failures": 0,
                     "fetch_status": "ok", "full_history_pending": False})
    return tickers, meta


def build(market: Market, lake: Lake, start: dt.date, *, duplicates: bool = True) -> SandboxLake:
    """Write the bars served since ``start`` (faults included) and the matching metadata rows.

    The lake keeps one row per date, so a ``duplicate_last_row`` fault is stored the way a second writer would leave it:
    the first copy of the repeated bar in an extra Parquet file of the partition (``duplicates``=False skips it).
    """
    frames, actions, dup_rows = {}, [], {}
    for listing in market.universe():
        bars = market.bars(listing.symbol, start=start)
        frame = bars.frame()
        if len(frame) > 1 and frame["date"].iat[-1] == frame["date"].iat[-2]:
            dup_rows[listing.symbol] = frame.iloc[[-2]]
        frames[listing.symbol] = frame
        actions += [{"symbol": listing.symbol, "action_date": d, "action_type": "split", "ratio": r} for d, r in bars.splits.items()]
        actions += [{"symbol": listing.symbol, "action_date": d, "action_type": "dividend", "ratio": a} for d, a in bars.dividends.items()]
    lake.write_many(frames)
    if duplicates:
        for sym, row in dup_rows.items():
            _write_duplicate(lake, sym, row)
    tickers, meta = ticker_rows(market)
    db = Ticker._meta.database
    with db.atomic():
        for rows, model in ((tickers, Ticker), (meta, TickerFetchMeta), (actions, CorporateAction)):
            for i in range(0, len(rows), CHUNK):
                model.insert_many(rows[i : i + CHUNK]).on_conflict_ignore().execute()
    return SandboxLake(sorted(frames), market.injections(), sum(len(f) for f in frames.values()))


def _write_duplicate(lake: Lake, symbol: str, row: Any) -> None:
    day = row["date"].iat[0].date()
    arrays = [pa.array([day], pa.date32())]
    for col in ("open", "high", "low", "close", "adj_close"):
        value = row[col].iat[0]
        arrays.append(pa.array([None if np.isnan(value) else round(float(value), 6)], pa.float64()).cast(LAKE_SCHEMA.field(col).type))
    volume = row["volume"].iat[0]
    arrays += [pa.array([None if np.isnan(volume) else int(volume)], pa.int64()),
               pa.array([dt.datetime.now(dt.UTC)], LAKE_SCHEMA.field("source_ts").type), pa.array(["duplicate"], pa.string())]
    path = lake.partition(symbol, day.year).with_name(DUPLICATE_PART)
    pq.write_table(pa.Table.from_arrays(arrays, schema=LAKE_SCHEMA), path)
