"""What the dashboard's start does not do again (issue 16): parse the CSS once per set of theme variables, and draw a
chart once per data, size and theme. Counted, not timed: bench/tui.py times them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from praf_tui.stylesheet import ReusingStylesheet
from praf_tui.widgets.charts import UniverseChart
from tests.tui.conftest import settle

APP_CSS = str(Path(__file__).resolve().parents[2] / "praf_tui" / "app.tcss")


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The CSS sources the app's stylesheet parses (cache misses), by file or class variable."""
    seen: list[str] = []
    parse = ReusingStylesheet._parse_rules

    def counting(self: ReusingStylesheet, css: str, read_from: tuple[str, str], *args: Any, **kw: Any) -> Any:
        before = len(self._parse_cache)
        rules = parse(self, css, read_from, *args, **kw)
        if len(self._parse_cache) > before:
            seen.append(read_from[1] or read_from[0])
        return rules

    monkeypatch.setattr(ReusingStylesheet, "_parse_rules", counting)
    return seen


async def test_the_css_is_parsed_once_per_theme(make_app: Any, parsed: list[str]) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.stylesheet, ReusingStylesheet)
        assert parsed.count(APP_CSS) == 1, parsed  # Textual's own stylesheet parsed it three times by now
        parsed.clear()
        await pilot.press("t")  # a mode's screen: Textual refreshes the CSS
        await settle(pilot)
        await pilot.press("j")
        await settle(pilot)
        assert APP_CSS not in parsed and "App.DEFAULT_CSS" not in parsed, parsed
        header = app.screen.query_one("PrafHeader")
        truecolour = header.styles.background
        app.theme = "ansi-dark"  # new variables: everything parsed again, the screen restyled
        await settle(pilot)
        assert APP_CSS in parsed
        assert header.styles.background != truecolour


async def test_a_chart_is_drawn_once_per_data_size_and_theme(make_app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    builds: list[int] = []
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        chart = app.screen.query_one(UniverseChart)
        build = chart.plt.build

        def counting() -> str:
            builds.append(1)
            return build()

        monkeypatch.setattr(chart.plt, "build", counting)
        first = str(chart.render())
        for _ in range(3):
            chart.refresh()
            await pilot.pause()
        assert str(chart.render()) == first and builds == [], "drawn again with nothing changed"
        await pilot.resize_terminal(110, 30)
        await settle(pilot)
        assert len(builds) == 1 and str(chart.render()) != first  # a new size: drawn once more
        app.theme = "ansi-dark"
        await settle(pilot)
        assert len(builds) == 2
