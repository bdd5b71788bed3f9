"""A lake write's second half: prepared partitions staged as temp files, made durable in groups, then renamed into
place (ADR 0004, amended 2026-12-06: no rename before its data is on disk).

``stage`` writes one symbol's temp files (neither synced nor renamed); ``publish`` makes a group's data durable at
once (``lake_sync.sync_files``: one syncfs for a group, an fsync each for a few files) and renames each over its
partition, releasing each symbol's lock. ``Lake.write`` publishes its one symbol itself; ``Lake.write_many`` hands
what its I/O threads stage to a ``Publisher`` thread, which gathers groups: a group closes at PUBLISH_FILES files,
at the batch's end, or when nothing new was staged for ``wait_s`` (so a key waiting for its own symbol's lock, held
by a staged write, waits at most that).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from praf_engine.atomic import publish_temp, write_temp
from praf_engine.errors import PipelineError
from praf_engine.lake_frames import WriteResult
from praf_engine.lake_sync import sync_files

PUBLISH_FILES = 256
PUBLISH_WAIT_S = 0.02

Staged = tuple[Any, "Prepared", list[tuple[int, Path, Path]]]  # (key, the write, [(year, temp, partition)])


@dataclass
class Prepared:
    """A validated, merged and encoded write waiting for its files; holds the symbol's lock until published."""

    result: WriteResult
    parts: list[tuple[int, Path, pa.Buffer]]
    lock: threading.Lock | None

    def release(self) -> None:
        """Release the symbol's lock, once."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None


def stage(prep: Prepared, ensure_dir: Callable[[Path], None]) -> list[tuple[int, Path, Path]]:
    """Each prepared partition in a temp file beside it, (year, temp, partition); LAKEIO, with nothing left behind,
    when one cannot be written. The lock stays held (``publish`` releases it)."""
    out: list[tuple[int, Path, Path]] = []
    try:
        for year, path, data in prep.parts:
            try:
                ensure_dir(path.parent)
                out.append((year, write_temp(path, data, mode=0o644), path))
            except OSError as exc:
                raise io_error(prep.result, path, exc) from exc
    except BaseException:
        unlink(tmp for _, tmp, _ in out)
        raise
    return out


def publish(items: list[Staged], root: Path, fsync: bool, pending: set[Path]) -> dict[Any, WriteResult | PipelineError]:
    """The group's temp files made durable together, then renamed over their partitions (their folders added to
    ``pending``), each symbol's lock released. A symbol whose file could not be synced or renamed is LAKEIO."""
    errors = dict(sync_files([tmp for _, _, parts in items for _, tmp, _ in parts], root)) if fsync else {}
    out: dict[Any, WriteResult | PipelineError] = {}
    for key, prep, parts in items:
        result = prep.result
        try:
            for i, (year, tmp, path) in enumerate(parts):
                try:
                    if tmp in errors:
                        raise errors[tmp]
                    publish_temp(tmp, path)
                except OSError as exc:
                    unlink(t for _, t, _ in parts[i:])
                    raise io_error(result, path, exc) from exc
                result.years.append(year)
                pending.add(path.parent)
            out[key] = result
        except PipelineError as exc:
            out[key] = exc
        finally:
            prep.release()
    return out


class Publisher:
    """``write_many``'s publishing thread: ``put`` what an I/O thread staged, ``close`` at the batch's end. Each
    symbol's outcome goes to ``done``; the folders its renames changed collect in ``pending``. A bug in publishing
    is kept in ``bug`` (the rest is then only released and cleaned up, never published)."""

    def __init__(self, root: Path, fsync: bool, wait_s: float,
                 done: Callable[[Any, WriteResult | PipelineError], None]) -> None:
        self.root, self.fsync, self.wait_s, self.done = root, fsync, wait_s, done
        self.pending: set[Path] = set()
        self.bug: BaseException | None = None
        self._queue: queue.SimpleQueue[Staged | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="lake-publish")
        self._thread.start()

    def put(self, item: Staged) -> None:
        self._queue.put(item)

    def close(self) -> None:
        """Publish what is left and stop (every lock released when it returns)."""
        self._queue.put(None)
        self._thread.join()

    def _group(self) -> list[Staged | None]:
        group = [self._queue.get()]
        files = 0
        while group[-1] is not None:
            files += len(group[-1][2])
            if files >= PUBLISH_FILES:
                break
            try:
                group.append(self._queue.get(timeout=self.wait_s))
            except queue.Empty:
                break
        return group

    def _run(self) -> None:
        done = False
        while not done:
            group = self._group()
            done = group[-1] is None
            items = [g for g in group if g is not None]
            try:
                if self.bug is None:
                    for key, result in publish(items, self.root, self.fsync, self.pending).items():
                        self.done(key, result)
            except BaseException as exc:  # a bug: write_many re-raises it once everything is released
                self.bug = exc
            finally:
                for _, prep, parts in items:  # after a bug: nothing more published, every lock released
                    if prep.lock is not None:
                        unlink(tmp for _, tmp, _ in parts)
                        prep.release()


def io_error(result: WriteResult, path: Path, exc: OSError) -> PipelineError:
    return PipelineError("LAKEIO", f"could not write {path}: {exc.strerror or exc}",
                         {"symbol": result.symbol, "path": str(path), "errno": exc.errno,
                          "years_written": list(result.years)})


def unlink(paths: Iterable[Path]) -> None:
    for p in paths:
        with contextlib.suppress(OSError):
            p.unlink()
