"""The Scheduler screen (`j`): every job of the home with its last run (exit, code, duration), next run, gate and
paused state, and a progress bar for every running job whatever process runs it. Keys: run a job now (a request the
home's scheduler or a detached process runs, so it outlives this session), pause/resume a job (persisted, honoured by
the scheduler), stop a running job (it finishes its batch and ends INTERRUPTED).

One SchedulerState from the service per load (the convention of ``screens.loading``); the message bubbles to the app,
whose header shows the scheduler line from it.
"""

from __future__ import annotations

import datetime as dt

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.widgets import DataTable, Label

from praf_engine.service import PipelineError, SchedulerState, redact
from praf_tui.messages import ActionFailed, JobControlled, LoadFailed, SchedulerLoaded
from praf_tui.screens.loading import LoadingScreen
from praf_tui.widgets.dialogs import ConfirmDialog
from praf_tui.widgets.header import PrafHeader, span
from praf_tui.widgets.keybar import KeyBar
from praf_tui.widgets.panels import Table, clip, colour_style, exit_colour, when
from praf_tui.widgets.progress import RunningJobs


def short(value: dt.datetime | None, now: dt.datetime) -> str:
    """A time in the table: "06-10 01:00" within the year of ``now``, else with the year; "–" for none."""
    if value is None:
        return "–"
    return f"{value:%m-%d %H:%M}" if value.year == now.year else f"{value:%Y-%m-%d %H:%M}"


class SchedulerScreen(LoadingScreen):
    """The jobs table on top (the cursor picks the job a key acts on), the running jobs' progress under it."""

    AUTO_FOCUS = "#schedule-table"
    BINDINGS = [
        Binding("r", "run_now", "Run now", tooltip="Run the job under the cursor now, in the scheduler or a process of its "
                "own (it survives this session; asks to confirm)", id="scheduler.run_now"),
        Binding("p", "toggle_pause", "Pause/resume", tooltip="Pause the job under the cursor (the scheduler records its slots "
                "as skipped) or resume it", id="scheduler.pause"),
        Binding("x", "stop_job", "Stop", tooltip="Ask the running job under the cursor to stop: it finishes its batch and "
                "ends INTERRUPTED (asks to confirm)", id="scheduler.stop"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.state: SchedulerState | None = None

    def compose(self) -> ComposeResult:
        yield PrafHeader(show_clock=False)
        yield Label("", id="schedule-head", classes="panel-head")
        yield Table(("Job", "Last run", "Exit", "Code", "Took", "Next run", "Paused", "Gate"), id="schedule-table")
        yield Label("", id="schedule-detail")
        yield Label(Content("Running"), id="running-head", classes="panel-head")
        yield RunningJobs(id="scheduler-running")
        yield KeyBar()

    def on_mount(self) -> None:
        self.sub_title = "scheduler · loading…"
        self.watch(self.app, "data_version", self.reload, init=False)
        self.reload()

    # Loading -------------------------------------------------------------------------------------
    def load(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="scheduler-load")
    def _load(self) -> None:
        try:
            state = self.praf.service.scheduler_state()
        except Exception as exc:  # noqa: BLE001 - shown, never crashes the screen
            self.send_failure(exc)
        else:
            self.send(SchedulerLoaded(state))

    def on_scheduler_loaded(self, message: SchedulerLoaded) -> None:
        self.state = message.state
        self._draw(message.state)
        self.loaded()

    def on_load_failed(self, message: LoadFailed) -> None:
        self.notify(f"[{message.code}] {message.msg}", title="Scheduler", severity="error")
        self.loaded()

    def _draw(self, state: SchedulerState) -> None:
        beat = state.beat
        if beat is None:
            head = "No scheduler has run in this home: jobs run only when started (praf-engine daemon, praf-tui --with-scheduler)"
        elif beat.live:
            head = (f"Scheduler: {beat.mode} pid {beat.pid} on {beat.host}, since {when(beat.started_at)} UTC · last beat "
                    f"{span(beat.age_s)} ago")
        else:
            head = f"No scheduler running: the last one ({beat.mode} on {beat.host}) beat {span(beat.age_s)} ago"
        self.query_one("#schedule-head", Label).update(Content(head))
        self.sub_title = f"scheduler · {len(state.jobs)} jobs · {len(state.running)} running"
        rows = []
        gate_width = max(12, min(60, self.size.width - 72))  # the rest of the line: no sideways scrolling at 80x24
        for job in state.jobs:
            last = job.last_run
            running = job.running is not None or (last is not None and last.finished_at is None)
            style = colour_style(self, exit_colour(None if last is None else last.exit_code, running))
            exit_cell = "–" if last is None or last.exit_code is None else str(last.exit_code)
            took = "running" if running else "–" if last is None or last.duration_s is None else span(last.duration_s)
            rows.append((job.name, (Text(job.name, style), short(last.started_at, state.now) if last else "never",
                                    Text(exit_cell, style), (last.error_code or "") if last else "", took,
                                    short(job.next_run, state.now), Text("paused", colour_style(self, "yellow")) if job.paused else "",
                                    clip(job.gate or "", gate_width))))
        self.query_one("#schedule-table", Table).fill(rows)
        waiting = f" · requested, not started yet: {', '.join(r.job for r in state.pending)}" if state.pending else ""
        self.query_one("#running-head", Label).update(Content(f"Running{waiting}"))
        self.query_one(RunningJobs).show(state.running)
        self._show_detail()

    def _show_detail(self) -> None:
        """Under the table: what the job under the cursor does, and its gate in full (the column is cut at 80x24)."""
        name = self.query_one("#schedule-table", Table).cursor_key()
        job = next((j for j in self.state.jobs if j.name == name), None) if self.state is not None else None
        text = "" if job is None else f"{job.name}: {job.summary}" + (f"\n{job.gate_detail or job.gate}" if job.gate else "")
        self.query_one("#schedule-detail", Label).update(Content(text))

    @on(DataTable.RowHighlighted)
    def _cursor_moved(self) -> None:
        self._show_detail()

    # Actions -------------------------------------------------------------------------------------
    def _cursor_job(self) -> str | None:
        name = self.query_one("#schedule-table", Table).cursor_key()
        if not name:
            self.notify("no job under the cursor", title="Scheduler", severity="warning")
        return name

    def action_run_now(self) -> None:
        name = self._cursor_job()
        if not name:
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.praf.request_job(name)

        self.app.push_screen(ConfirmDialog(f"Run job {name} now?"), confirmed)

    def action_toggle_pause(self) -> None:
        name = self._cursor_job()
        job = next((j for j in self.state.jobs if j.name == name), None) if self.state is not None and name else None
        if job is not None:
            self._control("resume" if job.paused else "pause", name)

    def action_stop_job(self) -> None:
        name = self._cursor_job()
        if not name or self.state is None:
            return
        run = next((j.running for j in self.state.jobs if j.name == name and j.running is not None), None)
        if run is None:
            self.notify(f"job {name} is not running", title="Scheduler", severity="warning")
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._control("stop", run.run_id)

        self.app.push_screen(ConfirmDialog(f"Stop job {name} (run {run.run_id[:8]})? It finishes its batch first."), confirmed)

    @work(thread=True, group="scheduler-control")
    def _control(self, action: str, target: str) -> None:
        service = self.praf.service
        try:
            if action == "pause":
                service.pause_job(target)
            elif action == "resume":
                service.resume_job(target)
            else:
                service.stop_job(target)
        except PipelineError as exc:
            self.post_message(ActionFailed(f"{action} {target}", exc.error_code, redact(exc.msg)))
        else:
            self.post_message(JobControlled(action, target))

    def on_job_controlled(self, message: JobControlled) -> None:
        done = {"pause": "paused", "resume": "resumed", "stop": "asked to stop"}[message.action]
        self.notify(f"{message.target}: {done}", title="Scheduler")
        self.praf.changed()

    def on_action_failed(self, message: ActionFailed) -> None:
        self.notify(f"[{message.code}] {message.msg}", title=message.title, severity="error")
