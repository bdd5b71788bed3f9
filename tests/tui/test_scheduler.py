"""The Scheduler screen, the header's scheduler line, the progress bars of running jobs and `--with-scheduler`, on the
fixture home through the real service (its clock fixed, so ages and next runs read the same on every machine); the
scheduler rows (a live daemon elsewhere, a dead one, a running job's progress) are written as their processes would.
Snapshots at 80x24 and 120x40."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.color import Color
from textual.widgets import Label, ProgressBar

from praf_engine.db.models import CronStatus, JobControl, JobLock, JobProgress, JobRequest, SchedulerBeat
from praf_engine.jobs.runner import PIPELINE
from praf_engine.sandbox.fixture_home import FIXTURE_AS_OF
from praf_engine.service import EngineService, load_settings
from praf_engine.wiring import Wiring
from praf_tui.app import PrafApp
from praf_tui.screens.dashboard import DashboardScreen
from praf_tui.screens.scheduler import SchedulerScreen, short
from praf_tui.widgets.dialogs import ConfirmDialog
from praf_tui.widgets.header import PrafHeader, span
from praf_tui.widgets.panels import Table
from praf_tui.widgets.progress import RunningJobs, RunningRow
from tests.tui.conftest import settle

NOW = dt.datetime(2025, 6, 9, 21, 48)  # the engine clock of these tests (naive UTC)
FETCH_AT = NOW + dt.timedelta(hours=3, minutes=12)  # 01:00 the next night


@pytest.fixture
def service(fixture_home: Path) -> Iterator[EngineService]:
    settings = load_settings(home=str(fixture_home), environ={})
    svc = EngineService.open(settings, wiring=Wiring.production(settings).with_clock(lambda: NOW))
    yield svc
    svc.close()


def app_on(service: EngineService, **kw: Any) -> PrafApp:
    return PrafApp(service, as_of=FIXTURE_AS_OF, who="tester", refresh_s=0, **kw)


def live_daemon(host: str = "praf-box", pid: int = 4242, beat_age_s: float = 2.0) -> SchedulerBeat:
    """The beat row of a daemon running elsewhere, as its SchedulerHost writes it."""
    return SchedulerBeat.create(name="scheduler", pid=pid, host=host, version="1.0", mode="daemon",
                                started_at=NOW - dt.timedelta(days=1), beat_at=NOW - dt.timedelta(seconds=beat_age_s),
                                next_runs={"fetch": FETCH_AT.isoformat(), "qa": (FETCH_AT + dt.timedelta(minutes=45)).isoformat(),
                                           "scrape": dt.datetime(2025, 7, 1, 0, 5).isoformat()})


def running_fetch(run_id: str = "5f0c1d2e-0000-4000-8000-000000000001", **progress: Any) -> str:
    """An unfinished fetch run of another host's daemon: its row, its job and pipeline locks, its progress row (as
    JobRunner and ctx.progress write them)."""
    CronStatus.create(job="fetch", run_id=run_id, started_at=NOW - dt.timedelta(minutes=7), trigger="daemon",
                      host="praf-box", pid=4242)
    for lock in ("fetch", PIPELINE):
        JobLock.create(job=lock, run_id=run_id, holder="4242@praf-box", pid=4242, host="praf-box")
    JobProgress.create(run_id=run_id, job="fetch", updated_at=NOW, **{"stage": "batch 3/12", "done": 120, "total": 300,
                                                                      "rows": 1234, "errors": 2, **progress})
    return run_id


def header_line(app: PrafApp) -> Label:
    return app.screen.query_one(PrafHeader).query_one("#scheduler-status", Label)


def schedule_rows(app: PrafApp) -> dict[str, list[str]]:
    table = app.screen.query_one("#schedule-table", Table)
    return {str(table.get_row_at(i)[0]): [str(c) for c in table.get_row_at(i)] for i in range(table.row_count)}


async def press(pilot: Any, *keys: str) -> None:
    await pilot.press(*keys)
    await settle(pilot)


def test_span_reads_like_an_operator_writes() -> None:
    assert [span(s) for s in (0, 42, 60 * 12, 3 * 3600 + 12 * 60, 5 * 3600, 2 * 86400 + 5, -3)] == \
        ["0 s", "42 s", "12 min", "3 h 12 min", "5 h", "2 days", "0 s"]


# The header ------------------------------------------------------------------------------------------------------
async def test_the_header_names_the_live_scheduler_and_its_next_job(service: EngineService) -> None:
    live_daemon()
    app = app_on(service)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        line = header_line(app)
        assert str(line.render()) == "scheduler: running on praf-box, next: fetch in 3 h 12 min"
        assert not line.has_class("-dead")
        await press(pilot, "t")  # every screen carries it
        assert str(header_line(app).render()) == "scheduler: running on praf-box, next: fetch in 3 h 12 min"


async def test_the_header_says_in_red_when_no_scheduler_runs(service: EngineService) -> None:
    app = app_on(service)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert str(header_line(app).render()) == "no scheduler (never started in this home)"
        assert header_line(app).has_class("-dead")
        live_daemon(beat_age_s=2 * 86400 + 600)  # its host went away two days ago
        await press(pilot, "ctrl+r")
        line = header_line(app)
        assert str(line.render()) == "no scheduler (last beat 2 days ago)"
        assert line.has_class("-dead")
        assert line.styles.color == Color.parse(app.theme_variables["error"])  # red in the theme in force


# The Scheduler screen --------------------------------------------------------------------------------------------
async def test_the_scheduler_screen_lists_every_job_with_last_and_next_run(service: EngineService) -> None:
    live_daemon()
    state = service.scheduler_state()
    app = app_on(service)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await press(pilot, "j")
        assert isinstance(app.screen, SchedulerScreen)
        rows = schedule_rows(app)
        assert list(rows) == [job.name for job in state.jobs]
        for job in state.jobs:
            row = rows[job.name]
            last = job.last_run
            assert row[1] == (short(last.started_at, NOW) if last else "never")
            assert row[2] == ("–" if last is None or last.exit_code is None else str(last.exit_code))
            assert row[5] == short(job.next_run, NOW)
        assert rows["fetch"][5] == "06-10 01:00" and rows["scrape"][5] == "07-01 00:05"
        assert short(dt.datetime(2024, 12, 31, 23, 0), NOW) == "2024-12-31 23:00"
        head = str(app.screen.query_one("#schedule-head", Label).render())
        assert head.startswith("Scheduler: daemon pid 4242 on praf-box") and "last beat 2 s ago" in head


async def test_pause_and_resume_persist_for_the_scheduler(service: EngineService) -> None:
    app = app_on(service)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await press(pilot, "j")
        table = app.screen.query_one("#schedule-table", Table)
        table.move_cursor(row=list(schedule_rows(app)).index("fetch"))
        await press(pilot, "p")
        assert JobControl.get(JobControl.job == "fetch").paused
        assert schedule_rows(app)["fetch"][6] == "paused"
        assert [j.name for j in service.scheduler_state().jobs if j.paused] == ["fetch"]
        await press(pilot, "p")
        assert not JobControl.get(JobControl.job == "fetch").paused
        assert schedule_rows(app)["fetch"][6] == ""


async def test_run_now_asks_then_hands_the_job_to_the_live_scheduler(service: EngineService) -> None:
    live_daemon()
    app = app_on(service)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await press(pilot, "j")
        app.screen.query_one("#schedule-table", Table).move_cursor(row=list(schedule_rows(app)).index("qa"))
        await press(pilot, "r")
        assert isinstance(app.screen, ConfirmDialog) and app.screen.question == "Run job qa now?"
        await press(pilot, "n")
        assert JobRequest.select().count() == 0
        await press(pilot, "r", "y")
        request = JobRequest.get()
        assert (request.job, request.status) == ("qa", "pending")
        assert request.requested_by.startswith("tui:") and str(os.getpid()) in request.requested_by
        assert any("job qa requested: the scheduler starts it" in str(n.message) for n in app._notifications)
        assert "requested, not started yet: qa" in str(app.screen.query_one("#running-head", Label).render())


async def test_stop_asks_then_flags_the_running_job_and_only_a_running_one(service: EngineService) -> None:
    run_id = running_fetch()
    app = app_on(service)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await press(pilot, "j")
        table = app.screen.query_one("#schedule-table", Table)
        table.move_cursor(row=list(schedule_rows(app)).index("qa"))
        await press(pilot, "x")  # qa is not running: nothing to stop, no question
        assert isinstance(app.screen, SchedulerScreen)
        assert any("job qa is not running" in str(n.message) for n in app._notifications)
        table.move_cursor(row=list(schedule_rows(app)).index("fetch"))
        assert schedule_rows(app)["fetch"][4] == "running"
        await press(pilot, "x")
        assert isinstance(app.screen, ConfirmDialog) and "Stop job fetch" in app.screen.question
        await press(pilot, "escape")
        assert not JobProgress.get_by_id(run_id).stop_requested
        await press(pilot, "x", "y")
        assert JobProgress.get_by_id(run_id).stop_requested
        row = app.screen.query_one(RunningRow)
        assert row.has_class("-stopping") and "stopping" in str(row.query_one(".running-text", Label).render())


async def test_every_running_job_has_a_progress_bar_on_both_screens(service: EngineService) -> None:
    run_id = running_fetch()
    app = app_on(service)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await press(pilot, "6")
        assert isinstance(app.screen, DashboardScreen)
        rows = list(app.screen.query(RunningRow))
        assert [r.run.run_id for r in rows] == [run_id]
        bar = rows[0].query_one(ProgressBar)
        assert (bar.progress, bar.total) == (120, 300)
        text = str(rows[0].query_one(".running-text", Label).render())
        assert text == "fetch (daemon) · batch 3/12 · 120/300 · 1,234 rows · 2 errors"
        JobProgress.update(done=240, rows=2500).where(JobProgress.run_id == run_id).execute()
        await press(pilot, "ctrl+r")
        bar = app.screen.query_one(RunningRow).query_one(ProgressBar)
        assert bar.progress == 240
        await press(pilot, "j")
        assert app.screen.query_one(RunningJobs).run_ids == [run_id]
        rows = schedule_rows(app)
        assert rows["fetch"][4] == "running" and rows["qa"][7] == rows["scrape"][7] == "waits for the running fetch"
        assert rows["retention"][7] == ""  # not a pipeline job: nothing holds it back
        CronStatus.update(finished_at=NOW, exit_code=0).where(CronStatus.run_id == run_id).execute()
        JobProgress.delete().where(JobProgress.run_id == run_id).execute()
        JobLock.delete().where(JobLock.run_id == run_id).execute()
        await press(pilot, "ctrl+r")
        assert app.screen.query_one(RunningJobs).run_ids == []
        assert schedule_rows(app)["qa"][7] != "waits for the running fetch"
        assert str(app.screen.query_one(".running-none", Label).render()) == "no job running"


# --with-scheduler ------------------------------------------------------------------------------------------------
async def test_with_scheduler_runs_the_scheduler_in_the_dashboard_and_stops_it_on_quit(service: EngineService) -> None:
    for job in (j.name for j in service.scheduler_state().jobs):  # its catch-up finds every job paused: nothing runs
        service.pause_job(job)
    app = app_on(service, with_scheduler=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert await asyncio.to_thread(app.scheduler_ready.wait, 30)
        beat = SchedulerBeat.get()
        assert (beat.pid, beat.mode, beat.stopped_at) == (os.getpid(), "tui", None)
        await press(pilot, "ctrl+r")
        assert str(header_line(app).render()).startswith(f"scheduler: running on {beat.host} (in this dashboard), next: ")
        await pilot.press("q")
    assert await asyncio.to_thread(app.stop_scheduler, 30)
    assert SchedulerBeat.get().stopped_at is not None  # a clean stop: another scheduler may start at once


async def test_with_scheduler_starts_no_second_one_when_a_daemon_holds_the_home(service: EngineService) -> None:
    live_daemon()
    app = app_on(service, with_scheduler=True)
    async with app.run_test(size=(120, 40)) as pilot:
        assert await asyncio.to_thread(lambda: app._scheduler_thread is not None and app.stop_scheduler(30))
        await settle(pilot)
        notes = [str(n.message) for n in app._notifications]
        assert any(n.startswith("not started: another scheduler holds this home: daemon pid 4242 on praf-box") for n in notes)
        assert str(header_line(app).render()) == "scheduler: running on praf-box, next: fetch in 3 h 12 min"
    beat = SchedulerBeat.get()
    assert (beat.pid, beat.host, beat.stopped_at) == (4242, "praf-box", None)  # the daemon's row, untouched


# Snapshots -------------------------------------------------------------------------------------------------------
def _scheduler_screen(*keys: str) -> Any:
    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("j")
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return run_before


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_snapshot_scheduler(service: EngineService, snap_compare: Any, size: tuple[int, int]) -> None:
    live_daemon()
    running_fetch()
    service.pause_job("backup")
    assert snap_compare(app_on(service), run_before=_scheduler_screen(), terminal_size=size)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_snapshot_dashboard_without_a_scheduler(service: EngineService, snap_compare: Any, size: tuple[int, int]) -> None:
    SchedulerBeat.create(name="scheduler", pid=4242, host="praf-box", version="1.0", mode="daemon",
                         started_at=NOW - dt.timedelta(days=3), beat_at=NOW - dt.timedelta(days=2, hours=1))
    running_fetch()
    assert snap_compare(app_on(service), run_before=_scheduler_screen("d", "6"), terminal_size=size)
