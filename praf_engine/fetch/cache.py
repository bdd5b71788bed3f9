"""Raw cache of what Yahoo returned: `cache/yahoo/<SYM>/<YYYY-MM-DD>.csv`, written atomically, SHA-256 hashed."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import uuid
from pathlib import Path

import pandas as pd


def raw_cache_path(cache_dir: Path, symbol: str, night: dt.date) -> Path:
    return cache_dir / "yahoo" / symbol / f"{night.isoformat()}.csv"


def write_raw(cache_dir: Path, symbol: str, night: dt.date, frame: pd.DataFrame,
              dividends: dict[dt.date, float], splits: dict[dt.date, float]) -> str:
    """Write the symbol's bars and events as CSV (temp file + rename: never half-written); return its SHA-256."""
    out = frame.copy()
    days = out["date"].dt.date
    out["dividends"] = days.map(dividends).fillna(0.0)
    out["stock_splits"] = days.map(splits).fillna(0.0)
    data = out.to_csv(index=False, date_format="%Y-%m-%d").encode()
    digest = hashlib.sha256(data).hexdigest()
    path = raw_cache_path(cache_dir, symbol, night)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)
    return digest
