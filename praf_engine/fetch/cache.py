"""Raw cache of what Yahoo returned: `cache/yahoo/<SYM>/<YYYY-MM-DD>.csv`, written atomically, SHA-256 hashed."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from praf_engine.atomic import write_atomic

RAW_COLUMNS = ("date", "open", "high", "low", "close", "adj_close", "volume", "dividends", "stock_splits")


def raw_cache_path(cache_dir: Path, symbol: str, night: dt.date) -> Path:
    return cache_dir / "yahoo" / symbol / f"{night.isoformat()}.csv"


def _pandas_csv(frame: pd.DataFrame, dividends: dict[dt.date, float], splits: dict[dt.date, float]) -> bytes:
    out = frame.copy()
    days = out["date"].dt.date
    out["dividends"] = days.map(dividends).fillna(0.0)
    out["stock_splits"] = days.map(splits).fillna(0.0)
    return out.to_csv(index=False, date_format="%Y-%m-%d").encode()


def _text(values: np.ndarray) -> list[str]:
    """A numeric column as ``DataFrame.to_csv`` writes it: numpy's ``str`` of each value, '' for NaN."""
    text = values.astype(str)
    if values.dtype.kind == "f":
        text[np.isnan(values)] = ""
    return text.tolist()


def raw_csv(frame: pd.DataFrame, dividends: dict[dt.date, float], splits: dict[dt.date, float]) -> bytes:
    """The bars plus a dividends and a stock_splits column (0.0 on days without one) as CSV: byte for byte what
    ``DataFrame.to_csv(index=False, date_format="%Y-%m-%d")`` writes, built from the numpy columns (several times
    faster for the few rows of a night); frames of other shapes or dtypes go through pandas itself."""
    columns = [frame[c].to_numpy() for c in RAW_COLUMNS[:7]] if tuple(frame.columns) == RAW_COLUMNS[:7] else None
    if columns is None or columns[0].dtype.kind != "M" or any(c.dtype.kind not in "fi" for c in columns[1:]):
        return _pandas_csv(frame, dividends, splits)
    days = columns[0].astype("datetime64[D]")
    if len(days) and (np.isnat(days).any() or days.min() < np.datetime64("1000-01-01") or days.max() > np.datetime64("9999-12-31")):
        return _pandas_csv(frame, dividends, splits)
    cells = [days.astype(str).tolist(), *[_text(c) for c in columns[1:]]]
    dates = days.astype(object)  # datetime.date, the events' keys
    for events in (dividends, splits):
        cells.append(_text(np.array([events.get(d, 0.0) for d in dates] if events else np.zeros(len(dates)), dtype=float)))
    lines = [",".join(RAW_COLUMNS), *(",".join(row) for row in zip(*cells, strict=True))]
    return ("\n".join(lines) + "\n").encode()


def write_raw(cache_dir: Path, symbol: str, night: dt.date, frame: pd.DataFrame,
              dividends: dict[dt.date, float], splits: dict[dt.date, float]) -> str:
    """Write the symbol's bars and events as CSV (temp file + rename: never half-written); return its SHA-256."""
    data = raw_csv(frame, dividends, splits)
    digest = hashlib.sha256(data).hexdigest()
    write_atomic(raw_cache_path(cache_dir, symbol, night), data)
    return digest
