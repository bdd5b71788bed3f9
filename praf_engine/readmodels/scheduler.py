"""Read model of the scheduler and the control plane: the scheduler's beat, each job's last/next run and pause, the
running jobs with their progress and the pending requests, from scheduler_beat, cron_status, job_progress,
job_control and job_requests. Gates and the job list come from the caller (the read side never imports the jobs)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from praf_engine.db.models import CronStatus, JobControl, JobProgress, JobRequest, SchedulerBeat
from praf_engine.readmodels.dto import (
    JobRequestInfo,
    RunningJob,
    ScheduledJob,
    SchedulerBeatInfo,
    SchedulerState,
)
from praf_engine.readmodels.jobs import job_run

BEAT_ROW = "scheduler"  # scheduler_beat's one row (one scheduler per home)


def beat_row() -> SchedulerBeat | None:
    return SchedulerBeat.get_or_none(SchedulerBeat.name == BEAT_ROW)


def beat(now: dt.datetime, stale_after_s: float, row: SchedulerBeat | None = None) -> SchedulerBeatInfo | None:
    """The scheduler_beat row; ``live`` when not stopped and its beat is at most ``stale_after_s`` old at ``now``."""
    row = row if row is not None else beat_row()
    if row is None:
        return None
    age = (now - row.beat_at).total_seconds()
    return SchedulerBeatInfo(row.host, row.pid, row.mode, row.version, row.started_at, row.beat_at, row.stopped_at,
                             age, row.stopped_at is None and age <= stale_after_s)


def next_runs(row: SchedulerBeat | None) -> dict[str, dt.datetime]:
    """job -> next scheduled run (naive UTC) as the scheduler of ``row`` last wrote them."""
    out = {}
    for job, when in dict(row.next_runs or {}).items() if row is not None else ():
        try:
            at = dt.datetime.fromisoformat(str(when))
        except ValueError:
            continue
        out[job] = at.astimezone(dt.UTC).replace(tzinfo=None) if at.tzinfo else at
    return out


def running() -> tuple[RunningJob, ...]:
    """Every cron_status run without a finish, with its job_progress row if it reported (oldest first)."""
    rows = list(CronStatus.select().where(CronStatus.finished_at.is_null()).order_by(CronStatus.started_at, CronStatus.id))
    progress = {p.run_id: p for p in JobProgress.select().where(JobProgress.run_id.in_([r.run_id for r in rows]))} if rows else {}
    out = []
    for r in rows:
        p = progress.get(r.run_id)
        out.append(RunningJob(r.job, r.run_id, r.started_at, r.trigger, r.host, r.pid,
                              p.stage if p else "", p.done if p else 0, p.total if p else None, p.rows if p else 0,
                              p.errors if p else 0, p.updated_at if p else None, bool(p.stop_requested) if p else False))
    return tuple(out)


def request_info(r: JobRequest) -> JobRequestInfo:
    by = r.claimed_by or ""
    route = "detached" if by.startswith("detached") else "scheduler"
    pid = None
    if route == "detached" and ":" in by:
        head = by.split(":", 1)[1].split("@", 1)[0]
        pid = int(head) if head.isdigit() else None
    return JobRequestInfo(r.id, r.job, dict(r.options or {}), r.requested_at, r.requested_by, r.status, route,
                          r.claimed_by, r.run_id, pid, r.error)


def pending() -> tuple[JobRequestInfo, ...]:
    rows = JobRequest.select().where(JobRequest.status == "pending").order_by(JobRequest.id)
    return tuple(request_info(r) for r in rows)


def paused_jobs() -> set[str]:
    return {c.job for c in JobControl.select().where(JobControl.paused == True)}  # noqa: E712 - peewee expression


def state(now: dt.datetime, stale_after_s: float, summaries: Mapping[str, str],
          gates: Mapping[str, tuple[str, str]] | None = None) -> SchedulerState:
    """The Scheduler screen's document at ``now``: ``summaries`` is the job list (name -> what it does, in order),
    ``gates`` job -> (short text, full message) of what holds a job back (the caller asks the gates)."""
    row = beat_row()
    info = beat(now, stale_after_s, row)
    upcoming = next_runs(row) if info is not None and info.live else {}
    runs = running()
    by_job = {r.job: r for r in reversed(runs)}  # the oldest unfinished run of each job
    stopped = paused_jobs()
    gates = gates or {}
    jobs = []
    for name, summary in summaries.items():
        last = (CronStatus.select().where(CronStatus.job == name)
                .order_by(CronStatus.started_at.desc(), CronStatus.id.desc()).first())
        gate = gates.get(name)
        jobs.append(ScheduledJob(name, summary, job_run(last) if last else None, upcoming.get(name),
                                 gate[0] if gate else None, gate[1] if gate else None, name in stopped, by_job.get(name)))
    return SchedulerState(now, info, tuple(jobs), runs, pending())
