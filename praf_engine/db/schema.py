"""Create and migrate the schema: `praf-engine init` is idempotent and upgrades older schemas without losing rows.

How it works
1. ``schema_version`` holds one row per applied version; a database newer than this code is refused (DBSCHEMA).
2. Structure is reconciled with the models: a missing table is created; a table that lacks model columns (an
   older PRAF, or the seed plan's hand-written DDL) is rebuilt — new table, rows copied, old dropped, renamed —
   the portable way to add columns, NOT NULL defaults and CHECK constraints on SQLite and PostgreSQL alike.
3. Versioned data steps run once each, in order, inside the same transaction.
4. Indexes are created last (rows that would break a unique index are counted and logged, never silently kept).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from peewee import Database, ForeignKeyField, Model, PeeweeException, SqliteDatabase

from praf_engine.db.database import is_postgres
from praf_engine.db.models import ALL_MODELS, QACheck, SchemaVersion, utcnow
from praf_engine.errors import PipelineError
from praf_engine.logs import get_logger

log = get_logger(__name__)

# Columns renamed since the seed plan: (table, new column) -> old column.
RENAMED: dict[tuple[str, str], str] = {("cron_status", "started_at"): "ts"}


@dataclass
class MigrationReport:
    from_version: int
    to_version: int
    created: list[str] = field(default_factory=list)
    rebuilt: dict[str, int] = field(default_factory=dict)  # table -> rows copied
    dropped_duplicates: dict[str, int] = field(default_factory=dict)
    dropped_columns: dict[str, list[str]] = field(default_factory=dict)
    steps: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.rebuilt or self.steps)


def _seed_qa_checks(db: Database, defaults: list[dict[str, Any]]) -> None:
    for row in defaults:
        QACheck.insert(**row).on_conflict_ignore().execute()


def _normalise_seed_rows(db: Database) -> None:
    """Seed-era rows: upper-case symbols had no validator; statuses could be NULL."""
    db.execute_sql("UPDATE tickers SET status = 'active' WHERE status IS NULL")
    db.execute_sql("UPDATE ticker_fetch_meta SET full_history_pending = (last_fetched_date IS NULL)")
    # seed-era cron rows were written once, at the end of a run: they are finished runs, not running ones
    db.execute_sql("UPDATE cron_status SET finished_at = started_at WHERE finished_at IS NULL AND exit_code IS NOT NULL")


def _triage_index(db: Database) -> None:
    # the triage list's default page (unresolved, newest date first, then check, symbol, id) without a sort:
    # 7 ms -> 0.1 ms per page on 50,000 rows
    db.execute_sql("CREATE INDEX IF NOT EXISTS qa_failures_triage_order "
                   "ON qa_failures (resolved, date DESC, check_name, symbol, id)")


def _venue_mics(db: Database) -> None:
    """Nasdaq and NYSE Arca listings were stored with XNYS, their calendar: the venue's own MIC instead
    (calendars.resolve_mic maps it back to the XNYS calendar). The next scrape writes the same values."""
    for code, mic in (("nasdaq", "XNAS"), ("arca", "ARCX")):
        db.execute_sql(f"UPDATE tickers SET mic = '{mic}' WHERE exchange_code = '{code}' AND (mic IS NULL OR mic = 'XNYS')")


# Versioned steps: (version, description, function(db)). Append only; never edit a released step.
STEPS: list[tuple[int, str, Callable[[Database], None]]] = [
    (1, "baseline schema: SPEC §4 tables", lambda db: None),
    (2, "normalise rows carried over from the seed plan's DDL", _normalise_seed_rows),
    (3, "index for the triage list's default order", _triage_index),
    (4, "tickers: the venue's MIC for Nasdaq (XNAS) and NYSE Arca (ARCX) listings", _venue_mics),
    # the columns are added by the table rebuild (structure step): a home at 4 must run init for them
    (5, "ticker_fetch_meta: stale-at-source state (stale_since, stale_checks, retry_after; fetch_status 'stale')", lambda db: None),
    (6, "scheduler and control plane (scheduler_beat, job_requests, job_progress, job_control); alert delivery "
        "(alert_outbox subject, next_attempt_at, message_id; alert_mutes rule)", lambda db: None),
    (7, "the fix loop: qa_check_audit (threshold edits); qa_failures resolved_run_id and resolution 'refetch'",
     lambda db: None),
]
SCHEMA_VERSION = STEPS[-1][0]


def current_version(db: Database) -> int:
    if not db.table_exists(SchemaVersion._meta.table_name):
        return 0
    row = SchemaVersion.select(SchemaVersion.version).order_by(SchemaVersion.version.desc()).first()
    return row.version if row else 0


def _literal(db: Database, value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return ("TRUE" if value else "FALSE") if is_postgres(db) else str(int(value))
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict | list):
        value = json.dumps(value)
    if isinstance(value, dt.datetime):
        value = value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        value = value.isoformat()
    return "'" + str(value).replace("'", "''") + "'"


def _copy_expr(db: Database, model: type[Model], fname: str, old_cols: set[str]) -> str:
    f = model._meta.fields[fname]
    table = model._meta.table_name
    source = f.column_name if f.column_name in old_cols else RENAMED.get((table, f.column_name))
    if source not in old_cols:
        source = None
    default = f.default() if callable(f.default) else f.default
    if source is None:
        return _literal(db, default) if (default is not None or f.null) else _literal(db, _fallback(f))
    cast = source
    if is_postgres(db) and f.field_type == "JSON":
        cast = f"CAST({source} AS TEXT)::jsonb"
    elif is_postgres(db) and f.field_type == "BOOL":
        cast = f"CAST({source} AS BOOLEAN)"
    if not f.null:
        fill = default if default is not None else _fallback(f)
        return f"COALESCE({cast}, {_literal(db, fill)})"
    return cast


def _fallback(f: Any) -> Any:
    """A value for a NOT NULL column that has no default and no old value (dates: today)."""
    return {"DATE": utcnow().date(), "DATETIME": utcnow()}.get(f.field_type, "" if f.field_type in ("VARCHAR", "TEXT") else 0)


def _rebuild(db: Database, model: type[Model], report: MigrationReport) -> None:
    table = model._meta.table_name
    old_cols = {c.name for c in db.get_columns(table)}
    new_name = f"_new_{table}"
    tmp = type(f"_New{model.__name__}", (model,), {"Meta": type("Meta", (), {"table_name": new_name})})
    db.execute_sql(f"DROP TABLE IF EXISTS {new_name}")
    tmp._schema.create_table(safe=False)
    names = [n for n, f in model._meta.fields.items() if not (f.field_type == "AUTO" and f.column_name not in old_cols)]
    cols = ", ".join(model._meta.fields[n].column_name for n in names)
    exprs = ", ".join(_copy_expr(db, model, n, old_cols) for n in names)
    pk = model._meta.primary_key
    conditions = []
    unique_sets = [tuple(cols) for cols, unique in model._meta.indexes if unique]
    unique_sets += [(f.column_name,) for f in model._meta.fields.values() if f.unique and f is not pk]
    for index_fields in unique_sets:
        if pk is not None and pk.column_name in old_cols and all(c in old_cols for c in index_fields):
            conditions.append(f"{pk.column_name} IN (SELECT MAX({pk.column_name}) FROM {table} GROUP BY {', '.join(index_fields)})")
    where = (" WHERE " + " AND ".join(conditions)) if conditions else ""
    before = db.execute_sql(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    db.execute_sql(f"INSERT INTO {new_name} ({cols}) SELECT {exprs} FROM {table}{where}")
    after = db.execute_sql(f"SELECT COUNT(*) FROM {new_name}").fetchone()[0]
    db.execute_sql(f"DROP TABLE {table}" + (" CASCADE" if is_postgres(db) else ""))
    db.execute_sql(f"ALTER TABLE {new_name} RENAME TO {table}")
    if is_postgres(db) and pk is not None and pk.field_type == "AUTO":
        db.execute_sql(
            f"SELECT setval(pg_get_serial_sequence('{table}', '{pk.column_name}'), "
            f"COALESCE((SELECT MAX({pk.column_name}) FROM {table}), 0) + 1, false)"
        )
    report.rebuilt[table] = after
    if before != after:
        report.dropped_duplicates[table] = before - after
    extra = sorted(old_cols - {model._meta.fields[n].column_name for n in names} - {v for (t, _), v in RENAMED.items() if t == table})
    if extra:
        report.dropped_columns[table] = extra


def _children(model: type[Model]) -> list[type[Model]]:
    return [m for m in ALL_MODELS for f in m._meta.fields.values() if isinstance(f, ForeignKeyField) and f.rel_model is model]


def migrate(db: Database, qa_check_defaults: list[dict[str, Any]] | None = None) -> MigrationReport:
    """Bring the bound database to ``SCHEMA_VERSION``; safe to run any number of times."""
    try:
        return _migrate(db, qa_check_defaults or [])
    except PipelineError:
        raise
    except PeeweeException as exc:
        raise PipelineError("DBSCHEMA", f"schema migration failed and was rolled back: {type(exc).__name__}: {exc}") from None


def _migrate(db: Database, qa_check_defaults: list[dict[str, Any]]) -> MigrationReport:
    start = current_version(db)
    if start > SCHEMA_VERSION:
        raise PipelineError(
            "DBSCHEMA",
            f"database schema is version {start}, newer than this PRAF ({SCHEMA_VERSION}); upgrade PRAF",
            {"database_version": start, "code_version": SCHEMA_VERSION},
        )
    report = MigrationReport(from_version=start, to_version=SCHEMA_VERSION)
    sqlite = isinstance(db, SqliteDatabase)
    if sqlite:
        db.execute_sql("PRAGMA foreign_keys = OFF")  # table rebuilds; checked again below
    try:
        with db.atomic():
            to_rebuild: list[type[Model]] = []
            for model in ALL_MODELS:
                table = model._meta.table_name
                if not db.table_exists(table):
                    model._schema.create_table(safe=True)
                    report.created.append(table)
                    continue
                have = {c.name for c in db.get_columns(table)}
                if any(f.column_name not in have for f in model._meta.fields.values()) and model not in to_rebuild:
                    to_rebuild.append(model)
                    to_rebuild.extend(c for c in _children(model) if c not in to_rebuild and db.table_exists(c._meta.table_name))
            for model in sorted(to_rebuild, key=ALL_MODELS.index):
                _rebuild(db, model, report)
            for version, description, step in STEPS:
                if version > start:
                    step(db)
                    SchemaVersion.insert(version=version, description=description).on_conflict_ignore().execute()
                    report.steps.append(f"{version}: {description}")
            for model in ALL_MODELS:
                model._schema.create_indexes(safe=True)
            _seed_qa_checks(db, qa_check_defaults)
            if sqlite:
                broken = db.execute_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise PipelineError("DBSCHEMA", f"{len(broken)} rows break foreign keys after migration; rolled back",
                                        {"sample": [list(map(str, r)) for r in broken[:10]]})
    finally:
        if sqlite:
            db.execute_sql("PRAGMA foreign_keys = ON")
    if report.changed:
        log.info("schema migrated", detail={
            "from": start, "to": SCHEMA_VERSION, "created": report.created, "rebuilt": report.rebuilt,
            "dropped_duplicates": report.dropped_duplicates, "dropped_columns": report.dropped_columns,
        })
    if report.dropped_duplicates:
        log.warning("rows dropped to satisfy unique keys", error_code="DBSCHEMA", detail=report.dropped_duplicates)
    return report
