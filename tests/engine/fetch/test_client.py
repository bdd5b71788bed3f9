"""The client's classification of yfinance's silent per-symbol failures, and the freshness/plan rules (pure)."""

from __future__ import annotations

import datetime as dt
import logging

from curl_cffi.requests.exceptions import ConnectionError as CurlConnectionError
from curl_cffi.requests.exceptions import Timeout

from praf_engine.fetch.batches import has_session
from praf_engine.fetch.client import (
    DELISTED,
    EMPTY,
    MALFORMED,
    RATE_LIMITED,
    SERVER_ERROR,
    TIMEOUT,
    UNREACHABLE,
    _Capture,
    classify,
)


def test_capture_reads_every_shape_of_yfinance_failure_line():
    capture = _Capture()
    log = logging.getLogger("yfinance.test_capture")
    log.addHandler(capture)
    log.setLevel(logging.DEBUG)
    try:
        log.error("$AAPL: possibly delisted; no price data found  (1d 2025-05-01 -> 2025-06-06)")
        log.error("['VOD.L', 'BT-A.L']: YFRateLimitError('Too Many Requests. Rate limited. Try after a while.')")
        log.error("Failed to get ticker 'MSFT' reason: Expecting ',' delimiter: line 1 column 9 (char 8)")
        log.error("\n3 Failed downloads:")
    finally:
        log.removeHandler(capture)
    assert capture.reasons["AAPL"].startswith("possibly delisted")
    assert "RateLimit" in capture.reasons["VOD.L"] and "RateLimit" in capture.reasons["BT-A.L"]
    assert capture.reasons["MSFT"].startswith("Expecting")


def test_classify_maps_status_and_reason_to_outcomes():
    assert classify(429, "") == RATE_LIMITED
    assert classify(None, "YFRateLimitError('Too Many Requests')") == RATE_LIMITED
    assert classify(404, "possibly delisted; no timezone found") == DELISTED
    assert classify(500, "possibly delisted; no timezone found") == SERVER_ERROR
    assert classify(200, "possibly delisted; no price data found") == EMPTY
    assert classify("truncated", "possibly delisted; no price data found") == MALFORMED
    assert classify(200, "Unterminated string starting at: line 1") == MALFORMED
    assert classify(Timeout("slow"), "possibly delisted; no price data found") == TIMEOUT
    assert classify(CurlConnectionError("refused"), "") == UNREACHABLE
    assert classify(200, "OperationalError('database is locked')") == TIMEOUT


def test_sessions_follow_the_venue_calendar():
    monday = dt.date(2025, 6, 9)  # Whit Monday: Oslo closed, New York open
    assert has_session("XNYS", monday, monday) and not has_session("XOSL", monday, monday)
    assert not has_session("XNYS", dt.date(2025, 6, 7), dt.date(2025, 6, 8))  # a weekend
    assert has_session(None, monday, monday) and not has_session("XNYS", monday, monday - dt.timedelta(days=1))
