"""Runs that outlive the process asking for them, as real processes: `praf-engine run JOB --detach` without a
scheduler starts a detached process (its own session) whose run is recorded in the request and cron_status; with a
live scheduler it is a pending request; `pause`/`resume`/`stop` on the command line; and a fetch requested by a
TUI (the real app, driven by its keys: Scheduler screen, fetch, run now, yes) keeps running after the TUI process's
whole group is SIGKILLed, its cron_status row complete."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import select
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from praf_engine.config import Settings
from praf_engine.db.models import (
    CronStatus,
    JobControl,
    JobProgress,
    JobRequest,
    SchedulerBeat,
    TickerFetchMeta,
)
from praf_engine.jobs.runner import HOST
from praf_engine.lake import Lake
from praf_engine.sandbox.faults import FaultConfig
from tests.conftest import REPO, cli_env
from tests.engine.fetch.conftest import home_settings, insert_universe, lake_matches, make_sandbox  # noqa: F401 - fixture

TUI = """
import asyncio, os, sys
from praf_tui.app import PrafApp
from praf_tui.cli import open_service
from tests.tui.conftest import settle

async def main() -> None:
    app = PrafApp(open_service(sys.argv[1]), who="tester", refresh_s=0)  # what praf-tui --home H builds
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("j")  # the Scheduler screen
        await settle(pilot)
        assert app.screen.query_one("#schedule-table").cursor_key() == "scrape", "the table starts at the pipeline's first job"
        await pilot.press("down", "r")  # fetch, run now
        await settle(pilot)
        await pilot.press("y")  # confirm
        await settle(pilot)
        os.write(1, b"requested\\n")  # print() is captured by the running app
        await asyncio.Event().wait()  # the app stays open until its process is killed

asyncio.run(main())
"""


def _cli(settings: Settings, database_url: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "praf_engine", "--home", str(settings.home), *args], env=cli_env(database_url),
                          cwd=REPO, capture_output=True, text=True, timeout=120)


def wait_exit(pid: int, timeout: float) -> bool:
    """Wait for a process that is not our child (a detached one) to end: its pidfd becomes readable."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def test_run_detach_without_a_scheduler_starts_a_detached_process(settings: Settings, service: Any, backend: str | None) -> None:
    done = _cli(settings, backend, "run", "retention", "--detach")
    assert done.returncode == 0, done.stderr
    assert "started as detached process" in done.stderr
    request = JobRequest.get()
    pid = int(request.claimed_by.split(":")[1].split("@")[0])
    assert request.claimed_by == f"detached:{pid}@{HOST}" and request.requested_by.startswith("cli:")
    assert wait_exit(pid, 120)
    request = JobRequest.get()
    assert request.status == "done" and request.run_id and request.error is None and request.finished_at is not None
    run = CronStatus.get(CronStatus.run_id == request.run_id)
    assert (run.job, run.exit_code, run.trigger, run.pid, run.detail["request"]) == ("retention", 0, "request", pid, request.id)


def test_run_detach_with_a_live_scheduler_is_a_pending_request(settings: Settings, service: Any, backend: str | None) -> None:
    now = service.wiring.clock()
    SchedulerBeat.create(name="scheduler", pid=os.getpid(), host=HOST, version="t", started_at=now, beat_at=now)
    done = _cli(settings, backend, "run", "retention", "--detach")
    assert done.returncode == 0, done.stderr
    assert "handed to the home's scheduler" in done.stderr
    request = JobRequest.get()
    assert (request.job, request.status, request.claimed_by) == ("retention", "pending", None)
    assert CronStatus.select().count() == 0


def test_pause_resume_stop_on_the_command_line(settings: Settings, service: Any, backend: str | None) -> None:
    paused = _cli(settings, backend, "pause", "fetch")
    assert paused.returncode == 0 and "fetch is now paused" in paused.stderr
    assert JobControl.get(JobControl.job == "fetch").paused
    assert _cli(settings, backend, "resume", "fetch").returncode == 0
    assert not JobControl.get(JobControl.job == "fetch").paused
    unknown = _cli(settings, backend, "pause", "fetchh")
    assert unknown.returncode == 2 and "JOBUNKNOWN" in unknown.stderr and "fetchh" in unknown.stderr
    CronStatus.create(job="fetch", run_id="running-1", started_at=dt.datetime(2030, 1, 1), pid=os.getpid(), host=HOST)
    asked = _cli(settings, backend, "stop", "running-1")
    assert asked.returncode == 0 and "stop requested: fetch run running-1" in asked.stderr
    assert JobProgress.get(JobProgress.run_id == "running-1").stop_requested


def test_a_fetch_requested_by_the_tui_outlives_the_killed_tui(tmp_path: Path, backend: str | None, make_sandbox: Any) -> None:  # noqa: F811
    from praf_engine.service import EngineService

    sandbox = make_sandbox(30, faults=FaultConfig(rates={"slow": 0.2}, slow_seconds=0.5))  # the fetch takes seconds
    symbols = [x.symbol for x in sandbox.market.universe()]
    settings = home_settings(tmp_path / "home", sandbox, backend)
    (settings.home / "settings.toml").write_text(sandbox.settings_toml() + "\n[fetch]\nbatch_size = 2\nworkers = 1\n", encoding="utf-8")
    service = EngineService.open(settings)
    try:
        insert_universe(sandbox.market)
        tui = subprocess.Popen([sys.executable, "-c", TUI, str(settings.home)], env=cli_env(backend), cwd=REPO, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        try:
            line = tui.stdout.readline()
            if line != "requested\n":
                tui.wait(60)
                raise AssertionError(f"the TUI process did not request the fetch: {line}{tui.stderr.read()[-3000:]}")
            request = JobRequest.get(JobRequest.job == "fetch")
            info = {"id": request.id}
            assert request.requested_by.startswith("tui:") and request.claimed_by.startswith("detached:")
            detached = int(request.claimed_by.split(":")[1].split("@")[0])
            assert os.getsid(detached) == detached != os.getsid(tui.pid)  # a session of its own
            for _tick in range(1200):  # bounded: until the fetch has committed its first batch
                if TickerFetchMeta.select().where(TickerFetchMeta.fetch_status == "ok").exists():
                    break
                assert not wait_exit(detached, 0.05), "the detached fetch ended before its first batch"
        finally:
            with contextlib.suppress(ProcessLookupError):  # the TUI and its process group, as a dropped SSH session
                os.killpg(tui.pid, signal.SIGKILL)
            tui.wait(30)
            with contextlib.suppress(Exception):
                tui.stdout.close()
                tui.stderr.close()
        request = JobRequest.get_by_id(info["id"])
        running = CronStatus.get(CronStatus.run_id == request.run_id)
        assert running.finished_at is None, "the fetch finished before the TUI was killed: the test proves nothing"
        assert wait_exit(detached, 120)
        run = CronStatus.get(CronStatus.run_id == request.run_id)
        assert (run.job, run.exit_code, run.error_code, run.trigger, run.pid) == ("fetch", 0, None, "request", detached)
        assert run.finished_at is not None and run.detail["request"] == info["id"]
        assert run.detail["planned"] == run.detail["done"] == len(symbols) and run.detail["outcomes"] == {"ok": len(symbols)}
        assert JobRequest.get_by_id(info["id"]).status == "done"
        lake = Lake(settings.lake_dir)
        assert all(lake_matches(lake, sandbox.market, s) for s in symbols)
    finally:
        service.close()
