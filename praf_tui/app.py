"""`praf-tui`: the Textual dashboard. Reaches the engine only through `praf_engine.service` (typed as EngineAPI).

The app holds the service, the as-of date, a data version and the dashboard's last snapshot. Screens watch
``data_version`` and reload when it changes (Refresh, a triage action, a job, a demo step) and when ``as_of``
changes; each screen polls on its own after each render (``screens.loading``). Every service call happens in a
thread worker: input never waits on the database. Keys can be remapped by binding id (``tui.keymap``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import importlib
import sys
import threading
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import get_current_worker

from praf_engine.service import (
    DashboardSnapshot,
    DemoAPI,
    EngineAPI,
    EngineService,
    LogQuery,
    PipelineError,
    SchedulerState,
    redact,
    start_demo,
)
from praf_tui.keys import check_keymap
from praf_tui.messages import (
    ActionFailed,
    DashboardLoaded,
    DemoStepFinished,
    JobRequested,
    SchedulerHostEnded,
    SchedulerLoaded,
    SchedulerPollFailed,
)
from praf_tui.screens.dashboard import DashboardScreen
from praf_tui.start import RESUME_AFTER_S, collector_paused, resume_collector
from praf_tui.stylesheet import ReusingStylesheet
from praf_tui.widgets.dialogs import PromptDialog

ANSI_THEME = "ansi-dark"


def _lazy(module: str, name: str) -> Callable[[], Screen[Any]]:
    """A mode's screen, its module imported when the mode is first shown: the start imports only the dashboard's
    (the other screens' modules were 50 ms of a start, bench/tui.py)."""

    def make() -> Screen[Any]:
        return getattr(importlib.import_module(f"praf_tui.screens.{module}"), name)()

    return make


class PrafApp(App[None]):
    """The dashboard. Receives its engine service in the constructor; never opens the database itself."""

    CSS_PATH = "app.tcss"
    TITLE = "PRAF"
    SUB_TITLE = "daily stock-data pipeline"
    MODES = {"dashboard": DashboardScreen, "triage": _lazy("triage", "TriageScreen"),
             "scheduler": _lazy("scheduler", "SchedulerScreen"), "alerts": _lazy("alerts", "AlertsScreen"),
             "checks": _lazy("checks", "ChecksScreen")}
    DEFAULT_MODE = "dashboard"
    BINDINGS = [
        Binding("d", "switch_mode('dashboard')", "Dashboard", tooltip="KPI cards and the panels behind them", id="app.dashboard"),
        Binding("t", "switch_mode('triage')", "Triage", tooltip="The QA failures list: filter, resolve, reopen", id="app.triage"),
        Binding("j", "switch_mode('scheduler')", "Scheduler", tooltip="Every job: last and next run, gate, paused, "
                "progress; run now, pause/resume, stop", id="app.scheduler"),
        Binding("l", "switch_mode('alerts')", "Alerts", tooltip="The alert outbox (pending, sent, muted, failed), the mutes; "
                "mute, unmute, send a test alert", id="app.alerts"),
        Binding("k", "switch_mode('checks')", "Checks", tooltip="The QA checks: severity, enabled, thresholds; edit one "
                "with a preview of the failures it adds and removes; the history of changes", id="app.checks"),
        Binding("L", "open_logs", "Logs", key_display="L", show=False, tooltip="The log (logs/app.jsonl and its rotated files): "
                "filter by run, level, job, error code, text; follow a running job", id="app.logs"),
        Binding("s", "ask_symbol", "Symbol", tooltip="Open one listing: chart, bars, QA history, fetch state", id="app.symbol"),
        Binding("ctrl+r", "refresh", "Refresh", tooltip="Reload the data now", id="app.refresh"),
        Binding("question_mark", "help", "Help", key_display="?", tooltip="Every key of this screen", id="app.help"),
        Binding("q", "quit", "Quit", tooltip="Leave the dashboard", id="app.quit"),
    ]

    as_of: reactive[dt.date | None] = reactive(None)  # None: today (UTC)
    data_version: reactive[int] = reactive(0)  # bumped whenever the screens should reload
    scheduler: reactive[SchedulerState | None] = reactive(None)  # the last scheduler state (the header's line)
    alerts_pending: reactive[int] = reactive(0)  # alerts still to deliver (the header shows them in red)

    def __init__(self, service: EngineAPI, *, as_of: dt.date | None = None, who: str | None = None,
                 refresh_s: float | None = None, demo: DemoAPI | None = None, ansi: bool = False,
                 screen: str | None = None, check: str | None = None, with_scheduler: bool = False) -> None:
        """A bad ``tui.keymap`` (an unknown binding id) raises CONFIGBAD before anything starts. ``screen`` opens that
        mode first; ``check`` opens triage filtered on that QA check (the command an alert ends with).
        ``with_scheduler``: run the home's scheduler in a worker thread (after the demo's steps, with a demo) unless
        another scheduler holds the home; it stops when the app ends."""
        super().__init__()
        self.stylesheet = ReusingStylesheet(variables=self.get_css_variables())  # no source added yet (App.__init__)
        self.start_mode = screen or ("triage" if check else None)
        self.start_check = check  # taken by the triage screen when it mounts
        self.service = service
        settings = service.settings
        self.set_keymap(check_keymap(settings.tui.keymap))
        self.who = who or settings.dashboard.operator or _user()
        self.refresh_s = settings.dashboard.refresh_s if refresh_s is None else refresh_s  # each screen's poll period
        self.demo = demo  # the demo the entry point started: its steps run when the app starts
        self.demo_done = demo is None
        self.demo_status: tuple[int, int, str] = (0, len(demo.steps), demo.steps[0].name) if demo is not None else (0, 0, "")
        self.snapshot: DashboardSnapshot | None = None  # the dashboard's last load
        self.with_scheduler = with_scheduler
        self.scheduler_stop = threading.Event()  # set when the app ends: the hosted scheduler stops
        self.scheduler_ready = threading.Event()  # set once the hosted scheduler schedules (its lock held, catch-up queued)
        self._scheduler_thread: threading.Thread | None = None
        self._scheduler_poll: Any = None
        self._header_started = False  # the header's first scheduler state asked for (start_header)
        self.set_reactive(PrafApp.as_of, as_of)
        if ansi:
            self.theme = ANSI_THEME

    def on_load(self) -> None:
        """Before the first screen is composed: the header's first scheduler state is loaded meanwhile (the app mounts
        only after its first screen has mounted and painted: started on mount, it came ~40 ms after the dashboard).
        While praf-tui's start reads run in a forked child, the dashboard starts it when it mounts instead, with the
        child's state when it has answered (``start_header``)."""
        if self.service.prefetch_outcome != "running":
            self.start_header()

    def on_mount(self) -> None:
        self.start_header()  # a first screen that did not (another mode first, a failed prefetch)
        if self.start_mode and self.start_mode != self.DEFAULT_MODE:
            self.switch_mode(self.start_mode)
        if self.demo is not None:
            self._run_demo()
        self.watch(self, "data_version", self._data_changed, init=False)
        if collector_paused():  # by the entry point: at the latest now + RESUME_AFTER_S, loaded or not
            self.set_timer(RESUME_AFTER_S, resume_collector, name="collector resume")
        if self.with_scheduler and self.demo_done:
            self.host_scheduler()

    def on_unmount(self) -> None:
        self.scheduler_stop.set()

    def on_dashboard_loaded(self, message: DashboardLoaded) -> None:
        """Bubbled up from the dashboard: keep its snapshot (the command palette lists its jobs, no query)."""
        self.snapshot = message.snapshot
        self.alerts_pending = message.snapshot.alerts_pending

    # Data ------------------------------------------------------------------------------------------
    def action_refresh(self) -> None:
        self.data_version += 1

    def changed(self) -> None:
        """Something was written (triage, job, demo step): every screen reloads."""
        self.data_version += 1

    def effective_as_of(self) -> dt.date:
        return self.as_of or dt.datetime.now(dt.UTC).date()

    # Navigation ------------------------------------------------------------------------------------
    def action_ask_symbol(self) -> None:
        def opened(symbol: str | None) -> None:
            if symbol:
                self.open_symbol(symbol)

        self.push_screen(PromptDialog("Open symbol", "e.g. AAPL, VOD.L, SAP.DE", allow_empty=False), opened)

    def open_symbol(self, symbol: str) -> None:
        from praf_tui.screens.symbol import SymbolScreen

        self.push_screen(SymbolScreen(symbol))

    def action_open_logs(self) -> None:
        self.open_logs()

    def open_logs(self, run_id: str | None = None, *, job: str | None = None, follow: bool = False) -> None:
        """The Logs screen, on one run's lines (or one job's) when given; ``follow`` keeps showing the newest."""
        from praf_tui.screens.logs import LogsScreen

        self.push_screen(LogsScreen(LogQuery(run_id=run_id, job=job), follow=follow))

    def action_help(self) -> None:
        from praf_tui.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(self.screen))

    # Jobs ------------------------------------------------------------------------------------------
    def request_job(self, name: str) -> None:
        """Ask for a run of ``name`` now (run now, rerun, the palette): the home's scheduler starts it, or a detached
        process of its own when none runs, so the job outlives this session. A notification says which."""
        self._request_job(name)

    @work(thread=True, group="jobs")
    def _request_job(self, name: str) -> None:
        try:
            info = self.service.request_job(name)
        except PipelineError as exc:
            self.post_message(ActionFailed(f"job {name}", exc.error_code, redact(exc.msg)))
        else:
            self.post_message(JobRequested(info))

    def on_job_requested(self, message: JobRequested) -> None:
        request = message.request
        where = ("the scheduler starts it" if request.route == "scheduler"
                 else f"runs as process {request.pid}" if request.pid else "runs as a process of its own")
        self.notify(f"job {request.job} requested: {where}", title="Jobs")
        self.changed()

    def on_action_failed(self, message: ActionFailed) -> None:
        self.notify(f"[{message.code}] {message.msg}", title=message.title, severity="error")

    # The scheduler: its state for the header (polled like a screen), and --with-scheduler ----------------
    def start_header(self, state: SchedulerState | None = None) -> None:
        """The header's first scheduler state, once: ``state`` when the caller has it (the start's forked read, taken
        before the first paint), else loaded by the header's worker."""
        if self._header_started:
            return
        self._header_started = True
        if state is None:
            self.reload_scheduler()
        else:
            self.scheduler = state
            self._next_scheduler_poll()

    def _data_changed(self, old: int, new: int) -> None:
        """Written data: the header's state again. Textual also calls this with old == new when it initialises the
        app's reactives (after on_load has started the first load, which that would cancel and start again)."""
        if old != new:
            self.reload_scheduler()

    def reload_scheduler(self, *_: Any) -> None:
        if self._scheduler_poll is not None:
            self._scheduler_poll.stop()
            self._scheduler_poll = None
        self._load_scheduler()

    @work(thread=True, exclusive=True, group="scheduler-state")
    def _load_scheduler(self) -> None:
        try:
            state = self.service.scheduler_state()
        except Exception as exc:  # noqa: BLE001 - the header keeps its last line; the screens report their own failures
            self.log.warning(f"scheduler state not loaded: {type(exc).__name__}: {redact(str(exc))}")
            state = None
        if not get_current_worker().is_cancelled:
            self.post_message(SchedulerLoaded(state) if state is not None else SchedulerPollFailed())

    def on_scheduler_loaded(self, message: SchedulerLoaded) -> None:
        """From the app's poll, or bubbled up from the Scheduler screen: the header shows the newest state."""
        self.scheduler = message.state
        self._next_scheduler_poll()

    def on_scheduler_poll_failed(self, _message: SchedulerPollFailed) -> None:
        self._next_scheduler_poll()

    def _next_scheduler_poll(self) -> None:
        """The next poll after ``refresh_s``, or after 1 s while a job runs (its progress bar moves every second)."""
        if self._scheduler_poll is not None:
            self._scheduler_poll.stop()
        period = self.refresh_s
        if period > 0 and self.scheduler is not None and self.scheduler.running:
            period = min(period, 1.0)
        self._scheduler_poll = self.set_timer(period, self.reload_scheduler, name="scheduler poll") if period > 0 else None

    def host_scheduler(self) -> None:
        """`--with-scheduler`: run the home's scheduler in a thread of its own until the app ends (not a Textual worker:
        it lives as long as the app, and the screens' loads never wait for it). When another scheduler (a daemon,
        another dashboard) holds the home, say so and start none."""
        if self._scheduler_thread is not None:
            return
        self.notify("starting the scheduler in this dashboard", title="Scheduler")
        self._scheduler_thread = threading.Thread(target=self._host_scheduler, name="praf-tui-scheduler")
        self._scheduler_thread.start()

    def _host_scheduler(self) -> None:
        try:
            self.service.run_scheduler(self.scheduler_stop, ready=self.scheduler_ready)
        except PipelineError as exc:
            self.post_message(SchedulerHostEnded(exc.error_code, redact(exc.msg)))
        except Exception as exc:  # noqa: BLE001 - reported, the dashboard goes on
            self.post_message(SchedulerHostEnded("INTERNAL", redact(f"{type(exc).__name__}: {exc}")))
        else:
            self.post_message(SchedulerHostEnded(None, "the scheduler of this dashboard stopped"))

    def stop_scheduler(self, timeout: float | None = None) -> bool:
        """Stop the scheduler this app hosts (if any) and wait for it: its running job gets ``daemon.stop_timeout_s`` to
        finish its batch (then its run is closed INTERRUPTED) and its heartbeat row is marked stopped. True when over."""
        self.scheduler_stop.set()
        thread = self._scheduler_thread
        if thread is not None:
            thread.join(self.service.settings.daemon.stop_timeout_s + 10 if timeout is None else timeout)
        return thread is None or not thread.is_alive()

    def on_scheduler_host_ended(self, message: SchedulerHostEnded) -> None:
        if message.code == "DAEMONRUNNING":
            self.notify(f"not started: {message.msg}", title="Scheduler", severity="warning")
        elif message.code is not None:
            self.notify(f"[{message.code}] {message.msg}", title="Scheduler", severity="error")
        elif not self.scheduler_stop.is_set():
            self.notify(message.msg, title="Scheduler", severity="warning")
        self.reload_scheduler()

    # Demo ------------------------------------------------------------------------------------------
    @work(thread=True, group="demo", exclusive=True)
    def _run_demo(self) -> None:
        demo = self.demo
        assert demo is not None
        for index, step in enumerate(demo.steps, 1):
            result = demo.run_step(step)
            self.post_message(DemoStepFinished(index, len(demo.steps), result))

    def on_demo_step_finished(self, message: DemoStepFinished) -> None:
        result = message.result
        steps = self.demo.steps if self.demo is not None else ()
        following = steps[message.index].name if message.index < len(steps) else "done"
        self.demo_status = (message.index, message.total, following)
        if not result.ok:
            self.notify(f"demo step {result.name} failed: {redact(result.error or '')}", title="Demo", severity="error")
        if message.index == message.total:
            self.demo_done = True
            self.notify("demo ready: press t to triage the findings", title="Demo")
            if self.with_scheduler:
                self.host_scheduler()
        self.changed()

    # Command palette: every binding of the screen and the app, and every job of the last snapshot ----
    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        seen: set[str] = set()
        for key, active in screen.active_bindings.items():
            binding, node = active.binding, active.node
            if not binding.description or binding.action in seen:
                continue
            seen.add(binding.action)
            yield SystemCommand(f"{binding.description} ({binding.key_display or key})", binding.tooltip or binding.description,
                                partial(self._run_bound_action, node, binding.action))
        from praf_tui.widgets.recheck import Recheck

        for job in self.snapshot.jobs if self.snapshot is not None else ():  # recheck: the symbols are asked for
            yield (SystemCommand("Refetch and recheck symbols…", job.summary, Recheck(self).ask_symbols) if job.name == "recheck"
                   else SystemCommand(f"Run job: {job.name}", job.summary, partial(self.request_job, job.name)))

    def _run_bound_action(self, node: Any, action: str) -> None:
        self.call_later(self.run_action, action, node)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "operator"


def run(service: EngineService, args: argparse.Namespace) -> int:
    """The app on an opened service (``praf_tui.cli.main``'s second half); the service is closed when it ends."""
    try:
        if args.check:  # an unknown check is QATRIAGE, naming the known ones
            service.failures(check=args.check, limit=1)
        app = PrafApp(service, as_of=args.as_of, refresh_s=args.refresh, ansi=args.ansi, screen=args.screen, check=args.check,
                      with_scheduler=args.with_scheduler)
    except PipelineError as exc:  # the keymap, the check
        service.close()
        print(f"error: [{exc.error_code}] {redact(exc.msg)}", file=sys.stderr)
        return exc.exit_code
    try:
        app.run()
    finally:
        app.stop_scheduler()  # before the database closes
        service.close()
    return 0


def run_demo(args: argparse.Namespace) -> int:
    """`praf-tui --demo`: the entry point starts the sandbox and the demo home, and hands the demo to the app."""
    try:
        demo = start_demo(args.home, args.size)
    except PipelineError as exc:
        print(f"error: [{exc.error_code}] {redact(exc.msg)}", file=sys.stderr)
        return exc.exit_code
    app: PrafApp | None = None
    try:
        app = PrafApp(demo.service, as_of=args.as_of or demo.as_of(), refresh_s=args.refresh, demo=demo, ansi=args.ansi,
                      with_scheduler=args.with_scheduler)
        app.run()
    except PipelineError as exc:  # the keymap
        print(f"error: [{exc.error_code}] {redact(exc.msg)}", file=sys.stderr)
        return exc.exit_code
    finally:
        if app is not None:
            app.stop_scheduler()
        demo.__exit__(None, None, None)
    print(f"demo home: {demo.settings.home}")
    return 0


