"""Upstream history rewrites (a split revealed later) and corporate actions: Yahoo events and the CSV import."""

from __future__ import annotations

import datetime as dt

import pytest

from praf_engine.cli import main
from praf_engine.db.models import CorporateAction, CronStatus, TickerFetchMeta
from praf_engine.errors import PipelineError
from praf_engine.fetch.actions import import_csv
from praf_engine.lake import Lake
from praf_engine.sandbox.faults import FaultConfig
from praf_engine.sandbox.market import Market
from tests.engine.fetch.conftest import TODAY, insert_universe, lake_matches, run_fetch, with_day


def test_split_revealed_later_redownloads_that_history(make_sandbox, fetch_home):
    everyone = [x.symbol for x in Market(size=30, seed=7, today=TODAY).universe()]
    sandbox = make_sandbox(30, faults=FaultConfig(targets={"history_rewrite": everyone}))
    settings, service = fetch_home(sandbox)
    market, lake = sandbox.market, Lake(settings.lake_dir)
    insert_universe(market)
    reveal = dt.date(2025, 6, 10)
    hidden = {i.symbol: i for i in market.injections() if not i.detail["revealed"] and i.detail["revealed_on"] == reveal}
    assert hidden, "the seeded market has splits revealed on 2025-06-10"
    assert run_fetch(settings, service.db) == 0
    for day in (dt.date(2025, 6, 9), reveal):
        market.today = day
        assert run_fetch(with_day(settings, day), service.db) == 0
    detail = CronStatus.select().where(CronStatus.job == "fetch").order_by(CronStatus.id.desc()).first().detail
    assert detail["redownloaded"] >= len(hidden)
    for sym, injection in hidden.items():
        split = CorporateAction.get(CorporateAction.symbol == sym, CorporateAction.action_type == "split",
                                    CorporateAction.action_date == injection.dates[0])
        assert split.action_date == injection.dates[0] and split.ratio == pytest.approx(injection.detail["ratio"])
        assert lake_matches(lake, market, sym)
        stored = lake.read_symbol(sym, columns=["date", "close"]).to_pandas()
        served = market.bars(sym)
        assert float(stored["close"].iloc[0]) == pytest.approx(float(served.close[0]), rel=1e-6)  # old bars re-adjusted
        assert not TickerFetchMeta.get_by_id(sym).full_history_pending


def test_csv_import_keeps_good_rows_and_names_bad_lines(tmp_path, service):
    path = tmp_path / "actions.csv"
    path.write_text("symbol,action_date,action_type,ratio\n"
                    "AAPL,2025-06-02,split,4\n"
                    "../etc,2025-06-02,split,2\n"
                    "MSFT,2025-13-01,dividend,0.8\n"
                    "MSFT,2025-05-15,bonus,1\n"
                    "MSFT,2025-05-15,dividend,-1\n"
                    "MSFT,2025-05-15,dividend,0.83\n", encoding="utf-8")
    report = import_csv(path)
    assert report.inserted == 2 and [r["line"] for r in report.rejected] == [3, 4, 5, 6]
    assert {(r.symbol, r.action_type, r.source) for r in CorporateAction.select()} == {("AAPL", "split", "manual"), ("MSFT", "dividend", "manual")}
    again = import_csv(path)
    assert again.inserted == 0 and again.duplicates == 2 and CorporateAction.select().count() == 2

    bad = tmp_path / "bad.csv"
    bad.write_text("symbol;date\nAAPL;2025-01-01\n", encoding="utf-8")
    with pytest.raises(PipelineError) as err:
        import_csv(bad)
    assert err.value.error_code == "CORPACTBAD" and "missing columns" in err.value.msg


def test_import_actions_command(tmp_path, sqlite_settings, capsys):
    home = str(sqlite_settings.home)
    assert main(["--home", home, "init"]) == 0
    path = tmp_path / "a.csv"
    path.write_text("symbol,action_date,action_type,ratio\nVOD.L,2025-01-02,dividend,0.04\nBAD SYM,2025-01-02,split,2\n")
    assert main(["--home", home, "import-actions", str(path)]) == 1
    out = capsys.readouterr().err
    assert "1 imported" in out and "1 rejected" in out and "line 3" in out
