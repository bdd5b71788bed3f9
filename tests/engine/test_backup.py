"""Backups and restore (seed §3.8, §9.7): a filled home is backed up, damaged, restored and compared, on SQLite and
PostgreSQL; a live home is refused without --force; keep N; a killed or failed backup leaves nothing half-made."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from praf_engine.backup import create_backup, list_backups, restore_backup, verify_backup
from praf_engine.config import Settings
from praf_engine.db.database import bind, make_database, open_database
from praf_engine.db.models import (
    ALL_MODELS,
    CorporateAction,
    CronStatus,
    JobLock,
    QAFailure,
    Ticker,
    TickerFetchMeta,
)
from praf_engine.errors import PipelineError
from praf_engine.jobs.registry import JOBS
from praf_engine.jobs.runner import JobRunner
from praf_engine.lake import Lake
from tests.conftest import REPO, make_settings
from tests.engine.test_cli import praf

SYMBOLS = ("AAPL", "MSFT", "VOD.L", "SAP.DE")


def _bars(start: str, end: str, price: float) -> pd.DataFrame:
    dates = pd.bdate_range(start, end)
    p = price + np.arange(len(dates), dtype=float) / 10
    return pd.DataFrame({"date": dates, "open": p, "high": p + 1, "low": p - 1, "close": p + 0.5, "adj_close": p + 0.25,
                         "volume": np.arange(len(dates), dtype=np.int64) + 1000})


def fill(settings: Settings) -> None:
    """Rows in the tables the damage touches (and their neighbours), and two years of bars per symbol."""
    for i, sym in enumerate(SYMBOLS):
        Ticker.create(symbol=sym, exchange_code="nasdaq", name=f"{sym} plc", currency="USD", mic="XNAS",
                      first_seen=dt.date(2020, 1, 2), last_seen=dt.date(2025, 6, 2))
        TickerFetchMeta.create(symbol=sym, last_fetched_date=dt.date(2025, 6, 2), full_history_pending=False, latency_ms=12.5)
        for day in range(1, 4):
            QAFailure.create(symbol=sym, date=dt.date(2025, 6, day), check_name="missing_dates", severity="warning",
                             details={"missing": [f"2025-05-{10 + i}"]}, run_id=f"run-{day}")
    CorporateAction.create(symbol="AAPL", action_date=dt.date(2024, 6, 10), action_type="split", ratio=4.0, source="manual")
    Lake(settings.lake_dir).write_many({sym: _bars("2024-01-01", "2025-06-02", 10.0 + i) for i, sym in enumerate(SYMBOLS)})


def snapshot(settings: Settings) -> dict[str, Any]:
    """Every row of every table (by primary key) and the SHA-256 of every lake file."""
    tables = {m._meta.table_name: list(m.select().order_by(m._meta.primary_key).tuples()) for m in ALL_MODELS}
    lake = {p.relative_to(settings.lake_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(settings.lake_dir.rglob("*")) if p.is_file()}
    return {"tables": tables, "lake": lake}


def part(settings: Settings, sym: str, year: int) -> Path:
    return settings.lake_dir / f"symbol={sym}" / f"year={year}" / "part-000.parquet"


def damage(settings: Settings) -> None:
    """Deleted rows, a Parquet file truncated in place, a deleted partition, a stray partition."""
    Ticker.delete().where(Ticker.symbol == "MSFT").execute()
    QAFailure.delete().where(QAFailure.symbol == "AAPL").execute()
    with open(part(settings, "AAPL", 2024), "r+b") as f:
        f.truncate(100)
    part(settings, "VOD.L", 2025).unlink()
    Lake(settings.lake_dir).write("ZZZ", _bars("2025-01-01", "2025-02-01", 5.0))


def test_backup_damage_restore_gives_back_every_row_and_file(service, settings: Settings) -> None:
    fill(settings)
    before = snapshot(settings)
    info, pruned = create_backup(settings, service.db)
    assert pruned == [] and info.files == len(before["lake"]) == 8
    damage(settings)
    damaged = snapshot(settings)
    assert damaged != before

    with pytest.raises(PipelineError) as refused:  # a live home: nothing changes without --force
        restore_backup(settings, service.db)
    assert refused.value.error_code == "RESTORELIVE" and "rows in" in refused.value.msg
    assert snapshot(settings) == damaged

    result = restore_backup(settings, service.db, force=True)
    assert snapshot(settings) == before
    assert (result["files_restored"], result["files_unchanged"], result["files_displaced"]) == (2, 6, 1)
    aside = Path(result["displaced"])  # what the restore replaced is kept, not deleted
    assert (aside / "lake" / "symbol=ZZZ" / "year=2025" / "part-000.parquet").is_file()
    assert (aside / "lake" / "symbol=AAPL" / "year=2024" / "part-000.parquet").stat().st_size == 100
    assert (aside / ("praf.db" if settings.database_url is None else "praf.dump")).stat().st_size > 0
    assert not (settings.lake_dir / "symbol=ZZZ").exists()
    QAFailure.create(symbol="AAPL", date=dt.date(2025, 6, 9), check_name="lag_check")  # the id sequence came back too
    assert Lake(settings.lake_dir).read_symbol("AAPL").num_rows == len(pd.bdate_range("2024-01-01", "2025-06-02"))
    assert [b.name for b in list_backups(settings)] == [info.name]  # the displaced folder is not a backup


def test_restore_into_a_fresh_home_from_a_copied_backup(service, settings: Settings, tmp_path: Path) -> None:
    fill(settings)
    before = snapshot(settings)
    info, _ = create_backup(settings, service.db)
    usb = tmp_path / "usb" / info.name
    shutil.copytree(info.path, usb)  # the operator carried the backup to a new machine
    service.close()
    if settings.database_url is not None:  # a new server: PRAF's schema does not exist yet
        db = open_database(settings.database_url.get_secret_value(), settings.db_path)
        schema = db.execute_sql("SELECT current_schema()").fetchone()[0]
        db.execute_sql(f'DROP SCHEMA "{schema}" CASCADE')
        db.close()
    new = make_settings(tmp_path / "new-home", settings.database_url.get_secret_value() if settings.database_url else None)
    db = open_database(new.database_url.get_secret_value() if new.database_url else None, new.db_path)
    try:
        result = restore_backup(new, db, str(usb))  # no --force needed: nothing to replace
        assert result["displaced"] is None and result["files_restored"] == 8
        assert snapshot(new) == before
    finally:
        db.close()


def test_a_damaged_backup_is_refused_before_anything_changes(service, settings: Settings) -> None:
    fill(settings)
    info, _ = create_backup(settings, service.db)
    damage(settings)
    damaged = snapshot(settings)
    copy = info.path / "lake" / "symbol=MSFT" / "year=2025" / "part-000.parquet"
    copy.write_bytes(copy.read_bytes()[:-1] + b"\0")  # same size, one byte changed
    with pytest.raises(PipelineError) as bad:
        restore_backup(settings, service.db, force=True)
    assert bad.value.error_code == "RESTOREBAD" and "symbol=MSFT/year=2025/part-000.parquet: SHA-256 differs" in bad.value.msg
    assert snapshot(settings) == damaged
    with pytest.raises(PipelineError) as missing:
        restore_backup(settings, service.db, "20000101T000000Z", force=True)
    assert missing.value.error_code == "RESTOREBAD"


def test_the_job_leaves_a_cron_status_row_and_its_restore_settles_it(service, settings: Settings) -> None:
    fill(settings)
    assert JobRunner(service.wiring).run("backup", JOBS["backup"].load()) == 0
    row = CronStatus.get(CronStatus.job == "backup")
    assert (row.exit_code, row.error_code) == (0, None) and row.finished_at is not None
    assert row.detail["backup"] == list_backups(settings)[0].name and row.detail["files"] == 8
    CronStatus.delete().execute()
    restore_backup(settings, service.db, force=True)
    restored = CronStatus.get(CronStatus.run_id == row.run_id)  # the snapshot was taken mid-run: finished, not killed
    assert restored.exit_code == 0 and restored.finished_at is not None
    assert JobLock.select().count() == 0


def test_keep_n_prunes_the_oldest_and_the_rest_stay_whole(service, tmp_path: Path, backend: str | None) -> None:
    settings = make_settings(tmp_path / "home", backend, backup__keep=2)
    fill(settings)
    names = []
    for i in range(3):
        Lake(settings.lake_dir).write("AAPL", _bars("2025-06-03", "2025-06-03", 50.0 + i))  # a nightly change
        info, pruned = create_backup(settings, service.db)
        names.append(info.name)
        assert pruned == ([] if i < 2 else [names[0]])
    assert [b.name for b in list_backups(settings)] == names[1:]
    assert not (settings.backups_dir / names[0]).exists()
    for b in list_backups(settings):
        verify_backup(b)  # files linked from the pruned backup are still there
    unchanged = "symbol=MSFT/year=2024/part-000.parquet"
    assert os.stat(settings.backups_dir / names[1] / "lake" / unchanged).st_ino == \
        os.stat(settings.backups_dir / names[2] / "lake" / unchanged).st_ino  # an unchanged file is stored once


_CHILD = textwrap.dedent("""
    import json, os, resource, signal, sys
    from pathlib import Path
    from praf_engine.backup import create_backup
    from praf_engine.config import load_settings
    from praf_engine.errors import PipelineError
    from praf_engine.service import EngineService

    home, url, how = sys.argv[1:4]
    settings = load_settings(home=home, environ={"DATABASE_URL": url} if url else {}, cwd=Path(home))
    service = EngineService.open(settings, init=False)

    def kill(step, done, total):
        if done == 3:
            os.kill(os.getpid(), signal.SIGKILL)

    if how == "full":  # no room left: every write beyond 1 KiB fails (pg_dump inherits the limit)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, resource.RLIM_INFINITY))
    try:
        create_backup(settings, service.db, progress=kill if how == "kill" else None)
    except PipelineError as exc:
        print(json.dumps(exc.to_dict()))
        sys.exit(exc.exit_code)
""")


@pytest.mark.parametrize("how", ["kill", "full"])
def test_a_killed_or_failed_backup_leaves_nothing_half_made(service, settings: Settings, how: str) -> None:
    fill(settings)
    first, _ = create_backup(settings, service.db)
    Lake(settings.lake_dir).write("AAPL", _bars("2025-06-03", "2025-06-03", 60.0))  # so the next one copies a file
    url = settings.database_url.get_secret_value() if settings.database_url else ""
    child = subprocess.run([sys.executable, "-c", _CHILD, str(settings.home), url, how], cwd=REPO,
                           capture_output=True, text=True, timeout=120)
    if how == "kill":
        assert child.returncode == -9, child.stderr
        assert [p.name for p in settings.backups_dir.iterdir() if p.name.startswith(".tmp-")]  # it was mid-way
    else:
        assert child.returncode == 1, child.stderr
        error = json.loads(child.stdout.splitlines()[-1])
        assert error["error_code"] == "BACKUPFAIL", error
        assert not [p.name for p in settings.backups_dir.iterdir() if p.name.startswith(".tmp-")]
    assert [b.name for b in list_backups(settings)] == [first.name]  # restore can only pick a complete backup
    verify_backup(first)
    second, _ = create_backup(settings, service.db)  # the next backup clears what the killed one left
    assert sorted(p.name for p in settings.backups_dir.iterdir()) == sorted([first.name, second.name])


def test_pg_dump_gets_no_password_on_its_command_line(service, settings: Settings, tmp_path: Path) -> None:
    if settings.database_url is None:
        pytest.skip("PostgreSQL only")
    url = settings.database_url.get_secret_value().replace("postgres@", "postgres:s3cret%40pw@")  # trust auth: ignored
    tools = tmp_path / "bin"
    tools.mkdir()
    seen = tmp_path / "seen.txt"
    (tools / "pg_dump").write_text(f'#!/bin/sh\necho "argv: $*" >> {seen}\necho "PGPASSWORD=$PGPASSWORD" >> {seen}\n'
                                   f'exec {shutil.which("pg_dump")} "$@"\n')
    (tools / "pg_dump").chmod(0o755)
    with_pw = make_settings(settings.home, url, backup__pg_bin_dir=str(tools))
    info, _ = create_backup(with_pw, service.db)
    verify_backup(info)
    argv, env = seen.read_text().splitlines()
    assert "s3cret" not in argv and "postgres@127.0.0.1" in argv
    assert env == "PGPASSWORD=s3cret@pw"
    (settings.home / "empty-bin").mkdir()
    missing = make_settings(settings.home, url, backup__pg_bin_dir=str(settings.home / "empty-bin"))
    with pytest.raises(PipelineError) as err:
        create_backup(missing, service.db)
    assert err.value.error_code == "BACKUPFAIL" and "pg_dump not found" in err.value.msg
    assert [p.name for p in settings.backups_dir.iterdir()] == [info.name]


def test_a_sqlite_database_damaged_beyond_opening_is_restored(sqlite_settings: Settings) -> None:
    from praf_engine.service import EngineService

    settings = sqlite_settings
    service = EngineService.open(settings)
    fill(settings)
    before = snapshot(settings)
    create_backup(settings, service.db)
    service.close()
    with open(settings.db_path, "r+b") as f:
        f.write(b"this is no longer a database" * 40)
    db = bind(make_database(None, settings.db_path))  # not connected: connecting runs pragmas, which fail here
    try:
        result = restore_backup(settings, db, force=True)
        assert snapshot(settings) == before
        assert (Path(result["displaced"]) / "praf.db").read_bytes().startswith(b"this is no longer")
    finally:
        db.close()


def test_cli_backup_list_and_restore(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert praf(home, "init").returncode == 0
    Lake(home / "lake").write("AAPL", _bars("2025-01-02", "2025-03-03", 10.0))
    made = praf(home, "backup")
    assert made.returncode == 0, made.stderr
    assert "1 lake files" in made.stderr
    listed = praf(home, "backup", "--list")
    assert listed.returncode == 0 and "sqlite" in listed.stdout
    refused = praf(home, "restore")
    assert refused.returncode == 1 and "[RESTORELIVE]" in refused.stderr
    part_file = home / "lake" / "symbol=AAPL" / "year=2025" / "part-000.parquet"
    good = part_file.read_bytes()
    part_file.write_bytes(good[:50])
    restored = praf(home, "restore", "--force")
    assert restored.returncode == 0, restored.stderr
    assert part_file.read_bytes() == good
    assert "1 lake files put back" in restored.stderr.replace("\n", " ")
