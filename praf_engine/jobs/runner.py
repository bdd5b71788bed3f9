"""Run one job: lock it, give it a run_id bound to every log line, record it in cron_status even when it crashes."""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from peewee import Database, IntegrityError

from praf_engine.config import Settings
from praf_engine.control.progress import ProgressReporter
from praf_engine.db.models import CronStatus, JobLock, utcnow
from praf_engine.errors import PipelineError, stack_excerpt, wrap
from praf_engine.logs import bound_run, get_logger, new_run_id
from praf_engine.wiring import Clock, Wiring

if TYPE_CHECKING:
    from praf_engine.lake import Lake

log = get_logger(__name__)
HOST = socket.gethostname()[:64]
PIPELINE = "pipeline"  # the lock (a job_locks row) that serialises the pipeline's jobs, whichever process runs them
PIPELINE_JOBS = frozenset({"scrape", "fetch", "qa", "vacuum", "recheck"})  # never two at once: seed §1.3 "keep tasks serial"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class JobContext:
    """What a job function receives: its identity, the process's wiring (settings, database, clock, lake, Yahoo
    session and HTTP client factories) and a stop flag."""

    job: str
    run_id: str
    wiring: Wiring
    stop: threading.Event = field(default_factory=threading.Event)
    detail: dict[str, Any] = field(default_factory=dict)  # written to cron_status.detail at the end
    reporter: ProgressReporter | None = None  # the run's job_progress row (JobRunner opens it)

    @property
    def settings(self) -> Settings:
        return self.wiring.settings

    @property
    def db(self) -> Database:
        assert self.wiring.db is not None  # JobRunner refuses a wiring without its database
        return self.wiring.db

    @property
    def clock(self) -> Clock:
        return self.wiring.clock

    @property
    def lake(self) -> Lake:
        return self.wiring.lake

    @property
    def stopping(self) -> bool:
        """The stop flag: SIGINT/SIGTERM, the scheduler's stop, or an operator's stop request in the database (asked
        at most once a second)."""
        return self.reporter.stop_requested() if self.reporter is not None else self.stop.is_set()

    def progress(self, *, stage: str | None = None, done: int | None = None, total: int | None = None,
                 rows: int | None = None, errors: int | None = None) -> None:
        """Report how far the run is (job_progress, written at most once a second; the TUI's progress bars)."""
        if self.reporter is not None:
            self.reporter.report(stage=stage, done=done, total=total, rows=rows, errors=errors)


JobFunction = Callable[[JobContext], int | None]


def killed_runs() -> list[CronStatus]:
    """The unfinished runs of this host whose process is gone (SIGKILL, power cut): what ``reap_killed_runs`` closes."""
    return [row for row in CronStatus.select().where(CronStatus.finished_at.is_null(), CronStatus.host == HOST)
            if row.pid is not None and not pid_alive(row.pid)]


def to_reap() -> bool:
    """Whether ``reap_killed_runs`` would change anything: a killed run, or a lock of this host's dead process (a
    read: a reader that must not write, praf-tui's forked start, leaves the reaping to its parent)."""
    return bool(killed_runs()) or any(not pid_alive(int(lock.pid))
                                      for lock in JobLock.select(JobLock.pid).where(JobLock.host == HOST))


def reap_killed_runs(db: Database) -> int:
    """Mark runs of this host whose process is gone (SIGKILL, power cut) as JOBKILLED, and free their locks."""
    reaped = 0
    for row in killed_runs():
        CronStatus.update(finished_at=utcnow(), exit_code=137, error_code="JOBKILLED",
                          detail={**(row.detail or {}), "reaped": True}).where(CronStatus.id == row.id).execute()
        log.warning("job run ended without recording its finish", error_code="JOBKILLED",
                    detail={"job": row.job, "run_id": row.run_id, "pid": row.pid})
        reaped += 1
    JobLock.delete().where(JobLock.host == HOST, JobLock.pid.not_in([p for p in _live_pids()])).execute()
    return reaped


def _live_pids() -> list[int]:
    return [int(lock.pid) for lock in JobLock.select(JobLock.pid).where(JobLock.host == HOST) if pid_alive(int(lock.pid))]


def live_lock(job: str) -> JobLock | None:
    """The job's lock if its holder may still be running; a lock left by a dead process of this host is stale and
    removed (another host's process cannot be checked: its lock counts as live)."""
    current = JobLock.get_or_none(JobLock.job == job)
    if current is not None and current.host == HOST and not pid_alive(current.pid):
        JobLock.delete().where(JobLock.job == job, JobLock.run_id == current.run_id).execute()
        log.warning("removed a stale job lock", detail={"job": job, "stale_holder": current.holder, "run_id": current.run_id})
        return None
    return current


def acquire_lock(job: str, run_id: str) -> None:
    """Take the job's lock or raise JOBLOCKED; a lock left by a dead process of this host is taken over."""
    holder = f"{os.getpid()}@{HOST}"
    for _attempt in range(2):
        try:
            JobLock.create(job=job, run_id=run_id, holder=holder, pid=os.getpid(), host=HOST)
            return
        except IntegrityError:
            current = live_lock(job)
            if current is None:
                continue
            raise PipelineError("JOBLOCKED", f"job {job} is already running ({current.holder}, since {current.acquired_at:%Y-%m-%d %H:%M} UTC)",
                                {"job": job, "holder": current.holder, "run_id": current.run_id}) from None
    raise PipelineError("JOBLOCKED", f"could not take the lock of job {job}", {"job": job})


def release_lock(job: str, run_id: str) -> None:
    JobLock.delete().where(JobLock.job == job, JobLock.run_id == run_id).execute()


def pipeline_holder() -> str | None:
    """The pipeline job (scrape, fetch, QA, VACUUM) running now in any process of the home, or None: the job lock
    that shares the pipeline lock's run id (a dead process's locks of this host are stale, and removed)."""
    current = live_lock(PIPELINE)
    if current is None:
        return None
    owner = JobLock.get_or_none(JobLock.run_id == current.run_id, JobLock.job != PIPELINE)
    return owner.job if owner is not None else PIPELINE


def acquire_pipeline(job: str, run_id: str) -> None:
    """Take the pipeline lock for ``job`` (one of PIPELINE_JOBS) or raise JOBLOCKED naming the pipeline job that runs."""
    try:
        acquire_lock(PIPELINE, run_id)
    except PipelineError as exc:
        running = pipeline_holder() or "another pipeline job"
        raise PipelineError("JOBLOCKED", f"job {job} cannot start: {running} is running ({exc.detail.get('holder')}); scrape, "
                            "fetch, QA and VACUUM never overlap in one home. Wait for it to finish",
                            {**exc.detail, "job": job, "running": running}) from None


@contextmanager
def graceful_stop(stop: threading.Event) -> Iterator[None]:
    """First SIGINT/SIGTERM sets ``stop`` (the job finishes its current batch); a second SIGINT interrupts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _handler(signum: int, _frame: Any) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()
        log.warning("stop requested; finishing the current batch", detail={"signal": signal.Signals(signum).name})

    previous = {sig: signal.signal(sig, _handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class JobRunner:
    """Runs job functions with the bookkeeping every job shares (seed §8: status row, exit-code gating)."""

    def __init__(self, wiring: Wiring, *, trigger: str = "cli") -> None:
        if wiring.db is None:
            raise ValueError("JobRunner needs the wiring of an open database (EngineService.wiring)")
        self.wiring = wiring
        self.settings, self.db, self.clock = wiring.settings, wiring.db, wiring.clock
        self.trigger = trigger

    def run(self, job: str, fn: JobFunction, *, run_id: str | None = None, stop: threading.Event | None = None,
            detail: dict[str, Any] | None = None) -> int:
        """Run ``fn`` as ``job``; returns the exit code, which cron_status also records. ``detail`` is in the run's
        row from its start (the scheduler's ``slot``) and kept at its end."""
        run_id = run_id or new_run_id()
        ctx = JobContext(job=job, run_id=run_id, wiring=self.wiring, stop=stop or threading.Event(), detail=dict(detail or {}))
        ctx.reporter = ProgressReporter(job, run_id, ctx.stop, self.clock)
        with bound_run(run_id, job):
            reap_killed_runs(self.db)
            CronStatus.create(job=job, run_id=run_id, started_at=self.clock(), trigger=self.trigger,
                              pid=os.getpid(), host=HOST, detail=dict(ctx.detail))
            ctx.reporter.open()
            exit_code, error_code = 1, None
            try:
                acquire_lock(job, run_id)
                try:
                    if job in PIPELINE_JOBS:
                        acquire_pipeline(job, run_id)
                    log.info("job started", detail={"trigger": self.trigger})
                    with graceful_stop(ctx.stop):
                        result = fn(ctx)
                    exit_code = int(result or 0)
                    if ctx.stopping and exit_code == 0:
                        exit_code, error_code = 130, "INTERRUPTED"
                finally:
                    release_lock(PIPELINE, run_id)
                    release_lock(job, run_id)
            except KeyboardInterrupt:
                exit_code, error_code = 130, "INTERRUPTED"
                log.warning("job interrupted", error_code=error_code)
            except BaseException as exc:  # noqa: BLE001 - every failure must be recorded
                err = wrap(exc)
                exit_code, error_code = err.exit_code, err.error_code
                ctx.detail.setdefault("error", err.to_dict())
                log.error(err.msg, error_code=err.error_code, detail=err.detail,
                          stack=stack_excerpt(exc) if err.error_code == "INTERNAL" else None)
                if not isinstance(exc, Exception):
                    raise
            finally:
                ctx.reporter.close()
                self._finish(run_id, exit_code, error_code, ctx.detail)
                log.info("job finished", detail={"exit_code": exit_code})
        return exit_code

    def _finish(self, run_id: str, exit_code: int, error_code: str | None, detail: dict[str, Any]) -> None:
        """Record the run's end in cron_status. On a full database (DBFULL) the job's detail is left out, to fit;
        if even that cannot be written, it is logged and the run's own exit code stands."""
        for attempt in (detail, {k: v for k, v in detail.items() if k in ("error", "slot")}):
            try:
                CronStatus.update(finished_at=self.clock(), exit_code=exit_code, error_code=error_code,
                                  detail=attempt).where(CronStatus.run_id == run_id).execute()
                return
            except Exception as exc:
                if wrap(exc).error_code != "DBFULL":
                    raise
                again = ", retrying without its detail" if attempt is detail else ""
                log.error(f"the database is full: the run's end could not be recorded{again}", error_code="DBFULL",
                          detail={"exit_code": exit_code, "run_error_code": error_code})
