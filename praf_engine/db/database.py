"""Open the metadata database (SQLite with WAL by default, PostgreSQL with DATABASE_URL) and bind the models."""

from __future__ import annotations

import re
import weakref
from pathlib import Path

from peewee import Database, PeeweeException, PostgresqlDatabase, SqliteDatabase
from playhouse.db_url import connect as connect_url

from praf_engine.db.models import database_proxy
from praf_engine.errors import PipelineError

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": "normal",
    "busy_timeout": 10_000,
    "foreign_keys": 1,
    "cache_size": -32_000,
}


def sqlite_database(path: Path) -> SqliteDatabase:
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteDatabase(str(path), pragmas=SQLITE_PRAGMAS, check_same_thread=False, timeout=10)


_MADE: weakref.WeakSet[Database] = weakref.WeakSet()  # every database this process made, for open_connections


def make_database(url: str | None, sqlite_path: Path) -> Database:
    """A Peewee database for ``url`` (postgresql://…, sqlite:///…) or the home's SQLite file."""
    try:
        if not url:
            db = sqlite_database(sqlite_path)
        elif url.startswith("sqlite:"):
            db = connect_url(url, pragmas=SQLITE_PRAGMAS)
        else:
            db = connect_url(re.sub(r"^postgres://", "postgresql://", url))
    except (PeeweeException, ValueError, RuntimeError) as exc:
        raise PipelineError("DBERROR", f"cannot open the database: {type(exc).__name__}: {exc}") from None
    _MADE.add(db)
    return db


def open_connections() -> int:
    """How many of this process's databases have a connection open in this thread (a fork must find none:
    praf_engine.prefetch)."""
    return sum(not db.is_closed() for db in list(_MADE))


def bind(db: Database) -> Database:
    """Point every model at ``db`` (the models live on one DatabaseProxy)."""
    database_proxy.initialize(db)
    return db


def open_database(url: str | None, sqlite_path: Path) -> Database:
    """Make, bind and connect: the one call the entry points use."""
    db = bind(make_database(url, sqlite_path))
    try:
        db.connect(reuse_if_open=True)
    except PeeweeException as exc:
        raise PipelineError("DBERROR", f"cannot connect to the database: {type(exc).__name__}: {exc}") from None
    return db


def is_postgres(db: Database) -> bool:
    return isinstance(db, PostgresqlDatabase)


def describe(db: Database) -> str:
    """A secret-free description: 'sqlite:/path/praf.db' or 'postgresql://host:port/name'."""
    if isinstance(db, SqliteDatabase):
        return f"sqlite:{db.database}"
    params = getattr(db, "connect_params", {})
    return f"postgresql://{params.get('host', 'localhost')}:{params.get('port', 5432)}/{db.database}"
