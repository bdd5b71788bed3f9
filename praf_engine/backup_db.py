"""The metadata database in a backup: SQLite's online backup API, or pg_dump/pg_restore of PRAF's PostgreSQL schema."""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import peewee
from peewee import Database, PostgresqlDatabase

from praf_engine.atomic import replacing
from praf_engine.config import Settings
from praf_engine.errors import PipelineError
from praf_engine.logs import redact

SQLITE_FILE, PG_FILE = "praf.db", "praf.dump"
# pg_restore --list lines of the schema itself: left out, so --clean drops and recreates PRAF's objects, never the schema
_SCHEMA_ENTRY = re.compile(r"^\d+; \d+ \d+ (SCHEMA|COMMENT - SCHEMA|ACL - SCHEMA) ")


def kind(db: Database) -> str:
    return "postgresql" if isinstance(db, PostgresqlDatabase) else "sqlite"


def dump(settings: Settings, db: Database, folder: Path) -> dict[str, Any]:
    """Write a consistent copy of the database into ``folder``; returns its manifest entry (without the hash)."""
    if kind(db) == "sqlite":
        return _sqlite_dump(db, folder / SQLITE_FILE)
    schema = _pg_schema(db)
    if schema is None:
        raise PipelineError("BACKUPFAIL", "DATABASE_URL selects a PostgreSQL schema that does not exist", {})
    out = folder / PG_FILE
    _pg_tool(settings, "pg_dump", "BACKUPFAIL", ["--format=custom", f'--schema="{schema}"', "--file", str(out)])
    return {"kind": "postgresql", "file": PG_FILE, "schema": schema}


def _sqlite_dump(db: Database, out: Path) -> dict[str, Any]:
    target = sqlite3.connect(out)
    try:
        db.connection().backup(target)  # the live database, open in WAL mode, copied page by page
        target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, readable without -wal/-shm
        check = target.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.Error as exc:
        raise PipelineError("BACKUPFAIL", f"could not copy the SQLite database: {exc}", {"path": str(out)}) from exc
    finally:
        target.close()
    if check != "ok":
        raise PipelineError("BACKUPFAIL", f"the live database fails PRAGMA quick_check: {check[:200]}",
                            {"database": str(db.database)})
    return {"kind": "sqlite", "file": SQLITE_FILE}


def keep_current(settings: Settings, db: Database, folder: Path) -> None:
    """Save the database a restore is about to replace; a SQLite file too damaged to open is kept as raw files."""
    try:
        dump(settings, db, folder)
    except (PipelineError, peewee.DatabaseError, sqlite3.DatabaseError):
        if kind(db) != "sqlite":
            raise
        for suffix in ("", "-wal"):
            live = Path(str(db.database) + suffix)
            if live.exists():
                shutil.copyfile(live, folder / (SQLITE_FILE + suffix))


def restore(settings: Settings, db: Database, entry: dict[str, Any], source: Path) -> None:
    """Replace the home's database by the backup's copy ``source`` (RESTOREFAIL if that fails part-way)."""
    if kind(db) == "sqlite":
        _sqlite_restore(db, source)
        return
    schema = _pg_schema(db)
    if schema is None:  # a new machine: the schema the URL selects is not there yet
        db.execute_sql(f'CREATE SCHEMA IF NOT EXISTS "{entry["schema"]}"')
        schema = _pg_schema(db)
    if schema != entry["schema"]:
        raise PipelineError("RESTOREBAD", f"the backup holds PostgreSQL schema {entry['schema']!r} but DATABASE_URL "
                            f"selects {schema!r}", {"backup_schema": entry["schema"], "schema": schema})
    with tempfile.TemporaryDirectory(prefix="praf-restore-") as tmp:
        listing = _pg_tool(settings, "pg_restore", "RESTOREBAD", ["--list", str(source)], url=False)
        items = Path(tmp) / "items.list"
        items.write_text("".join(line + "\n" for line in listing.splitlines() if not _SCHEMA_ENTRY.match(line)))
        db.close()  # our own connection must not hold a lock the restore's DROPs wait for
        try:
            _pg_tool(settings, "pg_restore", "RESTOREFAIL", ["--use-list", str(items), "--clean", "--if-exists",
                     "--single-transaction", "--exit-on-error", "--no-owner", "--no-privileges", str(source)])
        finally:
            db.connect(reuse_if_open=True)


def _sqlite_restore(db: Database, source: Path) -> None:
    backup = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        backup.backup(db.connection())  # page by page into the live file: safe for other open connections
    except (sqlite3.OperationalError, peewee.OperationalError) as exc:  # disk full, locked, read-only
        raise PipelineError("RESTOREFAIL", f"could not restore the SQLite database: {exc}", {}) from exc
    except (sqlite3.DatabaseError, peewee.DatabaseError):  # the live file is damaged beyond opening: replace it
        _replace_sqlite_file(db, source)
    finally:
        backup.close()


def _replace_sqlite_file(db: Database, source: Path) -> None:
    live = Path(db.database)
    db.close()
    try:
        with replacing(live) as tmp:
            shutil.copyfile(source, tmp)
            for suffix in ("-wal", "-shm"):
                live.with_name(live.name + suffix).unlink(missing_ok=True)
    except OSError as exc:
        raise PipelineError("RESTOREFAIL", f"could not replace {live}: {exc.strerror or exc}", {"path": str(live)}) from exc
    db.connect(reuse_if_open=True)


def _pg_schema(db: Database) -> str | None:
    return db.execute_sql("SELECT current_schema()").fetchone()[0]


def _pg_url(settings: Settings) -> tuple[str, dict[str, str]]:
    """DATABASE_URL without its password (never on a command line), and an environment carrying it."""
    url = settings.database_url.get_secret_value() if settings.database_url else ""
    parts = urlsplit(re.sub(r"^(postgres|psycopg3?)://", "postgresql://", url))
    env = dict(os.environ)
    userinfo, at, host = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        user, _, password = userinfo.partition(":")
        env["PGPASSWORD"] = unquote(password)
        parts = parts._replace(netloc=f"{user}@{host}")
    return urlunsplit(parts), env


def _pg_tool(settings: Settings, tool: str, code: str, args: list[str], *, url: bool = True) -> str:
    """Run pg_dump/pg_restore against the home's database; its stdout, or ``code`` with its (redacted) stderr."""
    folder = settings.backup.pg_bin_dir
    exe = shutil.which(tool, path=folder) if folder else shutil.which(tool)
    if exe is None:
        where = f"in backup.pg_bin_dir={folder}" if folder else "on PATH"
        raise PipelineError("BACKUPFAIL" if tool == "pg_dump" else "RESTOREFAIL",
                            f"{tool} not found {where}: install PostgreSQL's client programs (Debian: postgresql-client) "
                            "of the server's major version or newer, or set backup.pg_bin_dir", {"tool": tool})
    dburl, env = _pg_url(settings)
    cmd = [exe, *(["--dbname", dburl] if url else []), *args]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        err = redact(done.stderr.strip())[-800:]
        how = f"was killed by {signal.Signals(-done.returncode).name}" if done.returncode < 0 else f"failed (exit {done.returncode})"
        raise PipelineError(code, f"{tool} {how}: {err.splitlines()[-1] if err else 'no message'}",
                            {"tool": tool, "exit": done.returncode, "stderr": err})
    return done.stdout
