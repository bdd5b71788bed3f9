"""QA's gate and its night: a QA run judges the night's fetch, so it waits for that fetch to have succeeded and for
no fetch of the home to be running. Apart from the runner (and light: models and locks only) because the Scheduler
screen asks the same gate on every poll (``control.gates``) and must not import the checks, the lake or pandas."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from praf_engine.db.models import CronStatus
from praf_engine.errors import PipelineError
from praf_engine.fetch.tracker import fetch_night
from praf_engine.jobs.runner import HOST, live_lock

RECENT_FETCHES = 200  # finished fetch runs looked at for the night's (their night is in cron_status.detail)


def qa_night(clock: Callable[[], Any]) -> dt.date:
    """The night a QA run belongs to, by the fetch's own definition (``fetch.tracker.fetch_night``): the date of the
    job's clock (UTC; the sandbox's clock gives its market date). The seed's 01:00 UTC fetch and 01:45 UTC QA share
    one night."""
    return fetch_night(clock)


def default_as_of(night: dt.date) -> dt.date:
    """QA judges the sessions before its night: the night's fetch (01:00 UTC) has the previous day's closes."""
    return night - dt.timedelta(days=1)


def _fetch_night_of(row: CronStatus) -> dt.date:
    """The night a fetch run served: as it recorded it, else (stopped before planning) as it would have computed it:
    the date it started by its job clock."""
    recorded = (row.detail or {}).get("night")
    if recorded:
        return dt.date.fromisoformat(str(recorded)[:10])
    return qa_night(lambda: row.started_at)


def check_gate(night: dt.date, force: bool) -> dict[str, Any]:
    """QA runs on the night's fetch: refuse (QAGATE, saying why and what to do) while a fetch of the home is running —
    even forced — and, unless forced, when no fetch of ``night`` succeeded (none ran yet, or it failed)."""
    info: dict[str, Any] = {"night": night.isoformat(), "forced": force, "fetch_run": None}
    lock = live_lock("fetch")  # the job runner's rule: a dead process's lock on this host is stale, and removed
    if lock is not None:
        info.update(running_fetch=lock.run_id, reason="fetch_running")
        unlock = (" If that fetch is gone for good (a crashed run on another host), clear its lock with "
                  "`praf-engine run fetch --unlock`." if lock.host != HOST else "")
        raise PipelineError("QAGATE", f"a fetch of this home is running now (run {lock.run_id}, {lock.holder}, since "
                            f"{lock.acquired_at:%Y-%m-%d %H:%M} UTC): QA would judge a lake that is still being written. Wait for "
                            "it to finish, then run `praf-engine qa` again; --force does not override this (it only overrides "
                            f"a missing or failed fetch).{unlock}", info)
    rows = list(CronStatus.select().where(CronStatus.job == "fetch", CronStatus.finished_at.is_null(False))
                .order_by(CronStatus.started_at.desc(), CronStatus.id.desc()).limit(RECENT_FETCHES))
    tonight = [r for r in rows if _fetch_night_of(r) == night]
    ok = next((r for r in tonight if r.exit_code == 0), None)
    if ok is not None:
        info.update(fetch_run=ok.run_id, fetch_exit=0)
        return info
    last = tonight[0] if tonight else rows[0] if rows else None
    info.update(fetch_run=last.run_id if last else None, fetch_exit=last.exit_code if last else None)
    if force:
        return info
    force_hint = "or `praf-engine qa --force` to check the lake as it is"
    info["reason"] = "no_fetch" if last is None else "not_tonight" if not tonight else "fetch_failed"
    if last is None:
        raise PipelineError("QAGATE", f"no fetch has ever run in this home, so there is nothing fresh to check; run the fetch "
                            f"first (`praf-engine fetch`), {force_hint}", info)
    if not tonight:
        raise PipelineError("QAGATE", f"no fetch has run for night {night} yet (the last one, {last.run_id}, was for night "
                            f"{_fetch_night_of(last)}, exit {last.exit_code}): QA checks the night's fetch (fetch 01:00 "
                            f"UTC, QA 01:45 UTC); run `praf-engine fetch` first, {force_hint}", info)
    raise PipelineError("QAGATE", f"tonight's fetch (night {night}: {last.run_id}, started {last.started_at:%Y-%m-%d %H:%M} UTC) "
                        f"exited with {last.exit_code} ({last.error_code or 'no code'}); fix or rerun it "
                        f"(docs/runbooks/job_failures.md), {force_hint}", info)
