"""The pipeline scheduler: starts the table's jobs at their times on a ``schedule.Scheduler`` of its own, catches up
missed ones, runs operators' requests, one job at a time in one job thread. Its clock is the wiring's (fake in tests)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import schedule
from pydantic import BaseModel

from praf_engine.config import Settings
from praf_engine.control.requests import claim_pending
from praf_engine.db.models import CronStatus, JobControl, JobRequest
from praf_engine.errors import CATALOGUE, database_full, wrap
from praf_engine.jobs.registry import JOBS, JobSpec
from praf_engine.jobs.runner import HOST, PIPELINE_JOBS, JobRunner, pipeline_holder, reap_killed_runs
from praf_engine.logs import get_logger, new_run_id
from praf_engine.scheduler.plan import ORDER, Plan, Slot, build_plan
from praf_engine.wiring import Wiring

log = get_logger(__name__)
ON_TIME = dt.timedelta(seconds=60)  # a slot seen this late is on time, whatever its catch-up window (even 0 h)


@dataclass
class Work:
    """A run waiting for the job thread: a scheduled ``slot`` (on time or caught up) or an operator's ``request``."""

    job: str
    trigger: str
    slot: Slot | None = None
    request: Any = None  # a claimed JobRequest row
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def detail(self) -> dict[str, Any]:
        if self.slot is not None:
            return {"slot": self.slot.key}
        return {"request": self.request.id} if self.request is not None else {}


class SlotJob(schedule.Job):
    """A ``schedule`` job whose due time is the plan's next slot on the scheduler's clock: the library keeps the jobs,
    orders and runs them (``Scheduler.run_pending``); its wall-clock ``now`` is replaced by the wiring's clock, and
    what it cannot express (day of month, the weekday of a weekly job in another zone) comes from the plan."""

    def __init__(self, owner: PipelineScheduler, name: str) -> None:
        super().__init__(1, owner._sched)
        self.owner, self.name, self.unit, self.slot = owner, name, "days", None
        self.tag(name)

    @property
    def should_run(self) -> bool:
        return self.slot is not None and self.owner.clock() >= self.slot.at

    def _schedule_next_run(self) -> None:
        self.slot = self.owner.plan.next_slot(self.name, self.owner.clock())
        self.next_run = self.slot.at  # naive UTC, as everything PipelineScheduler answers


class PipelineScheduler:
    """One per home (the daemon's ``SchedulerHost`` holds the scheduler_beat row). ``run_pending`` never blocks."""

    def __init__(self, wiring: Wiring, *, trigger: str = "daemon", jobs: Mapping[str, JobSpec] | None = None) -> None:
        if wiring.db is None:
            raise ValueError("PipelineScheduler needs the wiring of an open database")
        self.wiring, self.trigger = wiring, trigger
        self.jobs: dict[str, JobSpec] = dict(JOBS if jobs is None else jobs)
        self.by = f"{trigger}:{os.getpid()}@{HOST}"
        self.stop = threading.Event()
        self._lock = threading.RLock()
        self._queue: list[Work] = []
        self._thread: threading.Thread | None = None
        self._current: Work | None = None
        self._job_stop = threading.Event()
        self._unknown_logged: set[str] = set()
        self._sched = schedule.Scheduler()  # its own, never the module's default one
        self.plan: Plan = build_plan(wiring.settings)
        self._install()

    @property
    def clock(self) -> Any:
        return self.wiring.clock

    def _install(self) -> None:
        self._sched.clear()
        for planned in self.plan.jobs:
            job = SlotJob(self, planned.name)
            job.do(self._fire, job)

    # --- what is due ----------------------------------------------------------------------------------------------
    def _fire(self, job: SlotJob) -> None:
        """``schedule`` found ``job`` due: queue its latest due slot if inside its catch-up window; the slots it jumped
        over (a host that did not look for a while) are logged SLOTMISSED, not run late."""
        assert job.slot is not None
        now = self.clock()
        latest = self.plan.latest_slot(job.name, now) or job.slot
        late = now - latest.at > self.plan.job(job.name).window + ON_TIME
        jumped = len(self.plan.slots(job.slot.at - dt.timedelta(seconds=1), latest.at, (job.name,))) - (0 if late else 1)
        if jumped:
            log.warning(f"{jumped} scheduled run(s) of {job.name} passed while the scheduler did not look; not run late",
                        error_code="SLOTMISSED", detail={"job": job.name, "from": job.slot.key, "latest": latest.key, "skipped": jumped})
        if not late:
            self._enqueue(Work(job.name, self.trigger, slot=latest))

    def _registered(self, name: str) -> bool:
        if name in self.jobs:
            return True
        if name not in self._unknown_logged:
            self._unknown_logged.add(name)
            log.warning(f"the table schedules job {name}, which this version does not have; its runs are skipped",
                        error_code="JOBUNKNOWN", detail={"job": name})
        return False

    def _enqueue(self, work: Work) -> None:
        with self._lock:
            assert work.slot is not None
            if not self._registered(work.job) or any(w.slot == work.slot for w in self._queue):
                return
            if self._current is not None and self._current.slot == work.slot:
                return
            self._queue.append(work)
            self._queue.sort(key=queue_order)

    def catch_up(self) -> list[str]:
        """Queue each job's latest slot that passed without a run and is still inside its window, once, in dependency
        order; a missed slot past its window is logged (SLOTMISSED). Returns the queued job names."""
        reap_killed_runs(self.wiring.db)  # runs of a killed scheduler end JOBKILLED (their slots are not run again)
        now = self.clock()
        queued: list[Slot] = []
        for planned in self.plan.jobs:
            slot = self.plan.latest_slot(planned.name, now)
            if slot is None or not self._registered(planned.name) or has_run(slot):
                continue
            if now - slot.at > planned.window + ON_TIME:
                log.warning(f"missed run of {planned.name} at {slot.key} UTC is past its catch-up window; not run late",
                            error_code="SLOTMISSED", detail={"job": planned.name, "slot": slot.key,
                                                             "window_h": planned.window.total_seconds() / 3600})
                continue
            queued.append(slot)
        with self._lock:
            for slot in queued:
                if not any(w.slot == slot for w in self._queue):
                    self._queue.append(Work(slot.job, "catch-up", slot=slot))
            self._queue.sort(key=queue_order)
        queued.sort(key=lambda s: (ORDER.index(s.job), s.at))
        if queued:
            log.info("catching up missed runs", detail={"slots": [f"{s.job}@{s.key}" for s in queued]})
        return [s.job for s in queued]

    # --- starting work --------------------------------------------------------------------------------------------
    def run_pending(self) -> None:
        """Queue what fell due, then start the next queued run if the job thread is free; returns at once. A database
        error is logged with its code (DBERROR, DBFULL) and retried at the next call: the host's loop goes on."""
        try:
            self._run_pending()
        except Exception as exc:
            err = wrap(exc, "DBERROR") if _is_db_error(exc) else wrap(exc)
            log.error(f"the scheduler could not look at its queue: {err.msg}", error_code=err.error_code,
                      detail={"queued": self.queued})

    def _run_pending(self) -> None:
        with self._lock:
            if self.stop.is_set():
                self._stop_running()
                self._release_requests()
                return
            self._sched.run_pending()
            if self._busy():
                self._expire_qa_waits()
                return
            while self._queue:
                if not self._start_or_skip(self._queue[0]):
                    return
                if self._busy():
                    return
            for request in claim_pending(self.by):
                self._queue.append(Work(request.job, "request", request=request, options=dict(request.options or {})))
            if self._queue:
                self._start_or_skip(self._queue[0])

    def _busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _start_or_skip(self, work: Work) -> bool:
        """Start ``work``, or record why not and drop it; False when it must wait (queue head keeps its place)."""
        now = self.clock()
        if work.slot is not None:
            if has_run(work.slot):
                self._queue.remove(work)
                return True
            if paused(work.job):
                self._skip(work, "JOBPAUSED", f"{work.job} is paused: its run of {work.slot.key} UTC was not started")
                self._queue.remove(work)  # after its row is written: a database error keeps it queued
                return True
        if work.job in PIPELINE_JOBS:
            running = pipeline_holder()
            if running is not None:
                if work.job == "qa" and work.slot is not None and running == "fetch" and now >= self.plan.qa_deadline(work.slot):
                    self._skip_qa_wait(work)
                    self._queue.remove(work)
                    return True
                return False
        if work.job not in self.jobs:
            self._finish_request(work, None, f"JOBUNKNOWN: no job named {work.job}")
            self._queue.remove(work)
            log.error(f"requested job {work.job} does not exist", error_code="JOBUNKNOWN", detail={"job": work.job})
            return True
        self._start(work)
        self._queue.remove(work)
        return True

    def _expire_qa_waits(self) -> None:
        """QA queued behind our own running fetch: past its deadline it is skipped, not run late beside nothing."""
        if self._current is None or self._current.job != "fetch":
            return
        now = self.clock()
        for work in [w for w in self._queue if w.job == "qa" and w.slot is not None]:
            if now >= self.plan.qa_deadline(work.slot):
                self._skip_qa_wait(work)
                self._queue.remove(work)

    def _skip_qa_wait(self, work: Work) -> None:
        assert work.slot is not None
        deadline = self.wiring.settings.schedule.qa_wait_deadline
        self._skip(work, "QAWAITTIMEOUT", f"QA of {work.slot.key} UTC skipped: the fetch was still running at the deadline "
                   f"(schedule.qa_wait_deadline {deadline})")

    def _skip(self, work: Work, code: str, msg: str) -> None:
        now = self.clock()
        CronStatus.create(job=work.job, run_id=new_run_id(), started_at=now, finished_at=now, exit_code=CATALOGUE[code].exit_code,
                          error_code=code, trigger=work.trigger, pid=os.getpid(), host=HOST,
                          detail={**work.detail, "skipped": True, "reason": msg})
        log.warning(msg, error_code=code, detail={"job": work.job, **work.detail})

    def _start(self, work: Work) -> None:
        run_id = new_run_id()
        if work.request is not None:
            JobRequest.update(run_id=run_id, started_at=self.clock(), claimed_by=self.by, status="started").where(
                JobRequest.id == work.request.id).execute()
        self._current, self._job_stop = work, threading.Event()
        self._thread = threading.Thread(target=self._work, args=(work, run_id, self._job_stop), name=f"praf-job-{work.job}", daemon=True)
        self._thread.start()

    def _work(self, work: Work, run_id: str, stop: threading.Event) -> None:
        code: int | None = None
        error: str | None = None
        try:
            fn = self.jobs[work.job].load()
            if work.options:
                fn = functools.partial(fn, **work.options)
            code = JobRunner(self.wiring, trigger=work.trigger).run(work.job, fn, run_id=run_id, stop=stop, detail=work.detail)
        except BaseException as exc:  # noqa: BLE001 - the job thread must record, never die silently
            err = wrap(exc)
            error = f"{err.error_code}: {err.msg}"
            log.error(f"the scheduler could not run {work.job}: {err.msg}", error_code=err.error_code, detail={"job": work.job, **work.detail})
        finally:
            try:
                self._finish_request(work, code, error)
            finally:
                with self._lock:
                    self._current = None
                db = self.wiring.db
                if db is not None and not db.is_closed():
                    db.close()  # this thread's connection

    def _finish_request(self, work: Work, code: int | None, error: str | None) -> None:
        if work.request is None:
            return
        status = "done" if code == 0 else "failed"
        JobRequest.update(status=status, finished_at=self.clock(), error=error or (None if code == 0 else f"exit {code}")).where(
            JobRequest.id == work.request.id).execute()

    def _stop_running(self) -> None:
        if self._busy():
            self._job_stop.set()

    def _release_requests(self) -> None:
        """Requests claimed but not started go back to pending (the next scheduler, or a detached process, runs them)."""
        with self._lock:
            waiting = [w for w in self._queue if w.request is not None]
            for work in waiting:
                JobRequest.update(status="pending", claimed_by=None).where(
                    JobRequest.id == work.request.id, JobRequest.status == "started", JobRequest.run_id.is_null()).execute()
                self._queue.remove(work)
        if waiting:
            log.info("stopping: requests not started are pending again", detail={"requests": [w.request.id for w in waiting]})

    # --- the host's view ------------------------------------------------------------------------------------------
    @property
    def running(self) -> str | None:
        current = self._current
        return current.job if current is not None and self._busy() else None

    @property
    def queued(self) -> list[str]:
        with self._lock:
            return [w.job for w in self._queue]

    def next_runs(self) -> dict[str, dt.datetime]:
        """Each scheduled job's next run (naive UTC)."""
        return {job.name: job.next_run for job in self._sched.get_jobs() if isinstance(job, SlotJob) and job.name in self.jobs}

    def idle_seconds(self) -> float:
        """Seconds until the next due thing, capped at 1.0 (requests start within 2 s)."""
        with self._lock:  # what is queued waits for the job thread or another process's pipeline job: look again in 1 s
            upcoming = self._sched.next_run
        if upcoming is None:
            return 1.0
        return max(0.0, min(1.0, (upcoming - self.clock()).total_seconds()))

    def reload(self, settings: Settings) -> dict[str, tuple[Any, Any]]:
        """Re-plan from ``settings`` (CONFIGBAD leaves the old plan); returns the changed settings {key: (old, new)}."""
        plan = build_plan(settings)
        changed = settings_diff(self.wiring.settings, settings)
        with self._lock:
            self.wiring = dataclasses.replace(self.wiring, settings=settings)
            self.plan = plan
            self._install()
        return changed

    def wait_idle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for the running job to end (when ``stop`` is set, it is asked to finish its batch)."""
        if self.stop.is_set():
            self._stop_running()
            self._release_requests()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self._busy()


def _is_db_error(exc: BaseException) -> bool:
    import peewee

    return isinstance(exc, peewee.PeeweeException) and not database_full(exc)


def queue_order(work: Work) -> tuple[int, int, dt.datetime]:
    """Slots in dependency order (scrape, fetch, QA, alerts, backup, VACUUM, retention; a job's slots by time), then
    requests as they came (a stable sort keeps their order)."""
    if work.slot is None:
        return 1, 0, dt.datetime.min
    return 0, ORDER.index(work.job), work.slot.at


def has_run(slot: Slot) -> bool:
    """Whether ``slot`` already has a cron_status row (ran, failed, was killed or skipped): a slot runs at most once."""
    rows = CronStatus.select(CronStatus.detail).where(CronStatus.job == slot.job,
                                                      CronStatus.started_at >= slot.at - dt.timedelta(minutes=1))
    return any((r.detail or {}).get("slot") == slot.key for r in rows)


def paused(job: str) -> bool:
    row = JobControl.get_or_none(JobControl.job == job)
    return bool(row is not None and row.paused)


def settings_diff(old: Settings, new: Settings) -> dict[str, tuple[Any, Any]]:
    """{"section.key": (old, new)} of every setting that differs (secrets shown masked)."""

    def flat(s: Settings) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in s.model_dump(mode="json").items():
            if isinstance(value, dict) and isinstance(getattr(s, key, None), BaseModel):
                out.update({f"{key}.{k}": v for k, v in value.items()})
            else:
                out[key] = value
        return out

    a, b = flat(old), flat(new)
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}
