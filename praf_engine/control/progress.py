"""Progress of running jobs in the database (job_progress), whichever process runs them: a throttled reporter
(≤ 1 write a second) a JobRunner opens for each run and jobs reach as ``ctx.progress(...)``; stop requests
(``stop_requested``, set by `praf-engine stop` or the TUI) that the reporter turns into the job's stop flag."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from praf_engine.db.models import CronStatus, JobProgress
from praf_engine.errors import PipelineError, wrap
from praf_engine.logs import get_logger

log = get_logger(__name__)
INTERVAL = 1.0  # seconds between two database round trips of one run's reporter (≤ 1 write a second)


class ProgressReporter:
    """One run's job_progress row. ``report`` keeps the latest figures and writes them at most once per
    ``interval`` seconds; each write (and ``stop_requested``, throttled the same way) reads the row's stop flag and
    sets ``stop``: the job finishes its batch and ends INTERRUPTED. A database error is logged once, never raised:
    progress is for watching, the job's own writes decide its outcome."""

    def __init__(self, job: str, run_id: str, stop: threading.Event, clock: Callable[[], Any], *, interval: float | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.job, self.run_id, self.stop, self.clock = job, run_id, stop, clock
        self.interval, self.monotonic = INTERVAL if interval is None else interval, monotonic
        self.state: dict[str, Any] = {"stage": "", "done": 0, "total": None, "rows": 0, "errors": 0}
        self.writes = 0  # rows written (tests count them)
        self._last = float("-inf")  # monotonic time of the last database round trip
        self._dirty = False
        self._lock = threading.Lock()
        self._owner: int | None = None  # the thread that opened it: the only one that talks to the database
        self._failed = False

    def open(self) -> None:
        """Create the run's row (the JobRunner, when the run starts)."""
        self._owner = threading.get_ident()
        self._guard(lambda: JobProgress.insert(run_id=self.run_id, job=self.job, updated_at=self.clock())
                    .on_conflict_ignore().execute())

    def close(self) -> None:
        """Remove the run's row (the JobRunner, when the run ends: cron_status then has the outcome)."""
        self._guard(lambda: JobProgress.delete().where(JobProgress.run_id == self.run_id).execute())

    def report(self, *, stage: str | None = None, done: int | None = None, total: int | None = None,
               rows: int | None = None, errors: int | None = None) -> None:
        """Record the latest figures (only those given change); written if a second has passed since the last write."""
        given = {"stage": stage, "done": done, "total": total, "rows": rows, "errors": errors}
        with self._lock:
            for key, value in given.items():
                if value is not None:
                    self.state[key] = str(value)[:64] if key == "stage" else int(value)
            self._dirty = True
        self._round_trip()

    def stop_requested(self) -> bool:
        """Whether a stop was asked for (the database is asked at most once a second, from the run's thread)."""
        if not self.stop.is_set():
            self._round_trip()
        return self.stop.is_set()

    def _round_trip(self) -> None:
        if threading.get_ident() != self._owner:
            return
        now = self.monotonic()
        if now - self._last < self.interval:
            return
        self._last = now
        with self._lock:
            state, dirty, self._dirty = dict(self.state), self._dirty, False
        asked = self._guard(lambda: self._write(state) if dirty else self._read())
        if asked and not self.stop.is_set():
            log.warning("stop requested by the operator; finishing the current batch", detail={"job": self.job, "run_id": self.run_id})
            self.stop.set()

    def _write(self, state: dict[str, Any]) -> bool:
        JobProgress.update(updated_at=self.clock(), **state).where(JobProgress.run_id == self.run_id).execute()
        self.writes += 1
        return self._read()

    def _read(self) -> bool:
        row = JobProgress.select(JobProgress.stop_requested).where(JobProgress.run_id == self.run_id).first()
        return bool(row is not None and row.stop_requested)

    def _guard(self, action: Callable[[], Any]) -> Any:
        try:
            return action()
        except Exception as exc:  # noqa: BLE001 - progress never fails a job
            if not self._failed:
                self._failed = True
                err = wrap(exc)
                log.warning(f"job progress could not be written: {err.msg}", error_code=err.error_code,
                            detail={"job": self.job, "run_id": self.run_id})
            return None


def request_stop(run_id: str | None = None, job: str | None = None) -> tuple[str, str]:
    """Ask a running run (by ``run_id``, or the running run of ``job``) to stop after its current batch: sets its
    ``stop_requested``. Returns (job, run_id). A run that is not running is JOBNOTRUNNING."""
    query = CronStatus.select().where(CronStatus.finished_at.is_null())
    query = query.where(CronStatus.run_id == run_id) if run_id else query.where(CronStatus.job == job)
    run = query.order_by(CronStatus.started_at.desc(), CronStatus.id.desc()).first()
    if run is None:
        what = f"run {run_id}" if run_id else f"job {job}"
        raise PipelineError("JOBNOTRUNNING", f"{what} is not running: nothing to stop (`praf-engine status` lists the runs)",
                            {"run_id": run_id, "job": job})
    n = JobProgress.update(stop_requested=True).where(JobProgress.run_id == run.run_id).execute()
    if n == 0:  # a run that has not written its row yet (or of an older PRAF): the row carries the request
        JobProgress.insert(run_id=run.run_id, job=run.job, stop_requested=True).on_conflict_ignore().execute()
        JobProgress.update(stop_requested=True).where(JobProgress.run_id == run.run_id).execute()
    log.warning("stop requested", detail={"job": run.job, "run_id": run.run_id})
    return run.job, run.run_id
