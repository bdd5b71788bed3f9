"""Yahoo symbol mapping of every source (SPEC §2, reference/exchanges.md), hostile input first."""

from __future__ import annotations

import datetime as dt

import pytest

from praf_engine.errors import PipelineError
from praf_engine.sandbox.market import Market
from praf_engine.universe.mapping import (
    act_to_yahoo,
    dax_to_yahoo,
    euronext_city,
    euronext_to_yahoo,
    ftse_to_yahoo,
    nasdaq_to_yahoo,
    to_yahoo,
)


@pytest.mark.parametrize("raw", ["../../etc", "A/B", "A B", "", " ", "AAPL;DROP", "A..B", "Ä", "%2e%2e", "X" * 30])
def test_hostile_symbols_are_scrapebad_on_every_source(raw: str) -> None:
    for fn in (nasdaq_to_yahoo, act_to_yahoo, ftse_to_yahoo, dax_to_yahoo):
        with pytest.raises(PipelineError) as err:
            fn(raw)
        assert err.value.error_code == "SCRAPEBAD", (fn.__name__, raw)
    with pytest.raises(PipelineError, match="SCRAPEBAD|symbol"):
        euronext_to_yahoo(raw, "Euronext Paris")


def test_euronext_markets_without_a_yahoo_suffix_are_rejected() -> None:
    for market in ("EuroTLX", "Trading After Hours", "Euronext Global Equity Market", "Nasdaq Stockholm", ""):
        assert euronext_city(market) is None
        with pytest.raises(PipelineError) as err:
            euronext_to_yahoo("AI", market)
        assert err.value.error_code == "SCRAPEBAD"
    with pytest.raises(ValueError):
        to_yahoo("nyse", "A")


@pytest.mark.parametrize(("act", "yahoo"), [
    ("BRK.B", "BRK-B"), ("ABR$D", "ABR-PD"), ("AACT.U", "AACT-UN"), ("AACT.W", "AACT-WT"), ("CELG.R", "CELG-RI"),
    ("A", "A"), ("brk.a", "BRK-A"), ("PSA$H", "PSA-PH"),
])
def test_act_symbols(act: str, yahoo: str) -> None:
    assert act_to_yahoo(act) == yahoo


def test_ftse_dax_euronext_and_nasdaq() -> None:
    assert [ftse_to_yahoo(t) for t in ("BT.A", "AV.", "BA.", "VOD", " rr. ")] == ["BT-A.L", "AV.L", "BA.L", "VOD.L", "RR.L"]
    assert [dax_to_yahoo(t) for t in ("SAP", "SAP.DE", "bmw3.de")] == ["SAP.DE", "SAP.DE", "BMW3.DE"]
    assert nasdaq_to_yahoo("AACIW") == "AACIW"
    cases = {"Euronext Paris": ("AI.PA", "XPAR"), "Euronext Amsterdam": ("AI.AS", "XAMS"),
             "Euronext Brussels": ("AI.BR", "XBRU"), "Euronext Lisbon": ("AI.LS", "XLIS"),
             "Euronext Dublin": ("AI.IR", "XDUB"), "Oslo Børs": ("AI.OL", "XOSL"), "Euronext Milan": ("AI.MI", "XMIL"),
             "Euronext Growth Milan": ("AI.MI", "XMIL"), "Euronext Expand Oslo": ("AI.OL", "XOSL"),
             "Euronext Access Paris": ("AI.PA", "XPAR"), "Euronext Paris, Amsterdam, Brussels": ("AI.PA", "XPAR"),
             "Euronext Brussels, Paris": ("AI.BR", "XBRU")}
    for market, expected in cases.items():
        assert euronext_to_yahoo("AI", market) == expected, market


def test_every_sandbox_listing_maps_to_its_yahoo_symbol() -> None:
    market = Market(size=2000, seed=7, today=dt.date(2025, 6, 6))
    listings = market.universe(None)
    assert {x.exchange_code for x in listings} == {"nasdaq", "arca", "ftse", "dax", "euronext"}
    for x in listings:
        assert to_yahoo(x.exchange_code, x.exchange_symbol, x.market) == x.symbol, x
