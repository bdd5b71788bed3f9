"""The Logs screen on a copy of the fixture home with a known log: a missing log folder and bad lines shown (not a
crash), the filters by key, the detail of one line, follow mode, and the screen opened from a run and a failure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Static

from praf_engine.db.models import QAFailure
from praf_engine.logs import LOG_FILE
from praf_tui.screens.logs import LogsScreen
from tests.tui.conftest import settle

RUN_FETCH = "5a184666-11ed-4cda-b8f5-51a937eaec7c"
RUN_QA = "0c1f2e3d-4b5a-4978-8695-a4b3c2d1e0f9"


def entry(hms: str, msg: str, run_id: str | None, job: str | None, level: str = "info", code: str | None = None,
          **detail: Any) -> str:
    return json.dumps({"ts": f"2026-03-04T{hms}.000000Z", "level": level, "module": f"praf_engine.{job or 'cli'}",
                       "run_id": run_id, "job": job, "error_code": code, "msg": msg, "detail": detail}) + "\n"


def write_log(home: Path) -> Path:
    logs = home / "logs"
    logs.mkdir(exist_ok=True)
    (logs / f"{LOG_FILE}.2026-03-03").write_text(entry("23:10:00", "housekeeping done", "11111111-2222-4333-8444-555555555555",
                                                       "housekeeping", removed=3))
    (logs / LOG_FILE).write_text(
        entry("01:00:00", "fetch starts", RUN_FETCH, "fetch", symbols=300, exits=4)
        + entry("01:00:05", "batch fetched", RUN_FETCH, "fetch", batch=1, rows=6250)
        + entry("01:00:09", "rate limited; exit rests", RUN_FETCH, "fetch", "warning", "YF429", exit="exit-2", retry_after=300)
        + entry("01:00:12", "no data found", RUN_FETCH, "fetch", "error", "YFDELISTED", symbol="OLDCO.L")
        + "Traceback (most recent call last): a stray non-JSON line\n"
        + entry("01:02:00", "fetch finished", RUN_FETCH, "fetch", ok=299, failed=1)
        + entry("02:00:00", "qa starts", RUN_QA, "qa", checks=14)
        + entry("02:00:40", "check price_jump: 2 failures", RUN_QA, "qa", "warning", None, check="price_jump")
        + entry("02:01:00", "qa finished", RUN_QA, "qa")[:40])  # a line still being written
    return logs


def rows(screen: LogsScreen) -> list[str]:
    table = screen.query_one("#log-table", DataTable)
    return [str(table.get_row_at(i)[4]) for i in range(table.row_count)]


def text_of(screen: LogsScreen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def open_logs(app: Any, pilot: Any) -> LogsScreen:
    await settle(pilot)
    await pilot.press("L")
    await settle(pilot)
    assert isinstance(app.screen, LogsScreen)
    return app.screen


async def test_missing_log_folder_says_so(make_app: Any) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_logs(app, pilot)
        assert text_of(screen, "#log-status").startswith("LOGREAD  no log folder at")
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, LogsScreen)


async def test_filters_detail_and_follow(make_app: Any, fixture_home: Path) -> None:
    logs = write_log(fixture_home)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_logs(app, pilot)
        assert rows(screen)[0] == "housekeeping done" and rows(screen)[-1] == "check price_jump: 2 failures"
        assert len(rows(screen)) == 9 and "Traceback" in rows(screen)[5]  # the raw line shown; the unfinished one not
        assert "every line · 1–9 of 9" in text_of(screen, "#log-status")
        assert "check price_jump" in text_of(screen, "#log-detail")  # the cursor starts on the newest line

        await pilot.press("r", *RUN_FETCH[:8], "enter")
        await settle(pilot)
        assert rows(screen) == ["fetch starts", "batch fetched", "rate limited; exit rests", "no data found", "fetch finished"]
        await pilot.press("v", "v", "v")  # any → debug → info → warning
        await settle(pilot)
        assert rows(screen) == ["rate limited; exit rests", "no data found"]
        assert text_of(screen, "#log-status").startswith("run 5a184666 · level ≥ warning · 1–2 of 2")
        await pilot.press("up")
        detail = text_of(screen, "#log-detail")
        assert "YF429" in detail and '"retry_after": 300' in detail and f"run {RUN_FETCH}" in detail

        await pilot.press("escape")  # filters cleared
        await settle(pilot)
        await pilot.press("c", *"yfdelisted", "enter")
        await settle(pilot)
        assert rows(screen) == ["no data found"]
        await pilot.press("escape", "slash", *"PRICE_JUMP", "enter")
        await settle(pilot)
        assert rows(screen) == ["check price_jump: 2 failures"]
        await pilot.press("escape", "b", *"qa", "enter", "f")  # follow the QA run
        await settle(pilot)
        with (logs / LOG_FILE).open("a") as f:
            f.write(entry("02:01:00", "qa finished", RUN_QA, "qa")[40:] + entry("02:01:01", "alerts queued", RUN_QA, "qa"))
        app.action_refresh()
        await settle(pilot)
        assert rows(screen) == ["qa starts", "check price_jump: 2 failures", "qa finished", "alerts queued"]
        assert screen.query_one("#log-table", DataTable).cursor_row == 3 and "following" in text_of(screen, "#log-status")

        await pilot.press("escape", "v", *["v"] * 6, "r", *"not-a-run!", "enter")  # a bad run id: LOGQUERY, shown
        await settle(pilot)
        assert text_of(screen, "#log-status").startswith("LOGQUERY  a run id is a UUID")


async def test_opened_from_a_failure_and_a_run(make_app: Any, fixture_home: Path, tui_service: Any) -> None:
    write_log(fixture_home)
    QAFailure.update(run_id=RUN_QA).execute()
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("t")
        await settle(pilot)
        await pilot.press("L")
        await settle(pilot)
        assert isinstance(app.screen, LogsScreen) and app.screen.query_.run_id == RUN_QA
        assert rows(app.screen) == ["qa starts", "check price_jump: 2 failures"]
        await pilot.press("escape", "escape", "d", "6")
        await settle(pilot)
        runs = app.screen.query_one("#runs-table", DataTable)
        runs.focus()
        await pilot.press("L")
        await settle(pilot)
        assert isinstance(app.screen, LogsScreen)
        run_id = app.screen.query_.run_id
        assert run_id and run_id == str(runs.coordinate_to_cell_key(runs.cursor_coordinate).row_key.value)


def _logs_screen(home: Path, *keys: str) -> Any:
    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("L")
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return run_before


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_snapshot_logs(make_app: Any, fixture_home: Path, snap_compare: Any, size: tuple[int, int]) -> None:
    write_log(fixture_home)
    assert snap_compare(make_app(), run_before=_logs_screen(fixture_home, "up", "up", "up", "up"), terminal_size=size)
