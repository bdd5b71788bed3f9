"""Hypothesis property tests of the check rules against plain reference implementations, on real calendars."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from praf_engine import calendars
from praf_engine.qa import checks
from tests.engine.qa.helpers import frame, make_data

MICS = st.sampled_from(calendars.KNOWN_MICS)
AS_OF = st.dates(dt.date(2016, 1, 4), dt.date(2025, 12, 31))
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WINDOW = {"window_sessions": 30, "min_missing": 1}


def _sessions(mic: str, as_of: dt.date, n: int) -> list[dt.date]:
    days = calendars.sessions(mic)
    end = int(np.searchsorted(days, np.datetime64(as_of, "D"), "right"))
    return [d.item() for d in days[end - n : end]]


@FAST
@given(mic=MICS, as_of=AS_OF, data=st.data())
def test_missing_dates_counts_exactly_the_removed_sessions(mic: str, as_of: dt.date, data: st.DataObject) -> None:
    history = _sessions(mic, as_of, 45)
    window = history[-30:]
    removed = set(data.draw(st.lists(st.sampled_from(window[:-1]), max_size=6, unique=True)))  # the last bar stays
    kept = [d for d in history if d not in removed]
    qa = make_data({"S": (mic, frame(kept))}, history[-1])
    failures = checks.missing_dates(qa, WINDOW)
    if not removed:
        assert failures == []
    else:
        [(sym, details)] = failures
        assert sym == "S" and details["count"] == len(removed)
        assert details["dates"] == sorted(d.isoformat() for d in removed)
    assert checks.date_shift(qa, {"window_sessions": 30}) == []


@FAST
@given(mic=MICS, as_of=AS_OF, lag=st.integers(0, 8))
def test_lag_is_sessions_after_the_last_fetch(mic: str, as_of: dt.date, lag: int) -> None:
    history = _sessions(mic, as_of, 40)
    last = history[-1 - lag]
    qa = make_data({"S": (mic, frame(history[: len(history) - lag]))}, history[-1], last_fetched={"S": last})
    failures = checks.lag_check(qa, {"max_days_behind": 2, "critical_pct": 5.0})
    assert [d["days_behind"] for _, d in failures] == ([lag] if lag > 2 else [])


@FAST
@given(mic=MICS, as_of=AS_OF, shifted=st.integers(0, 5), data=st.data())
def test_date_shift_flags_exactly_the_bars_on_non_sessions(mic: str, as_of: dt.date, shifted: int, data: st.DataObject) -> None:
    history = _sessions(mic, as_of, 30)
    span = [history[0] + dt.timedelta(days=i) for i in range((history[-1] - history[0]).days)]
    off = sorted(set(span) - set(history))
    extra = sorted(set(data.draw(st.lists(st.sampled_from(off), max_size=shifted, unique=True)))) if off else []
    qa = make_data({"S": (mic, frame(sorted(history + extra)))}, history[-1])
    failures = checks.date_shift(qa, {"window_sessions": 30})
    assert [d["dates"] for _, d in failures] == ([[d.isoformat() for d in extra]] if extra else [])


def _reference_jumps(dates: list[dt.date], closes: list[float], actions: set[dt.date], window: set[dt.date]) -> list[str]:
    """Row by row: previous non-null close, |move| > 75 %, not on an action day, not a ~100x unit shift."""
    out, prev = [], None
    for day, close in zip(dates, closes, strict=True):
        if math.isnan(close):
            continue
        if prev is not None and day in window and day not in actions:
            ratio = close / prev
            unit = abs(abs(math.log10(ratio)) - 2) <= 0.15
            if abs(ratio - 1) > 0.75 and not unit:
                out.append(day.isoformat())
        prev = close
    return out


@FAST
@given(mic=MICS, as_of=AS_OF, data=st.data())
def test_price_jump_matches_a_row_by_row_reference(mic: str, as_of: dt.date, data: st.DataObject) -> None:
    history = _sessions(mic, as_of, 40)
    factors = data.draw(st.lists(st.sampled_from([1.0, 1.0, 1.0, 1.02, 0.97, 1.8, 0.2, 2.2, 0.01, 100.0, 1.74, 0.26, math.nan]),
                                 min_size=len(history), max_size=len(history)))
    closes, level = [], 10.0
    for f in factors:
        if math.isnan(f):
            closes.append(math.nan)
        else:
            level = min(max(level * f, 1e-3), 1e9)
            closes.append(level)
    actions = set(data.draw(st.lists(st.sampled_from(history), max_size=3, unique=True)))
    qa = make_data({"S": (mic, frame(history, closes))}, history[-1], actions=[("S", d) for d in actions])
    got = checks.price_jump(qa, {"window_sessions": 30, "max_move": 0.75})
    expected = _reference_jumps(history, closes, actions, set(history[-30:]))
    assert [d["dates"] for _, d in got] == ([expected] if expected else [])
