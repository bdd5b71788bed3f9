"""Yahoo Finance emulator: cookie, crumb and v8 chart JSON from the synthetic market, per-address rate limits.

The real yfinance reaches it through ``SandboxSession``, a curl_cffi session that rewrites every
``*.yahoo.com`` URL to the emulator (reference/yahoo.md, "the offline recipe").
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from fractions import Fraction
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import numpy as np
from curl_cffi import requests as curl_requests

from praf_engine.sandbox.httpserver import LoopbackHTTPServer, Request, Response
from praf_engine.sandbox.market import Bars, Listing, Market

VALID_RANGES = ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"]
_RANGE_DAYS = {"1d": 1, "5d": 5, "1mo": 31, "3mo": 92, "6mo": 183, "1y": 366, "2y": 731, "5y": 1827, "10y": 3653}
# exchange code (or Euronext MIC) -> (Yahoo exchangeName, fullExchangeName)
EXCHANGE_NAMES = {
    "nasdaq": ("NMS", "NasdaqGS"), "arca": ("PCX", "NYSEArca"), "ftse": ("LSE", "LSE"), "dax": ("GER", "XETRA"),
    "XPAR": ("PAR", "Paris"), "XAMS": ("AMS", "Amsterdam"), "XBRU": ("BRU", "Brussels"), "XLIS": ("LIS", "Lisbon"),
    "XDUB": ("ISE", "Irish"), "XOSL": ("OSL", "Oslo"), "XMIL": ("MIL", "Milan"),
}
NOT_FOUND = json.dumps({"chart": {"result": None, "error": {"code": "Not Found",
                                                           "description": "No data found, symbol may be delisted"}}}).encode()
INTERNAL_ERROR = json.dumps({"chart": {"result": None, "error": {"code": "Internal Server Error",
                                                                 "description": "Internal Server Error"}}}).encode()
TOO_MANY = b"Edge: Too Many Requests"


class RateLimiter:
    """At most ``limit`` requests per ``window`` seconds per client address (sliding window)."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str) -> bool:
        now = self.clock()
        with self._lock:
            seen = self._seen.setdefault(client, deque())
            while seen and seen[0] <= now - self.window:
                seen.popleft()
            if len(seen) >= self.limit:
                return False
            seen.append(now)
            return True

    def reset(self) -> None:
        with self._lock:
            self._seen.clear()


def _floats(values: np.ndarray) -> list[float | None]:
    return [None if v != v else v for v in values.astype(float).tolist()]


def _ints(values: np.ndarray) -> list[int | None]:
    return [None if v != v else int(v) for v in values.astype(float).tolist()]


class YahooEmulator:
    """The request handler (``emulator(request) -> response``); serve it with ``LoopbackHTTPServer``."""

    def __init__(self, market: Market, *, rate_limit_requests: int = 950, rate_limit_window_s: float = 600.0,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.market = market
        self.limiter = RateLimiter(rate_limit_requests, rate_limit_window_s, clock)
        self.sleep = sleep
        self.requests: Counter[str] = Counter()  # per client address
        self.statuses: Counter[int] = Counter()
        self.chart_requests: Counter[str] = Counter()  # per symbol
        self._storms: dict[str | None, int] = {}  # client address (None = everyone) -> 429s left
        self._stormed: set[str] = set()
        self._lock = threading.Lock()

    # Operator controls -----------------------------------------------------------------------------
    def start_storm(self, requests: int, client_ip: str | None = None) -> None:
        """Answer the next ``requests`` requests (of one address, or of everyone) with 429."""
        with self._lock:
            self._storms[client_ip] = requests

    def reset(self) -> None:
        self.limiter.reset()
        with self._lock:
            self._storms.clear()
            self._stormed.clear()
        self.requests.clear()
        self.statuses.clear()
        self.chart_requests.clear()

    # Dispatch ---------------------------------------------------------------------------------------
    def __call__(self, request: Request) -> Response:
        response = self._dispatch(request)
        with self._lock:
            self.requests[request.client_ip] += 1
            self.statuses[response.status] += 1
        return response

    def _in_storm(self, client: str) -> bool:
        with self._lock:
            for key in (client, None):
                if self._storms.get(key, 0) > 0:
                    self._storms[key] -= 1
                    return True
        return False

    def _dispatch(self, request: Request) -> Response:
        if self._in_storm(request.client_ip) or not self.limiter.allow(request.client_ip):
            return Response(429, TOO_MANY, "text/plain")
        path = request.path
        if path.startswith("/v8/finance/chart/"):
            return self._chart(path.rsplit("/", 1)[-1].upper(), request)
        if path == "/v1/test/getcrumb":
            return Response(200, b"sandbox-crumb-0000", "text/plain")
        if path in ("/", ""):
            return Response(404, b"<html>sandbox</html>", "text/html", {
                "Set-Cookie": "A3=d=AQABBsandbox&S=AQAAAsandbox; Max-Age=31557600; Path=/; SameSite=None"})
        if path.startswith("/v10/finance/quoteSummary/"):
            return Response(404, json.dumps({"quoteSummary": {"result": None, "error": {
                "code": "Not Found", "description": "Quote not found for symbol"}}}).encode())
        if path.startswith("/v7/finance/quote"):
            return Response(200, b'{"quoteResponse":{"result":[],"error":null}}')
        if path.startswith("/ws/fundamentals-timeseries/"):
            return Response(200, b'{"timeseries":{"result":[],"error":null}}')
        return Response(404, b"<html>Not Found</html>", "text/html")

    def _chart(self, symbol: str, request: Request) -> Response:
        market, seed, faults = self.market, self.market.seed, self.market.faults
        with self._lock:
            self.chart_requests[symbol] += 1
        listing = market.listing(symbol)
        today = market.today
        if listing is None or listing.listed_on > today or (listing.delisted_on and listing.delisted_on <= today):
            return Response(404, NOT_FOUND)
        if faults.hits("storm_429", symbol, seed):
            with self._lock:
                first = symbol not in self._stormed
                self._stormed.add(symbol)
                if first:  # the symbol's first request starts a storm on that client address
                    self._storms[request.client_ip] = faults.storm_length - 1
            if first:
                return Response(429, TOO_MANY, "text/plain")
        if faults.hits("delisted", symbol, seed):
            return Response(404, NOT_FOUND)
        if faults.hits("http_500", symbol, seed):
            return Response(500, INTERNAL_ERROR)
        if faults.hits("slow", symbol, seed):
            self.sleep(faults.slow_seconds)
        empty = faults.hits("empty", symbol, seed)
        doc = self.chart_document(listing, request, empty=empty)
        body = json.dumps(doc, separators=(",", ":")).encode()
        if faults.hits("malformed_json", symbol, seed):
            body = body[: max(1, len(body) // 2)]
        return Response(200, body)

    # The chart document -------------------------------------------------------------------------------
    def chart_document(self, listing: Listing, request: Request, *, empty: bool = False) -> dict[str, Any]:
        bars = self.market.bars(listing.symbol)
        stamps = self._timestamps(listing, bars)
        lo, hi, range_name = self._window(request, bars, stamps)
        mask = (stamps >= lo) & (stamps < hi) if not empty else np.zeros(len(stamps), dtype=bool)
        result: dict[str, Any] = {"meta": self._meta(listing, bars, stamps, range_name)}
        if mask.any():
            chosen = stamps[mask]
            result["timestamp"] = chosen.tolist()
            result["events"] = self._events(listing, bars, int(chosen[0]), int(chosen[-1]) + 1)
            result["indicators"] = {
                "quote": [{"open": _floats(bars.open[mask]), "high": _floats(bars.high[mask]), "low": _floats(bars.low[mask]),
                           "close": _floats(bars.close[mask]), "volume": _ints(bars.volume[mask])}],
                "adjclose": [{"adjclose": _floats(bars.adj_close[mask])}],
            }
        else:
            result["indicators"] = {"quote": [{}], "adjclose": [{}]}
        return {"chart": {"result": [result], "error": None}}

    def _timestamps(self, listing: Listing, bars: Bars) -> np.ndarray:
        stamps = self.market.session_open_epoch(listing.mic, bars.dates).astype(np.int64)
        if len(stamps) > 1:  # a duplicated row carries a later, intraday time of the same day (as Yahoo's does)
            dup = np.concatenate([[False], bars.dates[1:] == bars.dates[:-1]])
            stamps[dup] += 6 * 3600
        return stamps

    def _window(self, request: Request, bars: Bars, stamps: np.ndarray) -> tuple[int, int, str]:
        period1, period2 = request.arg("period1"), request.arg("period2")
        if period1 is not None or period2 is not None:
            return int(float(period1 or 0)), int(float(period2 or 2**62)), ""
        name = request.arg("range", "1mo") or "1mo"
        if name == "max" or not len(stamps):
            return -(2**62), 2**62, name
        if name == "1d":
            return int(stamps[-1]), 2**62, name
        today = self.market.today
        start = dt.date(today.year, 1, 1) if name == "ytd" else today - dt.timedelta(days=_RANGE_DAYS.get(name, 31))
        return int(dt.datetime.combine(start, dt.time(), dt.UTC).timestamp()), 2**62, name

    def _events(self, listing: Listing, bars: Bars, lo: int, hi: int) -> dict[str, Any]:
        """Dividends and splits whose ex-date falls inside the served window, keyed by their timestamp."""
        lo_day = dt.datetime.fromtimestamp(lo, dt.UTC).date() - dt.timedelta(days=1)
        hi_day = dt.datetime.fromtimestamp(hi, dt.UTC).date() + dt.timedelta(days=1)
        days = sorted(d for d in (*bars.dividends, *bars.splits) if lo_day <= d <= hi_day)
        if not days:
            return {}
        stamps = dict(zip(days, self.market.session_open_epoch(listing.mic, np.array(days, dtype="datetime64[D]")).tolist(),
                          strict=True))
        events: dict[str, Any] = {}
        divs = {str(stamps[d]): {"amount": a, "date": stamps[d]} for d, a in bars.dividends.items()
                if d in stamps and lo <= stamps[d] < hi}
        splits = {}
        for day, ratio in bars.splits.items():
            if day in stamps and lo <= stamps[day] < hi:
                frac = Fraction(ratio).limit_denominator(100)
                splits[str(stamps[day])] = {"date": stamps[day], "numerator": frac.numerator, "denominator": frac.denominator,
                                            "splitRatio": f"{frac.numerator}:{frac.denominator}"}
        if divs:
            events["dividends"] = divs
        if splits:
            events["splits"] = splits
        return events

    def _meta(self, listing: Listing, bars: Bars, stamps: np.ndarray, range_name: str) -> dict[str, Any]:
        tz = ZoneInfo(listing.tz)
        last = int(stamps[-1]) if len(stamps) else int(time.time())
        local = dt.datetime.fromtimestamp(last, tz)
        offset = int(local.utcoffset().total_seconds()) if local.utcoffset() else 0
        key = listing.mic if listing.exchange_code == "euronext" else listing.exchange_code
        short, full = EXCHANGE_NAMES.get(key, ("NMS", "NasdaqGS"))
        close = float(bars.close[-1]) if len(bars.close) and bars.close[-1] == bars.close[-1] else None
        period = {"timezone": local.tzname(), "start": last, "end": last + 6 * 3600 + 1800, "gmtoffset": offset}
        return {
            "currency": bars.currency, "symbol": listing.symbol, "exchangeName": short, "fullExchangeName": full,
            "instrumentType": "ETF" if listing.is_etf else "EQUITY",
            "firstTradeDate": int(stamps[0]) if len(stamps) else None, "regularMarketTime": last,
            "hasPrePostMarketData": False, "gmtoffset": offset, "timezone": local.tzname(),
            "exchangeTimezoneName": listing.tz, "regularMarketPrice": close, "chartPreviousClose": close,
            "priceHint": 2, "longName": listing.name, "shortName": listing.name[:32],
            "currentTradingPeriod": {"pre": period, "regular": period, "post": period},
            "dataGranularity": "1d", "range": range_name, "validRanges": VALID_RANGES,
        }


class SandboxSession(curl_requests.Session):
    """A curl_cffi session (what yfinance requires) that sends every ``*.yahoo.com`` request to the emulator."""

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        kwargs.setdefault("impersonate", "chrome")
        kwargs.setdefault("trust_env", False)
        super().__init__(**kwargs)
        self._base = urlsplit(base_url.rstrip("/"))

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        target = rewrite_yahoo_url(url, self._base)
        response = super().request(method, target, *args, **kwargs)
        if target != url:
            self._as_yahoo_cookies()
        return response

    def _as_yahoo_cookies(self) -> None:
        """Give the cookies the emulator set a ``.yahoo.com`` twin, as Yahoo sets them. yfinance caches the cookie
        it finds under a Yahoo domain and reuses it; one left under the loopback host only made it fetch
        fc.yahoo.com again before every request (a request per symbol Yahoo never sees). The loopback cookie stays,
        so the emulator still gets it back."""
        jar = self.cookies.jar
        loopback = (self._base.hostname or "").lower()
        for cookie in list(jar):
            if cookie.domain.lstrip(".").lower() != loopback:
                continue
            twin = copy.copy(cookie)
            twin.domain, twin.domain_specified, twin.domain_initial_dot = ".yahoo.com", True, True
            jar.set_cookie(twin)


def rewrite_yahoo_url(url: str, base: Any) -> str:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host == "yahoo.com" or host.endswith(".yahoo.com"):
        return urlunsplit((base.scheme, base.netloc, parts.path or "/", parts.query, ""))
    return url


def serve_yahoo(market: Market, host: str = "127.0.0.1", port: int = 0, **kwargs: Any) -> tuple[YahooEmulator, LoopbackHTTPServer]:
    emulator = YahooEmulator(market, **kwargs)
    return emulator, LoopbackHTTPServer(emulator, host, port)
