"""TUI fixtures: one fixed sandbox home per session (the real chain on a seeded market, clocks frozen), copied
per test so a test's triage never leaks into another; the app built on it at the fixture's as-of date."""

from __future__ import annotations

import difflib
import html
import pickle
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest
from textual.worker import WorkerCancelled

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


def _tables_measured(app: Any) -> bool:
    """A DataTable sizes its columns to new rows on its next Idle event; a snapshot taken before that (a loaded machine)
    shows header-wide columns. Textual has no public flag for it, so the test helper reads the table's own."""
    from textual.widgets import DataTable

    return not any(getattr(table, "_require_update_dimensions", False) for table in app.screen.query(DataTable))


async def settle(pilot: Any) -> None:
    """Wait until the screen is mounted and no worker runs any more (a load's message rendered; a reload that a
    render asked for, done too), then for the refresh that follows."""
    app = pilot.app
    for _ in range(50):
        await pilot.pause()
        with suppress(WorkerCancelled):  # a load superseded by a newer one
            await app.workers.wait_for_complete()
        await pilot.pause()
        if app.screen.is_mounted and all(worker.is_finished for worker in app.workers):
            await pilot.wait_for_scheduled_animations()
            await pilot.pause()
            if _tables_measured(app):
                return
    raise AssertionError(f"{type(app.screen).__name__} never finished loading")


_TEXT = re.compile(r'<text class="([^"]*)" x="([0-9.]+)"[^>]*clip-path="url\(#[^)]*-line-(\d+)\)">([^<]*)</text>')
_RECT = re.compile(r'<rect fill="([^"]*)" x="([0-9.]+)" y="([0-9.]+)" width="([0-9.]+)"')


def svg_lines(svg: str) -> tuple[list[str], list[str]]:
    """A snapshot SVG as terminal text lines, and as (line, column, style) runs plus background rectangles."""
    rows: dict[int, list[tuple[float, str]]] = {}
    styles: list[str] = []
    for cls, x, line, text in _TEXT.findall(svg):
        rows.setdefault(int(line), []).append((float(x), html.unescape(text)))
        styles.append(f"line {line} col {round(float(x) / 12.2)}: {cls}")
    styles += [f"rect {fill} x={x} y={y} w={w}" for fill, x, y, w in _RECT.findall(svg)]
    lines = []
    for line in range(max(rows, default=-1) + 1):
        out = ""
        for x, text in sorted(rows.get(line, [])):
            out = out.ljust(round(x / 12.2)) + text
        lines.append(out.rstrip())
    return lines, styles


@pytest.fixture
def snap_compare(snap_compare: Callable[..., bool], request: pytest.FixtureRequest) -> Callable[..., bool]:
    """pytest-textual-snapshot's comparison, printing on a mismatch what differs as text (the HTML report stays
    on the machine that ran it; CI logs show this)."""
    from pytest_textual_snapshot import node_to_report_path

    def compare(*args: Any, **kw: Any) -> bool:
        ok = snap_compare(*args, **kw)
        if not ok:
            _, expected, actual, *_ = pickle.loads(node_to_report_path(request.node).read_bytes())
            (want, want_styles), (got, got_styles) = svg_lines(expected or ""), svg_lines(actual or "")
            print("snapshot mismatch (text):")
            print("\n".join(difflib.unified_diff(want, got, "snapshot", "actual", lineterm="")) or "  text identical")
            print("snapshot mismatch (styles, first 40 lines of diff):")
            print("\n".join(list(difflib.unified_diff(want_styles, got_styles, "snapshot", "actual",
                                                       lineterm=""))[:40]))
        return ok

    return compare
