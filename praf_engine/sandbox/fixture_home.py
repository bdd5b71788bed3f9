"""A fixed demo home for pictures and tests: the real chain (scrape → fetch → QA) on a seeded sandbox at a fixed
market date, then every wall-clock column set to fixed times on that date, so screenshots and snapshot tests
render the same bytes on every machine. The data itself is what the real pipeline wrote."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from pathlib import Path

from peewee import Database, SqliteDatabase

FIXED_DATE = dt.date(2025, 6, 6)  # a Friday; the sandbox's scrape and fetch nights fall before it
FIXTURE_AS_OF = dt.date(2025, 6, 9)  # the next session after FIXED_DATE, which the demo's second fetch night reaches
FIXED_SIZE = 120
FIXED_SEED = 7
# more faults than the demo profile, so every panel and the triage list have findings in 120 listings
FIXED_FAULT_RATES = {"gap": 0.15, "null_field": 0.08, "zero_volume": 0.08, "jump": 0.06, "date_shift": 0.05,
                     "duplicate_last_row": 0.05, "currency_switch": 0.3, "empty": 0.03, "delisted": 0.02}

# table -> wall-clock columns rewritten to the fixed date (the order of rows is kept: times grow by id)
_CLOCK_COLUMNS: dict[str, tuple[str, ...]] = {
    "cron_status": ("started_at", "finished_at"),
    "ticker_fetch_meta": ("last_attempt_at",),
    "tickers": ("updated_at",),
    "qa_failures": ("created_at", "updated_at", "resolved_at"),
    "qa_summary": ("created_at",),
    "fetch_errors": ("last_ts",),
    "dlq_symbols": ("added_at",),
    "scrape_control": ("started_at", "finished_at"),
    "corporate_actions": ("created_at",),
    "qa_checks": ("updated_at",),
    "batch_latency": ("started_at",),
}
# measured latencies differ per machine and run: the pictures show a fixed 180 ms + 7 ms per batch instead
_LATENCY_COLUMNS = {"batch_latency": "180 + 7 * (batch_no / 100)", "ticker_fetch_meta": "CASE WHEN latency_ms IS NULL THEN NULL ELSE 180 END"}


def build_fixture_home(home: Path, *, size: int = FIXED_SIZE, today: dt.date = FIXED_DATE, seed: int = FIXED_SEED,
                       database_url: str | None = None) -> list[str]:
    """(Re)create ``home`` from the sandbox; returns the names of failed steps (empty when all passed).
    The dashboard's as-of date for it is FIXTURE_AS_OF (the demo's fetch moves the market one session on)."""
    from praf_engine.demo import DemoSession

    home = Path(home)
    if home.exists():
        shutil.rmtree(home)
    overrides = {("sandbox", "size"): size, ("sandbox", "today"): today, ("sandbox", "seed"): seed,
                 ("sandbox", "fault_rates"): FIXED_FAULT_RATES,
                 ("exits", "kind"): "direct"}  # exit names carry the sandbox's random ports; 120 listings stay under the limit
    if database_url:
        overrides[("database_url",)] = database_url
    # a fixture home is a SQLite home unless asked otherwise: never the DATABASE_URL of the calling environment
    environ = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("PRAF_")}
    with DemoSession(str(home), overrides, environ=environ) as session:
        failed = [r.name for r in map(session.run_step, session.steps) if not r.ok]
        freeze_clocks(session.service.db, today)
        freeze_measurements(session.service.db)
        scrub_messages(session.service.db)
    return failed


def freeze_measurements(db: Database) -> None:
    """Replace machine-dependent latencies by fixed values (fixture homes only). Only each batch's first call is kept
    (batch_no = batch * 100 + call): how many retry calls a batch makes depends on the threads' timing against the
    sandbox's rate limits, and one more moved the latency chart's p95 (a flaky snapshot)."""
    with db.atomic():
        db.execute_sql("DELETE FROM batch_latency WHERE batch_no % 100 <> 0")
        for table, expr in _LATENCY_COLUMNS.items():
            db.execute_sql(f"UPDATE {table} SET latency_ms = {expr}")


_RANGE = re.compile(r"\(1d \d{4}-\d{2}-\d{2} -> \d{4}-\d{2}-\d{2}\)")


_WARM_404, _COLD_404 = "No data found, symbol may be delisted", "possibly delisted; no timezone found"


def scrub_messages(db: Database) -> None:
    """yfinance's "no price data found (1d <start> -> <now>)" names the wall-clock day: keep the words only. Its 404
    reads "possibly delisted; no timezone found" or "No data found, symbol may be delisted" depending on whether its
    process-wide time-zone cache already knew the symbol (test order): keep the first wording."""
    mark = "?" if isinstance(db, SqliteDatabase) else "%s"
    with db.atomic():
        for row_id, msg in db.execute_sql("SELECT id, msg FROM fetch_errors").fetchall():
            clean = _RANGE.sub("(1d)", msg or "").replace(_WARM_404, _COLD_404)
            if clean != msg:
                db.execute_sql(f"UPDATE fetch_errors SET msg = {mark} WHERE id = {mark}", (clean, row_id))


def freeze_clocks(db: Database, day: dt.date) -> None:
    """Set every wall-clock column to ``day`` 02:00 UTC plus one second per row (by id where there is one)."""
    base = dt.datetime.combine(day, dt.time(2, 0))
    mark = "?" if isinstance(db, SqliteDatabase) else "%s"
    tables = set(db.get_tables())
    with db.atomic():
        for table, columns in _CLOCK_COLUMNS.items():
            if table not in tables:
                continue
            present = {c.name for c in db.get_columns(table)}
            for column in (c for c in columns if c in present):
                if "id" not in present:
                    db.execute_sql(f"UPDATE {table} SET {column} = {mark} WHERE {column} IS NOT NULL", (base,))
                    continue
                ids = db.execute_sql(f"SELECT id FROM {table} WHERE {column} IS NOT NULL ORDER BY id").fetchall()
                for i, (row_id,) in enumerate(ids):
                    db.execute_sql(f"UPDATE {table} SET {column} = {mark} WHERE id = {mark}", (base + dt.timedelta(seconds=i), row_id))
