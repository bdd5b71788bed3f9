"""Single rules on hand-built bars: OHLC sanity, unit shifts, the info heuristics, and the calendars they use."""

from __future__ import annotations

import datetime as dt

import numpy as np

from praf_engine.qa import checks, heuristics
from tests.engine.qa.helpers import frame, make_data, session_dates

AS_OF = dt.date(2025, 12, 29)
NY = session_dates("XNYS", dt.date(2025, 9, 1), AS_OF)
LDN = session_dates("XLON", dt.date(2025, 9, 1), AS_OF)


def test_ohlc_sanity_names_the_offending_values() -> None:
    bad = frame(NY)
    bad.loc[len(bad) - 3, ["high", "low"]] = [9.0, 11.0]  # high < low
    bad.loc[len(bad) - 2, "close"] = -1.0
    qa = make_data({"BAD": ("XNYS", bad), "OK": ("XNYS", frame(NY))}, AS_OF)
    [(sym, details)] = checks.ohlc_sanity(qa, {"window_sessions": 30})
    assert sym == "BAD" and details["dates"] == ["2025-12-24", "2025-12-26"]
    assert details["high"][0] == 9.0 and details["low"][0] == 11.0 and details["close"][1] == -1.0


def test_a_pence_to_pounds_switch_is_a_unit_shift_not_a_jump() -> None:
    closes = [2400.0] * (len(LDN) - 6) + [24.0] * 6
    qa = make_data({"P.L": ("XLON", frame(LDN, closes))}, AS_OF)
    unit = checks.currency_unit(qa, {"window_sessions": 30, "factor": 100.0, "log10_tolerance": 0.15})
    assert [(s, d["dates"], d["ratio"]) for s, d in unit] == [("P.L", ["2025-12-18"], [0.01])]
    assert checks.price_jump(qa, {"window_sessions": 30, "max_move": 0.75}) == []


def test_a_jump_on_a_corporate_action_day_is_excused() -> None:
    closes = [10.0] * (len(NY) - 4) + [30.0] * 4
    listing = {"S": ("XNYS", frame(NY, closes))}
    jump_day = NY[-4]
    assert checks.price_jump(make_data(listing, AS_OF), {"window_sessions": 30, "max_move": 0.75})[0][1]["dates"] == [jump_day.isoformat()]
    assert checks.price_jump(make_data(listing, AS_OF, actions=[("S", jump_day)]), {"window_sessions": 30, "max_move": 0.75}) == []


def test_volume_spike_and_iqr_guard_flag_only_the_latest_session() -> None:
    rng = np.random.default_rng(1)
    closes = 10 * np.exp(np.cumsum(rng.normal(0, 0.01, len(NY))))
    volume = rng.normal(1000, 50, len(NY))
    closes[-1] = closes[-2] * 1.3  # +30 %: far outside its own IQR, under the 75 % hard limit
    volume[-1] = 5000
    volume[-10] = 5000  # an older spike is not reported today
    qa = make_data({"S": ("XNYS", frame(NY, closes, volume=volume)), "Q": ("XNYS", frame(NY))}, AS_OF)
    [(sym, spike)] = heuristics.volume_spike(qa, {"window_sessions": 30, "z": 5.0, "recent_sessions": 1})
    assert sym == "S" and spike["dates"] == [AS_OF.isoformat()] and spike["z"][0] > 5
    [(sym, jump)] = heuristics.iqr_jump(qa, {"window_sessions": 30, "k": 3.0, "recent_sessions": 1})
    assert sym == "S" and jump["dates"] == [AS_OF.isoformat()] and abs(jump["move_pct"][0] - 30.0) < 1e-3


def test_correlation_drift_is_written_only_when_enough_symbols_trip() -> None:
    rng = np.random.default_rng(7)
    market = rng.normal(0, 0.01, len(NY))
    listings = {}
    for i in range(12):
        rets = market + rng.normal(0, 0.002, len(NY))
        if i < 3:
            rets[-1] = -0.3 if i % 2 else 0.3  # a huge idiosyncratic move today breaks the correlation
        listings[f"S{i:02d}"] = ("XNYS", frame(NY, 10 * np.exp(np.cumsum(rets))))
    qa = make_data(listings, AS_OF)
    assert heuristics.correlation_drift(qa, {"window": 20, "delta": 0.5, "min_symbols": 10}) == []
    tripped = heuristics.correlation_drift(qa, {"window": 20, "delta": 0.5, "min_symbols": 2})
    assert {s for s, _ in tripped} == {"S00", "S01", "S02"}
    assert all(d["corr_before"] > 0.8 and d["corr_now"] < d["corr_before"] - 0.5 for _, d in tripped)
