"""The Logs screen: logs/app.jsonl and its rotated files through ``service.logs``, filtered by run id, lowest level,
job, error code and text; a window of lines (the tail first), follow mode for a running job, the pretty detail of the
line under the cursor. Opened from a run (dashboard), a failure's run (triage), or the palette (L)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.widgets import DataTable, Static

from praf_engine.service import LOG_LEVELS, LogLine, LogPage, LogQuery
from praf_tui.messages import LoadFailed, LogsLoaded
from praf_tui.screens.loading import LoadingScreen
from praf_tui.widgets.dialogs import PromptDialog
from praf_tui.widgets.header import PrafHeader
from praf_tui.widgets.keybar import KeyBar

WINDOW = 200  # lines held by the table at once; [ and ] move the window
FOLLOW_S = 1.0  # follow mode's poll period (at most; never faster than the app's refresh is allowed to be off)
LEVEL_STYLE = {"debug": "dim", "info": "", "warning": "yellow", "error": "bold red", "critical": "bold white on red"}
PROMPTS = {"run_id": ("Run id", "a run id, or its first characters (empty: any run)"),
           "job": ("Job", "fetch, qa, universe, alerts, … (empty: any job)"),
           "error_code": ("Error code", "e.g. YF429 (empty: any)"),
           "text": ("Search the log", "text anywhere in the line, any case (empty: none)")}


def describe(line: LogLine) -> str:
    """The detail pane: the line's fields, its detail as indented JSON, its stack; a raw line as it is."""
    if not line.parsed:
        why = f"cut: the first {len(line.raw):,} of {line.size:,} bytes" if line.cut else "not a JSON line"
        return f"{line.file} @ {line.offset} · {why}\n{line.raw}"
    head = " · ".join(x for x in (line.ts, line.level, line.module, line.job, line.error_code) if x)
    out = [head, f"run {line.run_id}" if line.run_id else "no run", line.msg]
    if line.detail:
        out.append(json.dumps(line.detail, indent=2, ensure_ascii=False, default=str))
    if line.stack:
        out.append(line.stack)
    return "\n".join(out)


def query_text(q: LogQuery) -> str:
    parts = [f"run {q.run_id[:8]}" if q.run_id else "", f"level ≥ {q.level}" if q.level else "",
             f"job {q.job}" if q.job else "", f"code {q.error_code}" if q.error_code else "", f"“{q.text}”" if q.text else ""]
    return " · ".join(p for p in parts if p) or "every line"


class LogsScreen(LoadingScreen):
    AUTO_FOCUS = "#log-table"
    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="Clear the filters; with none, close the log", id="logs.back"),
        Binding("f", "follow", "Follow", tooltip="Follow mode: keep showing the newest lines as they are written",
                id="logs.follow"),
        Binding("r", "ask('run_id')", "Run", tooltip="Show only one run's lines (its id or first characters)", id="logs.run"),
        Binding("v", "cycle_level", "Level", tooltip="Lowest level shown: any, debug, info, warning, error, critical",
                id="logs.level"),
        Binding("b", "ask('job')", "Job", tooltip="Show only one job's lines", id="logs.job"),
        Binding("c", "ask('error_code')", "Code", tooltip="Show only lines with one error code", id="logs.code"),
        Binding("slash", "ask('text')", "Search", key_display="/", tooltip="Show only lines holding a text (any case)",
                id="logs.search"),
        Binding("enter", "toggle_detail", "Detail", tooltip="Show the line under the cursor in full (again: hide it)",
                id="logs.detail"),
        Binding("left_square_bracket", "page(-1)", "Earlier", key_display="[", show=False,
                tooltip=f"The {WINDOW} lines before these", id="logs.earlier"),
        Binding("right_square_bracket", "page(1)", "Later", key_display="]", show=False,
                tooltip=f"The {WINDOW} lines after these", id="logs.later"),
        Binding("home", "first", "First", show=False, tooltip="The oldest lines", id="logs.first"),
        Binding("end", "last", "Last", show=False, tooltip="The newest lines", id="logs.last"),
    ]

    def __init__(self, query: LogQuery | None = None, *, follow: bool = False) -> None:
        super().__init__()
        self.query_: LogQuery = query or LogQuery()
        self.follow = follow
        self.window_at: int | None = None  # None: the tail
        self.page: LogPage | None = None

    def compose(self) -> ComposeResult:
        yield PrafHeader(show_clock=False)
        yield Static("loading …", id="log-status")
        yield DataTable(id="log-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="log-detail")
        yield KeyBar()

    def on_mount(self) -> None:
        self.sub_title = "Logs"
        table = self.query_one("#log-table", DataTable)
        table.add_column("time", width=8, key="time")
        table.add_column("level", width=7, key="level")
        table.add_column("job", width=10, key="job")
        table.add_column("code", width=11, key="code")
        table.add_column("message", key="msg")
        self.watch(self.app, "data_version", self.reload, init=False)
        self.reload()

    # Loading -----------------------------------------------------------------------------------------
    def load(self) -> None:
        self._load(self.query_, None if self.follow else self.window_at)

    @work(thread=True, exclusive=True, group="logs-load")
    def _load(self, query: LogQuery, offset: int | None) -> None:
        try:
            page = self.praf.service.logs(query, offset=offset, limit=WINDOW)
        except Exception as exc:  # noqa: BLE001 - shown, never a crash
            self.send_failure(exc)
        else:
            self.send(LogsLoaded(query, offset, page))

    def loaded(self) -> None:
        super().loaded()
        if self.follow and self.praf.refresh_s > 0:  # follow mode: the newest lines every second
            if self._poll is not None:
                self._poll.stop()
            self._poll = self.set_timer(min(FOLLOW_S, self.praf.refresh_s), self.reload, name="logs follow")

    def on_logs_loaded(self, message: LogsLoaded) -> None:
        if message.query != self.query_:  # a filter changed meanwhile: its own load follows
            return
        page = self.page = message.page
        table = self.query_one("#log-table", DataTable)
        row = table.cursor_row
        table.clear()
        for i, line in enumerate(page.lines):
            table.add_row(*self._cells(line), key=str(page.offset + i))
        if page.lines:
            tail = message.offset is None
            table.move_cursor(row=len(page.lines) - 1 if tail else min(row, len(page.lines) - 1), animate=False)
        if message.offset is None:
            self.window_at = page.offset
        self._status()
        for note in page.notes:
            self.notify(note, title="Logs", severity="warning")
        self._show_detail()
        self.loaded()

    def on_load_failed(self, message: LoadFailed) -> None:
        self.page = None
        self.query_one("#log-table", DataTable).clear()
        self.query_one("#log-status", Static).update(Content.from_markup(
            "[b $error]$code[/]  $msg", code=message.code, msg=message.msg))
        self.query_one("#log-detail", Static).update("")
        self.loaded()

    @staticmethod
    def _cells(line: LogLine) -> tuple[Any, ...]:
        if not line.parsed:
            return "", Text("raw", "dim italic"), "", "", Text(line.raw[:300].replace("\n", " "), "dim")
        return (line.ts[11:19], Text(line.level, LEVEL_STYLE.get(line.level, "")), line.job, line.error_code,
                line.msg[:300].replace("\n", " "))

    def _status(self) -> None:
        page = self.page
        if page is None:
            return
        shown = f"{page.offset + 1:,}–{page.offset + len(page.lines):,} of {page.total:,}" if page.lines else "no line"
        follow = " · following" if self.follow else ""
        self.query_one("#log-status", Static).update(Content(
            f"{query_text(self.query_)} · {shown}{follow} · {len(page.files)} file(s)"))

    def _cursor_line(self) -> LogLine | None:
        table = self.query_one("#log-table", DataTable)
        if self.page is None or not self.page.lines or not 0 <= table.cursor_row < len(self.page.lines):
            return None
        return self.page.lines[table.cursor_row]

    @on(DataTable.RowHighlighted)
    def _show_detail(self, *_: Any) -> None:
        line = self._cursor_line()
        self.query_one("#log-detail", Static).update(Content(describe(line)) if line else Content(""))

    # Actions ---------------------------------------------------------------------------------------
    def set_query(self, query: LogQuery) -> None:
        """Show ``query``'s lines from their tail."""
        self.query_, self.window_at = query, None
        self.query_one("#log-status", Static).update(Content(f"{query_text(query)} · reading …"))
        self.reload()

    def action_back(self) -> None:
        if self.query_ != LogQuery():
            self.set_query(LogQuery())
        else:
            self.app.pop_screen()

    def action_follow(self) -> None:
        self.follow = not self.follow
        self.notify("following the newest lines" if self.follow else "follow mode off", title="Logs")
        self.window_at = None
        self.reload()

    def action_ask(self, field: str) -> None:
        title, hint = PROMPTS[field]

        def answered(value: str | None) -> None:
            if value is not None:
                self.set_query(replace(self.query_, **{field: value or None}))

        self.app.push_screen(PromptDialog(title, hint, getattr(self.query_, field) or ""), answered)

    def action_cycle_level(self) -> None:
        levels = (None, *LOG_LEVELS)
        self.set_query(replace(self.query_, level=levels[(levels.index(self.query_.level) + 1) % len(levels)]))

    def action_toggle_detail(self) -> None:
        self.query_one("#log-detail", Static).toggle_class("-wide")

    def action_page(self, step: int) -> None:
        if self.page is None:
            return
        offset = max(0, self.page.offset + step * WINDOW)
        if offset >= self.page.total:
            return
        self.follow, self.window_at = False, offset
        self.reload()

    def action_first(self) -> None:
        self.follow, self.window_at = False, 0
        self.reload()

    def action_last(self) -> None:
        self.window_at = None
        self.reload()
