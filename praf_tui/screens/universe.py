"""Universe health detail (issue 15): the listings behind the universe panel's numbers — new, delisted and relisted
in one month, counted per exchange — each row opening the symbol screen (Enter). Opened from the dashboard (U, or
Enter on a month of the universe panel). Loads in one thread worker posting UniverseLoaded (``screens.loading``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Static

from praf_engine.service import UniverseDetail, UniverseListing
from praf_tui.messages import LoadFailed
from praf_tui.screens.loading import LoadingScreen
from praf_tui.widgets.header import PrafHeader
from praf_tui.widgets.keybar import KeyBar

CHANGES = (None, "new", "delisted", "relisted")
STYLE = {"new": "green", "delisted": "red", "relisted": "cyan"}


@dataclass
class UniverseLoaded(Message):
    """The month's detail as asked (``month`` None: as_of's month)."""

    bubble = False
    month: str | None
    change: str | None
    detail: UniverseDetail


class UniverseScreen(LoadingScreen):
    """``month`` YYYY-MM (None: the as-of date's month); ``change`` None or one of new / delisted / relisted."""

    AUTO_FOCUS = "#universe-listings"
    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="Close the universe detail", id="universe.back"),
        Binding("left_square_bracket", "month(-1)", "Month -1", key_display="[", tooltip="The previous month of the panel",
                id="universe.month_back"),
        Binding("right_square_bracket", "month(1)", "Month +1", key_display="]", tooltip="The next month of the panel",
                id="universe.month_forward"),
        Binding("c", "cycle_change", "Change", tooltip="Show every change, then only new, delisted, relisted listings",
                id="universe.change"),
    ]

    def __init__(self, month: str | None = None, change: str | None = None) -> None:
        super().__init__()
        self.month, self.change = month, change
        self.detail: UniverseDetail | None = None

    def compose(self) -> ComposeResult:
        yield PrafHeader(show_clock=False)
        yield Static("loading …", id="universe-status")
        yield Static(id="universe-exchanges")
        yield DataTable(id="universe-listings", cursor_type="row", zebra_stripes=True)
        yield KeyBar()

    def on_mount(self) -> None:
        self.sub_title = "Universe health detail"
        table = self.query_one("#universe-listings", DataTable)
        for label, key, width in (("Symbol", "symbol", 12), ("Exchange", "exchange", 9), ("Change", "change", 9),
                                  ("On", "on", 10), ("Status", "status", 9), ("Name", "name", None)):
            table.add_column(label, key=key, width=width)
        self.watch(self.app, "data_version", self.reload_if_changed, init=False)
        self.watch(self.app, "as_of", self.reload_if_changed, init=False)
        self.reload()

    def load(self) -> None:
        self._load(self.praf.effective_as_of(), self.month, self.change)

    @work(thread=True, exclusive=True, group="universe-load")
    def _load(self, as_of: dt.date, month: str | None, change: str | None) -> None:
        try:
            detail = self.praf.service.universe_detail(as_of, month, change)
        except Exception as exc:  # noqa: BLE001 - shown, never a crash
            self.send_failure(exc)
        else:
            self.send(UniverseLoaded(month, change, detail))

    def on_universe_loaded(self, message: UniverseLoaded) -> None:
        if (message.month, message.change) != (self.month, self.change):
            return  # the operator moved on: that load follows
        detail = self.detail = message.detail
        table = self.query_one("#universe-listings", DataTable)
        row = table.cursor_row
        table.clear()
        for x in detail.listings:
            table.add_row(x.symbol, x.exchange, Text(x.change, STYLE.get(x.change, "")), x.on.isoformat(), x.status,
                          (x.name or "")[:80])  # one listing may be new and delisted in a month
        if detail.listings:
            table.move_cursor(row=min(max(row, 0), len(detail.listings) - 1), animate=False)
        shown = f"{len(detail.listings):,} of {detail.total:,}" if detail.total > len(detail.listings) else f"{detail.total:,}"
        kind = f"{detail.change} listings" if detail.change else "listings new, delisted or relisted"
        self.query_one("#universe-status", Static).update(Content(
            f"{detail.month} · {shown} {kind} · [ ] month · c change · Enter opens the symbol"))
        self.query_one("#universe-exchanges", Static).update(Content(" · ".join(
            f"{e.exchange}: +{e.new} −{e.delisted} ↺{e.relisted}" for e in detail.exchanges) or "no change this month"))
        self.loaded()

    def on_load_failed(self, message: LoadFailed) -> None:
        self.query_one("#universe-status", Static).update(Content.from_markup(
            "[b $error]$code[/]  $msg", code=message.code, msg=message.msg))
        self.loaded()

    def current(self) -> UniverseListing | None:
        table = self.query_one("#universe-listings", DataTable)
        if self.detail is None or not 0 <= table.cursor_row < len(self.detail.listings):
            return None
        return self.detail.listings[table.cursor_row]

    @on(DataTable.RowSelected, "#universe-listings")
    def _open(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if (listing := self.current()) is not None:
            self.praf.open_symbol(listing.symbol)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_month(self, step: int) -> None:
        if self.detail is None:
            return
        months = self.detail.months
        at = months.index(self.detail.month) if self.detail.month in months else len(months) - 1
        target = at + step
        if not 0 <= target < len(months):
            self.app.bell()
            return
        self.month = months[target]
        self.reload()

    def action_cycle_change(self) -> None:
        self.change = CHANGES[(CHANGES.index(self.change) + 1) % len(CHANGES)]
        self.reload()
