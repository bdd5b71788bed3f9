"""Database rows to DTOs, shared by the read models: the one date coercer and the one QA-failure row mapper."""

from __future__ import annotations

import datetime as dt
from typing import Any

from praf_engine.db.models import QAFailure
from praf_engine.readmodels.dto import FailureRow


def as_date(value: Any) -> dt.date | None:
    """A date column's value as a ``date``: drivers hand back dates, datetimes or ISO text (SQLite aggregates)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def failure_row(r: QAFailure) -> FailureRow:
    return FailureRow(r.id, r.symbol, as_date(r.date), r.check_name, r.severity, dict(r.details or {}), bool(r.resolved),
                      r.resolution, r.note, r.resolved_by, r.resolved_at, r.run_id)
