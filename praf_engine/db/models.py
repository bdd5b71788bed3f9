"""Peewee models for every PRAF table (SPEC §4), bound to one DatabaseProxy.

Conventions: datetimes are naive UTC; dates are exchange trading dates; ``symbol`` is the Yahoo symbol
(validated by ``praf_engine.universe.symbols``). Log-like tables (qa_failures, fetch_errors, …) keep the
symbol as text, not a foreign key, so that history outlives the yearly archival of ``tickers`` rows.
"""

from __future__ import annotations

import datetime as dt

from peewee import (
    AutoField,
    BigIntegerField,
    BooleanField,
    CharField,
    Check,
    DatabaseProxy,
    DateField,
    DateTimeField,
    DoubleField,
    ForeignKeyField,
    IntegerField,
    JSONField,
    Model,
    SmallIntegerField,
    TextField,
)

database_proxy = DatabaseProxy()

TICKER_STATUSES = ("active", "delisted", "archived")
FETCH_STATUSES = ("ok", "error", "suspect_missing", "pending", "stale")
SEVERITIES = ("critical", "warning", "info")
RESOLUTIONS = ("resolved", "false_positive", "auto", "refetch")
SCRAPE_STATUSES = ("running", "success", "error", "structure_error")
OUTBOX_STATUSES = ("pending", "sent", "folded", "failed", "muted")
REQUEST_STATUSES = ("pending", "started", "done", "failed", "cancelled")
SCHEDULER_MODES = ("daemon", "tui")


def utcnow() -> dt.datetime:
    """Naive UTC now, the convention of every DateTimeField here."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _in(column: str, values: tuple[str, ...]) -> Check:
    return Check(f"{column} IN ({', '.join(repr(v) for v in values)})")


class BaseModel(Model):
    class Meta:
        database = database_proxy
        legacy_table_names = False


class Ticker(BaseModel):
    """One listing of the universe; the Yahoo symbol is the key (seed §3.2.1, §4.2)."""

    symbol = CharField(primary_key=True, max_length=32)
    exchange_code = CharField(max_length=16, index=True)  # nasdaq, arca, ftse, dax, euronext
    exchange_symbol = CharField(max_length=32, null=True)  # the exchange's own code (BRK.B, ABR$D)
    name = TextField(null=True)
    isin = CharField(max_length=12, null=True)
    currency = CharField(max_length=3, null=True)  # as Yahoo reports it: ISO-4217, GBp for prices in pence
    sector = TextField(null=True)
    market = CharField(max_length=32, null=True)  # Euronext market, FTSE index, Nasdaq tier
    mic = CharField(max_length=4, null=True)  # trading calendar: XNYS, XLON, XETR, XPAR, …
    is_etf = BooleanField(default=False)
    financial_status = CharField(max_length=4, null=True)
    first_seen = DateField()
    last_seen = DateField()
    status = CharField(max_length=10, default="active", index=True, constraints=[_in("status", TICKER_STATUSES)])
    status_changed = DateField(null=True)  # when status last changed (delisted/archived on)
    scraper_source = CharField(max_length=40, null=True)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "tickers"


class TickerFetchMeta(BaseModel):
    """Per-symbol fetch state that drives the nightly schedule (seed §3.2.2, §4.3, §4.7)."""

    symbol = ForeignKeyField(Ticker, primary_key=True, column_name="symbol", on_delete="CASCADE", backref="fetch_meta")
    last_fetched_date = DateField(null=True, index=True)
    consecutive_failures = SmallIntegerField(default=0)
    fetch_status = CharField(max_length=16, default="pending", constraints=[_in("fetch_status", FETCH_STATUSES)])
    last_error_code = CharField(max_length=16, null=True)
    last_attempt_at = DateTimeField(null=True)
    latency_ms = DoubleField(null=True)  # median latency of its last successful batches
    raw_hash = CharField(max_length=64, null=True)  # SHA-256 of the raw CSV cached for the last fetch
    last_exit = CharField(max_length=64, null=True)
    adj_ratio = DoubleField(null=True)  # last adj_close/close, to detect upstream history rewrites
    full_history_pending = BooleanField(default=True)
    # stale at source (YFSTALE): downloads that bring no recent bar are backed off, then dead-lettered
    stale_since = DateField(null=True)  # night of the first stale download in a row; NULL = not stale
    stale_checks = SmallIntegerField(default=0)  # stale downloads in a row
    retry_after = DateField(null=True)  # the fetcher skips the symbol on nights before this one

    class Meta:
        table_name = "ticker_fetch_meta"


class QACheck(BaseModel):
    """A data-quality check, its severity and its thresholds (editable without a deploy; seed §5.2)."""

    check_name = CharField(primary_key=True, max_length=40)
    severity = CharField(max_length=10, constraints=[_in("severity", SEVERITIES)])
    enabled = BooleanField(default=True)
    threshold_params = JSONField(default=dict)
    description = TextField(default="")
    updated_at = DateTimeField(default=utcnow)
    updated_by = CharField(max_length=64, null=True)

    class Meta:
        table_name = "qa_checks"


class QAFailure(BaseModel):
    """One failed check for one symbol on one as-of date; reruns update it, triage is kept (seed §3.2.3)."""

    id = AutoField()
    symbol = CharField(max_length=32, index=True)  # '*' for universe-level checks (api_latency)
    date = DateField(index=True)
    check_name = CharField(max_length=40)
    severity = CharField(max_length=10, default="warning", constraints=[_in("severity", SEVERITIES)])
    details = JSONField(default=dict)
    resolved = BooleanField(default=False, index=True)
    resolution = CharField(max_length=16, null=True, constraints=[Check("resolution IS NULL OR resolution IN ('resolved', 'false_positive', 'auto', 'refetch')")])
    note = TextField(null=True)
    resolved_by = CharField(max_length=64, null=True)
    resolved_at = DateTimeField(null=True)
    run_id = CharField(max_length=36, null=True)
    resolved_run_id = CharField(max_length=36, null=True)  # the refetch-and-recheck run that closed it ('refetch')
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "qa_failures"
        indexes = ((("symbol", "check_name", "date"), True), (("date", "check_name"), False))


class QASummary(BaseModel):
    """Daily roll-up per check (seed §5.3), drives the banner counts."""

    id = AutoField()
    date = DateField()
    check_name = CharField(max_length=40)
    severity = CharField(max_length=10, default="warning")
    fail_count = IntegerField(default=0)
    universe_size = IntegerField(default=0)
    colour = CharField(max_length=8, default="green")
    crashed = BooleanField(default=False)
    run_id = CharField(max_length=36, null=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "qa_summary"
        indexes = ((("date", "check_name"), True),)


class FetchError(BaseModel):
    """A per-symbol fetch failure of one run (seed §8.7); drives the DLQ and alerts."""

    id = AutoField()
    run_id = CharField(max_length=36, index=True)
    night = DateField(index=True)
    symbol = CharField(max_length=32, index=True)
    error_code = CharField(max_length=16)
    msg = TextField(default="")
    consecutive_failures = SmallIntegerField(default=0)
    exit_name = CharField(max_length=64, null=True)
    last_ts = DateTimeField(default=utcnow)

    class Meta:
        table_name = "fetch_errors"


class DLQSymbol(BaseModel):
    """Dead-letter queue: symbols skipped by the fetcher until the monthly scrape sees them again."""

    symbol = CharField(primary_key=True, max_length=32)
    added_at = DateTimeField(default=utcnow)
    reason = CharField(max_length=16)
    failures = SmallIntegerField(default=0)
    last_error = TextField(null=True)

    class Meta:
        table_name = "dlq_symbols"


class CronStatus(BaseModel):
    """One row per job run: started, finished, exit code (seed §8.7). exit_code NULL = running."""

    id = AutoField()
    job = CharField(max_length=32, index=True)
    run_id = CharField(max_length=36, unique=True)
    started_at = DateTimeField(default=utcnow)
    finished_at = DateTimeField(null=True)
    exit_code = SmallIntegerField(null=True)
    error_code = CharField(max_length=16, null=True)
    trigger = CharField(max_length=16, default="cli")  # cli, daemon, tui, catch-up
    pid = IntegerField(null=True)
    host = CharField(max_length=64, null=True)
    detail = JSONField(default=dict)

    class Meta:
        table_name = "cron_status"
        indexes = ((("job", "started_at"), False),)


class ScrapeControl(BaseModel):
    """Monthly scrape outcome per exchange (seed §8.7); the fetcher's freshness guard reads it."""

    id = AutoField()
    month = CharField(max_length=6)  # YYYYMM
    exchange = CharField(max_length=16)
    scrape_status = CharField(max_length=16, default="running", constraints=[_in("scrape_status", SCRAPE_STATUSES)])
    row_count = IntegerField(default=0)
    hash = CharField(max_length=64, null=True)
    error_code = CharField(max_length=16, null=True)
    detail = JSONField(default=dict)
    run_id = CharField(max_length=36, null=True)
    started_at = DateTimeField(default=utcnow)
    finished_at = DateTimeField(null=True)

    class Meta:
        table_name = "scrape_control"
        indexes = ((("month", "exchange"), True),)


class CorporateAction(BaseModel):
    """Splits, dividends, mergers: from Yahoo's events or a CSV import (seed §4.4)."""

    id = AutoField()
    symbol = CharField(max_length=32, index=True)
    action_date = DateField()
    action_type = CharField(max_length=16)  # split, dividend, merger, spinoff
    ratio = DoubleField(null=True)  # split ratio (3.0 = 3-for-1) or dividend amount
    source = CharField(max_length=16, default="yahoo")  # yahoo, manual
    raw_blob = JSONField(default=dict)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "corporate_actions"
        indexes = ((("symbol", "action_date", "action_type"), True),)


class BatchLatency(BaseModel):
    """Latency of one fetch batch (the api_latency check and the latency chart)."""

    id = AutoField()
    run_id = CharField(max_length=36, index=True)
    night = DateField(index=True)
    batch_no = IntegerField()
    exit_name = CharField(max_length=64, null=True)
    symbols = IntegerField()
    ok = IntegerField(default=0)
    latency_ms = DoubleField()
    started_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "batch_latency"


class AlertOutbox(BaseModel):
    """Durable alert outbox: nothing is lost if Telegram is unreachable (SPEC §6)."""

    id = AutoField()
    created_at = DateTimeField(default=utcnow)
    night = DateField(index=True)
    rule = CharField(max_length=32)
    severity = CharField(max_length=10, constraints=[_in("severity", SEVERITIES)])
    text = TextField()
    dedupe_key = CharField(max_length=128, unique=True)
    status = CharField(max_length=10, default="pending", index=True, constraints=[_in("status", OUTBOX_STATUSES)])
    attempts = SmallIntegerField(default=0)
    last_error = TextField(null=True)
    sent_at = DateTimeField(null=True)
    subject = CharField(max_length=128, default="")  # what the alert is about: a check, a job, an exchange, "universe"
    next_attempt_at = DateTimeField(null=True)  # back-off: not retried before this
    message_id = BigIntegerField(null=True)  # Telegram's id of the sent message

    class Meta:
        table_name = "alert_outbox"


class AlertMute(BaseModel):
    """A mute window set by `/mute 60m` (or the TUI); alerts inside it are recorded, not sent."""

    id = AutoField()
    muted_until = DateTimeField()
    created_at = DateTimeField(default=utcnow)
    created_by = CharField(max_length=64, null=True)
    reason = TextField(null=True)
    rule = CharField(max_length=32, null=True)  # NULL: every rule

    class Meta:
        table_name = "alert_mutes"


class JobLock(BaseModel):
    """One row while a job runs, shared by the daemon, the TUI and the CLI."""

    job = CharField(primary_key=True, max_length=32)
    run_id = CharField(max_length=36)
    holder = CharField(max_length=128)  # pid@host
    pid = IntegerField()
    host = CharField(max_length=64)
    acquired_at = DateTimeField(default=utcnow)
    heartbeat_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "job_locks"


class SchedulerBeat(BaseModel):
    """The home's one scheduler (the daemon, or the TUI's `--with-scheduler`): its lock and heartbeat. A row whose
    process of this host is gone, or whose beat is older than ``daemon.stale_after_s``, may be taken over."""

    name = CharField(primary_key=True, max_length=16)  # always "scheduler": one per home
    pid = IntegerField()
    host = CharField(max_length=64)
    version = CharField(max_length=32)
    mode = CharField(max_length=8, default="daemon", constraints=[_in("mode", SCHEDULER_MODES)])
    started_at = DateTimeField(default=utcnow)
    beat_at = DateTimeField(default=utcnow)
    stopped_at = DateTimeField(null=True)  # set on a clean stop; NULL while it runs (or after a crash)
    next_runs = JSONField(default=dict)  # job -> ISO datetime (UTC) of its next scheduled run

    class Meta:
        table_name = "scheduler_beat"


class JobRequest(BaseModel):
    """A job asked for by the TUI, the palette or `praf-engine run JOB --detach`; a live scheduler polls the pending
    ones and starts them (else the requester starts a detached process). ``run_id`` links the run it became."""

    id = AutoField()
    job = CharField(max_length=32)
    options = JSONField(default=dict)  # e.g. {"force": true, "symbols": [...]}
    requested_at = DateTimeField(default=utcnow)
    requested_by = CharField(max_length=128)  # e.g. tui:pid@host
    status = CharField(max_length=10, default="pending", index=True, constraints=[_in("status", REQUEST_STATUSES)])
    claimed_by = CharField(max_length=128, null=True)  # pid@host of the process that runs it
    run_id = CharField(max_length=36, null=True)
    started_at = DateTimeField(null=True)
    finished_at = DateTimeField(null=True)
    error = TextField(null=True)

    class Meta:
        table_name = "job_requests"


class JobProgress(BaseModel):
    """Progress of one running job, written at most once a second by whichever process runs it;
    ``stop_requested`` asks it to finish its current batch and end INTERRUPTED."""

    run_id = CharField(primary_key=True, max_length=36)
    job = CharField(max_length=32)
    stage = CharField(max_length=64, default="")
    done = IntegerField(default=0)
    total = IntegerField(null=True)
    rows = IntegerField(default=0)
    errors = IntegerField(default=0)
    updated_at = DateTimeField(default=utcnow)
    stop_requested = BooleanField(default=False)

    class Meta:
        table_name = "job_progress"


class JobControl(BaseModel):
    """The operator's per-job scheduler state (TUI Scheduler screen, `praf-engine pause/resume`): a paused job is
    not started by the scheduler (it is recorded as skipped); persisted, so a restarted daemon honours it."""

    job = CharField(primary_key=True, max_length=32)
    paused = BooleanField(default=False)
    updated_at = DateTimeField(default=utcnow)
    updated_by = CharField(max_length=128, null=True)

    class Meta:
        table_name = "job_control"


class QACheckAudit(BaseModel):
    """One saved edit of a ``qa_checks`` row (the TUI's threshold editor, the service): who, when, the row's values
    before and after (severity, enabled, threshold_params) and the operator's note. Append only."""

    id = AutoField()
    check_name = CharField(max_length=40, index=True)
    changed_at = DateTimeField(default=utcnow)
    changed_by = CharField(max_length=64)
    old = JSONField(default=dict)
    new = JSONField(default=dict)
    note = TextField(default="")

    class Meta:
        table_name = "qa_check_audit"


class SchemaVersion(BaseModel):
    """Applied schema migrations (one row per version)."""

    version = IntegerField(primary_key=True)
    description = TextField()
    applied_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "schema_version"


ALL_MODELS: tuple[type[BaseModel], ...] = (
    SchemaVersion,
    Ticker,
    TickerFetchMeta,
    QACheck,
    QAFailure,
    QASummary,
    FetchError,
    DLQSymbol,
    CronStatus,
    ScrapeControl,
    CorporateAction,
    BatchLatency,
    AlertOutbox,
    AlertMute,
    JobLock,
    SchedulerBeat,
    JobRequest,
    JobProgress,
    JobControl,
    QACheckAudit,
)
