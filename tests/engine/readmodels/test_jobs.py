"""The jobs read model through EngineService: the job list with each job's last run, the latest runs, and running a
job from the TUI (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from praf_engine.db.models import CronStatus

DAY = dt.date(2025, 6, 6)


@pytest.mark.parametrize("name", ["nope", "", "../retention", "RETENTION"])
def test_run_job_of_an_unknown_job_is_configbad_and_records_nothing(service: Any, name: str) -> None:
    from praf_engine.errors import PipelineError

    with pytest.raises(PipelineError) as exc:
        service.run_job(name)
    assert exc.value.error_code == "CONFIGBAD"
    assert CronStatus.select().count() == 0


def test_last_runs_newest_first(service: Any) -> None:
    from praf_engine.jobs.runner import JobRunner

    runner = JobRunner(service.wiring)
    runner.run("vacuum", lambda ctx: 0)
    runner.run("retention", lambda ctx: 2)
    runs = service.dashboard_snapshot(DAY).runs
    assert [(r.job, r.exit_code) for r in runs] == [("retention", 2), ("vacuum", 0)]


def test_jobs_and_running_retention_from_the_tui(service: Any) -> None:
    from praf_engine.jobs.registry import JOBS

    def jobs() -> dict[str, Any]:
        return {j.name: j for j in service.dashboard_snapshot(DAY).jobs}

    listed = jobs()
    assert list(listed) == list(JOBS)
    assert all(j.summary == JOBS[j.name].summary and j.last_started is None and j.last_exit_code is None and not j.running
               for j in listed.values())
    run = service.run_job("retention")
    assert (run.job, run.trigger, run.exit_code, run.error_code) == ("retention", "tui", 0, None)
    assert run.finished_at is not None and run.finished_at >= run.started_at
    row = CronStatus.get(CronStatus.run_id == run.run_id)
    assert (row.job, row.trigger, row.exit_code) == ("retention", "tui", 0)
    info = jobs()["retention"]
    assert (info.last_exit_code, info.last_error_code, info.running) == (0, None, False)
    assert info.last_started == run.started_at
    assert service.dashboard_snapshot(DAY).runs[0] == run
    # a run still in flight (no finished_at) shows as running; the newest run wins
    CronStatus.create(job="vacuum", run_id="in-flight", started_at=dt.datetime(2030, 1, 1), trigger="cli")
    assert jobs()["vacuum"].running is True
