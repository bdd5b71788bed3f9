"""Keys are data: every binding has an id, tui.keymap remaps bindings by id (the app's, a screen's, a widget's),
the help screen and the footer show the keys in force, and an unknown id stops the start with CONFIGBAD."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable

from praf_engine.sandbox.fixture_home import FIXTURE_AS_OF
from praf_engine.service import EngineService, PipelineError, load_settings
from praf_tui.app import PrafApp
from praf_tui.cli import main
from praf_tui.keys import binding_ids, binding_owners, declared
from praf_tui.screens.dashboard import DashboardScreen
from praf_tui.screens.help import HelpScreen
from praf_tui.screens.triage import TriageScreen
from praf_tui.widgets.cards import KpiCardView
from tests.tui.conftest import settle
from tests.tui.triage_pilot import OPEN, shown_ids


def _service(home: Path, keymap: dict[str, str]) -> EngineService:
    return EngineService.open(load_settings(home=str(home), overrides={("tui", "keymap"): keymap}, environ={}))


def test_every_binding_has_a_unique_id_named_after_its_owner() -> None:
    seen: dict[str, str] = {}
    for _, cls in binding_owners():
        for binding in declared(cls):
            assert binding.id, f"{cls.__name__}: {binding.key} → {binding.action} has no id"
            assert binding.id not in seen, f"{binding.id} used by {seen[binding.id]} and {cls.__name__}"
            seen[binding.id] = cls.__name__
    assert {"app.triage", "triage.resolve", "dashboard.rerun_job", "confirm.yes", "cards.open_panel"} <= set(seen)
    assert set(binding_ids()) == set(seen)


async def test_the_keymap_remaps_app_screen_and_widget_bindings(fixture_home: Path) -> None:
    keymap = {"app.triage": "w", "triage.resolve": "z", "cards.next": "l", "app.help": "f1"}
    service = _service(fixture_home, keymap)
    try:
        first = service.failures(**OPEN, limit=1).rows[0]
        app = PrafApp(service, as_of=FIXTURE_AS_OF, who="tester", refresh_s=0)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            assert isinstance(app.focused, KpiCardView) and app.focused.key == "total_active"
            await pilot.press("right")  # the card's binding moved to l
            assert app.focused.key == "total_active"
            await pilot.press("l")
            assert app.focused.key == "new_30d"
            await pilot.press("t")  # no longer bound
            await settle(pilot)
            assert isinstance(app.screen, DashboardScreen)
            await pilot.press("w")
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, TriageScreen) and shown_ids(screen)[0] == first.id
            await pilot.press("r")  # resolve moved to z: r does nothing
            await pilot.pause()
            assert app.screen is screen
            await pilot.press("z")
            await pilot.pause()
            await pilot.press("enter")  # the note dialog: no note
            await settle(pilot)
            assert service.failures(resolved=True, limit=5).rows[0].id == first.id
            await pilot.press("f1")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            table = app.screen.query_one(DataTable)
            keys = {str(table.get_row_at(i)[1]): str(table.get_row_at(i)[0]) for i in range(table.row_count)}
            assert keys["Resolve"] == "z" and keys["Triage"] == "w" and keys["Help"] == "f1"
    finally:
        service.close()


def test_an_unknown_binding_id_is_configbad(fixture_home: Path, capsys: Any) -> None:
    service = _service(fixture_home, {"triage.resolve": "z", "triage.reslove": "y"})
    try:
        with pytest.raises(PipelineError) as err:
            PrafApp(service, as_of=FIXTURE_AS_OF, who="tester", refresh_s=0)
        assert err.value.error_code == "CONFIGBAD" and "triage.reslove" in err.value.msg
        assert err.value.detail == {"unknown": ["triage.reslove"]}
    finally:
        service.close()
    (fixture_home / "settings.toml").write_text('[tui.keymap]\n"app.nothing" = "x"\n')
    assert main(["--home", str(fixture_home), "--refresh", "0"]) == 2
    assert "[CONFIGBAD]" in capsys.readouterr().err
