"""The dashboard screen: KPI cards, panels, as-of date, symbol drill-down, job reruns and the demo progress line,
driven by keyboard on the fixture home (real pipeline data), plus snapshots at 80x24 and 120x40."""

from __future__ import annotations

import datetime as dt
import threading
from contextlib import suppress
from typing import Any

import pytest
from textual.widgets import Button, DataTable, Input, Label, ProgressBar, TabbedContent
from textual.worker import WorkerCancelled

from praf_engine.demo import DemoStep, StepResult
from praf_engine.sandbox.fixture_home import FIXTURE_AS_OF
from praf_engine.service import EngineService
from praf_tui.messages import DashboardLoaded
from praf_tui.screens.dashboard import PANELS, DashboardScreen
from praf_tui.screens.symbol import SymbolScreen
from praf_tui.widgets.cards import CARD_KEYS, KpiCardView, format_pct
from praf_tui.widgets.dialogs import ConfirmDialog, DatePrompt
from praf_tui.widgets.panels import JobsTable, SymbolTable


async def settle(app: Any, pilot: Any) -> None:
    """Wait until no worker runs: the dashboard has shown its last load."""
    for _ in range(50):
        with suppress(WorkerCancelled):  # a load superseded by a newer one
            await app.workers.wait_for_complete()
        await pilot.pause()
        if all(w.is_finished for w in app.workers):
            return
    raise AssertionError("the dashboard kept loading")


async def press(app: Any, pilot: Any, *keys: str) -> None:
    await pilot.press(*keys)
    await settle(app, pilot)


def card_figures(app: Any) -> dict[str, tuple[int, float, str]]:
    out = {}
    for view in app.screen.query(KpiCardView):
        assert view.card is not None
        out[view.key] = (view.card.count, view.card.pct_of_universe, view.card.colour)
    return out


def service_figures(service: EngineService, as_of: dt.date | None) -> dict[str, tuple[int, float, str]]:
    return {c.key: (c.count, c.pct_of_universe, c.colour) for c in service.dashboard_snapshot(as_of).cards}


def active_panel(app: Any) -> str:
    return app.screen.query_one("#panels", TabbedContent).active


# Cards ---------------------------------------------------------------------------------------------
async def test_cards_show_the_service_summary_cards(make_app: Any, tui_service: EngineService) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        cards = tui_service.dashboard_snapshot(FIXTURE_AS_OF).cards
        assert [c.key for c in cards] == list(CARD_KEYS)
        for card in cards:
            view = app.screen.query_one(f"#kpi-{card.key}", KpiCardView)
            assert view.card == card
            text = str(view.render())
            assert f"{card.count:,}" in text and format_pct(card.pct_of_universe) in text
            assert view.has_class(f"-{card.colour}")
        assert {c.colour for c in cards} >= {"neutral", "green", "yellow"}
        summary = tui_service.summary(FIXTURE_AS_OF)
        assert app.screen.sub_title == f"as of {FIXTURE_AS_OF} · QA {summary.qa_date} · night {summary.fetch_night}"


async def test_card_and_number_keys_open_panels(make_app: Any, tui_service: EngineService) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert isinstance(app.focused, KpiCardView) and app.focused.key == "total_active"
        await press(app, pilot, "left")  # wraps to the last card
        assert app.focused.key == "price_jumps"
        await press(app, pilot, "right", "right", "right", "right")
        assert app.focused.key == "lag_2d"
        hint = str(app.screen.query_one("#kpi-hint", Label).render())
        lag = next(c for c in tui_service.dashboard_snapshot(FIXTURE_AS_OF).cards if c.key == "lag_2d")
        assert lag.threshold and lag.threshold in hint and lag.label in hint
        for card in tui_service.dashboard_snapshot(FIXTURE_AS_OF).cards:
            app.screen.query_one(f"#kpi-{card.key}", KpiCardView).focus()
            await pilot.press("enter")
            for _ in range(20):  # the table takes the focus after the next refresh (a slower one under load)
                await pilot.pause()
                if isinstance(app.focused, DataTable):
                    break
            assert active_panel(app) == card.panel
            assert isinstance(app.focused, DataTable)  # the panel's table takes the keyboard
        await pilot.press("escape")
        assert isinstance(app.focused, KpiCardView)
        for number, (key, _) in reversed(list(enumerate(PANELS, 1))):  # 1-6 switch panels too
            await press(app, pilot, str(number))
            assert active_panel(app) == key
            assert app.focused in app.screen.query_one(f"TabPane#{key}").query(DataTable)


# As-of date ----------------------------------------------------------------------------------------
async def test_day_keys_and_the_date_prompt_change_as_of_and_the_figures(make_app: Any, tui_service: EngineService) -> None:
    app = make_app()
    day = dt.timedelta(days=1)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        at_fixture = card_figures(app)
        assert at_fixture == service_figures(tui_service, FIXTURE_AS_OF)
        await press(app, pilot, "left_square_bracket")
        assert app.as_of == FIXTURE_AS_OF - day
        assert card_figures(app) == service_figures(tui_service, FIXTURE_AS_OF - day) != at_fixture  # no QA run yet
        assert app.screen.sub_title.startswith(f"as of {FIXTURE_AS_OF - day} · QA none")
        await press(app, pilot, "right_square_bracket", "right_square_bracket")
        assert app.as_of == FIXTURE_AS_OF + day
        assert card_figures(app) == service_figures(tui_service, FIXTURE_AS_OF + day)

        await press(app, pilot, "a")
        assert isinstance(app.screen, DatePrompt)
        assert app.screen.query_one(Input).value == (FIXTURE_AS_OF + day).isoformat()
        app.screen.query_one(Input).value = ""
        await press(app, pilot, *"junk", "enter")  # refused: the dialog stays
        assert isinstance(app.screen, DatePrompt) and app.as_of == FIXTURE_AS_OF + day
        await press(app, pilot, "escape")
        assert isinstance(app.screen, DashboardScreen) and app.as_of == FIXTURE_AS_OF + day

        await press(app, pilot, "a")
        app.screen.query_one(Input).value = ""
        await press(app, pilot, *"2025-06-06", "enter")
        assert app.as_of == dt.date(2025, 6, 6)
        assert card_figures(app) == service_figures(tui_service, dt.date(2025, 6, 6))

        await press(app, pilot, "a")
        app.screen.query_one(Input).value = ""
        await press(app, pilot, "enter")  # empty: today
        assert app.as_of is None
        assert app.screen.sub_title.startswith(f"as of today ({app.effective_as_of()})")
        assert card_figures(app) == service_figures(tui_service, app.effective_as_of())


# Drill-down ----------------------------------------------------------------------------------------
async def test_panels_list_the_service_rows_and_enter_opens_the_symbol(make_app: Any, tui_service: EngineService) -> None:
    app = make_app()
    snapshot = tui_service.dashboard_snapshot(FIXTURE_AS_OF)
    lagging = snapshot.timeliness.lagging
    quality = snapshot.quality
    errors = snapshot.fetch.errors
    panel = snapshot.completeness
    first_issue = next(issue for name in quality.issues for issue in quality.issues[name])
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert screen.query_one("#universe-table", DataTable).row_count == len(snapshot.universe) == 6
        # a hidden tab's view is mounted and drawn when the tab is first shown (issue 16: the first dashboard builds
        # and fills only the visible one)
        assert not screen.query("#lagging-table") and not screen.query("TabPane#timeliness > *")
        await press(app, pilot, "2")
        assert screen.query_one("#lagging-table", SymbolTable).row_count == len(lagging) > 1
        await press(app, pilot, "5")
        assert screen.query_one("#fetch-errors", SymbolTable).row_count == len(errors) > 1
        await press(app, pilot, "4")
        assert screen.query_one("#quality-view SymbolTable", SymbolTable).row_count == sum(map(len, quality.issues.values()))
        for keys, expected in ((("2",), lagging[0].symbol), (("2", "down"), lagging[1].symbol),
                               (("4",), first_issue.symbol), (("5", "down"), errors[1].symbol)):
            await press(app, pilot, *keys)
            assert isinstance(app.focused, SymbolTable)
            await press(app, pilot, "enter")
            assert isinstance(app.screen, SymbolScreen)
            assert app.screen.symbol == expected
            app.pop_screen()
            await settle(app, pilot)
            assert isinstance(app.screen, DashboardScreen)
        # the completeness panel: counts per check and every issue of the QA date
        await press(app, pilot, "3")
        table = app.focused
        assert isinstance(table, SymbolTable)
        assert table.row_count == sum(len(v) for v in panel.issues.values()) > 0
        counts = str(app.screen.query_one("#completeness-view .check-counts").render())
        for name, count in panel.counts.items():
            assert name in counts and str(count) in counts
        await press(app, pilot, *["down"] * (table.row_count - 1), "enter")
        assert app.screen.symbol == panel.issues["null_fields"][-1].symbol


# Jobs ----------------------------------------------------------------------------------------------
async def test_shift_r_reruns_the_selected_job_after_confirmation(make_app: Any, tui_service: EngineService) -> None:
    """R asks, then hands the run to the home's scheduler (a job_requests row it starts within 2 s), so the job outlives
    this session; nothing runs inside the dashboard."""
    from praf_engine.db.models import JobRequest, SchedulerBeat, utcnow

    now = utcnow()  # a daemon elsewhere, beating now
    SchedulerBeat.create(name="scheduler", pid=4242, host="praf-box", version="1.0", mode="daemon", started_at=now, beat_at=now)
    app = make_app()
    jobs = [j.name for j in tui_service.dashboard_snapshot(FIXTURE_AS_OF).jobs]
    before = tui_service.dashboard_snapshot(FIXTURE_AS_OF).runs
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await press(app, pilot, "R")  # not on the Jobs panel: nothing happens
        assert isinstance(app.screen, DashboardScreen)
        await press(app, pilot, "6")
        table = app.screen.query_one(JobsTable)
        assert app.focused is table
        assert [str(table.get_row_at(i)[0]) for i in range(table.row_count)] == jobs
        table.move_cursor(row=jobs.index("qa"))
        await press(app, pilot, "R")
        assert isinstance(app.screen, ConfirmDialog) and app.screen.question == "Rerun job qa now?"
        assert isinstance(app.focused, Button) and app.focused.id == "confirm-no"  # a stray Enter declines
        await press(app, pilot, "escape")  # declined
        await press(app, pilot, "R", "enter")  # declined with the focused No button
        await press(app, pilot, "R", "n")  # declined
        assert JobRequest.select().count() == 0 and isinstance(app.screen, DashboardScreen)
        await press(app, pilot, "R", "y")
        request = JobRequest.get()
        assert (request.job, request.status, request.options) == ("qa", "pending", {})
        assert request.requested_by.startswith("tui:")
        assert any("job qa requested: the scheduler starts it" in str(n.message) for n in app._notifications)
        assert tui_service.dashboard_snapshot(FIXTURE_AS_OF).runs == before  # nothing ran in this process


# Refresh and demo ----------------------------------------------------------------------------------
async def test_refresh_reloads_after_a_write_and_loads_never_overlap(make_app: Any, tui_service: EngineService) -> None:
    app = make_app()
    loaded: dict[int, DashboardLoaded] = {}  # each message once (the screen handles it, then the app)

    def hook(message: Any) -> None:
        if isinstance(message, DashboardLoaded):
            loaded[id(message)] = message

    async with app.run_test(size=(80, 24), message_hook=hook) as pilot:
        await settle(app, pilot)
        jumps = tui_service.failures(check="price_jump", date=tui_service.summary(FIXTURE_AS_OF).qa_date, limit=100).rows
        before = app.screen.query_one("#kpi-price_jumps", KpiCardView).card.count
        assert before == len({r.symbol for r in jumps}) > 0
        tui_service.triage_failures([jumps[0].id], "false_positive", "test", "tester")
        screen = app.screen
        loaded.clear()
        screen.reload()  # a second load while one is in flight replaces it: only the newer one is shown
        first = next(w for w in app.workers if w.group == "dashboard-load" and not w.is_finished)
        screen.reload()
        loads = [w for w in app.workers if w.group == "dashboard-load" and w is not first]
        assert first.is_cancelled and len(loads) == 1 and not loads[0].is_cancelled
        await settle(app, pilot)
        assert len(loaded) == 1 and all(w.is_finished for w in app.workers)
        assert app.snapshot is screen.data is next(iter(loaded.values())).snapshot
        await press(app, pilot, "ctrl+r")
        assert app.screen.query_one("#kpi-price_jumps", KpiCardView).card.count == before - 1
        assert card_figures(app) == service_figures(tui_service, FIXTURE_AS_OF)


async def test_the_next_poll_is_scheduled_only_after_the_render(make_app: Any, tui_service: EngineService) -> None:
    """fetch → render → timer: while a load is in flight no poll is waiting; once it is shown, one is."""
    import threading

    release = threading.Event()

    class SlowService:  # the real service, with a dashboard snapshot that waits until the test lets it go
        settings = tui_service.settings

        def __getattr__(self, name: str) -> Any:
            return getattr(tui_service, name)

        def dashboard_snapshot(self, as_of: dt.date | None = None) -> Any:
            release.wait(30)
            return tui_service.dashboard_snapshot(as_of)

    from praf_tui.app import PrafApp

    app = PrafApp(SlowService(), as_of=FIXTURE_AS_OF, who="tester", refresh_s=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DashboardScreen) and screen.data is None
        assert screen._poll is None  # noqa: SLF001 - loading: nothing scheduled yet
        release.set()
        await settle(app, pilot)
        assert screen.data is not None and screen._poll is not None  # noqa: SLF001
        waiting = screen._poll  # noqa: SLF001
        screen.reload()  # a reload drops the waiting poll; the next one follows its render
        assert screen._poll is None  # noqa: SLF001
        await settle(app, pilot)
        assert screen._poll is not None and screen._poll is not waiting  # noqa: SLF001


class _GatedDemo:
    """The demo's steps as the app sees them (names, run_step), each held until the test lets it finish."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.steps = [DemoStep(name, name, lambda service, sandbox: {}, order) for order, name in enumerate(names)]
        self.gates = [threading.Event() for _ in names]

    def run_step(self, step: DemoStep) -> StepResult:
        self.gates[self.steps.index(step)].wait(30)
        return StepResult(step.name, True, {}, None, 0.0)


async def test_demo_progress_line_follows_the_demo_status(make_app: Any) -> None:
    plain = make_app()
    async with plain.run_test(size=(80, 24)) as pilot:
        await settle(plain, pilot)
        assert not plain.screen.query("#demo")  # no demo: no progress line composed
    demo = _GatedDemo(("init", "scrape", "fetch", "qa"))
    app = make_app(demo=demo)
    async with app.run_test(size=(80, 24)) as pilot:
        line = app.screen.query_one("#demo")
        bar = app.screen.query_one("#demo-progress", ProgressBar)
        for done in (1, 2):
            demo.gates[done - 1].set()
            for _ in range(100):
                await pilot.pause()
                if app.demo_status[0] == done and bar.progress == done:
                    break
            assert line.has_class("-running") and line.display
            assert (bar.progress, bar.total) == (done, 4)
            assert f"step {done + 1}/4 {demo.steps[done].name}" in str(app.screen.query_one("#demo-step", Label).render())
        for gate in demo.gates[2:]:
            gate.set()
        for _ in range(100):
            await pilot.pause()
            if app.demo_done and not line.has_class("-running"):
                break
        assert app.demo_done and not line.has_class("-running") and not line.display


# Snapshots -----------------------------------------------------------------------------------------
def _settled(*keys: str) -> Any:
    async def run_before(pilot: Any) -> None:
        await settle(pilot.app, pilot)
        for key in keys:
            await press(pilot.app, pilot, key)

    return run_before


def test_snapshot_dashboard_80x24(make_app: Any, snap_compare: Any) -> None:
    assert snap_compare(make_app(), run_before=_settled(), terminal_size=(80, 24))


def test_snapshot_dashboard_120x40(make_app: Any, snap_compare: Any) -> None:
    assert snap_compare(make_app(), run_before=_settled("right", "right", "right"), terminal_size=(120, 40))


@pytest.mark.parametrize("number", range(1, len(PANELS) + 1), ids=[key for key, _ in PANELS])
def test_snapshot_panel_120x40(make_app: Any, snap_compare: Any, number: int) -> None:
    assert snap_compare(make_app(), run_before=_settled(str(number)), terminal_size=(120, 40))
