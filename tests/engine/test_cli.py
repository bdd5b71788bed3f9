"""`praf-engine` as a new user runs it: a real process, a fresh home, SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from praf_engine.lake import Lake
from tests.conftest import cli_env

EMPTY_SUMMARY_KEYS = {"as_of", "total_active", "new_30d", "delisted_30d", "lag_2d", "missing_dates", "fetch_errors", "price_jumps"}


def praf(home: Path, *args: str, backend: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "praf_engine", "--home", str(home), *args],
        capture_output=True, text=True, env={**cli_env(backend), **(env or {})}, timeout=120,
    )


def test_version() -> None:
    out = subprocess.run([sys.executable, "-m", "praf_engine", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("praf-engine 0.")


def test_init_twice_then_summary_json(tmp_path: Path, backend: str | None) -> None:
    home = tmp_path / "home"
    first = praf(home, "init", backend=backend)
    assert first.returncode == 0, first.stderr
    assert "created tables" in first.stdout
    second = praf(home, "init", backend=backend)
    assert second.returncode == 0 and "created tables" not in second.stdout
    for sub in ("lake", "cache", "scrapes_raw", "archive", "logs"):
        assert (home / sub).is_dir()
    assert (home / "praf.db").exists() == (backend is None)
    out = praf(home, "summary", "--json", "--as-of", "2025-06-06", backend=backend)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert set(doc) >= EMPTY_SUMMARY_KEYS
    assert doc["as_of"] == "2025-06-06"
    assert all(doc[k] == 0 for k in EMPTY_SUMMARY_KEYS - {"as_of"})


def test_sql_on_empty_and_filled_lake(tmp_path: Path, backend: str | None) -> None:
    home = tmp_path / "home"
    assert praf(home, "init", backend=backend).returncode == 0
    empty = praf(home, "sql", "select count(*) as n from prices", "--format", "json", backend=backend)
    assert empty.returncode == 0, empty.stderr
    assert json.loads(empty.stdout) == [{"n": 0}]

    lake = Lake(home / "lake")
    days = pd.bdate_range("2024-12-27", "2025-01-08")
    for symbol in ("AAPL", "VOD.L"):
        lake.write(symbol, pd.DataFrame({
            "date": days, "open": 10.0, "high": 11.0, "low": 9.5, "close": 10.5, "adj_close": 10.25, "volume": 1000,
        }))
    filled = praf(home, "sql", "select symbol, year, count(*) as n, min(close) as c from prices group by 1, 2 order by 1, 2",
                  "--format", "csv", backend=backend)
    assert filled.returncode == 0, filled.stderr
    rows = list(csv.DictReader(io.StringIO(filled.stdout)))
    assert [(r["symbol"], r["year"], r["n"]) for r in rows] == [
        ("AAPL", "2024", "3"), ("AAPL", "2025", "6"), ("VOD.L", "2024", "3"), ("VOD.L", "2025", "6")]
    assert rows[0]["c"] == "10.500000"  # decimal(18,6), not a float
    table = praf(home, "sql", "select count(*) from prices", backend=backend)
    assert table.returncode == 0 and "18" in table.stdout


def test_sql_joins_the_metadata_tables(tmp_path: Path, backend: str | None) -> None:
    home = tmp_path / "home"
    assert praf(home, "init", backend=backend).returncode == 0
    assert praf(home, "run", "vacuum", backend=backend).returncode == 0
    out = praf(home, "sql", "select job, exit_code from cron_status", "--format", "json", backend=backend)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [{"job": "vacuum", "exit_code": 0}]


def test_bad_sql_is_sqlbad(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert praf(home, "init").returncode == 0
    out = praf(home, "sql", "selec nothing")
    assert out.returncode == 1
    assert "[SQLBAD]" in out.stderr and "syntax error" in out.stderr


def test_sql_is_read_only(tmp_path: Path) -> None:
    """A real process: COPY into the lake and reading a file of the home are SQLBAD; nothing is written."""
    home = tmp_path / "home"
    assert praf(home, "init").returncode == 0
    days = pd.bdate_range("2025-01-02", "2025-01-08")
    Lake(home / "lake").write("AAPL", pd.DataFrame({
        "date": days, "open": 10.0, "high": 11.0, "low": 9.5, "close": 10.5, "adj_close": 10.25, "volume": 1000}))
    target = home / "lake" / "symbol=AAPL" / "year=2025" / "part-001.parquet"
    copy = praf(home, "sql", f"copy (select * from prices) to '{target}' (format parquet)")
    assert copy.returncode == 1 and "[SQLBAD]" in copy.stderr and "read-only" in copy.stderr
    assert not target.exists()
    read = praf(home, "sql", f"select count(*) from read_blob('{home / 'praf.db'}')")
    assert read.returncode == 1 and "[SQLBAD]" in read.stderr and "read-only" in read.stderr
    count = praf(home, "sql", "select count(*) as n from prices", "--format", "json")
    assert json.loads(count.stdout) == [{"n": len(days)}]


def test_job_crash_is_recorded_and_exit_code_matches(tmp_path: Path, backend: str | None) -> None:
    """`run retention` on a home whose cache/yahoo is a file, not a folder: exit 1, cron_status says so."""
    home = tmp_path / "home"
    assert praf(home, "init", backend=backend).returncode == 0
    (home / "cache" / "yahoo").write_text("not a folder")
    run = praf(home, "run", "retention", backend=backend)
    assert run.returncode == 1
    assert "[LAKEIO]" in run.stderr
    out = praf(home, "sql", "select job, exit_code, error_code, finished_at is not null as done from cron_status",
               "--format", "json", backend=backend)
    assert json.loads(out.stdout) == [{"job": "retention", "exit_code": 1, "error_code": "LAKEIO", "done": True}]
    log_lines = [json.loads(x) for x in (home / "logs" / "app.jsonl").read_text().splitlines()]
    failed = [x for x in log_lines if x["error_code"] == "LAKEIO"]
    assert failed and failed[0]["job"] == "retention" and failed[0]["run_id"]


def test_wrong_setting_stops_at_start_naming_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "settings.toml").write_text('[exits]\nkind = "tor"\n')
    out = praf(home, "init")
    assert out.returncode == 2
    assert "[CONFIGBAD]" in out.stderr and "exits.kind" in out.stderr and "settings.toml" in out.stderr
    assert not (home / "praf.db").exists()
    bad_env = praf(home, "init", env={"PRAF_FETCH__BATCH_SIZE": "-5"})
    assert bad_env.returncode == 2 and "PRAF_FETCH__BATCH_SIZE" in bad_env.stderr


def test_set_flag_overrides_and_config_hides_secrets(tmp_path: Path) -> None:
    home = tmp_path / "home"
    out = praf(home, "--set", "fetch.batch_size=42", "config",
               env={"PRAF_TELEGRAM_TOKEN": "123456789:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "DATABASE_URL": "postgresql://u:hunter2secret@h/db"})
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["fetch"]["batch_size"] == 42
    assert "hunter2secret" not in out.stdout and "AAAAAAAAAAAAAAAAAAAA" not in out.stdout


def test_secrets_never_reach_logs_or_errors(tmp_path: Path) -> None:
    home = tmp_path / "home"
    out = praf(home, "init", env={"DATABASE_URL": "postgresql://praf:hunter2secret@127.0.0.1:1/praf"})
    assert out.returncode == 1 and "[DBERROR]" in out.stderr
    assert "hunter2secret" not in out.stderr + out.stdout
    assert "hunter2secret" not in (home / "logs" / "app.jsonl").read_text()


def test_a_mistyped_home_is_not_created(tmp_path: Path) -> None:
    for args in (("summary", "--json"), ("sql", "select 1")):
        out = praf(tmp_path / "hmoe", *args)
        assert out.returncode == 2 and "no PRAF home" in out.stderr
    assert not (tmp_path / "hmoe" / "praf.db").exists()


def test_an_older_schema_is_upgraded_only_by_init_with_a_backup(tmp_path: Path) -> None:
    import sqlite3

    from tests.conftest import REPO

    home = tmp_path / "home"
    home.mkdir()
    conn = sqlite3.connect(home / "praf.db")
    conn.executescript((REPO / "tests" / "data" / "seed_schema_v0.sql").read_text())
    conn.close()
    refused = praf(home, "summary", "--json")
    assert refused.returncode == 1 and "[DBSCHEMA]" in refused.stderr and "init" in refused.stderr
    upgraded = praf(home, "init")
    assert upgraded.returncode == 0, upgraded.stderr
    backups = list((home / "backups").glob("praf-v0-*.db"))
    assert len(backups) == 1 and "backed up" in upgraded.stdout
    kept = sqlite3.connect(backups[0]).execute("select count(*) from tickers").fetchone()[0]
    assert kept == 4
    assert praf(home, "summary", "--json").returncode == 0


def test_unlock_removes_a_stale_lock(tmp_path: Path) -> None:
    import sqlite3

    home = tmp_path / "home"
    assert praf(home, "init").returncode == 0
    conn = sqlite3.connect(home / "praf.db")
    conn.execute("insert into job_locks (job, run_id, holder, pid, host, acquired_at, heartbeat_at) "
                 "values ('vacuum', 'r1', '1@elsewhere', 1, 'elsewhere', '2025-06-06 01:00:00', '2025-06-06 01:00:00')")
    conn.commit()
    conn.close()
    locked = praf(home, "run", "vacuum")
    assert locked.returncode == 1 and "[JOBLOCKED]" in locked.stderr
    assert praf(home, "run", "vacuum", "--unlock").returncode == 0
    assert praf(home, "run", "vacuum").returncode == 0


def test_summary_as_of_default_is_today(tmp_path: Path) -> None:
    assert praf(tmp_path / "home", "init").returncode == 0
    out = praf(tmp_path / "home", "summary", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["as_of"] == dt.datetime.now(dt.UTC).date().isoformat()
