"""Fault configuration and data-fault injection: every fault lands exactly where Market.injections() says."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, timedelta

import numpy as np
import pytest

from praf_engine.sandbox.faults import (
    DATA_FAULTS,
    RESPONSE_FAULTS,
    SITE_FAULTS,
    FaultConfig,
    Injection,
)
from praf_engine.sandbox.market import Bars, Market
from tests.conftest import REPO

TODAY = date(2025, 7, 15)
PRICES = ("open", "high", "low", "close", "adj_close")
ONE_DAY = np.timedelta64(1, "D")


# ------------------------------------------------------------------ FaultConfig
@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"rates": {"gapp": 0.1}}, "gapp"),
        ({"rates": {"gap": 1.5}}, "gap"),
        ({"rates": {"jump": -0.1}}, "jump"),
        ({"rates": {"slow": float("nan")}}, "slow"),
        ({"rates": {"empty": "lots"}}, "empty"),
        ({"targets": {"teleport": ["AAPL"]}}, "teleport"),
        ({"targets": {"site_500": ["nyse"]}}, "nyse"),
        ({"rates": {}, "colour": "red"}, "colour"),
        ({"slow_seconds": -1}, "slow_seconds"),
        ({"storm_length": 0}, "storm_length"),
    ],
)
def test_from_mapping_rejects_bad_input_naming_it(data: dict, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        FaultConfig.from_mapping(data)


def test_from_mapping_round_trip_and_presets() -> None:
    cfg = FaultConfig.from_mapping({"rates": {"gap": 0.5, "site_500": 1}, "targets": {"jump": ["AAPL"], "js_timeout": "euronext"},
                                    "slow_seconds": 0.5, "storm_length": 3})
    assert cfg.targets == {"jump": frozenset({"AAPL"}), "js_timeout": frozenset({"euronext"})}
    assert FaultConfig.from_mapping(cfg.to_mapping()) == cfg
    assert FaultConfig.none() == FaultConfig() and not any(FaultConfig.none().active(k) for k in DATA_FAULTS)
    demo = FaultConfig.demo()
    assert all(0 < demo.rates[k] <= 0.1 for k in DATA_FAULTS)
    assert all(0 < demo.rates[k] <= 0.02 for k in RESPONSE_FAULTS)
    assert not any(demo.active(k) for k in SITE_FAULTS)
    with pytest.raises(ValueError, match="nope"):
        demo.hits("nope", "AAPL", 1)


def test_hits_rates_targets_and_stability() -> None:
    keys = [f"S{i}" for i in range(20_000)]
    cfg = FaultConfig(rates={"gap": 0.1, "jump": 1.0}, targets={"null_field": frozenset({"S7"})})
    share = sum(cfg.hits("gap", k, 42) for k in keys) / len(keys)
    assert 0.09 < share < 0.11
    assert all(cfg.hits("jump", k, 1) for k in keys[:100])
    assert cfg.hit_keys("null_field", keys, 42) == ["S7"]
    assert cfg.hits("gap", "S1", 1) == cfg.hits("gap", "S1", 1)
    assert [cfg.hits("gap", k, 1) for k in keys[:200]] != [cfg.hits("gap", k, 2) for k in keys[:200]]
    code = ("from praf_engine.sandbox.faults import FaultConfig\n"
            "c = FaultConfig(rates={'gap': 0.3})\nprint(''.join('1' if c.hits('gap', f'S{i}', 9) else '0' for i in range(64)))")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO,
                           env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout for seed in ("1", "2")}
    assert outs == {"".join("1" if cfg.__class__(rates={"gap": 0.3}).hits("gap", f"S{i}", 9) else "0" for i in range(64)) + "\n"}


# ------------------------------------------------------------------ a reference for what each injection means
def reconstruct(true: Bars, injections: list[Injection]) -> dict:
    """Apply injections to the clean bars using only what the Injection records say."""
    dates = true.dates.copy()
    cols = {c: getattr(true, c).astype(float) for c in (*PRICES, "volume")}
    divs, splits = dict(true.dividends), dict(true.splits)
    for inj in injections:
        day = np.datetime64(inj.dates[0], "D")
        d = inj.detail
        if inj.kind == "history_rewrite":
            rows = np.ones(len(dates), bool) if d["revealed"] else dates >= day
            for c in PRICES:
                cols[c][rows] /= d["ratio"]
            cols["volume"][rows] *= d["ratio"]
            divs = {k: v / d["ratio"] if d["revealed"] or k >= inj.dates[0] else v for k, v in divs.items()}
            if d["revealed"]:
                splits[inj.dates[0]] = d["ratio"]
        elif inj.kind == "jump":
            for c in PRICES:
                cols[c][dates >= day] *= d["factor"]
        elif inj.kind == "null_field":
            cols[d["field"]][dates == day] = np.nan
        elif inj.kind == "zero_volume":
            cols["volume"][dates == day] = 0
        elif inj.kind == "gap":
            keep = ~np.isin(dates, np.array(inj.dates, "datetime64[D]"))
            dates, cols = dates[keep], {c: a[keep] for c, a in cols.items()}
        elif inj.kind == "currency_switch":
            for c in PRICES:
                cols[c][np.isin(dates, np.array(inj.dates, "datetime64[D]"))] /= d["divisor"]
        elif inj.kind == "frozen_bar":
            src = dates == np.datetime64(d["source"], "D")
            for c in cols:
                cols[c][np.isin(dates, np.array(inj.dates, "datetime64[D]"))] = cols[c][src][0]
        elif inj.kind == "duplicate_last_row":
            row = {c: a[-1] for c, a in cols.items()}
            row.update(close=d["close"], adj_close=row["adj_close"] * (1 + d["delta"]))
            row["high"] = row["high"] if np.isnan(row["high"]) else max(row["high"], d["close"])
            row["low"] = row["low"] if np.isnan(row["low"]) else min(row["low"], d["close"])
            cols = {c: np.append(a, row[c]) for c, a in cols.items()}
            dates = np.append(dates, dates[-1])
        elif inj.kind == "date_shift":
            dates = dates.copy()
            dates[np.isin(dates, np.array(d["original_dates"], "datetime64[D]"))] -= ONE_DAY
    return {"dates": dates, **cols, "dividends": divs, "splits": splits}


def assert_served(served: Bars, expected: dict) -> None:
    np.testing.assert_array_equal(served.dates, expected["dates"])
    for c in (*PRICES, "volume"):
        np.testing.assert_array_equal(getattr(served, c), expected[c], err_msg=c)
    assert served.dividends == expected["dividends"] and served.splits == expected["splits"]


def window(m: Market, symbol: str, as_of: date = TODAY) -> set[date]:
    x = m.listing(symbol)
    return set(m.sessions(x.mic, as_of - timedelta(days=60), as_of)[-30:].tolist())


def targeted(kind: str, symbol_filter=lambda x: True, seed: int = 21) -> tuple[Market, str]:
    probe = Market(120, seed=seed, today=TODAY)
    sym = next(x.symbol for x in probe.universe() if x.listed_on < date(2020, 1, 1) and symbol_filter(x))
    return Market(120, seed=seed, today=TODAY, faults=FaultConfig(targets={kind: [sym]})), sym


# ------------------------------------------------------------------ faults in the market
def test_every_fault_lands_exactly_where_injections_say_and_nowhere_else() -> None:
    m = Market(300, seed=5, today=TODAY, faults=FaultConfig(rates={k: 0.3 for k in DATA_FAULTS}))
    injections = m.injections()
    assert {i.kind for i in injections} == set(DATA_FAULTS)
    assert all(i.symbol in {x.symbol for x in m.universe()} for i in injections)
    by_symbol: dict[str, list[Injection]] = {}
    for inj in injections:
        by_symbol.setdefault(inj.symbol, []).append(inj)
    assert sum(len(v) > 1 for v in by_symbol.values()) > 10  # many symbols carry several faults
    for x in m.universe():
        assert_served(m.bars(x.symbol), reconstruct(m.true_bars(x.symbol), by_symbol.get(x.symbol, [])))
    for inj in injections:
        if inj.kind not in ("history_rewrite", "date_shift"):
            assert set(inj.dates) <= window(m, inj.symbol), inj


def test_no_faults_means_served_equals_true() -> None:
    m = Market(100, seed=4, today=TODAY)
    assert m.injections() == []
    for x in m.universe()[::7]:
        assert_served(m.bars(x.symbol), reconstruct(m.true_bars(x.symbol), []))


def test_targets_force_a_fault_on_a_named_symbol_only() -> None:
    m, sym = targeted("gap")
    injections = m.injections()
    assert [(i.kind, i.symbol) for i in injections] == [("gap", sym)]
    true, served = m.true_bars(sym), m.bars(sym)
    missing = set(true.dates.tolist()) - set(served.dates.tolist())
    assert missing == set(injections[0].dates) and 1 <= len(missing) <= 3
    assert len(served) == len(true) - len(missing)


@pytest.mark.parametrize("kind", ["null_field", "zero_volume", "jump", "duplicate_last_row", "date_shift", "currency_switch", "frozen_bar"])
def test_single_fault_semantics(kind: str) -> None:
    m, sym = targeted(kind, (lambda x: x.currency == "GBp") if kind == "currency_switch" else (lambda x: True))
    (inj,) = m.injections()
    true, served = m.true_bars(sym), m.bars(sym)
    day = np.datetime64(inj.dates[0], "D")
    if kind == "null_field":
        field = inj.detail["field"]
        assert np.flatnonzero(np.isnan(getattr(served, field))).tolist() == [int(np.flatnonzero(true.dates == day)[0])]
    elif kind == "zero_volume":
        assert served.dates[served.volume == 0].tolist() == [inj.dates[0]]
    elif kind == "jump":
        factor = inj.detail["factor"]
        assert max(factor, 1 / factor) > 1.75 and inj.dates[0] not in true.dividends and inj.dates[0] not in true.splits
        np.testing.assert_allclose(served.close / true.close, np.where(true.dates >= day, factor, 1.0), rtol=1e-12)
    elif kind == "duplicate_last_row":
        assert served.dates[-1] == served.dates[-2] == true.dates[-1] and len(served) == len(true) + 1
        assert 0.001 <= abs(served.close[-1] / served.close[-2] - 1) <= 0.0101
    elif kind == "date_shift":
        shifted = inj.detail["bars"]
        assert shifted >= 10 and np.array_equal(served.dates[-shifted:], true.dates[-shifted:] - ONE_DAY)
        sessions = m.sessions(m.listing(sym).mic, date(2025, 1, 1), TODAY)
        assert not np.isin(served.dates, sessions).all()
        assert (np.diff(served.dates.astype(np.int64)) > 0).all()  # no two bars share a date
    elif kind == "frozen_bar":  # the source bar served again on 2-4 sessions, then the feed resumes
        rows = np.flatnonzero(np.isin(served.dates, np.array([inj.detail["source"], *inj.dates], "datetime64[D]")))
        assert 3 <= len(rows) == inj.detail["bars"] <= 5 and (np.diff(rows) == 1).all() and rows[-1] < len(served) - 1
        for c in (*PRICES, "volume"):
            column = getattr(served, c)
            assert (column[rows] == column[rows[0]]).all() and column[rows[-1] + 1] != column[rows[0]]
        assert served.volume[rows[0]] > 0 and np.array_equal(served.dates, true.dates)
        np.testing.assert_array_equal(np.delete(served.close, rows[1:]), np.delete(true.close, rows[1:]))
    elif kind == "currency_switch":
        k = inj.detail["bars"]
        assert 5 <= k <= 10 and set(inj.dates) == set(true.dates[-k:].tolist())
        np.testing.assert_allclose(served.close[-k:] * 100, true.close[-k:], rtol=1e-12)
        np.testing.assert_array_equal(served.close[:-k], true.close[:-k])


def test_currency_switch_only_hits_gbp_listings() -> None:
    m, sym = targeted("currency_switch", lambda x: x.currency != "GBp")
    assert m.injections() == []
    assert_served(m.bars(sym), reconstruct(m.true_bars(sym), []))


def test_history_rewrite_before_and_after_reveal() -> None:
    m, sym = targeted("history_rewrite", lambda x: x.exchange_code == "nasdaq" and x.delisted_on is None)
    m.today = TODAY + timedelta(days=20)  # the split date is fixed at construction; time moves on
    (inj,) = m.injections()
    split_day, ratio = inj.dates[0], inj.detail["ratio"]
    assert ratio in (2.0, 3.0) and inj.detail["revealed"] and split_day <= TODAY
    sessions = m.sessions("XNYS", split_day - timedelta(days=10), split_day + timedelta(days=10)).tolist()
    k = sessions.index(split_day)
    assert inj.detail["revealed_on"] == sessions[k + 3]
    before = sessions[k - 1]
    assert m.injections([sym], as_of=before) == []
    assert_served(m.bars(sym, as_of=before), reconstruct(m.true_bars(sym, as_of=before), []))
    for as_of in sessions[k : k + 3]:  # the split happened, Yahoo has not caught up: raw drop, no event
        (hidden,) = m.injections([sym], as_of=as_of)
        assert not hidden.detail["revealed"]
        served = m.bars(sym, as_of=as_of)
        assert split_day not in served.splits
        i = served.dates.tolist().index(split_day)
        assert served.close[i] / served.close[i - 1] < 0.75
    assert_served(m.bars(sym, as_of=as_of), reconstruct(m.true_bars(sym, as_of=as_of), [hidden]))
    for as_of in (inj.detail["revealed_on"], m.today):  # revealed: split event and re-adjusted history
        served = m.bars(sym, as_of=as_of)
        assert served.splits[split_day] == ratio
        i = served.dates.tolist().index(split_day)
        assert 0.75 < served.close[i] / served.close[i - 1] < 1.33
        true = m.true_bars(sym, as_of=as_of)
        np.testing.assert_allclose(served.close * ratio, true.close, rtol=1e-12)
        np.testing.assert_array_equal(served.volume, true.volume * ratio)


def test_fault_dates_stay_put_while_in_the_window_and_move_on_later() -> None:
    m, sym = targeted("zero_volume")
    (now,) = m.injections()
    x = m.listing(sym)
    later = m.sessions(x.mic, TODAY - timedelta(days=10), TODAY)[-2].item()
    (earlier,) = m.injections([sym], as_of=later)
    if now.dates[0] <= later:
        assert earlier.dates == now.dates
    m.today = TODAY + timedelta(days=60)
    (moved,) = m.injections()
    assert moved.dates[0] > TODAY and moved.dates[0] in window(m, sym, m.today)


def test_stale_source_ends_the_served_history_months_before_the_anchor_and_keeps_it_there() -> None:
    m, sym = targeted("stale_source")
    assert "stale_source" not in FaultConfig.demo().rates
    (inj,) = m.injections()
    ends = inj.dates[0]
    assert (inj.kind, inj.symbol) == ("stale_source", sym) and 60 <= len(m.sessions(m.listing(sym).mic, ends, TODAY)) - 1 <= 120
    served, true = m.bars(sym), m.true_bars(sym)
    assert served.dates[-1] == np.datetime64(ends) and true.dates[-1] > served.dates[-1]
    assert all(d <= ends for d in (*served.dividends, *served.splits))
    assert_served(served, reconstruct(true.between(end=ends), []))
    assert sym in {x.symbol for x in m.universe()}  # still listed: only Yahoo stopped
    m.today = TODAY + timedelta(days=40)
    assert m.bars(sym).dates[-1] == np.datetime64(ends)  # the day is fixed for the market's lifetime
    assert m.bars(sym, as_of=ends - timedelta(days=1)).dates[-1] < np.datetime64(ends)  # before it, nothing is cut
    assert m.injections([sym], as_of=ends) == []
