"""`praf-engine status`: the scheduler, each job's last run, and the progress of every running run (job_progress)."""

from __future__ import annotations

import datetime as dt
import io

from rich.console import Console

from praf_engine.daemon.status import print_status, scheduler_status
from praf_engine.db.models import CronStatus, JobProgress

NOW = dt.datetime(2026, 3, 2, 1, 10)


def test_status_shows_the_progress_of_a_running_run_and_the_last_run_of_the_others(service) -> None:
    CronStatus.create(job="scrape", run_id="s1", started_at=NOW - dt.timedelta(days=1), finished_at=NOW - dt.timedelta(days=1, minutes=-3),
                      exit_code=0, trigger="daemon")
    CronStatus.create(job="fetch", run_id="f1", started_at=NOW - dt.timedelta(minutes=10), trigger="request", host="h1", pid=4242)
    CronStatus.create(job="qa", run_id="q1", started_at=NOW - dt.timedelta(minutes=1), trigger="daemon", host="h1", pid=4243)
    JobProgress.create(run_id="f1", job="fetch", stage="batches", done=12, total=40, rows=3100, errors=1,
                       updated_at=NOW - dt.timedelta(seconds=2), stop_requested=True)
    doc = scheduler_status(NOW, ["scrape", "fetch", "qa"], 60)
    assert doc["scheduler"] == {"state": "none"}
    assert [r["run_id"] for r in doc["running"]] == ["f1", "q1"]
    fetch = doc["running"][0]
    assert (fetch["done"], fetch["total"], fetch["rows"], fetch["errors"], fetch["stop_requested"]) == (12, 40, 3100, 1, True)
    assert doc["jobs"][1]["last_run"]["running"] is True and doc["jobs"][0]["last_run"]["exit_code"] == 0
    out = io.StringIO()
    print_status(doc, False, Console(file=out, width=200))
    text = out.getvalue()
    assert ("running: fetch run f1 (request, pid 4242 on h1): batches 12/40 (30 %), 3,100 rows, 1 errors, reported 2 s ago; "
            "stop requested") in text
    assert "running: qa run q1 (daemon, pid 4243 on h1): no progress reported yet" in text
    assert "no scheduler has ever run in this home" in text
