"""A read computed in a forked child while this process goes on starting: the dashboard's first snapshot.

Why a process: praf-tui's start is CPU-bound Python on both sides. While Textual composes, lays out and paints the
dashboard (~100 ms of the main thread), the snapshot's thread worker (~160 ms of Peewee rows) waits for the GIL, so
the two add up instead of overlapping (bench/tui.py, issue 16). A child forked before the parent opens its database
computes the snapshot on another core meanwhile and hands it over, pickled, through a pipe.

The rules that make the fork safe, each checked by ``ForkedRead.start`` (it returns None, and the caller computes the
read itself, when one does not hold):
- the process has one thread: a lock another thread held at the fork would stay held in the child forever;
- the process has no database connection open: SQLite keeps per-process lock bookkeeping that a child must not
  inherit, and a PostgreSQL socket shared with a child is one session for two. The child opens its own; the parent
  opens its own after the fork;
- the child only reads. It writes its answer to the pipe and leaves with ``os._exit``: no atexit handler, no
  finaliser of an inherited object, no buffered output flushed twice.
The parent takes the answer at most once, waits for it at most ``wait_s``, and reaps the child whatever happened
(answered, failed, killed, timed out, never asked for). Every miss is logged (PREFETCH) and falls back to computing in
process, where a real failure raises with its own code as it always did.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from praf_engine.errors import PipelineError

T = TypeVar("T")


def fork_unsafe_reason() -> str | None:
    """Why this process must not fork a reader now (None: it may)."""
    if not hasattr(os, "fork"):
        return "this platform has no fork"
    if threading.active_count() > 1:
        return f"{threading.active_count()} threads run"
    from praf_engine.db.database import open_connections

    if open_connections():
        return "a database connection is open"
    return None


class ForkedRead(Generic[T]):
    """One read running in a forked child; ``take`` its answer once, or ``close`` to drop it."""

    def __init__(self, pid: int, fd: int, what: str) -> None:
        self.pid, self._fd, self.what = pid, fd, what
        self.started = time.monotonic()
        self.outcome = "running"  # then: used, or why it was not (for the log and the tests)

    @classmethod
    def start(cls, what: str, read: Callable[[], T]) -> ForkedRead[T] | None:
        """Fork a child that runs ``read()`` and sends back its result; None when forking is not safe here."""
        if fork_unsafe_reason() is not None:
            return None
        try:
            r, w = os.pipe()
        except OSError:  # out of file descriptors: no prefetch
            return None
        try:
            pid = os.fork()
        except OSError:  # no process or memory to spare (EAGAIN, ENOMEM): no prefetch
            os.close(r)
            os.close(w)
            return None
        if pid == 0:  # the child: never returns
            os.close(r)
            _answer(w, read)
        os.close(w)
        return cls(pid, r, what)

    def answered(self) -> bool:
        """The child has computed its result and is writing it (or has died): ``take`` would not wait for the read,
        only for the rest of the answer. Never blocks."""
        if self.outcome != "running" or self._fd < 0:
            return False
        return bool(select.select([self._fd], [], [], 0)[0])

    def take(self, wait_s: float) -> tuple[T, float]:
        """The child's result and when it was computed (CLOCK_MONOTONIC, shared by the processes of the machine).
        PipelineError PREFETCH when it failed, died or did not answer within ``wait_s`` (then it is killed)."""
        if self.outcome != "running":
            raise PipelineError("PREFETCH", f"{self.what}: already {self.outcome}")
        try:
            data = self._read(time.monotonic() + wait_s)
        finally:
            self._reap()
        try:
            status, value, done = pickle.loads(data)
        except Exception as exc:  # noqa: BLE001 - a child killed mid-write leaves a truncated pickle
            self.outcome = f"unreadable answer ({len(data)} bytes: {type(exc).__name__})"
            raise PipelineError("PREFETCH", f"{self.what}: the child's answer is unreadable: {type(exc).__name__}") from None
        if status != "ok":
            self.outcome = f"failed in the child: {value}"
            raise PipelineError("PREFETCH", f"{self.what}: failed in the child: {value}")
        self.outcome = "used"
        return value, done

    def close(self, why: str = "never asked for") -> None:
        """Drop an answer not taken (the child is killed if it still runs, and reaped); idempotent."""
        if self.outcome == "running":
            self.outcome = why
            self._reap(kill=True)

    def _read(self, deadline: float) -> bytes:
        chunks: list[bytes] = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._fd], [], [], left)[0]:
                self.outcome = "no answer in time"
                raise PipelineError("PREFETCH", f"{self.what}: no answer from child {self.pid} in time (killed)")
            chunk = os.read(self._fd, 1 << 20)
            if not chunk:
                if not chunks:
                    self.outcome = "the child died without answering"
                    raise PipelineError("PREFETCH", f"{self.what}: child {self.pid} exited without an answer")
                return b"".join(chunks)
            chunks.append(chunk)

    def _reap(self, *, kill: bool = False) -> None:
        if self._fd < 0:
            return
        os.close(self._fd)
        self._fd = -1
        if kill or self.outcome != "running":  # a child that answered is leaving by itself
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):  # reaped already (a SIGCHLD handler that ignores children)
            os.waitpid(self.pid, 0)


def _answer(fd: int, read: Callable[[], Any]) -> None:
    """The child: run the read, write (status, value, when) to the pipe, leave without any cleanup."""
    code = 1
    try:
        try:
            payload: tuple[str, Any, float] = ("ok", read(), time.monotonic())
        except BaseException as exc:  # noqa: BLE001 - any failure is the parent's to handle (it computes the read itself)
            from praf_engine.logs import redact

            payload = ("failed", redact(f"{type(exc).__name__}: {exc}")[:500], time.monotonic())
        data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        code = 0 if payload[0] == "ok" else 1
    finally:
        os._exit(code)
