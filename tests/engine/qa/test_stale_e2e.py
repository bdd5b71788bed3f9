"""End to end: the Yahoo emulator serves frozen bars for a few listings, the real yfinance fetch stores them, and the
QA job (gated on that night's fetch, not forced) reports stale_price for exactly those listings."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from praf_engine.db.models import CronStatus, QAFailure
from praf_engine.jobs.runner import JobRunner
from praf_engine.qa.runner import qa_job
from praf_engine.sandbox.faults import DATA_FAULTS, FaultConfig
from praf_engine.sandbox.market import Market
from praf_engine.sandbox.serve import Sandbox
from tests.engine.fetch.conftest import home_settings, insert_universe, run_fetch

TODAY = dt.date(2025, 6, 6)


def test_frozen_bars_from_yahoo_are_reported_by_stale_price_exactly(tmp_path: Path, backend: str | None) -> None:
    from praf_engine.service import EngineService

    probe = Market(size=60, seed=11, today=TODAY)
    old = [x.symbol for x in probe.universe() if x.listed_on < dt.date(2024, 1, 1)]
    faults = FaultConfig(rates={k: 0.1 for k in DATA_FAULTS if k != "frozen_bar"}, targets={"frozen_bar": old[:: len(old) // 4][:4]})
    sandbox = Sandbox(Market(size=60, seed=11, today=TODAY, faults=faults), exits=0).start()
    try:
        settings = home_settings(tmp_path / "home", sandbox, backend)
        service = EngineService.open(settings)
        try:
            insert_universe(sandbox.market)
            frozen = {i.symbol: i for i in sandbox.market.injections() if i.kind == "frozen_bar"}
            assert len(frozen) == 4 and len({i.kind for i in sandbox.market.injections()}) >= 6  # among other faults
            assert run_fetch(settings, service.db) == 0
            assert JobRunner(sandbox.wiring(settings, db=service.db)).run("qa", lambda ctx: qa_job(ctx, as_of=TODAY)) == 0
            qa = CronStatus.select().where(CronStatus.job == "qa").get()
            assert qa.detail["gate"]["forced"] is False and qa.detail["checks"]["stale_price"]["failures"] == 4
            rows = {r.symbol: r.details for r in QAFailure.select().where(QAFailure.check_name == "stale_price")}
            assert set(rows) == set(frozen)
            for sym, inj in frozen.items():
                assert rows[sym]["dates"] == [d.isoformat() for d in inj.dates]
                assert rows[sym]["since"][0] == inj.detail["source"].isoformat()
            jumps = {r.symbol for r in QAFailure.select().where(QAFailure.check_name == "price_jump")}
            assert jumps == {i.symbol for i in sandbox.market.injections() if i.kind == "jump"}
        finally:
            service.close()
    finally:
        sandbox.stop()
