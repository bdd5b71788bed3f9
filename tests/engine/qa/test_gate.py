"""QA's gate: the same night's fetch (not merely the last finished one) must have succeeded, and no fetch of the home
may be running; --force overrides the first, never the second."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from typing import Any

import pytest

from praf_engine.config import Settings
from praf_engine.db.models import CronStatus, JobLock, QASummary
from praf_engine.errors import PipelineError
from praf_engine.jobs.runner import HOST, JobRunner
from praf_engine.qa import runner
from praf_engine.qa.runner import qa_job
from praf_engine.sandbox.wiring import sandbox_wiring

NIGHT = dt.date(2025, 12, 30)
AT_QA = dt.datetime(2025, 12, 30, 1, 45)  # the seed's schedule: fetch 01:00 UTC, QA 01:45 UTC


def _fetch(run_id: str, night: dt.date, exit_code: int = 0, error_code: str | None = None, *, recorded: bool = True) -> None:
    """A finished fetch run of ``night`` (``recorded``: its detail names the night, as a fetch that got far does)."""
    started = dt.datetime.combine(night, dt.time(1, 0))
    CronStatus.create(job="fetch", run_id=run_id, started_at=started, finished_at=started + dt.timedelta(minutes=30),
                      exit_code=exit_code, error_code=error_code, detail={"night": night.isoformat()} if recorded else {})


def _refused(settings: Settings, *, force: bool = False) -> str:
    with pytest.raises(PipelineError) as err:
        runner.check_gate(NIGHT, force)
    assert err.value.error_code == "QAGATE"
    return err.value.msg


def test_the_night_is_the_fetchs_night_and_the_as_of_the_day_before(settings: Settings) -> None:
    assert runner.qa_night(lambda: AT_QA) == NIGHT
    assert runner.default_as_of(NIGHT) == dt.date(2025, 12, 29)
    sandbox = sandbox_wiring(settings.model_copy(update={"sandbox": settings.sandbox.model_copy(update={"today": dt.date(2025, 6, 6)})}))
    assert runner.qa_night(sandbox.clock) == dt.date(2025, 6, 6)  # the sandbox wiring's clock: its market date, like the fetch


def test_no_fetch_ever(settings: Settings, service: Any) -> None:
    msg = _refused(settings)
    assert "no fetch has ever run" in msg and "--force" in msg
    assert runner.check_gate(NIGHT, True)["forced"] is True


def test_last_nights_success_does_not_open_tonights_gate(settings: Settings, service: Any) -> None:
    _fetch("f-last-night", NIGHT - dt.timedelta(days=1))
    msg = _refused(settings)
    assert "no fetch has run for night 2025-12-30" in msg and "f-last-night" in msg and "2025-12-29" in msg
    assert "praf-engine fetch" in msg and "--force" in msg
    assert runner.check_gate(NIGHT, True)["forced"] is True
    _fetch("f-tonight", NIGHT)
    info = runner.check_gate(NIGHT, False)
    assert info["fetch_run"] == "f-tonight" and info["night"] == "2025-12-30" and info["forced"] is False


def test_tonights_failed_fetch_closes_the_gate_unless_forced(settings: Settings, service: Any) -> None:
    _fetch("f-last-night", NIGHT - dt.timedelta(days=1))
    _fetch("f-tonight", NIGHT, 1, "APIDOWN")
    msg = _refused(settings)
    assert "tonight's fetch" in msg and "f-tonight" in msg and "exited with 1 (APIDOWN)" in msg and "--force" in msg
    assert runner.check_gate(NIGHT, True)["forced"] is True
    _fetch("f-rerun", NIGHT)  # a successful rerun of the night opens it
    assert runner.check_gate(NIGHT, False)["fetch_run"] == "f-rerun"


def test_a_fetch_that_stopped_before_naming_its_night_counts_by_its_start(settings: Settings, service: Any) -> None:
    _fetch("f-last-night", NIGHT - dt.timedelta(days=1))
    _fetch("f-guard", NIGHT, 1, "UNIVERSESTALE", recorded=False)  # the freshness guard refused before planning
    assert "exited with 1 (UNIVERSESTALE)" in _refused(settings)


def test_a_running_fetch_closes_the_gate_even_when_forced(settings: Settings, service: Any) -> None:
    _fetch("f-tonight", NIGHT)
    JobLock.create(job="fetch", run_id="f-again", holder=f"{os.getpid()}@{HOST}", pid=os.getpid(), host=HOST)
    for force in (False, True):
        msg = _refused(settings, force=force)
        assert "a fetch of this home is running now" in msg and "f-again" in msg
        assert "--force does not override" in msg
    code = JobRunner(service.wiring.with_clock(lambda: AT_QA)).run("qa", lambda ctx: qa_job(ctx, force=True))
    row = CronStatus.get(CronStatus.job == "qa")
    assert code == 1 and row.error_code == "QAGATE" and QASummary.select().count() == 0


def test_a_lock_left_by_a_dead_fetch_does_not_block(settings: Settings, service: Any) -> None:
    _fetch("f-tonight", NIGHT)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    JobLock.create(job="fetch", run_id="f-killed", holder=f"{gone.pid}@{HOST}", pid=gone.pid, host=HOST)
    assert runner.check_gate(NIGHT, False)["fetch_run"] == "f-tonight"
    assert JobLock.select().count() == 0  # taken over like any stale lock
    JobLock.create(job="fetch", run_id="f-elsewhere", holder="123@other-host", pid=123, host="other-host")
    msg = _refused(settings, force=True)  # another host's process cannot be checked: it is running as far as we know
    assert "other-host" in msg and "praf-engine run fetch --unlock" in msg


def test_qa_job_gates_on_its_own_night(settings: Settings, service: Any) -> None:
    _fetch("f-last-night", NIGHT - dt.timedelta(days=1))
    qa = JobRunner(service.wiring.with_clock(lambda: AT_QA))
    assert qa.run("qa", lambda ctx: qa_job(ctx, checks=["lag_check"])) == 1
    _fetch("f-tonight", NIGHT)
    assert qa.run("qa", lambda ctx: qa_job(ctx, checks=["lag_check"])) == 0
    last = CronStatus.select().where(CronStatus.job == "qa").order_by(CronStatus.id.desc()).first()
    assert last.detail["gate"]["fetch_run"] == "f-tonight" and last.detail["as_of"] == "2025-12-29"
