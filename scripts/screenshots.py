"""Render every dashboard screen to screenshots/*.svg from the fixed sandbox home (the real scrape → fetch → QA
chain on a seeded market, clocks frozen): `.venv/bin/python scripts/screenshots.py`."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from praf_engine.sandbox.fixture_home import FIXTURE_AS_OF, build_fixture_home  # noqa: E402
from praf_engine.service import EngineService, load_settings  # noqa: E402
from praf_tui.app import PrafApp  # noqa: E402
from praf_tui.screens import checks as checks_screen  # noqa: E402

Step = Callable[[Any, Any], Awaitable[None]]


def _keys(*keys: str) -> Step:
    async def run(app: Any, pilot: Any) -> None:
        for key in keys:
            await pilot.press(key)
            await app.workers.wait_for_complete()
            await pilot.pause()

    return run


def _symbol(symbol: str, *keys: str) -> Step:
    async def run(app: Any, pilot: Any) -> None:
        app.open_symbol(symbol)
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)

    return run


def _alerts() -> Step:
    """The alerts job on the fixture home (its rules into the outbox; no Telegram: kept pending), then the screen. The
    service's clock is fixed from here on (the last step) at 06:00 UTC of the fixture's night, after the fetch's
    03:30 deadline: the rules judge by the clock, so with the real one the picture changed with the time of day (a
    missed_run alert before midnight, none after)."""

    async def run(app: Any, pilot: Any) -> None:
        moment = dt.datetime.combine(FIXTURE_AS_OF, dt.time(6, 0))  # naive UTC, as Wiring.clock
        app.service.wiring = app.service.wiring.with_clock(lambda: moment)
        await asyncio.to_thread(app.service.run_job, "alerts", "screenshots")
        await _keys("l")(app, pilot)

    return run


def _steady_preview() -> None:
    """The threshold preview's time taken, and whether the lake window was already in memory, are the clock's: shown
    as 0.00 s, not cached, so the edit form's picture changes only when the preview's content does (its snapshot
    test fixes them the same way)."""
    real = checks_screen.preview_text
    checks_screen.preview_text = lambda p: real(dataclasses.replace(p, seconds=0.0, cached=False))


PRICE_JUMP = ("down",) * 4  # the Checks screen's fifth row: price_jump (the catalogue's order)
EDIT = ("e", "tab", "ctrl+a", "ctrl+k", "0", ".", "1", "f5")  # its max_move set to 0.1 and previewed: 3 failures added
SELECT_TWO = ("t", "space", "down", "space")  # triage: two failures selected


def shots(service: EngineService) -> list[tuple[str, tuple[int, int], Step]]:
    worst = service.failures(resolved=False, check="price_jump", limit=1).rows or service.failures(resolved=False, limit=1).rows
    symbol = worst[0].symbol if worst else "AAPL"
    return [
        ("dashboard", (80, 24), _keys()),
        ("dashboard-wide", (120, 40), _keys()),
        ("dashboard-universe", (120, 40), _keys("1")),
        ("dashboard-timeliness", (120, 40), _keys("2")),
        ("dashboard-completeness", (120, 40), _keys("3")),
        ("dashboard-quality", (120, 40), _keys("4")),
        ("dashboard-fetch", (120, 40), _keys("5")),
        ("dashboard-jobs", (120, 40), _keys("6")),
        ("triage", (120, 40), _keys("t")),
        ("triage-narrow", (80, 24), _keys("t")),
        ("symbol", (120, 40), _symbol(symbol)),
        ("symbol-qa", (120, 40), _symbol(symbol, "3")),
        ("scheduler", (120, 40), _keys("j")),
        ("scheduler-narrow", (80, 24), _keys("j")),
        ("help", (120, 40), _keys("question_mark")),
        ("logs", (120, 40), _keys("L")),  # the fixture home's own log: its pipeline steps' lines
        ("logs-narrow", (80, 24), _keys("L")),
        ("checks", (120, 40), _keys("k")),
        ("checks-narrow", (80, 24), _keys("k")),
        ("checks-edit", (120, 40), _keys("k", *PRICE_JUMP, *EDIT)),
        ("universe", (120, 40), _keys("U")),
        ("universe-narrow", (80, 24), _keys("U")),
        ("recheck", (120, 40), _keys(*SELECT_TWO, "R")),  # the refetch dialog (R) on triage's selection
        ("recheck-narrow", (80, 24), _keys(*SELECT_TWO, "R")),
        ("alerts", (120, 40), _alerts()),  # last: it writes the outbox the header counts
    ]


async def render(out_dir: Path, home: Path) -> list[Path]:
    written = []
    _steady_preview()
    service = EngineService.open(load_settings(home=str(home), environ={}))
    try:
        for name, size, step in shots(service):
            app = PrafApp(service, as_of=FIXTURE_AS_OF, who="screenshots", refresh_s=0)
            async with app.run_test(size=size) as pilot:
                await app.workers.wait_for_complete()
                await pilot.pause()
                await step(app, pilot)
                await app.workers.wait_for_complete()
                await pilot.pause()
                app.save_screenshot(f"{name}.svg", path=str(out_dir))
            written.append(out_dir / f"{name}.svg")
    finally:
        service.close()
    return written


def main() -> int:
    target = REPO / "screenshots"
    target.mkdir(exist_ok=True)
    for old in target.glob("*.svg"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        failed = build_fixture_home(home)
        if failed:
            print(f"fixture home steps failed: {failed}", file=sys.stderr)
            return 1
        for path in asyncio.run(render(target, home)):
            print(path.relative_to(REPO))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
