"""Read models and operator actions for the dashboard beyond the QA panels: one symbol's page, bulk triage,
the CSV export of a triage view, the failure filter choices and the job list. Reached through EngineService."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peewee import Database, fn

from praf_engine.config import Settings
from praf_engine.db.models import (
    CorporateAction,
    CronStatus,
    DLQSymbol,
    FetchError,
    QACheck,
    QAFailure,
    Ticker,
    TickerFetchMeta,
    utcnow,
)
from praf_engine.errors import PipelineError
from praf_engine.qa import catalog
from praf_engine.qa.dto import FailureRow
from praf_engine.universe.symbols import validate_symbol

TRIAGE_ACTIONS = ("resolved", "false_positive", "reopen")
EXPORT_COLUMNS = ("id", "symbol", "date", "check_name", "severity", "resolved", "resolution", "note",
                  "resolved_by", "resolved_at", "details")


@dataclass(frozen=True)
class Bar:
    date: dt.date
    open: float | None
    high: float | None
    low: float | None
    close: float | None
    adj_close: float | None
    volume: int | None


@dataclass(frozen=True)
class ActionRow:
    date: dt.date
    action_type: str
    ratio: float | None
    source: str


@dataclass(frozen=True)
class FetchMeta:
    last_fetched_date: dt.date | None
    fetch_status: str
    consecutive_failures: int
    last_error_code: str | None
    last_attempt_at: dt.datetime | None
    latency_ms: float | None
    last_exit: str | None
    in_dlq: bool
    dlq_reason: str | None


@dataclass(frozen=True)
class SymbolDetail:
    symbol: str
    exchange_code: str
    name: str | None
    currency: str | None
    mic: str | None
    status: str
    first_seen: dt.date | None
    last_seen: dt.date | None
    bars: tuple[Bar, ...]  # oldest first, the last ``days`` calendar days up to the newest bar
    bars_total: int  # rows in the lake for the symbol, all years
    qa: tuple[FailureRow, ...]  # newest first
    actions: tuple[ActionRow, ...]  # newest first
    fetch: FetchMeta | None
    errors: tuple[tuple[dt.date, str, str], ...]  # recent fetch errors: (night, code, message), newest first


@dataclass(frozen=True)
class FailureFilters:
    """The choices a triage view offers: every check with its severity, the severities and exchanges present."""

    checks: tuple[tuple[str, str], ...]
    severities: tuple[str, ...]
    exchanges: tuple[str, ...]


@dataclass(frozen=True)
class JobInfo:
    name: str
    summary: str
    last_started: dt.datetime | None
    last_exit_code: int | None
    last_error_code: str | None
    running: bool


def _date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def failure_row(r: QAFailure) -> FailureRow:
    return FailureRow(r.id, r.symbol, _date(r.date), r.check_name, r.severity, dict(r.details or {}), bool(r.resolved),
                      r.resolution, r.note, r.resolved_by, r.resolved_at)


def symbol_detail(settings: Settings, symbol: str, days: int | None = 365) -> SymbolDetail:
    """Everything the symbol screen shows. A malformed symbol raises SCRAPEBAD, an unknown one SYMBOLUNKNOWN.
    ``days``: the bars of that many calendar days before the newest one (None: all of them; at least 1)."""
    if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days < 1):
        raise PipelineError("CONFIGBAD", f"the symbol page's window must be a whole number of days >= 1, not {days!r}")
    sym = validate_symbol(symbol)
    ticker = Ticker.get_or_none(Ticker.symbol == sym)
    if ticker is None:
        raise PipelineError("SYMBOLUNKNOWN", f"no listing {sym!r} in tickers", {"symbol": sym})
    from praf_engine.lake import Lake  # pyarrow: only when a symbol page opens, not at every dashboard start

    lake = Lake(settings.lake_dir)
    last = lake.last_date(sym)
    bars: tuple[Bar, ...] = ()
    total = 0
    if last is not None:
        total = lake.read_symbol(sym, columns=["date"]).num_rows
        start = None if days is None or days >= (last - dt.date.min).days else last - dt.timedelta(days=days)
        table = lake.read_symbol(sym, start=start, end=last,
                                 columns=["date", "open", "high", "low", "close", "adj_close", "volume"])
        cols = {name: table[name].to_pylist() for name in table.column_names}
        bars = tuple(Bar(d, *(_float(cols[c][i]) for c in ("open", "high", "low", "close", "adj_close")),
                         None if cols["volume"][i] is None else int(cols["volume"][i]))
                     for i, d in enumerate(cols["date"]))
    qa = QAFailure.select().where(QAFailure.symbol == sym).order_by(QAFailure.date.desc(), QAFailure.id.desc()).limit(200)
    actions = (CorporateAction.select().where(CorporateAction.symbol == sym)
               .order_by(CorporateAction.action_date.desc()).limit(100))
    meta = TickerFetchMeta.get_or_none(TickerFetchMeta.symbol == sym)
    dlq = DLQSymbol.get_or_none(DLQSymbol.symbol == sym)
    errors = (FetchError.select(FetchError.night, FetchError.error_code, FetchError.msg).where(FetchError.symbol == sym)
              .order_by(FetchError.night.desc(), FetchError.id.desc()).limit(30).tuples())
    fetch = None
    if meta is not None or dlq is not None:
        fetch = FetchMeta(_date(meta.last_fetched_date) if meta else None, meta.fetch_status if meta else "pending",
                          meta.consecutive_failures if meta else 0, meta.last_error_code if meta else None,
                          meta.last_attempt_at if meta else None, meta.latency_ms if meta else None,
                          meta.last_exit if meta else None, dlq is not None, dlq.reason if dlq else None)
    return SymbolDetail(
        symbol=sym, exchange_code=ticker.exchange_code, name=ticker.name, currency=ticker.currency, mic=ticker.mic,
        status=ticker.status, first_seen=_date(ticker.first_seen), last_seen=_date(ticker.last_seen),
        bars=bars, bars_total=total, qa=tuple(failure_row(r) for r in qa),
        actions=tuple(ActionRow(_date(a.action_date), a.action_type, a.ratio, a.source) for a in actions),
        fetch=fetch, errors=tuple((_date(n), code, msg) for n, code, msg in errors),
    )


def _float(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if number != number else number  # NaN reads as missing


def failure_filters() -> FailureFilters:
    configured = dict(QACheck.select(QACheck.check_name, QACheck.severity).tuples())
    checks = tuple((name, configured.get(name, catalog.CHECKS[name].severity)) for name in catalog.CHECKS)
    exchanges = tuple(sorted(e for (e,) in Ticker.select(Ticker.exchange_code).distinct().tuples() if e))
    return FailureFilters(checks, ("critical", "warning", "info"), exchanges)


def triage_many(db: Database, ids: Sequence[int], action: str, note: str | None, who: str) -> int:
    """Resolve / mark false positive / reopen many failures in one transaction; returns the rows changed.
    An unknown id fails the whole action (nothing changes) so a stale selection never half-applies."""
    if action not in TRIAGE_ACTIONS:
        raise PipelineError("QATRIAGE", f"unknown triage action {action!r}: use {', '.join(TRIAGE_ACTIONS)}")
    if not who or not str(who).strip():
        raise PipelineError("QATRIAGE", "triage needs the name of who does it")
    wanted = sorted({_failure_id(i) for i in ids})
    if not wanted:
        return 0
    now = utcnow()
    if action == "reopen":
        values: dict[Any, Any] = {QAFailure.resolved: False, QAFailure.resolution: None, QAFailure.resolved_at: None}
    else:
        values = {QAFailure.resolved: True, QAFailure.resolution: action, QAFailure.resolved_at: now}
    values.update({QAFailure.resolved_by: str(who)[:64], QAFailure.updated_at: now})
    if note is not None:
        values[QAFailure.note] = note
    changed = 0
    with db.atomic():
        for start in range(0, len(wanted), 500):  # stay under SQLite's bound-parameter limit
            chunk = wanted[start:start + 500]
            found = QAFailure.select(fn.COUNT(QAFailure.id)).where(QAFailure.id.in_(chunk)).scalar()
            if found != len(chunk):
                missing = sorted(set(chunk) - {i for (i,) in QAFailure.select(QAFailure.id).where(QAFailure.id.in_(chunk)).tuples()})
                raise PipelineError("QATRIAGE", f"no QA failure with id(s) {missing[:10]}: nothing was changed",
                                    {"missing": missing[:50]})
            changed += QAFailure.update(values).where(QAFailure.id.in_(chunk)).execute()
    return changed


def _failure_id(value: Any) -> int:
    """A failure id: an int or a string of digits (a table's row key); anything else is refused with QATRIAGE."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdecimal() and value.strip().isascii():
        return int(value)
    raise PipelineError("QATRIAGE", f"QA failure ids are whole numbers, not {value!r}: nothing was changed")


def export_failures(rows: Any, path: Path) -> int:
    """Write failure rows (an iterable of FailureRow) as CSV atomically; returns the row count."""
    path = Path(path).expanduser()
    if not path.parent.is_dir():
        raise PipelineError("EXPORTIO", f"cannot export to {path}: folder {path.parent} does not exist")
    tmp = path.with_name(f".{path.name}.tmp")
    count = 0
    try:
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(EXPORT_COLUMNS)
            for r in rows:
                writer.writerow([r.id, r.symbol, r.date.isoformat(), r.check_name, r.severity, int(r.resolved),
                                 r.resolution or "", r.note or "", r.resolved_by or "",
                                 r.resolved_at.isoformat() if r.resolved_at else "",
                                 json.dumps(r.details, sort_keys=True, default=str)])
                count += 1
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        _remove(tmp)
        raise PipelineError("EXPORTIO", f"cannot write the export {path}: {exc.strerror or exc}",
                            {"errno": exc.errno}) from exc
    except BaseException:  # a bad filter (QATRIAGE) or a database error while paging: no half file is left
        _remove(tmp)
        raise
    return count


def _remove(tmp: Path) -> None:
    try:
        if not tmp.is_dir():
            tmp.unlink(missing_ok=True)
    except OSError:
        pass


def jobs() -> tuple[JobInfo, ...]:
    from praf_engine.jobs.registry import JOBS

    out = []
    for name, spec in JOBS.items():
        last = CronStatus.select().where(CronStatus.job == name).order_by(CronStatus.started_at.desc(), CronStatus.id.desc()).first()
        out.append(JobInfo(name, spec.summary, last.started_at if last else None, last.exit_code if last else None,
                           last.error_code if last else None, bool(last and last.finished_at is None)))
    return tuple(out)
