"""The dashboard (SPEC §8, seed §6.3/§6.7): the 7 KPI cards and the panels behind them, at one as-of date.

Everything shown comes from one snapshot of the service (cards, panels, jobs), loaded by the screen's one thread
worker and rendered from a DashboardLoaded message (the convention of ``screens.loading``). The app's
``data_version`` (Refresh, writes, jobs, demo steps) and ``as_of`` reload it; the next poll follows each render.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import DataTable, Label, ProgressBar, TabbedContent, TabPane

from praf_engine.service import DashboardSnapshot, SchedulerState
from praf_tui.messages import DashboardLoaded, LoadFailed
from praf_tui.screens.loading import LoadingScreen
from praf_tui.widgets.cards import KpiCardView, SummaryBar
from praf_tui.widgets.dialogs import ConfirmDialog, DatePrompt
from praf_tui.widgets.header import PrafHeader
from praf_tui.widgets.keybar import KeyBar
from praf_tui.widgets.panels import (
    ChecksView,
    FetchView,
    JobsTable,
    JobsView,
    Panel,
    SymbolTable,
    Table,
    TimelinessView,
    UniversePanel,
)
from praf_tui.widgets.progress import RunningJobs

FIRST_PAINT_WAIT_S = 0.25  # at most this long the dashboard's first paint waits for the start's forked reads (once)
PANELS = (("universe", "1 Universe"), ("timeliness", "2 Timeliness"), ("completeness", "3 Completeness"),
          ("quality", "4 Quality"), ("fetch", "5 Fetch"), ("jobs", "6 Jobs"))
PANEL_HELP = {
    "universe": "Universe Health: new vs delisted listings per month",
    "timeliness": "Data Timeliness: days-behind histogram and the lagging listings",
    "completeness": "Completeness & Integrity: missing dates and null fields",
    "quality": "Volume & Price Quality: zero volume, price jumps, OHLC, duplicates, units, shifted dates, stale prices",
    "fetch": "Fetch Errors & API Health: last night's errors, 30-night latency and errors",
    "jobs": "Jobs: the last run of each job and the latest runs; R reruns a job",
}


def panel_view(key: str) -> Panel:
    """The view of panel ``key`` (a new widget)."""
    if key == "completeness":
        return ChecksView("Completeness & Integrity", id="completeness-view")
    if key == "quality":
        return ChecksView("Volume & Price Quality", id="quality-view")
    return {"universe": UniversePanel, "timeliness": TimelinessView, "fetch": FetchView, "jobs": JobsView}[key]()


class DashboardScreen(LoadingScreen):
    """KPI cards on top, the panels in tabs below; ``data`` is the last snapshot shown (None until the first)."""

    AUTO_FOCUS = "KpiCardView"
    BINDINGS = [
        Binding("left_square_bracket", "shift_day(-1)", "Day -1", key_display="[",
                tooltip="Show the data as of the previous day", id="dashboard.day_back"),
        Binding("right_square_bracket", "shift_day(1)", "Day +1", key_display="]",
                tooltip="Show the data as of the next day", id="dashboard.day_forward"),
        Binding("a", "ask_as_of", "As-of", tooltip="Type the as-of date (YYYY-MM-DD; empty: today)", id="dashboard.as_of"),
        Binding("R", "rerun_job", "Rerun job", key_display="R",
                tooltip="Jobs panel: rerun the job under the cursor now (asks to confirm)", id="dashboard.rerun_job"),
        Binding("L", "open_log", "Log of run", key_display="L", show=False, tooltip="The log of the run under the cursor (Latest "
                "runs), or of the job's runs (Jobs)", id="dashboard.log"),
        Binding("U", "universe", "Universe detail", key_display="U", show=False, tooltip="The listings behind the universe panel: "
                "new, delisted, relisted in a month, per exchange (Enter on a month opens it too)", id="dashboard.universe"),
        Binding("escape", "focus_cards", "Cards", show=False, tooltip="Put the focus back on the KPI cards",
                id="dashboard.cards"),
        *(Binding(str(i), f"panel('{key}')", title, show=False, tooltip=PANEL_HELP[key], id=f"dashboard.panel_{key}")
          for i, (key, title) in enumerate(PANELS, 1)),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.data: DashboardSnapshot | None = None
        self._ready = {PANELS[0][0]}  # the tabs whose view is mounted (composed with the screen: the first)

    def compose(self) -> ComposeResult:
        yield PrafHeader(show_clock=False)
        if self.praf.demo is not None:  # `praf-tui --demo` only: its bar is 5 of the screen's 47 widgets
            with Horizontal(id="demo"):
                yield Label("", id="demo-step")
                yield ProgressBar(total=1, show_eta=False, id="demo-progress")
        yield SummaryBar()
        with TabbedContent(id="panels"):
            for index, (key, title) in enumerate(PANELS):
                with TabPane(title, id=key):
                    if index == 0:  # the tab shown first; the others are mounted when first shown
                        yield panel_view(key)
        yield KeyBar()

    def on_mount(self) -> None:
        self.sub_title = f"as of {self._as_of_text()} · loading…"
        self.watch(self.app, "data_version", self.reload_if_changed, init=False)
        self.watch(self.app, "as_of", self.reload_if_changed, init=False)
        self.watch(self.app, "scheduler", self._show_running, init=True)
        self.app.theme_changed_signal.subscribe(self, self._retheme)
        # the reads praf-tui's start forked off (ADR 0017), if the child answers within FIRST_PAINT_WAIT_S: drawn before
        # the screen's first paint, which would otherwise lay out and paint every widget empty (~30 ms of a busy
        # start) only to paint them again, and the header's line a few frames later
        service = self.praf.service
        deadline = time.monotonic() + FIRST_PAINT_WAIT_S
        first = service.prefetched_dashboard(self.praf.effective_as_of(), wait_s=FIRST_PAINT_WAIT_S)
        state = service.prefetched_scheduler(max(0.0, deadline - time.monotonic())) if first is not None else None
        self.praf.start_header(state)
        if first is None:
            self.reload()
            return
        self._show_demo()
        self._show(first)
        self.app.post_message(DashboardLoaded(first))  # what the app keeps of a load (it bubbles there otherwise)

    # Loading -------------------------------------------------------------------------------------
    def load(self) -> None:
        self._show_demo()
        self._load(self.praf.effective_as_of())

    @work(thread=True, exclusive=True, group="dashboard-load")
    def _load(self, as_of: dt.date) -> None:
        try:
            snapshot = self.praf.service.dashboard_snapshot(as_of)
        except Exception as exc:  # noqa: BLE001 - shown, never crashes the dashboard
            self.send_failure(exc)
        else:
            self.send(DashboardLoaded(snapshot))

    def on_dashboard_loaded(self, message: DashboardLoaded) -> None:
        self._show(message.snapshot)

    def _show(self, snapshot: DashboardSnapshot) -> None:
        self.data = snapshot
        self._draw(snapshot)
        self.loaded()

    def on_load_failed(self, message: LoadFailed) -> None:
        self.notify(f"[{message.code}] {message.msg}", title="Dashboard", severity="error")
        self.loaded()

    def _draw(self, data: DashboardSnapshot) -> None:
        summary = data.summary
        qa = summary.qa_date.isoformat() if summary.qa_date else "none"
        night = summary.fetch_night.isoformat() if summary.fetch_night else "none"
        self.sub_title = f"as of {self._as_of_text(data.as_of)} · QA {qa} · night {night}"
        self.query_one(SummaryBar).show(data.cards)
        self._draw_panel(self.query_one("#panels", TabbedContent).active, data)

    def _draw_panel(self, key: str, data: DashboardSnapshot) -> None:
        """Draw the panel in tab ``key`` only: the hidden ones are drawn when their tab is shown. Filling the tables
        of every hidden tab (~1,000 rows on 6,000 symbols, measured cell by cell by DataTable) made the first
        dashboard 0.36 s slower; a panel whose data did not change is left alone (``Panel.unchanged``). A tab whose view
        is still being mounted is drawn once it is (``_mount_panel``)."""
        if key not in self._ready:
            return
        if key == "universe":
            self.query_one(UniversePanel).show(data.universe, data.summary.total_active)
        elif key == "timeliness":
            self.query_one(TimelinessView).show(data.timeliness, data.summary.total_active)
        elif key == "completeness":
            self.query_one("#completeness-view", ChecksView).show(data.completeness)
        elif key == "quality":
            self.query_one("#quality-view", ChecksView).show(data.quality)
        elif key == "fetch":
            fetch_rule = next((c.threshold for c in data.cards if c.key == "fetch_errors"), "")
            self.query_one(FetchView).show(data.fetch, fetch_rule)
        elif key == "jobs":
            self.query_one(JobsView).show(data.jobs, data.runs)

    def _show_running(self, state: SchedulerState | None = None) -> None:
        """The Jobs panel's progress bars, from the app's last scheduler state (its own poll)."""
        for running in self.query("#jobs-running").results(RunningJobs):  # none until the Jobs tab is first shown
            running.show(state.running if state is not None else ())

    def _retheme(self, _theme: Any = None) -> None:
        """Table cells carry colours resolved from the theme: draw them again in the new one."""
        for panel in self.query(Panel):
            panel.forget()
        if self.data is not None:
            self._draw(self.data)

    def _as_of_text(self, as_of: dt.date | None = None) -> str:
        day = as_of or self.praf.effective_as_of()
        return day.isoformat() if self.praf.as_of is not None else f"today ({day.isoformat()})"

    def _show_demo(self) -> None:
        """`praf-tui --demo`: a one-line progress bar while the pipeline steps run."""
        app = self.praf
        if app.demo is None:
            return
        running = not app.demo_done
        self.query_one("#demo").set_class(running, "-running")
        if running:
            index, total, step = app.demo_status
            self.query_one("#demo-step", Label).update(Content(f"demo: step {min(index + 1, total)}/{total} {step}…"))
            self.query_one("#demo-progress", ProgressBar).update(total=max(total, 1), progress=index)

    # Actions -------------------------------------------------------------------------------------
    def action_shift_day(self, days: int) -> None:
        self.praf.as_of = self.praf.effective_as_of() + dt.timedelta(days=days)

    def action_ask_as_of(self) -> None:
        def chosen(text: str | None) -> None:
            if text is None:
                return
            self.praf.as_of = dt.date.fromisoformat(text) if text else None

        self.app.push_screen(DatePrompt("As-of date", self.praf.as_of), chosen)

    async def action_panel(self, key: str) -> None:
        """Show a panel and put the focus on its first table (Enter, arrows and R act on it)."""
        await self._mount_panel(key)
        self.query_one("#panels", TabbedContent).active = key
        table = self.query_one(f"TabPane#{key}").query(DataTable).first()
        self.call_after_refresh(table.focus)
        self.refresh_bindings()

    def action_focus_cards(self) -> None:
        bar = self.query_one(SummaryBar)
        if not any(view.has_focus for view in bar.query(KpiCardView)):
            bar.query(KpiCardView).first().focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("rerun_job", "open_log"):
            return self.query_one("#panels", TabbedContent).active == "jobs"
        return True

    def action_open_log(self) -> None:
        focused = self.focused
        if isinstance(focused, Table) and focused.id == "runs-table" and focused.cursor_key():
            self.praf.open_logs(focused.cursor_key())
        elif isinstance(focused, JobsTable) and focused.cursor_key():
            self.praf.open_logs(job=focused.cursor_key())
        else:
            self.praf.open_logs()

    def action_rerun_job(self) -> None:
        name = self.query_one(JobsTable).cursor_key()
        if not name:
            self.notify("no job under the cursor", title="Jobs", severity="warning")
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.praf.request_job(name)

        self.app.push_screen(ConfirmDialog(f"Rerun job {name} now?"), confirmed)

    # Events --------------------------------------------------------------------------------------
    @on(KpiCardView.Opened)
    async def _open_card_panel(self, event: KpiCardView.Opened) -> None:
        await self.action_panel(event.card.panel)

    def action_universe(self, month: str | None = None) -> None:
        from praf_tui.screens.universe import UniverseScreen

        self.app.push_screen(UniverseScreen(month))

    @on(TabbedContent.TabActivated)
    async def _tab_changed(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id:
            await self._mount_panel(event.pane.id)
            if self.data is not None:
                self._draw_panel(event.pane.id, self.data)
        self.refresh_bindings()

    async def _mount_panel(self, key: str) -> None:
        """Mount the view of tab ``key`` the first time it is shown: the five hidden tabs' ~35 widgets (tables, charts)
        were 50 ms of the dashboard's start (bench/tui.py)."""
        pane = self.query_one(f"TabPane#{key}", TabPane)
        if not pane.children:
            await pane.mount(panel_view(key))
            self._ready.add(key)
            if key == "jobs":
                self._show_running(self.praf.scheduler)
            if self.data is not None and self.query_one("#panels", TabbedContent).active == key:
                self._draw_panel(key, self.data)

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        table = event.data_table
        if table.id == "universe-table" and event.row_key.value:
            self.action_universe(str(event.row_key.value))
        elif isinstance(table, SymbolTable):
            symbol = table.symbol_of(event.row_key.value)
            if symbol:
                self.praf.open_symbol(symbol)
