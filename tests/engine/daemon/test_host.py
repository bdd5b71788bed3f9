"""SchedulerHost in this process: one scheduler per home (refused, or a dead one taken over), the heartbeat through a
database that refuses writes, a clean stop that closes every run, SIGHUP's reload, a lock taken over under it."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from praf_engine.config import DaemonSettings
from praf_engine.daemon.host import SchedulerHost
from praf_engine.db.database import is_postgres
from praf_engine.db.models import CronStatus, JobLock, JobRequest, SchedulerBeat
from praf_engine.errors import PipelineError
from praf_engine.jobs.registry import JobSpec
from praf_engine.jobs.runner import HOST, JobContext
from praf_engine.scheduler.core import PipelineScheduler
from tests.engine.daemon.helpers import log_lines


class Job:
    """A light `retention` job (not a pipeline job): ``started`` when it runs; it waits for ``release`` and, when
    ``cooperative``, for its stop flag too (it 'finishes its batch' when asked to stop)."""

    def __init__(self, cooperative: bool = True) -> None:
        self.started, self.release, self.cooperative = threading.Event(), threading.Event(), cooperative

    def spec(self) -> JobSpec:
        def fn(ctx: JobContext) -> int:
            self.started.set()
            while not self.release.wait(0.01):  # bounded: a batch at a time
                if self.cooperative and ctx.stopping:
                    return 0
            return 0

        return JobSpec("retention", "test job", lambda: fn)


@pytest.fixture
def make_host(service: Any) -> Iterator[Any]:
    made: list[tuple[SchedulerHost, threading.Event, threading.Thread | None]] = []

    def build(job: Job | None = None, start: bool = False, **daemon: Any) -> tuple[SchedulerHost, threading.Event, Any]:
        settings = service.wiring.settings
        settings = settings.model_copy(update={"daemon": DaemonSettings(**{"beat_s": 0.05, "stale_after_s": 30.0, **daemon})})
        wiring = type(service.wiring)(**{**service.wiring.__dict__, "settings": settings})
        jobs = {"retention": job.spec()} if job else {}
        host = SchedulerHost(wiring, "daemon", scheduler=PipelineScheduler(wiring, jobs=jobs))
        stop = threading.Event()
        thread = None
        if start:
            thread = threading.Thread(target=host.run, args=(stop,), daemon=True)
            thread.start()
            assert host.ready.wait(30)
        made.append((host, stop, thread))
        return host, stop, thread

    yield build
    for host, stop, thread in made:
        stop.set()
        if thread is not None:
            thread.join(60)
        host.scheduler.stop.set()
        host.scheduler.wait_idle(30)


def _wait(host: SchedulerHost, predicate: Any, timeout: float = 30.0) -> None:
    with host.changed:
        assert host.changed.wait_for(predicate, timeout), "condition not reached"


def test_a_second_scheduler_is_refused_naming_the_first(make_host: Any) -> None:
    first, _, _ = make_host()
    first.acquire()
    second, _, _ = make_host()
    with pytest.raises(PipelineError) as info:
        second.acquire()
    err = info.value
    assert err.error_code == "DAEMONRUNNING" and err.exit_code == 2
    assert f"pid {os.getpid()}" in err.msg and HOST in err.msg and "since" in err.msg
    assert err.detail["pid"] == os.getpid() and err.detail["host"] == HOST
    row = SchedulerBeat.get()
    assert (row.pid, row.host, row.mode, row.stopped_at) == (os.getpid(), HOST, "daemon", None)


def _gone_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("holder, taken", [
    ("dead process of this host", True),
    ("other host, fresh beat", False),
    ("other host, stale beat", True),
    ("stopped cleanly", True),
])
def test_a_dead_or_stopped_scheduler_is_taken_over_a_live_one_is_not(make_host: Any, holder: str, taken: bool) -> None:
    host, _, _ = make_host(stale_after_s=60.0)
    now = host.clock()
    row = {"pid": 4242, "host": "elsewhere", "version": "0", "beat_at": now, "started_at": now - dt.timedelta(hours=1)}
    if holder == "dead process of this host":
        row.update(pid=_gone_pid(), host=HOST)
    elif holder == "other host, stale beat":
        row.update(beat_at=now - dt.timedelta(seconds=61))
    elif holder == "stopped cleanly":
        row.update(stopped_at=now - dt.timedelta(seconds=5))
    SchedulerBeat.create(name="scheduler", **row)
    if taken:
        host.acquire()
        got = SchedulerBeat.get()
        assert (got.pid, got.host, got.stopped_at) == (os.getpid(), HOST, None)
        warned = [r for r in log_lines(host.settings.home) if r["msg"].startswith("took over the scheduler lock")]
        assert len(warned) == (0 if holder == "stopped cleanly" else 1)
    else:
        with pytest.raises(PipelineError) as info:
            host.acquire()
        assert info.value.error_code == "DAEMONRUNNING" and "elsewhere" in info.value.msg
        assert SchedulerBeat.get().pid == 4242


def _refuse_beats(db: Any, on: bool) -> None:
    """Make the database refuse every heartbeat write as a full disk does (PostgreSQL: SQLSTATE 53100 disk_full raised
    by the server; SQLite: its 'database or disk is full' message), or stop refusing."""
    if is_postgres(db):
        if on:
            db.execute_sql("CREATE FUNCTION refuse_beat() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION "
                           "'could not extend file: No space left on device' USING ERRCODE = 'disk_full'; END $$ LANGUAGE plpgsql")
            db.execute_sql("CREATE TRIGGER refuse_beat BEFORE UPDATE ON scheduler_beat FOR EACH ROW EXECUTE FUNCTION refuse_beat()")
        else:
            db.execute_sql("DROP TRIGGER refuse_beat ON scheduler_beat")
            db.execute_sql("DROP FUNCTION refuse_beat()")
    elif on:
        db.execute_sql("CREATE TRIGGER refuse_beat BEFORE UPDATE ON scheduler_beat BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
    else:
        db.execute_sql("DROP TRIGGER refuse_beat")


def test_the_heartbeat_survives_a_full_database_and_resumes(make_host: Any, service: Any) -> None:
    host, stop, _ = make_host(start=True)
    _wait(host, lambda: host.beats >= 2)
    _refuse_beats(service.db, True)
    try:
        _wait(host, lambda: host.beat_errors >= 3)
    finally:
        _refuse_beats(service.db, False)
    before = host.beats
    _wait(host, lambda: host.beats >= before + 2)
    assert not host.lost and not stop.is_set()
    full = [r for r in log_lines(host.settings.home) if r["msg"].startswith("heartbeat not written")]
    assert len(full) >= 3 and {r["error_code"] for r in full} == {"DBFULL"}
    row = SchedulerBeat.get()
    assert row.pid == os.getpid() and row.stopped_at is None and (host.clock() - row.beat_at).total_seconds() < 30


@pytest.mark.parametrize("cooperative", [True, False])
def test_stop_closes_the_running_jobs_row_within_the_timeout(make_host: Any, cooperative: bool) -> None:
    job = Job(cooperative)
    host, stop, host_thread = make_host(job, start=True, stop_timeout_s=0.3)
    JobRequest.create(job="retention", requested_by="test")
    assert job.started.wait(30)
    thread = next(t for t in threading.enumerate() if t.name == "praf-job-retention")
    stop.set()
    host_thread.join(30)
    assert not host_thread.is_alive()
    run = CronStatus.get(CronStatus.job == "retention")
    assert run.finished_at is not None and (run.exit_code, run.error_code) == (130, "INTERRUPTED")
    assert ("stop_timeout_s" in (run.detail or {})) is (not cooperative)  # closed by the host only when the job hung
    assert JobLock.select().count() == 0
    assert SchedulerBeat.get().stopped_at is not None
    job.release.set()
    thread.join(30)


def test_reload_applies_good_settings_and_keeps_them_on_configbad(make_host: Any) -> None:
    host, _, _ = make_host()
    settings = host.settings
    newer = settings.model_copy(update={"schedule": settings.schedule.model_copy(update={"fetch_time": "01:30"})})
    answers: list[Any] = [PipelineError("CONFIGBAD", "schedule.fetch_time: must be a 24-hour time HH:MM", {"setting": "schedule.fetch_time"}), newer]

    def reloader() -> Any:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    host.reloader = reloader
    assert host.reload() == {}
    assert host.settings.schedule.fetch_time == "01:00"
    bad = [r for r in log_lines(host.settings.home) if r["msg"].startswith("settings not reloaded")]
    assert len(bad) == 1 and bad[0]["error_code"] == "CONFIGBAD"
    changed = host.reload()
    assert changed == {"schedule.fetch_time": ("01:00", "01:30")}
    assert host.settings.schedule.fetch_time == "01:30"
    good = [r for r in log_lines(host.settings.home) if r["msg"].startswith("settings reloaded")]
    assert good and good[-1]["detail"]["changed"] == {"schedule.fetch_time": {"old": "01:00", "new": "01:30"}}
    assert host.scheduler.wiring.settings.schedule.fetch_time == "01:30" and host.wiring is host.scheduler.wiring


def test_a_scheduler_whose_row_was_taken_over_stops_scheduling(make_host: Any) -> None:
    host, stop, _ = make_host()
    done = threading.Event()

    def run() -> None:
        host.run(stop)
        done.set()

    threading.Thread(target=run, daemon=True).start()
    assert host.ready.wait(30)
    SchedulerBeat.update(pid=1, host="elsewhere").execute()  # another scheduler took the home over
    assert done.wait(30) and host.lost and not stop.is_set()
    row = SchedulerBeat.get()
    assert (row.pid, row.host, row.stopped_at) == (1, "elsewhere", None)  # its row is left alone
    lost = [r for r in log_lines(host.settings.home) if r["msg"].startswith("the scheduler lock was taken over")]
    assert len(lost) == 1 and lost[0]["error_code"] == "DAEMONRUNNING"
