"""The scheduler's table: slots of each cadence, time zones across DST, the QA deadline, and bad settings
(CONFIGBAD naming the key, from settings.toml as an operator writes it)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from praf_engine.config import ScheduleSettings
from praf_engine.errors import PipelineError
from praf_engine.scheduler.plan import Slot, build_plan
from tests.engine.conftest import configbad, load_from


def _plan(**schedule: object):  # noqa: ANN202 - a Plan
    return build_plan(ScheduleSettings(**schedule))


def test_the_seeds_table_in_utc() -> None:
    plan = _plan()
    start, end = dt.datetime(2026, 2, 28, 12, 0), dt.datetime(2026, 3, 2, 12, 0)  # Sat noon .. Mon noon
    assert [(s.job, s.key) for s in plan.slots(start, end)] == [
        ("scrape", "2026-03-01T00:05"), ("fetch", "2026-03-01T01:00"), ("qa", "2026-03-01T01:45"), ("alerts", "2026-03-01T02:00"),
        ("backup", "2026-03-01T02:15"), ("retention", "2026-03-01T03:00"),
        ("fetch", "2026-03-02T01:00"), ("qa", "2026-03-02T01:45"), ("alerts", "2026-03-02T02:00"),
        ("backup", "2026-03-02T02:15"), ("vacuum", "2026-03-02T02:30"), ("retention", "2026-03-02T03:00")]
    assert [s.key for s in plan.slots(start - dt.timedelta(days=40), end, ("scrape",))] == ["2026-02-01T00:05", "2026-03-01T00:05"]
    assert plan.next_slot("scrape", dt.datetime(2026, 3, 1, 0, 5)) == Slot("scrape", dt.datetime(2026, 4, 1, 0, 5))
    assert plan.latest_slot("vacuum", dt.datetime(2026, 3, 8, 23, 0)) == Slot("vacuum", dt.datetime(2026, 3, 2, 2, 30))
    assert plan.qa_deadline(Slot("qa", dt.datetime(2026, 3, 2, 1, 45))) == dt.datetime(2026, 3, 2, 4, 0)


def test_a_zone_with_daylight_saving_keeps_the_local_time() -> None:
    plan = _plan(timezone="Europe/Berlin", scrape_day=28, vacuum_weekday="sunday")
    # DST starts on Sunday 2026-03-29 in Europe: 01:00 local is 00:00 UTC before, 23:00 UTC of the day before after
    fetches = [s.key for s in plan.slots(dt.datetime(2026, 3, 26, 12), dt.datetime(2026, 3, 31), ("fetch",))]
    assert fetches == ["2026-03-27T00:00", "2026-03-28T00:00", "2026-03-29T00:00", "2026-03-29T23:00", "2026-03-30T23:00"]
    assert plan.next_slot("scrape", dt.datetime(2026, 3, 1)).key == "2026-03-27T23:05"  # 00:05 on the 28th, Berlin
    # 02:30 does not exist that Sunday (02:00 -> 03:00): it runs at 03:30 CEST, an hour late, as `schedule` does too
    assert plan.next_slot("vacuum", dt.datetime(2026, 3, 23)).key == "2026-03-29T01:30"


@pytest.mark.parametrize(("toml", "key"), [
    ('timezone = "Mars/Olympus_Mons"', "timezone"),
    ('fetch_time = "25:00"', "fetch_time"),
    ('scrape_day = 31', "scrape_day"),
    ('vacuum_weekday = "caturday"', "vacuum_weekday"),
    ('qa_wait_deadline = "01:30"', "qa_wait_deadline"),
    ('catchup_nightly_h = 30', "catchup_nightly_h"),
])
def test_bad_schedule_settings_are_configbad_naming_the_key(dirs: tuple[Path, Path], toml: str, key: str) -> None:
    home, cwd = dirs
    (home / "settings.toml").write_text(f"[schedule]\n{toml}\n")
    msg = configbad(home, cwd)
    assert f"schedule.{key}" in msg and str(home / "settings.toml") in msg


def test_good_schedule_settings_load(dirs: tuple[Path, Path]) -> None:
    home, cwd = dirs
    (home / "settings.toml").write_text('[schedule]\ntimezone = "America/New_York"\nqa_wait_deadline = "05:00"\n')
    plan = build_plan(load_from(home, cwd))
    assert plan.next_slot("fetch", dt.datetime(2026, 1, 5)).key == "2026-01-05T06:00"


def test_the_plan_refuses_what_settings_did_not_check() -> None:
    """A ScheduleSettings built without validation (model_construct) still cannot make a wrong table."""
    bad = ScheduleSettings.model_construct(**{**ScheduleSettings().model_dump(), "timezone": "Nowhere/Land"})
    with pytest.raises(PipelineError) as err:
        build_plan(bad)
    assert err.value.error_code == "CONFIGBAD" and "schedule.timezone" in str(err.value)
