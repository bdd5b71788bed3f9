"""yfinance behind one seam: `download_batch(symbols, start)` returns bars and an outcome for every symbol.

yfinance keeps ONE process-wide session (``YfData`` is a singleton) and never raises for a failed symbol: it
logs the reason on the ``yfinance`` logger and returns all-NaN columns. So this client
- passes ``session=`` on every call and serialises calls with a process-wide lock (two concurrent downloads
  with different exit sessions would swap each other's session);
- records the HTTP status (or transport exception) of every chart request in its own session subclass, and
  captures the logger's per-symbol reasons around each call, to give each symbol a precise outcome.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np
import pandas as pd
from curl_cffi import requests as curl_requests

from praf_engine.config import Settings

OK, EMPTY, DELISTED, RATE_LIMITED, TIMEOUT, MALFORMED, SERVER_ERROR, UNREACHABLE = (
    "ok", "empty", "delisted", "rate_limited", "timeout", "malformed", "server_error", "unreachable")
ERROR_CODES = {EMPTY: "YFEMPTY", DELISTED: "YFDELISTED", RATE_LIMITED: "YF429", TIMEOUT: "YFTIMEOUT",
               MALFORMED: "YFMALFORMED", SERVER_ERROR: "YFHTTP", UNREACHABLE: "EXITFAIL"}
TRANSIENT = frozenset({RATE_LIMITED, TIMEOUT, SERVER_ERROR, UNREACHABLE})  # worth a retry on another exit
_CHART = re.compile(r"/v8/finance/chart/([^/?]+)")
_DOWNLOAD_LOCK = threading.Lock()  # yfinance's YfData holds one session per process
_CONFIGURED: dict[str, Any] = {}


@dataclass
class SymbolResult:
    """One symbol of a batch: its bars (lake columns), its corporate-action events and its outcome."""

    symbol: str
    outcome: str
    bars: pd.DataFrame | None = None  # date open high low close adj_close volume
    dividends: dict[dt.date, float] = field(default_factory=dict)
    splits: dict[dt.date, float] = field(default_factory=dict)
    reason: str = ""

    @property
    def error_code(self) -> str | None:
        return ERROR_CODES.get(self.outcome)


@dataclass
class BatchResult:
    results: dict[str, SymbolResult]
    latency_ms: float

    def by_outcome(self, outcome: str) -> list[str]:
        return [s for s, r in self.results.items() if r.outcome == outcome]


def rate_wall(results: Iterable[SymbolResult]) -> bool:
    """Whether failed downloads are a 429 wall: there are some, and every one of them ended rate limited."""
    outcomes = [r.outcome for r in results]
    return bool(outcomes) and all(o == RATE_LIMITED for o in outcomes)


class Recording:
    """Mixin for curl_cffi sessions: remember the last chart answer (status or exception) of each symbol. Every
    session factory of the wiring (``wiring.chrome_session``, the sandbox's) makes sessions with it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.chart_status: dict[str, Any] = {}

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        match = _CHART.search(urlsplit(url).path)
        symbol = unquote(match.group(1)).upper() if match else None
        try:
            response = super().request(method, url, *args, **kwargs)  # type: ignore[misc]
        except Exception as exc:
            if symbol:
                self.chart_status[symbol] = exc
            raise
        if symbol:
            status = response.status_code
            if status == 200 and not response.content.rstrip().endswith(b"}"):
                status = "truncated"  # a chart document is one JSON object; yfinance reports this as 'no data'
            self.chart_status[symbol] = status
        return response


class RecordingSession(Recording, curl_requests.Session):
    """The production session: curl_cffi impersonating Chrome, optionally through one exit's proxy."""


def configure_yfinance(cache_dir: str) -> Any:
    """Import yfinance once, point its sqlite caches into the home, silence its pandas warnings."""
    import yfinance as yf
    from yfinance.cache import set_cache_location

    if _CONFIGURED.get("cache") != cache_dir:
        set_cache_location(cache_dir)
        _CONFIGURED["cache"] = cache_dir
    warnings.filterwarnings("ignore", module="yfinance")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    yf.config.network.proxy = None  # the config proxy would override each exit session's own proxy
    return yf


class _Capture(logging.Handler):
    """Collects yfinance's per-symbol failure reasons: '$SYM: reason', "['A', 'B']: reason", "ticker 'X' reason: …"."""

    _ONE = re.compile(r"^\$([^:]+): (.*)$", re.S)
    _MANY = re.compile(r"^\[([^\]]*)\]: (.*)$", re.S)
    _TICKER = re.compile(r"ticker '([^']+)' reason: (.*)$", re.S)

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.reasons: dict[str, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage().strip()
        if m := self._ONE.match(text):
            self.reasons.setdefault(m.group(1).upper(), m.group(2))
        elif m := self._MANY.match(text):
            for sym in re.findall(r"'([^']+)'", m.group(1)):
                self.reasons.setdefault(sym.upper(), m.group(2))
        elif m := self._TICKER.search(text):
            self.reasons[m.group(1).upper()] = m.group(2)


def classify(status: Any, reason: str) -> str:
    """The outcome of a symbol that came back without bars, from its chart answer and yfinance's reason."""
    if isinstance(status, BaseException):
        name = type(status).__name__
        return TIMEOUT if "Timeout" in name else UNREACHABLE
    if "database is locked" in reason:  # yfinance's own sqlite tz cache under its download threads: retry
        return TIMEOUT
    if status == "truncated" or any(m in reason for m in ("Expecting", "Unterminated", "JSONDecode", "Extra data")):
        return MALFORMED
    if status == 429 or "RateLimit" in reason or "Too Many Requests" in reason:
        return RATE_LIMITED
    if status == 404:
        return DELISTED
    if isinstance(status, int) and status >= 500:
        return SERVER_ERROR
    if status == 200:
        return EMPTY if (not reason or "no price data found" in reason) else MALFORMED
    if "timed out" in reason.lower() or "timeout" in reason.lower():
        return TIMEOUT
    return DELISTED if "delisted" in reason else EMPTY


_PRICE_FIELDS = ("Open", "High", "Low", "Close", "Adj Close")
_FRAME_FIELDS = (("open", "Open"), ("high", "High"), ("low", "Low"), ("close", "Close"), ("adj_close", "Adj Close"),
                 ("volume", "Volume"))


def _array_events(days: np.ndarray, values: np.ndarray | None) -> dict[dt.date, float]:
    if values is None:
        return {}
    hit = pd.notna(values) & (values != 0)
    return {d: float(v) for d, v in zip(days[hit].tolist(), values[hit].tolist(), strict=True)}


def split_frames(data: pd.DataFrame, symbols: list[str],
                 end: dt.date | None = None) -> dict[str, tuple[pd.DataFrame, dict[dt.date, float], dict[dt.date, float]]]:
    """Each symbol's lake frame (date open high low close adj_close volume, rows with at least one price) and its
    dividend and split events, out of ``yf.download``'s (Price, Ticker) MultiIndex frame; symbols absent from it are
    left out. The columns are taken out once, as numpy arrays keeping their own dtypes (one ``xs`` per symbol cost
    more than the download's parsing). ``end``: bars after it are dropped (events are kept)."""
    if not isinstance(data.columns, pd.MultiIndex):
        return {}
    columns: dict[tuple[str, str], np.ndarray] = {key: col.to_numpy() for key, col in data.items()}
    index = pd.DatetimeIndex(data.index).tz_localize(None).normalize()
    stamps = index.to_numpy()
    days = stamps.astype("datetime64[D]").astype(object)  # datetime.date per row, for the events
    upto = stamps.astype("datetime64[D]") <= np.datetime64(end, "D") if end is not None else None
    present = set(data.columns.get_level_values(1))
    out = {}
    for sym in symbols:
        if sym not in present:
            continue
        keep = np.zeros(len(index), dtype=bool)
        for name in _PRICE_FIELDS:
            col = columns.get((name, sym))
            if col is not None:
                keep |= pd.notna(col)
        kept = keep if upto is None else keep & upto
        frame = pd.DataFrame({"date": index[kept], **{
            name: (col[kept] if (col := columns.get((field, sym))) is not None else None) for name, field in _FRAME_FIELDS}})
        out[sym] = (frame, _array_events(days[keep], None if (c := columns.get(("Dividends", sym))) is None else c[keep]),
                    _array_events(days[keep], None if (c := columns.get(("Stock Splits", sym))) is None else c[keep]))
    return out


class YFinanceClient:
    """Downloads batches with yfinance through the session of the exit in use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.cache_dir.mkdir(parents=True, exist_ok=True)
        self.yf = configure_yfinance(str(settings.cache_dir / "yfinance"))
        from yfinance.data import YfData

        self._data_cls = YfData

    def download_batch(self, symbols: list[str], start: dt.date | None, end: dt.date, session: Any) -> BatchResult:
        """Bars from ``start`` (None: full history) up to and including ``end``, with an outcome per symbol."""
        kwargs: dict[str, Any] = {"auto_adjust": False, "actions": True, "progress": False, "threads": True,
                                  "session": session, "timeout": self.settings.fetch.request_timeout_s,
                                  "group_by": "column", "multi_level_index": True}
        if start is None:
            kwargs["period"] = "max"
        else:
            kwargs.update(start=start.isoformat(), end=(end + dt.timedelta(days=1)).isoformat())
        capture = _Capture()
        logger = logging.getLogger("yfinance")
        with _DOWNLOAD_LOCK:
            session.chart_status = {}
            # yfinance memoises the timezone lookup's response in memory: a 404/500/truncated answer would be
            # replayed for the life of the process, so a retry (or tomorrow's run in the daemon) never asks again.
            self._data_cls.cache_get.cache_clear()
            logger.addHandler(capture)
            began = time.perf_counter()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    data = self.yf.download(list(symbols), **kwargs)
            finally:
                logger.removeHandler(capture)
            latency = (time.perf_counter() - began) * 1000
            statuses = dict(session.chart_status)
        results: dict[str, SymbolResult] = {}
        wanted = [sym.upper() for sym in symbols]
        split = split_frames(data, wanted, end) if data is not None and len(data.columns) else {}
        for sym, key in zip(symbols, wanted, strict=True):
            frame, dividends, splits = split.get(key, (None, {}, {}))
            if frame is not None and len(frame):
                results[sym] = SymbolResult(sym, OK, frame, dividends, splits)
            else:
                reason = capture.reasons.get(key, "")
                outcome = classify(statuses.get(key), reason)
                status = statuses.get(key)
                shown = type(status).__name__ if isinstance(status, BaseException) else status
                results[sym] = SymbolResult(sym, outcome, reason=f"HTTP {shown}: {reason}"[:500])
        return BatchResult(results, latency)
