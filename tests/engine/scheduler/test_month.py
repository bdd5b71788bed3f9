"""A simulated month on the sandbox: a fake clock drives the real PipelineScheduler and the real jobs (scrape,
fetch, QA, alerts, backup, VACUUM, retention) through June 2025 in seconds. The test asserts the exact cron_status
sequence: the scrape on the 1st, fetch + QA + alerts + backup + retention each night, VACUUM on Mondays, a night Yahoo
fails (the fetch exits APIDOWN, QA is refused on it: QAGATE, and the alerts job sends both to the Telegram stub), the backup paused for three weeks (JOBPAUSED rows, honoured by the
restarted scheduler too), and a scheduler stopped for two days that catches up once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from praf_engine.db.models import CronStatus, JobControl
from praf_engine.jobs.registry import JOBS, JobSpec
from praf_engine.sandbox.faults import FaultConfig
from praf_engine.sandbox.market import Market
from praf_engine.sandbox.serve import Sandbox
from praf_engine.sandbox.telegram import DEFAULT_CHAT_ID, DEFAULT_TOKEN
from praf_engine.scheduler.core import PipelineScheduler
from praf_engine.universe.job import make_scrape_job
from tests.engine.fetch.conftest import home_settings
from tests.engine.scheduler.helpers import FakeClock, advance, history

START = dt.datetime(2025, 5, 31, 23, 50)  # a Saturday night; June 2025 begins on a Sunday
FAILED_NIGHT = dt.date(2025, 6, 10)
PAUSED = (dt.date(2025, 6, 8), dt.date(2025, 6, 28))  # backup paused by the operator (persisted), resumed
STOPPED = (dt.datetime(2025, 6, 14, 12, 0), dt.datetime(2025, 6, 17, 10, 0))  # no scheduler from Sat noon to Tue 10:00
END = dt.datetime(2025, 7, 1, 0, 0)


class MarketClock(FakeClock):
    """The fake clock, and the sandbox market's date following it (the market serves bars up to its today)."""

    def __init__(self, start: dt.datetime, market: Market) -> None:
        super().__init__(start)
        self.market = market
        market.today = start.date()

    def set(self, when: dt.datetime) -> None:
        super().set(when)
        self.market.today = when.date()


def _jobs() -> dict[str, JobSpec]:
    """The registry's jobs; the scrape without Euronext (no Chromium start in a test of the scheduler: the
    browser-backed scraper has its own tests)."""
    jobs = {name: JOBS[name] for name in ("fetch", "qa", "alerts", "backup", "vacuum", "retention")}
    jobs["scrape"] = JobSpec("scrape", "four exchanges", lambda: make_scrape_job(["nasdaq", "arca", "ftse", "dax"]))
    return jobs


@pytest.fixture
def month(tmp_path: Path, backend: str | None) -> Iterator[tuple[Any, Sandbox, MarketClock]]:
    from praf_engine.service import EngineService

    market = Market(size=20, seed=11, today=START.date(), faults=FaultConfig.none())
    sandbox = Sandbox(market, exits=0).start()
    settings = home_settings(tmp_path / "home", sandbox, backend, backup__keep=2, telegram_token=DEFAULT_TOKEN,
                             telegram_chat_id=str(DEFAULT_CHAT_ID), alerts__send_backoff_s=[0.0, 0.0])
    service = EngineService.open(settings)
    clock = MarketClock(START, market)
    try:
        yield service, sandbox, clock
    finally:
        service.close()
        sandbox.stop()


def _expected() -> list[tuple[str, str, int | None, str | None]]:
    rows: list[tuple[str, str, int | None, str | None]] = [("vacuum", "2025-05-26T02:30", 0, None)]  # caught up at start
    day = dt.date(2025, 6, 1)
    while day < END.date():
        at = day.isoformat()
        if STOPPED[0].date() < day < STOPPED[1].date():
            pass  # no scheduler: nights of the 15th and 16th are not run (the fetch's back-fill covers their data)
        elif day == STOPPED[1].date():  # caught up once at 10:00, in dependency order (VACUUM: Monday the 16th's)
            rows += [("fetch", f"{at}T01:00", 0, None), ("qa", f"{at}T01:45", 0, None), ("alerts", f"{at}T02:00", 0, None),
                     ("backup", f"{at}T02:15", 2, "JOBPAUSED"),
                     ("vacuum", "2025-06-16T02:30", 0, None), ("retention", f"{at}T03:00", 0, None)]
        else:
            if day.day == 1:
                rows.append(("scrape", f"{at}T00:05", 0, None))
            if day == FAILED_NIGHT:
                rows += [("fetch", f"{at}T01:00", 1, "APIDOWN"), ("qa", f"{at}T01:45", 1, "QAGATE")]
            else:
                rows += [("fetch", f"{at}T01:00", 0, None), ("qa", f"{at}T01:45", 0, None)]
            rows.append(("alerts", f"{at}T02:00", 0, None))
            rows.append(("backup", f"{at}T02:15", *((2, "JOBPAUSED") if PAUSED[0] <= day < PAUSED[1] else (0, None))))
            if day.weekday() == 0:
                rows.append(("vacuum", f"{at}T02:30", 0, None))
            rows.append(("retention", f"{at}T03:00", 0, None))
        day += dt.timedelta(days=1)
    return rows


@pytest.mark.slow
def test_a_month(month: tuple[Any, Sandbox, MarketClock]) -> None:
    service, sandbox, clock = month
    wiring = sandbox.wiring(service.settings, db=service.db).with_clock(clock)
    scheduler = PipelineScheduler(wiring, jobs=_jobs())
    scheduler.catch_up()
    advance(scheduler, clock, dt.datetime.combine(PAUSED[0], dt.time(0, 0)))
    JobControl.create(job="backup", paused=True, updated_by="test")
    advance(scheduler, clock, dt.datetime.combine(FAILED_NIGHT, dt.time(0, 59)))
    sandbox.market.faults = FaultConfig.from_mapping({"rates": {"http_500": 1.0}})  # Yahoo answers 500 to everything
    advance(scheduler, clock, dt.datetime.combine(FAILED_NIGHT, dt.time(1, 30)))
    sandbox.market.faults = FaultConfig.none()
    advance(scheduler, clock, STOPPED[0])
    scheduler.stop.set()
    assert scheduler.wait_idle(30)
    clock.set(STOPPED[1])
    restarted = PipelineScheduler(wiring, jobs=_jobs())
    assert restarted.catch_up() == ["fetch", "qa", "alerts", "backup", "vacuum", "retention"]
    advance(restarted, clock, dt.datetime.combine(PAUSED[1], dt.time(0, 0)))
    JobControl.update(paused=False).where(JobControl.job == "backup").execute()
    advance(restarted, clock, END)

    assert history() == _expected()
    texts = [m["text"] for m in sandbox.telegram.messages]  # the 02:00 alerts job delivered the failed night, once
    assert sum("[APIDOWN]" in t for t in texts) == 1 and sum("qa failed [QAGATE]" in t for t in texts) == 1
    rows = list(CronStatus.select().order_by(CronStatus.started_at, CronStatus.id))
    assert all(r.finished_at is not None for r in rows)
    caught_up = [r for r in rows if r.trigger == "catch-up"]
    assert [(r.job, r.error_code) for r in caught_up] == [("vacuum", None), ("fetch", None), ("qa", None), ("alerts", None),
                                                          ("backup", "JOBPAUSED"), ("vacuum", None), ("retention", None)]
    failed = CronStatus.get(CronStatus.job == "qa", CronStatus.error_code == "QAGATE")
    assert f"night {FAILED_NIGHT}" in failed.detail["error"]["msg"]  # QA refused on the failed fetch of that night
    after = CronStatus.get(CronStatus.job == "fetch", CronStatus.started_at == dt.datetime.combine(STOPPED[1].date(), dt.time(10, 0)))
    assert after.detail["night"] == STOPPED[1].date().isoformat()
