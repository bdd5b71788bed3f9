"""Making a lake write durable (ADR 0004: the data on disk, then the rename, then the folder synced).

``Lake.write_many`` stages a group's partitions as temp files, makes all their data durable with one ``syncfs(2)`` of
the lake's filesystem (``sync_files``), renames them into place, and at the batch's end makes the changed folders
durable with one more (``sync_dirs``). An fsync per file and per folder was most of the CPU the lake spent beyond a
plain write (each one a journal commit): under a CPU-bound neighbour, 6,000 symbols took 1.80× the baseline with an
fsync per file and 1.54× with a syncfs per group (bench/lake_write.py). syncfs commits the journal and reports
write-back errors since Linux 5.8. A path on another filesystem (a symlinked symbol folder), fewer than
SYNCFS_MIN_DIRS paths (``Lake.write`` of one symbol) or a system without ``syncfs`` get an fsync each.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

SYNCFS_MIN_DIRS = 4  # fewer folders than this: one fsync each (a syncfs also flushes other files of the filesystem)


def _load_syncfs() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
    return fn


_LIBC_SYNCFS = _load_syncfs()


def _syncfs(fd: int) -> None:
    """syncfs(2) of the filesystem holding ``fd``; OSError on failure."""
    if _LIBC_SYNCFS is None:
        raise OSError(0, "syncfs is not available")
    if _LIBC_SYNCFS(fd) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _fsync(path: Path, flags: int) -> OSError | None:
    try:
        fd = os.open(path, flags)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        return exc
    return None


def fsync_dir(path: Path) -> OSError | None:
    """fsync one folder; the error, if any, is returned (the caller reports every failed folder at once)."""
    return _fsync(path, os.O_RDONLY | os.O_DIRECTORY)


def fsync_file(path: Path) -> OSError | None:
    """fsync one file's data; the error, if any, is returned."""
    return _fsync(path, os.O_RDONLY)


def sync_dirs(dirs: list[Path], root: Path, map_fn: Callable[..., Iterable[OSError | None]] = map) -> list[tuple[Path, OSError]]:
    """Make the entries of ``dirs`` durable; returns (folder, error) for each failure. Folders on ``root``'s
    filesystem are synced by one syncfs when there are at least SYNCFS_MIN_DIRS of them and syncfs exists."""
    return _sync(dirs, root, fsync_dir, map_fn)


def sync_files(files: list[Path], root: Path, map_fn: Callable[..., Iterable[OSError | None]] = map) -> list[tuple[Path, OSError]]:
    """Make the data of ``files`` (written, not renamed yet) durable; returns (file, error) for each failure: one
    syncfs for those on ``root``'s filesystem when there are at least SYNCFS_MIN_DIRS of them (it writes back and
    waits for every dirty page of the filesystem), else an fsync each."""
    return _sync(files, root, fsync_file, map_fn)


def _sync(paths: list[Path], root: Path, fsync_one: Callable[[Path], OSError | None],
          map_fn: Callable[..., Iterable[OSError | None]]) -> list[tuple[Path, OSError]]:
    rest = paths
    errors: list[tuple[Path, OSError]] = []
    if _LIBC_SYNCFS is not None and len(paths) >= SYNCFS_MIN_DIRS:
        try:
            dev = os.stat(root).st_dev
        except OSError as exc:
            return [(root, exc)]
        same, rest = [], []
        for p in paths:
            try:
                (same if os.stat(p).st_dev == dev else rest).append(p)
            except OSError as exc:
                errors.append((p, exc))
        if same:
            try:
                fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
                try:
                    _syncfs(fd)
                finally:
                    os.close(fd)
            except OSError as exc:
                errors.extend((p, exc) for p in same)
    for p, err in zip(rest, map_fn(fsync_one, rest), strict=True):
        if err is not None:
            errors.append((p, err))
    return errors
