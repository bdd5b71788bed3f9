"""The Alerts screen: the outbox (pending, sent, folded into the digest, muted, failed, with the error), the mutes in
force, whether Telegram is configured, and keys to mute, unmute and send a test alert (SPEC §6, docs/alerts.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Static

from praf_engine.service import AlertRow, AlertsView, PipelineError, redact
from praf_tui.messages import ActionFailed, LoadFailed
from praf_tui.screens.loading import LoadingScreen
from praf_tui.widgets.dialogs import ConfirmDialog, PromptDialog
from praf_tui.widgets.header import PrafHeader
from praf_tui.widgets.keybar import KeyBar

STATUS_STYLE = {"pending": "bold red", "failed": "red", "muted": "yellow", "folded": "dim", "sent": "green"}
SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "dim"}


def parse_mute(text: str) -> tuple[str | None, str]:
    """'lag 2h' -> ('lag', '2h'); '2h' -> (None, '2h'): every rule. The service checks both (ALERTBAD)."""
    parts = text.split()
    if len(parts) == 1:
        return None, parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    raise PipelineError("ALERTBAD", f"type a rule and a duration (lag 2h) or a duration alone (2h), not {text!r}")


@dataclass
class AlertsLoaded(Message):
    """The Alerts screen's view (posted by its load worker)."""

    bubble = False
    view: AlertsView


@dataclass
class AlertsActed(Message):
    """A mute, unmute or test alert went through; ``done`` says what happened."""

    bubble = False
    title: str
    done: str


class AlertsScreen(LoadingScreen):
    AUTO_FOCUS = "#outbox"
    BINDINGS = [
        Binding("m", "mute", "Mute", tooltip="Mute one rule or every rule for a while (alerts are still recorded, as muted)",
                id="alerts.mute"),
        Binding("u", "unmute", "Unmute", tooltip="End the mutes of one rule (empty: every mute)", id="alerts.unmute"),
        Binding("x", "test_alert", "Test alert", tooltip="Send a test message to the Telegram chat now (not through the outbox)",
                id="alerts.test"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.view: AlertsView | None = None

    def compose(self) -> ComposeResult:
        yield PrafHeader(show_clock=False)
        yield Static("loading…", id="alerts-summary")
        yield DataTable(id="outbox", cursor_type="row", zebra_stripes=True)
        yield Static(id="alerts-detail")
        yield Static(id="alerts-mutes")
        yield KeyBar()

    def on_mount(self) -> None:
        self.sub_title = "Alerts"
        table = self.query_one("#outbox", DataTable)
        table.add_columns("night", "severity", "rule", "subject", "status", "tries", "sent (UTC)", "message")
        self.watch(self.app, "data_version", self.reload, init=False)
        self.reload()

    # Loading ---------------------------------------------------------------------------------------
    def load(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="alerts-load")
    def _load(self) -> None:
        try:
            view = self.praf.service.alerts_view()
        except Exception as exc:  # noqa: BLE001 - shown, never a crash
            self.send_failure(exc)
        else:
            self.send(AlertsLoaded(view))

    def on_alerts_loaded(self, message: AlertsLoaded) -> None:
        view = self.view = message.view
        self.praf.alerts_pending = view.pending  # the header's red count (also set from each dashboard snapshot)
        c = view.counts
        summary = (f"{c.get('pending', 0)} pending · {c.get('sent', 0)} sent · {c.get('folded', 0)} in the digest · "
                   f"{c.get('muted', 0)} muted · {c.get('failed', 0)} failed")
        if view.missing:
            summary += f"\nTelegram not configured ({', '.join(view.missing)} missing): alerts are recorded here, not sent"
        self.query_one("#alerts-summary", Static).update(Content(summary))
        table = self.query_one("#outbox", DataTable)
        row = table.cursor_row
        table.clear()
        for r in view.rows:
            table.add_row(str(r.night), Text(r.severity, SEVERITY_STYLE.get(r.severity, "")), r.rule, r.subject,
                          Text(r.status, STATUS_STYLE.get(r.status, "")), str(r.attempts),
                          f"{r.sent_at:%m-%d %H:%M}" if r.sent_at else "", r.headline, key=str(r.id))
        if view.rows:
            table.move_cursor(row=min(row, len(view.rows) - 1))
        mutes = [f"{m.rule or 'every rule'} until {m.muted_until:%Y-%m-%d %H:%M} UTC (by {m.created_by or '?'}"
                 f"{': ' + m.reason if m.reason else ''})" for m in view.mutes]
        self.query_one("#alerts-mutes", Static).update(Content("muted: " + "; ".join(mutes) if mutes else "no mutes in force"))
        self._show_detail()
        self.loaded()

    def on_load_failed(self, message: LoadFailed) -> None:
        self.query_one("#alerts-summary", Static).update(Content(f"[{message.code}] could not load the alerts: {message.msg}"))
        self.loaded()

    def _cursor_row(self) -> AlertRow | None:
        table = self.query_one("#outbox", DataTable)
        if self.view is None or not self.view.rows or table.cursor_row >= len(self.view.rows):
            return None
        return self.view.rows[table.cursor_row]

    @on(DataTable.RowHighlighted)
    def _show_detail(self, *_: Any) -> None:
        r = self._cursor_row()
        text = "" if r is None else r.text + (f"\n{r.last_error}" if r.last_error and r.status != "sent" else "")
        self.query_one("#alerts-detail", Static).update(Content(text))

    # Actions ---------------------------------------------------------------------------------------
    def action_mute(self) -> None:
        def answered(text: str | None) -> None:
            if text:
                self._act("Mute", "mute", text)

        self.app.push_screen(PromptDialog("Mute alerts", "lag 2h · 30m (every rule) · rules: docs/alerts.md",
                                          allow_empty=False), answered)

    def action_unmute(self) -> None:
        def answered(text: str | None) -> None:
            if text is not None:
                self._act("Unmute", "unmute", text)

        self.app.push_screen(PromptDialog("Unmute alerts", "a rule, or empty: every mute"), answered)

    def action_test_alert(self) -> None:
        def confirmed(yes: bool | None) -> None:
            if yes:
                self._act("Test alert", "test", "")

        self.app.push_screen(ConfirmDialog("Send a test message to the Telegram chat now?"), confirmed)

    @work(thread=True, group="alerts-act")
    def _act(self, title: str, what: str, text: str) -> None:
        service, who = self.praf.service, self.praf.who
        try:
            if what == "mute":
                rule, duration = parse_mute(text)
                m = service.mute_alerts(rule, duration, who)
                done = f"muted {m.rule or 'every rule'} until {m.muted_until:%Y-%m-%d %H:%M} UTC"
            elif what == "unmute":
                ended = service.unmute_alerts(text.strip() or None, who)
                done = f"{ended} mute(s) ended" if ended else "no mute in force for that"
            else:
                done = f"test alert sent (message {service.send_test_alert()})"
        except PipelineError as exc:
            self.post_message(ActionFailed(title, exc.error_code, redact(exc.msg)))
        except Exception as exc:  # noqa: BLE001 - shown, never a crash
            self.post_message(ActionFailed(title, "INTERNAL", redact(f"{type(exc).__name__}: {exc}")))
        else:
            self.post_message(AlertsActed(title, done))

    def on_alerts_acted(self, message: AlertsActed) -> None:
        self.notify(message.done, title=message.title)
        self.praf.changed()

    def on_action_failed(self, message: ActionFailed) -> None:
        self.notify(f"[{message.code}] {message.msg}", title=message.title, severity="error", timeout=10)
