"""Reads computed in a forked child while this process goes on starting: praf-tui's start reads.

Why a process: praf-tui's start is CPU-bound Python on both sides. While Textual composes, lays out and paints the
dashboard (~100 ms of the main thread), the snapshot's thread worker (~160 ms of Peewee rows) waits for the GIL, so
the two add up instead of overlapping (bench/tui.py, issue 16). A child forked before the parent opens its database
computes the reads on another core meanwhile and hands each over, pickled, through a pipe as soon as it is computed
(a length-prefixed frame per read, in order): the first can be used while the child computes the next.

The rules that make the fork safe, each checked by ``ForkedRead.start`` (it returns None, and the caller computes the
reads itself, when one does not hold):
- the process has one thread: a lock another thread held at the fork would stay held in the child forever;
- the process has no database connection open: SQLite keeps per-process lock bookkeeping that a child must not
  inherit, and a PostgreSQL socket shared with a child is one session for two. The child opens its own; the parent
  opens its own after the fork;
- the child only reads. It writes its answers to the pipe and leaves with ``os._exit``: no atexit handler, no
  finaliser of an inherited object, no buffered output flushed twice.
The parent takes each answer at most once, waits for one at most ``wait_s``, and reaps the child whatever happened
(answered, failed, killed, timed out, never asked for). Every miss is logged (PREFETCH) and falls back to computing in
process, where a real failure raises with its own code as it always did.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pickle
import select
import signal
import struct
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from praf_engine.errors import PipelineError

_FRAME = struct.Struct(">I")  # each answer: its length, then the pickle of (status, value, when computed)
PIPE_SIZE = 1 << 20  # Linux's default ceiling for an unprivileged process (/proc/sys/fs/pipe-max-size)


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


class ForkedRead:
    """Reads running in a forked child, in order; ``take`` each answer once, or ``close`` to drop them. Safe to use
    from several threads (a waiting ``take`` holds no lock while it waits)."""

    def __init__(self, pid: int, fd: int, what: str, parts: int = 1) -> None:
        self.pid, self._fd, self.what, self.parts = pid, fd, what, parts
        os.set_blocking(fd, False)  # two threads may see it readable; the second read must not block
        self.started = time.monotonic()
        self.outcome = "running"  # then: used (every answer taken), or why not (for the log and the tests)
        self._lock = threading.Lock()
        self._buffer = bytearray()
        self._frames: list[bytes] = []
        self._eof = False
        self._taken: set[int] = set()

    @classmethod
    def start(cls, what: str, reads: Sequence[Callable[[], Any]]) -> ForkedRead | None:
        """Fork a child that runs ``reads`` in order and sends back each result as it comes; None when forking is not
        safe here."""
        if fork_unsafe_reason() is not None:
            return None
        try:
            r, w = os.pipe()
        except OSError:  # out of file descriptors: no prefetch
            return None
        with contextlib.suppress(AttributeError, OSError):  # Linux: room for a whole answer (a snapshot is ~100 KB)
            fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, PIPE_SIZE)  # else the child waits, mid-answer, for the parent to read
        try:
            pid = os.fork()
        except OSError:  # no process or memory to spare (EAGAIN, ENOMEM): no prefetch
            os.close(r)
            os.close(w)
            return None
        if pid == 0:  # the child: never returns
            os.close(r)
            _answer(w, reads)
        os.close(w)
        return cls(pid, r, what, len(reads))

    def answered(self, part: int = 0, wait_s: float = 0.0) -> bool:
        """Answer ``part`` has come, or the child is gone: ``take(part)`` would not wait. Waits at most ``wait_s`` for
        that (0: never blocks; False while another thread is reading the pipe at that moment)."""
        deadline = time.monotonic() + wait_s
        while True:
            if not self._lock.acquire(blocking=False):
                return False
            try:
                if self.outcome != "running" or part in self._taken:
                    return False
                self._receive()
                if len(self._frames) > part or self._eof:
                    return True
                fd = self._fd
            finally:
                self._lock.release()
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            select.select([fd], [], [], left)

    def take(self, part: int, wait_s: float) -> tuple[Any, float]:
        """Answer ``part`` and when it was computed (CLOCK_MONOTONIC, shared by the processes of the machine).
        PipelineError PREFETCH when the child failed, died or did not answer within ``wait_s`` (then it is killed)."""
        deadline = time.monotonic() + wait_s
        while True:
            with self._lock:
                if self.outcome != "running" or part in self._taken:
                    raise PipelineError("PREFETCH", f"{self.what}: answer {part} already {self.outcome}")
                self._receive()
                if len(self._frames) > part:
                    return self._decode(part)
                if self._eof:
                    return self._fail("the child died without answering" if not self._buffer else
                                      f"unreadable answer ({len(self._buffer)} bytes: cut short)",
                                      f"child {self.pid} exited without answer {part}")
                left = deadline - time.monotonic()
                if left <= 0:
                    return self._fail("no answer in time", f"no answer from child {self.pid} in time (killed)")
                fd = self._fd
            select.select([fd], [], [], left)  # without the lock: another thread may take what comes

    def close(self, why: str = "never asked for") -> None:
        """Drop the answers not taken (the child is killed if it still runs, and reaped); idempotent."""
        with self._lock:
            if self.outcome == "running":
                self.outcome = why
                self._reap(kill=True)

    # under self._lock ------------------------------------------------------------------------------------
    def _receive(self) -> None:
        """What the pipe holds now, cut into frames."""
        while not self._eof:
            try:
                chunk = os.read(self._fd, 1 << 20)
            except BlockingIOError:
                break
            if not chunk:
                self._eof = True
                break
            self._buffer += chunk
        while len(self._buffer) >= _FRAME.size:
            (size,) = _FRAME.unpack_from(self._buffer)
            if len(self._buffer) < _FRAME.size + size:
                break
            self._frames.append(bytes(self._buffer[_FRAME.size:_FRAME.size + size]))
            del self._buffer[:_FRAME.size + size]

    def _decode(self, part: int) -> tuple[Any, float]:
        data = self._frames[part]
        try:
            status, value, done = pickle.loads(data)
        except Exception as exc:  # noqa: BLE001 - a child killed mid-write, or bytes that are no answer
            return self._fail(f"unreadable answer ({len(data)} bytes: {type(exc).__name__})",
                              f"the child's answer is unreadable: {type(exc).__name__}")
        if status != "ok":
            return self._fail(f"failed in the child: {value}", f"failed in the child: {value}")
        self._taken.add(part)
        if len(self._taken) == self.parts:
            self.outcome = "used"
            self._reap()
        return value, done

    def _fail(self, outcome: str, msg: str) -> Any:
        self.outcome = outcome
        self._reap(kill=True)
        raise PipelineError("PREFETCH", f"{self.what}: {msg}")

    def _reap(self, *, kill: bool = False) -> None:
        if self._fd < 0:
            return
        os.close(self._fd)
        self._fd = -1
        if kill:  # a child that answered everything is leaving by itself
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):  # reaped already (a SIGCHLD handler that ignores children)
            os.waitpid(self.pid, 0)


def _answer(fd: int, reads: Sequence[Callable[[], Any]]) -> None:
    """The child: run the reads in order, write each (status, value, when) to the pipe as it comes, stop at the first
    failure, leave without any cleanup."""
    code = 1
    try:
        for read in reads:
            try:
                payload: tuple[str, Any, float] = ("ok", read(), time.monotonic())
            except BaseException as exc:  # noqa: BLE001 - any failure is the parent's to handle (it computes the read itself)
                from praf_engine.logs import redact

                payload = ("failed", redact(f"{type(exc).__name__}: {exc}")[:500], time.monotonic())
            data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
            view = memoryview(_FRAME.pack(len(data)) + data)
            while view:
                view = view[os.write(fd, view):]
            if payload[0] != "ok":
                return
        code = 0
    finally:
        os._exit(code)
