"""Replace a file whole: a temp file beside it, then a rename, so a reader (or a crash) sees the old file or the
new one, never half of one. The one helper every writer of the home uses (lake, raw caches, exits' state, archive
exports, restores, calendars' cache, the sandbox's FTP files)."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def temp_beside(path: Path) -> Path:
    """A unique hidden name in ``path``'s folder, ``.<name>.<pid>.<random>.tmp``: no reader globbing ``*.parquet``
    or ``*.csv`` sees it, and the lake's sweep of killed writers (``Lake.cleanup_temp``) knows the shape."""
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")


@contextmanager
def replacing(path: Path, *, make_parents: bool = True) -> Iterator[Path]:
    """Yield a temp path beside ``path`` for the caller (or a library) to write; when the block ends without an
    error it replaces ``path``. On any error, KeyboardInterrupt included, the temp file is removed."""
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_beside(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_atomic(path: Path, data: Any, *, fsync: bool = False, make_parents: bool = True, mode: int = 0o666) -> None:
    """``data`` (bytes or any buffer, e.g. a pyarrow Buffer) as the new content of ``path``. ``fsync``: the data is on
    disk before the rename (fsyncing the folder, to make the rename itself durable, is the caller's)."""
    with replacing(path, make_parents=make_parents) as tmp:
        _write_file(tmp, data, fsync=fsync, mode=mode)


def write_temp(path: Path, data: Any, *, mode: int = 0o666) -> Path:
    """The first half of ``write_atomic`` for a caller that makes many files durable at once: ``data`` in a new temp
    file beside ``path`` (its folder exists), neither synced nor renamed; the caller syncs it, then renames it
    over ``path`` (or unlinks it). On any error the temp file is removed."""
    tmp = temp_beside(path)
    try:
        _write_file(tmp, data, fsync=False, mode=mode)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return tmp


def publish_temp(tmp: Path, path: Path) -> None:
    """The second half: ``write_temp``'s file renamed over ``path`` (atomic on one filesystem)."""
    os.replace(tmp, path)


def _write_file(tmp: Path, data: Any, *, fsync: bool, mode: int) -> None:
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)  # the name is unique
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
