"""Making the folder entries of a lake write durable (ADR 0004: rename, then the folder synced).

A batch of ``Lake.write_many`` changes three folders per new symbol (the symbol's, and each year's) and one per
appended symbol; an fsync of each was ~60 % of the lake's fsyncs and most of the CPU it spent beyond a plain write.
On Linux a batch's folders are made durable by one ``syncfs(2)`` of the lake's filesystem instead (it commits the
journal, folders included, and reports write-back errors since Linux 5.8); a folder on another filesystem (a
symlinked symbol folder), a small set (``Lake.write``) or a system without ``syncfs`` gets an fsync per folder.
Files are still fsynced one by one before their rename, so a crash leaves the old file or the new one.
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


def fsync_dir(path: Path) -> OSError | None:
    """fsync one folder; the error, if any, is returned (the caller reports every failed folder at once)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        return exc
    return None


def sync_dirs(dirs: list[Path], root: Path, map_fn: Callable[..., Iterable[OSError | None]] = map) -> list[tuple[Path, OSError]]:
    """Make the entries of ``dirs`` durable; returns (folder, error) for each failure. Folders on ``root``'s
    filesystem are synced by one syncfs when there are at least SYNCFS_MIN_DIRS of them and syncfs exists."""
    rest = dirs
    errors: list[tuple[Path, OSError]] = []
    if _LIBC_SYNCFS is not None and len(dirs) >= SYNCFS_MIN_DIRS:
        try:
            dev = os.stat(root).st_dev
        except OSError as exc:
            return [(root, exc)]
        same, rest = [], []
        for d in dirs:
            try:
                (same if os.stat(d).st_dev == dev else rest).append(d)
            except OSError as exc:
                errors.append((d, exc))
        if same:
            try:
                fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
                try:
                    _syncfs(fd)
                finally:
                    os.close(fd)
            except OSError as exc:
                errors.extend((d, exc) for d in same)
    for d, err in zip(rest, map_fn(fsync_dir, rest), strict=True):
        if err is not None:
            errors.append((d, err))
    return errors
