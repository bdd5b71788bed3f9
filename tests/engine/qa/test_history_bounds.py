"""missing_dates' lower bound is the listing's first bar in the lake, not the day PRAF first scraped it (first_seen)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from praf_engine.config import Settings
from praf_engine.db.models import QAFailure
from praf_engine.lake import Lake
from praf_engine.qa.runner import run_qa
from tests.engine.qa.helpers import frame, make_home, session_dates

AS_OF = dt.date(2025, 12, 29)
SCRAPED = dt.date(2025, 12, 22)  # first_seen of the back-filled listings: last week's scrape
NY = session_dates("XNYS", dt.date(2025, 6, 2), AS_OF)


def _without(days: list[dt.date], *gone: dt.date) -> list[dt.date]:
    return [d for d in days if d not in gone]


def _missing(settings: Settings, service: Any) -> dict[str, list[str]]:
    run_qa(settings, service.db, AS_OF, checks=["missing_dates"])
    return {r.symbol: r.details["dates"] for r in QAFailure.select().where(QAFailure.check_name == "missing_dates")}


def test_gaps_in_back_filled_history_before_first_seen_are_reported(settings: Settings, service: Any) -> None:
    long_gap = [d for d in NY if d <= dt.date(2025, 10, 31) or d >= SCRAPED]  # longer than the lake margin QA reads
    make_home(Lake(settings.lake_dir, fsync=False), {
        "BACKFILL": ("XNYS", frame(_without(NY, dt.date(2025, 12, 10), dt.date(2025, 12, 11)))),
        "LONGGAP": ("XNYS", frame(long_gap)),
        "FULL": ("XNYS", frame(NY)),
    }, first_seen={"BACKFILL": SCRAPED, "LONGGAP": SCRAPED, "FULL": SCRAPED})
    found = _missing(settings, service)
    assert set(found) == {"BACKFILL", "LONGGAP"}
    assert found["BACKFILL"] == ["2025-12-10", "2025-12-11"]
    window = NY[-30:]
    assert found["LONGGAP"] == [d.isoformat() for d in window if d < SCRAPED]


def test_a_listing_scraped_before_its_first_trade_is_not_missing_the_days_before_it(settings: Settings, service: Any) -> None:
    ipo = [d for d in NY if d >= dt.date(2025, 12, 10)]
    make_home(Lake(settings.lake_dir, fsync=False), {
        "IPO": ("XNYS", frame(ipo)),
        "IPOGAP": ("XNYS", frame(_without(ipo, dt.date(2025, 12, 17)))),
    }, first_seen=dt.date(2025, 11, 3))
    assert _missing(settings, service) == {"IPOGAP": ["2025-12-17"]}


def test_without_any_bar_in_the_lake_first_seen_still_bounds_the_window(settings: Settings, service: Any) -> None:
    make_home(Lake(settings.lake_dir, fsync=False), {"EMPTY": ("XNYS", frame([]))},
              last_fetched={"EMPTY": AS_OF}, first_seen=dt.date(2025, 12, 22))
    assert _missing(settings, service) == {"EMPTY": ["2025-12-22", "2025-12-23", "2025-12-24", "2025-12-26", "2025-12-29"]}
