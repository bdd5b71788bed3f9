"""QA triage actions: resolve, false positive, reopen (one row or a selection, with or without a note), CSV export
and a stale row, each effect checked in the database through the service."""

from __future__ import annotations

import csv
import threading
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Label

from praf_engine.db.models import QAFailure
from praf_engine.service import EngineService
from praf_tui.screens.triage import TriageScreen
from praf_tui.widgets.dialogs import PromptDialog, SubmitDialog
from praf_tui.widgets.failure_table import SELECTED_MARK, FailureTable
from tests.tui.conftest import settle
from tests.tui.triage_pilot import OPEN, failure, open_triage, shown_ids, status, type_text


@pytest.mark.parametrize(("key", "action", "resolution"), [("r", "resolved", "resolved"),
                                                           ("f", "false_positive", "false_positive")])
async def test_resolve_and_false_positive_the_cursor_row_with_a_note(make_app: Any, tui_service: EngineService, key: str,
                                                                     action: str, resolution: str) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_triage(pilot)
        await pilot.press("down")
        target = screen.query_one(FailureTable).current
        assert target is not None
        version = app.data_version
        await pilot.press(key)
        await pilot.pause()
        assert isinstance(app.screen, PromptDialog)
        await type_text(pilot, "checked upstream")
        await pilot.press("enter")
        await settle(pilot)
        row = failure(target.id)
        assert row.resolved and row.resolution == resolution
        assert row.note == "checked upstream" and row.resolved_by == "tester" and row.resolved_at is not None
        assert app.data_version == version + 1  # app.changed(): every screen reloads
        assert target.id not in shown_ids(screen)
        assert tui_service.failures(**OPEN).total == 51
        assert status(screen).startswith("rows 1–51 of 51")


async def test_reopen_a_resolved_failure_and_empty_note_keeps_the_old_one(make_app: Any, tui_service: EngineService) -> None:
    first = tui_service.failures(**OPEN, limit=1).rows[0]
    tui_service.triage_failures([first.id], "resolved", "was fine", "someone")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_triage(pilot)
        await pilot.press("u")  # unresolved → resolved
        await settle(pilot)
        assert shown_ids(screen) == [first.id]
        assert status(screen).startswith("rows 1–1 of 1")
        await pilot.press("o")
        await pilot.pause()
        await pilot.press("enter")  # empty note: the old note stays
        await settle(pilot)
        row = failure(first.id)
        assert not row.resolved and row.resolution is None and row.resolved_at is None
        assert row.resolved_by == "tester" and row.note == "was fine"
        assert shown_ids(screen) == []
        assert status(screen).startswith("rows 0 of 0")


async def test_bulk_actions_on_a_multi_selection(make_app: Any, tui_service: EngineService) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_triage(pilot)
        table = screen.query_one(FailureTable)
        ids = shown_ids(screen)
        await pilot.press("space", "space", "down", "space")  # rows 0, 1 and 3; space moves down
        await pilot.pause()
        assert screen.selected == {ids[0], ids[1], ids[3]}
        assert [table.get_cell_at((i, 0)) for i in range(4)] == [SELECTED_MARK, SELECTED_MARK, " ", SELECTED_MARK]
        assert status(screen).endswith("· 3 selected")
        await pilot.press("up", "space")  # toggles row 3 off again (the cursor moves on to row 4)
        await pilot.pause()
        assert screen.selected == {ids[0], ids[1]}
        await pilot.press("up", "space")
        await pilot.press("f")
        await pilot.pause()
        assert "3 selected failures" in str(app.screen.query_one("#prompt-title").render())
        await type_text(pilot, "bulk")
        await pilot.press("enter")
        await settle(pilot)
        for failure_id in (ids[0], ids[1], ids[3]):
            row = failure(failure_id)
            assert row.resolution == "false_positive" and row.note == "bulk" and row.resolved_by == "tester"
        assert not failure(ids[2]).resolved
        assert screen.selected == set()
        assert tui_service.failures(**OPEN).total == 49
        assert "selected" not in status(screen)


async def test_select_page_with_ctrl_a_and_star_then_resolve_all(make_app: Any, tui_service: EngineService) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_triage(pilot)
        ids = set(shown_ids(screen))
        await pilot.press("ctrl+a")
        assert screen.selected == ids and status(screen).endswith("· 52 selected")
        await pilot.press("ctrl+a")  # again: unselect the page
        assert screen.selected == set()
        await pilot.press("asterisk")
        assert screen.selected == ids
        await pilot.press("r", "enter")
        await settle(pilot)
        assert tui_service.failures(**OPEN).total == 0
        assert tui_service.failures(resolved=True).total == 52
        assert status(screen).startswith("rows 0 of 0")


async def test_escape_in_the_note_dialog_changes_nothing(make_app: Any, tui_service: EngineService) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_triage(pilot)
        before = [(r.id, r.resolved, r.note) for r in tui_service.failures(resolved=None, limit=100).rows]
        version = app.data_version
        await pilot.press("space", "r")
        await pilot.pause()
        await type_text(pilot, "not this")
        await pilot.press("escape")
        await settle(pilot)
        for key in ("f", "o"):
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, PromptDialog)
            await pilot.press("escape")
            await settle(pilot)
        assert app.screen is screen
        assert [(r.id, r.resolved, r.note) for r in tui_service.failures(resolved=None, limit=100).rows] == before
        assert app.data_version == version
        assert len(screen.selected) == 1  # the selection survives a cancelled action


async def test_export_writes_every_row_of_the_filter(make_app: Any, tui_service: EngineService,
                                                     fixture_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TriageScreen, "PAGE_SIZE", 5)  # the export is not limited to the page
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_triage(pilot)
        await pilot.press("c", "c", "c", "c")  # lag_check, missing_dates, null_fields, zero_volume
        await settle(pilot)
        assert screen.query_state.check == "zero_volume"
        await pilot.press("e")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, PromptDialog)
        default = fixture_home / "qa_failures_2025-06-09.csv"
        assert dialog.query_one("#prompt-input").value == str(default)
        await pilot.press("enter")
        await settle(pilot)
        with default.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert len(rows) == tui_service.failures(**OPEN, check="zero_volume").total == 12
        assert {r["check_name"] for r in rows} == {"zero_volume"} and {r["resolved"] for r in rows} == {"0"}
        assert any("exported 12 rows" in str(n.message) for n in app._notifications)
        # a folder that does not exist: the service's error code, nothing written, no crash
        await pilot.press("e")
        await pilot.pause()
        await pilot.press("home", *"/nowhere")  # /nowhere/<home>/qa_failures_….csv
        await pilot.press("enter")
        await settle(pilot)
        assert any("[EXPORTIO]" in str(n.message) for n in app._notifications)
        assert not Path("/nowhere").exists()
        await pilot.press("e", "escape")  # Esc: no export
        await settle(pilot)
        assert app.screen is screen


async def test_a_stale_row_reports_the_service_error_and_nothing_changes(make_app: Any, tui_service: EngineService) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_triage(pilot)
        ids = shown_ids(screen)
        await pilot.press("space", "space")
        QAFailure.delete().where(QAFailure.id == ids[1]).execute()  # someone else removed it meanwhile
        await pilot.press("r", "enter")
        await settle(pilot)
        assert any("[QATRIAGE]" in str(n.message) and "apply again" in str(n.message) for n in app._notifications)
        assert not failure(ids[0]).resolved  # all or nothing
        assert app.screen is screen
        assert screen.selected == {ids[0]} and ids[1] not in shown_ids(screen)  # the gone row left
        await pilot.press("r", "enter")  # the retry works
        await settle(pilot)
        assert failure(ids[0]).resolved and failure(ids[0]).resolved_by == "tester"


class HeldWrite:
    """The service's real triage write, held until the test releases it; ``calls`` counts the writes asked for."""

    def __init__(self, service: EngineService) -> None:
        self.entered, self.release = threading.Event(), threading.Event()
        self.calls: list[tuple[Any, ...]] = []
        self._write = service.triage_failures

    def __call__(self, *args: Any, **kw: Any) -> int:
        self.calls.append(args)
        self.entered.set()
        self.release.wait(10)
        return self._write(*args, **kw)


async def resolve_held(pilot: Any, held: HeldWrite) -> tuple[TriageScreen, Any, SubmitDialog]:
    """Open triage, press r and Enter in the note dialog, and wait until the held write has started."""
    screen = await open_triage(pilot)
    target = screen.query_one(FailureTable).current
    assert target is not None
    await pilot.press("r")
    await pilot.pause()
    dialog = pilot.app.screen
    assert isinstance(dialog, SubmitDialog)
    await pilot.press("enter")
    for _ in range(200):
        if held.entered.is_set():
            break
        await pilot.pause(0.01)
    return screen, target, dialog


async def test_the_note_dialog_stays_open_until_the_write_answers(make_app: Any, tui_service: EngineService,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Enter starts the write at once; the dialog stays (no Escape, no second write), says it is saving when the write
    takes a while, and closes over the reloaded page, so no frame shows the page before the write."""
    held = HeldWrite(tui_service)
    monkeypatch.setattr(tui_service, "triage_failures", held)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen, target, dialog = await resolve_held(pilot, held)
        await pilot.press("escape", "enter")  # neither cancels the write nor starts a second one
        await pilot.pause(SubmitDialog.SAY_AFTER_S + 0.1)
        assert app.screen is dialog and dialog.working
        assert str(dialog.query_one("#prompt-error", Label).render()) == "saving…"
        assert target.id in shown_ids(screen) and not failure(target.id).resolved
        held.release.set()
        await settle(pilot)
        assert app.screen is screen and len(held.calls) == 1
        assert failure(target.id).resolved and target.id not in shown_ids(screen)


async def test_a_note_dialog_under_another_screen_closes_when_shown_again(make_app: Any, tui_service: EngineService,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The write answers while the command palette is open over the note dialog: the palette stays, and the dialog
    closes when the palette does (dismissing it then would have popped the palette instead)."""
    held = HeldWrite(tui_service)
    monkeypatch.setattr(tui_service, "triage_failures", held)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen, target, dialog = await resolve_held(pilot, held)
        await pilot.press("ctrl+p")
        await pilot.pause()
        palette = app.screen
        assert palette is not dialog and dialog in app.screen_stack
        held.release.set()
        await settle(pilot)
        assert app.screen is palette and dialog in app.screen_stack  # the answer did not pop the palette
        assert failure(target.id).resolved and target.id not in shown_ids(screen)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen and dialog not in app.screen_stack
