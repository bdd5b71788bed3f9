"""Read model of QA triage: the qa_failures list filtered, sorted and paged on the server, its filter choices, the
one triage path (resolve / false positive / reopen of one or many failures) and the CSV export of a view."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from peewee import Case, Database, fn

from praf_engine.atomic import replacing
from praf_engine.db.models import QACheck, QAFailure, Ticker, utcnow
from praf_engine.errors import PipelineError
from praf_engine.qa import catalog
from praf_engine.readmodels.dto import FailureFilters, FailurePage, FailureRow
from praf_engine.readmodels.rows import failure_row

TRIAGE_ACTIONS = ("resolved", "false_positive", "reopen")
EXPORT_COLUMNS = ("id", "symbol", "date", "check_name", "severity", "resolved", "resolution", "note",
                  "resolved_by", "resolved_at", "details")
# severity sorts by rank (critical > warning > info), not alphabetically
SEVERITY_RANK = Case(QAFailure.severity, (("critical", 3), ("warning", 2), ("info", 1)), 0)
SORT_KEYS = {"date": QAFailure.date, "symbol": QAFailure.symbol, "check": QAFailure.check_name, "severity": SEVERITY_RANK}


def failures(*, check: str | None = None, severity: str | None = None, exchange: str | None = None,
             resolved: bool | None = None, symbol: str | None = None, date: dt.date | None = None,
             offset: int = 0, limit: int = 50, sort: str = "date", descending: bool = True) -> FailurePage:
    """Server-side filtered, sorted and paged ``qa_failures``, with the total count of the filter.
    ``sort``: date, symbol, check or severity (ties broken by date, check, symbol, id)."""
    if offset < 0 or not 1 <= limit <= 1000:
        raise PipelineError("QATRIAGE", f"paging out of range: offset={offset} (>= 0), limit={limit} (1..1000)")
    if check is not None and check not in catalog.CHECKS:
        raise PipelineError("QATRIAGE", f"unknown check {check!r}; known: {', '.join(catalog.CHECKS)}")
    query = QAFailure.select()
    if check:
        query = query.where(QAFailure.check_name == check)
    if severity:
        query = query.where(QAFailure.severity == severity)
    if exchange:
        query = query.where(QAFailure.symbol.in_(Ticker.select(Ticker.symbol).where(Ticker.exchange_code == exchange)))
    if resolved is not None:
        query = query.where(QAFailure.resolved == resolved)
    if symbol:
        query = query.where(fn.LOWER(QAFailure.symbol).contains(symbol.lower()))
    if date:
        query = query.where(QAFailure.date == date)
    if sort not in SORT_KEYS:
        raise PipelineError("QATRIAGE", f"unknown sort {sort!r}; use {', '.join(SORT_KEYS)}")
    total = query.count()
    key = SORT_KEYS[sort]
    order = [key.desc() if descending else key.asc()]
    order += [o for f, o in ((QAFailure.date, QAFailure.date.desc()), (QAFailure.check_name, QAFailure.check_name),
                             (QAFailure.symbol, QAFailure.symbol)) if f is not key]
    rows = query.order_by(*order, QAFailure.id).offset(offset).limit(limit)
    return FailurePage(total, offset, limit, tuple(failure_row(r) for r in rows))


def failure(failure_id: int) -> FailureRow:
    return failure_row(QAFailure.get_by_id(failure_id))


def failure_filters() -> FailureFilters:
    configured = dict(QACheck.select(QACheck.check_name, QACheck.severity).tuples())
    checks = tuple((name, configured.get(name, catalog.CHECKS[name].severity)) for name in catalog.CHECKS)
    exchanges = tuple(sorted(e for (e,) in Ticker.select(Ticker.exchange_code).distinct().tuples() if e))
    return FailureFilters(checks, ("critical", "warning", "info"), exchanges)


def triage(db: Database, ids: Sequence[Any], action: str, note: str | None, who: str) -> int:
    """Resolve / mark false positive / reopen failures with a note (None: keep the old one), who and when, in one
    transaction; returns the rows changed. An unknown id fails the whole action (nothing changes) so a stale
    selection never half-applies. The QA rerun keeps a triaged failure's state."""
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
            found = {i for (i,) in QAFailure.select(QAFailure.id).where(QAFailure.id.in_(chunk)).tuples()}
            if len(found) != len(chunk):
                missing = sorted(set(chunk) - found)
                raise PipelineError("QATRIAGE", f"no QA failure with id {', '.join(map(str, missing[:10]))}: nothing was changed",
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


def export_failures(path: str | Path, **filters: Any) -> int:
    """Every row of a failures filter (not just one page: paging arguments are ignored) as CSV at ``path``, written
    atomically (atomic.replacing: temp file, fsync, rename); returns the row count. A failure leaves no file and any old one as it was."""
    filters = {k: v for k, v in filters.items() if k not in ("offset", "limit")}

    def rows() -> Iterator[FailureRow]:
        offset = 0
        while True:
            page = failures(**filters, offset=offset, limit=1000)
            yield from page.rows
            offset += len(page.rows)
            if not page.rows or offset >= page.total:
                return

    return _write_csv(rows(), Path(path).expanduser())


def _write_csv(rows: Iterable[FailureRow], path: Path) -> int:
    if not path.parent.is_dir():
        raise PipelineError("EXPORTIO", f"cannot export to {path}: folder {path.parent} does not exist")
    count = 0
    try:  # a bad filter (QATRIAGE) or a database error while paging leaves no half file either
        with replacing(path, make_parents=False) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
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
    except OSError as exc:
        raise PipelineError("EXPORTIO", f"cannot write the export {path}: {exc.strerror or exc}",
                            {"errno": exc.errno}) from exc
    return count
