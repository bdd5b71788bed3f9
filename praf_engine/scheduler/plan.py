"""The scheduler's table (seed §1.3, §8.2) built from ``settings.schedule``: when each job runs, in which order, and
how long a missed run may still be caught up. Pure arithmetic on datetimes (naive UTC in, naive UTC out)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from praf_engine.config import ScheduleSettings, Settings
from praf_engine.errors import PipelineError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# Dependency order (seed §1.3): a later job of one night never starts before an earlier one that is due.
ORDER = ("scrape", "fetch", "qa", "alerts", "backup", "vacuum", "retention")


@dataclass(frozen=True)
class Slot:
    """One scheduled run: ``job`` at ``at`` (naive UTC). ``key`` is what the run's ``cron_status.detail["slot"]`` holds."""

    job: str
    at: dt.datetime

    @property
    def key(self) -> str:
        return self.at.isoformat(timespec="minutes")

    @property
    def order(self) -> tuple[dt.datetime, int]:
        return self.at, ORDER.index(self.job)


@dataclass(frozen=True)
class PlannedJob:
    """A job of the table: daily at ``time``, or only on ``weekday`` (weekly) or on day ``day`` of the month (monthly);
    ``window``: how long after its time a missed run still starts (once)."""

    name: str
    time: dt.time
    window: dt.timedelta
    setting: str  # the key of its time, e.g. schedule.fetch_time (named in errors)
    weekday: str | None = None
    day: int | None = None

    @property
    def cadence(self) -> str:
        return "monthly" if self.day is not None else "weekly" if self.weekday is not None else "daily"

    def occurs_on(self, day: dt.date) -> bool:
        """The guard `schedule` cannot express for the monthly job (day of month), written once for all three."""
        if self.day is not None:
            return day.day == self.day
        if self.weekday is not None:
            return WEEKDAYS[day.weekday()] == self.weekday
        return True


@dataclass(frozen=True)
class Plan:
    """The table in one time zone. ``slots`` and ``next_slot`` answer in naive UTC."""

    zone: ZoneInfo
    jobs: tuple[PlannedJob, ...]
    qa_wait_deadline: dt.time

    def job(self, name: str) -> PlannedJob:
        return next(j for j in self.jobs if j.name == name)

    def _at(self, job: PlannedJob, day: dt.date) -> dt.datetime:
        local = dt.datetime.combine(day, job.time, tzinfo=self.zone)  # a time in a DST gap: zoneinfo's fold=0 reading
        return local.astimezone(dt.UTC).replace(tzinfo=None)

    def _local_day(self, at: dt.datetime) -> dt.date:
        return at.replace(tzinfo=dt.UTC).astimezone(self.zone).date()

    def _slots(self, job: PlannedJob, start: dt.datetime, end: dt.datetime) -> Iterator[Slot]:
        day = self._local_day(start) - dt.timedelta(days=1)
        last = self._local_day(end) + dt.timedelta(days=1)
        while day <= last:
            if job.occurs_on(day):
                at = self._at(job, day)
                if start < at <= end:
                    yield Slot(job.name, at)
            day += dt.timedelta(days=1)

    def slots(self, start: dt.datetime, end: dt.datetime, jobs: tuple[str, ...] | None = None) -> list[Slot]:
        """Every slot with ``start < at <= end``, in time and then dependency order."""
        chosen = [j for j in self.jobs if jobs is None or j.name in jobs]
        return sorted((s for j in chosen for s in self._slots(j, start, end)), key=lambda s: s.order)

    def latest_slot(self, name: str, now: dt.datetime) -> Slot | None:
        """The job's last slot at or before ``now`` (looking back at most 32 days)."""
        found = self.slots(now - dt.timedelta(days=32), now, (name,))
        return found[-1] if found else None

    def next_slot(self, name: str, now: dt.datetime) -> Slot:
        """The job's first slot after ``now``."""
        return self.slots(now, now + dt.timedelta(days=32), (name,))[0]

    def qa_deadline(self, slot: Slot) -> dt.datetime:
        """Until when QA's ``slot`` may wait for a running fetch: ``qa_wait_deadline`` on the slot's local day."""
        day = self._local_day(slot.at)
        local = dt.datetime.combine(day, self.qa_wait_deadline, tzinfo=self.zone)
        return local.astimezone(dt.UTC).replace(tzinfo=None)


def _time(value: str, key: str) -> dt.time:
    try:
        return dt.time.fromisoformat(value)
    except ValueError:
        raise PipelineError("CONFIGBAD", f"schedule.{key} = {value!r} is not a 24-hour time HH:MM", {"setting": f"schedule.{key}"}) from None


def build_plan(settings: Settings | ScheduleSettings, registered: frozenset[str] | set[str] | None = None) -> Plan:
    """The table from the settings: scrape on ``scrape_day`` at ``scrape_time``, fetch, QA, alerts, backup and
    retention daily, VACUUM on ``vacuum_weekday``. ``registered`` (job names this version has; default: all) leaves
    out the others (the scheduler logs them). An unknown zone, time or day is CONFIGBAD naming its key."""
    s = settings.schedule if isinstance(settings, Settings) else settings
    try:
        zone = ZoneInfo(s.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise PipelineError("CONFIGBAD", f"schedule.timezone = {s.timezone!r} is not a known time zone (IANA name, e.g. UTC)",
                            {"setting": "schedule.timezone"}) from None
    if not 1 <= s.scrape_day <= 28:
        raise PipelineError("CONFIGBAD", f"schedule.scrape_day = {s.scrape_day} must be a day 1..28 (every month has it)",
                            {"setting": "schedule.scrape_day"})
    if s.vacuum_weekday not in WEEKDAYS:
        raise PipelineError("CONFIGBAD", f"schedule.vacuum_weekday = {s.vacuum_weekday!r} is not a weekday",
                            {"setting": "schedule.vacuum_weekday"})
    nightly, weekly = dt.timedelta(hours=s.catchup_nightly_h), dt.timedelta(hours=s.catchup_weekly_h)
    jobs = (
        PlannedJob("scrape", _time(s.scrape_time, "scrape_time"), dt.timedelta(days=s.catchup_scrape_days), "schedule.scrape_time", day=s.scrape_day),
        PlannedJob("fetch", _time(s.fetch_time, "fetch_time"), nightly, "schedule.fetch_time"),
        PlannedJob("qa", _time(s.qa_time, "qa_time"), nightly, "schedule.qa_time"),
        PlannedJob("alerts", _time(s.alerts_time, "alerts_time"), nightly, "schedule.alerts_time"),
        PlannedJob("backup", _time(s.backup_time, "backup_time"), nightly, "schedule.backup_time"),
        PlannedJob("vacuum", _time(s.vacuum_time, "vacuum_time"), weekly, "schedule.vacuum_time", weekday=s.vacuum_weekday),
        PlannedJob("retention", _time(s.archival_time, "archival_time"), nightly, "schedule.archival_time"),
    )
    deadline = _time(s.qa_wait_deadline, "qa_wait_deadline")
    if deadline <= jobs[2].time:
        raise PipelineError("CONFIGBAD", f"schedule.qa_wait_deadline = {s.qa_wait_deadline} must be later than schedule.qa_time "
                            f"({s.qa_time})", {"setting": "schedule.qa_wait_deadline"})
    if registered is not None:
        jobs = tuple(j for j in jobs if j.name in registered)
    return Plan(zone=zone, jobs=jobs, qa_wait_deadline=deadline)
