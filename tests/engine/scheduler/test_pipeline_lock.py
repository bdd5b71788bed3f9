"""One pipeline lock: scrape, fetch, QA and VACUUM never overlap in one home, whichever process starts them; other
jobs (retention, backup) are not held up; a dead holder's lock is taken over; `run --unlock` frees it too."""

from __future__ import annotations

import subprocess
import threading
from typing import Any

import pytest

from praf_engine.db.models import CronStatus, JobLock
from praf_engine.jobs.runner import HOST, PIPELINE, JobContext, JobRunner, pipeline_holder
from tests.engine.conftest import PRAF_ENGINE, subprocess_env


def _holding(service: Any, job: str) -> tuple[threading.Thread, threading.Event, threading.Event]:
    """``job`` running in a thread until released."""
    inside, release = threading.Event(), threading.Event()

    def fn(ctx: JobContext) -> int:
        inside.set()
        assert release.wait(30)
        return 0

    thread = threading.Thread(target=JobRunner(service.wiring).run, args=(job, fn))
    thread.start()
    assert inside.wait(30)
    return thread, inside, release


@pytest.mark.parametrize("second", ["scrape", "qa", "vacuum"])
def test_a_pipeline_job_is_refused_while_another_runs(service: Any, second: str) -> None:
    thread, _, release = _holding(service, "fetch")
    try:
        assert pipeline_holder() == "fetch"
        ran: list[str] = []
        code = JobRunner(service.wiring).run(second, lambda ctx: ran.append(ctx.job) or 0)
        assert code == 1 and ran == []
        row = CronStatus.get(CronStatus.job == second)
        assert row.error_code == "JOBLOCKED"
        assert "fetch is running" in row.detail["error"]["msg"] and row.detail["error"]["detail"]["running"] == "fetch"
    finally:
        release.set()
        thread.join()
    assert pipeline_holder() is None and JobLock.select().count() == 0
    assert JobRunner(service.wiring).run(second, lambda ctx: 0) == 0  # free again


def test_jobs_outside_the_pipeline_run_beside_it(service: Any) -> None:
    thread, _, release = _holding(service, "fetch")
    try:
        assert JobRunner(service.wiring).run("retention", lambda ctx: 0) == 0
        assert JobRunner(service.wiring).run("backup", lambda ctx: 0) == 0
    finally:
        release.set()
        thread.join()


def test_a_dead_holders_pipeline_lock_is_taken_over(service: Any) -> None:
    dead = 2**22 + 12345  # above the default pid_max: no process has it
    for job in ("fetch", PIPELINE):
        JobLock.create(job=job, run_id="r-dead", holder=f"{dead}@{HOST}", pid=dead, host=HOST)
    assert pipeline_holder() is None  # stale: removed
    assert JobRunner(service.wiring).run("scrape", lambda ctx: 0) == 0


def test_unlock_frees_the_pipeline_lock_of_that_run(settings: Any, service: Any) -> None:
    for job in ("fetch", PIPELINE):  # a crashed fetch of another host: its locks cannot be checked
        JobLock.create(job=job, run_id="r-other", holder="1@elsewhere", pid=1, host="elsewhere")
    assert pipeline_holder() == "fetch"
    env = subprocess_env() | ({"DATABASE_URL": settings.database_url.get_secret_value()} if settings.database_url else {})
    done = subprocess.run([str(PRAF_ENGINE), "--home", str(settings.home), "run", "fetch", "--unlock"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert pipeline_holder() is None and JobLock.select().count() == 0
