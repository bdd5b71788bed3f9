"""The service API's summary: the seed's /api/summary document computed from the database."""

from __future__ import annotations

import datetime as dt

from praf_engine.db.models import FetchError, QAFailure, QASummary, Ticker

AS_OF = dt.date(2025, 6, 6)


def _ticker(symbol: str, first_seen: dt.date, status: str = "active", changed: dt.date | None = None) -> None:
    Ticker.create(symbol=symbol, exchange_code="nasdaq", first_seen=first_seen, last_seen=AS_OF,
                  status=status, status_changed=changed)


def test_summary_counts(service) -> None:
    old = dt.date(2024, 1, 2)
    for i in range(6):
        _ticker(f"OLD{i}", old)
    _ticker("NEW1", AS_OF - dt.timedelta(days=3))
    _ticker("NEW2", AS_OF - dt.timedelta(days=29))
    _ticker("LATE", AS_OF + dt.timedelta(days=1))  # after as_of: not new yet
    _ticker("GONE1", old, "delisted", AS_OF - dt.timedelta(days=10))
    _ticker("GONE2", old, "delisted", AS_OF - dt.timedelta(days=45))
    for day in (AS_OF - dt.timedelta(days=1), AS_OF):
        QASummary.create(date=day, check_name="lag_check", fail_count=2, universe_size=9)
    # lag on the QA date: OLD0, OLD1 (+ OLD2 marked false positive: not counted); older date not counted
    for sym in ("OLD0", "OLD1"):
        QAFailure.create(symbol=sym, check_name="lag_check", date=AS_OF)
    QAFailure.create(symbol="OLD2", check_name="lag_check", date=AS_OF, resolved=True, resolution="false_positive")
    QAFailure.create(symbol="OLD3", check_name="lag_check", date=AS_OF - dt.timedelta(days=1))
    QAFailure.create(symbol="OLD4", check_name="missing_dates", date=AS_OF)
    # price jumps over 7 days, distinct symbols; resolved (not false positive) still counts
    QAFailure.create(symbol="OLD0", check_name="price_jump", date=AS_OF - dt.timedelta(days=6))
    QAFailure.create(symbol="OLD0", check_name="price_jump", date=AS_OF - dt.timedelta(days=2))
    QAFailure.create(symbol="OLD5", check_name="price_jump", date=AS_OF, resolved=True, resolution="resolved")
    QAFailure.create(symbol="OLD1", check_name="price_jump", date=AS_OF - dt.timedelta(days=7))
    # fetch errors of the last night only, distinct symbols
    for sym, night in (("OLD0", AS_OF), ("OLD0", AS_OF), ("OLD1", AS_OF), ("OLD2", AS_OF - dt.timedelta(days=1))):
        FetchError.create(run_id="r", night=night, symbol=sym, error_code="YFEMPTY")

    doc = service.summary(AS_OF).to_dict()
    assert doc == {
        "as_of": "2025-06-06", "total_active": 9, "new_30d": 2, "delisted_30d": 1, "lag_2d": 2,
        "missing_dates": 1, "fetch_errors": 2, "price_jumps": 2, "qa_date": "2025-06-06", "fetch_night": "2025-06-06",
    }
    earlier = service.summary(AS_OF - dt.timedelta(days=1))
    assert (earlier.lag_2d, earlier.qa_date, earlier.fetch_errors) == (1, AS_OF - dt.timedelta(days=1), 1)


def test_last_runs_newest_first(service) -> None:
    from praf_engine.jobs.runner import JobRunner

    runner = JobRunner(service.settings, service.db)
    runner.run("vacuum", lambda ctx: 0)
    runner.run("retention", lambda ctx: 2)
    runs = service.last_runs()
    assert [(r.job, r.exit_code) for r in runs] == [("retention", 2), ("vacuum", 0)]
