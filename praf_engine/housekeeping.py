"""House-keeping jobs (seed §3.4): weekly VACUUM, raw-cache purge, QA auto-resolve, lake temp-file cleanup, and the
archival of long-delisted tickers with their yearly export."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from peewee import Database, SqliteDatabase

from praf_engine.db.models import QAFailure, utcnow
from praf_engine.errors import PipelineError
from praf_engine.jobs.runner import JobContext
from praf_engine.logs import get_logger
from praf_engine.universe.lifecycle import archive_delisted

log = get_logger(__name__)


def vacuum(db: Database) -> dict[str, object]:
    """SQLite: checkpoint the WAL and VACUUM; PostgreSQL: VACUUM ANALYZE (outside a transaction)."""
    started = time.perf_counter()
    if isinstance(db, SqliteDatabase):
        db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute_sql("VACUUM")
        db.execute_sql("PRAGMA optimize")
    else:
        conn = db.connection()
        previous = conn.autocommit
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute("VACUUM ANALYZE")
        finally:
            conn.autocommit = previous
    return {"seconds": round(time.perf_counter() - started, 3)}


def purge_raw_cache(cache_dir: Path, keep_days: int, now: dt.datetime) -> int:
    """Delete raw cache files older than ``keep_days`` (by file date in the name, else mtime)."""
    cutoff = now - dt.timedelta(days=keep_days)
    removed = 0
    if not cache_dir.exists():
        return 0
    if not cache_dir.is_dir():
        raise PipelineError("LAKEIO", f"raw cache path {cache_dir} is not a directory")
    for path in cache_dir.rglob("*.csv"):
        try:
            stamp = dt.datetime.strptime(path.stem, "%Y-%m-%d")
        except ValueError:
            stamp = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).replace(tzinfo=None)
        if stamp < cutoff:
            path.unlink()
            removed += 1
    for folder in sorted((p for p in cache_dir.rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
    return removed


def autoresolve_failures(days: int, today: dt.date) -> int:
    """QA failures older than ``days`` and still open are resolved with resolution='auto' (seed §3.4)."""
    cutoff = today - dt.timedelta(days=days)
    return (
        QAFailure.update(resolved=True, resolution="auto", resolved_by="retention", resolved_at=utcnow(),
                         note=f"auto-resolved after {days} days", updated_at=utcnow())
        .where(QAFailure.resolved == False, QAFailure.date < cutoff)  # noqa: E712 - SQL comparison
        .execute()
    )


def vacuum_job(ctx: JobContext) -> int:
    ctx.detail.update(vacuum(ctx.db))
    log.info("vacuum done", detail=ctx.detail)
    return 0


def retention_job(ctx: JobContext) -> int:
    """The daily house-keeping run (scheduled at ``schedule.archival_time``): raw cache, QA auto-resolve, lake temp
    files, then delisted tickers past ``retention.delisted_archive_months`` archived and last years' archived rows
    exported to ``archive/tickers_YYYY.csv.gz`` (the scrape job does the same after every scrape)."""
    s = ctx.settings
    now = ctx.clock()
    ctx.detail["raw_cache_removed"] = purge_raw_cache(s.cache_dir / "yahoo", s.retention.raw_cache_days, now)
    ctx.detail["qa_auto_resolved"] = autoresolve_failures(s.retention.qa_autoresolve_days, now.date())
    ctx.detail["lake_temp_removed"] = ctx.lake.cleanup_temp()
    ctx.detail["archive"] = archive_delisted(s, now.date())
    log.info("retention done", detail=ctx.detail)
    return 0
