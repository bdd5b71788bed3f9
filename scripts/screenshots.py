"""Render every dashboard screen to screenshots/*.svg from a fixed, seeded home (run: .venv/bin/python scripts/screenshots.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from praf_engine.db.models import FetchError, QAFailure, QASummary, Ticker  # noqa: E402
from praf_engine.logs import configure_logging  # noqa: E402
from praf_engine.service import EngineService, load_settings  # noqa: E402
from praf_tui.app import PrafApp  # noqa: E402

AS_OF = dt.date.today()


def seed(service: EngineService) -> None:
    """A small fixed universe: 300 listings, a few late, missing and failing."""
    for i in range(300):
        first = AS_OF - dt.timedelta(days=5 if i < 12 else 400)
        status, changed = ("delisted", AS_OF - dt.timedelta(days=9)) if i >= 292 else ("active", None)
        Ticker.create(symbol=f"SYM{i:03d}", exchange_code="nasdaq", first_seen=first, last_seen=AS_OF,
                      status=status, status_changed=changed)
    QASummary.create(date=AS_OF, check_name="lag_check", fail_count=7, universe_size=292)
    for i in range(7):
        QAFailure.create(symbol=f"SYM{i:03d}", check_name="lag_check", date=AS_OF, details={"days_behind": 3 + i})
    for i in range(4):
        QAFailure.create(symbol=f"SYM{100 + i:03d}", check_name="missing_dates", date=AS_OF, details={"missing": 1})
    QAFailure.create(symbol="SYM200", check_name="price_jump", date=AS_OF, details={"move_pct": 81.0})
    for i in range(3):
        FetchError.create(run_id="demo", night=AS_OF, symbol=f"SYM{250 + i:03d}", error_code="YFEMPTY")


async def render(out_dir: Path) -> list[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(home=tmp, environ={})
        configure_logging(settings.logs_dir, console_level=None)
        service = EngineService.open(settings)
        seed(service)
        written = []
        try:
            for name, size in (("dashboard", (80, 24)), ("dashboard-wide", (120, 40))):
                app = PrafApp(service)
                async with app.run_test(size=size) as pilot:
                    await app.workers.wait_for_complete()
                    await pilot.pause()
                    app.save_screenshot(f"{name}.svg", path=str(out_dir))
                written.append(out_dir / f"{name}.svg")
        finally:
            service.close()
        return written


if __name__ == "__main__":
    target = REPO / "screenshots"
    target.mkdir(exist_ok=True)
    for path in asyncio.run(render(target)):
        print(path.relative_to(REPO))
