"""The summary bar: the seed's 7 KPI cards (§6.7) with count, % of the active universe and colour (§5.6).

Cards are focusable: ←/→ (or Tab) move between them, Enter opens the panel behind the focused card, and the
line under the cards shows the focused card's full label and threshold (the web dashboard's hover text).
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Label, Static

from praf_engine.service import KpiCard

# key -> label short enough for a card at 80 columns (11 cells, 9 inside the border)
CARD_KEYS = ("total_active", "new_30d", "delisted_30d", "lag_2d", "missing_dates", "fetch_errors", "price_jumps")
SHORT_LABELS = {
    "total_active": "Active",
    "new_30d": "New 30d",
    "delisted_30d": "Gone 30d",
    "lag_2d": "Lag >2d",
    "missing_dates": "Gaps",
    "fetch_errors": "Errors",
    "price_jumps": "Jumps 7d",
}
COLOUR_CLASSES = {"green": "-green", "yellow": "-yellow", "red": "-red", "neutral": "-neutral"}
IDLE_HINT = "←/→ cards · Enter opens its panel · 1-6 panels · [ ] day · a as-of date"


def format_pct(pct: float) -> str:
    return f"{pct:.0f}%" if pct >= 99.95 else f"{pct:.1f}%"


class KpiCardView(Static, can_focus=True):
    """One card: short label, count, % of the universe; border and figures in the card's colour."""

    BINDINGS = [
        Binding("enter", "open_panel", "Open panel", tooltip="Show the panel behind the focused KPI card", id="cards.open_panel"),
        Binding("left", "step(-1)", "Previous card", show=False, tooltip="Focus the KPI card to the left", id="cards.previous"),
        Binding("right", "step(1)", "Next card", show=False, tooltip="Focus the KPI card to the right", id="cards.next"),
    ]

    class Opened(Message):
        """Enter (or a click) on a card: show its panel."""

        def __init__(self, card: KpiCard) -> None:
            super().__init__()
            self.card = card

    def __init__(self, key: str) -> None:
        super().__init__(Content(f"{SHORT_LABELS[key]}\n–"), id=f"kpi-{key}")
        self.key = key
        self.card: KpiCard | None = None

    def show(self, card: KpiCard) -> None:
        self.card = card
        self.update(Content.assemble((SHORT_LABELS[self.key], "$foreground"), "\n", (f"{card.count:,}", "bold"), "\n",
                                     format_pct(card.pct_of_universe)))
        for name in COLOUR_CLASSES.values():
            self.remove_class(name)
        self.add_class(COLOUR_CLASSES.get(card.colour, "-neutral"))
        self.tooltip = f"{card.label}: {card.threshold}" if card.threshold else card.label

    def action_open_panel(self) -> None:
        if self.card is not None:
            self.post_message(self.Opened(self.card))

    def action_step(self, delta: int) -> None:
        cards = list(self.parent.query(KpiCardView)) if self.parent else [self]
        cards[(cards.index(self) + delta) % len(cards)].focus()

    def on_click(self) -> None:
        self.action_open_panel()


class SummaryBar(Vertical):
    """The seven cards in one row and a hint line for the focused card."""

    def compose(self) -> ComposeResult:
        with Horizontal():
            for key in CARD_KEYS:
                yield KpiCardView(key)
        yield Label(Content(IDLE_HINT), id="kpi-hint")

    def show(self, cards: Sequence[KpiCard]) -> None:
        for card in cards:
            for view in self.query(KpiCardView):
                if view.key == card.key:
                    view.show(card)
        self._hint()

    def on_descendant_focus(self) -> None:
        self._hint()

    def on_descendant_blur(self) -> None:
        self.call_after_refresh(self._hint)

    def _hint(self) -> None:
        focused = self.screen.focused if self.is_attached else None
        card = focused.card if isinstance(focused, KpiCardView) else None
        text = IDLE_HINT
        if card is not None:
            rule = card.threshold or "universe count, no threshold"
            text = f"{card.label}: {rule} · Enter opens the {card.panel} panel"
        self.query_one("#kpi-hint", Label).update(Content(text))
