"""The universe panel's detail (SQLite and PostgreSQL): the listings behind new / delisted / relisted of a month, per
exchange, and the panel's numbers agree with it; a bad month or change is UNIVERSEQUERY."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from praf_engine.db.models import Ticker
from praf_engine.errors import PipelineError

AS_OF = dt.date(2025, 12, 18)


def _ticker(symbol: str, exchange: str, first: dt.date, status: str = "active", changed: dt.date | None = None) -> None:
    Ticker.insert(symbol=symbol, exchange_code=exchange, name=f"{symbol} Inc", mic="XNYS", first_seen=first, last_seen=AS_OF,
                  status=status, status_changed=changed or first).execute()


@pytest.fixture
def universe(service: Any) -> Any:
    _ticker("OLD", "nasdaq", dt.date(2024, 1, 2))  # nothing happened this month
    _ticker("NEW1", "nasdaq", dt.date(2025, 12, 1))
    _ticker("NEW2.L", "ftse", dt.date(2025, 12, 15))
    _ticker("LATER", "nasdaq", dt.date(2025, 12, 20))  # after as_of: not yet
    _ticker("GONE", "nasdaq", dt.date(2024, 1, 2), "delisted", dt.date(2025, 12, 3))
    _ticker("ARCH", "arca", dt.date(2024, 1, 2), "archived", dt.date(2025, 12, 4))
    _ticker("BACK", "arca", dt.date(2024, 1, 2), "active", dt.date(2025, 12, 10))  # seen again after a delisting
    _ticker("NOV", "nasdaq", dt.date(2025, 11, 5))
    return service


def test_the_month_lists_new_delisted_relisted_per_exchange(universe: Any) -> None:
    detail = universe.universe_detail(AS_OF)
    assert detail.month == "2025-12" and detail.months[-1] == "2025-12" and len(detail.months) == 6
    got = [(x.exchange, x.change, x.symbol, x.on) for x in detail.listings]
    assert got == [("arca", "delisted", "ARCH", dt.date(2025, 12, 4)), ("arca", "relisted", "BACK", dt.date(2025, 12, 10)),
                   ("ftse", "new", "NEW2.L", dt.date(2025, 12, 15)),
                   ("nasdaq", "new", "NEW1", dt.date(2025, 12, 1)), ("nasdaq", "delisted", "GONE", dt.date(2025, 12, 3))]
    assert {(e.exchange, e.new, e.delisted, e.relisted) for e in detail.exchanges} == {
        ("arca", 0, 1, 1), ("ftse", 1, 0, 0), ("nasdaq", 1, 1, 0)}
    assert detail.total == 5
    panel = {m.month: (m.new, m.delisted) for m in universe.dashboard_snapshot(AS_OF).universe}
    assert panel["2025-12"] == (sum(e.new for e in detail.exchanges), sum(e.delisted for e in detail.exchanges))


def test_a_change_filter_and_another_month(universe: Any) -> None:
    only = universe.universe_detail(AS_OF, change="relisted")
    assert [x.symbol for x in only.listings] == ["BACK"] and only.total == 1 and len(only.exchanges) == 3
    november = universe.universe_detail(AS_OF, month="2025-11")
    assert [(x.symbol, x.change, x.name) for x in november.listings] == [("NOV", "new", "NOV Inc")]
    assert universe.universe_detail(AS_OF, month="2026-01").listings == ()


@pytest.mark.parametrize(("month", "change"), [("2025-13", None), ("december", None), ("2025-12; drop", None), ("2025-12", "gone")])
def test_a_bad_month_or_change_is_universequery(universe: Any, month: str, change: str | None) -> None:
    with pytest.raises(PipelineError) as exc:
        universe.universe_detail(AS_OF, month=month, change=change)
    assert exc.value.error_code == "UNIVERSEQUERY"
