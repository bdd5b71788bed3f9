"""The app shell: modes, symbol prompt, help generated from the bindings, command palette, refresh, quit, --demo."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from textual.command import CommandPalette
from textual.widgets import DataTable, Input

from praf_engine.demo import DemoSession
from praf_engine.service import EngineService
from praf_tui.app import PrafApp
from praf_tui.cli import main
from praf_tui.screens.dashboard import DashboardScreen
from praf_tui.screens.help import HelpScreen
from praf_tui.screens.symbol import SymbolScreen
from praf_tui.screens.triage import TriageScreen
from praf_tui.widgets.dialogs import PromptDialog
from tests.conftest import REPO
from tests.tui.conftest import settle


async def _settle(app: PrafApp, pilot) -> None:
    await settle(pilot)


async def test_modes_symbol_prompt_refresh_and_quit(make_app, tui_service: EngineService) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await _settle(app, pilot)
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("t")
        await _settle(app, pilot)
        assert isinstance(app.screen, TriageScreen)
        await pilot.press("d")
        await _settle(app, pilot)
        assert isinstance(app.screen, DashboardScreen)
        version = app.data_version
        await pilot.press("ctrl+r")
        assert app.data_version == version + 1
        symbol = tui_service.failures(limit=1).rows[0].symbol
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, PromptDialog)
        await pilot.press("escape")  # cancelled: nothing opens
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("s")
        await pilot.pause()
        await pilot.press("enter")  # empty is refused, the dialog stays
        await pilot.pause()
        assert isinstance(app.screen, PromptDialog)
        app.screen.query_one(Input).value = symbol.lower()
        await pilot.press("enter")
        await _settle(app, pilot)
        assert isinstance(app.screen, SymbolScreen) and app.screen.symbol.upper() == symbol
        await pilot.press("q")
    assert app.return_code == 0


async def test_help_lists_every_described_binding_of_the_screen(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await _settle(app, pilot)
        await pilot.press("t")
        await _settle(app, pilot)
        triage = app.screen
        expected = {b.binding.description for b in triage.active_bindings.values() if b.binding.description}
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one(DataTable)
        shown = {str(table.get_row_at(i)[1]) for i in range(table.row_count)}
        assert expected <= shown and {"Dashboard", "Triage", "Quit"} <= shown
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is triage


async def test_command_palette_offers_every_action_and_every_job(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _settle(app, pilot)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Run job: fetch", "Run job: qa", "Run job: scrape"} <= titles
        assert any(t.startswith("Triage") for t in titles) and any(t.startswith("Help") for t in titles)
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"triage")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await _settle(app, pilot)
        assert isinstance(app.screen, TriageScreen)


async def test_demo_runs_the_chain_and_ends_in_the_dashboard_with_findings(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    overrides = {("sandbox", "size"): 60, ("sandbox", "today"): dt.date(2025, 6, 6),
                 ("sandbox", "fault_rates"): {"zero_volume": 0.2, "null_field": 0.1}}
    with DemoSession(str(tmp_path / "demo"), overrides) as session:
        for job in (j.name for j in session.service.scheduler_state().jobs):
            session.service.pause_job(job)  # the scheduler's catch-up then records skips instead of running the jobs again
        app = PrafApp(session.service, as_of=session.as_of() or dt.date(2025, 6, 9), who="tester", refresh_s=0, demo=session,
                      with_scheduler=True)  # as `make demo` starts it
        async with app.run_test(size=(80, 24)) as pilot:
            await _settle(app, pilot)
            assert app.demo_done and app.demo_status[0] == app.demo_status[1] == len(session.steps)
            assert isinstance(app.screen, DashboardScreen)
            cards = {c.key: c.count for c in session.service.dashboard_snapshot(app.as_of).cards}
            assert cards["total_active"] > 40
            assert session.service.failures(resolved=False, limit=1).total > 0  # real findings to triage
            # the demo ends with the home's scheduler running in the dashboard, started once the steps were done
            assert await asyncio.to_thread(app.scheduler_ready.wait, 30)
            await pilot.press("ctrl+r")
            await _settle(app, pilot)
            state = app.scheduler
            assert state is not None and state.live and state.beat.mode == "tui" and state.beat.pid == os.getpid()
            line = str(app.screen.query_one("#scheduler-status").render())
            assert line.startswith(f"scheduler: running on {state.beat.host} (in this dashboard), next: ")
            demo_runs = [r for r in session.service.dashboard_snapshot(app.as_of).runs if r.trigger == "demo"]
            assert demo_runs and state.beat.started_at >= max(r.finished_at for r in demo_runs)
            await pilot.press("q")
        assert await asyncio.to_thread(app.stop_scheduler, 60)
        assert session.service.scheduler_state().beat.stopped_at is not None


def test_main_refuses_a_bad_home_with_its_code(tmp_path: Path, capsys) -> None:
    (tmp_path / "settings.toml").write_text("[fetch]\nbatch_size = -1\n")
    assert main(["--home", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "[CONFIGBAD]" in err and "fetch.batch_size" in err


def test_praf_tui_help_runs_as_a_module() -> None:
    out = subprocess.run([sys.executable, "-m", "praf_tui", "--help"], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.returncode == 0 and "--demo" in out.stdout


async def test_a_fresh_empty_home_renders_every_screen(tmp_path: Path, monkeypatch) -> None:
    """A new operator's first start: no tickers, no runs, no QA — every panel, triage and help still render."""
    from praf_engine.service import load_settings

    monkeypatch.delenv("DATABASE_URL", raising=False)
    service = EngineService.open(load_settings(home=str(tmp_path / "empty"), environ={}))
    try:
        app = PrafApp(service, as_of=dt.date(2025, 6, 9), who="tester", refresh_s=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await _settle(app, pilot)
            for key in ("1", "2", "3", "4", "5", "6", "t", "question_mark", "escape", "d"):
                await pilot.press(key)
                await _settle(app, pilot)
                app.screen._compositor.render_strips()  # draw everything now: a chart that cannot draw raises here
            assert isinstance(app.screen, DashboardScreen)
            await pilot.press("q")
        assert app.return_code == 0
    finally:
        service.close()


async def test_jobs_started_from_the_dashboard_log_to_the_home_with_its_secrets_redacted(tmp_path: Path) -> None:
    """`praf-tui` configures the same JSON log as the CLI: a job run in its process (its --with-scheduler scheduler
    runs jobs there) writes logs/app.jsonl with its run id, and the home's secrets (from its .env) are redacted there."""
    import json

    from praf_engine.cli import main as engine_main
    from praf_engine.logs import configure_logging, get_logger
    from praf_tui.cli import open_service

    home = tmp_path / "home"
    assert engine_main(["--home", str(home), "init"]) == 0
    (home / ".env").write_text("PRAF_NORDVPN_PASSWORD=hunter2-nord-secret\n")
    configure_logging(tmp_path / "elsewhere", console_level=None)  # whatever ran before in this process
    service = open_service(str(home))
    try:
        app = PrafApp(service, refresh_s=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await _settle(app, pilot)
            await asyncio.to_thread(service.run_job, "retention")  # a job of this process (the hosted scheduler's)
            await _settle(app, pilot)
        get_logger("praf_engine.tui_test").warning("connecting with hunter2-nord-secret")
    finally:
        service.close()
    lines = [json.loads(x) for x in (home / "logs" / "app.jsonl").read_text().splitlines()]
    run_ids = {x["run_id"] for x in lines if x["job"] == "retention" and x["run_id"]}
    assert len(run_ids) == 1
    assert "hunter2-nord-secret" not in (home / "logs" / "app.jsonl").read_text()
    assert lines[-1]["msg"] == "connecting with ***"


def test_the_command_line_offers_every_screen_of_the_app() -> None:
    """praf_tui.cli lists the screens without importing Textual (it runs before Textual's imports)."""
    from praf_tui.cli import SCREENS

    assert sorted(SCREENS) == sorted(PrafApp.MODES)
