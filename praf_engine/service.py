"""The engine's façade for the TUI and `summary --json`: EngineService (DTOs in, DTOs out, read models behind it),
the EngineAPI protocol praf_tui is typed against, and the demo's typed adapter; the only module praf_tui imports."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from peewee import SqliteDatabase

from praf_engine.config import Settings, load_settings
from praf_engine.db.database import describe, open_database
from praf_engine.db.schema import SCHEMA_VERSION, current_version, migrate
from praf_engine.entry import build_wiring, require_home, start_logging
from praf_engine.errors import PipelineError
from praf_engine.logs import redact
from praf_engine.logscan import LEVELS as LOG_LEVELS
from praf_engine.logscan import LogQuery
from praf_engine.prefetch import ForkedRead
from praf_engine.readmodels import alerts as alerts_model
from praf_engine.readmodels import dashboard, jobs, triage
from praf_engine.readmodels import scheduler as scheduler_model
from praf_engine.readmodels import symbol as symbol_model
from praf_engine.readmodels.alerts import AlertRow, AlertsView, MuteRow
from praf_engine.readmodels.checks import CheckChange, CheckParam, CheckPreview, CheckRow
from praf_engine.readmodels.dto import (
    ActionRow,
    Bar,
    CheckPanel,
    DashboardSnapshot,
    FailureFilters,
    FailurePage,
    FailureRow,
    FetchErrorRow,
    FetchHealthPanel,
    FetchMeta,
    JobInfo,
    JobRequestInfo,
    JobRun,
    KpiCard,
    LagRow,
    LogLine,
    LogPage,
    NightPoint,
    RunningJob,
    ScheduledJob,
    SchedulerBeatInfo,
    SchedulerState,
    Summary,
    SymbolDetail,
    SymbolIssue,
    TimelinessPanel,
    UniverseMonth,
)
from praf_engine.readmodels.logs import LogReader
from praf_engine.readmodels.universe import ExchangeDelta, UniverseDetail, UniverseListing
from praf_engine.service_checks import ThresholdEditor
from praf_engine.service_fixloop import FixLoop
from praf_engine.start_prefetch import StartPrefetch
from praf_engine.wiring import Wiring

__all__ = ["ActionRow", "AlertRow", "AlertsView", "MuteRow", "Bar", "CheckChange", "CheckPanel", "CheckParam", "CheckPreview", "CheckRow", "DashboardSnapshot", "DemoAPI", "DemoStepOutcome", "EngineAPI", "EngineService", "FailureFilters",
           "FailurePage", "FailureRow", "FetchErrorRow", "FetchHealthPanel", "FetchMeta", "JobInfo", "JobRequestInfo", "JobRun", "KpiCard", "LagRow", "LOG_LEVELS", "LogLine", "LogPage", "LogQuery",
           "NightPoint", "PipelineError", "RunningJob", "ScheduledJob", "SchedulerBeatInfo", "SchedulerState", "Summary", "SymbolDetail", "SymbolIssue", "TimelinessPanel", "UniverseMonth",
           "ExchangeDelta", "UniverseDetail", "UniverseListing", "build_wiring", "load_settings", "redact", "require_home", "start_demo", "start_logging"]


@runtime_checkable
class EngineAPI(Protocol):
    """Everything praf_tui asks of the engine, and nothing more: EngineService implements it; a test may hand the
    app any object with this surface. Every call is blocking (the TUI makes them from thread workers)."""

    @property
    def settings(self) -> Settings: ...

    def dashboard_snapshot(self, as_of: dt.date | None = None) -> DashboardSnapshot: ...

    def prefetched_dashboard(self, as_of: dt.date, wait_s: float = 0.0) -> DashboardSnapshot | None: ...

    def prefetched_scheduler(self, wait_s: float = 0.0) -> SchedulerState | None: ...

    @property
    def prefetch_outcome(self) -> str | None: ...

    def failure_filters(self) -> FailureFilters: ...

    def failures(self, *, check: str | None = None, severity: str | None = None, exchange: str | None = None,
                 resolved: bool | None = None, symbol: str | None = None, date: dt.date | None = None,
                 offset: int = 0, limit: int = 50, sort: str = "date", descending: bool = True) -> FailurePage: ...

    def triage_failures(self, ids: Sequence[Any], action: str, note: str | None, who: str) -> int: ...

    def export_failures(self, path: str | Path, **filters: Any) -> int: ...

    def symbol_detail(self, symbol: str, days: int | None = 365) -> SymbolDetail: ...

    def alerts_view(self, days: int = 7) -> AlertsView: ...

    def mute_alerts(self, rule: str | None, duration: str, who: str, reason: str | None = None) -> MuteRow: ...

    def unmute_alerts(self, rule: str | None, who: str) -> int: ...

    def send_test_alert(self) -> int: ...

    def scheduler_state(self) -> SchedulerState: ...

    def request_job(self, name: str, options: dict[str, Any] | None = None) -> JobRequestInfo: ...

    def stop_job(self, run_id: str) -> RunningJob: ...

    def pause_job(self, name: str) -> bool: ...

    def resume_job(self, name: str) -> bool: ...

    def run_scheduler(self, stop: threading.Event, *, ready: threading.Event | None = None) -> None: ...

    def logs(self, query: LogQuery | None = None, *, offset: int | None = None, limit: int = 100) -> LogPage: ...

    def recheck_symbols(self, symbols: Sequence[str], full: bool = False, as_of: dt.date | None = None) -> JobRequestInfo: ...

    def universe_detail(self, as_of: dt.date | None = None, month: str | None = None, change: str | None = None) -> UniverseDetail: ...

    # the threshold editor (service_checks.ThresholdEditor)
    def qa_checks(self) -> tuple[CheckRow, ...]: ...

    def validate_check(self, name: str, params: dict[str, Any] | None = None, severity: str | None = None,
                       enabled: bool | None = None) -> dict[str, Any]: ...

    def preview_check(self, name: str, params: dict[str, Any] | None = None, severity: str | None = None,
                      enabled: bool | None = None, as_of: dt.date | None = None) -> CheckPreview: ...

    def warm_check_window(self, as_of: dt.date | None = None) -> bool: ...

    def save_check(self, name: str, *, who: str, note: str | None = None, params: dict[str, Any] | None = None,
                   severity: str | None = None, enabled: bool | None = None) -> CheckRow: ...

    def check_history(self, name: str) -> tuple[CheckChange, ...]: ...


class DemoStepOutcome(Protocol):
    """How one demo step ended: ``error`` is "[CODE] message" when it failed."""

    @property
    def name(self) -> str: ...

    @property
    def ok(self) -> bool: ...

    @property
    def error(self) -> str | None: ...


class DemoStepInfo(Protocol):
    @property
    def name(self) -> str: ...


class DemoAPI(Protocol):
    """`praf-tui --demo`: a running sandbox and a demo home whose pipeline steps the app runs one by one."""

    @property
    def settings(self) -> Settings: ...

    @property
    def service(self) -> EngineAPI: ...

    @property
    def steps(self) -> Sequence[DemoStepInfo]: ...

    def run_step(self, step: Any) -> DemoStepOutcome: ...

    def as_of(self) -> dt.date | None: ...

    def __exit__(self, *exc: object) -> None: ...


def start_demo(home: str | None, size: int) -> DemoAPI:
    """Start the offline sandbox (free ports) and open a demo home of ``size`` listings, logging to the home only;
    ``__exit__(None, None, None)`` stops it. The entry point builds it and hands it to the app."""
    from praf_engine.demo import DemoSession  # the sandbox: only for the demo, never at an ordinary start

    return DemoSession(home, {("sandbox", "size"): size}, console_level=None).__enter__()




class EngineService(ThresholdEditor, FixLoop):
    """One per process. Built from settings at an entry point; every call is a short, blocking query."""

    def __init__(self, settings: Settings, *, wiring: Wiring | None = None) -> None:
        """``wiring``: the world the entry point built (``build_wiring``); its settings are the service's. Without one,
        production's. The service adds its database to it: jobs run on ``self.wiring``."""
        wiring = wiring or Wiring.production(settings)
        self.settings = settings = wiring.settings
        self.db = open_database(settings.database_url.get_secret_value() if settings.database_url else None, settings.db_path)
        self.wiring = wiring.with_db(self.db)
        self._logs: LogReader | None = None  # the log viewer's indexes, built on first use
        self._logs_lock = threading.Lock()
        self._start: StartPrefetch | None = None  # praf-tui's start reads, forked off (open's prefetch_dashboard)

    @classmethod
    def open(cls, settings: Settings, *, init: bool = True, wiring: Wiring | None = None,
             prefetch_dashboard: dt.date | None = None) -> EngineService:
        """Open the home's database. ``init``: create the schema of a fresh database (else HOMEMISSING). An older schema is never
        upgraded implicitly (only `praf-engine init` does that, after a backup): it raises DBSCHEMA.
        ``prefetch_dashboard``: first fork a child that opens the home by itself and computes the dashboard's snapshot at
        that date and the scheduler's state, while this process goes on (praf-tui's start: ``praf_engine.prefetch``,
        ``praf_engine.start_prefetch``); the first ``dashboard_snapshot`` of that date and the first ``scheduler_state``
        take them. No child when forking is not safe here (threads, an open database)."""
        start = None
        if prefetch_dashboard is not None:
            as_of = prefetch_dashboard

            child: list[EngineService] = []  # its own connection (a PostgreSQL session ends cleanly: closed at the end)

            def snapshot() -> DashboardSnapshot:
                child.append(cls.open(settings, init=False, wiring=wiring))
                try:
                    return child[0].dashboard_snapshot(as_of)
                except BaseException:
                    child[0].close()  # no second read follows a failed one
                    raise

            def scheduler() -> SchedulerState | None:
                try:
                    return child[0]._scheduler_state(reap=False)
                finally:
                    child[0].close()

            read = ForkedRead.start("start reads", (snapshot, scheduler))
            start = StartPrefetch(as_of, read) if read is not None else None
        try:
            service = cls(settings, wiring=wiring)
        except BaseException:
            if start is not None:
                start.read.close("the service did not open")
            raise
        service._start = start
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
        if self._start is not None:
            self._start.close()
        if not self.db.is_closed():
            self.db.close()

    # Read side: the read models of praf_engine.readmodels ---------------------------------------------
    def summary(self, as_of: dt.date | None = None) -> Summary:
        """The seed's `/api/summary` document: the 7 KPI counts at ``as_of`` (default today, UTC)."""
        return dashboard.summary(as_of or _today())

    def dashboard_snapshot(self, as_of: dt.date | None = None) -> DashboardSnapshot:
        """Everything the dashboard shows at ``as_of`` (default today): summary, KPI cards, the five panels, the jobs
        with their last run and the latest runs; the summary is computed once."""
        from praf_engine.jobs.registry import JOBS

        as_of = as_of or _today()
        if self._start is not None and (prefetched := self._start.dashboard(as_of)) is not None:
            return prefetched
        return dashboard.snapshot(as_of, self.settings, {name: spec.summary for name, spec in JOBS.items()})

    def prefetched_dashboard(self, as_of: dt.date, wait_s: float = 0.0) -> DashboardSnapshot | None:
        """The snapshot ``open(prefetch_dashboard=...)`` forked off for ``as_of``, if its child answers within
        ``wait_s`` (0: has answered already). Never queries and never waits longer, so a screen may draw it before its
        first paint (the dashboard's start). None otherwise: ``dashboard_snapshot`` (in a worker) still takes the
        answer when it comes. None at once without a prefetch."""
        return self._start.dashboard(as_of, wait_s=wait_s) if self._start is not None else None

    def prefetched_scheduler(self, wait_s: float = 0.0) -> SchedulerState | None:
        """The scheduler state the same child read after the snapshot, on the same terms: the header's first line,
        drawn with the dashboard's first paint. None: ``scheduler_state`` (in a worker) as usual."""
        return self._start.scheduler(wait_s=wait_s) if self._start is not None else None

    @property
    def prefetch_outcome(self) -> str | None:
        """What became of the dashboard prefetch: None (none started), running, used, or why it was not used."""
        return self._start.outcome if self._start is not None else None

    def failures(self, *, check: str | None = None, severity: str | None = None, exchange: str | None = None,
                 resolved: bool | None = None, symbol: str | None = None, date: dt.date | None = None,
                 offset: int = 0, limit: int = 50, sort: str = "date", descending: bool = True) -> FailurePage:
        """qa_failures filtered, sorted and paged on the server; ``total`` counts every row of the filter."""
        return triage.failures(check=check, severity=severity, exchange=exchange, resolved=resolved, symbol=symbol,
                               date=date, offset=offset, limit=limit, sort=sort, descending=descending)

    def failure_filters(self) -> FailureFilters:
        """The checks (with severity), severities and exchanges a triage view can filter on."""
        return triage.failure_filters()

    def export_failures(self, path: str | Path, **filters: Any) -> int:
        """Every row of a failures filter (not just one page) as CSV at ``path``; returns the row count."""
        return triage.export_failures(path, **filters)

    def symbol_detail(self, symbol: str, days: int | None = 365) -> SymbolDetail:
        """One listing: its last ``days`` of bars (None: all), QA history, corporate actions and fetch state."""
        return symbol_model.symbol_detail(self.settings, symbol, days)

    # Write side ----------------------------------------------------------------------------------------
    def triage_failures(self, ids: Sequence[Any], action: str, note: str | None, who: str) -> int:
        """Bulk resolve / false_positive / reopen in one transaction (all or nothing); returns rows changed."""
        return triage.triage(self.db, ids, action, note, who)

    def resolve_failure(self, failure_id: int, note: str | None, who: str, *, false_positive: bool = False) -> FailureRow:
        """Resolve (or mark false positive) one failure; returns it as it now is."""
        triage.triage(self.db, [failure_id], "false_positive" if false_positive else "resolved", note, who)
        return triage.failure(failure_id)

    def reopen_failure(self, failure_id: int, note: str | None, who: str) -> FailureRow:
        triage.triage(self.db, [failure_id], "reopen", note, who)
        return triage.failure(failure_id)

    def run_job(self, name: str, trigger: str = "tui") -> JobRun:
        """Run a job now, in the calling thread (scripts, tests; the TUI asks with ``request_job`` instead, so a job
        outlives its session); returns its cron_status row.
        A job already running elsewhere is recorded with error code JOBLOCKED, like any failed run."""
        from praf_engine.jobs.registry import JOBS
        from praf_engine.jobs.runner import JobRunner, new_run_id

        if name not in JOBS:
            raise PipelineError("CONFIGBAD", f"unknown job {name!r}; known: {', '.join(JOBS)}")
        run_id = new_run_id()
        JobRunner(self.wiring, trigger=trigger).run(name, JOBS[name].load(), run_id=run_id)
        return jobs.run(run_id)


    # Alerts ----------------------------------------------------------------------------------------------------------
    def alerts_view(self, days: int = 7) -> AlertsView:
        """The outbox of the last ``days`` nights with alerts (status, tries, error), the mutes in force, the pending
        count and what is missing to send (TELEGRAM_BOT_TOKEN / TELEGRAM_CHAT_ID; empty when configured)."""
        from praf_engine.alerts.command import missing

        return alerts_model.alerts_view(self.wiring.clock(), tuple(missing(self.settings)), days)

    def mute_alerts(self, rule: str | None, duration: str, who: str, reason: str | None = None) -> MuteRow:
        """Mute one rule (None: every rule) for ``duration`` ('30m', '2h', '1d', '1w'); ALERTBAD for a bad rule or
        duration. Alerts raised meanwhile are stored as muted and counted in the digest."""
        from praf_engine.alerts import outbox
        from praf_engine.alerts.command import check_rule, parse_duration

        rule, span, now = check_rule(rule), parse_duration(duration), self.wiring.clock()
        m = outbox.mute(self.db, rule, now + span, who, reason, now=now)
        return MuteRow(m.id, m.rule, m.muted_until, m.created_by, m.reason)

    def unmute_alerts(self, rule: str | None, who: str) -> int:
        """End the mutes of one rule (None: every mute); returns how many ended."""
        from praf_engine.alerts import outbox
        from praf_engine.alerts.command import check_rule

        return outbox.unmute(self.db, check_rule(rule), who, now=self.wiring.clock())

    def send_test_alert(self) -> int:
        """One test message straight to the chat (not through the outbox); Telegram's message id. ALERTCONFIG names
        what is missing, ALERTAUTH / ALERTSEND why Telegram refused or could not be reached."""
        from praf_engine.alerts.command import send_test

        return send_test(self.settings)

    # Scheduler and control plane (praf_engine.control; ADR 0014) -------------------------------------------------
    def scheduler_state(self) -> SchedulerState:
        """The Scheduler screen: the scheduler's beat (live or not), each job's last run, next run, gate and pause,
        every running run with its progress (whatever process runs it), the requests not started yet. Runs and
        started requests of this host's dead processes are closed first (JOBKILLED), so none shows as running. The
        first call of a service opened with ``prefetch_dashboard`` takes the state its child read, when there was
        nothing to close."""
        if self._start is not None and (prefetched := self._start.scheduler()) is not None:
            return prefetched
        state = self._scheduler_state(reap=True)
        assert state is not None  # reaped first: there is always a state
        return state

    def _scheduler_state(self, *, reap: bool) -> SchedulerState | None:
        """``reap=False``: a reader that must not write (the start's forked child) gets None when a run, lock or request
        of a dead process of this host is to be closed."""
        from praf_engine.control.gates import gates
        from praf_engine.control.requests import orphaned_requests, reap_requests
        from praf_engine.jobs.registry import JOBS
        from praf_engine.jobs.runner import reap_killed_runs, to_reap
        from praf_engine.scheduler.plan import ORDER

        if reap:
            reap_killed_runs(self.db)
            reap_requests(self.wiring)
        elif to_reap() or orphaned_requests():
            return None
        names = [*[j for j in ORDER if j in JOBS], *[j for j in JOBS if j not in ORDER]]
        return scheduler_model.state(self.wiring.clock(), self.settings.daemon.stale_after_s,
                                     {name: JOBS[name].summary for name in names}, gates(self.wiring, names))

    def request_job(self, name: str, options: dict[str, Any] | None = None, by: str = "tui") -> JobRequestInfo:
        """Run ``name`` now in a way that outlives this process: with a live scheduler, a request it starts within
        2 s; else a detached `praf-engine run` process. JOBUNKNOWN, JOBOPTION, JOBLOCKED (already running)."""
        from praf_engine.control.requests import request_job, requester

        return request_job(self.wiring, name, options, requester(by))

    def stop_job(self, run_id: str) -> RunningJob:
        """Ask a running run (by run id, or a job name: its running run) to finish its batch and end INTERRUPTED;
        returns it as it is now (stop_requested). JOBNOTRUNNING when it is not running."""
        from praf_engine.control.progress import request_stop
        from praf_engine.jobs.registry import JOBS

        _job, rid = request_stop(job=run_id) if run_id in JOBS else request_stop(run_id=run_id)
        return next(r for r in scheduler_model.running() if r.run_id == rid)

    def pause_job(self, name: str, by: str = "tui") -> bool:
        """Pause ``name``: the scheduler records its scheduled runs as skipped (JOBPAUSED) until resumed; persisted.
        Returns whether it was paused before. JOBUNKNOWN for a name that is not a job."""
        from praf_engine.control.requests import requester, set_paused

        return set_paused(self.wiring, name, True, requester(by))

    def resume_job(self, name: str, by: str = "tui") -> bool:
        """Undo ``pause_job``; returns whether it was paused."""
        from praf_engine.control.requests import requester, set_paused

        return set_paused(self.wiring, name, False, requester(by))

    def run_scheduler(self, stop: threading.Event, *, ready: threading.Event | None = None, mode: str = "tui") -> None:
        """`praf-tui --with-scheduler`: run the home's scheduler (SchedulerHost) in the calling thread until ``stop`` is
        set; ``ready`` is set once it schedules. DAEMONRUNNING (naming pid, host, since) when another scheduler holds
        the home: nothing starts. On stop the running job finishes its batch within ``daemon.stop_timeout_s``."""
        from praf_engine.daemon.host import SchedulerHost

        host = SchedulerHost(self.wiring, mode="daemon" if mode == "daemon" else "tui")
        if ready is not None:
            host.ready = ready
        host.run(stop)


    # Log viewer (praf_engine.logscan, readmodels.logs) ---------------------------------------------------------
    def logs(self, query: LogQuery | None = None, *, offset: int | None = None, limit: int = 100) -> LogPage:
        """Lines ``offset``.. (None: the last ``limit``) of logs/app.jsonl and its rotated files that pass ``query`` (run
        id or its start, lowest level, job, error code, text). The index of each recent query is kept and extended
        with what was appended since its last call (follow mode: call again). LOGQUERY, LOGREAD."""
        with self._logs_lock:
            if self._logs is None:
                self._logs = LogReader(self.settings.logs_dir)
        return self._logs.page(query, offset=offset, limit=limit)


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()
