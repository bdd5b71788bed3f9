"""The engine's API for the TUI and `summary --json`: DTOs in, DTOs out; the only module praf_tui imports."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from peewee import SqliteDatabase, fn

from praf_engine import views
from praf_engine.config import Settings, load_settings
from praf_engine.db.database import describe, open_database
from praf_engine.db.models import CronStatus, FetchError, QAFailure, QASummary, Ticker
from praf_engine.db.schema import SCHEMA_VERSION, current_version, migrate
from praf_engine.demo import DemoSession, StepResult
from praf_engine.entry import require_home, start_logging
from praf_engine.errors import PipelineError
from praf_engine.logs import redact
from praf_engine.qa.dto import (
    CheckPanel,
    FailurePage,
    FailureRow,
    FetchErrorRow,
    FetchHealthPanel,
    KpiCard,
    LagRow,
    NightPoint,
    SymbolIssue,
    TimelinessPanel,
    UniverseMonth,
)
from praf_engine.views import ActionRow, Bar, FailureFilters, FetchMeta, JobInfo, SymbolDetail

__all__ = ["ActionRow", "Bar", "CheckPanel", "DemoSession", "EngineService", "FailureFilters", "FailurePage", "FailureRow", "FetchErrorRow",
           "FetchHealthPanel", "FetchMeta", "JobInfo", "JobRun", "KpiCard", "LagRow", "NightPoint", "PipelineError", "StepResult", "Summary",
           "SymbolDetail", "SymbolIssue", "TimelinessPanel", "UniverseMonth", "load_settings", "redact", "require_home", "start_logging"]


@dataclass(frozen=True)
class Summary:
    """The seed's `/api/summary` document (seed §6.2): the 7 KPI counts for an as-of date."""

    as_of: dt.date
    total_active: int
    new_30d: int
    delisted_30d: int
    lag_2d: int
    missing_dates: int
    fetch_errors: int
    price_jumps: int
    qa_date: dt.date | None = None  # the QA run the QA counts come from (latest on or before as_of)
    fetch_night: dt.date | None = None  # the fetch night the error count comes from

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("as_of", "qa_date", "fetch_night"):
            out[key] = out[key].isoformat() if out[key] else None
        return out


@dataclass(frozen=True)
class JobRun:
    job: str
    run_id: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    exit_code: int | None
    error_code: str | None
    trigger: str


class EngineService:
    """One per process. Built from settings at an entry point; every call is a short, blocking query."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = open_database(settings.database_url.get_secret_value() if settings.database_url else None, settings.db_path)

    @classmethod
    def open(cls, settings: Settings, *, init: bool = True) -> EngineService:
        """Open the home's database. ``init``: create the schema of a fresh database (else HOMEMISSING). An older schema is never
        upgraded implicitly (only `praf-engine init` does that, after a backup): it raises DBSCHEMA."""
        service = cls(settings)
        try:
            version = current_version(service.db)
            if version == SCHEMA_VERSION:
                return service
            if version == 0 and not service.db.get_tables():
                if not init:  # e.g. a PostgreSQL database nobody ran `praf-engine init` on
                    raise PipelineError("HOMEMISSING", f"the database of {settings.home} ({describe(service.db)}) has no "
                                        f"PRAF schema: create it with `praf-engine --home {settings.home} init`",
                                        {"home": str(settings.home)})
                service.init()
                return service
            if version > SCHEMA_VERSION:
                migrate(service.db)  # raises the DBSCHEMA "newer than this PRAF" error
            raise PipelineError("DBSCHEMA", f"the database schema (version {version}) is older than this PRAF "
                                f"({SCHEMA_VERSION}): run `praf-engine --home {settings.home} init` to upgrade it (it backs up first)",
                                {"database_version": version, "code_version": SCHEMA_VERSION})
        except BaseException:
            service.close()
            raise

    def init(self) -> dict[str, Any]:
        """Create the home's folders and bring the schema up to date (idempotent); back up before upgrading."""
        s = self.settings
        for path in (s.home, s.lake_dir, s.cache_dir, s.scrapes_dir, s.archive_dir, s.logs_dir):
            path.mkdir(parents=True, exist_ok=True)
        backup = None
        version = current_version(self.db)
        if version < SCHEMA_VERSION and self.db.get_tables() and isinstance(self.db, SqliteDatabase):
            backup = s.home / "backups" / f"praf-v{version}-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}.db"
            backup.parent.mkdir(exist_ok=True)
            self.db.connection().backup(sqlite3.connect(backup))
        from praf_engine.qa.catalog import qa_check_defaults

        report = migrate(self.db, qa_check_defaults(s.qa))
        return {"home": str(s.home), "database": describe(self.db), "schema_version": current_version(self.db),
                "created_tables": report.created, "rebuilt_tables": report.rebuilt, "steps": report.steps,
                "backup": str(backup) if backup else None}

    def close(self) -> None:
        if not self.db.is_closed():
            self.db.close()

    # Read side -----------------------------------------------------------------------------------
    def summary(self, as_of: dt.date | None = None) -> Summary:
        as_of = as_of or dt.datetime.now(dt.UTC).date()
        window = as_of - dt.timedelta(days=30)
        total_active = Ticker.select().where(Ticker.status == "active").count()
        new_30d = Ticker.select().where(Ticker.first_seen > window, Ticker.first_seen <= as_of).count()
        delisted_30d = (
            Ticker.select()
            .where(Ticker.status == "delisted", Ticker.status_changed > window, Ticker.status_changed <= as_of)
            .count()
        )
        qa_date = QASummary.select(fn.MAX(QASummary.date)).where(QASummary.date <= as_of).scalar()
        fetch_night = FetchError.select(fn.MAX(FetchError.night)).where(FetchError.night <= as_of).scalar()
        return Summary(
            as_of=as_of,
            total_active=total_active,
            new_30d=new_30d,
            delisted_30d=delisted_30d,
            lag_2d=self._failing_symbols("lag_check", qa_date, qa_date),
            missing_dates=self._failing_symbols("missing_dates", qa_date, qa_date),
            fetch_errors=(
                FetchError.select(fn.COUNT(FetchError.symbol.distinct())).where(FetchError.night == fetch_night).scalar() or 0
                if fetch_night else 0
            ),
            price_jumps=self._failing_symbols("price_jump", as_of - dt.timedelta(days=6), as_of),
            qa_date=_as_date(qa_date),
            fetch_night=_as_date(fetch_night),
        )

    @staticmethod
    def _failing_symbols(check: str, start: dt.date | None, end: dt.date | None) -> int:
        """Distinct symbols failing ``check`` between two dates, false positives excluded."""
        if start is None or end is None:
            return 0
        query = QAFailure.select(fn.COUNT(QAFailure.symbol.distinct())).where(
            QAFailure.check_name == check,
            QAFailure.date.between(start, end),
            (QAFailure.resolution.is_null()) | (QAFailure.resolution != "false_positive"),
        )
        return query.scalar() or 0

    # QA dashboard (seed §6.3, §6.7): read models in praf_engine.qa.panels ---------------------------
    def summary_cards(self, as_of: dt.date | None = None) -> tuple[KpiCard, ...]:
        """The 7 KPI cards: count, % of the active universe, colour (seed §5.6) and the threshold text."""
        from praf_engine.qa import panels

        return panels.cards(self.summary(as_of), self.settings)

    def timeliness_panel(self, as_of: dt.date | None = None, limit: int = 100) -> TimelinessPanel:
        """Lagging table (most behind first) and the days-behind histogram, on each listing's own calendar."""
        from praf_engine.qa import panels

        return panels.timeliness(as_of or _today(), self.settings.qa.lag_days, limit)

    def completeness_panel(self, as_of: dt.date | None = None, limit: int = 200) -> CheckPanel:
        from praf_engine.qa import panels

        return panels.check_panel(as_of or _today(), ("missing_dates", "null_fields"), self.settings, limit)

    def quality_panel(self, as_of: dt.date | None = None, limit: int = 200) -> CheckPanel:
        """Volume and price quality: zero volume, price jumps and the other bar-level checks."""
        from praf_engine.qa import panels

        checks = ("zero_volume", "price_jump", "ohlc_sanity", "duplicate_dates", "currency_unit", "date_shift")
        return panels.check_panel(as_of or _today(), checks, self.settings, limit)

    def fetch_health_panel(self, as_of: dt.date | None = None, nights: int = 30) -> FetchHealthPanel:
        """Last night's fetch errors and the 30-night latency p50/p95 and error-count series."""
        from praf_engine.qa import panels

        return panels.fetch_health(as_of or _today(), self.settings, nights)

    def universe_delta(self, as_of: dt.date | None = None, months: int = 6) -> tuple[UniverseMonth, ...]:
        from praf_engine.qa import panels

        return panels.universe_delta(as_of or _today(), months)

    def failures(self, *, check: str | None = None, severity: str | None = None, exchange: str | None = None,
                 resolved: bool | None = None, symbol: str | None = None, date: dt.date | None = None,
                 offset: int = 0, limit: int = 50, sort: str = "date", descending: bool = True) -> FailurePage:
        """qa_failures filtered, sorted and paged on the server; ``total`` counts every row of the filter."""
        from praf_engine.qa import panels

        return panels.failures(check=check, severity=severity, exchange=exchange, resolved=resolved, symbol=symbol,
                               date=date, offset=offset, limit=limit, sort=sort, descending=descending)

    def failure_filters(self) -> FailureFilters:
        """The checks (with severity), severities and exchanges a triage view can filter on."""
        return views.failure_filters()

    def triage_failures(self, ids: Sequence[int], action: str, note: str | None, who: str) -> int:
        """Bulk resolve / false_positive / reopen in one transaction (all or nothing); returns rows changed."""
        return views.triage_many(self.db, ids, action, note, who)

    def export_failures(self, path: str | Path, **filters: Any) -> int:
        """Every row of a failures filter (not just one page) as CSV at ``path``; returns the row count."""
        filters = {k: v for k, v in filters.items() if k not in ("offset", "limit")}  # the export takes every row

        def rows() -> Iterator[FailureRow]:
            offset = 0
            while True:
                page = self.failures(**filters, offset=offset, limit=1000)
                yield from page.rows
                offset += len(page.rows)
                if not page.rows or offset >= page.total:
                    return

        return views.export_failures(rows(), Path(path))

    def symbol_detail(self, symbol: str, days: int | None = 365) -> SymbolDetail:
        """One listing: its last ``days`` of bars (None: all), QA history, corporate actions and fetch state."""
        return views.symbol_detail(self.settings, symbol, days)

    def jobs(self) -> tuple[JobInfo, ...]:
        """Every job PRAF can run, with its last run from cron_status."""
        return views.jobs()

    def run_job(self, name: str, trigger: str = "tui") -> JobRun:
        """Run a job now, in the calling thread (the TUI calls it from a worker); returns its cron_status row.
        A job already running elsewhere is recorded with error code JOBLOCKED, like any failed run."""
        from praf_engine.jobs.registry import JOBS
        from praf_engine.jobs.runner import JobRunner, new_run_id

        if name not in JOBS:
            raise PipelineError("CONFIGBAD", f"unknown job {name!r}; known: {', '.join(JOBS)}")
        run_id = new_run_id()
        JobRunner(self.settings, self.db, trigger=trigger).run(name, JOBS[name].load(), run_id=run_id)
        r = CronStatus.get(CronStatus.run_id == run_id)
        return JobRun(r.job, r.run_id, r.started_at, r.finished_at, r.exit_code, r.error_code, r.trigger)

    def resolve_failure(self, failure_id: int, note: str | None, who: str, *, false_positive: bool = False) -> FailureRow:
        from praf_engine.qa import panels

        return panels.triage(failure_id, "false_positive" if false_positive else "resolved", note, who)

    def reopen_failure(self, failure_id: int, note: str | None, who: str) -> FailureRow:
        from praf_engine.qa import panels

        return panels.triage(failure_id, "reopen", note, who)

    def last_runs(self, limit: int = 20) -> list[JobRun]:
        rows = CronStatus.select().order_by(CronStatus.started_at.desc(), CronStatus.id.desc()).limit(limit)
        return [JobRun(r.job, r.run_id, r.started_at, r.finished_at, r.exit_code, r.error_code, r.trigger) for r in rows]


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _as_date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])
