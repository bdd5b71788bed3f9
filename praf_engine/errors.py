"""PipelineError and the error-code catalogue (docs/error_codes.md is checked against it)."""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ErrorCode:
    code: str
    origin: str
    meaning: str
    action: str
    exit_code: int = 1


_CODES: tuple[ErrorCode, ...] = (
    # configuration and storage
    ErrorCode("CONFIGBAD", "settings", "A setting has a wrong value or an unknown name", "Fix the named setting in the named source; nothing ran", 2),
    ErrorCode("HOMEMISSING", "any command", "The data home does not exist or was never initialised (a mistyped --home / PRAF_HOME)", "Nothing ran and nothing was created; fix the path, or create the home with `praf-engine --home PATH init`", 2),
    ErrorCode("DBERROR", "database", "The metadata database could not be opened or queried", "Check DATABASE_URL / praf.db permissions and disk space"),
    ErrorCode("DBFULL", "database", "The metadata database could not be written: disk or quota full (SQLite SQLITE_FULL, PostgreSQL disk_full 53100)", "The transaction in progress was rolled back (the lake is never behind the database); free space or raise the quota and rerun"),
    ErrorCode("DBSCHEMA", "database", "The database schema is newer than this PRAF or a migration failed", "Upgrade PRAF, or restore the backup taken before the migration"),
    ErrorCode("LAKESCHEMA", "lake", "A frame handed to the lake lacks a required column or has the wrong shape", "Nothing was written; fix the producer"),
    ErrorCode("LAKETYPE", "lake", "A column could not be converted to the lake's type", "Nothing was written; the offending values are in detail"),
    ErrorCode("LAKEBADROW", "lake", "Rows without a usable date, or with prices beyond decimal(18,6), were rejected", "The other rows were written; rejected rows are counted and logged"),
    ErrorCode("LAKEIO", "lake", "A partition could not be written (disk full, permissions)", "Previous data is intact; free space and rerun"),
    ErrorCode("LAKECORRUPT", "lake", "A partition file could not be read", "Restore the partition from backup or re-download the symbol's history"),
    ErrorCode("SQLBAD", "cli sql", "An ad-hoc query failed, or was refused: `praf-engine sql` is read-only (one query; no file, network, extension or settings access)", "Fix the query; nothing was changed"),
    ErrorCode("JOBLOCKED", "jobs", "The same job is already running (daemon or TUI)", "Wait for it to finish, or clear a stale lock with `praf-engine run JOB --unlock`"),
    ErrorCode("JOBKILLED", "jobs", "A job run ended without recording its finish (killed process)", "Recorded at the next start; rerun the job"),
    ErrorCode("INTERNAL", "any", "An unexpected exception crossed a job boundary", "Read the stack in logs/app.jsonl and file a bug"),
    ErrorCode("INTERRUPTED", "jobs", "The job was stopped by Ctrl-C or SIGTERM after committing its current batch", "Rerun the job; finished work is kept", 130),
    # the scheduler (praf_engine/scheduler: the daemon, or the TUI's --with-scheduler)
    ErrorCode("JOBPAUSED", "scheduler", "A scheduled run was not started: the job is paused (TUI Scheduler screen, `praf-engine pause JOB`)", "Recorded in cron_status as skipped (exit 2: nothing ran; detail.skipped); `praf-engine resume JOB` and the next scheduled time runs it (the skipped one is not made up)", 2),
    ErrorCode("QAWAITTIMEOUT", "scheduler", "QA's scheduled run was skipped: the night's fetch was still running at `schedule.qa_wait_deadline` (04:00); QA never runs beside a fetch", "Recorded in cron_status as skipped (exit 2: nothing ran; detail.skipped); when the fetch has finished, run `praf-engine qa` (docs/runbooks/scheduler.md)", 2),
    ErrorCode("SLOTMISSED", "scheduler", "A scheduled run was missed while no scheduler ran, and is past its catch-up window (`schedule.catchup_*`) or a later run of the job replaces it", "Logged, not run late (a missed night is never run twice; the fetch's back-fill fills the missed days); run the job by hand if it is needed now"),
    ErrorCode("DAEMONRUNNING", "scheduler", "Another scheduler (a daemon, or a TUI started with --with-scheduler) holds this home: its heartbeat is fresh; one scheduler per home", "Nothing started; the message names its pid, host and start. Stop that one first (`praf-engine status` shows it); a dead one's lock is taken over once its process is gone (this host) or its heartbeat is older than `daemon.stale_after_s`", 2),
    ErrorCode("JOBUNKNOWN", "jobs", "No job of that name is registered (`praf-engine run --help` lists them)", "Nothing ran; check the name. A scheduled job not in this version is skipped with this code in the log", 2),
    ErrorCode("JOBNOTRUNNING", "jobs", "A stop was asked for a run (or job) that is not running", "Nothing changed; `praf-engine status` and the TUI's Scheduler screen list the running runs", 2),
    ErrorCode("JOBOPTION", "jobs", "A job request names an option the job does not take, a value that is not JSON, or a value the job refuses (recheck: a malformed, unknown or hostile symbol, more than 500, a bad date)", "Nothing was requested; the message lists the job's options (e.g. fetch: force, full, symbols)", 2),
    # backups (praf-engine backup / restore)
    ErrorCode("BACKUPFAIL", "backup", "A backup could not be made: disk full or permissions under backups/, pg_dump missing or failing, or the live database fails its integrity check", "No partial backup is left and the previous backups are kept; fix the cause and rerun `praf-engine backup`"),
    ErrorCode("RESTOREBAD", "restore", "The backup cannot be restored here: missing, incomplete or damaged (a file's size or SHA-256 differs from its manifest), made by a newer PRAF, or for another database kind or schema", "Nothing was changed; pick another backup (`praf-engine backup --list`)"),
    ErrorCode("RESTORELIVE", "restore", "The home to restore into holds data (database rows, lake files or a job lock)", "Nothing was changed; stop PRAF and rerun `praf-engine restore` with --force (what it replaces is kept in backups/restore-*-displaced/)"),
    ErrorCode("RESTOREFAIL", "restore", "A restore stopped part-way: the database restore failed (rolled back), or a lake file could not be written (disk full, permissions)", "Fix the cause and rerun `praf-engine restore --force`; a rerun puts back only what still differs"),
    # universe (monthly scrape)
    ErrorCode("SCRAPEBAD", "scraper", "A row failed validation: a path/URL-unsafe or malformed symbol, or a malformed line", "The row is skipped and logged, never written; the rest of the exchange is applied and the scrape exits 1"),
    ErrorCode("SCRAPE404", "scraper", "An exchange page or file answered HTTP 404 (moved or removed)", "Not retried; scrape_status=error, the error page kept in scrapes_raw/, previous universe kept"),
    ErrorCode("SCRAPEJS", "selenium", "Euronext: Chromium did not start, or the list page or its CSV download did not arrive within `scrape.js_timeout_s` (20 s)", "Page and download retried `scrape.retries` (3) times in the same browser, then scrape_status=error; previous universe kept"),
    ErrorCode("SCRAPEHTTP", "scraper", "HTTP 5xx or 429, connection or FTP error still failing after `scrape.retries` (3) retries; or another HTTP 4xx (not retried)", "scrape_status=error, the error page kept in scrapes_raw/, previous universe kept"),
    ErrorCode("SCRAPEIO", "scraper", "A downloaded page could not be saved under scrapes_raw/ (disk full, permissions)", "scrape_status=error, nothing applied for that exchange, previous universe kept; free space and rerun"),
    ErrorCode("SCRAPESTRUCT", "scraper", "Page structure changed (columns, selectors, truncated file) or fewer rows than `scrape.row_floor_ratio` (0.5) of the last successful month", "scrape_status=structure_error, previous universe kept, alert"),
    ErrorCode("UNIVERSESTALE", "fetch", "An exchange's universe is older than `fetch.universe_max_age_days` (35) since its last successful scrape, or its last scrape failed", "Per exchange: a failed last scrape is a warning (fetched on the previous universe, nothing purged); an older universe is skipped by the nightly fetch (named in cron_status.detail); every exchange older: the fetch does not start. Fix the scrape, or run fetch with --force"),
    # nightly fetch
    ErrorCode("YF429", "yfinance", "Rate limited (HTTP 429)", "A proxy/VPN exit rests `exits.cooldown_s` (300 s) and the pool rotates; the symbols are retried along `fetch.backoff_s` (10, 30, 120, 600 s), then counted against the symbol"),
    ErrorCode("YFEMPTY", "yfinance", "Empty frame with 200 OK", "A wholly empty batch is retried along `fetch.backoff_s` (10, 30, 120, 600 s); each empty symbol gets one single-symbol retry, then suspect_missing and counted against it"),
    ErrorCode("YFDELISTED", "yfinance", "Yahoo answered 404 / no data found (possibly delisted)", "Not retried; counted against the symbol: dead-letter queue after `fetch.dlq_after_nights` (3) failed nights, delisted after `fetch.delist_after_failures` (7) if the last scrape did not see it"),
    ErrorCode("YFTIMEOUT", "yfinance", "Request timed out after `fetch.request_timeout_s` (30 s)", "Retried along `fetch.backoff_s` (10, 30, 120, 600 s), then counted against the symbol"),
    ErrorCode("YFMALFORMED", "yfinance", "Response could not be parsed", "Not retried; counted against the symbol (yfinance's reason in fetch_errors.msg); dead-letter queue after `fetch.dlq_after_nights` (3) failed nights"),
    ErrorCode("YFHTTP", "yfinance", "Yahoo answered a server error (HTTP 5xx)", "Retried along `fetch.backoff_s` (10, 30, 120, 600 s), then counted against the symbol; retried next night"),
    ErrorCode("YFSTALE", "fetch", "Stale at source: the download succeeded but its newest bar is more than `fetch.stale_after_sessions` (10) sessions before the night (Yahoo stopped the history: acquired, renamed?)", "The bars are kept, fetch_status=stale (not ok); not downloaded again for `fetch.stale_backoff_nights` (1, 2, 4, 8, 16) nights; after `fetch.stale_dlq_after_nights` (14) nights the dead-letter queue (delisted if its exchange's last scrape did not see it)"),
    ErrorCode("CORPACTBAD", "fetch", "A corporate-actions CSV could not be read or has bad rows", "Fix the named rows; good rows were imported"),
    ErrorCode("EXITFAIL", "exits", "An exit (proxy/VPN) could not connect or lost its connection, or the NordVPN server list is unavailable", "The exit is dropped and the pool rotates; after `exits.max_connect_failures` (3) failures, direct with half batch size (vpn_fail); an unavailable NordVPN server list: the last good one (cache/nordvpn_servers.json), else direct with half batch size"),
    ErrorCode("APIDOWN", "fetch", "At least `fetch.breaker_failure_ratio` (0.8) of the first `fetch.breaker_first_batches` (5) batches failed as a whole, on every exit, and not as a direct connection's 429 wall (YFRATELIMIT): treated as an outage", "Stop, alert, do not count failures; next run catches up"),
    ErrorCode("YFRATELIMIT", "fetch", "Yahoo rate-limits this IP: every batch answered 429 on a direct connection (`exits.kind` = direct, or after the VPN fallback); at least `fetch.breaker_failure_ratio` (0.8) of the first `fetch.breaker_first_batches` (5) batches", "Stop, alert, do not count failures; configure exits or wait for the limit to lift; the next run catches up"),
    # QA and alerts
    ErrorCode("QAFAIL", "qa runner", "A check crashed or its thresholds are malformed", "Other checks still run; exit 1; alert critical"),
    ErrorCode("QAGATE", "qa runner", "QA was not started: a fetch of the home is running now, or no fetch of QA's night (the UTC date of the run, as the fetch's night) succeeded: none ran yet, or it failed", "A running fetch: wait for it and rerun QA (--force does not override this; a dead process's lock is ignored, another host's is cleared with `praf-engine run fetch --unlock`). Otherwise fix or rerun the night's fetch, or run `praf-engine qa --force`"),
    ErrorCode("QATRIAGE", "qa triage", "A failures-list or triage request was invalid (unknown failure id, action, check or paging)", "Nothing was changed; fix the request"),
    # dashboard
    ErrorCode("SYMBOLUNKNOWN", "dashboard", "A symbol page was asked for a listing that is not in tickers", "Check the spelling (Yahoo form: BRK-B, VOD.L, SAP.DE); nothing changed"),
    ErrorCode("UNIVERSEQUERY", "dashboard", "The universe detail was asked for a month that is not YYYY-MM, or a change other than new, delisted, relisted", "Nothing was read; pick a month and a change the universe panel lists"),
    ErrorCode("PREFETCH", "dashboard", "The dashboard's first snapshot or the header's first scheduler state, read in a forked child while praf-tui starts, was not used: the child failed, died or did not answer within 10 s (then it is killed), its answer was cut short, or it was for another date or older than 5 s", "Nothing is lost: the dashboard computes them itself, as it always did, and a real failure is shown with its own code. Logged as a warning; the prefetch is skipped (no child) in a process that already has threads or an open database connection"),
    ErrorCode("LOGQUERY", "log viewer", "A log viewer request was invalid: an unknown level, a run id that is not (the start of) a UUID, a negative offset or a page size beyond 1..1000", "Nothing was read; fix the filter (levels: debug, info, warning, error, critical)"),
    ErrorCode("LOGREAD", "log viewer", "The log folder (logs/ in the home, or `logs_dir`) is missing or cannot be read", "Nothing has logged in this home yet, or logs_dir points elsewhere; check the path and its permissions"),
    ErrorCode("EXPORTIO", "dashboard", "A CSV export could not be written (missing folder, permissions, disk full)", "Nothing was written; pick another path or free space"),
    ErrorCode("ALERTSEND", "alerts", "Telegram delivery failed", "Message stays in the outbox and is retried"),
    ErrorCode("ALERTAUTH", "alerts", "Telegram refused the bot: the token was revoked or is wrong (401), the bot was blocked or removed from the chat (403), or the chat id does not exist (400 chat not found)", "Messages stay pending in the outbox (not retried in a storm: one refused request stops the dispatch); fix TELEGRAM_BOT_TOKEN / TELEGRAM_CHAT_ID or unblock the bot, then `praf-engine alerts test`"),
    ErrorCode("ALERTCONFIG", "alerts", "No Telegram token (TELEGRAM_BOT_TOKEN) or chat id (TELEGRAM_CHAT_ID) is configured", "Alerts are recorded in the outbox and shown in the TUI, not sent; set both in the home's .env"),
    ErrorCode("ALERTBAD", "alerts", "An alerts command was invalid: an unknown rule name, a duration not like 30m, 2h, 1d or 1w (at most 90 days)", "Nothing was changed; the message lists the rules (`praf-engine alerts mute --help`)", 2),
)

CATALOGUE: dict[str, ErrorCode] = {c.code: c for c in _CODES}


def stack_excerpt(exc: BaseException, frames: int = 8) -> str:
    """The last ``frames`` frames of ``exc``'s traceback, as text (seed §9.1: first 8 frames only)."""
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-frames)
    return "".join(lines)[-4000:]


@dataclass
class PipelineError(Exception):
    """An error that crossed a boundary, with a catalogue code, a short message and structured detail."""

    error_code: str
    msg: str
    detail: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.error_code not in CATALOGUE:
            raise ValueError(f"unknown error code {self.error_code!r}; add it to praf_engine.errors")
        super().__init__(self.msg)

    def __str__(self) -> str:
        return f"[{self.error_code}] {self.msg}"

    @property
    def exit_code(self) -> int:
        return CATALOGUE[self.error_code].exit_code

    def to_dict(self) -> dict[str, Any]:
        return {"error_code": self.error_code, "msg": self.msg, "detail": self.detail}


def database_full(exc: BaseException) -> bool:
    """Whether ``exc`` is, or wraps, a full database: SQLite's SQLITE_FULL ('database or disk is full') or PostgreSQL's
    disk_full (SQLSTATE 53100). peewee keeps the driver's error in ``args[0]``; chained causes are followed too."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        if getattr(e, "sqlite_errorname", None) == "SQLITE_FULL" or getattr(e, "pgcode", None) == "53100":
            return True
        if type(e).__module__.startswith("sqlite3") and "database or disk is full" in str(e):
            return True
        todo += [x for x in (e.__cause__, e.__context__, *e.args) if isinstance(x, BaseException)]
    return False


def wrap(exc: BaseException, code: str = "INTERNAL", **detail: Any) -> PipelineError:
    """Wrap any exception in a PipelineError (a PipelineError passes through unchanged); an unexpected exception
    that is a full database becomes DBFULL, not INTERNAL."""
    if isinstance(exc, PipelineError):
        return exc
    if code == "INTERNAL" and database_full(exc):
        return PipelineError("DBFULL", f"the metadata database is full: {type(exc).__name__}: {exc}",
                             {**detail, "exception": type(exc).__name__})
    return PipelineError(code, f"{type(exc).__name__}: {exc}", {**detail, "exception": type(exc).__name__})
