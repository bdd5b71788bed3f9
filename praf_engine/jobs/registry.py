"""The jobs PRAF can run by name (`praf-engine run JOB`, the scheduler, the TUI's rerun screen)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from praf_engine.jobs.runner import JobFunction


@dataclass(frozen=True)
class JobSpec:
    name: str
    summary: str
    load: Callable[[], JobFunction]  # imported lazily: `praf-engine init` never imports Selenium or yfinance
    # the values of a request's options, checked before it is stored (JOBOPTION); returns them canonical
    check: Callable[[dict[str, Any]], dict[str, Any]] | None = None


def _housekeeping(name: str) -> Callable[[], JobFunction]:
    def load() -> JobFunction:
        from praf_engine import housekeeping

        return getattr(housekeeping, name)

    return load


def _scrape() -> JobFunction:
    from praf_engine.universe.job import scrape_job

    return scrape_job


def _qa() -> JobFunction:
    from praf_engine.qa.runner import qa_job

    return qa_job


def _fetch() -> JobFunction:
    from praf_engine.fetch.runner import fetch_job

    return fetch_job


def _recheck() -> JobFunction:
    from praf_engine.qa.recheck import recheck_job

    return recheck_job


def _recheck_options(options: dict[str, Any]) -> dict[str, Any]:
    from praf_engine.qa.recheck import check_options

    return check_options(options)


def _alerts() -> JobFunction:
    from praf_engine.alerts.evaluate import alerts_job

    return alerts_job


def _backup() -> JobFunction:
    from praf_engine.backup import backup_job

    return backup_job


JOBS: dict[str, JobSpec] = {
    spec.name: spec
    for spec in (
        JobSpec("vacuum", "Weekly VACUUM of the metadata database", _housekeeping("vacuum_job")),
        JobSpec("retention", "Purge the raw cache, auto-resolve old QA failures, clean lake temp files, archive long-delisted tickers", _housekeeping("retention_job")),
        JobSpec("scrape", "Monthly universe scrape of the five exchanges into tickers (SPEC §2)", _scrape),
        JobSpec("fetch", "Nightly OHLCV fetch through the exits into the lake (SPEC §3)", _fetch),
        JobSpec("qa", "Data-quality checks of the lake and fetch state into qa_failures/qa_summary (gated on tonight's fetch; never beside a running fetch)", _qa),
        JobSpec("recheck", "Refetch the given symbols (full or incremental), re-run QA on them, close the failures that no longer hold ('fixed by refetch')",
                _recheck, _recheck_options),
        JobSpec("backup", "Back up the database and the lake into backups/, keep `backup.keep` (run after QA)", _backup),
        JobSpec("alerts", "Evaluate the night's alert rules into the outbox, then send it to Telegram (at most `alerts.max_per_night` + a digest)", _alerts),
    )
}
