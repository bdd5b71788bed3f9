"""Fixtures for the fetch tests: a sandbox on loopback, a home pointed at it, tickers from the market's universe."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from praf_engine.config import Settings
from praf_engine.db.models import Ticker
from praf_engine.jobs.runner import JobRunner
from praf_engine.lake import Lake
from praf_engine.logs import configure_logging
from praf_engine.sandbox.faults import FaultConfig
from praf_engine.sandbox.market import Market
from praf_engine.sandbox.serve import Sandbox
from praf_engine.sandbox.wiring import sandbox_wiring, with_profile
from tests.conftest import make_settings

TODAY = dt.date(2025, 6, 6)


def home_settings(home: Path, sandbox: Sandbox, database_url: str | None = None, **overrides: Any) -> Settings:
    """A home that fetches from ``sandbox`` (its exits as a proxy list when it has any: ``settings_overrides`` says so),
    with the sandbox's profile applied (as its wiring gives them to the jobs)."""
    flat = {"__".join(k): v for k, v in sandbox.settings_overrides().items()}
    flat.update({"fetch__workers": 3, "fetch__request_timeout_s": 5.0})
    flat.update(overrides)
    s = with_profile(make_settings(home, database_url, **flat))
    configure_logging(s.logs_dir, secrets=s.secrets(), console_level=None)
    return s


def insert_universe(market: Market, on: dt.date | None = None) -> list[str]:
    """tickers rows straight from the market (the scraper is not under test here)."""
    day = on or market.today
    rows = [{"symbol": x.symbol, "exchange_code": x.exchange_code, "exchange_symbol": x.exchange_symbol, "name": x.name,
             "mic": x.mic, "currency": x.currency, "is_etf": x.is_etf, "first_seen": day, "last_seen": day, "status": "active"}
            for x in market.universe()]
    Ticker.insert_many(rows).on_conflict_ignore().execute()
    return [r["symbol"] for r in rows]


def run_fetch(settings: Settings, db: Any, **kwargs: Any) -> int:
    """The fetch job on the sandbox's wiring: its Yahoo sessions, and its clock on ``settings.sandbox.today``."""
    from praf_engine.fetch.runner import fetch_job

    return JobRunner(sandbox_wiring(settings, db=db)).run("fetch", lambda ctx: fetch_job(ctx, **kwargs))


def with_day(settings: Settings, day: dt.date) -> Settings:
    return settings.model_copy(update={"sandbox": settings.sandbox.model_copy(update={"today": day})})


def lake_matches(lake: Lake, market: Market, symbol: str) -> bool:
    """The stored bars equal the served bars (dates and closes)."""
    import numpy as np
    import pandas as pd

    served = market.bars(symbol)
    stored = lake.read_symbol(symbol, columns=["date", "close"]).to_pandas()
    dates = np.unique(served.dates)
    if len(stored) != len(dates):
        return False
    return bool((pd.to_datetime(stored["date"]).to_numpy().astype("datetime64[D]") == dates).all())


@pytest.fixture
def make_sandbox() -> Iterator[Any]:
    started: list[Sandbox] = []

    def build(size: int = 60, *, faults: FaultConfig | None = None, exits: int = 0, seed: int = 7,
              rate_limit_requests: int = 10**6, today: dt.date = TODAY) -> Sandbox:
        market = Market(size=size, seed=seed, today=today, faults=faults or FaultConfig.none())
        sandbox = Sandbox(market, exits=exits, rate_limit_requests=rate_limit_requests).start()
        started.append(sandbox)
        return sandbox

    yield build
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def fetch_home(tmp_path: Path, backend: str | None, make_sandbox: Any) -> Iterator[Any]:
    """(build(sandbox, **overrides) -> (settings, service)): a home on the test's backend pointed at a sandbox."""
    from praf_engine.service import EngineService

    opened: list[Any] = []

    def build(sandbox: Sandbox, name: str = "home", **overrides: Any) -> tuple[Settings, Any]:
        s = home_settings(tmp_path / name, sandbox, backend, **overrides)
        service = EngineService.open(s)
        opened.append(service)
        return s, service

    yield build
    for service in opened:
        service.close()
