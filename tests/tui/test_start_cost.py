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


async def test_the_headers_first_state_is_asked_once_before_the_dashboard_mounts(make_app: Any, tui_service: Any,
                                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The app mounts only after its first screen has mounted and painted: the header's first scheduler state is
    started on load instead, beside the dashboard's load, and Textual's first call of the data_version watcher
    (old == new, as it initialises the app's reactives) does not start it again. A real change of data_version does."""
    from praf_tui.app import PrafApp
    from praf_tui.screens.dashboard import DashboardScreen

    events: list[str] = []
    state, reload, mount = tui_service.scheduler_state, PrafApp.reload_scheduler, DashboardScreen.on_mount

    def asked() -> Any:
        events.append("asked")
        return state()

    def reloading(self: PrafApp, *args: Any) -> None:
        events.append("load started")
        reload(self, *args)

    def mounted(self: DashboardScreen) -> None:
        events.append("dashboard mounted")
        mount(self)

    monkeypatch.setattr(tui_service, "scheduler_state", asked)
    monkeypatch.setattr(PrafApp, "reload_scheduler", reloading)
    monkeypatch.setattr(DashboardScreen, "on_mount", mounted)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert events.index("load started") < events.index("dashboard mounted"), events
        assert events.count("load started") == 1 and events.count("asked") == 1, events
        assert app.scheduler is not None
        app.changed()
        await settle(pilot)
        assert events.count("load started") == 2 and events.count("asked") == 2, events


START = """
import asyncio, gc, sys, threading
from praf_tui.start import collector_paused, pause_collector
pause_collector()
heavy = [m for m in ("textual", "praf_engine") if m in sys.modules]
from praf_engine.sandbox.fixture_home import FIXTURE_AS_OF
from praf_engine.service import EngineService, load_settings
import praf_tui.app
from praf_tui.screens.dashboard import DashboardScreen
service = EngineService.open(load_settings(home=sys.argv[1]))
seen = {}
if sys.argv[2] == "never-loads":  # the first snapshot never comes back (a database that hangs)
    praf_tui.app.RESUME_AFTER_S = 0.3
    release = threading.Event()
    def hang(*args, **kw):
        release.wait(30)
        raise TimeoutError("released by the test")  # shown as a failed load, never drawn
    service.dashboard_snapshot = hang
draw = DashboardScreen.on_dashboard_loaded
def drawing(self, message):
    seen.setdefault("collecting_while_drawn", gc.isenabled())
    draw(self, message)
DashboardScreen.on_dashboard_loaded = drawing
app = praf_tui.app.PrafApp(service, as_of=FIXTURE_AS_OF, who="tester", refresh_s=0)
async def run():
    async with app.run_test(size=(80, 24)) as pilot:
        seen["collecting_at_mount"] = gc.isenabled()
        for _ in range(400):
            await pilot.pause(0.01)
            if gc.isenabled():
                break
        seen["collecting_after"] = gc.isenabled()
        seen["frozen"] = gc.get_freeze_count()
        seen["paused"] = collector_paused()
        if sys.argv[2] == "never-loads":
            release.set()
asyncio.run(run())
service.close()
print("RESULT", heavy, sorted(seen.items()))
"""


def _start(home: Path, how: str) -> str:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", START, str(home), how], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr[-3000:]
    return next(line for line in out.stdout.splitlines() if line.startswith("RESULT"))


def test_the_collector_is_paused_until_the_dashboard_shows_its_first_load(fixture_home: Path) -> None:
    """praf-tui's entry point pauses the cyclic collector before it imports anything heavy (~50 ms of collections
    during the start, issue 16); the app resumes it, with the start's heap frozen, after its first load is drawn."""
    result = _start(fixture_home, "loads")
    assert result.startswith("RESULT []")  # praf_tui.start imports neither Textual nor the engine
    assert "('collecting_at_mount', False)" in result and "('collecting_while_drawn', False)" in result
    assert "('collecting_after', True)" in result and "('paused', False)" in result
    frozen = int(result.split("('frozen', ")[1].split(")")[0])
    assert frozen > 50_000, result  # the modules, the app and the snapshot: out of the collector's generations


def test_a_start_that_never_loads_resumes_the_collector_all_the_same(fixture_home: Path) -> None:
    result = _start(fixture_home, "never-loads")
    assert "('collecting_at_mount', False)" in result and "collecting_while_drawn" not in result
    assert "('collecting_after', True)" in result and "('paused', False)" in result


PREFETCHED = """
import asyncio, json, os, sys, time
from praf_tui.start import pause_collector
pause_collector()
from praf_engine.sandbox.fixture_home import FIXTURE_AS_OF
from praf_tui.cli import open_service
if sys.argv[2] == "late":  # the child answers only after the dashboard has mounted (a slow home)
    import praf_engine.readmodels.dashboard as dashboard
    parent, compute = os.getpid(), dashboard.snapshot
    def slow(*args, **kw):
        if os.getpid() != parent:
            time.sleep(1.5)
        return compute(*args, **kw)
    dashboard.snapshot = slow
service = open_service(sys.argv[1], prefetch_dashboard=FIXTURE_AS_OF)  # praf_tui.cli.main's order: before Textual
textual_before = "textual" in sys.modules
import praf_tui.app
from praf_tui.screens.dashboard import DashboardScreen
from tests.tui.conftest import settle
if sys.argv[2] == "answered":  # the child has answered before the dashboard mounts (a fast home, a slow terminal)
    assert service._start.read.answered(1, wait_s=60)  # both answers (the second comes after the first)
app = praf_tui.app.PrafApp(service, as_of=FIXTURE_AS_OF, who="tester", refresh_s=0)
workers, header_workers, first_frame = [], [], []
load, load_header = DashboardScreen._load, praf_tui.app.PrafApp._load_scheduler
def loading(self, as_of):
    workers.append(str(as_of))
    return load(self, as_of)
def loading_header(self):
    header_workers.append(1)
    return load_header(self)
DashboardScreen._load = loading
praf_tui.app.PrafApp._load_scheduler = loading_header
display = app._display
def displayed(screen, renderable):
    if renderable is not None and isinstance(screen, DashboardScreen) and not first_frame:
        first_frame.append(screen.data is not None and app.scheduler is not None)
    display(screen, renderable)
app._display = displayed
async def run():
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        print("RESULT " + json.dumps({"textual_before": textual_before, "outcome": service.prefetch_outcome,
                                      "active": app.snapshot.summary.total_active, "as_of": str(app.snapshot.summary.as_of),
                                      "load_workers": workers, "header_workers": len(header_workers),
                                      "first_frame_has_data": first_frame[0], "header": app.scheduler is not None}))
asyncio.run(run())
service.close()
"""


@pytest.mark.parametrize("when", ["answered", "late"])
def test_the_dashboard_shows_the_snapshot_its_start_forked_off(fixture_home: Path, tui_service: Any, when: str) -> None:
    """praf-tui opens the home before it imports Textual, with the dashboard's snapshot computed meanwhile in a child
    (ADR 0017); the dashboard's first load is that snapshot, the same one an in-process call returns. When the child
    has answered by the time the dashboard mounts, the screen draws it and the header's scheduler state (the child's
    second answer) before its first paint, with no load worker (the first frame has both); otherwise the load workers
    take the answers when they come."""
    import json
    import subprocess
    import sys

    from praf_engine.sandbox.fixture_home import FIXTURE_AS_OF

    out = subprocess.run([sys.executable, "-c", PREFETCHED, str(fixture_home), when], capture_output=True, text=True,
                         timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(next(line for line in out.stdout.splitlines() if line.startswith("RESULT "))[7:])
    expected = tui_service.dashboard_snapshot(FIXTURE_AS_OF).summary
    answered = when == "answered"
    assert result == {"textual_before": False, "outcome": "used", "active": expected.total_active,
                      "as_of": str(FIXTURE_AS_OF), "load_workers": [] if answered else [str(FIXTURE_AS_OF)],
                      "header_workers": 0 if answered else 1, "first_frame_has_data": answered, "header": True}
    assert expected.total_active > 0
