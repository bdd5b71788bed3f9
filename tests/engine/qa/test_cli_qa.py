"""`praf-engine qa` as a user runs it: the fetch gate, --force, --check, exit codes, the cron_status row."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from praf_engine.qa import catalog
from tests.conftest import cli_env


def praf(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "praf_engine", "--home", str(home), *args],
                          capture_output=True, text=True, env=cli_env(), timeout=120)


def test_qa_refuses_without_a_fetch_then_runs_forced(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert praf(home, "init").returncode == 0
    refused = praf(home, "qa", "--date", "2025-12-29")
    assert refused.returncode == 1
    assert "QAGATE" in refused.stderr and "no fetch has ever run" in refused.stderr and "--force" in refused.stderr
    forced = praf(home, "qa", "--date", "2025-12-29", "--force", "--check", "lag_check", "--check", "price_jump")
    assert forced.returncode == 0, forced.stderr
    assert "lag_check" in forced.stderr and "qa finished with exit code 0" in forced.stderr
    con = sqlite3.connect(home / "praf.db")
    rows = con.execute("SELECT exit_code, error_code FROM cron_status WHERE job = 'qa' ORDER BY id").fetchall()
    assert rows == [(1, "QAGATE"), (0, None)]
    checks = [r[0] for r in con.execute("SELECT check_name FROM qa_summary ORDER BY check_name")]
    assert checks == ["lag_check", "price_jump"]
    summary = json.loads(praf(home, "summary", "--json", "--as-of", "2025-12-30").stdout)
    assert summary["qa_date"] == "2025-12-29" and summary["lag_2d"] == 0


def test_malformed_threshold_exits_1_with_qafail(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert praf(home, "init").returncode == 0
    con = sqlite3.connect(home / "praf.db")
    con.execute("UPDATE qa_checks SET threshold_params = '{\"max_move\": \"lots\"}' WHERE check_name = 'price_jump'")
    con.commit()
    out = praf(home, "qa", "--force", "--date", "2025-12-29")
    assert out.returncode == 1
    assert "QAFAIL" in out.stderr and "max_move='lots'" in out.stderr
    assert con.execute("SELECT COUNT(*) FROM qa_summary WHERE crashed = 0").fetchone()[0] == len(catalog.SPECS) - 1


def test_unknown_check_is_a_config_error(tmp_path: Path) -> None:
    assert praf(tmp_path / "home", "init").returncode == 0
    out = praf(tmp_path / "home", "qa", "--force", "--check", "jumps")
    assert out.returncode == 2 and "unknown check" in out.stderr
