"""The dashboard's DTOs (frozen dataclasses): what the read models return and praf_tui renders; re-exported by
praf_engine.service."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any


# Dashboard ---------------------------------------------------------------------------------------------------------
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
class KpiCard:
    key: str
    label: str
    count: int
    pct_of_universe: float
    colour: str  # green / yellow / red (seed §5.6); "neutral" for the universe counts
    threshold: str  # shown on hover
    panel: str


@dataclass(frozen=True)
class LagRow:
    symbol: str
    exchange_code: str
    calendar: str
    last_fetched_date: dt.date | None
    days_behind: int | None  # None: never fetched


@dataclass(frozen=True)
class TimelinessPanel:
    as_of: dt.date
    threshold: int
    lagging: tuple[LagRow, ...]  # most behind first
    total_lagging: int
    histogram: tuple[tuple[str, int], ...]  # (bucket, symbols) over the whole active universe


@dataclass(frozen=True)
class SymbolIssue:
    symbol: str
    check_name: str
    count: int
    dates: tuple[str, ...]
    details: dict[str, Any]


@dataclass(frozen=True)
class CheckPanel:
    """Completeness (missing_dates, null_fields) or volume/price quality (zero_volume, price_jump, …)."""

    qa_date: dt.date | None
    counts: dict[str, int]
    colours: dict[str, str]
    issues: dict[str, tuple[SymbolIssue, ...]]


@dataclass(frozen=True)
class FetchErrorRow:
    symbol: str
    error_code: str
    msg: str
    tries: int
    exit_name: str | None


@dataclass(frozen=True)
class NightPoint:
    night: dt.date
    p50_ms: float | None
    p95_ms: float | None
    batches: int
    errors: int


@dataclass(frozen=True)
class FetchHealthPanel:
    night: dt.date | None
    errors: tuple[FetchErrorRow, ...]
    colour: str
    series: tuple[NightPoint, ...]  # the 30 nights up to as_of, oldest first


@dataclass(frozen=True)
class UniverseMonth:
    month: str  # YYYY-MM
    new: int
    delisted: int


# Jobs --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class JobInfo:
    name: str
    summary: str
    last_started: dt.datetime | None
    last_exit_code: int | None
    last_error_code: str | None
    running: bool


@dataclass(frozen=True)
class JobRun:
    job: str
    run_id: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    exit_code: int | None
    error_code: str | None
    trigger: str

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to finish; None while it runs."""
        return (self.finished_at - self.started_at).total_seconds() if self.finished_at is not None else None


@dataclass(frozen=True)
class DashboardSnapshot:
    """Everything the dashboard shows at one as-of date, from one pass over the database (the summary once)."""

    as_of: dt.date
    summary: Summary
    cards: tuple[KpiCard, ...]
    universe: tuple[UniverseMonth, ...]
    timeliness: TimelinessPanel
    completeness: CheckPanel
    quality: CheckPanel
    fetch: FetchHealthPanel
    jobs: tuple[JobInfo, ...]  # every job with its last run (the command palette's list too)
    runs: tuple[JobRun, ...]  # the latest runs of all jobs, newest first
    alerts_pending: int = 0  # alerts still to deliver, every night (the header shows them in red)


# Scheduler and control plane (readmodels.scheduler; service.scheduler_state / request_job / stop_job / pause_job) -------
@dataclass(frozen=True)
class SchedulerBeatInfo:
    """The home's scheduler as its scheduler_beat row says. ``live``: beat younger than ``daemon.stale_after_s`` and
    not stopped (requests then go to it); else a request starts a detached process."""

    host: str
    pid: int
    mode: str  # daemon / tui
    version: str
    started_at: dt.datetime
    beat_at: dt.datetime
    stopped_at: dt.datetime | None
    age_s: float  # seconds since its last beat
    live: bool


@dataclass(frozen=True)
class RunningJob:
    """A run that has not finished, with its progress (job_progress; None fields: not reported yet)."""

    job: str
    run_id: str
    started_at: dt.datetime
    trigger: str
    host: str | None
    pid: int | None
    stage: str
    done: int
    total: int | None
    rows: int
    errors: int
    updated_at: dt.datetime | None  # last progress write; None: the run never reported
    stop_requested: bool

    @property
    def fraction(self) -> float | None:
        """done/total in [0, 1]; None when the total is not known."""
        return min(1.0, self.done / self.total) if self.total else None


@dataclass(frozen=True)
class ScheduledJob:
    """One job on the Scheduler screen: its last run, next scheduled run (from a live scheduler), gate, pause."""

    name: str
    summary: str
    last_run: JobRun | None
    next_run: dt.datetime | None  # naive UTC; None: no live scheduler, or the table does not schedule it
    gate: str | None  # e.g. "QA waits for tonight's fetch"; None: nothing holds it back
    gate_detail: str | None  # the gate's full message (with what to do)
    paused: bool
    running: RunningJob | None


@dataclass(frozen=True)
class JobRequestInfo:
    """A request to run a job now (service.request_job, `praf-engine run JOB --detach`) and where it went:
    ``route`` "scheduler" (a pending row the live scheduler starts within 2 s) or "detached" (its own process)."""

    id: int
    job: str
    options: dict[str, Any]
    requested_at: dt.datetime
    requested_by: str
    status: str  # pending / started / done / failed / cancelled
    route: str
    claimed_by: str | None
    run_id: str | None
    pid: int | None  # the detached process (route "detached")
    error: str | None


@dataclass(frozen=True)
class SchedulerState:
    """Everything the Scheduler screen shows, read in one pass."""

    now: dt.datetime  # the engine clock's "now" (naive UTC) the ages and next runs are relative to
    beat: SchedulerBeatInfo | None  # None: no scheduler ever ran in this home
    jobs: tuple[ScheduledJob, ...]  # in the pipeline's order
    running: tuple[RunningJob, ...]  # every unfinished run, whatever process runs it, oldest first
    pending: tuple[JobRequestInfo, ...]  # requests not started yet, oldest first

    @property
    def live(self) -> bool:
        return self.beat is not None and self.beat.live

    @property
    def next_run(self) -> tuple[str, dt.datetime] | None:
        """The soonest scheduled (job, time) of a live scheduler."""
        due = sorted((j.next_run, j.name) for j in self.jobs if j.next_run is not None)
        return (due[0][1], due[0][0]) if due else None


# Triage ------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FailureRow:
    id: int
    symbol: str
    date: dt.date
    check_name: str
    severity: str
    details: dict[str, Any]
    resolved: bool
    resolution: str | None
    note: str | None
    resolved_by: str | None
    resolved_at: dt.datetime | None
    run_id: str | None = None  # the QA run that found (or last confirmed) it: the log viewer opens on it


@dataclass(frozen=True)
class FailurePage:
    total: int
    offset: int
    limit: int
    rows: tuple[FailureRow, ...]


@dataclass(frozen=True)
class FailureFilters:
    """The choices a triage view offers: every check with its severity, the severities and exchanges present."""

    checks: tuple[tuple[str, str], ...]
    severities: tuple[str, ...]
    exchanges: tuple[str, ...]


# Symbol page -------------------------------------------------------------------------------------------------------
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


# Log viewer (readmodels.logs; service.logs) ------------------------------------------------------------------------
@dataclass(frozen=True)
class LogLine:
    """One line of logs/app.jsonl (or a rotated file). ``parsed`` False: not a JSON object (``raw`` shows it; the
    fields are empty); ``cut``: longer than the viewer reads, ``raw`` holds its start."""

    file: str  # the file's name (app.jsonl, app.jsonl.2026-12-03)
    offset: int  # byte offset in that file
    size: int  # bytes, without the newline
    ts: str
    level: str
    module: str
    run_id: str
    job: str
    error_code: str
    msg: str
    detail: dict[str, Any]
    stack: str
    raw: str
    parsed: bool
    cut: bool


@dataclass(frozen=True)
class LogPage:
    """Lines ``offset``.. of the lines that pass a log query, oldest first; ``total`` counts every passing line of every
    file (rotated ones first). ``notes``: files that vanished or shrank while being read."""

    lines: tuple[LogLine, ...]
    offset: int
    total: int
    files: tuple[str, ...]
    notes: tuple[str, ...]
    scanned_bytes: int  # bytes this call scanned (0: nothing new since the last call of the same query)
