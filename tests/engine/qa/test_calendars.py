"""Trading calendars: each listing's own sessions (holidays, weekends, early closes) and sessions-behind counting."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from praf_engine import calendars
from praf_engine.errors import PipelineError


def test_unknown_calendar_is_refused_with_its_name() -> None:
    with pytest.raises(PipelineError) as err:
        calendars.resolve_mic("XXXX", "nasdaq")
    assert err.value.error_code == "CONFIGBAD" and "XXXX" in err.value.msg


def test_euronext_listing_without_mic_is_refused() -> None:
    with pytest.raises(PipelineError, match="no trading calendar"):
        calendars.resolve_mic(None, "euronext")


def test_aliases_and_exchange_defaults() -> None:
    assert calendars.resolve_mic("XNAS") == "XNYS"
    assert calendars.resolve_mic(None, "arca") == "XNYS"
    assert calendars.resolve_mic(None, "ftse") == "XLON"
    assert calendars.resolve_mic("xpar") == "XPAR"


@pytest.mark.parametrize(("mic", "day", "expected"), [
    ("XLON", dt.date(2025, 8, 25), False),  # UK summer bank holiday
    ("XNYS", dt.date(2025, 8, 25), True),
    ("XNYS", dt.date(2025, 11, 27), False),  # Thanksgiving
    ("XLON", dt.date(2025, 11, 27), True),
    ("XNYS", dt.date(2025, 11, 28), True),  # early close is a session
    ("XLON", dt.date(2025, 12, 24), True),  # early close
    ("XETR", dt.date(2025, 4, 21), False),  # Easter Monday
    ("XNYS", dt.date(2025, 4, 21), True),
    ("XOSL", dt.date(2025, 5, 17), False),  # Saturday
])
def test_sessions_follow_each_listings_own_calendar(mic: str, day: dt.date, expected: bool) -> None:
    assert bool(calendars.is_session(mic, np.array([day], dtype="datetime64[D]"))[0]) is expected


def test_window_start_counts_sessions_not_days() -> None:
    # 30 XLON sessions back from 2025-12-31 skip Christmas, Boxing Day and the weekends
    start = calendars.window_start("XLON", dt.date(2025, 12, 31), 30)
    assert len(calendars.sessions_between("XLON", start, dt.date(2025, 12, 31))) == 30


@settings(max_examples=60, deadline=None)
@given(mic=st.sampled_from(calendars.KNOWN_MICS), last=st.dates(dt.date(2015, 1, 1), dt.date(2025, 12, 31)),
       ahead=st.integers(0, 60))
def test_sessions_behind_matches_counting_sessions(mic: str, last: dt.date, ahead: int) -> None:
    as_of = last + dt.timedelta(days=ahead)
    expected = len(calendars.sessions_between(mic, last + dt.timedelta(days=1), as_of))
    got = calendars.sessions_behind(mic, np.array([last, "NaT"], dtype="datetime64[D]"), as_of)
    assert got.tolist() == [expected, -1]


def test_session_cache_survives_processes_and_rebuilds_a_torn_file(tmp_path) -> None:
    """The session arrays are cached on disk (keyed by bounds and exchange_calendars version); a second process
    reads them without importing exchange_calendars, and a torn cache file is rebuilt, never trusted."""
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    code = ("import sys; from praf_engine import calendars as c; d = c.sessions('XLON'); "
            "print(len(d), str(d[-300]), 'exchange_calendars' in sys.modules)")
    first = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, check=True)
    second = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, check=True)
    n, day, imported = first.stdout.split()
    assert imported == "True" and second.stdout.split() == [n, day, "False"]
    cached = next((tmp_path / "praf" / "calendars").glob("XLON-*.npy"))
    cached.write_bytes(cached.read_bytes()[:100])  # torn
    third = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, check=True)
    assert third.stdout.split() == [n, day, "True"]
