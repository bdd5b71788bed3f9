"""PipelineScheduler on a fake clock with light job functions: due times, a slot runs once, paused jobs, QA's wait
for a running fetch, catch-up windows, requests, stop, reload."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from praf_engine.db.models import CronStatus, JobControl, JobLock, JobRequest
from praf_engine.errors import PipelineError
from praf_engine.jobs.registry import JobSpec
from praf_engine.jobs.runner import HOST, JobContext
from praf_engine.scheduler.core import PipelineScheduler
from tests.engine.scheduler.helpers import FakeClock, advance, history, settle

MON = dt.datetime(2026, 3, 2)  # a Monday


class Recorder:
    """Job functions that record (job, clock time, options); ``block`` holds a job until released."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dt.datetime, dict[str, Any]]] = []
        self.fail: set[str] = set()
        self.block: dict[str, threading.Event] = {}
        self.started: dict[str, threading.Event] = {}

    def spec(self, name: str) -> JobSpec:
        def fn(ctx: JobContext, **options: Any) -> int:
            self.calls.append((name, ctx.clock(), options))
            if name in self.started:
                self.started[name].set()
            if name in self.block:
                assert self.block[name].wait(30)
            return 1 if name in self.fail else 0

        return JobSpec(name, name, lambda: fn)

    def jobs(self, names: tuple[str, ...] = ("scrape", "fetch", "qa", "backup", "vacuum", "retention")) -> dict[str, JobSpec]:
        return {n: self.spec(n) for n in names}


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
def make(service: Any, rec: Recorder) -> Iterator[Any]:
    made: list[PipelineScheduler] = []

    def build(start: dt.datetime, settings: Any = None, **kw: Any) -> tuple[PipelineScheduler, FakeClock]:
        clock = FakeClock(start)
        wiring = service.wiring.with_clock(clock)
        if settings is not None:
            wiring = type(wiring)(**{**wiring.__dict__, "settings": settings})
        sch = PipelineScheduler(wiring, jobs=kw.pop("jobs", rec.jobs()), **kw)
        made.append(sch)
        return sch, clock

    yield build
    for sch in made:
        sch.stop.set()
        sch.wait_idle(30)


def test_a_night_runs_the_table_in_order_at_its_times(make: Any, rec: Recorder) -> None:
    sch, clock = make(MON)
    assert sch.next_runs()["fetch"] == dt.datetime(2026, 3, 2, 1, 0)
    assert "alerts" not in sch.next_runs()  # not registered in this version: skipped with JOBUNKNOWN in the log
    advance(sch, clock, dt.datetime(2026, 3, 2, 12, 0))
    assert [(j, t.strftime("%H:%M")) for j, t, _ in rec.calls] == [
        ("fetch", "01:00"), ("qa", "01:45"), ("backup", "02:15"), ("vacuum", "02:30"), ("retention", "03:00")]
    assert history() == [("fetch", "2026-03-02T01:00", 0, None), ("qa", "2026-03-02T01:45", 0, None),
                         ("backup", "2026-03-02T02:15", 0, None), ("vacuum", "2026-03-02T02:30", 0, None),
                         ("retention", "2026-03-02T03:00", 0, None)]
    assert {r.trigger for r in CronStatus.select()} == {"daemon"}
    assert sch.next_runs()["scrape"] == dt.datetime(2026, 4, 1, 0, 5)  # the day-of-month guard
    assert sch.next_runs()["vacuum"] == dt.datetime(2026, 3, 9, 2, 30)


def test_idle_seconds_and_no_run_before_its_time(make: Any, rec: Recorder) -> None:
    sch, clock = make(dt.datetime(2026, 3, 2, 0, 59, 59, 500000))
    assert sch.idle_seconds() == pytest.approx(0.5)
    sch.run_pending()
    assert sch.wait_idle(5) and rec.calls == []
    clock.set(dt.datetime(2026, 3, 2, 1, 0))
    settle(sch)
    assert [c[0] for c in rec.calls] == ["fetch"]
    assert sch.idle_seconds() == 1.0  # capped


def test_a_slot_that_has_a_row_is_not_run_again(make: Any, rec: Recorder) -> None:
    sch, clock = make(MON)
    advance(sch, clock, dt.datetime(2026, 3, 2, 1, 30))
    again, clock2 = make(dt.datetime(2026, 3, 2, 1, 30))  # a restarted scheduler
    assert again.catch_up() == ["scrape"]  # Sunday's scrape (the 1st) never ran; fetch's slot has its row
    settle(again)
    assert [c[0] for c in rec.calls] == ["fetch", "scrape"]


def test_a_paused_job_is_recorded_skipped(make: Any, rec: Recorder) -> None:
    JobControl.create(job="backup", paused=True, updated_by="test")
    sch, clock = make(MON)
    advance(sch, clock, dt.datetime(2026, 3, 2, 2, 20))
    assert "backup" not in [c[0] for c in rec.calls]
    row = CronStatus.get(CronStatus.job == "backup")
    assert (row.exit_code, row.error_code, row.detail["skipped"], row.detail["slot"]) == (2, "JOBPAUSED", True, "2026-03-02T02:15")
    assert "paused" in row.detail["reason"]


def test_qa_waits_for_a_running_fetch_then_runs_after_it(make: Any, rec: Recorder) -> None:
    rec.block["fetch"], rec.started["fetch"] = threading.Event(), threading.Event()
    sch, clock = make(dt.datetime(2026, 3, 2, 0, 59))
    clock.set(dt.datetime(2026, 3, 2, 1, 0))
    sch.run_pending()
    assert rec.started["fetch"].wait(10)
    clock.set(dt.datetime(2026, 3, 2, 1, 45))
    sch.run_pending()
    assert sch.running == "fetch" and sch.queued == ["qa"]
    clock.set(dt.datetime(2026, 3, 2, 3, 59))
    sch.run_pending()
    assert sch.queued == ["qa", "backup", "vacuum", "retention"]  # dependency order: nothing overtakes the waiting QA
    rec.block["fetch"].set()
    settle(sch)
    assert [c[0] for c in rec.calls] == ["fetch", "qa", "backup", "vacuum", "retention"]


def test_qa_is_skipped_when_the_fetch_still_runs_at_the_deadline(make: Any, rec: Recorder) -> None:
    rec.block["fetch"], rec.started["fetch"] = threading.Event(), threading.Event()
    sch, clock = make(dt.datetime(2026, 3, 2, 0, 59))
    clock.set(dt.datetime(2026, 3, 2, 1, 0))
    sch.run_pending()
    assert rec.started["fetch"].wait(10)
    clock.set(dt.datetime(2026, 3, 2, 4, 0))
    sch.run_pending()
    row = CronStatus.get(CronStatus.job == "qa")
    assert (row.exit_code, row.error_code, row.detail["slot"]) == (2, "QAWAITTIMEOUT", "2026-03-02T01:45")
    assert sch.running == "fetch"  # the skip was recorded while the fetch still ran
    rec.block["fetch"].set()
    settle(sch)
    assert [c[0] for c in rec.calls] == ["fetch", "backup", "vacuum", "retention"]


def test_qa_waits_for_another_processs_fetch(make: Any, rec: Recorder) -> None:
    """A fetch started by hand (a lock of a live process: here this test's own pid) holds the pipeline lock."""
    for job in ("fetch", "pipeline"):
        JobLock.create(job=job, run_id="r-cli", holder=f"{os.getpid()}@{HOST}", pid=os.getpid(), host=HOST)
    sch, clock = make(dt.datetime(2026, 3, 2, 1, 44), jobs={"qa": rec.spec("qa")})
    clock.set(dt.datetime(2026, 3, 2, 1, 45))
    sch.run_pending()
    assert sch.queued == ["qa"] and rec.calls == []
    JobLock.delete().execute()
    settle(sch)
    assert [c[0] for c in rec.calls] == ["qa"]


def test_catch_up_runs_each_missed_job_once_in_dependency_order(make: Any, rec: Recorder) -> None:
    # stopped since Saturday evening; started Monday 10:00: the weekend's nights are gone, Monday's still in window
    sch, clock = make(dt.datetime(2026, 3, 2, 10, 0))
    assert sch.catch_up() == ["scrape", "fetch", "qa", "backup", "vacuum", "retention"]  # scrape: the 1st, 7 days window
    settle(sch)
    assert history() == [("scrape", "2026-03-01T00:05", 0, None), ("fetch", "2026-03-02T01:00", 0, None),
                         ("qa", "2026-03-02T01:45", 0, None), ("backup", "2026-03-02T02:15", 0, None),
                         ("vacuum", "2026-03-02T02:30", 0, None), ("retention", "2026-03-02T03:00", 0, None)]
    assert {r.trigger for r in CronStatus.select()} == {"catch-up"}
    assert sch.catch_up() == []  # once


def test_catch_up_leaves_slots_past_their_window(make: Any, rec: Recorder) -> None:
    sch, clock = make(dt.datetime(2026, 3, 2, 21, 30))  # 20 h after 01:00: fetch's window closed; retention's open
    assert sch.catch_up() == ["scrape", "qa", "backup", "vacuum", "retention"]
    sch2, _ = make(dt.datetime(2026, 3, 8, 0, 30))  # scrape of the 1st: 7 days and 25 min ago
    assert "scrape" not in sch2.catch_up()


def test_caught_up_runs_and_due_runs_share_the_dependency_order(make: Any, rec: Recorder) -> None:
    sch, clock = make(dt.datetime(2026, 3, 10, 0, 59))  # Tuesday: Monday's VACUUM still in its window
    assert sch.catch_up() == ["vacuum"]
    clock.set(dt.datetime(2026, 3, 10, 1, 0))  # the fetch falls due before the caught-up VACUUM started
    settle(sch)
    assert [c[0] for c in rec.calls] == ["fetch", "vacuum"]


def test_requests_start_without_waiting_for_a_slot(make: Any, rec: Recorder) -> None:
    sch, clock = make(dt.datetime(2026, 3, 2, 12, 0))
    JobRequest.create(job="fetch", options={"force": True}, requested_by="tui:1@h")
    JobRequest.create(job="nope", requested_by="tui:1@h")
    settle(sch)
    assert rec.calls == [("fetch", dt.datetime(2026, 3, 2, 12, 0), {"force": True})]
    done, bad = JobRequest.select().order_by(JobRequest.id)
    run = CronStatus.get(CronStatus.job == "fetch")
    assert (done.status, done.run_id, run.trigger, run.detail["request"]) == ("done", run.run_id, "request", done.id)
    assert bad.status == "failed" and "JOBUNKNOWN" in bad.error


def test_requests_not_started_at_stop_are_pending_again(make: Any, rec: Recorder) -> None:
    rec.block["fetch"], rec.started["fetch"] = threading.Event(), threading.Event()
    sch, clock = make(dt.datetime(2026, 3, 2, 12, 0))
    first = JobRequest.create(job="fetch", requested_by="tui:1@h")
    second = JobRequest.create(job="retention", requested_by="tui:1@h")
    sch.run_pending()
    assert rec.started["fetch"].wait(10) and sch.queued == ["retention"]
    sch.stop.set()
    rec.block["fetch"].set()
    assert sch.wait_idle(10)
    again = JobRequest.get_by_id(second.id)
    assert (again.status, again.claimed_by, again.run_id) == ("pending", None, None) and sch.queued == []
    stopped = JobRequest.get_by_id(first.id)  # asked to stop with the scheduler: it ends INTERRUPTED
    assert (stopped.status, stopped.error) == ("failed", "exit 130")
    assert [c[0] for c in rec.calls] == ["fetch"]


def test_stop_asks_the_running_job_to_finish_and_starts_nothing_new(make: Any, rec: Recorder) -> None:
    seen = threading.Event()

    def fetch(ctx: JobContext) -> int:
        seen.set()
        assert ctx.stop.wait(30)
        return 0

    sch, clock = make(dt.datetime(2026, 3, 2, 0, 59), jobs=rec.jobs() | {"fetch": JobSpec("fetch", "", lambda: fetch)})
    clock.set(dt.datetime(2026, 3, 2, 1, 0))
    sch.run_pending()
    assert seen.wait(10)
    sch.stop.set()
    clock.set(dt.datetime(2026, 3, 2, 3, 0))
    assert sch.wait_idle(10)
    sch.run_pending()
    assert sch.running is None and rec.calls == []
    row = CronStatus.get(CronStatus.job == "fetch")
    assert (row.exit_code, row.error_code) == (130, "INTERRUPTED") and row.finished_at is not None


def test_reload_replans_and_reports_what_changed(make: Any, service: Any) -> None:
    sch, clock = make(MON)
    new = service.settings.model_copy(update={"schedule": service.settings.schedule.model_copy(update={"fetch_time": "05:30"})})
    assert sch.reload(new) == {"schedule.fetch_time": ("01:00", "05:30")}
    assert sch.next_runs()["fetch"] == dt.datetime(2026, 3, 2, 5, 30)


def test_a_time_zone_moves_the_table(make: Any, service: Any) -> None:
    tz = service.settings.model_copy(update={"schedule": service.settings.schedule.model_copy(update={"timezone": "America/New_York"})})
    sch, clock = make(MON, settings=tz)
    assert sch.next_runs()["fetch"] == dt.datetime(2026, 3, 2, 6, 0)  # 01:00 EST
    with pytest.raises(PipelineError) as err:
        sch.reload(tz.model_copy(update={"schedule": tz.schedule.model_copy(update={"timezone": "Mars/Olympus"})}))
    assert err.value.error_code == "CONFIGBAD" and "schedule.timezone" in str(err.value)
    assert sch.next_runs()["fetch"] == dt.datetime(2026, 3, 2, 6, 0)  # the old plan stays


def _logged(service: Any, code: str) -> list[dict[str, Any]]:
    path = service.settings.logs_dir / "app.jsonl"
    return [r for r in map(json.loads, path.read_text().splitlines()) if r.get("error_code") == code]


def test_a_jump_of_the_clock_starts_only_the_latest_slot(make: Any, rec: Recorder, service: Any) -> None:
    """A host that did not look for three days (a suspended machine): each job's latest slot runs, once; the
    slots it jumped over are logged SLOTMISSED, not run late."""
    sch, clock = make(dt.datetime(2026, 3, 3, 0, 0))
    clock.set(dt.datetime(2026, 3, 6, 1, 30))
    settle(sch)
    assert [(c[0], c[1]) for c in rec.calls] == [("fetch", dt.datetime(2026, 3, 6, 1, 30))]
    assert history() == [("fetch", "2026-03-06T01:00", 0, None)]
    missed = [r["detail"] for r in _logged(service, "SLOTMISSED")]
    assert {"job": "fetch", "from": "2026-03-03T01:00", "latest": "2026-03-06T01:00", "skipped": 3} in missed


def test_a_database_error_is_logged_and_the_run_waits_for_the_next_look(make: Any, rec: Recorder, service: Any) -> None:
    sch, clock = make(dt.datetime(2026, 3, 2, 0, 59))
    service.db.execute_sql("ALTER TABLE job_control RENAME TO job_control_away")
    try:
        clock.set(dt.datetime(2026, 3, 2, 1, 0))
        sch.run_pending()  # does not raise: the host's loop goes on
        assert sch.queued == ["fetch"] and rec.calls == []
        assert any(r["detail"]["queued"] == ["fetch"] for r in _logged(service, "DBERROR"))
    finally:
        service.db.execute_sql("ALTER TABLE job_control_away RENAME TO job_control")
    settle(sch)
    assert [c[0] for c in rec.calls] == ["fetch"]


def test_a_slot_seen_seconds_late_is_on_time_even_with_no_catch_up_window(make: Any, rec: Recorder, service: Any) -> None:
    """catchup_nightly_h = 0 means "never run a missed night late", not "a loop that woke 0.3 s after 01:00 skips it"."""
    quiet = service.settings.model_copy(update={"schedule": service.settings.schedule.model_copy(
        update={"catchup_nightly_h": 0, "catchup_weekly_h": 0, "catchup_scrape_days": 0})})
    sch, clock = make(dt.datetime(2026, 3, 2, 0, 59, 59), settings=quiet)
    clock.set(dt.datetime(2026, 3, 2, 1, 0, 0, 300000))
    settle(sch)
    assert [c[0] for c in rec.calls] == ["fetch"] and not _logged(service, "SLOTMISSED")
    late, _ = make(dt.datetime(2026, 3, 3, 1, 5), settings=quiet)  # a start 5 min after the next night's fetch
    assert late.catch_up() == []
    assert any(r["detail"]["slot"] == "2026-03-03T01:00" for r in _logged(service, "SLOTMISSED"))
