"""Listings keep their real MIC (XNAS, ARCX, ...) and every calendar reader maps it through calendars.resolve_mic."""

from __future__ import annotations

import datetime as dt

import pytest

from praf_engine import calendars
from praf_engine.db.models import SchemaVersion, Ticker
from praf_engine.db.schema import migrate
from praf_engine.fetch.batches import has_session
from praf_engine.qa.data import load_universe
from praf_engine.sandbox.market import Market
from praf_engine.service import EngineService
from tests.engine.universe.conftest import TODAY
from tests.engine.universe.test_scrape_job import opened, scrape, tickers

GOOD_FRIDAY = dt.date(2025, 4, 18)  # New York closed, a weekday
US_MICS = ("XNAS", "ARCX", "XASE", "BATS", "IEXG", "XNYS")


def test_a_scrape_on_the_sandbox_stores_the_real_mic(market, sites, home_settings) -> None:
    with opened(home_settings()) as service:
        assert scrape(service, ["nasdaq", "arca"]) == 0
        assert {t.mic for t in tickers("nasdaq").values()} == {"XNAS"}
        assert {t.mic for t in tickers("arca").values()} == {"ARCX"}
    assert {x.mic for x in market.universe() if x.exchange_code == "nasdaq"} == {"XNAS"}
    assert {x.mic for x in market.universe() if x.exchange_code == "arca"} == {"ARCX"}


def test_the_otherlisted_exchange_letters_name_their_mic() -> None:
    from praf_engine.universe.mapping import OTHERLISTED_MICS

    assert OTHERLISTED_MICS == {"N": "XNYS", "P": "ARCX", "A": "XASE", "Z": "BATS", "V": "IEXG"}


@pytest.mark.parametrize("mic", US_MICS)
def test_every_us_mic_trades_on_the_new_york_calendar(mic: str) -> None:
    assert calendars.resolve_mic(mic) == "XNYS"
    assert calendars.resolve_mic(mic.lower(), "arca") == "XNYS"
    assert not has_session(mic, GOOD_FRIDAY, GOOD_FRIDAY)  # a weekday fallback would say it traded
    assert has_session(mic, GOOD_FRIDAY, GOOD_FRIDAY + dt.timedelta(days=3))


def test_an_empty_mic_falls_back_to_the_exchange_and_an_unknown_one_is_configbad() -> None:
    assert calendars.resolve_mic(None, "nasdaq") == calendars.resolve_mic(None, "arca") == "XNYS"
    with pytest.raises(Exception, match="CONFIGBAD|unknown trading calendar"):
        calendars.resolve_mic("QQQQ", "nasdaq")


def test_the_sandbox_market_reads_its_calendars_through_the_mapping() -> None:
    market = Market(size=40, seed=3, today=TODAY)
    us = next(x for x in market.universe() if x.exchange_code == "nasdaq")
    got = market.sessions(us.mic, GOOD_FRIDAY - dt.timedelta(days=1), GOOD_FRIDAY + dt.timedelta(days=3))
    assert [str(d) for d in got] == ["2025-04-17", "2025-04-21"]
    assert len(market.sessions("IEXG", GOOD_FRIDAY, GOOD_FRIDAY)) == 0


def test_qa_reads_a_listing_mic_as_its_calendar(service: EngineService) -> None:
    for n, mic in enumerate(US_MICS):
        Ticker.create(symbol=f"M{n}", exchange_code="arca" if mic != "XNAS" else "nasdaq", mic=mic,
                      first_seen=TODAY, last_seen=TODAY)
    frame = load_universe(TODAY)
    assert set(frame["mic"]) == {"XNYS"}


def test_init_gives_old_nasdaq_and_arca_rows_their_mic(service: EngineService) -> None:
    rows = {"OLDQ": ("nasdaq", "XNYS"), "OLDA": ("arca", "XNYS"), "NONE": ("nasdaq", None), "VOD.L": ("ftse", "XLON"),
            "KEEP": ("arca", "BATS")}
    for sym, (code, mic) in rows.items():
        Ticker.create(symbol=sym, exchange_code=code, mic=mic, first_seen=TODAY, last_seen=TODAY)
    newest = SchemaVersion.select().order_by(SchemaVersion.version.desc()).first().version
    SchemaVersion.delete().where(SchemaVersion.version >= 4).execute()  # a home from before the real MICs
    report = migrate(service.db)
    assert any(step.startswith("4:") for step in report.steps) and report.to_version == newest
    assert {t.symbol: t.mic for t in Ticker.select()} == {"OLDQ": "XNAS", "OLDA": "ARCX", "NONE": "XNAS", "VOD.L": "XLON",
                                                          "KEEP": "BATS"}
    assert migrate(service.db).steps == []  # once
