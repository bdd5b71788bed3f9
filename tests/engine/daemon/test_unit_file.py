"""deploy/praf-engine.service: the daemon's systemd unit as the issue asks it (notify, watchdog, restart, hardening),
its command parses, exit 2 is never restarted, and `systemd-analyze verify` accepts it where the machine has it."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

from praf_engine.cli import build_parser
from praf_engine.config import DaemonSettings
from praf_engine.errors import CATALOGUE
from tests.conftest import REPO

UNIT = REPO / "deploy" / "praf-engine.service"


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNIT)
    return parser


def test_the_unit_is_a_hardened_notify_service_with_a_watchdog() -> None:
    service = _unit()["Service"]
    assert service["Type"] == "notify" and service["Restart"] == "on-failure"
    assert int(service["WatchdogSec"]) > 2 * DaemonSettings().beat_s  # pinged every beat (or half the watchdog)
    assert int(service["TimeoutStopSec"]) > DaemonSettings().stop_timeout_s  # the daemon closes its runs first
    assert service["User"] and service["User"] != "root"
    assert (service["ProtectSystem"], service["NoNewPrivileges"], service["PrivateTmp"]) == ("strict", "yes", "yes")
    home = service["Environment"].removeprefix("PRAF_HOME=")
    assert service["ReadWritePaths"] == home
    command = service["ExecStart"].split()
    assert command[0].endswith("/praf-engine") and build_parser().parse_args(command[1:]).command == "daemon"
    assert service["ExecReload"].endswith("kill -HUP $MAINPID")
    not_restarted = {int(x) for x in service["RestartPreventExitStatus"].split()}
    assert {CATALOGUE[c].exit_code for c in ("DAEMONRUNNING", "CONFIGBAD", "HOMEMISSING")} <= not_restarted


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed on this machine (the unit's fields are checked above)")
    real = REPO / ".venv" / "bin" / "praf-engine"  # the unit as systemd reads it, with this checkout's praf-engine
    text = UNIT.read_text().replace("/opt/praf/.venv/bin/praf-engine", str(real))
    (tmp_path / UNIT.name).write_text(text)
    out = subprocess.run(["systemd-analyze", "verify", "--man=no", str(tmp_path / UNIT.name)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and not out.stderr.strip(), out.stderr
