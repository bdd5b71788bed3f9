"""The threshold editor's read model: every check of ``qa_checks`` with its thresholds (type, default, value in
force), the preview of an edit and the history of saved edits, as the DTOs below (re-exported by
praf_engine.service). The engine side of an edit (validation, the in-memory run, the save) is praf_engine.qa.tuning.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from praf_engine.config import Settings
from praf_engine.db.models import QACheck, QACheckAudit
from praf_engine.qa import catalog, tuning

if TYPE_CHECKING:
    from praf_engine.lake import Lake

SAMPLE = 10  # symbols listed of the added and of the removed failures
HISTORY = 200  # edits listed per check, newest first
@dataclass(frozen=True)
class CheckParam:
    """One threshold of a check: its value in force, its default, its type ("int" / "float"), minimum and meaning."""

    name: str
    kind: str
    value: Any
    default: Any
    minimum: float
    description: str


@dataclass(frozen=True)
class CheckRow:
    """One ``qa_checks`` row as the next QA run reads it. ``error``: its stored thresholds are malformed (the run
    records QAFAIL for it; ``params`` show the defaults)."""

    name: str
    severity: str
    enabled: bool
    description: str
    params: tuple[CheckParam, ...]
    updated_at: dt.datetime | None
    updated_by: str | None
    error: str | None = None


@dataclass(frozen=True)
class CheckPreview:
    """What an edit of a check would change on one as-of date: the check run in memory on the lake with the stored
    (``before``) and the edited (``after``) configuration. Nothing was written."""

    check: str
    as_of: dt.date
    universe_size: int
    old_params: dict[str, Any]
    new_params: dict[str, Any]
    old_severity: str  # as the run would write it (lag_check turns critical above critical_pct)
    new_severity: str
    old_enabled: bool
    new_enabled: bool
    before: int  # failing symbols with the stored configuration
    after: int
    added: int  # failing after the edit only
    removed: int  # failing before the edit only
    added_sample: tuple[str, ...]  # up to 10 of each, in symbol order
    removed_sample: tuple[str, ...]
    seconds: float
    cached: bool = False  # the lake window was in memory from an earlier preview (no lake read)


@dataclass(frozen=True)
class CheckChange:
    """One saved edit of a check (``qa_check_audit``): who, when, the configuration before and after, the note."""

    id: int
    check: str
    changed_at: dt.datetime
    changed_by: str
    old: dict[str, Any]
    new: dict[str, Any]
    note: str


def check_row(settings: Settings, name: str) -> CheckRow:
    """One check as the next QA run reads it (its default row when ``qa_checks`` has none yet)."""
    config = tuning.stored(settings, name)
    spec = catalog.CHECKS[name]
    defaults = catalog.default_thresholds(settings.qa)[name]
    row = QACheck.get_or_none(QACheck.check_name == name)
    params = tuple(CheckParam(key, p.kind.__name__, config.params[key], defaults[key], p.minimum, p.description)
                   for key, p in spec.params.items())
    return CheckRow(name, config.severity, config.enabled, spec.description, params, row.updated_at if row else None,
                    row.updated_by if row else None, config.error)


def checks(settings: Settings) -> tuple[CheckRow, ...]:
    """Every check PRAF knows, in the catalogue's order."""
    return tuple(check_row(settings, spec.name) for spec in catalog.SPECS)


def preview(settings: Settings, lake: Lake, name: str, today: dt.date, params: dict[str, Any] | None = None,
            severity: str | None = None, enabled: bool | None = None, as_of: dt.date | None = None,
            cache: tuning.WindowCache | None = None) -> CheckPreview:
    """The edit validated (QAFAIL / CONFIGBAD, as ``tuning.validate``), then run against the stored configuration on
    the lake for ``as_of`` (default: the latest date QA ran for, else the day before ``today``); writes nothing."""
    new = tuning.validate(settings, name, params, severity, enabled)
    old = tuning.stored(settings, name)
    day = as_of or tuning.latest_as_of(today)
    result = tuning.compare(settings, lake, old, new, day, cache=cache)
    added, removed = sorted(result.after - result.before), sorted(result.before - result.after)
    return CheckPreview(name, day, result.universe_size, dict(old.params), dict(new.params), result.old_severity,
                        result.new_severity, old.enabled, new.enabled, len(result.before), len(result.after), len(added),
                        len(removed), tuple(added[:SAMPLE]), tuple(removed[:SAMPLE]), round(result.seconds, 3), result.cached)


def warm(settings: Settings, lake: Lake, today: dt.date, as_of: dt.date | None, cache: tuning.WindowCache) -> bool:
    """The lake window of the next preview (``as_of`` as ``preview`` defaults it) read into ``cache``; False: it was."""
    return tuning.warm(settings, lake, as_of or tuning.latest_as_of(today), cache)


def change(audit: QACheckAudit) -> CheckChange:
    return CheckChange(audit.id, audit.check_name, audit.changed_at, audit.changed_by, dict(audit.old or {}),
                       dict(audit.new or {}), audit.note or "")


def history(name: str, limit: int = HISTORY) -> tuple[CheckChange, ...]:
    """The saved edits of ``name``, newest first (CONFIGBAD: unknown check)."""
    tuning.known(name)
    rows = (QACheckAudit.select().where(QACheckAudit.check_name == name)
            .order_by(QACheckAudit.changed_at.desc(), QACheckAudit.id.desc()).limit(limit))
    return tuple(change(r) for r in rows)
