"""The scraper base class is abstract: only a scraper with both fetch and parse can be built."""

from __future__ import annotations

import inspect
from pathlib import Path

import httpx
import pytest

from praf_engine.config import Settings
from praf_engine.universe.base import BaseExchangeScraper, Fetcher, RawPage, RawStore, scraper_classes


def _fetcher(settings: Settings, client: httpx.Client, tmp_path: Path, code: str) -> Fetcher:
    return Fetcher(settings, client, RawStore(tmp_path, "202501", code))


def test_the_base_and_a_scraper_without_parse_cannot_be_built(sqlite_settings, tmp_path) -> None:
    class FetchOnly(BaseExchangeScraper):
        code = "fetchonly"

        def fetch(self) -> list[RawPage]:
            return []

    assert inspect.isabstract(BaseExchangeScraper)
    assert BaseExchangeScraper.__abstractmethods__ == {"fetch", "parse"}
    with httpx.Client() as client:
        fetcher = _fetcher(sqlite_settings, client, tmp_path, "x")
        with pytest.raises(TypeError, match="abstract"):
            BaseExchangeScraper(sqlite_settings, fetcher)  # type: ignore[abstract]
        with pytest.raises(TypeError, match="parse"):
            FetchOnly(sqlite_settings, fetcher)  # type: ignore[abstract]


def test_every_registered_scraper_is_concrete_and_builds(sqlite_settings, tmp_path) -> None:
    classes = scraper_classes()
    assert list(classes) == ["nasdaq", "arca", "ftse", "dax", "euronext"]
    with httpx.Client() as client:
        for code, cls in classes.items():
            assert not inspect.isabstract(cls), code
            scraper = cls(sqlite_settings, _fetcher(sqlite_settings, client, tmp_path, code))
            assert scraper.code == code and scraper.description
