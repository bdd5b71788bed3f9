"""SIGKILL of a real `praf-engine daemon` at random moments of its catch-up (fetch then QA on the sandbox), then a
restart: the restarted daemon takes the dead one's lock over, closes the killed run (JOBKILLED), completes the
catch-up, no job runs twice for one scheduled time, every cron_status row ends closed, and the lake never falls
behind the metadata. Each trial is a new night for the scheduler (a new fetch time a few minutes on)."""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from praf_engine.db.models import CronStatus, SchedulerBeat
from praf_engine.lake import Lake
from tests.conftest import REPO, cli_env
from tests.engine.daemon.helpers import NotifyListener
from tests.engine.fetch import test_fetch_crash as crash
from tests.engine.fetch.conftest import home_settings, insert_universe, lake_matches, make_sandbox  # noqa: F401 - fixture

KILLS = 10


def _hhmm(minute: int) -> str:
    return f"{(minute // 60) % 24:02d}:{minute % 60:02d}"


class Night:
    """The schedule of one trial: fetch at ``minute`` (of the UTC day, in the past), QA a minute later; every other
    job two hours ahead (their latest time is 22 h ago: past the 20 h window, not caught up)."""

    def __init__(self, now: dt.datetime, minute: int) -> None:
        self.now, self.minute = now, minute
        later = _hhmm(now.hour * 60 + now.minute + 120)
        self.toml = (f'\n[schedule]\nfetch_time = "{_hhmm(minute)}"\nqa_time = "{_hhmm(minute + 1)}"\nqa_wait_deadline = "23:59"\n'
                     f'alerts_time = "{later}"\nbackup_time = "{later}"\narchival_time = "{later}"\nvacuum_time = "{later}"\n'
                     f'scrape_time = "{later}"\ncatchup_weekly_h = 0\ncatchup_scrape_days = 0\n'
                     "\n[daemon]\nbeat_s = 0.2\nstale_after_s = 30\nstop_timeout_s = 20\n")

    def slot(self, offset: int) -> str:
        minute = self.minute + offset
        day = self.now.date() - dt.timedelta(days=1 if minute % 1440 > self.now.hour * 60 + self.now.minute else 0)
        return f"{day.isoformat()}T{_hhmm(minute)}"

    def rows(self) -> list[CronStatus]:
        keys = {("fetch", self.slot(0)), ("qa", self.slot(1))}
        return [r for r in CronStatus.select() if (r.job, (r.detail or {}).get("slot")) in keys]

    def running(self) -> bool:
        return any(r.finished_at is None for r in self.rows())

    def done(self) -> bool:
        rows = self.rows()
        return len({r.job for r in rows}) == 2 and all(r.finished_at is not None for r in rows)


def _wait_for(condition: Any, timeout_s: float = 120.0) -> None:
    """Poll ``condition()`` every 10 ms (a run of the catch-up lasts well over that)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "no run of the night was seen open"
        time.sleep(0.01)


class Daemon:
    def __init__(self, home: Path, env: dict[str, str], listener: NotifyListener) -> None:
        self.listener = listener
        self.proc = subprocess.Popen([sys.executable, "-m", "praf_engine", "--home", str(home), "daemon"], cwd=REPO,
                                     env={**env, "NOTIFY_SOCKET": str(listener.path)}, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

    def ready(self) -> None:
        self.listener.expect(lambda m: m.get("READY") == "1" and str(self.proc.pid) in m.get("STATUS", ""))

    def until(self, condition: Any, ticks: int = 3000) -> None:
        """Wait beat by beat (its WATCHDOG pings) until ``condition()``."""
        for _ in range(ticks):
            if condition():
                return
            assert self.proc.poll() is None, f"the daemon exited {self.proc.returncode}"
            self.listener.next()
        raise AssertionError("condition not reached")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)


def test_sigkill_at_random_moments_then_the_restarted_daemon_completes_the_catch_up(tmp_path: Path, backend: Any,
                                                                                   make_sandbox: Any) -> None:  # noqa: F811
    from praf_engine.service import EngineService

    sandbox = make_sandbox(40)
    settings = home_settings(tmp_path / "home", sandbox, backend, fetch__batch_size=3, fetch__workers=2)
    base = sandbox.settings_toml().replace("[sandbox]", "[fetch]\nbatch_size = 3\nworkers = 2\n\n[sandbox]", 1)
    service = EngineService.open(settings)
    listener = NotifyListener(tmp_path / "notify")
    env = cli_env(backend)
    now = dt.datetime.combine(sandbox.market.today, dt.datetime.now(dt.UTC).time())
    first = now.hour * 60 + now.minute - 120  # trial i's fetch at first + 4 i minutes: all in the past
    try:
        symbols = insert_universe(sandbox.market)
        lake = Lake(settings.lake_dir)
        rng = random.Random(20261204)
        killed, calibration = 0, 0.0
        kills = range(2, KILLS + 2)  # trial 0 fills the lake, 1 measures a nightly catch-up, the last runs uncut
        for trial in range(KILLS + 3):
            night = Night(now, first + 4 * trial)
            (settings.home / "settings.toml").write_text(base + night.toml, encoding="utf-8")
            daemon = Daemon(settings.home, env, listener)
            daemon.ready()
            started = dt.datetime.now()
            if trial in kills:
                if trial == kills[-1]:  # one kill certainly inside a run: on a busy machine (CI's 3 workers) every
                    _wait_for(night.running)  # random moment once missed one
                else:
                    with contextlib.suppress(subprocess.TimeoutExpired):  # a random moment within a catch-up's duration
                        daemon.proc.wait(timeout=rng.uniform(0.05, 1.0) * calibration)
                if not night.done():
                    killed += 1
                daemon.proc.kill()
                daemon.proc.wait(30)
                crash._check_invariants(settings, lake)
                daemon = Daemon(settings.home, env, listener)  # the restart: takes the dead one's lock over
                daemon.ready()
            daemon.until(night.done)
            if trial == 1:
                calibration = (dt.datetime.now() - started).total_seconds()
            assert daemon.stop() == 0
            rows = night.rows()
            assert all(r.finished_at is not None for r in CronStatus.select()), "a run left open"
            assert Counter((r.job, r.detail["slot"]) for r in rows) == {("fetch", night.slot(0)): 1, ("qa", night.slot(1)): 1}
            assert all(r.error_code in (None, "JOBKILLED", "QAGATE", "INTERRUPTED") for r in rows), [(r.job, r.error_code) for r in rows]
            crash._check_invariants(settings, lake)
        assert killed >= KILLS // 2, f"only {killed} kills landed inside a catch-up"
        last = {r.job: r for r in night.rows()}
        assert last["fetch"].exit_code == 0 and last["fetch"].trigger == "catch-up"
        assert all(lake_matches(lake, sandbox.market, s) for s in symbols)
        every = Counter((r.job, (r.detail or {}).get("slot")) for r in CronStatus.select() if r.job in ("fetch", "qa"))
        assert max(every.values()) == 1, "a scheduled time ran twice"
        assert any(r.error_code == "JOBKILLED" for r in CronStatus.select())
        assert SchedulerBeat.get().stopped_at is not None
    finally:
        listener.close()
        service.close()
