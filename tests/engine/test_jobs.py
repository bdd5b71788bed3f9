"""The job runner: a cron_status row for every run (success, failure, crash, kill), locks and run_id logging."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from praf_engine.db.models import CronStatus, JobLock
from praf_engine.errors import PipelineError
from praf_engine.jobs.runner import HOST, JobContext, JobRunner
from tests.conftest import REPO


def _run(service, job, fn):
    return JobRunner(service.wiring).run(job, fn)


def test_success_records_a_finished_row(service) -> None:
    def job(ctx: JobContext) -> int:
        ctx.detail["symbols"] = 3
        return 0

    assert _run(service, "fetch", job) == 0
    row = CronStatus.get()
    assert (row.job, row.exit_code, row.error_code) == ("fetch", 0, None)
    assert row.finished_at >= row.started_at and row.detail == {"symbols": 3}
    assert JobLock.select().count() == 0


def test_pipeline_error_gives_its_code_and_exit(service) -> None:
    def job(ctx: JobContext) -> int:
        raise PipelineError("UNIVERSESTALE", "universe is 40 days old", {"age_days": 40})

    assert _run(service, "fetch", job) == 1
    row = CronStatus.get()
    assert (row.exit_code, row.error_code) == (1, "UNIVERSESTALE")
    assert row.detail["error"]["detail"] == {"age_days": 40}


def test_crash_is_recorded_as_internal_and_logged_with_run_id(service) -> None:
    def job(ctx: JobContext) -> int:
        return {}["missing"]

    assert _run(service, "qa", job) == 1
    row = CronStatus.get()
    assert (row.exit_code, row.error_code) == (1, "INTERNAL")
    lines = [json.loads(x) for x in (service.settings.logs_dir / "app.jsonl").read_text().splitlines()]
    crash = [x for x in lines if x["error_code"] == "INTERNAL"]
    assert crash and crash[0]["run_id"] == row.run_id and crash[0]["job"] == "qa"
    assert "KeyError" in crash[0]["stack"]
    assert all(x["run_id"] == row.run_id for x in lines if x["job"] == "qa")


def test_non_zero_return_is_kept(service) -> None:
    assert _run(service, "qa", lambda ctx: 3) == 3
    assert CronStatus.get().exit_code == 3


def test_a_running_job_is_locked(service) -> None:
    inner: list[int] = []

    def outer(ctx: JobContext) -> int:
        with pytest.raises(PipelineError) as err:
            from praf_engine.jobs.runner import acquire_lock

            acquire_lock("fetch", "another-run")
        assert err.value.error_code == "JOBLOCKED"
        inner.append(_run(service, "fetch", lambda c: 0))
        return 0

    assert _run(service, "fetch", outer) == 0
    assert inner == [1]
    codes = sorted((r.exit_code, r.error_code or "") for r in CronStatus.select())
    assert codes == [(0, ""), (1, "JOBLOCKED")]


def test_stop_request_finishes_and_exits_130(service) -> None:
    def job(ctx: JobContext) -> int:
        batches = 0
        for _ in range(10):
            batches += 1
            if batches == 2:
                ctx.stop.set()  # what SIGTERM does
            if ctx.stopping:
                break
        ctx.detail["batches"] = batches
        return 0

    assert _run(service, "fetch", job) == 130
    row = CronStatus.get()
    assert (row.error_code, row.detail) == ("INTERRUPTED", {"batches": 2})


def test_killed_run_is_recorded_at_next_start_and_its_lock_freed(service) -> None:
    """SIGKILL cannot be caught: the next run marks the orphan row JOBKILLED and takes over the stale lock."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    pid = int(dead.stdout)
    CronStatus.create(job="fetch", run_id="orphan", pid=pid, host=HOST)
    JobLock.create(job="fetch", run_id="orphan", holder=f"{pid}@{HOST}", pid=pid, host=HOST)
    assert _run(service, "fetch", lambda ctx: 0) == 0
    orphan = CronStatus.get(CronStatus.run_id == "orphan")
    assert (orphan.exit_code, orphan.error_code) == (137, "JOBKILLED")
    assert orphan.finished_at is not None


def test_sigterm_in_a_real_process_commits_and_exits_non_zero(service, tmp_path, backend) -> None:
    """A real `praf-engine`-like process gets SIGTERM mid-job: its row is finished with 130 and the work kept."""
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent(f"""
        import os, signal, sys
        from tests.conftest import make_settings
        from praf_engine.service import EngineService
        from praf_engine.jobs.runner import JobRunner
        from pathlib import Path
        s = make_settings(Path({str(service.settings.home)!r}), {backend!r})
        svc = EngineService.open(s)
        def job(ctx):
            done = 0
            while not ctx.stopping:
                done += 1
                if done == 3:
                    os.kill(os.getpid(), signal.SIGTERM)
            ctx.detail["batches"] = done
            return 0
        sys.exit(JobRunner(svc.wiring).run("fetch", job))
    """))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 130, proc.stderr
    row = CronStatus.get()
    assert (row.exit_code, row.error_code, row.detail["batches"]) == (130, "INTERRUPTED", 3)
