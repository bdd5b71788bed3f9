"""TUI fixtures: one fixed sandbox home per session (the real chain on a seeded market, clocks frozen), copied
per test so a test's triage never leaks into another; the app built on it at the fixture's as-of date."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from praf_engine.sandbox.fixture_home import FIXTURE_AS_OF, build_fixture_home
from praf_engine.service import EngineService, load_settings


@pytest.fixture(scope="session")
def fixture_home_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("tui") / "fixture-home"
    failed = build_fixture_home(home)
    assert failed == [], f"fixture home steps failed: {failed}"
    return home


@pytest.fixture
def fixture_home(fixture_home_master: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("DATABASE_URL", raising=False)  # the fixture home is a SQLite home
    home = tmp_path / "home"
    shutil.copytree(fixture_home_master, home, ignore=shutil.ignore_patterns("logs"))
    return home


@pytest.fixture
def tui_service(fixture_home: Path) -> Iterator[EngineService]:
    service = EngineService.open(load_settings(home=str(fixture_home)))
    yield service
    service.close()


@pytest.fixture
def make_app(tui_service: EngineService) -> Any:
    """``make_app(**kw)``: a PrafApp on the fixture home at its as-of date, operator 'tester', no live refresh."""
    from praf_tui.app import PrafApp

    def build(**kw: Any) -> PrafApp:
        kw.setdefault("as_of", FIXTURE_AS_OF)
        kw.setdefault("who", "tester")
        kw.setdefault("refresh_s", 0)
        return PrafApp(tui_service, **kw)

    return build


async def settle(pilot: Any) -> None:
    """Wait until the screen has no load in flight (a reload asked meanwhile runs when the first returns)."""
    app = pilot.app
    for _ in range(50):
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        if not (getattr(screen, "_loading", False) or getattr(screen, "_pending", False)):
            return
    raise AssertionError(f"{type(app.screen).__name__} never finished loading")
