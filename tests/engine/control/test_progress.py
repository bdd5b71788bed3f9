"""The progress reporter: at most one database write a second whatever the job reports, the latest figures written,
a stop request read back into the stop flag, and a database error that never fails the job (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from praf_engine.control.progress import ProgressReporter, request_stop
from praf_engine.db.models import CronStatus, JobProgress


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _reporter(service: Any, ticks: Ticks, stop: threading.Event | None = None) -> ProgressReporter:
    CronStatus.create(job="fetch", run_id="r1", started_at=dt.datetime(2030, 1, 1))
    reporter = ProgressReporter("fetch", "r1", stop or threading.Event(), service.wiring.clock, monotonic=ticks)
    reporter.open()
    return reporter


def test_at_most_one_write_a_second_and_the_latest_figures_win(service: Any) -> None:
    ticks = Ticks()
    reporter = _reporter(service, ticks)
    for done in range(1, 51):  # 50 reports within one second: one write, the first
        reporter.report(stage="download", done=done, total=200, rows=done * 10, errors=0)
        ticks.now += 0.015
    assert reporter.writes == 1
    row = JobProgress.get(JobProgress.run_id == "r1")
    assert (row.stage, row.done, row.total, row.rows) == ("download", 1, 200, 10)
    ticks.now += 0.5  # a second after the first write: the next report writes the latest state
    reporter.report(errors=3)
    assert reporter.writes == 2
    row = JobProgress.get(JobProgress.run_id == "r1")
    assert (row.done, row.rows, row.errors, row.total) == (50, 500, 3, 200)
    reporter.close()
    assert JobProgress.select().count() == 0


def test_a_stop_request_sets_the_stop_flag_at_the_next_round_trip(service: Any) -> None:
    ticks, stop = Ticks(), threading.Event()
    reporter = _reporter(service, ticks, stop)
    reporter.report(done=1)
    assert request_stop(run_id="r1") == ("fetch", "r1")
    assert not reporter.stop_requested()  # within the second: not asked again
    ticks.now += 1.0
    assert reporter.stop_requested() and stop.is_set()


def test_reports_from_another_thread_are_kept_not_written(service: Any) -> None:
    ticks = Ticks()
    reporter = _reporter(service, ticks)
    worker = threading.Thread(target=lambda: reporter.report(stage="elsewhere", done=7))
    worker.start()
    worker.join(10)
    assert reporter.writes == 0 and reporter.state["done"] == 7
    reporter.report()
    assert JobProgress.get(JobProgress.run_id == "r1").done == 7


def test_a_database_error_is_logged_once_and_never_raised(service: Any) -> None:
    ticks = Ticks()
    reporter = _reporter(service, ticks)
    service.db.execute_sql("DROP TABLE job_progress")
    for _ in range(3):
        reporter.report(done=1)
        ticks.now += 2
    assert not reporter.stop_requested()
    reporter.close()
    assert reporter.writes == 0
