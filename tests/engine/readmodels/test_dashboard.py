"""The dashboard's read model through EngineService: the seed's summary document, the KPI cards and the panels of one
snapshot, computed from a QA run on hand-built bars (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from praf_engine.config import Settings
from praf_engine.db.models import BatchLatency, FetchError, QAFailure, QASummary, Ticker
from praf_engine.readmodels.rows import as_date
from tests.engine.readmodels.conftest import AS_OF


def test_summary_cards_have_count_share_and_colour(home: Settings, service: Any) -> None:
    cards = {c.key: c for c in service.dashboard_snapshot(AS_OF).cards}
    assert list(cards) == ["total_active", "new_30d", "delisted_30d", "lag_2d", "missing_dates", "fetch_errors", "price_jumps"]
    assert cards["total_active"].count == 8 and cards["total_active"].colour == "neutral"
    assert cards["lag_2d"].count == 2 and cards["lag_2d"].pct_of_universe == 25.0 and cards["lag_2d"].colour == "red"
    assert cards["missing_dates"].count == 6 and cards["missing_dates"].colour == "green"  # G0: window ends at its last bar
    assert cards["price_jumps"].count == 1 and "green <= 200 rows" in cards["price_jumps"].threshold
    assert service.summary(AS_OF).to_dict()["lag_2d"] == 2  # the seed's document is unchanged


def test_timeliness_panel_histogram_and_table(home: Settings, service: Any) -> None:
    panel = service.dashboard_snapshot(AS_OF).timeliness
    assert [(r.symbol, r.days_behind) for r in panel.lagging] == [("G0", None), ("OLD", 19)]
    hist = dict(panel.histogram)
    assert hist["0"] == 6 and hist[">10"] == 1 and hist["never"] == 1 and sum(hist.values()) == 8


def test_completeness_and_quality_panels(home: Settings, service: Any) -> None:
    snapshot = service.dashboard_snapshot(AS_OF)
    comp = snapshot.completeness
    assert comp.qa_date == AS_OF and comp.counts == {"missing_dates": 6, "null_fields": 0}
    assert {i.symbol for i in comp.issues["missing_dates"]} == {"G0", "G1", "G2", "G3", "G4", "G5"}
    assert comp.issues["missing_dates"][0].dates == ("2025-12-10",)
    quality = snapshot.quality
    assert quality.counts["price_jump"] == 1 and quality.issues["price_jump"][0].details["move_pct"] == [pytest.approx(200.0)]
    before = service.dashboard_snapshot(AS_OF - dt.timedelta(days=1))  # no QA run yet: empty panels
    assert before.completeness.qa_date is None and set(before.quality.counts.values()) == {0}


def test_a_stale_price_failure_shows_in_the_quality_panel(home: Settings, service: Any) -> None:
    QAFailure.create(symbol="OLD", check_name="stale_price", date=AS_OF, details={"count": 3, "dates": ["2025-12-24"]})
    quality = service.dashboard_snapshot(AS_OF).quality
    assert quality.counts["stale_price"] == 1 and [i.symbol for i in quality.issues["stale_price"]] == ["OLD"]
    assert quality.colours["stale_price"] in {"green", "yellow", "red"}


def test_fetch_health_panel_series(home: Settings, service: Any) -> None:
    for i, ms in enumerate((1000, 2000, 3000, 4000)):
        BatchLatency.create(run_id="r", night=dt.date(2025, 12, 28), batch_no=i, symbols=50, latency_ms=ms)
    FetchError.create(run_id="r", night=dt.date(2025, 12, 28), symbol="OLD", error_code="YF429", msg="rate limited", consecutive_failures=2)
    panel = service.dashboard_snapshot(AS_OF).fetch
    assert panel.night == dt.date(2025, 12, 28) and [e.symbol for e in panel.errors] == ["OLD"]
    assert len(panel.series) == 30 and panel.series[-1].night == AS_OF
    point = next(p for p in panel.series if p.night == dt.date(2025, 12, 28))
    assert (point.p50_ms, point.batches, point.errors) == (2500.0, 4, 1)
    assert point.p95_ms == pytest.approx(3850.0)


def test_universe_delta_by_month(home: Settings, service: Any) -> None:
    months = {m.month: (m.new, m.delisted) for m in service.dashboard_snapshot(AS_OF).universe}
    assert list(months) == ["2025-07", "2025-08", "2025-09", "2025-10", "2025-11", "2025-12"]
    assert months["2025-08"] == (1, 0) and months["2025-11"] == (0, 1)


def test_the_snapshot_reads_the_summary_once(home: Settings, service: Any) -> None:
    """One refresh: one summary (the latest QA date is looked up once, not again by the cards and each panel)."""
    statements: list[str] = []
    execute = service.db.execute_sql

    def counting(sql: str, *args: Any, **kw: Any) -> Any:
        statements.append(sql)
        return execute(sql, *args, **kw)

    service.db.execute_sql = counting
    try:
        snapshot = service.dashboard_snapshot(AS_OF)
    finally:
        del service.db.execute_sql
    assert len([s for s in statements if '"qa_summary"' in s]) == 1
    assert snapshot.summary == service.summary(AS_OF) and snapshot.summary.qa_date == AS_OF
    assert snapshot.cards[0].count == snapshot.summary.total_active == 8
    assert [j.name for j in snapshot.jobs] and all(j.last_started is None for j in snapshot.jobs)


# The seed's summary document -------------------------------------------------------------------------------------
SUMMARY_DAY = dt.date(2025, 6, 6)


def _ticker(symbol: str, first_seen: dt.date, status: str = "active", changed: dt.date | None = None) -> None:
    Ticker.create(symbol=symbol, exchange_code="nasdaq", first_seen=first_seen, last_seen=SUMMARY_DAY,
                  status=status, status_changed=changed)


def test_summary_counts(service: Any) -> None:
    day = SUMMARY_DAY
    old = dt.date(2024, 1, 2)
    for i in range(6):
        _ticker(f"OLD{i}", old)
    _ticker("NEW1", day - dt.timedelta(days=3))
    _ticker("NEW2", day - dt.timedelta(days=29))
    _ticker("LATE", day + dt.timedelta(days=1))  # after as_of: not new yet
    _ticker("GONE1", old, "delisted", day - dt.timedelta(days=10))
    _ticker("GONE2", old, "delisted", day - dt.timedelta(days=45))
    for qa_day in (day - dt.timedelta(days=1), day):
        QASummary.create(date=qa_day, check_name="lag_check", fail_count=2, universe_size=9)
    # lag on the QA date: OLD0, OLD1 (+ OLD2 marked false positive: not counted); older date not counted
    for sym in ("OLD0", "OLD1"):
        QAFailure.create(symbol=sym, check_name="lag_check", date=day)
    QAFailure.create(symbol="OLD2", check_name="lag_check", date=day, resolved=True, resolution="false_positive")
    QAFailure.create(symbol="OLD3", check_name="lag_check", date=day - dt.timedelta(days=1))
    QAFailure.create(symbol="OLD4", check_name="missing_dates", date=day)
    # price jumps over 7 days, distinct symbols; resolved (not false positive) still counts
    QAFailure.create(symbol="OLD0", check_name="price_jump", date=day - dt.timedelta(days=6))
    QAFailure.create(symbol="OLD0", check_name="price_jump", date=day - dt.timedelta(days=2))
    QAFailure.create(symbol="OLD5", check_name="price_jump", date=day, resolved=True, resolution="resolved")
    QAFailure.create(symbol="OLD1", check_name="price_jump", date=day - dt.timedelta(days=7))
    # fetch errors of the last night only, distinct symbols
    for sym, night in (("OLD0", day), ("OLD0", day), ("OLD1", day), ("OLD2", day - dt.timedelta(days=1))):
        FetchError.create(run_id="r", night=night, symbol=sym, error_code="YFEMPTY")

    doc = service.summary(day).to_dict()
    assert doc == {
        "as_of": "2025-06-06", "total_active": 9, "new_30d": 2, "delisted_30d": 1, "lag_2d": 2,
        "missing_dates": 1, "fetch_errors": 2, "price_jumps": 2, "qa_date": "2025-06-06", "fetch_night": "2025-06-06",
    }
    earlier = service.summary(day - dt.timedelta(days=1))
    assert (earlier.lag_2d, earlier.qa_date, earlier.fetch_errors) == (1, day - dt.timedelta(days=1), 1)


@pytest.mark.parametrize(("value", "expected"), [
    (None, None), (dt.date(2025, 6, 6), dt.date(2025, 6, 6)), (dt.datetime(2025, 6, 6, 23, 59), dt.date(2025, 6, 6)),
    ("2025-06-06", dt.date(2025, 6, 6)), ("2025-06-06 00:00:00", dt.date(2025, 6, 6)),
])
def test_one_date_coercer_for_every_driver_answer(value: Any, expected: dt.date | None) -> None:
    got = as_date(value)
    assert got == expected and type(got) is type(expected)
