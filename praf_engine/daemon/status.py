"""`praf-engine status [--json]`: the home's scheduler (who runs it where since when, its last beat, each job's next
run), the last run of every job and the progress of every running one (whatever process runs it), from
scheduler_beat, cron_status and job_progress (the Scheduler screen's read model)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.table import Table

from praf_engine.daemon.host import BEAT_ROW, dead_reason
from praf_engine.db.models import CronStatus, SchedulerBeat
from praf_engine.readmodels.scheduler import running


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
    progress = [{"job": r.job, "run_id": r.run_id, "started_at": _iso(r.started_at), "trigger": r.trigger, "host": r.host,
                 "pid": r.pid, "stage": r.stage, "done": r.done, "total": r.total, "rows": r.rows, "errors": r.errors,
                 "updated_at": _iso(r.updated_at), "stop_requested": r.stop_requested} for r in running()]
    return {"now": _iso(now), "scheduler": sched, "jobs": rows, "running": progress}


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
    for run in doc.get("running", []):
        out.print(progress_line(run, doc["now"]), markup=False)


def progress_line(run: dict[str, Any], now: str) -> str:
    """``fetch run 1a2b… (daemon, pid 42 on h): batches 12/40 (30 %), 3,100 rows, 0 errors, reported 1 s ago``."""
    where = f"{run['trigger'] or '?'}, pid {run['pid']} on {run['host']}"
    if run["updated_at"] is None:
        done = "no progress reported yet"
    else:
        total = f"/{run['total']:,} ({100 * min(1.0, run['done'] / run['total']):.0f} %)" if run["total"] else ""
        age = (dt.datetime.fromisoformat(now) - dt.datetime.fromisoformat(run["updated_at"])).total_seconds()
        done = (f"{run['stage'] or 'working'} {run['done']:,}{total}, {run['rows']:,} rows, {run['errors']:,} errors, "
                f"reported {_ago(age)}")
    stop = "; stop requested" if run["stop_requested"] else ""
    return f"running: {run['job']} run {run['run_id']} ({where}): {done}{stop}"
