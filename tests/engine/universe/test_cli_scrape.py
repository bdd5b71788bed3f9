"""`praf-engine scrape` as a real process against a running sandbox (settings.toml from Sandbox.settings_toml())."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from praf_engine.sandbox.faults import FaultConfig
from praf_engine.sandbox.serve import Sandbox
from tests.conftest import cli_env
from tests.engine.universe.conftest import need_chromium, new_market


def _praf(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "praf_engine", "--home", str(home), *args], capture_output=True,
                          text=True, env=cli_env(COLUMNS="200"), timeout=120)


def _db(home: Path, query: str) -> list[tuple]:
    with sqlite3.connect(home / "praf.db") as conn:
        return conn.execute(query).fetchall()


def test_praf_engine_scrape_against_its_sandbox(tmp_path: Path) -> None:
    need_chromium()
    home = tmp_path / "home"
    home.mkdir()
    market = new_market()
    with Sandbox(market, exits=0) as sandbox:
        (home / "settings.toml").write_text(sandbox.settings_toml())
        assert _praf(home, "init").returncode == 0  # only init creates a home (HOMEMISSING otherwise)
        bad = _praf(home, "scrape", "--exchange", "nyse")
        assert bad.returncode == 2 and "invalid choice" in bad.stderr

        ok = _praf(home, "scrape")
        assert ok.returncode == 0, ok.stderr[-2000:]
        assert "scrape finished with exit code 0" in ok.stderr
        expected = {x.symbol for x in market.universe(market.today)}
        assert {s for (s,) in _db(home, "select symbol from tickers where status = 'active'")} == expected
        assert _db(home, "select job, exit_code, error_code from cron_status") == [("scrape", 0, None)]
        statuses = dict(_db(home, "select exchange, scrape_status from scrape_control"))
        assert statuses == dict.fromkeys(["nasdaq", "arca", "ftse", "dax", "euronext"], "success")

        market.faults = FaultConfig(targets={"site_500": frozenset(["dax"])})
        failed = _praf(home, "scrape", "--exchange", "dax", "--exchange", "ftse")
        assert failed.returncode == 1
        assert "SCRAPEHTTP" in failed.stderr and "structure_error" not in failed.stderr
        last = _db(home, "select exit_code, error_code from cron_status order by id desc limit 1")
        assert last == [(1, "SCRAPEHTTP")]
        assert {s for (s,) in _db(home, "select symbol from tickers where exchange_code = 'dax' and status = 'active'")} \
            == {x.symbol for x in market.universe(market.today) if x.exchange_code == "dax"}
