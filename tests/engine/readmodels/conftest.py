"""Fixtures of the read-model tests: a home with a QA run over hand-built bars (six listings with a gap, a price
jump, a listing behind, one never fetched, one delisted) at AS_OF."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from praf_engine.config import Settings
from praf_engine.db.models import Ticker
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
