"""Pilot helpers of the triage tests: open the screen, read its status line and rows, look a failure up."""

from __future__ import annotations

from typing import Any

from textual.widgets import Static

from praf_engine.db.models import QAFailure
from praf_engine.service import EngineService
from praf_tui.screens.triage import TriageScreen
from praf_tui.widgets.failure_table import FailureTable
from tests.tui.conftest import settle

OPEN = {"resolved": False}


async def open_triage(pilot: Any) -> TriageScreen:
    await pilot.press("t")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, TriageScreen)
    return screen


async def type_text(pilot: Any, text: str) -> None:
    await pilot.press(*["space" if c == " " else c for c in text])


def status(screen: TriageScreen) -> str:
    return str(screen.query_one("#triage-status", Static).render())


def shown_ids(screen: TriageScreen) -> list[int]:
    return [r.id for r in screen.query_one(FailureTable).rows_shown]


def page_ids(service: EngineService, **kw: Any) -> list[int]:
    kw.setdefault("limit", 100)
    return [r.id for r in service.failures(**kw).rows]


def failure(failure_id: int) -> QAFailure:
    return QAFailure.get_by_id(failure_id)
