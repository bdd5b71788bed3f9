"""`praf-engine run retention` (seed §3.4): long-delisted tickers archived and last years' archived rows exported
(SPEC §2, §4), the 7-day raw-cache purge, the 90-day auto-resolve of open QA failures."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import os
from pathlib import Path

from praf_engine.db.models import CronStatus, QAFailure, Ticker, TickerFetchMeta
from praf_engine.service import EngineService
from tests.conftest import make_settings
from tests.engine.test_cli import praf


def _ticker(symbol: str, status: str, changed: dt.date) -> None:
    Ticker.create(symbol=symbol, exchange_code="nasdaq", exchange_symbol=symbol, name=f"{symbol} Inc.", currency="USD",
                  mic="XNAS", first_seen=dt.date(2015, 1, 2), last_seen=changed, status=status, status_changed=changed,
                  scraper_source="NasdaqScraper")


def test_retention_run_archives_old_delisted_and_writes_the_yearly_export(tmp_path: Path, backend: str | None) -> None:
    home = tmp_path / "home"
    assert praf(home, "init", backend=backend).returncode == 0
    today = dt.datetime.now(dt.UTC).date()
    last_year = today.year - 1
    settings = make_settings(home, backend)
    service = EngineService.open(settings, init=False)
    try:
        _ticker("OLDCO", "delisted", today - dt.timedelta(days=3 * 366))  # delisted > 24 months: archived now
        _ticker("RECENT", "delisted", today - dt.timedelta(days=200))  # not yet
        _ticker("LIVE", "active", today)
        _ticker("GONE", "archived", dt.date(last_year, 3, 15))  # archived last year: exported and deleted
        TickerFetchMeta.create(symbol="GONE", last_fetched_date=dt.date(last_year - 2, 3, 1))
    finally:
        service.close()

    run = praf(home, "run", "retention", backend=backend)
    assert run.returncode == 0, run.stderr

    export = home / "archive" / f"tickers_{last_year}.csv.gz"
    with gzip.open(export, "rt", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["symbol"], r["status"], r["status_changed"], r["name"]) for r in rows] == \
        [("GONE", "archived", f"{last_year}-03-15", "GONE Inc.")]
    service = EngineService.open(settings, init=False)
    try:
        statuses = {t.symbol: (t.status, t.status_changed) for t in Ticker.select()}
        assert statuses == {"OLDCO": ("archived", today), "RECENT": ("delisted", today - dt.timedelta(days=200)),
                            "LIVE": ("active", today)}
        assert not TickerFetchMeta.select().where(TickerFetchMeta.symbol == "GONE").exists()
        detail = CronStatus.get(CronStatus.job == "retention").detail
        assert detail["archive"] == {"archived": 1, "exported": {f"tickers_{last_year}.csv.gz": 1}}
    finally:
        service.close()

    again = praf(home, "run", "retention", backend=backend)  # idempotent: nothing new to archive or export
    assert again.returncode == 0, again.stderr
    with gzip.open(export, "rt", encoding="utf-8", newline="") as fh:
        assert [r["symbol"] for r in csv.DictReader(fh)] == ["GONE"]


NOW = dt.datetime(2025, 6, 6, 12, 0)  # the retention run's clock (naive UTC, as utcnow)


def _retention(service: EngineService) -> dict:
    from praf_engine.housekeeping import retention_job
    from praf_engine.jobs.runner import JobRunner

    assert JobRunner(service.wiring.with_clock(lambda: NOW)).run("retention", retention_job) == 0
    return CronStatus.select().where(CronStatus.job == "retention").order_by(CronStatus.id.desc()).first().detail


def test_raw_cache_files_older_than_seven_days_are_purged(service: EngineService) -> None:
    s = service.settings
    assert s.retention.raw_cache_days == 7
    yahoo = s.cache_dir / "yahoo"
    files = {name: yahoo / name for name in ("AAA/2025-05-29.csv", "AAA/2025-05-31.csv", "AAA/2025-06-06.csv",
                                              "OLD.L/2025-05-20.csv", "BBB/notes.csv", "BBB/recent.csv", "BBB/README")}
    for path in files.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("date,close\n")
    old = (NOW - dt.timedelta(days=10)).replace(tzinfo=dt.UTC).timestamp()
    os.utime(files["BBB/notes.csv"], (old, old))  # no date in the name: its mtime counts
    os.utime(files["BBB/README"], (old, old))  # not a raw CSV: never touched
    kept_state = [s.cache_dir / "nordvpn_servers.json", s.cache_dir / "exits_state.json"]
    for path in kept_state:
        path.write_text("{}")

    assert _retention(service)["raw_cache_removed"] == 3
    assert sorted(str(p.relative_to(yahoo)) for p in yahoo.rglob("*") if p.is_file()) == [
        "AAA/2025-05-31.csv", "AAA/2025-06-06.csv", "BBB/README", "BBB/recent.csv"]
    assert not (yahoo / "OLD.L").exists()  # emptied folders go too
    assert all(p.exists() for p in kept_state)  # outside cache/yahoo: the exits' state is not raw cache
    assert _retention(service)["raw_cache_removed"] == 0


def test_open_qa_failures_older_than_90_days_are_auto_resolved(service: EngineService) -> None:
    assert service.settings.retention.qa_autoresolve_days == 90
    today = NOW.date()

    def failure(symbol: str, days: int, **triage: object) -> int:
        return QAFailure.create(symbol=symbol, date=today - dt.timedelta(days=days), check_name="gap_check", **triage).id

    old = failure("OLD", 91)
    edge = failure("EDGE", 90)
    recent = failure("NEW", 30)
    triaged = failure("FP", 200, resolved=True, resolution="false_positive", resolved_by="alice", note="known split")

    assert _retention(service)["qa_auto_resolved"] == 1
    rows = {r.id: r for r in QAFailure.select()}
    assert (rows[old].resolved, rows[old].resolution, rows[old].resolved_by) == (True, "auto", "retention")
    assert "90 days" in rows[old].note and rows[old].resolved_at is not None
    assert not rows[edge].resolved and not rows[recent].resolved  # not older than 90 days yet
    assert (rows[triaged].resolution, rows[triaged].resolved_by, rows[triaged].note) == ("false_positive", "alice", "known split")
    assert _retention(service)["qa_auto_resolved"] == 0
