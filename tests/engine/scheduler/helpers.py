"""A settable clock and the loop a scheduler host runs, for driving PipelineScheduler through simulated time."""

from __future__ import annotations

import datetime as dt
import threading

from praf_engine.db.models import CronStatus
from praf_engine.scheduler.core import PipelineScheduler


class FakeClock:
    """'Now' (naive UTC) that only moves when the test moves it."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> dt.datetime:
        with self._lock:
            return self.now

    def set(self, when: dt.datetime) -> None:
        with self._lock:
            assert when >= self.now, "time runs forward"
            self.now = when


def settle(scheduler: PipelineScheduler, rounds: int = 200) -> None:
    """run_pending and join the job thread until nothing is queued or running (no sleeping: joins the thread)."""
    for _ in range(rounds):
        scheduler.run_pending()
        assert scheduler.wait_idle(60), f"job {scheduler.running} did not finish"
        if not scheduler.queued:
            scheduler.run_pending()
            if not scheduler.queued and scheduler.running is None:
                return
            assert scheduler.wait_idle(60)
    raise AssertionError(f"the scheduler did not settle: queued {scheduler.queued}")


def advance(scheduler: PipelineScheduler, clock: FakeClock, until: dt.datetime) -> None:
    """Let what is due now run, then move the clock from scheduled time to scheduled time up to ``until``, letting
    every due job run at its time."""
    settle(scheduler)
    while True:
        upcoming = min(scheduler.next_runs().values())
        if upcoming > until:
            clock.set(until)
            settle(scheduler)
            return
        clock.set(upcoming)
        settle(scheduler)


def history(since: dt.datetime | None = None) -> list[tuple[str, str, int | None, str | None]]:
    """(job, slot, exit code, error code) of every cron_status row, in start order."""
    q = CronStatus.select().order_by(CronStatus.started_at, CronStatus.id)
    if since is not None:
        q = q.where(CronStatus.started_at >= since)
    return [(r.job, (r.detail or {}).get("slot", "-"), r.exit_code, r.error_code) for r in q]
