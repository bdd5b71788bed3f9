"""Exchange-site emulators on loopback, so the real scrapers run unchanged (SPEC §2, §10).

``SitesServer`` (HTTP/1.1, keep-alive) serves:

==========================================  ===========================================================
``/dynamic/SymDir/nasdaqlisted.txt``        Nasdaq Trader, CRLF
``/dynamic/SymDir/otherlisted.txt``         Nasdaq Trader (Arca rows have Exchange ``P``), CRLF
``/wiki/FTSE_100_Index``                    Wikipedia-like page, ``table#constituents`` (``Ticker``)
``/wiki/FTSE_250_Index``                    same, ticker column ``EPIC``
``/index/dax/constituents[?page=N]``        Börse-Frankfurt-like listing, 10 rows a page, ``a[rel=next]``
``/en/products/equities/list``              Euronext page: empty table, JS fills it and adds ``#download-button``
``/en/pd/data/stocks?token=&iDisplay…``     the table's rows as JSON, 100 a request (DataTables' server side)
``/en/pd_es/data/stocks/download?token=``   the CSV file (attachment); both endpoints 403 without a page's token
extra route prefixes                        e.g. ``/v1/servers`` (NordVPN list, mounted by ``serve.py``)
==========================================  ===========================================================

``NasdaqFtpServer`` (in ``sites_ftp``, re-exported here) serves the two Nasdaq Trader files over FTP.

Site faults, per exchange code (``market.faults.hits(kind, code, market.seed)``), as a client sees them:

- ``broken_structure``: nasdaq/arca header columns renamed (``Ticker Symbol``, ``Market Tier``, ``ACT_Symbol``,
  ``Listing Exchange``...); the FTSE tables lose ``id="constituents"``; the DAX table is ``table.index-members-v2``;
  the Euronext page fills its table but never adds ``#download-button``.
- ``site_500``: HTTP 500 (HTML body) on every page of that exchange (Euronext: page, data, file); FTP ``550`` on RETR/SIZE.
- ``truncated``: Nasdaq files keep the header and the first half of the rows, end mid-line, no footer (HTTP and FTP);
  FTSE pages end inside the table (~40 % of the rows, no ``</html>``); DAX pages after the first half answer 404;
  the Euronext CSV is cut ~40 % into its rows.
- ``js_timeout``: the Euronext button is there, but a click only shows "Preparing your file…" and no file comes.
- ``site_flaky``: the exchange's first ``faults.flaky_count`` (2) HTTP requests since the server started (``flaky``
  counts them) answer 503, then it serves as usual: the watchdog's probe sees two 5xx in a row (site_down) where the
  scraper's retries get through.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from praf_engine.logs import get_logger
from praf_engine.sandbox.httpserver import LoopbackHTTPServer, Request, Response
from praf_engine.sandbox.sites_euronext import (
    EURONEXT_HEADER,
    EURONEXT_NOISE_MARKETS,
    EuronextRow,
    euronext_csv,
    euronext_filename,
    euronext_rows,
    euronext_table,
    euronext_table_json,
    render_euronext_page,
)
from praf_engine.sandbox.sites_ftp import NasdaqFtpServer
from praf_engine.sandbox.sites_render import (
    DAX_PAGE_SIZE,
    FTSE_PAGES,
    cqs_symbol,
    dax_page_count,
    dax_page_missing,
    dax_rows,
    fault,
    ftse_tickers,
    nasdaq_symbol,
    otherlisted_noise,
    render_dax_page,
    render_ftse_page,
    render_nasdaqlisted,
    render_otherlisted,
    site_faults,
)

log = get_logger(__name__)

NASDAQ_PATH = "/dynamic/SymDir/nasdaqlisted.txt"
OTHER_PATH = "/dynamic/SymDir/otherlisted.txt"
FTSE_PATHS = {"/wiki/FTSE_100_Index": "FTSE 100", "/wiki/FTSE_250_Index": "FTSE 250"}
DAX_PATH = "/index/dax/constituents"
EURONEXT_PATH = "/en/products/equities/list"
EURONEXT_DATA_PATH = "/en/pd/data/stocks"
EURONEXT_DOWNLOAD_PATH = "/en/pd_es/data/stocks/download"
TOKEN_TTL_S = 3600.0
_MAX_TOKENS = 4096
HTML = "text/html; charset=utf-8"
TEXT = "text/plain"
JSON = "application/json; charset=utf-8"

ExtraRoute = Callable[[str], tuple[int, str, bytes]]
Reply = tuple[int, str, bytes, dict[str, str]]

__all__ = [
    "DAX_PAGE_SIZE", "EURONEXT_HEADER", "EURONEXT_NOISE_MARKETS", "FTSE_PAGES", "EuronextRow", "NasdaqFtpServer",
    "SitesServer", "cqs_symbol", "dax_page_count", "dax_rows", "euronext_csv", "euronext_filename", "euronext_rows",
    "euronext_table", "ftse_tickers", "nasdaq_symbol", "otherlisted_noise", "render_dax_page", "render_euronext_page",
    "render_ftse_page", "render_nasdaqlisted", "render_otherlisted",
]


def _error_page(status: int, title: str, detail: str = "") -> Reply:
    body = (f"<!DOCTYPE html>\n<html><head><title>{status} {title}</title></head>\n"
            f"<body><h1>{title}</h1><p>{detail}</p></body></html>\n").encode()
    return status, HTML, body, {}


class SitesServer:
    """The exchange sites over HTTP on ``host:port`` (0 = a free port), rendered from ``market`` on each request."""

    def __init__(self, market: Any, host: str = "127.0.0.1", port: int = 0,
                 extra_routes: dict[str, ExtraRoute] | None = None) -> None:
        self.market = market
        self.host = host
        self.extra_routes = dict(extra_routes or {})
        self.hits: Counter[str] = Counter()  # requests per path (query string left out)
        self.flaky: Counter[str] = Counter()  # requests per exchange code under site_flaky
        self._lock = threading.Lock()
        self._cache: dict[tuple[Any, ...], bytes] = {}
        self._tokens: OrderedDict[str, float] = OrderedDict()
        self._http = LoopbackHTTPServer(self._serve, host, port, name="sandbox-sites")

    @property
    def port(self) -> int:
        return self._http.port

    @property
    def url(self) -> str:
        return self._http.url

    def start(self) -> SitesServer:
        self._http.start()
        log.info("exchange sites started", detail={"url": self.url})
        return self

    def stop(self) -> None:
        self._http.stop()
        log.info("exchange sites stopped", detail={"url": self.url})

    def __enter__(self) -> SitesServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self, request: Request) -> Response:
        try:
            status, ctype, body, headers = self.dispatch(request.method, request.target)
        except Exception as exc:  # noqa: BLE001 - a bug in an emulator must show as a 500, not a hung client
            log.error("sites handler crashed", detail={"path": request.path, "error": repr(exc)})
            status, ctype, body, headers = _error_page(500, "Internal Server Error", "sandbox handler crashed")
        return Response(status, body, ctype, headers)

    # -- routing -----------------------------------------------------------------------------------------------------
    def dispatch(self, method: str, target: str) -> Reply:
        """Answer one request: (status, content type, body, extra headers)."""
        parts = urlsplit(target)
        path = parts.path
        with self._lock:
            self.hits[path] += 1
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        if self._flaky_now(path):
            return _error_page(503, "Service Unavailable", "The server is temporarily unable to service your request.")
        page = self._page(path, query)
        if page is None:
            for prefix in sorted(self.extra_routes, key=len, reverse=True):
                if path.startswith(prefix):
                    status, ctype, body = self.extra_routes[prefix](target)
                    return status, ctype, body, {}
            return _error_page(404, "Not Found", "The requested URL was not found on this server.")
        if method not in ("GET", "HEAD"):
            return 405, HTML, b"<h1>405 Method Not Allowed</h1>\n", {"Allow": "GET, HEAD"}
        return page

    def _flaky_now(self, path: str) -> bool:
        """Whether this request is one of the first ``flaky_count`` to an exchange that ``site_flaky`` hits."""
        exchanges = {NASDAQ_PATH: "nasdaq", OTHER_PATH: "arca", DAX_PATH: "dax", EURONEXT_PATH: "euronext",
                     EURONEXT_DATA_PATH: "euronext", EURONEXT_DOWNLOAD_PATH: "euronext", **dict.fromkeys(FTSE_PATHS, "ftse")}
        code = exchanges.get(path)
        if code is None or not fault(self.market, "site_flaky", code):
            return False
        with self._lock:
            self.flaky[code] += 1
            return self.flaky[code] <= self.market.faults.flaky_count

    def _page(self, path: str, query: dict[str, str]) -> Reply | None:
        m = self.market
        if path in (NASDAQ_PATH, OTHER_PATH):
            code = "nasdaq" if path == NASDAQ_PATH else "arca"
            if fault(m, "site_500", code):
                return _error_page(500, "Internal Server Error", "The server encountered an internal error.")
            render = render_nasdaqlisted if code == "nasdaq" else render_otherlisted
            return 200, TEXT, self._cached((path,), code, lambda: render(m, crlf=True)), {}
        if path in FTSE_PATHS:
            if fault(m, "site_500", "ftse"):
                return _error_page(500, "Internal Server Error", "Our servers are currently under maintenance.")
            index = FTSE_PATHS[path]
            return 200, HTML, self._cached((path,), "ftse", lambda: render_ftse_page(m, index)), {}
        if path == DAX_PATH:
            return self._dax(query)
        if path == EURONEXT_PATH:
            if fault(m, "site_500", "euronext"):
                return _error_page(500, "Internal Server Error", "The website encountered an unexpected error.")
            page = render_euronext_page(self._new_token(), EURONEXT_DATA_PATH, EURONEXT_DOWNLOAD_PATH)
            return 200, HTML, page, {"Cache-Control": "no-store"}
        if path in (EURONEXT_DATA_PATH, EURONEXT_DOWNLOAD_PATH):
            return self._euronext(path, query)
        if path == "/":
            links = [NASDAQ_PATH, OTHER_PATH, *FTSE_PATHS, DAX_PATH, EURONEXT_PATH, *self.extra_routes]
            items = "".join(f'<li><a href="{p}">{p}</a></li>' for p in links)
            return 200, HTML, f"<!DOCTYPE html><title>PRAF sandbox sites</title><ul>{items}</ul>\n".encode(), {}
        return None

    def _dax(self, query: dict[str, str]) -> Reply:
        m = self.market
        if fault(m, "site_500", "dax"):
            return _error_page(500, "Internal Server Error", "Please try again later.")
        try:
            page = int(query.get("page", "1"))
        except ValueError:
            return _error_page(404, "Not Found", "No such page.")
        if dax_page_missing(m, page):
            return _error_page(404, "Not Found", "No such page.")
        return 200, HTML, self._cached((DAX_PATH, page), "dax", lambda: render_dax_page(m, page)), {}

    def _euronext(self, path: str, query: dict[str, str]) -> Reply:
        """The table's rows (JSON) and the CSV file: 500 under ``site_500``, 403 without a page load's token."""
        m = self.market
        if fault(m, "site_500", "euronext"):
            return 500, JSON, b'{"error":"Internal Server Error"}', {}
        if not self._token_ok(query.get("token", "")):
            return 403, JSON, b'{"error":"Forbidden","message":"missing or expired page token"}', {}
        if path == EURONEXT_DOWNLOAD_PATH:
            if query.get("fe_type", "csv") != "csv":
                return 400, JSON, b'{"error":"Bad Request","message":"fe_type: only csv is served here"}', {}
            body = self._cached((path,), "euronext", lambda: euronext_csv(m))
            return 200, "text/csv; charset=utf-8", body, {
                "Content-Disposition": f'attachment; filename="{euronext_filename(m)}"', "Cache-Control": "no-store"}
        try:
            start, length = int(query.get("iDisplayStart", "0")), int(query.get("iDisplayLength", "100"))
        except ValueError:
            return 400, JSON, b'{"error":"Bad Request","message":"iDisplayStart/iDisplayLength must be integers"}', {}
        body = self._cached((path, start, length), "euronext", lambda: euronext_table_json(m, start, length))
        return 200, JSON, body, {"Cache-Control": "no-store"}

    def _cached(self, key: tuple[Any, ...], code: str, render: Callable[[], bytes]) -> bytes:
        full = (*key, self.market.today, site_faults(self.market, code))
        with self._lock:
            body = self._cache.get(full)
            if body is None:
                if len(self._cache) > 256:
                    self._cache.clear()
                body = self._cache[full] = render()
            return body

    def _new_token(self) -> str:
        token = secrets.token_urlsafe(18)
        with self._lock:
            self._tokens[token] = time.monotonic()
            while len(self._tokens) > _MAX_TOKENS:
                self._tokens.popitem(last=False)
        return token

    def _token_ok(self, token: str) -> bool:
        with self._lock:
            issued = self._tokens.get(token)
            return issued is not None and time.monotonic() - issued < TOKEN_TTL_S

