"""praf-tui's start reads, forked off (ADR 0017): the dashboard's snapshot, then the header's scheduler state, computed
in a child (``praf_engine.prefetch.ForkedRead``) while the parent imports Textual, composes and paints.

Each answer is handed out once, if fresh: ``dashboard`` and ``scheduler`` wait for theirs (a load worker), or at most
``wait_s`` (a screen's first paint, on the event loop). The scheduler state is read only where that needs no
write: ``EngineService.scheduler_state`` first closes the runs and requests of dead processes (JOBKILLED) and the child
only reads, so when there is something to close its answer is None and the parent computes the state as always.
Every miss is logged as PREFETCH and the read is computed in process, where a real failure raises with its own code.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

from praf_engine.errors import PipelineError
from praf_engine.logs import get_logger
from praf_engine.prefetch import ForkedRead
from praf_engine.readmodels.dto import DashboardSnapshot, SchedulerState

WAIT_S = 10.0  # a read waits this long for the child's answer, then computes it itself (the child is killed)
FRESH_S = 5.0  # an answer older than this (the dashboard's refresh period) is not used
DASHBOARD, SCHEDULER = 0, 1  # the child's answers, in the order it computes them

_log = get_logger(__name__)


class StartPrefetch:
    """The forked start reads of one service: ``dashboard`` and ``scheduler`` each hand out their answer once."""

    def __init__(self, as_of: dt.date, read: ForkedRead) -> None:
        self.as_of, self.read = as_of, read
        self._dashboard: str | None = None  # used, or why not, once the dashboard's answer was asked for and came
        self._asked: set[int] = set()  # the answers a read has asked for (each is handed out once)
        self._lock = threading.Lock()

    @property
    def outcome(self) -> str:
        """What became of the dashboard's answer: running, used, or why it was not used."""
        return self._dashboard or self.read.outcome

    def dashboard(self, as_of: dt.date, *, wait_s: float | None = None) -> DashboardSnapshot | None:
        """The snapshot, once, if it is for ``as_of`` and fresh. ``wait_s`` None: wait for the child (a load worker);
        a number: at most that long (a screen's first paint, on the event loop), None if it has not answered by then
        (the load worker takes it)."""
        if as_of != self.as_of:  # the day turned, or another date was asked for: the child's snapshot is no use
            if wait_s is None:
                self._refuse(f"for {self.as_of}, asked for {as_of}")
            return None
        return self._take(DASHBOARD, wait_s)

    def scheduler(self, *, wait_s: float | None = None) -> SchedulerState | None:
        """The scheduler state, once, if the child could read it without writing and it is fresh; ``wait_s`` as for
        ``dashboard``."""
        return self._take(SCHEDULER, wait_s)

    def close(self) -> None:
        self.read.close()

    def _refuse(self, why: str) -> None:
        with self._lock:
            if self._dashboard is not None or self.read.outcome != "running":
                return
            self._dashboard = why
        self.read.close(why)  # the child is killed if it still runs: the scheduler's state is computed here too
        self._miss(f"dashboard snapshot: prefetched {why}")

    def _take(self, part: int, wait_s: float | None) -> Any:
        if self.read.outcome != "running" or (wait_s is not None and not self.read.answered(part, wait_s)):
            return None
        with self._lock:
            if part in self._asked:
                return None  # once: a later read is computed here, silently
            self._asked.add(part)
        try:
            value, done = self.read.take(part, WAIT_S)
        except PipelineError as exc:
            self._miss(exc.msg)
            return None
        if (age := time.monotonic() - done) > FRESH_S:
            if part == DASHBOARD:
                self._dashboard = f"stale ({age:.1f} s old)"
            self._miss(f"{('dashboard snapshot', 'scheduler state')[part]}: the prefetched one is {age:.1f} s old")
            return None
        if part == DASHBOARD:
            self._dashboard = "used"
        return value

    @staticmethod
    def _miss(why: str) -> None:
        _log.warning("prefetch not used; computing it here", error_code="PREFETCH", detail={"why": why})
