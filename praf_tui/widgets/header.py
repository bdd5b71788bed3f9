"""The app header of every screen: the title line, and under it a status line with the home's scheduler ("scheduler:
running on HOST, next: fetch in 3 h 12 min", or in red "no scheduler (last beat 2 days ago)"). It renders the app's
last SchedulerState (``PrafApp.scheduler``, polled by the app's worker); it never queries anything itself."""

from __future__ import annotations

import os
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Header, Label

from praf_engine.service import SchedulerState


def span(seconds: float) -> str:
    """A duration as an operator reads it: "40 s", "12 min", "3 h 12 min", "2 days"."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days"


def scheduler_line(state: SchedulerState | None) -> tuple[str, bool]:
    """The header's scheduler text and whether a scheduler is alive (False: shown in red)."""
    if state is None:
        return "scheduler: …", True
    beat = state.beat
    if beat is None:
        return "no scheduler (never started in this home)", False
    if not beat.live:
        when = "stopped" if beat.stopped_at is not None else "last beat"
        return f"no scheduler ({when} {span(beat.age_s)} ago)", False
    here = beat.mode == "tui" and beat.pid == os.getpid()
    text = f"scheduler: running on {beat.host}" + (" (in this dashboard)" if here else "")
    upcoming = state.next_run
    if upcoming is not None:
        job, at = upcoming
        text += f", next: {job} in {span((at - state.now).total_seconds())}"
    return text, True


class PrafHeader(Header):
    """Textual's Header (title and sub-title of the screen) with a status line under it."""

    def compose(self) -> ComposeResult:
        yield from super().compose()
        with Horizontal(id="header-status"):
            yield Label("", id="scheduler-status")
            yield Label("", id="alerts-status")

    def on_mount(self) -> None:
        self.watch(self.app, "scheduler", self.show_scheduler, init=True)
        self.watch(self.app, "alerts_pending", self.show_alerts, init=True)

    def show_alerts(self, pending: int = 0) -> None:
        """In red: alerts still to deliver (none: nothing shown). The Alerts screen (l) lists them."""
        label = self.query_one("#alerts-status", Label)
        label.update(Content(f"  {pending} alert{'s' if pending != 1 else ''} pending (l)" if pending else ""))
        label.set_class(bool(pending), "-pending")

    def show_scheduler(self, state: Any = None) -> None:
        text, alive = scheduler_line(state)
        label = self.query_one("#scheduler-status", Label)
        label.update(Content(text))
        label.set_class(not alive, "-dead")
