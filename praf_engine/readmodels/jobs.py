"""Read model of the jobs: every job with its last run, the latest runs, one run, from cron_status. The job list
itself (names and summaries) comes from the caller, so the read side never imports praf_engine.jobs."""

from __future__ import annotations

from collections.abc import Mapping

from praf_engine.db.models import CronStatus
from praf_engine.readmodels.dto import JobInfo, JobRun


def job_run(r: CronStatus) -> JobRun:
    return JobRun(r.job, r.run_id, r.started_at, r.finished_at, r.exit_code, r.error_code, r.trigger)


def run(run_id: str) -> JobRun:
    """The cron_status row of one run."""
    return job_run(CronStatus.get(CronStatus.run_id == run_id))


def jobs(summaries: Mapping[str, str]) -> tuple[JobInfo, ...]:
    """Every job of ``summaries`` (name → what it does, in order) with its newest run; running = not finished."""
    out = []
    for name, summary in summaries.items():
        last = CronStatus.select().where(CronStatus.job == name).order_by(CronStatus.started_at.desc(), CronStatus.id.desc()).first()
        out.append(JobInfo(name, summary, last.started_at if last else None, last.exit_code if last else None,
                           last.error_code if last else None, bool(last and last.finished_at is None)))
    return tuple(out)


def last_runs(limit: int = 20) -> tuple[JobRun, ...]:
    """The latest runs of every job, newest first."""
    rows = CronStatus.select().order_by(CronStatus.started_at.desc(), CronStatus.id.desc()).limit(limit)
    return tuple(job_run(r) for r in rows)
