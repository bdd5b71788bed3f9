"""The watchdog: the exchange-site probe (two 5xx in a row, against the sandbox's sites), the heartbeat and the
fetch deadline, each alerting through the outbox, and quiet otherwise."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from praf_engine.alerts.watchdog import probe_sites, run_watchdog
from praf_engine.db.models import AlertOutbox, CronStatus, SchedulerBeat
from praf_engine.logs import configure_logging
from praf_engine.sandbox.faults import FaultConfig
from praf_engine.sandbox.market import Market
from praf_engine.sandbox.sites import SitesServer
from praf_engine.sandbox.wiring import with_profile
from praf_engine.service import EngineService
from tests.conftest import make_settings

NIGHT = dt.date(2025, 6, 6)


def at(hh: int, mm: int = 0) -> dt.datetime:
    return dt.datetime.combine(NIGHT, dt.time(hh, mm))


@pytest.fixture
def sites() -> Iterator[SitesServer]:
    with SitesServer(Market(size=40, seed=3, today=NIGHT)) as server:
        yield server


@pytest.fixture
def home(tmp_path: Path, backend: str | None, sites: SitesServer) -> Iterator[EngineService]:
    s = with_profile(make_settings(tmp_path / "home", backend, sources="sandbox", sandbox__http_url=sites.url))
    configure_logging(s.logs_dir, secrets=s.secrets(), console_level=None)
    service = EngineService.open(s)
    yield service
    service.close()


def wiring(home: EngineService, now: dt.datetime):
    return home.wiring.with_clock(lambda: now)


def outbox() -> set[tuple[str, str]]:
    return {(r.rule, r.subject) for r in AlertOutbox.select()}


def test_probe_sees_every_site_up(home, sites) -> None:
    v = probe_sites(wiring(home, at(2)))
    assert v.firings == [] and v.clear == {"nasdaq", "arca", "ftse", "dax", "euronext"}
    assert sites.hits["/index/dax/constituents"] == 1  # one answer is enough when it is not a 5xx


def test_one_5xx_then_an_answer_is_not_a_site_down(home, sites) -> None:
    sites.market.faults = FaultConfig(targets={"site_flaky": ["dax"]}, flaky_count=1)
    v = probe_sites(wiring(home, at(2)))
    assert v.firings == [] and "dax" in v.clear and sites.flaky["dax"] == 2


def test_two_5xx_in_a_row_alert_site_down_and_the_next_hour_resolves_it(home, sites) -> None:
    sites.market.faults = FaultConfig(targets={"site_flaky": ["dax"], "site_500": ["ftse"]}, flaky_count=2)
    report = run_watchdog(wiring(home, at(2)), dispatch=False)
    assert set(report.enqueued) == {"site_down:dax", "site_down:ftse"}
    row = AlertOutbox.get(AlertOutbox.subject == "dax")
    assert row.severity == "warning" and "Site down: dax answered HTTP 503, HTTP 503" in row.text
    assert row.text.endswith("→ praf-engine scrape --exchange dax")
    assert "HTTP 500, HTTP 500" in AlertOutbox.get(AlertOutbox.subject == "ftse").text
    report = run_watchdog(wiring(home, at(3)), dispatch=False)  # dax's burst is over, ftse still down
    assert report.enqueued == ["resolved:site_down:dax"]


def test_the_watchdog_alerts_a_stale_heartbeat_and_a_missed_fetch_and_is_quiet_otherwise(home) -> None:
    SchedulerBeat.create(name="scheduler", pid=77, host="box", version="0.1", started_at=at(0), beat_at=at(3, 25))
    CronStatus.create(job="fetch", run_id="f1", started_at=at(1), finished_at=at(1, 20), exit_code=0, detail={"night": NIGHT.isoformat()})
    report = run_watchdog(wiring(home, at(3, 35)), dispatch=False)
    assert report.enqueued == [] and "heartbeat 10 min ago (pid 77@box)" in report.heartbeat
    assert outbox() == set()

    CronStatus.delete().execute()  # no fetch of the night, and the daemon stopped beating at 03:25
    report = run_watchdog(wiring(home, at(3, 45)), probe=False, dispatch=False)
    assert set(report.enqueued) == {"dead_scheduler:scheduler", "missed_run:fetch"}
    assert "Scheduler dead: last heartbeat 20 min ago" in AlertOutbox.get(AlertOutbox.rule == "dead_scheduler").text
    assert run_watchdog(wiring(home, at(4, 45)), probe=False, dispatch=False).enqueued == []  # hourly: not again


def test_the_systemd_units_run_the_watchdog_hourly(tmp_path: Path) -> None:
    import configparser
    import shutil
    import subprocess

    from praf_engine.cli import build_parser
    from tests.conftest import REPO

    units = {}
    for name in ("praf-watchdog.service", "praf-watchdog.timer"):
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read(REPO / "deploy" / name)
        units[name] = parser
    service, timer = units["praf-watchdog.service"], units["praf-watchdog.timer"]
    assert service["Service"]["Type"] == "oneshot" and timer["Timer"]["OnCalendar"] == "hourly"
    command = service["Service"]["ExecStart"].split()
    assert command[0].endswith("/praf-engine") and command[1:] == ["watchdog"]
    assert build_parser().parse_args(command[1:]).command == "watchdog"
    if shutil.which("systemd-analyze"):  # the units as systemd reads them, with this checkout's praf-engine
        real = REPO / ".venv" / "bin" / "praf-engine"
        text = (REPO / "deploy" / "praf-watchdog.service").read_text().replace(command[0], str(real))
        (tmp_path / "praf-watchdog.service").write_text(text)
        shutil.copy(REPO / "deploy" / "praf-watchdog.timer", tmp_path)
        out = subprocess.run(["systemd-analyze", "verify", "--man=no", str(tmp_path / "praf-watchdog.timer"),
                              str(tmp_path / "praf-watchdog.service")], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr


def test_the_watchdog_sends_a_dead_daemon_s_alert_through_telegram(alerting, stub) -> None:
    """The stub on loopback, the real python-telegram-bot: the alert a dead daemon could not send arrives."""
    now = dt.datetime(2026, 3, 4, 2, 30)
    SchedulerBeat.create(name="scheduler", pid=77, host="box", version="0.1", started_at=now - dt.timedelta(days=1),
                         beat_at=now - dt.timedelta(minutes=40))
    CronStatus.create(job="fetch", run_id="f1", started_at=now - dt.timedelta(hours=1), finished_at=now, exit_code=0,
                      detail={"night": now.date().isoformat()})
    report = run_watchdog(alerting.wiring.with_clock(lambda: now), probe=False)
    assert report.enqueued == ["dead_scheduler:scheduler"]
    assert [m["text"].splitlines()[0] for m in stub.messages] == ["❗ Scheduler dead: last heartbeat 40 min ago (pid 77@box, "
                                                                  f"started {now - dt.timedelta(days=1):%Y-%m-%d %H:%M} UTC)"]
    assert AlertOutbox.get().status == "sent" and "dispatch night 2026-03-04: 1 sent" in "\n".join(report.lines())
    assert run_watchdog(alerting.wiring.with_clock(lambda: now + dt.timedelta(hours=1)), probe=False).enqueued == []
    assert len(stub.messages) == 1  # the next hour: nothing new, nothing sent twice
