"""The metadata database on SQLite and PostgreSQL: schema, constraints, idempotent init and upgrades."""

from __future__ import annotations

import datetime as dt
import sqlite3

import peewee
import pytest

from praf_engine.db.database import is_postgres, open_database
from praf_engine.db.models import (
    ALL_MODELS,
    CronStatus,
    QAFailure,
    SchemaVersion,
    Ticker,
    TickerFetchMeta,
)
from praf_engine.db.schema import SCHEMA_VERSION, current_version, migrate
from praf_engine.errors import PipelineError
from praf_engine.service import EngineService
from tests.conftest import REPO

SEED_SQL = (REPO / "tests" / "data" / "seed_schema_v0.sql").read_text()


def _ticker(symbol: str, **kw: object) -> Ticker:
    defaults = {"exchange_code": "nasdaq", "first_seen": dt.date(2025, 1, 1), "last_seen": dt.date(2025, 6, 1)}
    return Ticker.create(symbol=symbol, **{**defaults, **kw})


def test_init_creates_every_table_and_is_idempotent(service: EngineService) -> None:
    tables = set(service.db.get_tables())
    assert {m._meta.table_name for m in ALL_MODELS} <= tables
    assert current_version(service.db) == SCHEMA_VERSION
    _ticker("AAPL")
    again = service.init()
    assert again["created_tables"] == [] and again["rebuilt_tables"] == {} and again["steps"] == []
    assert Ticker.select().count() == 1
    assert SchemaVersion.select().count() == SCHEMA_VERSION


def test_sqlite_pragmas(sqlite_settings) -> None:
    service = EngineService.open(sqlite_settings)
    try:
        db = service.db
        assert db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
        assert db.execute_sql("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert db.execute_sql("PRAGMA busy_timeout").fetchone()[0] >= 5000
    finally:
        service.close()


def test_backend_is_the_one_asked_for(service: EngineService, backend: str | None) -> None:
    assert is_postgres(service.db) == bool(backend)


def test_check_constraints_reject_unknown_states(service: EngineService) -> None:
    with pytest.raises(peewee.IntegrityError), service.db.atomic():
        _ticker("BAD", status="bogus")
    _ticker("AAPL")
    with pytest.raises(peewee.IntegrityError), service.db.atomic():
        TickerFetchMeta.create(symbol="AAPL", fetch_status="maybe")


def test_foreign_key_and_cascade(service: EngineService) -> None:
    with pytest.raises(peewee.IntegrityError), service.db.atomic():
        TickerFetchMeta.create(symbol="NOPE")
    _ticker("MSFT")
    TickerFetchMeta.create(symbol="MSFT", last_fetched_date=dt.date(2025, 6, 5))
    Ticker.delete().where(Ticker.symbol == "MSFT").execute()
    assert TickerFetchMeta.select().count() == 0


def test_one_failure_per_symbol_check_and_date(service: EngineService) -> None:
    key = {"symbol": "AAPL", "check_name": "lag_check", "date": dt.date(2025, 6, 5)}
    QAFailure.create(**key, details={"days_behind": 3})
    with pytest.raises(peewee.IntegrityError), service.db.atomic():
        QAFailure.create(**key, details={"days_behind": 4})
    QAFailure.create(**{**key, "date": dt.date(2025, 6, 6)}, details={"days_behind": 4})
    assert QAFailure.get(QAFailure.date == dt.date(2025, 6, 6)).details == {"days_behind": 4}


def test_json_and_dates_round_trip(service: EngineService) -> None:
    details = {"dates": ["2025-06-02", "2025-06-03"], "move_pct": 81.25, "nested": {"ok": True}}
    row = QAFailure.create(symbol="VOD.L", check_name="missing_dates", date=dt.date(2025, 6, 5), details=details)
    back = QAFailure.get_by_id(row.id)
    assert back.details == details
    assert back.date == dt.date(2025, 6, 5)
    assert isinstance(back.created_at, dt.datetime)


def _load_seed_schema(settings, backend) -> None:
    """Build the seed plan's v0 schema with rows, the way an operator following the plan would have."""
    if backend:
        import psycopg2

        conn = psycopg2.connect(backend)
        with conn, conn.cursor() as cur:
            cur.execute(SEED_SQL)
        conn.close()
    else:
        settings.home.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(settings.db_path)
        conn.executescript(SEED_SQL)
        conn.commit()
        conn.close()


def test_init_upgrades_the_seed_schema_without_losing_rows(settings, backend) -> None:
    _load_seed_schema(settings, backend)
    with pytest.raises(PipelineError) as refused:  # only `init` upgrades
        EngineService.open(settings)
    assert refused.value.error_code == "DBSCHEMA"
    service = EngineService(settings)
    try:
        info = service.init()
        if not backend:
            assert info["backup"] and "praf-v0-" in info["backup"]
        assert info["rebuilt_tables"] == {"tickers": 4, "ticker_fetch_meta": 2, "qa_failures": 2, "cron_status": 1}
        assert {t.symbol: t.status for t in Ticker.select()} == {
            "AAPL": "active", "BRK-B": "active", "VOD.L": "delisted", "SAP.DE": "active"}
        meta = {m.symbol_id: m for m in TickerFetchMeta.select()}
        assert meta["AAPL"].last_fetched_date == dt.date(2025, 6, 5) and meta["AAPL"].fetch_status == "ok"
        assert meta["BRK-B"].consecutive_failures == 3 and meta["BRK-B"].full_history_pending is False
        failures = {f.id: f for f in QAFailure.select()}
        # the two rows for (AAPL, lag_check, 2025-06-05) collapse to the newest; it is counted and logged
        assert set(failures) == {2, 3}
        assert failures[3].details == {"days_missed": 4} and failures[2].resolved is True
        cron = CronStatus.get()
        assert cron.job == "nightly_fetch" and cron.started_at == dt.datetime(2025, 6, 6, 1, 0) and cron.exit_code == 0
        # new features work on the upgraded tables: new states, new rows, ids continue after the old ones
        TickerFetchMeta.update(fetch_status="suspect_missing").where(TickerFetchMeta.symbol == "AAPL").execute()
        new = QAFailure.create(symbol="AAPL", check_name="null_fields", date=dt.date(2025, 6, 6))
        assert new.id > 3
        QAFailure.update(resolved=True, resolution="refetch", resolved_run_id="r-1").where(QAFailure.id == new.id).execute()
        CronStatus.create(job="qa", run_id="r-2")
        again = service.init()
        assert again["rebuilt_tables"] == {} and again["steps"] == []
        assert Ticker.select().count() == 4
    finally:
        service.close()


def test_a_newer_schema_is_refused(service: EngineService) -> None:
    SchemaVersion.create(version=SCHEMA_VERSION + 1, description="from the future")
    with pytest.raises(PipelineError) as err:
        migrate(service.db)
    assert err.value.error_code == "DBSCHEMA" and "newer" in err.value.msg


def test_failed_migration_rolls_back(settings, backend) -> None:
    """A table that cannot be upgraded (duplicate run ids and no id column) leaves the database as it was."""
    ddl = "CREATE TABLE cron_status (job TEXT, run_id TEXT, ts TIMESTAMP, exit_code INTEGER);"
    rows = "INSERT INTO cron_status VALUES ('fetch', 'same', '2025-06-06 01:00:00', 0), ('fetch', 'same', '2025-06-07 01:00:00', 1);"
    if backend:
        import psycopg2

        conn = psycopg2.connect(backend)
        with conn, conn.cursor() as cur:
            cur.execute(ddl + rows)
        conn.close()
    else:
        settings.home.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(settings.db_path)
        conn.executescript(ddl + rows)
        conn.close()
    db = open_database(settings.database_url.get_secret_value() if settings.database_url else None, settings.db_path)
    try:
        with pytest.raises(PipelineError) as err:
            migrate(db)
        assert err.value.error_code == "DBSCHEMA"
        assert db.execute_sql("SELECT COUNT(*) FROM cron_status").fetchone()[0] == 2
        assert "ts" in {c.name for c in db.get_columns("cron_status")}
        assert not db.table_exists("schema_version")
    finally:
        db.close()


def test_bad_database_url_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(PipelineError) as err:
        open_database("postgresql://nobody:hunter2secret@127.0.0.1:1/none", tmp_path / "x.db")
    assert err.value.error_code == "DBERROR"
    assert "hunter2secret" not in str(err.value.to_dict())
