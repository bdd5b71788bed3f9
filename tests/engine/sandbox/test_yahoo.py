"""The Yahoo emulator, reached by the real yfinance through the rewriting curl_cffi session, over real sockets."""

from __future__ import annotations

import datetime as dt
import json
import warnings

import httpx
import numpy as np
import pandas as pd
import pytest

from praf_engine.sandbox.faults import FaultConfig
from praf_engine.sandbox.market import Market
from praf_engine.sandbox.yahoo import SandboxSession, rewrite_yahoo_url, serve_yahoo

TODAY = dt.date(2025, 6, 6)


@pytest.fixture(scope="module", autouse=True)
def yf_cache(tmp_path_factory):
    import yfinance as yf
    from yfinance.cache import set_cache_location

    set_cache_location(str(tmp_path_factory.mktemp("yfcache")))
    warnings.filterwarnings("ignore", module="yfinance")
    return yf


@pytest.fixture(scope="module")
def clean_market() -> Market:
    return Market(size=200, seed=7, today=TODAY, faults=FaultConfig.none())


@pytest.fixture(scope="module")
def yahoo(clean_market):
    emulator, server = serve_yahoo(clean_market, rate_limit_requests=100_000)
    with server:
        yield emulator, server


def _one_per_exchange(market: Market) -> list:
    chosen = {}
    for listing in market.universe(TODAY):
        if listing.listed_on < dt.date(2020, 1, 1):
            key = listing.exchange_code if listing.exchange_code != "euronext" else listing.mic
            chosen.setdefault(key, listing)
    return list(chosen.values())


def _yf_frame(frame: pd.DataFrame, symbol: str) -> pd.DataFrame:
    return frame.xs(symbol, axis=1, level="Ticker").dropna(how="all")


def test_the_cookie_is_fetched_once_as_from_yahoo(clean_market, tmp_path) -> None:
    """Yahoo sets its A3 cookie for .yahoo.com, where yfinance looks for the cookie it caches; a cookie kept under
    the emulator's loopback host made yfinance fetch fc.yahoo.com again before every chart request."""
    import yfinance as yf
    emulator, server = serve_yahoo(clean_market, rate_limit_requests=100_000)
    paths: list[str] = []
    dispatch = emulator._dispatch

    def counted(request):  # noqa: ANN001, ANN202
        paths.append(request.path)
        return dispatch(request)

    emulator._dispatch = counted
    symbols = [x.symbol for x in clean_market.universe(TODAY) if x.listed_on < dt.date(2025, 1, 1)][:12]
    with server:
        session = SandboxSession(server.url)
        yf.download(symbols, start="2025-05-26", session=session, progress=False, threads=False, auto_adjust=False)
        yf.download(symbols[:3], start="2025-05-26", session=SandboxSession(server.url), progress=False, threads=False)
    charts = [p for p in paths if p.startswith("/v8/finance/chart/")]
    assert len(charts) >= len(symbols) + 3  # plus a time-zone lookup per symbol yfinance's cache does not know yet
    assert paths.count("/") <= 1, f"{paths.count('/')} cookie requests for {len(charts)} charts"
    from yfinance.cache import get_cookie_cache

    cached = get_cookie_cache().lookup("curlCffi")  # what yfinance keeps between runs, as with Yahoo itself
    assert cached is not None and "A3" in cached["cookie"][".yahoo.com"]["/"]


def test_rewrite_only_touches_yahoo_hosts() -> None:
    from urllib.parse import urlsplit

    base = urlsplit("http://127.0.0.1:9999")
    assert rewrite_yahoo_url("https://query2.finance.yahoo.com/v8/finance/chart/AAPL?range=1d", base) == \
        "http://127.0.0.1:9999/v8/finance/chart/AAPL?range=1d"
    assert rewrite_yahoo_url("https://fc.yahoo.com", base) == "http://127.0.0.1:9999/"
    assert rewrite_yahoo_url("https://evilyahoo.com/x", base) == "https://evilyahoo.com/x"
    assert rewrite_yahoo_url("https://example.org/yahoo.com", base) == "https://example.org/yahoo.com"


def test_download_returns_the_exact_bars_on_every_exchange(yahoo, clean_market, yf_cache) -> None:
    emulator, server = yahoo
    listings = _one_per_exchange(clean_market)
    assert {x.exchange_code for x in listings} == {"nasdaq", "arca", "ftse", "dax", "euronext"}
    symbols = [x.symbol for x in listings]
    frame = yf_cache.download(symbols, start="2025-01-01", end="2025-06-07", auto_adjust=False, actions=True,
                              progress=False, threads=False, session=SandboxSession(server.url))
    for listing in listings:
        got = _yf_frame(frame, listing.symbol)
        want = clean_market.bars(listing.symbol, start=dt.date(2025, 1, 1), end=dt.date(2025, 6, 6)).frame()
        want = want[want["date"] >= pd.Timestamp("2025-01-01")]
        assert [d.date() for d in got.index] == [d.date() for d in want["date"]], listing.symbol
        np.testing.assert_allclose(got["Close"].to_numpy(), want["close"].to_numpy(), rtol=1e-9)
        np.testing.assert_allclose(got["Adj Close"].to_numpy(), want["adj_close"].to_numpy(), rtol=1e-9)
        np.testing.assert_array_equal(got["Volume"].to_numpy(), want["volume"].to_numpy())
    # no bar on an exchange holiday, and each venue keeps its own calendar
    lse = next(x for x in listings if x.exchange_code == "ftse")
    nyse = next(x for x in listings if x.exchange_code == "nasdaq")
    lse_dates = {d.date() for d in _yf_frame(frame, lse.symbol).index}
    us_dates = {d.date() for d in _yf_frame(frame, nyse.symbol).index}
    assert dt.date(2025, 5, 5) in us_dates and dt.date(2025, 5, 5) not in lse_dates  # Early May bank holiday
    assert dt.date(2025, 1, 20) in lse_dates and dt.date(2025, 1, 20) not in us_dates  # MLK day


def test_history_carries_dividends_and_splits(yahoo, clean_market, yf_cache) -> None:
    _, server = yahoo
    listing = next(x for x in clean_market.universe(TODAY)
                   if clean_market.true_bars(x.symbol).splits and clean_market.true_bars(x.symbol).dividends)
    bars = clean_market.bars(listing.symbol)
    hist = yf_cache.Ticker(listing.symbol, session=SandboxSession(server.url)).history(period="max", auto_adjust=False)
    assert len(hist) == len(bars.dates)
    assert [d.date() for d in hist.index] == [pd.Timestamp(d).date() for d in bars.dates]
    splits = {d.date(): v for d, v in hist["Stock Splits"].items() if v}
    divs = {d.date(): v for d, v in hist["Dividends"].items() if v}
    assert splits == pytest.approx(bars.splits)
    assert divs == pytest.approx({k: round(v, 6) for k, v in bars.dividends.items()})
    np.testing.assert_allclose(hist["Adj Close"].to_numpy(), bars.adj_close, rtol=1e-9)


def test_unknown_and_delisted_symbols_answer_404(yahoo, clean_market) -> None:
    _, server = yahoo
    gone = next(x for x in clean_market.listings if x.delisted_on and x.delisted_on <= TODAY)
    with httpx.Client(base_url=server.url) as client:
        for symbol in ("NOSUCH", gone.symbol):
            r = client.get(f"/v8/finance/chart/{symbol}", params={"range": "1d", "interval": "1d"})
            assert r.status_code == 404
            assert r.json()["chart"]["error"]["description"] == "No data found, symbol may be delisted"
        assert client.get("/v10/finance/quoteSummary/AAPL").status_code == 404
        assert client.get("/v7/finance/quote").json() == {"quoteResponse": {"result": [], "error": None}}


def test_timestamps_are_the_session_open_in_the_exchange_time_zone(yahoo, clean_market) -> None:
    _, server = yahoo
    listing = next(x for x in _one_per_exchange(clean_market) if x.exchange_code == "ftse")
    with httpx.Client(base_url=server.url) as client:
        doc = client.get(f"/v8/finance/chart/{listing.symbol}", params={"range": "5d", "interval": "1d"}).json()
    result = doc["chart"]["result"][0]
    assert result["meta"]["exchangeTimezoneName"] == "Europe/London" and result["meta"]["currency"] == "GBp"
    for stamp in result["timestamp"]:
        local = dt.datetime.fromtimestamp(stamp, dt.UTC).astimezone(__import__("zoneinfo").ZoneInfo("Europe/London"))
        assert (local.hour, local.minute) == (8, 0)


def test_rate_limit_per_client_address(clean_market) -> None:
    emulator, server = serve_yahoo(clean_market, rate_limit_requests=20, rate_limit_window_s=600)
    symbol = clean_market.universe(TODAY)[0].symbol
    with server, httpx.Client(base_url=server.url) as client:
        codes = [client.get(f"/v8/finance/chart/{symbol}", params={"range": "1d"}).status_code for _ in range(25)]
    assert codes == [200] * 20 + [429] * 5
    assert emulator.requests["127.0.0.1"] == 25 and emulator.statuses[429] == 5


def test_rate_limit_spread_over_exits_is_not_hit(clean_market) -> None:
    from praf_engine.sandbox.exits import ExitPool

    emulator, server = serve_yahoo(clean_market, rate_limit_requests=20, rate_limit_window_s=600)
    symbol = clean_market.universe(TODAY)[0].symbol
    codes = []
    with server, ExitPool(4) as pool:
        for url in pool.urls:
            session = SandboxSession(server.url, proxies={"http": url, "https": url})
            codes += [session.get(f"https://query2.finance.yahoo.com/v8/finance/chart/{symbol}?range=1d").status_code
                      for _ in range(20)]
            session.close()
    assert codes == [200] * 80
    assert sorted(emulator.requests) == ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]


def test_every_response_fault_is_observable(tmp_path) -> None:
    base = Market(size=120, seed=11, today=TODAY, faults=FaultConfig.none())
    names = [x.symbol for x in base.universe(TODAY) if x.listed_on < dt.date(2020, 1, 1)][:6]
    kinds = ["empty", "delisted", "malformed_json", "slow", "http_500", "storm_429"]
    faults = FaultConfig(targets={k: frozenset([s]) for k, s in zip(kinds, names, strict=True)}, slow_seconds=0.3, storm_length=4)
    market = Market(size=120, seed=11, today=TODAY, faults=faults)
    target = dict(zip(kinds, names, strict=True))
    emulator, server = serve_yahoo(market, rate_limit_requests=100_000)
    with server, httpx.Client(base_url=server.url, timeout=10) as client:
        def chart(symbol: str) -> httpx.Response:
            return client.get(f"/v8/finance/chart/{symbol}", params={"range": "1mo", "interval": "1d"})

        empty = chart(target["empty"]).json()["chart"]["result"][0]
        assert "timestamp" not in empty and empty["meta"]["symbol"] == target["empty"]
        assert chart(target["delisted"]).status_code == 404
        broken = chart(target["malformed_json"])
        assert broken.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(broken.content)
        slow = chart(target["slow"])
        assert slow.status_code == 200 and slow.elapsed.total_seconds() >= 0.3
        assert chart(target["http_500"]).status_code == 500
        storm = [chart(target["storm_429"]).status_code for _ in range(5)]
        assert storm == [429, 429, 429, 429, 200]
        assert chart(names[0]).status_code == 200  # the storm is over


def test_every_data_fault_reaches_yfinance(yf_cache) -> None:
    """What `injections()` says was injected is what the real client downloads."""
    base = Market(size=150, seed=5, today=TODAY, faults=FaultConfig.none())
    old = [x for x in base.universe(TODAY) if x.listed_on < dt.date(2020, 1, 1)]
    gbp = next(x.symbol for x in old if x.currency == "GBp")
    others = [x.symbol for x in old if x.symbol != gbp]
    kinds = ["gap", "null_field", "zero_volume", "jump", "duplicate_last_row", "date_shift"]
    targets = {k: frozenset([s]) for k, s in zip(kinds, others, strict=False)}
    targets["currency_switch"] = frozenset([gbp])
    market = Market(size=150, seed=5, today=TODAY, faults=FaultConfig(targets=targets))
    found = {i.kind: i for i in market.injections() if i.symbol in targets.get(i.kind, ())}
    assert set(found) == set(targets)
    _, server = serve_yahoo(market, rate_limit_requests=100_000)
    with server:
        session = SandboxSession(server.url)

        def history(symbol: str) -> pd.DataFrame:
            frame = yf_cache.Ticker(symbol, session=session).history(start="2025-03-01", end="2025-06-07",
                                                                     auto_adjust=False, actions=False)
            frame.index = [d.date() for d in frame.index]
            return frame

        clean = {s: base.bars(s, start=dt.date(2025, 3, 1)).frame().set_index("date") for s in (*others[:6], gbp)}
        gap = history(found["gap"].symbol)
        assert not set(found["gap"].dates) & set(gap.index)
        nulls = history(found["null_field"].symbol)
        day = found["null_field"].dates[0]
        column = {"open": "Open", "high": "High", "low": "Low", "close": "Close", "adj_close": "Adj Close"}[found["null_field"].detail["field"]]
        assert np.isnan(nulls.loc[day, column])
        zero = history(found["zero_volume"].symbol)
        assert zero.loc[found["zero_volume"].dates[0], "Volume"] == 0
        jump = history(found["jump"].symbol)
        d = found["jump"].dates[0]
        move = jump["Close"].pct_change().loc[d]
        assert abs(move) > 0.75
        dup_symbol = found["duplicate_last_row"].symbol
        raw = httpx.get(f"{server.url}/v8/finance/chart/{dup_symbol}", params={"range": "5d", "interval": "1d"}).json()
        stamps = raw["chart"]["result"][0]["timestamp"]
        days = [dt.datetime.fromtimestamp(t, dt.UTC).date() for t in stamps]
        assert days[-1] == days[-2] and stamps[-1] > stamps[-2]  # two bars for one session
        served = market.bars(dup_symbol)
        dup = history(dup_symbol)  # yfinance folds the intraday copy into the session's row
        assert dup["Close"].iloc[-1] == pytest.approx(served.close[-1]) and served.close[-1] != served.close[-2]
        shifted = history(found["date_shift"].symbol)
        assert set(found["date_shift"].dates) <= set(shifted.index)
        xlon = set(pd.to_datetime(market.sessions("XLON", dt.date(2025, 3, 1), TODAY)).date)
        xnys = set(pd.to_datetime(market.sessions(base.listing(found["date_shift"].symbol).mic, dt.date(2025, 3, 1), TODAY)).date)
        assert set(found["date_shift"].dates) - xnys  # some bars land on non-sessions
        pence = history(gbp)
        switched = found["currency_switch"].dates
        ratio = clean[gbp].loc[pd.Timestamp(switched[0]), "close"] / pence.loc[switched[0], "Close"]
        assert ratio == pytest.approx(100)
        assert pence.loc[[x for x in pence.index if x not in switched and x in xlon][-1], "Close"] > 20


def test_history_rewrite_reaches_yfinance_only_after_the_reveal(yf_cache) -> None:
    base = Market(size=100, seed=3, today=TODAY, faults=FaultConfig.none())
    symbol = next(x.symbol for x in base.universe(TODAY) if x.listed_on < dt.date(2020, 1, 1) and not base.true_bars(x.symbol).splits)
    market = Market(size=100, seed=3, today=TODAY, faults=FaultConfig(targets={"history_rewrite": frozenset([symbol])}))
    rewrite = next(i for i in market.injections() if i.kind == "history_rewrite")
    split_day, revealed_on = rewrite.dates[0], rewrite.detail["revealed_on"]
    _, server = serve_yahoo(market, rate_limit_requests=100_000)
    with server:
        session = SandboxSession(server.url)
        market.today = split_day  # before the reveal: the price drops, no split event
        before = yf_cache.Ticker(symbol, session=session).history(period="1mo", auto_adjust=False, actions=True)
        assert before["Stock Splits"].sum() == 0
        assert before["Close"].pct_change().min() < -0.4
        market.today = revealed_on
        after = yf_cache.Ticker(symbol, session=session).history(period="1mo", auto_adjust=False, actions=True)
        assert after["Stock Splits"].max() == pytest.approx(rewrite.detail["ratio"])
        assert after["Close"].pct_change().abs().max() < 0.4
