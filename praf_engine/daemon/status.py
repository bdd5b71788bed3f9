"""`praf-engine status [--json]`: the home's scheduler (who runs it where since when, its last beat, each job's next
run) and the last run of every job, from scheduler_beat and cron_status."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.table import Table

from praf_engine.daemon.host import BEAT_ROW, dead_reason
from praf_engine.db.models import CronStatus, SchedulerBeat


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


def scheduler_status(now: dt.datetime, jobs: Iterable[str], stale_after_s: float) -> dict[str, Any]:
    """The status document: ``scheduler`` (state running / stale / stopped / none) and ``jobs`` (next and last run)."""
    beat = SchedulerBeat.get_or_none(SchedulerBeat.name == BEAT_ROW)
    sched: dict[str, Any] = {"state": "none"}
    next_runs: dict[str, str] = {}
    if beat is not None:
        why = dead_reason(beat, now, stale_after_s)
        state = "stopped" if beat.stopped_at is not None else "stale" if why else "running"
        next_runs = dict(beat.next_runs or {}) if state == "running" else {}
        sched = {"state": state, "mode": beat.mode, "pid": beat.pid, "host": beat.host, "version": beat.version,
                 "started_at": _iso(beat.started_at), "beat_at": _iso(beat.beat_at),
                 "beat_age_s": round((now - beat.beat_at).total_seconds(), 1), "stopped_at": _iso(beat.stopped_at),
                 "dead_because": why if state == "stale" else None, "next_runs": next_runs}
    rows = []
    for job in jobs:
        last = CronStatus.select().where(CronStatus.job == job).order_by(CronStatus.started_at.desc(), CronStatus.id.desc()).first()
        run = None
        if last is not None:
            end = last.finished_at
            run = {"run_id": last.run_id, "started_at": _iso(last.started_at), "finished_at": _iso(end),
                   "exit_code": last.exit_code, "error_code": last.error_code, "trigger": last.trigger,
                   "duration_s": round((end - last.started_at).total_seconds(), 1) if end else None,
                   "running": end is None}
        rows.append({"job": job, "next_run": next_runs.get(job), "last_run": run})
    return {"now": _iso(now), "scheduler": sched, "jobs": rows}


def _ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86400:.1f} days ago"


def headline(doc: dict[str, Any]) -> str:
    s = doc["scheduler"]
    if s["state"] == "none":
        return "no scheduler has ever run in this home (start one: `praf-engine daemon`)"
    who = f"{s['mode']} pid {s['pid']} on {s['host']}"
    if s["state"] == "running":
        return f"scheduler: running ({who}) since {s['started_at']} UTC, last beat {_ago(s['beat_age_s'])}"
    if s["state"] == "stopped":
        return f"no scheduler: the last one ({who}) stopped cleanly at {s['stopped_at']} UTC"
    return f"no scheduler: the last one ({who}) is not beating (last beat {_ago(s['beat_age_s'])}; {s['dead_because']})"


def print_status(doc: dict[str, Any], as_json: bool, console: Console | None = None) -> None:
    if as_json:
        print(json.dumps(doc, indent=2))
        return
    out = console or Console()
    out.print(headline(doc), markup=False, style=None if doc["scheduler"]["state"] == "running" else "red")
    table = Table(title="jobs (times UTC)")
    for column in ("job", "next run", "last start", "exit", "code", "duration", "trigger"):
        table.add_column(column)
    def short(iso: str | None) -> str | None:
        return iso.replace("T", " ")[:16] if iso else None

    for row in doc["jobs"]:
        run = row["last_run"] or {}
        exit_text = "running" if run.get("running") else "" if run.get("exit_code") is None else str(run["exit_code"])
        table.add_row(row["job"], short(row["next_run"]) or "-", short(run.get("started_at")) or "never", exit_text,
                      run.get("error_code") or "", "" if run.get("duration_s") is None else f"{run['duration_s']:g} s",
                      run.get("trigger") or "")
    out.print(table)
