"""stale_price: the same bar (open, high, low, close, volume) repeated for min_bars sessions, and its rules with
zero_volume, null_fields and price_jump; its qa_checks row in a database made before the check existed."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from praf_engine.config import Settings
from praf_engine.db.models import QACheck, QAFailure
from praf_engine.lake import Lake
from praf_engine.qa import checks, heuristics
from praf_engine.qa.runner import run_qa
from tests.engine.qa.helpers import frame, make_data, make_home, session_dates

AS_OF = dt.date(2025, 12, 29)
NY = session_dates("XNYS", dt.date(2025, 9, 1), AS_OF)
PARAMS = {"window_sessions": 30, "min_bars": 3}


def _walk(n: int, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    closes = 10 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    return frame(NY[:n], closes, volume=rng.integers(1_000, 5_000, n).astype(float))


def _freeze(bars: pd.DataFrame, source: int, repeats: int) -> pd.DataFrame:
    """The bar of row ``source`` served again on the next ``repeats`` sessions (a frozen feed)."""
    out = bars.copy()
    cols = ["open", "high", "low", "close", "adj_close", "volume"]
    out.loc[source + 1 : source + repeats, cols] = out.loc[source, cols].to_numpy()
    return out


def test_a_frozen_bar_is_reported_with_its_repeated_dates() -> None:
    n = len(NY)
    qa = make_data({"FROZEN": ("XNYS", _freeze(_walk(n), n - 8, 3)), "LIVE": ("XNYS", _walk(n, 4))}, AS_OF)
    [(sym, details)] = checks.stale_price(qa, PARAMS)
    assert sym == "FROZEN"
    assert details["dates"] == [d.isoformat() for d in NY[n - 7 : n - 4]]
    assert details["since"] == [NY[n - 8].isoformat()] * 3 and details["bars"] == [4, 4, 4]
    assert details["close"][0] == round(float(_walk(n)["close"].iat[n - 8]), 6)


def test_what_is_not_a_frozen_feed() -> None:
    n = len(NY)
    halted = _freeze(_walk(n), n - 8, 3)
    halted.loc[n - 8 : n - 5, "volume"] = 0.0  # nothing traded: a halt, zero_volume's
    flat = _walk(n)
    flat.loc[n - 7 : n - 5, ["open", "high", "low", "close", "adj_close"]] = flat.loc[n - 8, ["open", "high", "low", "close", "adj_close"]].to_numpy()
    nulls = _freeze(_walk(n), n - 8, 3)
    nulls.loc[n - 8 : n - 5, "close"] = np.nan  # null_fields'
    listings = {"HALTED": ("XNYS", halted), "PAIR": ("XNYS", _freeze(_walk(n), n - 8, 1)),
                "FLAT": ("XNYS", flat), "NULLS": ("XNYS", nulls)}  # FLAT: same prices, trades each day
    qa = make_data(listings, AS_OF)
    assert checks.stale_price(qa, PARAMS) == []
    assert {s for s, _ in checks.zero_volume(qa, {"window_sessions": 30})} == {"HALTED"}
    assert {s for s, _ in checks.stale_price(qa, {**PARAMS, "min_bars": 2})} == {"PAIR"}


def test_a_run_that_ended_before_the_window_is_not_reported() -> None:
    n = len(NY)
    qa = make_data({"OLD": ("XNYS", _freeze(_walk(n), n - 40, 3))}, AS_OF, history_sessions=60)
    assert checks.stale_price(qa, PARAMS) == []


def test_the_move_when_a_frozen_feed_resumes_is_stale_price_not_a_jump(settings: Settings, service: Any) -> None:
    n = len(NY)
    frozen = _freeze(_walk(n), n - 8, 3)
    frozen.loc[n - 4 :, ["open", "high", "low", "close", "adj_close"]] *= 2.2  # the feed resumes 120 % higher
    jumpy = _walk(n, 5)
    jumpy.loc[n - 4 :, ["open", "high", "low", "close", "adj_close"]] *= 2.2
    make_home(Lake(settings.lake_dir, fsync=False), {"FROZEN": ("XNYS", frozen), "JUMPY": ("XNYS", jumpy)})
    wanted = ["stale_price", "price_jump", "iqr_jump"]
    run_qa(settings, service.db, AS_OF, checks=wanted)
    found = {(r.check_name, r.symbol) for r in QAFailure.select()}
    assert found == {("stale_price", "FROZEN"), ("price_jump", "JUMPY")}
    run_qa(settings, service.db, AS_OF, checks=["price_jump"])  # a rerun of one check follows the same rule
    assert {(r.check_name, r.symbol) for r in QAFailure.select()} == found
    QACheck.update(enabled=False).where(QACheck.check_name == "stale_price").execute()
    run_qa(settings, service.db, AS_OF, checks=wanted)  # nothing reports the frozen run: the jump is shown again
    found = {(r.check_name, r.symbol) for r in QAFailure.select()}
    assert found >= {("stale_price", "FROZEN"), ("price_jump", "FROZEN"), ("price_jump", "JUMPY")}


def test_heuristics_skip_the_resumed_bar_too() -> None:
    n = len(NY)
    frozen = _freeze(_walk(n), n - 4, 2)
    frozen.loc[n - 1 :, ["open", "high", "low", "close", "adj_close"]] *= 1.3
    qa = make_data({"FROZEN": ("XNYS", frozen)}, AS_OF)
    params = {"window_sessions": 30, "k": 3.0, "recent_sessions": 1}
    assert [s for s, _ in heuristics.iqr_jump(qa, params)] == ["FROZEN"]
    qa.stale_min_bars = 3
    assert heuristics.iqr_jump(qa, params) == []


def test_init_adds_the_new_checks_row_to_an_existing_database(settings: Settings, service: Any) -> None:
    QACheck.delete().where(QACheck.check_name == "stale_price").execute()  # a database from before stale_price
    QACheck.update(threshold_params={"max_move": 0.9}, updated_by="ops").where(QACheck.check_name == "price_jump").execute()
    service.init()
    row = QACheck.get(QACheck.check_name == "stale_price")
    assert row.enabled and row.severity == "warning" and row.threshold_params == {"window_sessions": 30, "min_bars": 3}
    assert QACheck.get(QACheck.check_name == "price_jump").threshold_params == {"max_move": 0.9}
