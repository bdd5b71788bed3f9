"""The TUI's one loading convention, shared by every screen that shows engine data.

A screen starts its load with ``reload()``; its one ``@work(thread=True, exclusive=True, group=...)`` worker calls
the service and posts a dataclass message (``praf_tui.messages``) through ``send``; the screen renders the message
and then calls ``loaded()``, which schedules the next poll ``refresh_s`` seconds later. So polls never overlap: the
next one exists only once the last one is on screen. A reload asked while a load is in flight (a write, a new
as-of date, Refresh) cancels it: the exclusive worker replaces it and the old result is never posted. Nothing
here touches the database on the event loop; a worker never touches a widget.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.worker import get_current_worker

from praf_engine.service import PipelineError, redact
from praf_tui.messages import LoadFailed
from praf_tui.start import collector_paused, resume_collector

if TYPE_CHECKING:
    from praf_tui.app import PrafApp


class LoadingScreen(Screen[None]):
    """A screen fed by one exclusive thread worker: reload → worker → message → render → loaded → next poll."""

    _poll: Timer | None = None
    _stale = False  # a reload was asked while another screen was on top: load when this one is shown again

    @property
    def praf(self) -> PrafApp:
        return self.app  # type: ignore[return-value]

    def reload(self, *_: Any) -> None:
        """Load now: a waiting poll is dropped, a load in flight is superseded (its result is never shown). A screen
        that is not on top (the dashboard under triage, another mode's screens) loads when it is shown again instead:
        its loads would only compete with the visible screen's (a resolve in triage reloaded the dashboard too)."""
        if self._poll is not None:
            self._poll.stop()
            self._poll = None
        if not self.is_current:
            self._stale = True
            return
        self._stale = False
        self.load()

    def on_screen_resume(self) -> None:
        """Shown again (popped back to, its mode switched to): the load it missed meanwhile, if any."""
        if self._stale:
            self.reload()

    def reload_if_changed(self, old: Any, new: Any) -> None:
        """A watcher of the app's reactives: reload only when the value really changed (Textual also calls a
        watcher with old == new when the app initialises its reactives, which would start a second load)."""
        if old != new:
            self.reload()

    def load(self) -> None:
        """Start this screen's load worker (each screen defines it with its own group)."""
        raise NotImplementedError

    def loaded(self) -> None:
        """Call once a load is rendered (or failed): the next poll after ``refresh_s`` (none when it is 0)."""
        if self._poll is not None:
            self._poll.stop()
        refresh = self.praf.refresh_s
        self._poll = self.set_timer(refresh, self.reload, name=f"{type(self).__name__} poll") if refresh > 0 else None
        if collector_paused():  # the start is over once the first load is on screen (praf_tui.start)
            self.app.call_after_refresh(resume_collector)

    def send(self, message: Message) -> None:
        """From the load worker: post ``message`` unless a newer load cancelled this one."""
        if not get_current_worker().is_cancelled:
            self.post_message(message)

    def send_failure(self, exc: Exception) -> None:
        """From the load worker: a PipelineError by its code, anything else as INTERNAL with its type (a database
        or lake surprise is shown, never a crash)."""
        if isinstance(exc, PipelineError):
            self.send(LoadFailed(exc.error_code, redact(exc.msg)))
        else:
            self.send(LoadFailed("INTERNAL", redact(f"{type(exc).__name__}: {exc}")))
