"""`praf-engine watchdog`: the hourly one-shot check a systemd timer runs beside the daemon (deploy/praf-watchdog.*).

A dead daemon cannot alert, so the watchdog, a separate process, evaluates the night's rules itself — among them the
daemon's heartbeat (dead_scheduler) and the fetch deadline (missed_run) — probes each exchange site (site_down: the
seed's hourly HEAD, ``alerts.site_down_after`` 5xx or no answer in a row), writes what fires into the same outbox
and dispatches it. It never records a cron_status row (24 a day would bury the jobs) and exits 0 when it did its
checks, whatever they found; it fails (non-zero, in the journal) only when it cannot check: no database.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from praf_engine.alerts.evaluate import Verdict, dispatch_due, evaluate, night_of
from praf_engine.alerts.rules import Firing
from praf_engine.db.models import AlertOutbox, SchedulerBeat
from praf_engine.logs import bound_run, get_logger, new_run_id
from praf_engine.wiring import Wiring

log = get_logger(__name__)


def site_urls(settings: Any) -> dict[str, str]:
    """One page per exchange, the first its scraper reads (FTP sources are not probed: no 5xx there)."""
    s = settings.scrape
    urls = {"nasdaq": s.nasdaq_url, "arca": s.otherlisted_url, "ftse": s.ftse100_url, "dax": s.dax_url, "euronext": s.euronext_url}
    return {code: url for code, url in urls.items() if urlsplit(url).scheme in ("http", "https")}


def probe_sites(wiring: Wiring, stop: threading.Event | None = None) -> Verdict:
    """HEAD each exchange's page up to ``alerts.site_down_after`` times in a row (``scrape.delay_min_s`` apart): every
    answer a 5xx or none -> site_down; any other answer -> that site is up (a 404 or 405 is the scraper's business)."""
    s = wiring.settings
    stop = stop or threading.Event()
    v = Verdict()
    with wiring.http_client() as client:
        for code, url in site_urls(s).items():
            answers: list[str] = []
            for attempt in range(s.alerts.site_down_after):
                if attempt and stop.wait(s.scrape.delay_min_s):
                    return v  # asked to stop: judge nothing more
                try:
                    status = client.head(url, timeout=s.scrape.timeout_s, follow_redirects=True).status_code
                except httpx.HTTPError as exc:
                    answers.append(f"no answer ({type(exc).__name__})")
                    continue
                if status < 500:
                    answers = []
                    break
                answers.append(f"HTTP {status}")
            if answers:
                v.firings.append(Firing("site_down", code, {"exchange": code, "answers": ", ".join(answers), "url": url}))
                log.warning(f"{code}: site down: {', '.join(answers)}", detail={"exchange": code, "url": url})
            else:
                v.clear.add(code)
    return v


@dataclass
class WatchdogReport:
    night: dt.date
    enqueued: list[str] = field(default_factory=list)  # rule:subject written now
    heartbeat: str = ""
    dispatch: Any = None

    def lines(self) -> list[str]:
        out = [f"watchdog, night {self.night}: {self.heartbeat}"]
        out += [f"  alert queued: {a}" for a in self.enqueued] or ["  nothing new to alert"]
        for r in self.dispatch or []:
            d = r.as_dict()
            out.append(f"  dispatch night {d['night']}: {d['sent']} sent, {d['folded']} folded, {d['pending']} pending"
                       + (f" [{d['error_code']}] {d['error']}" if d["error_code"] else ""))
        return out


def heartbeat_line(now: dt.datetime) -> str:
    beat = SchedulerBeat.get_or_none(SchedulerBeat.name == "scheduler")
    if beat is None:
        return "no scheduler has ever run in this home (no heartbeat to check)"
    if beat.stopped_at is not None:
        return f"the scheduler stopped cleanly at {beat.stopped_at:%Y-%m-%d %H:%M} UTC"
    return f"scheduler heartbeat {int((now - beat.beat_at).total_seconds() // 60)} min ago (pid {beat.pid}@{beat.host})"


def run_watchdog(wiring: Wiring, *, probe: bool = True, dispatch: bool = True) -> WatchdogReport:
    """One watchdog pass for the clock's night: evaluate (with the site probe), then dispatch the night's outbox."""
    with bound_run(new_run_id(), "watchdog"):
        n = night_of(wiring)
        extra = [("site_down", probe_sites(wiring))] if probe else []
        rows: list[AlertOutbox] = evaluate(wiring, n.night, extra=extra)
        report = WatchdogReport(n.night, [f"{r.rule}:{r.subject}" for r in rows], heartbeat_line(n.now))
        if dispatch:
            report.dispatch = dispatch_due(wiring, n.night)
        log.info("watchdog done", detail={"night": n.night.isoformat(), "enqueued": report.enqueued, "heartbeat": report.heartbeat})
        return report
