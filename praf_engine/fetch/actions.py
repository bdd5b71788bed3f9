"""Corporate actions: Yahoo's split/dividend events into `corporate_actions`, CSV import, upstream-rewrite detection."""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from praf_engine.db.models import CorporateAction
from praf_engine.errors import PipelineError
from praf_engine.logs import get_logger
from praf_engine.universe.symbols import is_valid_symbol

log = get_logger(__name__)
ACTION_TYPES = ("split", "dividend", "merger", "spinoff")
CSV_COLUMNS = ("symbol", "action_date", "action_type", "ratio")


def _event_rows(symbol: str, dividends: dict[dt.date, float], splits: dict[dt.date, float], source: str) -> list[dict[str, Any]]:
    rows = [{"symbol": symbol, "action_date": d, "action_type": "dividend", "ratio": float(a), "source": source,
             "raw_blob": {"amount": float(a)}} for d, a in dividends.items()]
    rows += [{"symbol": symbol, "action_date": d, "action_type": "split", "ratio": float(r), "source": source,
              "raw_blob": {"ratio": float(r)}} for d, r in splits.items()]
    return rows


def record_events(symbol: str, dividends: dict[dt.date, float], splits: dict[dt.date, float], source: str = "yahoo") -> int:
    """Insert the events not yet known (unique on symbol, date, type); returns how many were new."""
    return record_events_many({symbol: (dividends, splits)}, source).get(symbol, 0)


def record_events_many(events: dict[str, tuple[dict[dt.date, float], dict[dt.date, float]]], source: str = "yahoo",
                       chunk: int = 200) -> dict[str, int]:
    """``record_events`` for many symbols, a few statements for all of them: {symbol: new events} (symbols with
    events only)."""
    wanted = {sym: rows for sym, (dividends, splits) in events.items() if (rows := _event_rows(sym, dividends, splits, source))}
    symbols = list(wanted)
    new: dict[str, int] = {}
    for i in range(0, len(symbols), chunk):
        part = symbols[i:i + chunk]
        days = [r["action_date"] for s in part for r in wanted[s]]
        known = set(CorporateAction.select(CorporateAction.symbol, CorporateAction.action_date, CorporateAction.action_type)
                    .where(CorporateAction.symbol.in_(part), CorporateAction.action_date.between(min(days), max(days)))
                    .tuples())
        rows = [r for s in part for r in wanted[s] if (s, r["action_date"], r["action_type"]) not in known]
        for j in range(0, len(rows), 500):  # 7 columns a row: well below SQLite's 32,766 parameters
            CorporateAction.insert_many(rows[j:j + 500]).on_conflict_ignore().execute()
        for s in part:
            new[s] = sum((s, r["action_date"], r["action_type"]) not in known for r in wanted[s])
    return new


def last_adj_ratio(frame: pd.DataFrame) -> float | None:
    """adj_close / close of the last bar that has both."""
    close = np.asarray(frame["close"], dtype=float)
    adj = np.asarray(frame["adj_close"], dtype=float)
    rows = np.flatnonzero(~np.isnan(close) & ~np.isnan(adj) & (close != 0))
    if not len(rows):
        return None
    return float(adj[rows[-1]]) / float(close[rows[-1]])


def history_rewritten(old_ratio: float | None, new_ratio: float | None, threshold: float) -> str | None:
    """Why the upstream history looks rewritten (adj_close/close moved by more than ``threshold``), else None.

    New split/dividend events inside the overlap window are the other signal; the runner checks those.
    """
    if old_ratio and new_ratio and abs(new_ratio / old_ratio - 1) > threshold:
        return f"adj_close/close ratio moved from {old_ratio:.4f} to {new_ratio:.4f}"
    return None


@dataclass
class ImportReport:
    inserted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)


def import_csv(path: Path) -> ImportReport:
    """Manual corporate actions from a CSV with header symbol,action_date,action_type,ratio (source = manual).

    Bad rows are rejected with their line number and reason; good rows are inserted; duplicates are counted.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise PipelineError("CORPACTBAD", f"cannot read {path}: {type(exc).__name__}", {"path": str(path)}) from None
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise PipelineError("CORPACTBAD", f"{path.name}: missing columns {', '.join(missing)} (need {', '.join(CSV_COLUMNS)})",
                            {"path": str(path), "missing": missing})
    report = ImportReport()
    for line, row in enumerate(reader, start=2):
        symbol = (row.get("symbol") or "").strip()
        kind = (row.get("action_type") or "").strip().lower()
        try:
            if not is_valid_symbol(symbol):
                raise ValueError(f"bad symbol {symbol[:40]!r}")
            day = dt.date.fromisoformat((row.get("action_date") or "").strip())
            if kind not in ACTION_TYPES:
                raise ValueError(f"action_type must be one of {', '.join(ACTION_TYPES)}")
            ratio_text = (row.get("ratio") or "").strip()
            ratio = float(ratio_text) if ratio_text else None
            if ratio is not None and not (ratio > 0 and np.isfinite(ratio)):
                raise ValueError("ratio must be a positive number")
        except ValueError as exc:
            report.rejected.append({"line": line, "reason": str(exc)})
            continue
        if CorporateAction.select().where(CorporateAction.symbol == symbol, CorporateAction.action_date == day,
                                          CorporateAction.action_type == kind).exists():
            report.duplicates += 1
            continue
        CorporateAction.insert(symbol=symbol, action_date=day, action_type=kind, ratio=ratio, source="manual",
                               raw_blob={k: v for k, v in row.items() if k}).on_conflict_ignore().execute()
        report.inserted += 1
    if report.rejected:
        log.warning("corporate actions CSV: rows rejected", error_code="CORPACTBAD",
                    detail={"path": str(path), "rejected": report.rejected[:20]})
    return report
