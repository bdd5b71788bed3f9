"""A full metadata database is DBFULL (a storage code), not INTERNAL: SQLite's SQLITE_FULL for real (a page cap),
PostgreSQL's disk_full (SQLSTATE 53100) raised by the server itself."""

from __future__ import annotations

import json
import sqlite3

import peewee
import pytest

from praf_engine.db.database import is_postgres
from praf_engine.db.models import CronStatus
from praf_engine.errors import CATALOGUE, wrap
from praf_engine.jobs.runner import JobContext, JobRunner


def fill_sqlite(db: sqlite3.Connection | peewee.Database) -> None:
    """Cap the database (on this connection) at its current size and fill what is free under the cap: the next
    write that needs a new page fails with a genuine SQLITE_FULL ('database or disk is full')."""
    run = db.execute if isinstance(db, sqlite3.Connection) else db.execute_sql
    run("CREATE TABLE IF NOT EXISTS ballast (x BLOB)")
    pages = run("PRAGMA page_count").fetchone()[0]
    run(f"PRAGMA max_page_count = {pages}")
    for size in (2048, 256, 32, 1):
        try:
            for _ in range(100_000):
                run(f"INSERT INTO ballast VALUES (zeroblob({size}))")
        except (sqlite3.OperationalError, peewee.OperationalError) as exc:
            assert "database or disk is full" in str(exc)


def _sqlite_full(db: sqlite3.Connection | peewee.Database) -> None:
    fill_sqlite(db)
    (db.execute if isinstance(db, sqlite3.Connection) else db.execute_sql)("INSERT INTO ballast VALUES (zeroblob(64))")


def test_wrap_names_sqlite_full_dbfull_raw_and_through_peewee(tmp_path) -> None:
    raw = sqlite3.connect(tmp_path / "raw.db", isolation_level=None)  # autocommit: a failed insert undoes only itself
    with pytest.raises(sqlite3.OperationalError) as caught:
        _sqlite_full(raw)
    raw.close()
    err = wrap(caught.value)
    assert (err.error_code, err.detail["exception"]) == ("DBFULL", "OperationalError")
    assert "database or disk is full" in err.msg

    db = peewee.SqliteDatabase(str(tmp_path / "peewee.db"))
    with pytest.raises(peewee.OperationalError) as wrapped:  # peewee keeps the driver's error in args[0]
        _sqlite_full(db)
    db.close()
    assert wrap(wrapped.value).error_code == "DBFULL"
    assert wrap(sqlite3.OperationalError("no such table: x")).error_code == "INTERNAL"
    assert wrap(OSError(28, "No space left on device")).error_code == "INTERNAL"  # not the database: the caller's code


def _fill(ctx: JobContext) -> int:
    ctx.detail["progress"] = "x" * 10_000  # the finish record needs room the full database no longer has
    if is_postgres(ctx.db):  # the server's own disk_full error, as PostgreSQL raises it when it cannot extend a file
        ctx.db.execute_sql("DO $$ BEGIN RAISE EXCEPTION 'could not extend file \"base/1/2\": No space left on device' "
                           "USING ERRCODE = 'disk_full'; END $$")
    else:
        _sqlite_full(ctx.db)
    return 0


def test_a_job_on_a_full_database_exits_dbfull(service, settings) -> None:
    code = JobRunner(service.wiring).run("fetch", _fill)
    assert code == CATALOGUE["DBFULL"].exit_code == 1
    lines = [json.loads(x) for x in (settings.logs_dir / "app.jsonl").read_text().splitlines()]
    failed = [x for x in lines if x["error_code"] == "DBFULL" and x["level"] == "error"]
    assert failed and not failed[0].get("stack")  # a storage code, not INTERNAL: no stack
    assert not any(x["error_code"] == "INTERNAL" for x in lines)
    if not is_postgres(service.db):
        service.db.execute_sql("DROP TABLE ballast")  # space freed
    row = CronStatus.get(CronStatus.job == "fetch")
    assert (row.exit_code, row.error_code) == (1, "DBFULL")  # recorded, if need be without the job's detail
    if not is_postgres(service.db):  # the full record (10 kB of detail) did not fit; the codes did
        assert list(row.detail) == ["error"] and row.detail["error"]["error_code"] == "DBFULL"
        assert any("the run's end could not be recorded, retrying" in x["msg"] for x in failed)
