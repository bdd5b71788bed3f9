"""`praf-tui --screen S --check C`: the command an alert ends with opens the place to act (triage on that check)."""

from __future__ import annotations

from pathlib import Path

from praf_tui.cli import main
from praf_tui.screens.dashboard import DashboardScreen
from praf_tui.screens.triage import TriageScreen
from tests.tui.conftest import settle


async def test_check_opens_triage_filtered_on_it(make_app, tui_service) -> None:
    check = tui_service.failures(limit=1).rows[0].check_name
    app = make_app(check=check)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, TriageScreen)
        assert app.screen.query_state.check == check and app.screen.total > 0
        assert app.screen.total == tui_service.failures(check=check, resolved=False, limit=1).total
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)


async def test_screen_opens_that_mode_unfiltered(make_app) -> None:
    app = make_app(screen="triage")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, TriageScreen) and app.screen.query_state.check is None


def test_an_unknown_check_is_refused_with_the_known_ones(fixture_home: Path, capsys) -> None:
    assert main(["--home", str(fixture_home), "--check", "price_jmp"]) == 1
    err = capsys.readouterr().err
    assert "[QATRIAGE] unknown check 'price_jmp'" in err and "price_jump" in err
