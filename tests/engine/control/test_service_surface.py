"""The control plane through EngineService (SQLite and PostgreSQL): scheduler_state (beat and its freshness, next
runs, gates, pauses, running runs with progress, pending requests), request_job, stop_job, pause_job/resume_job."""

from __future__ import annotations

import datetime as dt
import os
import threading
from typing import Any

import pytest

from praf_engine.db.models import (
    CronStatus,
    JobControl,
    JobLock,
    JobProgress,
    JobRequest,
    SchedulerBeat,
    Ticker,
)
from praf_engine.errors import PipelineError
from praf_engine.jobs.runner import HOST


def _beat(service: Any, *, age_s: float, stopped: bool = False, next_runs: dict[str, str] | None = None) -> None:
    now = service.wiring.clock()
    SchedulerBeat.create(name="scheduler", pid=os.getpid(), host=HOST, version="test", mode="daemon",
                         started_at=now - dt.timedelta(hours=1), beat_at=now - dt.timedelta(seconds=age_s),
                         stopped_at=now if stopped else None, next_runs=next_runs or {})


def _fetch_run(night: dt.date, exit_code: int) -> None:
    at = dt.datetime.combine(night, dt.time(1, 0))
    CronStatus.create(job="fetch", run_id=f"f-{night}-{exit_code}", started_at=at, finished_at=at + dt.timedelta(minutes=5),
                      exit_code=exit_code, detail={"night": night.isoformat()})


def test_without_a_scheduler_the_state_says_so_and_lists_every_job_in_pipeline_order(service: Any) -> None:
    state = service.scheduler_state()
    assert state.beat is None and not state.live and state.next_run is None
    names = [j.name for j in state.jobs]
    assert names[:3] == ["scrape", "fetch", "qa"] and set(names) >= {"vacuum", "retention", "backup"}
    assert all(j.last_run is None and j.next_run is None and not j.paused and j.running is None for j in state.jobs)
    assert state.running == () and state.pending == ()


def test_a_fresh_beat_is_live_with_its_next_runs(service: Any) -> None:
    _beat(service, age_s=2, next_runs={"fetch": "2031-01-02T01:00:00", "qa": "2031-01-02T01:45:00", "bogus": "not a time"})
    state = service.scheduler_state()
    assert state.live and state.beat.host == HOST and state.beat.mode == "daemon" and 1.5 < state.beat.age_s < 60
    jobs = {j.name: j for j in state.jobs}
    assert jobs["fetch"].next_run == dt.datetime(2031, 1, 2, 1, 0) and jobs["qa"].next_run == dt.datetime(2031, 1, 2, 1, 45)
    assert jobs["scrape"].next_run is None
    assert state.next_run == ("fetch", dt.datetime(2031, 1, 2, 1, 0))


@pytest.mark.parametrize("stopped", [False, True])
def test_a_stale_or_stopped_beat_is_not_live_and_has_no_next_runs(service: Any, stopped: bool) -> None:
    stale = service.settings.daemon.stale_after_s
    _beat(service, age_s=1 if stopped else stale + 5, stopped=stopped, next_runs={"fetch": "2031-01-02T01:00:00"})
    state = service.scheduler_state()
    assert state.beat is not None and not state.beat.live and not state.live
    assert all(j.next_run is None for j in state.jobs) and state.next_run is None


def test_last_run_with_duration_and_a_running_run_with_its_progress(service: Any) -> None:
    t0 = dt.datetime(2030, 5, 5, 1, 0)
    CronStatus.create(job="vacuum", run_id="v1", started_at=t0, finished_at=t0 + dt.timedelta(seconds=42), exit_code=0)
    CronStatus.create(job="fetch", run_id="f1", started_at=t0, pid=os.getpid(), host=HOST, trigger="daemon")
    JobProgress.create(run_id="f1", job="fetch", stage="download", done=30, total=120, rows=900, errors=2, updated_at=t0)
    state = service.scheduler_state()
    jobs = {j.name: j for j in state.jobs}
    assert jobs["vacuum"].last_run.duration_s == 42 and jobs["vacuum"].last_run.exit_code == 0 and jobs["vacuum"].running is None
    (run,) = state.running
    assert (run.job, run.run_id, run.stage, run.done, run.total, run.rows, run.errors, run.fraction) == \
        ("fetch", "f1", "download", 30, 120, 900, 2, 0.25)
    assert jobs["fetch"].running == run and jobs["fetch"].last_run.duration_s is None


def test_a_run_of_a_dead_process_is_not_shown_running(service: Any) -> None:
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    CronStatus.create(job="fetch", run_id="gone", started_at=dt.datetime(2030, 5, 5), pid=int(dead.stdout), host=HOST)
    state = service.scheduler_state()
    assert state.running == ()
    assert {j.name: j for j in state.jobs}["fetch"].last_run.error_code == "JOBKILLED"


def test_gates_come_from_the_jobs_own_gates(service: Any) -> None:
    night = service.wiring.clock().date()
    jobs = {j.name: j for j in service.scheduler_state().jobs}
    assert jobs["qa"].gate == "QA waits for a first fetch" and "no fetch has ever run" in jobs["qa"].gate_detail
    assert jobs["fetch"].gate is None  # no universe yet: nothing is stale
    _fetch_run(night - dt.timedelta(days=1), 0)
    jobs = {j.name: j for j in service.scheduler_state().jobs}
    assert jobs["qa"].gate == "QA waits for tonight's fetch" and f"no fetch has run for night {night}" in jobs["qa"].gate_detail
    _fetch_run(night, 1)
    assert {j.name: j for j in service.scheduler_state().jobs}["qa"].gate == "QA held: tonight's fetch exited 1"
    _fetch_run(night, 0)
    assert {j.name: j for j in service.scheduler_state().jobs}["qa"].gate is None
    old = night - dt.timedelta(days=90)
    Ticker.create(symbol="OLD", exchange_code="nasdaq", mic="XNAS", first_seen=old, last_seen=old, status="active")
    fetch = {j.name: j for j in service.scheduler_state().jobs}["fetch"]
    assert fetch.gate.startswith("fetch refused: universe stale") and "older than" in fetch.gate_detail


def test_a_running_pipeline_job_holds_the_others(service: Any) -> None:
    JobLock.create(job="fetch", run_id="r1", holder=f"{os.getpid()}@{HOST}", pid=os.getpid(), host=HOST)
    JobLock.create(job="pipeline", run_id="r1", holder=f"{os.getpid()}@{HOST}", pid=os.getpid(), host=HOST)
    jobs = {j.name: j for j in service.scheduler_state().jobs}
    assert jobs["qa"].gate == "waits for the running fetch" and jobs["scrape"].gate == "waits for the running fetch"
    assert jobs["vacuum"].gate == "waits for the running fetch" and jobs["retention"].gate is None


def test_pause_and_resume_persist_and_unknown_jobs_are_refused(service: Any) -> None:
    assert service.pause_job("fetch") is False
    assert service.pause_job("fetch") is True
    row = JobControl.get(JobControl.job == "fetch")
    assert row.paused and row.updated_by.startswith("tui:")
    assert {j.name: j.paused for j in service.scheduler_state().jobs}["fetch"] is True
    assert service.resume_job("fetch") is True
    assert {j.name: j.paused for j in service.scheduler_state().jobs}["fetch"] is False
    for bad in ("nope", "../fetch", ""):
        with pytest.raises(PipelineError) as exc:
            service.pause_job(bad)
        assert exc.value.error_code == "JOBUNKNOWN"
    assert JobControl.select().count() == 1


def test_request_with_a_live_scheduler_is_a_pending_row_once(service: Any) -> None:
    _beat(service, age_s=1)
    first = service.request_job("retention")
    assert (first.job, first.status, first.route, first.run_id, first.pid) == ("retention", "pending", "scheduler", None, None)
    assert first.requested_by.startswith("tui:")
    assert service.request_job("retention").id == first.id  # the same request is not queued twice
    assert service.request_job("fetch", {"force": True}).options == {"force": True}
    assert [p.job for p in service.scheduler_state().pending] == ["retention", "fetch"]
    from praf_engine.control.requests import claim_pending

    claimed = claim_pending("daemon:1@h")
    assert [r.job for r in claimed] == ["retention", "fetch"] and all(r.claimed_by == "daemon:1@h" for r in claimed)
    assert claim_pending("daemon:2@h") == []  # each row is claimed once
    assert service.scheduler_state().pending == ()


@pytest.mark.parametrize(("job", "options", "code"), [
    ("nope", None, "JOBUNKNOWN"), ("", None, "JOBUNKNOWN"),
    ("fetch", {"fast": True}, "JOBOPTION"), ("fetch", {"progress": 1}, "JOBOPTION"), ("retention", {"force": True}, "JOBOPTION"),
    ("fetch", {"symbols": {1, 2}}, "JOBOPTION"),
])
def test_bad_requests_are_refused_and_record_nothing(service: Any, job: str, options: Any, code: str) -> None:
    _beat(service, age_s=1)
    with pytest.raises(PipelineError) as exc:
        service.request_job(job, options)
    assert exc.value.error_code == code
    assert JobRequest.select().count() == 0


def test_a_request_for_a_running_job_is_joblocked(service: Any) -> None:
    _beat(service, age_s=1)
    JobLock.create(job="retention", run_id="r9", holder=f"{os.getpid()}@{HOST}", pid=os.getpid(), host=HOST)
    with pytest.raises(PipelineError) as exc:
        service.request_job("retention")
    assert exc.value.error_code == "JOBLOCKED" and "r9" in str(exc.value)
    assert JobRequest.select().count() == 0


def test_stop_of_a_run_that_is_not_running_is_jobnotrunning(service: Any) -> None:
    CronStatus.create(job="vacuum", run_id="done1", finished_at=dt.datetime(2030, 1, 1), exit_code=0)
    for what in ("done1", "no-such-run", "fetch"):
        with pytest.raises(PipelineError) as exc:
            service.stop_job(what)
        assert exc.value.error_code == "JOBNOTRUNNING"
    assert JobProgress.select().count() == 0


@pytest.mark.parametrize("by_name", [False, True])
def test_stop_job_ends_a_running_job_interrupted_after_its_batch(service: Any, monkeypatch: Any, by_name: bool) -> None:
    """A job in another thread (as in the daemon) is asked to stop through the database: its next check of
    ctx.stopping sees it; it finishes its batch and ends INTERRUPTED (exit 130)."""
    from praf_engine.control import progress
    from praf_engine.jobs.runner import JobRunner

    monkeypatch.setattr(progress, "INTERVAL", 0.0)
    running, asked = threading.Event(), threading.Event()
    batches: list[int] = []
    result: dict[str, Any] = {}

    def job(ctx: Any) -> int:
        for batch in range(1000):
            if ctx.stopping:
                return 0
            batches.append(batch)
            ctx.progress(stage="batches", done=batch, total=1000)
            if batch == 2:
                running.set()
                assert asked.wait(30)
        return 0

    worker = threading.Thread(target=lambda: result.update(code=JobRunner(service.wiring, trigger="daemon").run("retention", job)))
    worker.start()
    assert running.wait(30)
    run_id = CronStatus.get(CronStatus.job == "retention").run_id
    shown = service.stop_job("retention" if by_name else run_id)
    assert (shown.run_id, shown.stop_requested, shown.done, shown.total) == (run_id, True, 2, 1000)
    asked.set()
    worker.join(30)
    assert result["code"] == 130 and batches == [0, 1, 2]
    row = CronStatus.get(CronStatus.run_id == run_id)
    assert (row.exit_code, row.error_code) == (130, "INTERRUPTED") and row.finished_at is not None
    assert JobProgress.select().count() == 0  # the row goes with the run


def test_a_request_to_the_live_scheduler_runs_there_and_stops_through_the_database(service: Any, monkeypatch: Any) -> None:
    """The TUI's path with a daemon: request_job -> a pending row -> the scheduler claims and starts it -> progress in
    the database -> stop_job -> the job thread's stop flag -> INTERRUPTED, the request closed."""
    from praf_engine.control import progress
    from praf_engine.jobs.registry import JobSpec
    from praf_engine.scheduler.core import PipelineScheduler

    monkeypatch.setattr(progress, "INTERVAL", 0.0)
    _beat(service, age_s=1)
    started, release = threading.Event(), threading.Event()

    def job(ctx: Any) -> int:
        for i in range(10**6):
            if ctx.stopping:
                return 0
            ctx.progress(stage="looping", done=i, total=10**6)
            if i == 1:
                started.set()
                assert release.wait(30)
        return 0

    info = service.request_job("retention")
    scheduler = PipelineScheduler(service.wiring, jobs={"retention": JobSpec("retention", "loop", lambda: job)})
    scheduler.run_pending()
    assert started.wait(30)
    state = service.scheduler_state()
    (run,) = state.running
    assert (run.job, run.trigger, run.stage, run.done) == ("retention", "request", "looping", 1) and state.pending == ()
    assert service.stop_job(run.run_id).stop_requested
    release.set()
    assert scheduler.wait_idle(30)
    row = CronStatus.get(CronStatus.run_id == run.run_id)
    assert (row.exit_code, row.error_code, row.detail["request"]) == (130, "INTERRUPTED", info.id)
    request = JobRequest.get_by_id(info.id)
    assert (request.status, request.run_id) == ("failed", run.run_id)


def test_a_started_request_whose_process_died_is_closed(service: Any) -> None:
    import subprocess
    import sys

    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                              check=True).stdout)
    gone = JobRequest.create(job="fetch", requested_by="tui:1@h", status="started", claimed_by=f"detached:{dead}@{HOST}")
    alive = JobRequest.create(job="qa", requested_by="tui:1@h", status="started", claimed_by=f"daemon:{os.getpid()}@{HOST}")
    elsewhere = JobRequest.create(job="scrape", requested_by="tui:1@h", status="started", claimed_by=f"detached:{dead}@other-host")
    service.scheduler_state()
    row = JobRequest.get_by_id(gone.id)
    assert row.status == "failed" and row.error.startswith("JOBKILLED") and row.finished_at is not None
    assert JobRequest.get_by_id(alive.id).status == "started" and JobRequest.get_by_id(elsewhere.id).status == "started"


def test_a_detached_child_gets_the_requesters_settings_but_no_secret_on_its_command_line(tmp_path: Any) -> None:
    from praf_engine.config import load_settings, parse_overrides
    from praf_engine.control.requests import child_overrides

    home = tmp_path / "h"
    home.mkdir()
    (home / "settings.toml").write_text("[fetch]\nworkers = 2\n", encoding="utf-8")
    secret = "tok-hunter2-secret"
    settings = load_settings(home=home, environ={}, cwd=home, overrides={("fetch", "batch_size"): 3, ("telegram_token",): secret,
                                                                         ("database_url",): "postgresql://u:pw-secret-9@h/db"})
    pairs = child_overrides(settings)
    assert "fetch.batch_size=3" in pairs and not any(p.startswith("fetch.workers") for p in pairs)
    assert not any(secret in p or "pw-secret-9" in p or p.startswith(("telegram_token", "database_url", "home")) for p in pairs)
    again = load_settings(home=home, environ={}, cwd=home, overrides=parse_overrides(pairs))
    assert again.fetch.batch_size == 3 and again.fetch.workers == 2
