"""Service read models for the dashboard: KPI cards, panels, the failures list with paging, triage."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from praf_engine.config import Settings
from praf_engine.db.models import BatchLatency, FetchError, QAFailure, Ticker
from praf_engine.errors import PipelineError
from praf_engine.lake import Lake
from praf_engine.qa.runner import run_qa
from tests.engine.qa.helpers import frame, make_home, session_dates

AS_OF = dt.date(2025, 12, 29)


@pytest.fixture
def home(settings: Settings, service: Any) -> Settings:
    ny = session_dates("XNYS", dt.date(2025, 10, 1), AS_OF)
    ldn = session_dates("XLON", dt.date(2025, 10, 1), AS_OF)
    listings = {f"G{i}": ("XNYS", frame([d for d in ny if d != dt.date(2025, 12, 10)])) for i in range(6)}
    listings["JMP.L"] = ("XLON", frame(ldn, [10.0] * (len(ldn) - 3) + [30.0] * 3))
    listings["OLD"] = ("XNYS", frame(ny))
    make_home(Lake(settings.lake_dir, fsync=False), listings, last_fetched={"OLD": dt.date(2025, 12, 1), "G0": None})
    Ticker.update(exchange_code="arca").where(Ticker.symbol == "G5").execute()
    Ticker.insert(symbol="GONE", exchange_code="nasdaq", mic="XNYS", first_seen=dt.date(2025, 8, 4), last_seen=dt.date(2025, 11, 3),
                  status="delisted", status_changed=dt.date(2025, 11, 3)).execute()
    run_qa(settings, service.db, AS_OF)
    return settings


def test_summary_cards_have_count_share_and_colour(home: Settings, service: Any) -> None:
    cards = {c.key: c for c in service.summary_cards(AS_OF)}
    assert list(cards) == ["total_active", "new_30d", "delisted_30d", "lag_2d", "missing_dates", "fetch_errors", "price_jumps"]
    assert cards["total_active"].count == 8 and cards["total_active"].colour == "neutral"
    assert cards["lag_2d"].count == 2 and cards["lag_2d"].pct_of_universe == 25.0 and cards["lag_2d"].colour == "red"
    assert cards["missing_dates"].count == 6 and cards["missing_dates"].colour == "green"  # G0: window ends at its last bar
    assert cards["price_jumps"].count == 1 and "green <= 200 rows" in cards["price_jumps"].threshold
    assert service.summary(AS_OF).to_dict()["lag_2d"] == 2  # the seed's document is unchanged


def test_timeliness_panel_histogram_and_table(home: Settings, service: Any) -> None:
    panel = service.timeliness_panel(AS_OF)
    assert [(r.symbol, r.days_behind) for r in panel.lagging] == [("G0", None), ("OLD", 19)]
    hist = dict(panel.histogram)
    assert hist["0"] == 6 and hist[">10"] == 1 and hist["never"] == 1 and sum(hist.values()) == 8


def test_completeness_and_quality_panels(home: Settings, service: Any) -> None:
    comp = service.completeness_panel(AS_OF)
    assert comp.counts == {"missing_dates": 6, "null_fields": 0}
    assert {i.symbol for i in comp.issues["missing_dates"]} == {"G0", "G1", "G2", "G3", "G4", "G5"}
    assert comp.issues["missing_dates"][0].dates == ("2025-12-10",)
    quality = service.quality_panel(AS_OF)
    assert quality.counts["price_jump"] == 1 and quality.issues["price_jump"][0].details["move_pct"] == [pytest.approx(200.0)]


def test_fetch_health_panel_series(home: Settings, service: Any) -> None:
    for i, ms in enumerate((1000, 2000, 3000, 4000)):
        BatchLatency.create(run_id="r", night=dt.date(2025, 12, 28), batch_no=i, symbols=50, latency_ms=ms)
    FetchError.create(run_id="r", night=dt.date(2025, 12, 28), symbol="OLD", error_code="YF429", msg="rate limited", consecutive_failures=2)
    panel = service.fetch_health_panel(AS_OF)
    assert panel.night == dt.date(2025, 12, 28) and [e.symbol for e in panel.errors] == ["OLD"]
    assert len(panel.series) == 30 and panel.series[-1].night == AS_OF
    point = next(p for p in panel.series if p.night == dt.date(2025, 12, 28))
    assert (point.p50_ms, point.batches, point.errors) == (2500.0, 4, 1)
    assert point.p95_ms == pytest.approx(3850.0)


def test_universe_delta_by_month(home: Settings, service: Any) -> None:
    months = {m.month: (m.new, m.delisted) for m in service.universe_delta(AS_OF)}
    assert list(months) == ["2025-07", "2025-08", "2025-09", "2025-10", "2025-11", "2025-12"]
    assert months["2025-08"] == (1, 0) and months["2025-11"] == (0, 1)


def test_failures_filters_and_paging(home: Settings, service: Any) -> None:
    page = service.failures(check="missing_dates", limit=2)
    assert page.total == 6 and len(page.rows) == 2 and [r.symbol for r in page.rows] == ["G0", "G1"]
    assert [r.symbol for r in service.failures(check="missing_dates", offset=4, limit=5).rows] == ["G4", "G5"]
    assert service.failures(exchange="arca").total == 1
    assert service.failures(symbol="jmp").rows[0].symbol == "JMP.L"
    assert service.failures(severity="critical").total == 3  # the jump and two lags (25 % of the universe)
    assert service.failures(date=AS_OF - dt.timedelta(days=1)).total == 0


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"limit": 0}, "paging out of range"), ({"offset": -1}, "paging out of range"), ({"check": "jumps"}, "unknown check"),
])
def test_bad_failure_queries_are_refused(home: Settings, service: Any, kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(PipelineError, match=fragment) as err:
        service.failures(**kwargs)
    assert err.value.error_code == "QATRIAGE"


def test_triage_resolve_false_positive_reopen(home: Settings, service: Any) -> None:
    target = service.failures(check="price_jump").rows[0]
    done = service.resolve_failure(target.id, "split not in the feed yet", "bob")
    assert (done.resolved, done.resolution, done.note, done.resolved_by) == (True, "resolved", "split not in the feed yet", "bob")
    assert done.resolved_at is not None
    assert service.failures(resolved=False, check="price_jump").total == 0
    fp = service.resolve_failure(target.id, None, "carol", false_positive=True)
    assert fp.resolution == "false_positive" and fp.note == "split not in the feed yet"
    assert service.summary(AS_OF).price_jumps == 0  # false positives leave the KPI
    back = service.reopen_failure(target.id, "not a split after all", "dave")
    assert (back.resolved, back.resolution, back.resolved_at, back.note) == (False, None, None, "not a split after all")


def test_triage_of_an_unknown_failure_is_refused(home: Settings, service: Any) -> None:
    with pytest.raises(PipelineError, match="no QA failure with id 999999") as err:
        service.resolve_failure(999999, "x", "bob")
    assert err.value.error_code == "QATRIAGE"
    with pytest.raises(PipelineError, match="needs the name"):
        service.reopen_failure(QAFailure.select().first().id, "x", " ")
