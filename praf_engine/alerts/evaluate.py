"""Evaluate the alert rules (rules.py) for one night and write what fires into the outbox, before any delivery.

A night is the fetch's night (``fetch.tracker.fetch_night``: the job clock's date); the night's job runs are those
that started on it, and its QA results are those of its as-of date (the day before). Each rule returns what fires and
which subjects it could judge clear tonight; an alert of this night or the one before whose subject is judged clear
becomes one "resolved" row (the digest shows it as a line). Enqueueing is idempotent on rule + subject + night
(``outbox.enqueue``), so the 02:00 job and every hourly watchdog may evaluate the same night again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from peewee import fn

from praf_engine.alerts.rules import HEADLINES, RULES, SEVERITY_ORDER, Firing
from praf_engine.db.models import AlertOutbox, CronStatus, QACheck, QAFailure, QASummary, SchedulerBeat
from praf_engine.errors import CATALOGUE, PipelineError
from praf_engine.logs import get_logger
from praf_engine.qa.catalog import CHECKS
from praf_engine.wiring import Wiring

log = get_logger(__name__)
QUIET_EXITS = (0, 130)  # success, and a run its operator stopped (INTERRUPTED)
OWN_JOBS = ("alerts", "watchdog")  # a failed alerts run is not alerted through the alerts it failed to send


@dataclass
class Verdict:
    """What one rule found tonight: what fires, and the subjects it judged clear (for "resolved")."""

    firings: list[Firing] = field(default_factory=list)
    clear: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Night:
    """The night evaluated, the as-of date of its QA run and the clock's now."""

    night: dt.date
    now: dt.datetime
    logs: str

    @property
    def as_of(self) -> dt.date:
        return self.night - dt.timedelta(days=1)  # qa.gate.default_as_of

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.combine(self.night, dt.time())

    @property
    def end(self) -> dt.datetime:
        return self.start + dt.timedelta(days=1)


def _runs(n: Night, job: str | None = None) -> list[CronStatus]:
    """Finished runs that started on the night, oldest first (a fetch by the night it recorded)."""
    q = CronStatus.select().where(CronStatus.finished_at.is_null(False),
                                  CronStatus.started_at >= n.start - dt.timedelta(days=1), CronStatus.started_at < n.end)
    if job:
        q = q.where(CronStatus.job == job)
    rows = [r for r in q.order_by(CronStatus.started_at, CronStatus.id) if _night_of(r) == n.night]
    return rows


def _night_of(row: CronStatus) -> dt.date:
    recorded = (row.detail or {}).get("night") if row.job == "fetch" else None
    return dt.date.fromisoformat(str(recorded)[:10]) if recorded else row.started_at.date()


def lag(n: Night, settings: Any) -> Verdict:
    v = Verdict()
    row = QASummary.get_or_none(QASummary.date == n.as_of, QASummary.check_name == "lag_check")
    if row is None or row.crashed:
        return v
    limit = settings.alerts.lag_universe_ratio
    if row.universe_size and row.fail_count / row.universe_size > limit:
        check = QACheck.get_or_none(QACheck.check_name == "lag_check")
        days = (check.threshold_params or {}).get("max_days_behind", settings.qa.lag_days) if check else settings.qa.lag_days
        v.firings.append(Firing("lag", "lag_check", {"failing": row.fail_count, "universe": row.universe_size, "days": days,
                                                      "pct": 100.0 * row.fail_count / row.universe_size, "limit": 100 * limit}))
    else:
        v.clear.add("lag_check")
    return v


def _top(details: dict[str, Any]) -> float:
    """A failure's weight for "top offenders": its largest absolute number (a move, a count, days behind)."""
    nums = [abs(float(x)) for x in (details or {}).values() if isinstance(x, int | float) and not isinstance(x, bool)]
    return max(nums, default=0.0)


def critical_check(n: Night, settings: Any) -> Verdict:
    v = Verdict()
    critical = {name for name, spec in CHECKS.items() if spec.severity == "critical" and name != "lag_check"}
    judged = {r.check_name for r in QASummary.select(QASummary.check_name).where(QASummary.date == n.as_of, QASummary.crashed == False)}  # noqa: E712
    rows = (QAFailure.select(QAFailure.check_name, QAFailure.symbol, QAFailure.details)
            .where(QAFailure.date == n.as_of, QAFailure.resolved == False, QAFailure.check_name != "lag_check",  # noqa: E712
                   (QAFailure.severity == "critical") | QAFailure.check_name.in_(sorted(critical))))
    by_check: dict[str, list[QAFailure]] = {}
    for r in rows:
        by_check.setdefault(r.check_name, []).append(r)
    for check, failures in sorted(by_check.items()):
        seen = _seen_before(check, n.as_of)
        new = sorted((r for r in failures if r.symbol not in seen), key=lambda r: (-_top(r.details), r.symbol))
        if not new:  # the same findings as the last QA date (alerted then, or triaged): quiet, still open
            continue
        top = ", ".join(r.symbol for r in new[:3]) + (" …" if len(new) > 3 else "")
        v.firings.append(Firing("critical_check", check, {"check": check, "count": len(failures), "new": len(new),
                                                          "as_of": n.as_of.isoformat(), "top": top}))
    v.clear = (judged & critical) - set(by_check)
    return v


def _seen_before(check: str, as_of: dt.date) -> set[str]:
    """Symbols the check flagged on its previous QA date (open or triaged): a finding inside the check's window is
    flagged again every night, and is alerted only the first time."""
    prev = QASummary.select(fn.MAX(QASummary.date)).where(QASummary.check_name == check, QASummary.date < as_of).scalar()
    if prev is None:
        return set()
    return {r.symbol for r in QAFailure.select(QAFailure.symbol).where(QAFailure.check_name == check, QAFailure.date == prev)}


def latency(n: Night, settings: Any) -> Verdict:
    v = Verdict()
    if QASummary.get_or_none(QASummary.date == n.as_of, QASummary.check_name == "api_latency", QASummary.crashed == False) is None:  # noqa: E712
        return v
    row = QAFailure.get_or_none(QAFailure.date == n.as_of, QAFailure.check_name == "api_latency", QAFailure.resolved == False)  # noqa: E712
    if row is None:
        v.clear.add("api_latency")
        return v
    d = row.details or {}
    p95 = ", ".join(f"{x:g}" for x in d.get("p95_s", []))
    v.firings.append(Firing("latency", "api_latency", {"p95": p95, "limit": float(d.get("threshold_s", settings.qa.latency_p95_s)),
                                                        "nights": len(d.get("nights", []))}))
    return v


def job_failed(n: Night, settings: Any) -> Verdict:
    """The last failed run of each job of the night, unless a later run of it succeeded (then: clear). A scheduled run
    the scheduler skipped because its operator paused the job (JOBPAUSED) is the operator's own decision, not a
    failure; a QA skipped at its deadline (QAWAITTIMEOUT) is one: that night went without checks."""
    v = Verdict()
    last: dict[str, CronStatus] = {}
    for r in _runs(n):
        if r.job in OWN_JOBS or r.exit_code == 130 or r.error_code == "JOBPAUSED":
            continue
        last[r.job] = r
    for job, r in sorted(last.items()):
        if r.exit_code == 0:
            v.clear.add(job)
        elif r.error_code != "UNIVERSESTALE":  # universe_stale says it better
            code = r.error_code or "-"
            meaning = CATALOGUE[code].meaning if code in CATALOGUE else "see the log"
            failed = (r.detail or {}).get("error", {}).get("detail", {}).get("failed")
            if isinstance(failed, dict) and failed:  # the scrape's exchanges (the fetch's breaker counts batches)
                meaning = f"{meaning}; failed: {', '.join(f'{k} ({c})' for k, c in sorted(failed.items()))}"
            if job == "scrape":
                meaning += "; previous universe kept"
            v.firings.append(Firing("job_failed", job, {"job": job, "exit_code": r.exit_code, "code": code, "meaning": meaning,
                                                        "headline": HEADLINES.get(code, f"{job} failed"), "run_id": r.run_id,
                                                        "logs": n.logs}))
    return v


def _fetches(n: Night) -> list[CronStatus]:
    return _runs(n, "fetch")


def universe_stale(n: Night, settings: Any) -> Verdict:
    v = Verdict()
    runs = _fetches(n)
    if not runs:
        return v
    r = runs[-1]
    if r.error_code == "UNIVERSESTALE":
        why = (r.detail or {}).get("error", {}).get("msg", "the universe is older than its limit")
        v.firings.append(Firing("universe_stale", "universe", {"why": why}))
    else:
        v.clear.add("universe")
    return v


def _exits(n: Night, rule: str) -> Verdict:
    v = Verdict()
    runs = [r for r in _fetches(n) if "vpn_fail" in (r.detail or {})]  # the fetch got as far as its exits
    if not runs:
        return v
    d = runs[-1].detail
    if rule == "exit_fallback" and d.get("vpn_fail"):
        v.firings.append(Firing(rule, "fetch", {"night": n.night.isoformat(), "batch_size": d.get("batch_size")}))
    elif rule == "nordvpn_list" and d.get("nordvpn_list") in ("kept", "none"):
        how = (f"used the list kept from {d.get('nordvpn_list_from', 'an earlier run')}" if d["nordvpn_list"] == "kept"
               else "none kept either: fetched direct with half batches")
        v.firings.append(Firing(rule, "fetch", {"night": n.night.isoformat(), "how": how}))
    else:
        v.clear.add("fetch")
    return v


def missed_run(n: Night, settings: Any) -> Verdict:
    """No fetch of the night succeeded by the deadline; a fetch that ran and failed is job_failed's (or universe_stale's)."""
    v = Verdict()
    runs = _fetches(n)
    if any(r.exit_code == 0 for r in runs):
        v.clear.add("fetch")
        return v
    hh, mm = (int(x) for x in settings.alerts.fetch_deadline.split(":"))
    deadline = dt.datetime.combine(n.night, dt.time(hh, mm))
    if n.now < deadline or runs:
        return v
    running = CronStatus.select().where(CronStatus.job == "fetch", CronStatus.finished_at.is_null(),
                                        CronStatus.started_at >= n.start).order_by(CronStatus.started_at.desc()).first()
    if running is not None:
        last = f"a fetch is still running since {running.started_at:%H:%M} UTC, run {running.run_id}"
    else:
        prev = CronStatus.select().where(CronStatus.job == "fetch").order_by(CronStatus.started_at.desc()).first()
        last = (f"the last fetch started {prev.started_at:%Y-%m-%d %H:%M} UTC, exit {prev.exit_code}" if prev is not None
                else "no fetch has ever run in this home")
    v.firings.append(Firing("missed_run", "fetch", {"night": n.night.isoformat(), "deadline": settings.alerts.fetch_deadline, "last": last}))
    return v


def dead_scheduler(n: Night, settings: Any) -> Verdict:
    v = Verdict()
    beat = SchedulerBeat.get_or_none(SchedulerBeat.name == "scheduler")
    if beat is None:
        return v  # no daemon ever ran in this home: nothing to judge
    age = (n.now - beat.beat_at).total_seconds() / 60.0
    if beat.stopped_at is None and age > settings.alerts.heartbeat_stale_min:
        v.firings.append(Firing("dead_scheduler", "scheduler", {"age": int(age), "holder": f"pid {beat.pid}@{beat.host}",
                                                                "started": f"{beat.started_at:%Y-%m-%d %H:%M} UTC"}))
    else:
        v.clear.add("scheduler")
    return v


RuleFn = Callable[[Night, Any], Verdict]
EVALUATORS: dict[str, RuleFn] = {
    "lag": lag, "critical_check": critical_check, "job_failed": job_failed, "universe_stale": universe_stale,
    "missed_run": missed_run, "dead_scheduler": dead_scheduler,
    "exit_fallback": lambda n, s: _exits(n, "exit_fallback"), "nordvpn_list": lambda n, s: _exits(n, "nordvpn_list"),
    "latency": latency,
}


def night_of(wiring: Wiring, night: dt.date | None = None) -> Night:
    now = wiring.clock()
    return Night(night or now.date(), now, str(wiring.settings.logs_dir / "app.jsonl"))


def judge(wiring: Wiring, night: dt.date | None = None, extra: Iterable[tuple[str, Verdict]] = ()) -> dict[str, Verdict]:
    """Every rule's verdict for the night (``extra``: verdicts found elsewhere, the watchdog's site probe)."""
    n = night_of(wiring, night)
    verdicts = {name: fn_(n, wiring.settings) for name, fn_ in EVALUATORS.items()}
    verdicts.update(dict(extra))
    return verdicts


def resolutions(night: dt.date, verdicts: dict[str, Verdict]) -> list[Firing]:
    """A "resolved" line for each alert of this night or the one before whose subject is now judged clear, unless a
    resolved row came after it already."""
    earlier = (AlertOutbox.select(AlertOutbox.rule, AlertOutbox.subject, fn.MAX(AlertOutbox.created_at).alias("at"))
               .where(AlertOutbox.night >= night - dt.timedelta(days=1), AlertOutbox.night <= night, AlertOutbox.rule != "resolved")
               .group_by(AlertOutbox.rule, AlertOutbox.subject))
    out = []
    for row in earlier:
        verdict = verdicts.get(row.rule)
        if verdict is None or row.subject not in verdict.clear:
            continue
        key = f"{row.rule}:{row.subject}"
        done = AlertOutbox.select().where(AlertOutbox.rule == "resolved", AlertOutbox.subject == key,
                                          AlertOutbox.created_at >= row.at).exists()
        if not done:
            out.append(Firing("resolved", key, {"what": f"{row.rule} ({row.subject})"}))
    return out


def evaluate(wiring: Wiring, night: dt.date | None = None, *, extra: Iterable[tuple[str, Verdict]] = ()) -> list[AlertOutbox]:
    """Judge every rule for ``night`` (default: the clock's date) and enqueue what fires, most severe first, and the
    resolved lines; returns the rows written now (a firing already in the outbox for this night is not written again)."""
    from praf_engine.alerts import outbox

    n = night_of(wiring, night)
    verdicts = judge(wiring, n.night, extra)
    firings = [f for v in verdicts.values() for f in v.firings] + resolutions(n.night, verdicts)
    firings.sort(key=lambda f: (SEVERITY_ORDER[f.spec.severity], f.rule, f.subject))
    written = []
    for f in firings:
        row = outbox.enqueue(wiring.db, rule=f.rule, subject=f.subject, night=n.night, severity=RULES[f.rule].severity,
                             text=f.text, now=n.now)
        if row is not None:
            written.append(row)
    if written:
        log.info("alerts enqueued", detail={"night": n.night.isoformat(), "alerts": [f"{r.rule}:{r.subject}" for r in written]})
    return written


def dispatch_due(wiring: Wiring, night: dt.date) -> list[Any]:
    """Dispatch ``night`` and every earlier night still holding due pending rows (a Telegram outage's backlog);
    returns A2's DispatchReports."""
    from praf_engine.alerts.deliver import dispatch, nights_due

    return [dispatch(wiring, n) for n in sorted({night, *nights_due(wiring.clock())})]


def alerts_job(ctx: Any) -> int:
    """The `alerts` job (the scheduler's 02:00, `praf-engine run alerts`): evaluate the night, then dispatch. Alerts
    kept because Telegram is not configured are the documented behaviour (exit 0, shown in the TUI); a refused or
    failed delivery is the job's error (ALERTAUTH / ALERTSEND; the rows stay pending)."""
    night = night_of(ctx.wiring).night
    rows = evaluate(ctx.wiring, night)
    ctx.detail.update({"alerts_night": night.isoformat(), "enqueued": [f"{r.rule}:{r.subject}" for r in rows]})
    reports = dispatch_due(ctx.wiring, night)
    ctx.detail["dispatch"] = [r.as_dict() for r in reports]
    failed = next((r for r in reports if r.error_code in ("ALERTSEND", "ALERTAUTH")), None)
    if failed is not None:
        raise PipelineError(failed.error_code, failed.error or "alerts not delivered; they stay pending in the outbox",
                            {"night": failed.night.isoformat(), "pending": failed.pending})
    return 0
