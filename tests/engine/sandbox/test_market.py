"""Synthetic market: universe shape, symbol mapping, ISINs, lifecycle, calendars, prices, adjustments, determinism."""

from __future__ import annotations

import functools
import io
import math
import pickle
import re
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from praf_engine.calendars import resolve_mic
from praf_engine.sandbox.faults import FaultConfig
from praf_engine.sandbox.market import (
    EURONEXT_MARKETS,
    EXCHANGES,
    Market,
    isin_check_digit,
    isin_is_valid,
    to_yahoo,
)
from praf_engine.sandbox.market_prices import calendar_arrays
from praf_engine.universe.symbols import validate_symbol

TODAY = date(2025, 7, 15)
COUNTRY = {"nasdaq": "US", "arca": "US", "ftse": "GB", "dax": "DE", "Euronext Paris": "FR", "Euronext Amsterdam": "NL",
           "Euronext Brussels": "BE", "Euronext Lisbon": "PT", "Euronext Dublin": "IE", "Oslo Børs": "NO", "Euronext Milan": "IT"}
MIC_TZ = {"XNYS": "America/New_York", "XLON": "Europe/London", "XETR": "Europe/Berlin", "XPAR": "Europe/Paris",
          "XAMS": "Europe/Amsterdam", "XBRU": "Europe/Brussels", "XLIS": "Europe/Lisbon", "XDUB": "Europe/Dublin",
          "XOSL": "Europe/Oslo", "XMIL": "Europe/Rome"}


@pytest.fixture(scope="module")
def market() -> Market:
    return Market(300, seed=7, today=TODAY)


@functools.lru_cache(maxsize=64)
def small_market(seed: int) -> Market:
    return Market(60, seed=seed, today=TODAY)


def venue(listing) -> str:
    return listing.market if listing.exchange_code == "euronext" else listing.exchange_code


# ------------------------------------------------------------------ universe
def test_universe_shape_per_exchange(market: Market) -> None:
    counts = Counter(x.exchange_code for x in market.listings)
    assert len(market.listings) == 300
    assert counts == {"nasdaq": 120, "arca": 45, "ftse": 36, "dax": 24, "euronext": 75}
    euronext = Counter(x.market for x in market.listings if x.exchange_code == "euronext")
    assert set(euronext) == set(EURONEXT_MARKETS)
    assert euronext.most_common(1)[0][0] == "Euronext Paris"
    ftse = Counter(x.market for x in market.listings if x.exchange_code == "ftse")
    assert set(ftse) == {"FTSE 100", "FTSE 250"} and 0 < ftse["FTSE 100"] <= 100
    assert {x.market for x in market.listings if x.exchange_code == "nasdaq"} == {"Q", "G", "S"}
    assert {x.market for x in market.listings if x.exchange_code in ("arca", "dax")} == {"NYSE Arca", "DAX"}
    arca = [x for x in market.listings if x.exchange_code == "arca"]
    assert sum(x.is_etf for x in arca) / len(arca) > 0.7
    assert not any(x.is_etf for x in market.listings if x.exchange_code not in ("nasdaq", "arca"))
    assert {x.financial_status for x in market.listings if x.exchange_code == "nasdaq"} <= set("NDEQ")
    assert {x.financial_status for x in market.listings if x.exchange_code != "nasdaq"} == {""}


def test_every_symbol_is_valid_unique_and_mapped(market: Market) -> None:
    symbols = [x.symbol for x in market.listings]
    assert len(set(symbols)) == len(symbols)
    assert len({x.isin for x in market.listings}) == len(symbols)
    for x in market.listings:
        assert validate_symbol(x.symbol) == x.symbol
        assert to_yahoo(x.exchange_code, x.exchange_symbol, x.market) == x.symbol
        assert market.listing(x.symbol) is x
        assert x.name.strip() and x.sector
        assert x.exchange_code in EXCHANGES


def test_symbol_shapes_per_venue(market: Market) -> None:
    by = {e: [x for x in market.listings if x.exchange_code == e] for e in EXCHANGES}
    for x in by["nasdaq"]:
        assert re.fullmatch(r"[A-Z]{1,5}", x.exchange_symbol)
        if len(x.exchange_symbol) == 5:
            tail = {"W": " - Warrant", "U": " - Unit", "R": " - Right"}[x.exchange_symbol[-1]]
            assert x.name.endswith(tail)
            issuer = market.listing(x.symbol[:4])  # the SPAC's own shares are listed too, same issuer name
            assert issuer is not None and x.name == issuer.name.split(" - ")[0] + tail
    assert {x.exchange_symbol[-1] for x in by["nasdaq"] if len(x.exchange_symbol) == 5} == {"W", "U", "R"}
    arca = {x.exchange_symbol: x.symbol for x in by["arca"]}
    shapes = {"class": r"[A-Z]+\.[AB]", "pref": r"[A-Z]+\$[A-Z]", "unit": r"[A-Z]+\.U", "warrant": r"[A-Z]+\.W", "right": r"[A-Z]+\.R"}
    for shape in shapes.values():
        assert any(re.fullmatch(shape, s) for s in arca), shape
    for ex, yahoo in arca.items():
        if re.fullmatch(shapes["pref"], ex):
            assert yahoo == ex.replace("$", "-P")
        elif ex.endswith((".U", ".W", ".R")):
            assert yahoo == ex[:-2] + {"U": "-UN", "W": "-WT", "R": "-RI"}[ex[-1]]
    assert all(x.symbol.endswith(".L") and x.currency == "GBp" for x in by["ftse"])
    assert any("." in x.exchange_symbol.rstrip(".") for x in by["ftse"])  # class shares like BT.A
    assert all(x.symbol == x.exchange_symbol + ".DE" for x in by["dax"])
    for x in by["euronext"]:
        mic, suffix = EURONEXT_MARKETS[x.market]
        assert x.symbol == x.exchange_symbol + suffix and x.mic == mic
        assert x.currency == ("NOK" if x.market == "Oslo Børs" else "EUR")


def test_isin_country_mic_tz_and_currency_fit_the_venue(market: Market) -> None:
    for x in market.listings:
        assert isin_is_valid(x.isin), x.isin
        assert x.isin[:2] == COUNTRY[venue(x)]
        assert MIC_TZ[resolve_mic(x.mic)] == x.tz
    assert {x.mic for x in market.listings if x.exchange_code == "nasdaq"} == {"XNAS"}  # the venue, not the calendar
    assert {x.mic for x in market.listings if x.exchange_code == "arca"} == {"ARCX"}
    assert {x.currency for x in market.listings if x.exchange_code in ("nasdaq", "arca")} == {"USD"}
    for mic, tz in MIC_TZ.items():
        assert calendar_arrays(mic).tz == tz


@pytest.mark.parametrize(
    ("code", "raw", "market_name", "yahoo"),
    [
        ("nasdaq", "AAPL", "", "AAPL"), ("nasdaq", "AACIW", "", "AACIW"), ("arca", "BRK.B", "", "BRK-B"),
        ("arca", "ABR$D", "", "ABR-PD"), ("arca", "AACT.U", "", "AACT-UN"), ("arca", "AACT.W", "", "AACT-WT"),
        ("arca", "CELG.R", "", "CELG-RI"), ("arca", "SPY", "", "SPY"), ("ftse", "VOD", "", "VOD.L"),
        ("ftse", "BT.A", "", "BT-A.L"), ("ftse", "AV.", "", "AV.L"), ("dax", "SAP", "", "SAP.DE"),
        ("dax", "SAP.DE", "", "SAP.DE"), ("dax", "VOW3", "", "VOW3.DE"), ("euronext", "AIR", "Euronext Paris", "AIR.PA"),
        ("euronext", "AALB", "Euronext Amsterdam", "AALB.AS"), ("euronext", "ABI", "Euronext Brussels", "ABI.BR"),
        ("euronext", "EDP", "Euronext Lisbon", "EDP.LS"), ("euronext", "KRZ", "Euronext Dublin", "KRZ.IR"),
        ("euronext", "EQNR", "Oslo Børs", "EQNR.OL"), ("euronext", "ENI", "Euronext Milan", "ENI.MI"),
        ("euronext", "MT", "Euronext Paris, Amsterdam, Brussels", "MT.PA"),
    ],
)
def test_yahoo_mapping_examples(code: str, raw: str, market_name: str, yahoo: str) -> None:
    assert to_yahoo(code, raw, market_name) == yahoo


def test_isin_check_digits() -> None:
    for real in ("US0378331005", "DE0007164600", "NL0000852564", "IT0005204729", "GB0002875804", "FR0000120271"):
        assert isin_check_digit(real[:11]) == real[11] and isin_is_valid(real)
        assert not isin_is_valid(real[:11] + str((int(real[11]) + 1) % 10))
    assert not isin_is_valid("US037833100") and not isin_is_valid("us0378331005")


@pytest.mark.parametrize(("size", "seed"), [(50, 1), (300, 7), (300, 99)])
def test_universe_changes_month_to_month_both_ways(size: int, seed: int) -> None:
    m = Market(size, seed=seed, today=TODAY)
    before = {x.symbol for x in m.universe()}
    m.today = TODAY + timedelta(days=31)
    after = {x.symbol for x in m.universe()}
    added, removed = after - before, before - after
    assert added and removed
    assert all(TODAY < m.listing(s).listed_on <= m.today for s in added)
    assert all(TODAY < m.listing(s).delisted_on <= m.today for s in removed)
    assert {x.symbol for x in m.universe(TODAY)} == before
    last_month = {x.symbol for x in m.universe(TODAY - timedelta(days=30))}
    assert before - last_month and last_month - before  # new and delisted within the last 30 days


def test_lifecycle_mix(market: Market) -> None:
    n = len(market.listings)
    old = sum(x.listed_on < market.history_start for x in market.listings)
    recent = sum(TODAY - timedelta(days=731) < x.listed_on <= TODAY for x in market.listings)
    gone = sum(x.delisted_on is not None and TODAY - timedelta(days=731) < x.delisted_on <= TODAY for x in market.listings)
    future_listed = sum(x.listed_on > TODAY for x in market.listings)
    future_delisted = sum(x.delisted_on is not None and x.delisted_on > TODAY for x in market.listings)
    assert old / n > 0.6 and 0.01 < recent / n < 0.12 and 0.01 < gone / n < 0.12
    assert future_listed >= 2 and future_delisted >= 2
    assert all(x.delisted_on is None or x.delisted_on > x.listed_on for x in market.listings)
    assert len(market.universe()) < n


# ------------------------------------------------------------------ calendars
def test_sessions_follow_exchange_holidays(market: Market) -> None:
    xlon = set(market.sessions("XLON", date(2024, 1, 1), date(2024, 12, 31)).tolist())
    xnys = set(market.sessions("XNYS", date(2024, 1, 1), date(2024, 12, 31)).tolist())
    assert not {date(2024, 12, 25), date(2024, 12, 26), date(2024, 8, 26)} & xlon
    assert date(2024, 8, 26) in xnys and date(2024, 7, 4) not in xnys and date(2024, 7, 5) in xnys
    assert all(d.weekday() < 5 for d in xlon | xnys)
    for mic in ("XNYS", "XLON"):
        x = next(x for x in market.universe() if resolve_mic(x.mic) == mic and x.listed_on < date(2024, 1, 1))
        days = set(market.true_bars(x.symbol).dates.tolist())
        assert days >= (xlon if mic == "XLON" else xnys)
        assert not days & {date(2024, 12, 25), date(2024, 7, 4) if mic == "XNYS" else date(2024, 8, 26)}
        assert days <= set(market.sessions(mic, date(2000, 1, 1), TODAY).tolist())


def test_session_open_epochs(market: Market) -> None:
    def utc(mic: str, day: date) -> datetime:
        return datetime.fromtimestamp(int(market.session_open_epoch(mic, np.array([day], "datetime64[D]"))[0]), UTC)

    assert utc("XNYS", date(2024, 7, 1)) == datetime(2024, 7, 1, 13, 30, tzinfo=UTC)
    assert utc("XNYS", date(2024, 1, 2)) == datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
    assert utc("XLON", date(2024, 1, 2)) == datetime(2024, 1, 2, 8, 0, tzinfo=UTC)
    assert utc("XETR", date(2024, 1, 2)) == datetime(2024, 1, 2, 8, 0, tzinfo=UTC)
    assert utc("XPAR", date(2024, 7, 1)) == datetime(2024, 7, 1, 7, 0, tzinfo=UTC)
    assert utc("XNYS", date(2024, 7, 6)) == datetime(2024, 7, 6, 13, 30, tzinfo=UTC)  # Saturday: regular open time
    out = market.session_open_epoch("XNYS", market.sessions("XNYS", date(2024, 1, 1), date(2024, 1, 31)))
    assert out.dtype == np.int64 and len(out) == 21 and (np.diff(out) > 0).all()


# ------------------------------------------------------------------ prices and adjustments
def _after(events: dict, dates: np.ndarray, fn) -> np.ndarray:
    """Per row t: product of fn(day, value) over events strictly after dates[t]."""
    out = np.ones(len(dates))
    for day, value in events.items():
        out[dates < np.datetime64(day, "D")] *= fn(day, value)
    return out


def test_split_adjustment_relations(market: Market) -> None:
    split_symbols = [x.symbol for x in market.universe() if market.raw_bars(x.symbol).splits]
    assert len(split_symbols) >= 5
    ratios = set()
    for sym in split_symbols:
        raw, served = market.raw_bars(sym), market.true_bars(sym)
        assert served.splits == raw.splits
        factor = _after(raw.splits, raw.dates, lambda _d, r: r)
        for col in ("open", "high", "low", "close"):
            np.testing.assert_allclose(getattr(served, col) * factor, getattr(raw, col), rtol=1e-12)
        np.testing.assert_array_equal(served.volume, np.maximum(np.rint(raw.volume * factor), 1))
        for day, ratio in raw.splits.items():
            ratios.add(ratio)
            i = int(np.searchsorted(raw.dates, np.datetime64(day, "D")))
            raw_move = raw.close[i] / raw.close[i - 1]
            assert abs(math.log(raw_move * ratio)) < 0.3  # raw price drops (or jumps) by the ratio
            assert abs(math.log(served.close[i] / served.close[i - 1])) < 0.3  # served close is continuous
    assert ratios <= {2.0, 3.0, 1.5, 0.1}


def test_dividend_adjustment_relations(market: Market) -> None:
    payers = [x.symbol for x in market.universe() if len(market.true_bars(x.symbol).dividends) >= 4][:15]
    assert len(payers) >= 10
    for sym in payers:
        raw, b = market.raw_bars(sym), market.true_bars(sym)
        split_factor = _after(raw.splits, raw.dates, lambda _d, r: r)
        idx = {d: int(np.searchsorted(b.dates, np.datetime64(d, "D"))) for d in b.dividends}
        for day, amount in b.dividends.items():
            assert amount > 0 and amount == pytest.approx(raw.dividends[day] / split_factor[idx[day]], rel=1e-12)
        expected = b.close * _after(b.dividends, b.dates, lambda d, a, b=b, idx=idx: 1 - a / b.close[idx[d] - 1])
        np.testing.assert_allclose(b.adj_close, expected, rtol=1e-12)
        assert b.adj_close[-1] == b.close[-1] and (b.adj_close <= b.close * (1 + 1e-12)).all()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 40), pick=st.integers(0, 10_000))
def test_ohlc_consistency_property(seed: int, pick: int) -> None:
    m = small_market(seed)
    x = m.listings[pick % len(m.listings)]
    for served, b in ((True, m.true_bars(x.symbol)), (False, m.raw_bars(x.symbol))):
        if not len(b):
            assert x.listed_on > TODAY
            continue
        assert (b.high >= np.maximum(b.open, b.close)).all() and (b.low <= np.minimum(b.open, b.close)).all()
        assert (b.low > 0).all() and not np.isnan(b.frame()[["open", "high", "low", "close", "adj_close", "volume"]]).any().any()
        assert (b.volume >= 1).all() and (b.volume == np.rint(b.volume)).all()
        assert (np.diff(b.dates.astype(np.int64)) > 0).all()
        assert np.isin(b.dates, m.sessions(x.mic, b.dates[0].item(), b.dates[-1].item())).all()
        if served:  # no natural >75% jump in what Yahoo serves (raw prices do jump at splits)
            assert abs(np.diff(np.log(b.adj_close))).max(initial=0) < math.log(1.75)
        assert b.dates[-1] <= np.datetime64(min(TODAY, (x.delisted_on or date.max) - timedelta(1)), "D")


def test_price_levels_are_sane_per_venue(market: Market) -> None:
    last = {}
    for x in market.universe():
        if market.security_kind(x.symbol) in ("common", "etf"):
            last.setdefault(x.currency, []).append(market.raw_bars(x.symbol).close[-1])
    assert 100 < np.median(last["GBp"]) < 10_000
    assert 5 < np.median(last["USD"]) < 1_000 and 5 < np.median(last["EUR"]) < 1_000


def test_histories_end_at_today_or_delisting(market: Market) -> None:
    future = next(x for x in market.listings if x.listed_on > TODAY)
    assert len(market.true_bars(future.symbol)) == 0
    gone = next(x for x in market.listings if x.delisted_on and x.delisted_on <= TODAY and x.listed_on < date(2020, 1, 1))
    assert market.true_bars(gone.symbol).dates[-1] < np.datetime64(gone.delisted_on, "D")
    x = next(x for x in market.universe() if x.listed_on < market.history_start)
    b = market.true_bars(x.symbol)
    assert b.dates[0] >= np.datetime64(market.history_start, "D") and b.dates[-1] <= np.datetime64(TODAY, "D")
    early = market.bars(x.symbol, as_of=date(2024, 6, 28))
    assert early.dates[-1] == np.datetime64("2024-06-28") if resolve_mic(x.mic) == "XNYS" else early.dates[-1] <= np.datetime64("2024-06-28")
    part = market.bars(x.symbol, start=date(2025, 1, 1), end=date(2025, 1, 31))
    assert part.dates[0] >= np.datetime64("2025-01-01") and part.dates[-1] <= np.datetime64("2025-01-31")
    assert list(part.frame().columns) == ["date", "open", "high", "low", "close", "adj_close", "volume"]
    with pytest.raises(KeyError):
        market.bars("NOPE.XX")
    assert market.listing("NOPE.XX") is None


def test_moving_today_extends_history_without_rewriting_the_past() -> None:
    m = Market(80, seed=3, today=TODAY)
    syms = [x.symbol for x in m.universe() if x.listed_on < date(2020, 1, 1)][:10]
    before = {s: m.raw_bars(s) for s in syms}
    m.today = TODAY + timedelta(days=40)
    for s in syms:
        old, new = before[s], m.raw_bars(s)
        assert len(new) > len(old)
        for col in ("dates", "open", "high", "low", "close", "volume"):
            np.testing.assert_array_equal(getattr(new, col)[: len(old)], getattr(old, col))


def test_same_inputs_give_byte_identical_outputs() -> None:
    a = Market(300, seed=11, today=TODAY, faults=FaultConfig.demo())
    b = Market(300, seed=11, today=TODAY, faults=FaultConfig.demo())
    assert a.listings == b.listings
    hit = sorted({i.symbol for i in a.injections()})
    assert hit and hit == sorted({i.symbol for i in b.injections()})
    for sym in hit[:8] + [x.symbol for x in a.universe()[::40]]:
        fa, fb = a.bars(sym).frame(), b.bars(sym).frame()
        assert fa.to_csv().encode() == fb.to_csv().encode()
        pa, pb = io.BytesIO(), io.BytesIO()
        fa.to_parquet(pa)
        fb.to_parquet(pb)
        assert pa.getvalue() == pb.getvalue()
    assert a.injections() == b.injections()
    other = Market(300, seed=12, today=TODAY)
    assert [x.symbol for x in other.listings] != [x.symbol for x in a.listings]
    clone = pickle.loads(pickle.dumps(a))
    assert clone.bars(hit[0]).frame().equals(a.bars(hit[0]).frame())


def test_market_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="size"):
        Market(0, today=TODAY)
    with pytest.raises(ValueError, match="history_start"):
        Market(50, today=date(2005, 1, 1))
    with pytest.raises(ValueError, match="outside"):
        Market(50, today=TODAY, history_start=date(1980, 1, 1))
    m = Market(50, today=TODAY)
    with pytest.raises(ValueError, match="outside"):
        m.today = date(2099, 1, 1)
    m.today = datetime(2025, 8, 1, 12, 0)
    assert m.today == date(2025, 8, 1) and m.anchor == TODAY


def test_ten_thousand_listing_universe() -> None:
    started = time.perf_counter()
    m = Market(10_000, seed=5, today=TODAY)
    elapsed = time.perf_counter() - started
    assert elapsed < 5.0  # ~0.4 s here; the bound only catches accidental per-listing calendar work
    symbols = [x.symbol for x in m.listings]
    assert len(symbols) == len(set(symbols)) == 10_000
    assert all(validate_symbol(s) == s for s in symbols)
    counts = Counter(x.exchange_code for x in m.listings)
    assert counts == {"nasdaq": 4000, "arca": 1500, "ftse": 1200, "dax": 800, "euronext": 2500}
    assert Counter(x.market for x in m.listings if x.exchange_code == "ftse")["FTSE 100"] == 100
    veteran = next(x for x in m.universe() if x.listed_on < m.history_start)
    assert len(m.true_bars(veteran.symbol)) > 4500
