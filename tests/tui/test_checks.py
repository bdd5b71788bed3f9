"""The threshold editor on a copy of the fixture home, keyboard only: the checks listed, an edit validated as typed
(a malformed value cannot be saved), previewed (nothing written), saved with a note (qa_checks + audit), its history;
snapshots of the list, the history and the form at 80x24 and 120x40."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from textual.widgets import DataTable, Input, Static

from praf_engine.db.models import QACheck, QACheckAudit, QAFailure, QASummary
from praf_tui.screens import checks as checks_screen
from praf_tui.screens.checks import CheckEditScreen, ChecksScreen
from praf_tui.widgets.dialogs import PromptDialog
from tests.tui.conftest import settle

PRICE_JUMP_ROW = 4  # lag_check, missing_dates, null_fields, zero_volume, price_jump (the catalogue's order)


def text_of(screen: Any, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def written() -> tuple[Any, ...]:
    return (QAFailure.select().count(), QASummary.select().count(),
            sorted((r.check_name, str(r.threshold_params), r.updated_at) for r in QACheck.select()),
            QACheckAudit.select().count())


async def open_checks(app: Any, pilot: Any, row: int = PRICE_JUMP_ROW) -> ChecksScreen:
    await settle(pilot)
    await pilot.press("k")
    await settle(pilot)
    assert isinstance(app.screen, ChecksScreen)
    for _ in range(row):
        await pilot.press("down")
    return app.screen


async def type_into(pilot: Any, text: str) -> None:
    """Replace the focused input's text (keys only)."""
    await pilot.press("ctrl+a", "ctrl+k", *text)
    await settle(pilot)


async def test_edit_validate_preview_save_and_history(make_app: Any, tui_service: Any) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_checks(app, pilot)
        table = screen.query_one("#checks-table", DataTable)
        assert table.row_count == 15 and "max_move=0.75" in str(table.get_row_at(PRICE_JUMP_ROW)[3])
        await pilot.press("h")
        await settle(pilot)
        history = screen.query_one("#check-history", DataTable)
        assert history.display and "no saved change" in str(history.get_row_at(0)[2])
        await pilot.press("h")
        assert not history.display
        before = written()
        await pilot.press("enter")
        await settle(pilot)
        edit = app.screen
        assert isinstance(edit, CheckEditScreen) and edit.row.name == "price_jump"
        assert "failing" in text_of(edit, "#edit-preview") and "nothing was saved" in text_of(edit, "#edit-preview")
        await pilot.press("tab")  # window_sessions → max_move
        assert app.focused is edit.query_one("#param-max_move", Input)
        await type_into(pilot, "abc")
        assert "QAFAIL" in text_of(edit, "#edit-valid") and "max_move" in text_of(edit, "#edit-valid")
        await pilot.press("ctrl+s")  # refused: no note is asked, nothing is written
        await settle(pilot)
        assert app.screen is edit and written() == before
        await type_into(pilot, "0.01")
        assert "valid" in text_of(edit, "#edit-valid") and "QAFAIL" not in text_of(edit, "#edit-valid")
        await pilot.press("f5")
        await settle(pilot)
        preview = text_of(edit, "#edit-preview")
        expected = tui_service.preview_check("price_jump", {"max_move": 0.01})
        assert f"failing {expected.before:,} → {expected.after:,}" in preview and expected.after > expected.before
        assert f"+{expected.added:,} added: {expected.added_sample[0]}" in preview
        assert written() == before  # the preview wrote nothing
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, PromptDialog)
        await pilot.press(*"too quiet", "enter")
        await settle(pilot)
        assert isinstance(app.screen, ChecksScreen)
        stored = QACheck.get(QACheck.check_name == "price_jump")
        assert stored.threshold_params["max_move"] == 0.01 and stored.updated_by == "tester"
        (audit,) = QACheckAudit.select()
        assert (audit.changed_by, audit.note, audit.new["threshold_params"]["max_move"]) == ("tester", "too quiet", 0.01)
        table = app.screen.query_one("#checks-table", DataTable)
        assert "max_move=0.01*" in str(table.get_row_at(PRICE_JUMP_ROW)[3])
        await pilot.press("h")
        await settle(pilot)
        row = app.screen.query_one("#check-history", DataTable).get_row_at(0)
        assert row[1] == "tester" and "max_move 0.75 → 0.01" in str(row[2]) and row[3] == "too quiet"


async def test_escape_leaves_the_form_without_saving(make_app: Any) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_checks(app, pilot, row=1)
        before = written()
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, CheckEditScreen) and app.screen.row.name == "missing_dates"
        await type_into(pilot, "5")
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ChecksScreen) and written() == before


def _at(keys: tuple[str, ...]) -> Any:
    async def run_before(pilot: Any) -> None:
        await open_checks(pilot.app, pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return run_before


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("keys", [("h",), ("e", "tab", "ctrl+a", "ctrl+k", "0", ".", "5", "f5")], ids=["list", "edit"])
def test_snapshot_checks(make_app: Any, snap_compare: Any, size: tuple[int, int], keys: tuple[str, ...],
                         monkeypatch: pytest.MonkeyPatch) -> None:
    # the preview's time taken, and whether a preview while typing warmed the lake window, are the clock's: fixed
    real = checks_screen.preview_text
    monkeypatch.setattr(checks_screen, "preview_text", lambda p: real(dataclasses.replace(p, seconds=0.0, cached=False)))
    assert snap_compare(make_app(), run_before=_at(keys), terminal_size=size)
