"""Fixtures of the universe tests: a clean sandbox market served over HTTP and FTP, and settings pointing at it."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from praf_engine.config import Settings
from praf_engine.logs import configure_logging
from praf_engine.sandbox.faults import FaultConfig
from praf_engine.sandbox.market import Market
from praf_engine.sandbox.sites import NasdaqFtpServer, SitesServer
from praf_engine.sandbox.wiring import with_profile
from tests.conftest import make_settings

TODAY = dt.date(2025, 6, 6)
CHROMEDRIVER = "/usr/bin/chromedriver"


def new_market(faults: FaultConfig | None = None, size: int = 300) -> Market:
    return Market(size=size, seed=42, today=TODAY, faults=faults or FaultConfig.none())


def need_chromium() -> None:
    if not os.path.exists(CHROMEDRIVER) and os.environ.get("REQUIRE_POSTGRES_TESTS") != "1":
        pytest.skip(f"no {CHROMEDRIVER} (apt-get install chromium chromium-driver)")


@pytest.fixture
def market() -> Market:
    return new_market()


@pytest.fixture
def sites(market: Market) -> Iterator[SitesServer]:
    with SitesServer(market) as server:
        yield server


@pytest.fixture
def ftp(market: Market) -> Iterator[NasdaqFtpServer]:
    with NasdaqFtpServer(market) as server:
        yield server


@pytest.fixture
def home_settings(tmp_path: Path, backend: str | None, sites: SitesServer) -> Callable[..., Settings]:
    """``make(**overrides)``: settings of a sandbox-mode home on the test's backend, pointing at ``sites`` (the sandbox's
    profile applied, as its wiring gives them to the jobs)."""

    def make(**overrides: Any) -> Settings:
        s = with_profile(make_settings(tmp_path / "home", backend, sources="sandbox", sandbox__http_url=sites.url, **overrides))
        configure_logging(s.logs_dir, secrets=s.secrets(), console_level=None)
        return s

    return make
