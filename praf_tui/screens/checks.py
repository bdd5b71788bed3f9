"""The threshold editor: every QA check (severity, enabled, each threshold with its type and default) and the history
of its changes (ChecksScreen, key k); an edit of one check (CheckEditScreen, Enter or e): a typed input per
threshold, the QA runner's validation as you type, a preview of the failures the edit would add and remove on the
latest QA date (the check run in memory on the lake; nothing is written), and Save with a note (qa_checks and an
audit row). Every call goes through the service from a thread worker."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Input, Label, Select, Static, Switch

from praf_engine.service import CheckPreview, CheckRow, PipelineError, redact
from praf_tui.messages import (
    ActionFailed,
    CheckHistoryLoaded,
    CheckPreviewed,
    CheckSaved,
    ChecksLoaded,
    CheckValidated,
    LoadFailed,
)
from praf_tui.screens.loading import LoadingScreen
from praf_tui.widgets.dialogs import PromptDialog
from praf_tui.widgets.header import PrafHeader
from praf_tui.widgets.keybar import KeyBar

SEVERITIES = ("critical", "warning", "info")
if TYPE_CHECKING:
    from praf_tui.app import PrafApp

PREVIEW_AFTER_S = 0.6  # a valid edit is previewed once typing pauses this long


def params_text(row: CheckRow) -> str:
    """``key=value`` of each threshold; a value that is not the default is marked with *."""
    return " ".join(f"{p.name}={p.value:g}{'' if p.value == p.default else '*'}" for p in row.params)


def preview_text(p: CheckPreview) -> str:
    """The preview pane: the date, before → after, the added and removed symbols (a sample), the time taken."""
    def sample(symbols: tuple[str, ...], count: int) -> str:
        more = f" … +{count - len(symbols)}" if count > len(symbols) else ""
        return (", ".join(symbols) + more) if symbols else "none"

    severity = p.new_severity if p.new_severity == p.old_severity else f"{p.old_severity} → {p.new_severity}"
    state = "" if p.new_enabled == p.old_enabled else f" · {'enabled' if p.new_enabled else 'disabled'}"
    return (f"as of {p.as_of} · {p.universe_size:,} symbols · failing {p.before:,} → {p.after:,} · {severity}{state}\n"
            f"+{p.added:,} added: {sample(p.added_sample, p.added)}\n"
            f"−{p.removed:,} removed: {sample(p.removed_sample, p.removed)}\n"
            f"{p.seconds:.2f} s{' (lake window in memory)' if p.cached else ''} · nothing was saved")


class ChecksScreen(LoadingScreen):
    """Every check of qa_checks; Enter/e edits the one under the cursor, h shows (or hides) its change history."""

    AUTO_FOCUS = "#checks-table"
    BINDINGS = [
        Binding("e", "edit", "Edit", tooltip="Edit the check under the cursor (Enter too): thresholds, severity, enabled",
                id="checks.edit"),
        Binding("h", "history", "History", tooltip="The saved changes of the check under the cursor (again: hide)",
                id="checks.history"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, CheckRow] = {}
        self.history_of: str | None = None

    def compose(self) -> ComposeResult:
        yield PrafHeader(show_clock=False)
        yield Static("loading …", id="checks-status")
        yield DataTable(id="checks-table", cursor_type="row", zebra_stripes=True)
        yield DataTable(id="check-history", cursor_type="row", classes="-hidden")
        yield KeyBar()

    def on_mount(self) -> None:
        self.sub_title = "QA checks"
        table = self.query_one("#checks-table", DataTable)
        for label, key, width in (("check", "name", 17), ("severity", "severity", 8), ("on", "enabled", 3),
                                  ("thresholds (* not default)", "params", None), ("changed by", "by", 10)):
            table.add_column(label, key=key, width=width)
        history = self.query_one("#check-history", DataTable)
        for label, key in (("when (UTC)", "when"), ("who", "who"), ("change", "change"), ("note", "note")):
            history.add_column(label, key=key)
        self.watch(self.app, "data_version", self.reload, init=False)
        self.reload()
        self._warm()

    @work(thread=True, exclusive=True, group="checks-warm")
    def _warm(self) -> None:
        """Read the lake window of the previews while the operator reads the list: the edit form's first preview then
        runs in memory (6,000 symbols x 2 years: ~0.1 s instead of ~3 s). A failure here is the preview's to show."""
        try:
            self.praf.service.warm_check_window()
        except Exception:  # noqa: BLE001 - the preview reports it, with its code
            return

    def load(self) -> None:
        self._load(self.history_of)

    @work(thread=True, exclusive=True, group="checks-load")
    def _load(self, history_of: str | None) -> None:
        try:
            rows = self.praf.service.qa_checks()
            changes = self.praf.service.check_history(history_of) if history_of else None
        except Exception as exc:  # noqa: BLE001 - shown, never a crash
            self.send_failure(exc)
        else:
            if changes is not None and history_of is not None:
                self.send(CheckHistoryLoaded(history_of, changes))
            self.send(ChecksLoaded(rows))

    def on_checks_loaded(self, message: ChecksLoaded) -> None:
        table = self.query_one("#checks-table", DataTable)
        row = table.cursor_row
        table.clear()
        self.rows = {r.name: r for r in message.rows}
        for r in message.rows:
            name = Content.from_markup("[b $error]$n ![/]", n=r.name) if r.error else r.name
            table.add_row(name, r.severity, "yes" if r.enabled else "no", params_text(r), r.updated_by or "", key=r.name)
        if message.rows:
            table.move_cursor(row=min(max(row, 0), len(message.rows) - 1), animate=False)
        bad = [r.name for r in message.rows if r.error]
        changed = sum(1 for r in message.rows if any(p.value != p.default for p in r.params))
        status = f"{len(message.rows)} checks · {changed} with thresholds changed · e/Enter edit · h history"
        self.query_one("#checks-status", Static).update(
            Content.from_markup("[b $error]malformed: $bad[/] · $s", bad=", ".join(bad), s=status) if bad else status)
        self.loaded()

    def on_check_history_loaded(self, message: CheckHistoryLoaded) -> None:
        history = self.query_one("#check-history", DataTable)
        history.clear()
        for c in message.changes:
            history.add_row(f"{c.changed_at:%Y-%m-%d %H:%M}", c.changed_by, change_text(c.old, c.new), c.note or "—")
        if not message.changes:
            history.add_row("—", "", f"{message.check}: no saved change (defaults or as created)", "")
        history.border_title = f"History of {message.check}"

    def on_load_failed(self, message: LoadFailed) -> None:
        self.query_one("#checks-status", Static).update(Content.from_markup(
            "[b $error]$code[/]  $msg", code=message.code, msg=message.msg))
        self.loaded()

    def current(self) -> CheckRow | None:
        table = self.query_one("#checks-table", DataTable)
        if not table.row_count:
            return None
        return self.rows.get(str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value))

    def action_edit(self) -> None:
        row = self.current()
        if row is not None:
            self.app.push_screen(CheckEditScreen(row))

    def action_history(self) -> None:
        row = self.current()
        history = self.query_one("#check-history", DataTable)
        if row is None:
            return
        if self.history_of == row.name:
            self.history_of = None
            history.add_class("-hidden")
            return
        self.history_of = row.name
        history.remove_class("-hidden")
        self.reload()

    @on(DataTable.RowSelected, "#checks-table")
    def selected(self) -> None:
        """Enter on a check: edit it."""
        self.action_edit()

    @on(DataTable.RowHighlighted, "#checks-table")
    def follow_cursor(self, event: DataTable.RowHighlighted) -> None:
        """With the history shown, it follows the check under the cursor."""
        if self.history_of is not None and event.row_key.value != self.history_of:
            self.history_of = str(event.row_key.value)
            self.reload()


def change_text(old: dict[str, Any], new: dict[str, Any]) -> str:
    """What an audit row changed: severity, enabled, each threshold that differs (old → new)."""
    parts = [f"{key} {old.get(key)} → {new.get(key)}" for key in ("severity", "enabled") if old.get(key) != new.get(key)]
    before, after = old.get("threshold_params") or {}, new.get("threshold_params") or {}
    parts += [f"{k} {before.get(k)} → {after.get(k)}" for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)]
    return "; ".join(parts) or "no change"


class CheckEditScreen(Screen[None]):
    """One check's form. Typing validates (the QA runner's rules); a valid edit is previewed when typing pauses (F5:
    now); Ctrl+S asks for a note and saves. Nothing is saved unless it validated."""

    AUTO_FOCUS = "Input"
    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="Close the form: nothing is saved", id="checkedit.back"),
        Binding("f5", "preview", "Preview", tooltip="Run the check with this edit on the latest QA date, in memory: "
                "failures added and removed (nothing is saved)", id="checkedit.preview"),
        Binding("ctrl+s", "save", "Save", tooltip="Save the edit (asks for a note): qa_checks and an audit row; the next "
                "QA run uses it", id="checkedit.save"),
    ]

    def __init__(self, row: CheckRow) -> None:
        super().__init__()
        self.row = row
        self.valid: dict[str, Any] | None = {p.name: p.value for p in row.params}
        self.preview_for: tuple[Any, ...] | None = None  # the form the preview shown (or running) is of
        self._timer: Timer | None = None

    @property
    def praf(self) -> PrafApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        r = self.row
        yield PrafHeader(show_clock=False)
        with VerticalScroll(id="edit-form"):
            yield Static(f"{r.name} — {r.description}", id="edit-title")
            for p in r.params:
                with Horizontal(classes="edit-row"):
                    yield Label(f"{p.name} ({p.kind} ≥ {p.minimum:g}, default {p.default:g})", classes="edit-label")
                    yield Input(f"{p.value:g}", id=f"param-{p.name}", type="integer" if p.kind == "int" else "text",
                                tooltip=p.description, classes="edit-input")
            with Horizontal(classes="edit-row"):
                yield Label("severity", classes="edit-label")
                yield Select([(s, s) for s in SEVERITIES], value=r.severity, allow_blank=False, id="edit-severity")
            with Horizontal(classes="edit-row"):
                yield Label("enabled", classes="edit-label")
                yield Switch(r.enabled, id="edit-enabled")
            yield Static(r.error and f"stored thresholds are malformed: {r.error}" or "valid", id="edit-valid")
            yield Static("reading the lake for the preview …", id="edit-preview")
        yield KeyBar()

    def on_mount(self) -> None:
        self.sub_title = f"Edit {self.row.name}"
        self.preview_for = self.form()
        self._preview(self.preview_for, None)  # the stored configuration: today's failures, and the window read once

    def form(self) -> tuple[Any, ...]:
        """The form's values: each threshold's text, the severity, enabled."""
        texts = tuple(self.query_one(f"#param-{p.name}", Input).value for p in self.row.params)
        return (*texts, self.query_one("#edit-severity", Select).value, self.query_one("#edit-enabled", Switch).value)

    def edit_of(self, form: tuple[Any, ...]) -> dict[str, Any]:
        n = len(self.row.params)
        return {"params": {p.name: text for p, text in zip(self.row.params, form[:n], strict=True)},
                "severity": form[n], "enabled": form[n + 1]}

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Switch.Changed)
    def edited(self) -> None:
        self.valid = None
        if self._timer is not None:
            self._timer.stop()
        self._validate(self.form())

    @work(thread=True, exclusive=True, group="checkedit-validate")
    def _validate(self, form: tuple[Any, ...]) -> None:
        try:
            params = self.praf.service.validate_check(self.row.name, **self.edit_of(form))
        except PipelineError as exc:
            self.post_message(CheckValidated(form, None, exc.error_code, redact(exc.msg)))
        else:
            self.post_message(CheckValidated(form, params))

    def on_check_validated(self, message: CheckValidated) -> None:
        if message.form != self.form():
            return  # typed on meanwhile: its own answer follows
        valid = self.query_one("#edit-valid", Static)
        self.valid = message.params
        if message.params is None:
            valid.update(Content.from_markup("[b $error]$code[/] $msg", code=message.code, msg=message.msg))
            return
        valid.update(Content.from_markup("[$success]valid[/] — F5 preview · Ctrl+S save"))
        self._timer = self.set_timer(PREVIEW_AFTER_S, self.action_preview, name="checkedit preview")

    def action_preview(self) -> None:
        form = self.form()
        if self.valid is None:
            self.notify("fix the value first: the preview runs a valid edit only", title="Preview", severity="warning")
        elif form != self.preview_for:
            self.preview_for = form
            self.query_one("#edit-preview", Static).update("previewing …")
            self._preview(form, self.edit_of(form))

    @work(thread=True, exclusive=True, group="checkedit-preview")
    def _preview(self, form: tuple[Any, ...], edit: dict[str, Any] | None) -> None:
        try:
            preview = self.praf.service.preview_check(self.row.name, **(edit or {}))
        except PipelineError as exc:
            self.post_message(ActionFailed("Preview", exc.error_code, redact(exc.msg)))
        except Exception as exc:  # noqa: BLE001 - shown, never a crash
            self.post_message(ActionFailed("Preview", "INTERNAL", redact(f"{type(exc).__name__}: {exc}")))
        else:
            self.post_message(CheckPreviewed(form, preview))

    def on_check_previewed(self, message: CheckPreviewed) -> None:
        if message.form != self.form():
            return
        self.query_one("#edit-preview", Static).update(preview_text(message.preview))

    def on_action_failed(self, message: ActionFailed) -> None:
        if message.title == "Preview":
            self.preview_for = None  # F5 tries again
            self.query_one("#edit-preview", Static).update(Content.from_markup(
                "[b $error]$code[/] $msg", code=message.code, msg=message.msg))
        else:
            self.notify(f"[{message.code}] {message.msg}", title=message.title, severity="error")

    def action_save(self) -> None:
        if self.valid is None:
            self.notify("nothing saved: the edit is not valid (see the message above)", title="Save", severity="error")
            return
        form = self.form()

        def noted(note: str | None) -> None:
            if note is not None:
                self._save(self.edit_of(form), note)

        self.app.push_screen(PromptDialog(f"Save {self.row.name}: a note for the history", "why the change"), noted)

    @work(thread=True, exclusive=True, group="checkedit-save")
    def _save(self, edit: dict[str, Any], note: str) -> None:
        try:
            row = self.praf.service.save_check(self.row.name, who=self.praf.who, note=note, **edit)
        except PipelineError as exc:
            self.post_message(ActionFailed("Save", exc.error_code, redact(exc.msg)))
        else:
            self.post_message(CheckSaved(row))

    def on_check_saved(self, message: CheckSaved) -> None:
        self.notify(f"{message.row.name} saved; the next QA run uses it", title="Checks")
        self.praf.changed()
        self.dismiss()

    def action_back(self) -> None:
        self.dismiss()
