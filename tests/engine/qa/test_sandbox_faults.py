"""The whole QA run on a sandbox lake with known injected faults: each check finds exactly the injected cases."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from praf_engine.db.models import QAFailure, QASummary
from praf_engine.lake import Lake
from praf_engine.logs import configure_logging
from praf_engine.qa import catalog
from praf_engine.qa.runner import run_qa
from praf_engine.sandbox import lake_fill
from praf_engine.sandbox.faults import DATA_FAULTS, FaultConfig
from praf_engine.sandbox.market import Market
from tests.conftest import make_settings

KIND_TO_CHECK = {"gap": "missing_dates", "null_field": "null_fields", "zero_volume": "zero_volume", "jump": "price_jump",
                 "duplicate_last_row": "duplicate_dates", "date_shift": "date_shift", "currency_switch": "currency_unit",
                 "frozen_bar": "stale_price"}
CLEAN_CHECKS = ("lag_check", "fetch_error", "api_latency", "ohlc_sanity")
# As-of dates right after holidays: Christmas/Boxing Day (+ Thanksgiving and early closes in the window), Easter
# (Good Friday everywhere, Easter Monday in Europe but not New York).
# And an as-of date that is itself an early close (the day after Thanksgiving in New York).
SCENARIOS = {"christmas": (dt.date(2025, 12, 29), 11), "easter": (dt.date(2025, 4, 22), 12), "early_close": (dt.date(2025, 11, 28), 13)}


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def home(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from praf_engine.service import EngineService

    today, seed = SCENARIOS[request.param]
    root: Path = tmp_path_factory.mktemp(request.param)
    settings = make_settings(root / "home")
    configure_logging(settings.logs_dir, secrets=settings.secrets(), console_level=None)
    service = EngineService.open(settings)
    market = Market(size=300, seed=seed, today=today, faults=FaultConfig(rates={**{k: 0.05 for k in DATA_FAULTS}, "currency_switch": 0.3}))
    built = lake_fill.build(market, Lake(settings.lake_dir, fsync=False), today - dt.timedelta(days=90))
    result = run_qa(settings, service.db, today, run_id="fixture")
    found: dict[str, set[str]] = defaultdict(set)
    rows: dict[tuple[str, str], QAFailure] = {}
    for row in QAFailure.select():
        found[row.check_name].add(row.symbol)
        rows[(row.check_name, row.symbol)] = row
    yield {"today": today, "built": built, "result": result, "found": found, "rows": rows, "market": market}
    service.close()


def test_the_fixture_injected_every_kind(home: dict[str, Any]) -> None:
    kinds = {i.kind for i in home["built"].injections}
    assert kinds >= set(KIND_TO_CHECK), f"fault kinds missing from the fixture: {set(KIND_TO_CHECK) - kinds}"
    assert not home["result"].crashed


@pytest.mark.parametrize("kind", sorted(KIND_TO_CHECK))
def test_each_check_finds_exactly_the_injected_symbols(home: dict[str, Any], kind: str) -> None:
    built = home["built"]
    expected = built.injected(kind)
    if kind == "gap":  # a date-shifted series is reported by date_shift, not as gaps (documented rule)
        expected -= built.injected("date_shift")
    assert home["found"][KIND_TO_CHECK[kind]] == expected


@pytest.mark.parametrize("check", CLEAN_CHECKS)
def test_no_false_positives_on_holidays_weekends_early_closes(home: dict[str, Any], check: str) -> None:
    assert home["found"][check] == set()


def test_split_and_dividend_days_and_unrevealed_rewrites_are_not_price_jumps(home: dict[str, Any]) -> None:
    assert not (home["found"]["price_jump"] & home["built"].injected("history_rewrite")) - home["built"].injected("jump")


def test_details_name_what_was_injected(home: dict[str, Any]) -> None:
    rows = home["rows"]
    shifted = home["built"].injected("date_shift")  # their bars (and so the dates reported) moved a day earlier
    for inj in home["built"].injections:
        key = (KIND_TO_CHECK.get(inj.kind, ""), inj.symbol)
        if key not in rows or (inj.symbol in shifted and inj.kind != "date_shift"):
            continue
        details = rows[key].details
        if inj.kind in ("gap", "null_field", "zero_volume"):
            assert {d.isoformat() for d in inj.dates} <= set(details["dates"])
        if inj.kind == "null_field":
            assert inj.detail["field"] in details["fields"][details["dates"].index(inj.dates[0].isoformat())]
        if inj.kind == "jump":
            assert inj.dates[0].isoformat() in details["dates"]
            move = details["move_pct"][details["dates"].index(inj.dates[0].isoformat())]
            assert (1 + move / 100) / inj.detail["factor"] == pytest.approx(1, abs=0.15)  # the fault plus a normal day's move
        if inj.kind == "currency_switch":
            assert details["ratio"][0] == pytest.approx(0.01, rel=0.2)
        if inj.kind == "date_shift":
            assert set(details["dates"]) <= {d.isoformat() for d in inj.dates}
        if inj.kind == "frozen_bar":
            assert details["dates"] == [d.isoformat() for d in inj.dates]
            assert set(details["since"]) == {inj.detail["source"].isoformat()} and set(details["bars"]) == {inj.detail["bars"]}


def test_summary_rows_per_check_with_universe_and_colour(home: dict[str, Any]) -> None:
    rows = {r.check_name: r for r in QASummary.select().where(QASummary.date == home["today"])}
    universe = len(home["market"].universe())
    assert len(rows) == len(catalog.SPECS)
    for name, row in rows.items():
        assert row.universe_size == universe
        assert row.fail_count == len(home["found"][name])
        assert row.colour == "green" and not row.crashed
