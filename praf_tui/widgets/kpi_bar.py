"""The summary bar: the seed's 7 KPI cards (count and % of the active universe)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from praf_engine.service import Summary

CARDS = (
    ("total_active", "Active"),
    ("new_30d", "New 30d"),
    ("delisted_30d", "Gone 30d"),
    ("lag_2d", "Lag >2d"),
    ("missing_dates", "Gaps"),
    ("fetch_errors", "Errors"),
    ("price_jumps", "Jumps 7d"),
)


class KpiBar(Horizontal):
    """Seven cards; labels fit in 9 columns so the bar reads at 80x24."""

    def compose(self) -> ComposeResult:
        for key, label in CARDS:
            yield Static(f"{label}\n–", id=f"kpi-{key}", classes="kpi")

    def show(self, summary: Summary) -> None:
        universe = summary.total_active
        for key, label in CARDS:
            value = getattr(summary, key)
            pct = "" if key == "total_active" or not universe else f" {100 * value / universe:.1f}%"
            self.query_one(f"#kpi-{key}", Static).update(f"{label}\n[b]{value:,}[/b]{pct}")
