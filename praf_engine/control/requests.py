"""Requests to run a job now (the TUI, the palette, `praf-engine run JOB --detach`) that outlive the process asking:
with a live scheduler, a pending job_requests row it claims and starts within 2 s; without one, a detached
`praf-engine run JOB --request ID` process in its own session. Also pause/resume (job_control)."""

from __future__ import annotations

import functools
import inspect
import json
import os
import subprocess
import sys
import threading
from typing import Any

from pydantic import BaseModel, SecretStr

from praf_engine.config import Settings, load_settings
from praf_engine.db.models import JobControl, JobRequest
from praf_engine.errors import PipelineError, wrap
from praf_engine.jobs.registry import JOBS
from praf_engine.jobs.runner import HOST, JobRunner, live_lock, pid_alive
from praf_engine.logs import get_logger, new_run_id
from praf_engine.readmodels.dto import JobRequestInfo
from praf_engine.readmodels.scheduler import beat, request_info
from praf_engine.wiring import Wiring

log = get_logger(__name__)
INTERNAL_OPTIONS = frozenset({"progress", "night"})  # keyword parameters of job functions that are not an operator's


def requester(kind: str) -> str:
    """Who asks: e.g. "tui:1234@host" (job_requests.requested_by)."""
    return f"{kind}:{os.getpid()}@{HOST}"[:128]


def job_spec_or_raise(job: str) -> Any:
    if job not in JOBS:
        raise PipelineError("JOBUNKNOWN", f"no job named {job!r}; known: {', '.join(sorted(JOBS))}", {"job": job, "known": sorted(JOBS)})
    return JOBS[job]


def check_options(job: str, options: dict[str, Any] | None) -> dict[str, Any]:
    """The options a request passes to the job function as keyword arguments: each must be one of its keyword
    parameters (e.g. fetch: force, full, symbols; qa: force, checks) and JSON (they are stored); else JOBOPTION."""
    options = dict(options or {})
    spec = job_spec_or_raise(job)
    if not options and spec.check is None:
        return options
    params = inspect.signature(spec.load()).parameters
    known = sorted(n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY and n not in INTERNAL_OPTIONS)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise PipelineError("JOBOPTION", f"job {job} takes no option {', '.join(unknown)}; its options: {', '.join(known) or 'none'}",
                            {"job": job, "unknown": unknown, "known": known})
    try:
        json.dumps(options)
    except (TypeError, ValueError) as exc:
        raise PipelineError("JOBOPTION", f"the options of job {job} must be JSON values: {exc}", {"job": job}) from None
    return spec.check(options) if spec.check is not None else options  # the job's own rules (recheck: its symbols)


def scheduler_live(wiring: Wiring) -> bool:
    info = beat(wiring.clock(), wiring.settings.daemon.stale_after_s)
    return info is not None and info.live


def request_job(wiring: Wiring, job: str, options: dict[str, Any] | None = None, by: str | None = None) -> JobRequestInfo:
    """Ask for ``job`` to run now. A job that is running is JOBLOCKED; the same pending request is answered with the
    one already waiting. With a live scheduler: a pending row; else a detached process, recorded in the row."""
    job_spec_or_raise(job)
    options = check_options(job, options)
    by = by or requester("cli")
    running = live_lock(job)
    if running is not None:
        raise PipelineError("JOBLOCKED", f"job {job} is already running ({running.holder}, run {running.run_id}, since "
                            f"{running.acquired_at:%Y-%m-%d %H:%M} UTC)", {"job": job, "holder": running.holder, "run_id": running.run_id})
    for waiting in JobRequest.select().where(JobRequest.job == job, JobRequest.status == "pending"):
        if dict(waiting.options or {}) == options:
            return request_info(waiting)
    now = wiring.clock()
    if scheduler_live(wiring):
        row = JobRequest.create(job=job, options=options, requested_at=now, requested_by=by)
        log.info(f"job {job} requested; the scheduler starts it", detail={"request": row.id, "job": job, "by": by})
        return request_info(row)
    row = JobRequest.create(job=job, options=options, requested_at=now, requested_by=by, status="started", claimed_by="detached")
    try:
        pid = spawn_detached(wiring.settings, row.id, job)
    except Exception as exc:
        err = wrap(exc)
        JobRequest.update(status="failed", finished_at=wiring.clock(), error=f"{err.error_code}: {err.msg}"[:2000]).where(
            JobRequest.id == row.id).execute()
        raise
    JobRequest.update(claimed_by=f"detached:{pid}@{HOST}").where(JobRequest.id == row.id, JobRequest.run_id.is_null()).execute()
    log.info(f"job {job} requested; no live scheduler, started as detached process {pid}", detail={"request": row.id, "pid": pid, "by": by})
    return request_info(JobRequest.get_by_id(row.id))


def claim_pending(by: str) -> list[JobRequest]:
    """The pending requests, each claimed for ``by`` by one conditional UPDATE (a row is started by one claimer)."""
    claimed = []
    for row in JobRequest.select(JobRequest.id).where(JobRequest.status == "pending").order_by(JobRequest.id):
        n = JobRequest.update(status="started", claimed_by=by[:128]).where(JobRequest.id == row.id, JobRequest.status == "pending").execute()
        if n == 1:
            claimed.append(JobRequest.get_by_id(row.id))
    return claimed


def orphaned_requests() -> list[tuple[JobRequest, int]]:
    """The started requests whose process (``KIND:PID@HOST`` of this host) is gone, with that pid: what
    ``reap_requests`` closes (a read)."""
    found = []
    for row in JobRequest.select().where(JobRequest.status == "started", JobRequest.claimed_by.endswith(f"@{HOST}")):
        head = (row.claimed_by or "").rsplit("@", 1)[0].split(":")[-1]
        if head.isdigit() and not pid_alive(int(head)):
            found.append((row, int(head)))
    return found


def reap_requests(wiring: Wiring) -> int:
    """Close the started requests whose process (``KIND:PID@HOST`` of this host) is gone without recording their end:
    a detached process that could not start its run (its error is in logs/detached.log) or a killed scheduler.
    Their run, if any, is reaped by the job runner's own rule (JOBKILLED)."""
    closed = 0
    for row, pid in orphaned_requests():
        closed += JobRequest.update(status="failed", finished_at=wiring.clock(),
                                    error=f"JOBKILLED: its process {pid} ended without recording the run's end "
                                          "(a detached run's start errors are in logs/detached.log)").where(
            JobRequest.id == row.id, JobRequest.status == "started").execute()
    return closed


# --- the detached process -------------------------------------------------------------------------------------------
def child_overrides(settings: Settings) -> list[str]:
    """``--set`` pairs that give a child process the settings in force here (the requester's --set, --sandbox, the
    sandbox profile's URLs): every non-secret setting that differs from what the home and environment give."""
    try:
        fresh = load_settings(home=settings.home)
    except PipelineError:
        return []  # the child reports the bad file itself
    mine, theirs = _flat(settings), _flat(fresh)
    return [f"{key}={json.dumps(value)}" for key, value in sorted(mine.items()) if theirs.get(key, object()) != value]


def _flat(settings: Settings) -> dict[str, Any]:
    out: dict[str, Any] = {}
    dumped = settings.model_dump(mode="json")
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if name == "home" or isinstance(value, SecretStr):
            continue
        if isinstance(value, BaseModel):
            out.update({f"{name}.{k}": dumped[name][k] for k in type(value).model_fields if not isinstance(getattr(value, k), SecretStr)})
        else:
            out[name] = dumped[name]
    return out


def spawn_detached(settings: Settings, request_id: int, job: str) -> int:
    """Start `praf-engine --home H run JOB --request ID` in a session of its own (a closed SSH session or a killed TUI
    does not end it), stdin/stdout on /dev/null, stderr appended to logs/detached.log. Returns its pid."""
    command = [sys.executable, "-m", "praf_engine", "--home", str(settings.home)]
    for pair in child_overrides(settings):
        command += ["--set", pair]
    command += ["run", job, "--request", str(request_id)]
    env = dict(os.environ)
    if settings.database_url is not None:  # a secret: through the environment, never the command line
        env["DATABASE_URL"] = settings.database_url.get_secret_value()
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.logs_dir / "detached.log", "ab") as err:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=env,
                                start_new_session=True, close_fds=True)
    threading.Thread(target=proc.wait, name=f"praf-reap-{proc.pid}", daemon=True).start()  # no zombie while we live
    return proc.pid


def run_request(wiring: Wiring, request_id: int, expect_job: str | None = None) -> int:
    """The detached process's side (`praf-engine run JOB --request ID`): run the request's job with its options, the
    run's cron_status.detail naming the request, and record the outcome in the request's row."""
    row = JobRequest.get_or_none(JobRequest.id == request_id)
    if row is None or (expect_job is not None and row.job != expect_job):
        raise PipelineError("JOBUNKNOWN", f"no request {request_id} of job {expect_job or '(any)'}", {"request": request_id})
    run_id = new_run_id()
    JobRequest.update(run_id=run_id, started_at=wiring.clock(), status="started", claimed_by=f"detached:{os.getpid()}@{HOST}").where(
        JobRequest.id == request_id).execute()
    code, error = 1, None
    try:
        fn = job_spec_or_raise(row.job).load()
        if row.options:
            fn = functools.partial(fn, **dict(row.options))
        code = JobRunner(wiring, trigger="request").run(row.job, fn, run_id=run_id, detail={"request": request_id})
    except BaseException as exc:
        err = wrap(exc)
        error = f"{err.error_code}: {err.msg}"
        raise
    finally:
        JobRequest.update(status="done" if code == 0 else "failed", finished_at=wiring.clock(),
                          error=error or (None if code == 0 else f"exit {code}")).where(JobRequest.id == request_id).execute()
    return code


# --- pause / resume -------------------------------------------------------------------------------------------------
def set_paused(wiring: Wiring, job: str, paused: bool, by: str) -> bool:
    """Persist the job's pause (the scheduler records its scheduled runs as skipped, JOBPAUSED); returns the old state."""
    job_spec_or_raise(job)
    old = JobControl.get_or_none(JobControl.job == job)
    JobControl.insert(job=job, paused=paused, updated_at=wiring.clock(), updated_by=by[:128]).on_conflict(
        conflict_target=[JobControl.job], update={JobControl.paused: paused, JobControl.updated_at: wiring.clock(),
                                                  JobControl.updated_by: by[:128]}).execute()
    log.info(f"job {job} {'paused' if paused else 'resumed'}", detail={"job": job, "by": by})
    return bool(old is not None and old.paused)
