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
    ErrorCode("DBERROR", "database", "The metadata database could not be opened or queried", "Check DATABASE_URL / praf.db permissions and disk space"),
    ErrorCode("DBSCHEMA", "database", "The database schema is newer than this PRAF or a migration failed", "Upgrade PRAF, or restore the backup taken before the migration"),
    ErrorCode("LAKESCHEMA", "lake", "A frame handed to the lake lacks a required column or has the wrong shape", "Nothing was written; fix the producer"),
    ErrorCode("LAKETYPE", "lake", "A column could not be converted to the lake's type", "Nothing was written; the offending values are in detail"),
    ErrorCode("LAKEBADROW", "lake", "Rows without a usable date, or with prices beyond decimal(18,6), were rejected", "The other rows were written; rejected rows are counted and logged"),
    ErrorCode("LAKEIO", "lake", "A partition could not be written (disk full, permissions)", "Previous data is intact; free space and rerun"),
    ErrorCode("LAKECORRUPT", "lake", "A partition file could not be read", "Restore the partition from backup or re-download the symbol's history"),
    ErrorCode("SQLBAD", "cli sql", "An ad-hoc query failed", "Fix the query; nothing was changed"),
    ErrorCode("JOBLOCKED", "jobs", "The same job is already running (daemon or TUI)", "Wait for it to finish, or clear a stale lock with `praf-engine run JOB --unlock`"),
    ErrorCode("JOBKILLED", "jobs", "A job run ended without recording its finish (killed process)", "Recorded at the next start; rerun the job"),
    ErrorCode("INTERNAL", "any", "An unexpected exception crossed a job boundary", "Read the stack in logs/app.jsonl and file a bug"),
    ErrorCode("INTERRUPTED", "jobs", "The job was stopped by Ctrl-C or SIGTERM after committing its current batch", "Rerun the job; finished work is kept", 130),
    # universe (monthly scrape)
    ErrorCode("SCRAPEBAD", "scraper", "A symbol failed validation (path/URL-unsafe or malformed)", "The row is skipped and logged; never written"),
    ErrorCode("SCRAPE404", "scraper", "Expected page or selector missing", "Mark scrape error, keep the previous universe"),
    ErrorCode("SCRAPEJS", "selenium", "JavaScript page timed out (>20 s)", "Retry 2x then fail; previous universe kept"),
    ErrorCode("SCRAPEHTTP", "scraper", "HTTP/FTP error (5xx, connection refused) after 3 retries", "Mark scrape error, keep the previous universe"),
    ErrorCode("SCRAPESTRUCT", "scraper", "Page structure changed or row count below the sanity floor", "scrape_status=structure_error, previous universe kept, alert"),
    ErrorCode("UNIVERSESTALE", "fetch", "Universe older than 35 days or the last scrape failed", "Fix the scrape, or run fetch with --force"),
    # nightly fetch
    ErrorCode("YF429", "yfinance", "Rate limited (HTTP 429)", "Back off, rotate exit, re-queue symbols"),
    ErrorCode("YFEMPTY", "yfinance", "Empty frame with 200 OK", "Single-symbol retry, then suspect_missing"),
    ErrorCode("YFDELISTED", "yfinance", "Yahoo answered 404 / no data found (possibly delisted)", "Counted against the symbol; DLQ after 3 nights"),
    ErrorCode("YFTIMEOUT", "yfinance", "Request timed out", "Back off and retry"),
    ErrorCode("YFMALFORMED", "yfinance", "Response could not be parsed", "Counted against the symbol; raw response kept"),
    ErrorCode("YFHTTP", "yfinance", "Yahoo answered a server error (HTTP 5xx) after the back-off ladder", "Counted against the symbol; retried next night"),
    ErrorCode("CORPACTBAD", "fetch", "A corporate-actions CSV could not be read or has bad rows", "Fix the named rows; good rows were imported"),
    ErrorCode("EXITFAIL", "exits", "An exit (proxy/VPN) could not connect", "Rotate; after 3 failures fall back to direct with half batch size"),
    ErrorCode("APIDOWN", "fetch", "Most first batches failed on every exit: treated as an outage", "Stop, alert, do not count failures; next run catches up"),
    # QA and alerts
    ErrorCode("QAFAIL", "qa runner", "A check crashed or its thresholds are malformed", "Other checks still run; exit 1; alert critical"),
    ErrorCode("QAGATE", "qa runner", "The last fetch failed or no fetch ever ran, so QA was not started", "Fix or rerun the fetch, or run `praf-engine qa --force`"),
    ErrorCode("QATRIAGE", "qa triage", "A failures-list or triage request was invalid (unknown failure id, action, check or paging)", "Nothing was changed; fix the request"),
    ErrorCode("ALERTSEND", "alerts", "Telegram delivery failed", "Message stays in the outbox and is retried"),
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


def wrap(exc: BaseException, code: str = "INTERNAL", **detail: Any) -> PipelineError:
    """Wrap any exception in a PipelineError (a PipelineError passes through unchanged)."""
    if isinstance(exc, PipelineError):
        return exc
    return PipelineError(code, f"{type(exc).__name__}: {exc}", {**detail, "exception": type(exc).__name__})
