"""SchedulerHost: the home's one scheduler process (the daemon, or the TUI's --with-scheduler thread): holds the
scheduler_beat row (lock + heartbeat), runs PipelineScheduler's catch-up and loop, and stops it cleanly."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

from peewee import IntegrityError

from praf_engine import __version__
from praf_engine.config import Settings
from praf_engine.daemon.notify import Notifier
from praf_engine.db.models import CronStatus, JobLock, SchedulerBeat
from praf_engine.errors import PipelineError, wrap
from praf_engine.jobs.runner import HOST, pid_alive, reap_killed_runs
from praf_engine.logs import get_logger
from praf_engine.scheduler.core import PipelineScheduler
from praf_engine.wiring import Wiring

log = get_logger(__name__)
BEAT_ROW = "scheduler"  # scheduler_beat's one row: one scheduler per home


def storage_code(exc: BaseException) -> str:
    """The catalogue code of a failed database write: DBFULL for a full disk/quota, else DBERROR."""
    code = wrap(exc).error_code
    return code if code not in ("INTERNAL",) else "DBERROR"


def dead_reason(beat: SchedulerBeat, now: dt.datetime, stale_after_s: float) -> str | None:
    """Why the scheduler of ``beat`` may be taken over (stopped, process gone, heartbeat stale), or None if it lives."""
    if beat.stopped_at is not None:
        return f"it stopped cleanly at {beat.stopped_at:%Y-%m-%d %H:%M:%S} UTC"
    if beat.host == HOST and not pid_alive(beat.pid):
        return f"its process {beat.pid} on this host is gone"
    age = (now - beat.beat_at).total_seconds()
    if age > stale_after_s:
        return f"its last heartbeat is {age:.0f} s old (daemon.stale_after_s {stale_after_s:g})"
    return None


class SchedulerHost:
    """``run(stop)`` blocks until ``stop`` is set (or the lock is lost): lock, catch-up, loop, clean stop."""

    def __init__(self, wiring: Wiring, mode: Literal["daemon", "tui"] = "daemon", *, scheduler: PipelineScheduler | None = None,
                 notifier: Notifier | None = None, reloader: Callable[[], Settings] | None = None,
                 on_ready: Callable[[SchedulerHost], None] | None = None) -> None:
        if wiring.db is None:
            raise ValueError("SchedulerHost needs the wiring of an open database")
        self.wiring, self.mode = wiring, mode
        self.scheduler = scheduler or PipelineScheduler(wiring, trigger=mode)
        self.notifier = notifier or Notifier(None)
        self.reloader = reloader  # SIGHUP: the settings as they are now on disk (CONFIGBAD keeps the old ones)
        self.on_ready = on_ready  # called once, when this host holds the home and scheduling has started
        self.ready = threading.Event()  # set when scheduling has started (the lock is held, catch-up queued)
        self.reload_requested = threading.Event()
        self.lost = False  # another scheduler took the row over (this one had looked dead): stop scheduling
        self.beats = 0
        self.beat_errors = 0
        self.changed = threading.Condition()  # notified after every beat attempt and reload (tests wait on it)
        self.started_at: dt.datetime | None = None

    @property
    def settings(self) -> Settings:
        return self.scheduler.wiring.settings

    def clock(self) -> dt.datetime:
        return self.scheduler.wiring.clock()

    # --- the lock ------------------------------------------------------------------------------------------------
    def _row(self, now: dt.datetime) -> dict[str, Any]:
        return {"pid": os.getpid(), "host": HOST, "version": __version__, "mode": self.mode, "started_at": now,
                "beat_at": now, "stopped_at": None, "next_runs": self._next_runs()}

    def _next_runs(self) -> dict[str, str]:
        return {job: at.isoformat(timespec="seconds") for job, at in sorted(self.scheduler.next_runs().items())}

    def acquire(self) -> None:
        """Take the home's scheduler row, or raise DAEMONRUNNING naming the live holder. A stopped one, a dead process
        of this host, or a heartbeat older than ``daemon.stale_after_s`` is taken over (one conditional UPDATE: of
        two newcomers, one wins)."""
        stale_after = self.settings.daemon.stale_after_s
        for _attempt in range(3):
            now = self.clock()
            mine = self._row(now)
            try:
                with self.wiring.db.atomic():  # type: ignore[union-attr]
                    SchedulerBeat.insert(name=BEAT_ROW, **mine).execute()
                break
            except IntegrityError:
                pass
            current = SchedulerBeat.get_or_none(SchedulerBeat.name == BEAT_ROW)
            if current is None:
                continue
            why = dead_reason(current, now, stale_after)
            if why is None:
                raise PipelineError("DAEMONRUNNING", f"another scheduler holds this home: {current.mode} pid {current.pid} on "
                                    f"{current.host}, running since {current.started_at:%Y-%m-%d %H:%M} UTC, last beat "
                                    f"{max(0, (now - current.beat_at).total_seconds()):.0f} s ago; one scheduler per home",
                                    {"pid": current.pid, "host": current.host, "mode": current.mode,
                                     "since": current.started_at.isoformat(timespec="seconds")})
            took = (SchedulerBeat.update(**mine)
                    .where(SchedulerBeat.name == BEAT_ROW, SchedulerBeat.pid == current.pid, SchedulerBeat.host == current.host,
                           SchedulerBeat.beat_at == current.beat_at).execute())
            if took == 1:
                if current.stopped_at is None:
                    log.warning(f"took over the scheduler lock: {why}", detail={"previous": f"{current.mode} pid {current.pid}@{current.host}"})
                break
        else:
            raise PipelineError("DAEMONRUNNING", "could not take the scheduler lock: another scheduler is starting at the same time", {})
        self.started_at = now
        log.info(f"scheduler started ({self.mode}) pid {os.getpid()} on {HOST}", detail={"next_runs": mine["next_runs"]})

    def beat(self) -> bool:
        """Write the heartbeat (beat_at, next_runs). A database error (full disk: DBFULL, else DBERROR) is logged and
        retried at the next beat; a row that is no longer ours sets ``lost``. True when the beat was written."""
        ok = False
        try:
            n = (SchedulerBeat.update(beat_at=self.clock(), next_runs=self._next_runs(), version=__version__)
                 .where(SchedulerBeat.name == BEAT_ROW, SchedulerBeat.pid == os.getpid(), SchedulerBeat.host == HOST).execute())
            if n == 0:
                self.lost = True
                holder = SchedulerBeat.get_or_none(SchedulerBeat.name == BEAT_ROW)
                log.error("the scheduler lock was taken over by another scheduler (this one looked dead); stopping scheduling",
                          error_code="DAEMONRUNNING", detail={"holder": f"pid {holder.pid}@{holder.host}" if holder else None})
            ok = n == 1
        except Exception as exc:  # noqa: BLE001 - a heartbeat failure must never end the scheduler
            code = storage_code(exc)
            self.beat_errors += 1
            log.error(f"heartbeat not written: {type(exc).__name__}: {exc}; retried in {self.settings.daemon.beat_s:g} s",
                      error_code=code, detail={"failures": self.beat_errors})
            self._reset_connection()
        with self.changed:
            self.beats += ok
            self.changed.notify_all()
        return ok

    def _reset_connection(self) -> None:
        """After a database error: drop this thread's connection, so the next query connects afresh."""
        db = self.wiring.db
        with contextlib.suppress(Exception):
            if db is not None and not db.is_closed():
                db.close()

    def release(self) -> None:
        """Mark the row stopped (a clean stop: no dead-scheduler alert); another scheduler may start at once."""
        try:
            SchedulerBeat.update(stopped_at=self.clock(), beat_at=self.clock()).where(
                SchedulerBeat.name == BEAT_ROW, SchedulerBeat.pid == os.getpid(), SchedulerBeat.host == HOST).execute()
        except Exception as exc:  # noqa: BLE001 - a stale row is taken over later; the stop goes on
            log.error(f"could not mark the scheduler stopped: {exc}", error_code=storage_code(exc))

    # --- the loop -------------------------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Take the lock (DAEMONRUNNING if held), catch up, then loop run_pending / wait until ``stop``; on stop the
        running job finishes its batch within ``daemon.stop_timeout_s``, else its run is closed INTERRUPTED."""
        self.acquire()
        try:
            self._loop(stop)
        finally:
            self.notifier.send("STOPPING=1", "STATUS=stopping: the running job finishes its batch")
            self._stop_scheduler()
            self.release()
            log.info("scheduler stopped", detail={"mode": self.mode})

    def _loop(self, stop: threading.Event) -> None:
        caught_up = False
        next_beat = 0.0
        while not stop.is_set() and not self.lost:
            if self.reload_requested.is_set():
                self.reload_requested.clear()
                self.reload()
            if time.monotonic() >= next_beat:
                self.beat()
                self.notifier.send("WATCHDOG=1")
                next_beat = time.monotonic() + self._beat_interval()
            try:
                if not caught_up:
                    reap_killed_runs(self.wiring.db)  # a killed scheduler's runs are closed JOBKILLED before catch-up
                    self.scheduler.catch_up()
                    caught_up = True
                    self.notifier.send("READY=1", f"STATUS=scheduling ({self.mode}), pid {os.getpid()}")
                    self.ready.set()
                    if self.on_ready is not None:
                        self.on_ready(self)
                self.scheduler.run_pending()
            except Exception as exc:  # noqa: BLE001 - a database hiccup: logged with its code, retried next round
                log.error(f"scheduler round failed: {type(exc).__name__}: {exc}; retried", error_code=storage_code(exc))
                self._reset_connection()
            wait = max(0.05, self.scheduler.idle_seconds())  # ≤ 1 s: requests start within 2 s
            stop.wait(max(0.0, min(wait, next_beat - time.monotonic())))

    def _beat_interval(self) -> float:
        beat = self.settings.daemon.beat_s
        watchdog = self.notifier.watchdog_s
        return min(beat, watchdog / 2) if watchdog else beat

    def _stop_scheduler(self) -> None:
        sched = self.scheduler
        sched.stop.set()
        with contextlib.suppress(Exception):
            sched.run_pending()  # with stop set: sets the running job's stop flag, starts nothing
        timeout = self.settings.daemon.stop_timeout_s
        running = sched.running
        if sched.wait_idle(timeout):
            return
        log.error(f"job {running} did not finish its batch within daemon.stop_timeout_s ({timeout:g} s); its run is "
                  "closed as interrupted", error_code="INTERRUPTED", detail={"job": running})
        self.close_open_runs(timeout)

    def close_open_runs(self, timeout: float) -> int:
        """Close this process's unfinished cron_status rows (INTERRUPTED, exit 130) and free their locks."""
        closed = 0
        try:
            for row in CronStatus.select().where(CronStatus.finished_at.is_null(), CronStatus.pid == os.getpid(),
                                                 CronStatus.host == HOST):
                closed += CronStatus.update(finished_at=self.clock(), exit_code=130, error_code="INTERRUPTED",
                                            detail={**(row.detail or {}), "stop_timeout_s": timeout}).where(
                    CronStatus.id == row.id, CronStatus.finished_at.is_null()).execute()
                JobLock.delete().where(JobLock.run_id == row.run_id).execute()
        except Exception as exc:  # noqa: BLE001 - the next start reaps what is left (JOBKILLED)
            log.error(f"could not close the interrupted runs: {exc}", error_code=storage_code(exc))
        return closed

    # --- SIGHUP ---------------------------------------------------------------------------------------------------
    def reload(self) -> dict[str, tuple[Any, Any]]:
        """Reload the settings through ``reloader``: the scheduler re-plans and what changed is logged; a bad file
        (CONFIGBAD) keeps the settings in force."""
        if self.reloader is None:
            return {}
        self.notifier.send("RELOADING=1")
        try:
            settings = self.reloader()
            changed = self.scheduler.reload(settings)
        except PipelineError as exc:
            log.error(f"settings not reloaded, the previous ones stay in force: {exc.msg}", error_code=exc.error_code,
                      detail=exc.detail)
            changed = {}
            self.notifier.send("READY=1", f"STATUS=settings NOT reloaded ({exc.error_code}); the previous ones stay in force")
        else:
            self.wiring = self.scheduler.wiring
            log.info(f"settings reloaded: {len(changed)} changed" + (f" ({', '.join(changed)})" if changed else ""),
                     detail={"changed": {k: {"old": old, "new": new} for k, (old, new) in changed.items()},
                             "next_runs": self._next_runs()})
            self.notifier.send("READY=1", f"STATUS=settings reloaded: {len(changed)} changed")
        with self.changed:
            self.changed.notify_all()
        return changed
