"""Trading calendars: exchange code / MIC → exchange_calendars session arrays, cached, with wide explicit bounds."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import importlib.metadata
import os
import threading
from pathlib import Path

import numpy as np

from praf_engine.atomic import replacing
from praf_engine.errors import PipelineError
from praf_engine.universe.mapping import EXCHANGE_MICS as LISTING_MICS

# Bounds wide enough for full Yahoo histories (the sandbox starts in 2006) and a year ahead.
CAL_START = dt.date(1990, 1, 2)
CAL_END = dt.date(dt.date.today().year + 1, 12, 31)

# Exchange code (tickers.exchange_code) → listing MIC when a ticker row has no ``mic``; Euronext needs its market's.
EXCHANGE_MICS: dict[str, str] = {**LISTING_MICS, "nyse": "XNYS"}
# Listing MIC → the calendar it trades on: the US venues (Nasdaq, NYSE Arca, NYSE American, Cboe BZX, IEX) keep
# New York's sessions. The one mapping: the fetch's venue sessions, QA and the sandbox market all go through
# ``resolve_mic``; ``tickers.mic`` keeps the venue itself.
MIC_ALIASES: dict[str, str] = {"XNAS": "XNYS", "ARCX": "XNYS", "XASE": "XNYS", "BATS": "XNYS", "IEXG": "XNYS"}
KNOWN_MICS = ("XNYS", "XLON", "XETR", "XPAR", "XAMS", "XBRU", "XLIS", "XDUB", "XOSL", "XMIL")

_lock = threading.Lock()


def resolve_mic(mic: str | None, exchange_code: str | None = None) -> str:
    """The calendar MIC of a listing: its own ``mic`` (aliases folded), else its exchange's default."""
    if not mic and exchange_code:
        mic = EXCHANGE_MICS.get(exchange_code.lower())
    if mic:
        code = MIC_ALIASES.get(mic.upper(), mic.upper())
        if code in KNOWN_MICS:
            return code
        raise PipelineError("CONFIGBAD", f"unknown trading calendar {mic!r}; known: {', '.join(KNOWN_MICS)}",
                            {"mic": mic, "exchange_code": exchange_code})
    raise PipelineError("CONFIGBAD", f"listing on exchange {exchange_code!r} has no trading calendar (mic is empty)",
                        {"exchange_code": exchange_code})


def _cache_file(mic: str) -> Path | None:
    """Where the session array of ``mic`` is kept between processes: building a calendar costs ~0.1 s and importing
    exchange_calendars ~0.4 s, which every dashboard start and QA run would pay. Keyed by the bounds and the
    installed exchange_calendars version (its holiday rules change with releases)."""
    try:
        version = importlib.metadata.version("exchange_calendars")
    except importlib.metadata.PackageNotFoundError:
        return None
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "praf" / "calendars"
    return root / f"{mic}-{CAL_START:%Y%m%d}-{CAL_END:%Y%m%d}-xcals{version}.npy"


@functools.lru_cache(maxsize=32)
def _sessions(mic: str) -> np.ndarray:
    cache = _cache_file(mic)
    days = None
    if cache is not None and cache.is_file():
        try:
            days = np.load(cache, allow_pickle=False)
            if days.dtype != np.dtype("datetime64[D]") or days.ndim != 1 or not len(days):
                days = None
        except (OSError, ValueError):
            days = None  # a torn or foreign file: rebuilt below
    if days is None:
        import exchange_calendars as xcals

        with _lock:
            cal = xcals.get_calendar(mic, start=CAL_START.isoformat(), end=CAL_END.isoformat())
        days = cal.sessions.values.astype("datetime64[D]")
        if cache is not None:
            _store(cache, days)
    days.flags.writeable = False
    return days


def _store(path: Path, days: np.ndarray) -> None:
    """Atomic write of the cache file; a read-only or full disk only costs the next start its speed."""
    with contextlib.suppress(OSError), replacing(path) as tmp, tmp.open("wb") as fh:
        np.save(fh, days, allow_pickle=False)


def sessions(mic: str) -> np.ndarray:
    """Every session of ``mic`` between CAL_START and CAL_END (datetime64[D], sorted, read-only).

    Early closes are sessions; holidays and weekends are not.
    """
    return _sessions(resolve_mic(mic))


def sessions_between(mic: str, start: dt.date, end: dt.date) -> np.ndarray:
    """Sessions of ``mic`` with start <= session <= end."""
    days = sessions(mic)
    return days[np.searchsorted(days, np.datetime64(start, "D")) : np.searchsorted(days, np.datetime64(end, "D"), "right")]


def window_start(mic: str, as_of: dt.date, n_sessions: int) -> dt.date:
    """The first of the last ``n_sessions`` sessions of ``mic`` on or before ``as_of``."""
    days = sessions(mic)
    end = int(np.searchsorted(days, np.datetime64(as_of, "D"), "right"))
    if end == 0:
        raise PipelineError("CONFIGBAD", f"{as_of} is before the {mic} calendar starts ({CAL_START})", {"mic": mic})
    return days[max(0, end - n_sessions)].astype(object)


def sessions_behind(mic: str, last: np.ndarray, as_of: dt.date) -> np.ndarray:
    """Per element of ``last`` (datetime64[D], NaT = never): sessions s with last < s <= as_of; NaT gives -1."""
    days = sessions(mic)
    end = np.searchsorted(days, np.datetime64(as_of, "D"), "right")
    known = ~np.isnat(last)
    out = np.full(len(last), -1, dtype=np.int64)
    out[known] = np.maximum(end - np.searchsorted(days, last[known].astype("datetime64[D]"), "right"), 0)
    return out


def is_session(mic: str, dates: np.ndarray) -> np.ndarray:
    """Whether each datetime64[D] in ``dates`` is a session of ``mic`` (vectorised)."""
    days = sessions(mic)
    dates = dates.astype("datetime64[D]")
    pos = np.searchsorted(days, dates)
    pos = np.minimum(pos, len(days) - 1)
    return days[pos] == dates
