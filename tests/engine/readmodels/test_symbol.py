"""The symbol read model through EngineService: one listing's bars of a window from the lake, QA history, corporate
actions, fetch state and errors; malformed and unknown symbols refused (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from praf_engine.db.models import CorporateAction, DLQSymbol, FetchError, QAFailure, Ticker, TickerFetchMeta
from praf_engine.errors import PipelineError
from praf_engine.lake import Lake
from tests.engine.qa.helpers import frame, session_dates

DAY = dt.date(2025, 6, 6)


def _ticker(symbol: str, exchange: str = "nasdaq", **kw: Any) -> None:
    values = {"exchange_code": exchange, "mic": "XNYS", "currency": "USD", "name": f"{symbol} Corp",
              "first_seen": dt.date(2020, 1, 2), "last_seen": DAY, "status": "active", **kw}
    Ticker.create(symbol=symbol, **values)


def _failure(symbol: str, check: str = "lag_check", day: dt.date = DAY, severity: str = "warning") -> int:
    return QAFailure.create(symbol=symbol, check_name=check, date=day, severity=severity, details={"n": 1}).id


def _code(exc: pytest.ExceptionInfo[PipelineError]) -> str:
    return exc.value.error_code


@pytest.mark.parametrize("symbol", ["../../etc", "..", "A/B", "a b c", "ÄPFEL", "", "   ", "X" * 40, "AAPL;DROP", None, 42])
def test_symbol_detail_refuses_a_malformed_symbol_with_scrapebad(service: Any, symbol: Any) -> None:
    _ticker("AAPL")
    with pytest.raises(PipelineError) as exc:
        service.symbol_detail(symbol)
    assert _code(exc) == "SCRAPEBAD"
    assert not (service.settings.lake_dir.parent / "etc").exists()


def test_symbol_detail_of_an_unknown_symbol_is_symbolunknown(service: Any) -> None:
    _ticker("AAPL")
    with pytest.raises(PipelineError) as exc:
        service.symbol_detail("msft")
    assert _code(exc) == "SYMBOLUNKNOWN" and "MSFT" in exc.value.msg


@pytest.mark.parametrize("days", [0, -5])
def test_symbol_detail_refuses_a_window_below_one_day(service: Any, days: int) -> None:
    _ticker("AAPL")
    with pytest.raises(PipelineError) as exc:
        service.symbol_detail("AAPL", days)
    assert _code(exc) == "CONFIGBAD"




# Symbol page -------------------------------------------------------------------------------------------------------
@pytest.fixture
def listing(service: Any) -> dict[str, Any]:
    """AAPL with bars from 2023 to DAY (one null adj_close, one null volume), QA rows, actions, fetch state, DLQ."""
    settings = service.settings
    dates = session_dates("XNYS", dt.date(2023, 1, 3), DAY)
    f = frame(dates, [10.0 + i * 0.01 for i in range(len(dates))])
    f.loc[len(f) - 2, "adj_close"] = float("nan")
    f.loc[len(f) - 3, "volume"] = float("nan")
    Lake(settings.lake_dir, fsync=False).write("AAPL", f)
    _ticker("AAPL", name="Apple Inc.", first_seen=dt.date(2019, 3, 1))
    _ticker("MSFT")  # a listing without bars or fetch state
    _ticker("AAPL.L", exchange="ftse", mic="XLON", currency="GBp")  # another symbol's rows must not leak in
    old = _failure("AAPL", "missing_dates", DAY - dt.timedelta(days=3))
    new = _failure("AAPL", "price_jump", DAY, "critical")
    same_day = _failure("AAPL", "zero_volume", DAY)
    _failure("AAPL.L", "price_jump", DAY)
    for day, kind, ratio in ((dt.date(2024, 5, 10), "dividend", 0.24), (dt.date(2020, 8, 31), "split", 4.0)):
        CorporateAction.create(symbol="AAPL", action_date=day, action_type=kind, ratio=ratio)
    CorporateAction.create(symbol="AAPL.L", action_date=dt.date(2024, 6, 1), action_type="split", ratio=2.0)
    TickerFetchMeta.create(symbol="AAPL", last_fetched_date=DAY, consecutive_failures=2, fetch_status="error",
                           last_error_code="YFEMPTY", last_attempt_at=dt.datetime(2025, 6, 6, 2, 0), latency_ms=180.5,
                           last_exit="exit-a")
    DLQSymbol.create(symbol="AAPL", reason="YFEMPTY", failures=3)
    for night, code in ((DAY - dt.timedelta(days=1), "YF429"), (DAY, "YFEMPTY")):
        FetchError.create(run_id="r", night=night, symbol="AAPL", error_code=code, msg=f"{code} happened")
    FetchError.create(run_id="r", night=DAY, symbol="AAPL.L", error_code="YFDELISTED", msg="other")
    return {"dates": dates, "qa": [same_day, new, old]}


def test_symbol_detail_shows_bars_qa_actions_and_fetch_state(service: Any, listing: dict[str, Any]) -> None:
    d = service.symbol_detail(" aapl ", 90)
    assert (d.symbol, d.exchange_code, d.name, d.currency, d.mic, d.status) == ("AAPL", "nasdaq", "Apple Inc.", "USD", "XNYS", "active")
    assert (d.first_seen, d.last_seen) == (dt.date(2019, 3, 1), DAY)
    window = [x for x in listing["dates"] if x >= DAY - dt.timedelta(days=90)]
    assert [b.date for b in d.bars] == window  # oldest first, the last 90 calendar days up to the newest bar
    assert d.bars_total == len(listing["dates"])
    last = d.bars[-1]
    assert last.close == pytest.approx(10.0 + (len(listing["dates"]) - 1) * 0.01) and isinstance(last.close, float)
    assert isinstance(last.volume, int) and last.volume == 1000
    assert d.bars[-2].adj_close is None and d.bars[-2].close is not None
    assert d.bars[-3].volume is None
    assert [r.id for r in d.qa] == listing["qa"]  # newest first, then by id descending
    assert {r.symbol for r in d.qa} == {"AAPL"} and d.qa[1].severity == "critical" and d.qa[1].details == {"n": 1}
    assert [(a.date, a.action_type, a.ratio, a.source) for a in d.actions] == [
        (dt.date(2024, 5, 10), "dividend", 0.24, "yahoo"), (dt.date(2020, 8, 31), "split", 4.0, "yahoo")]
    f = d.fetch
    assert f is not None
    assert (f.last_fetched_date, f.fetch_status, f.consecutive_failures, f.last_error_code, f.latency_ms, f.last_exit) == (
        DAY, "error", 2, "YFEMPTY", 180.5, "exit-a")
    assert (f.in_dlq, f.dlq_reason) == (True, "YFEMPTY")
    assert [e[:2] for e in d.errors] == [(DAY, "YFEMPTY"), (DAY - dt.timedelta(days=1), "YF429")]
    assert d.errors[0][2] == "YFEMPTY happened"


def test_symbol_detail_windows_and_all_history(service: Any, listing: dict[str, Any]) -> None:
    dates = listing["dates"]
    year = service.symbol_detail("AAPL", 365)
    assert year.bars[0].date >= DAY - dt.timedelta(days=365) and year.bars[-1].date == DAY
    assert len(service.symbol_detail("AAPL", 1).bars) == 2  # DAY and the day before when both are sessions
    for days in (None, 10**9):  # everything; a huge window never overflows the calendar
        everything = service.symbol_detail("AAPL", days)
        assert [b.date for b in everything.bars] == dates


def test_symbol_detail_of_a_listing_without_bars_or_fetch_state(service: Any, listing: dict[str, Any]) -> None:
    d = service.symbol_detail("MSFT")
    assert (d.bars, d.bars_total, d.qa, d.actions, d.fetch, d.errors) == ((), 0, (), (), None, ())


def test_symbol_detail_in_dlq_without_fetch_meta(service: Any) -> None:
    _ticker("GONE", status="delisted")
    DLQSymbol.create(symbol="GONE", reason="YFDELISTED", failures=3)
    d = service.symbol_detail("GONE")
    assert d.status == "delisted"
    assert d.fetch is not None and (d.fetch.fetch_status, d.fetch.in_dlq, d.fetch.dlq_reason, d.fetch.last_fetched_date) == (
        "pending", True, "YFDELISTED", None)
