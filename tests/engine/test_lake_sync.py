"""A batch's folders are made durable by one syncfs of the lake's filesystem (files still fsynced one by one before
their rename); a failing syncfs is LAKEIO, like a failing fsync; a few folders, or no syncfs, get an fsync each."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

import praf_engine.lake_sync as lake_sync
from praf_engine.errors import PipelineError
from praf_engine.lake import Lake
from tests.engine.conftest import bars, part

needs_syncfs = pytest.mark.skipif(lake_sync._LIBC_SYNCFS is None, reason="syncfs(2) is Linux only")


class Calls:
    """Counts the calls of a wrapped function and lets them through."""

    def __init__(self, real):  # noqa: ANN001
        self.real, self.count = real, 0

    def __call__(self, *args):  # noqa: ANN002, ANN204
        self.count += 1
        return self.real(*args)


@needs_syncfs
def test_a_batch_fsyncs_its_files_and_syncs_its_folders_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fsyncs, syncfs = Calls(os.fsync), Calls(lake_sync._syncfs)
    monkeypatch.setattr(os, "fsync", fsyncs)
    monkeypatch.setattr(lake_sync, "_syncfs", syncfs)
    out = Lake(tmp_path).write_many({f"S{i}": bars(["2023-12-29", "2024-01-02"]) for i in range(6)})
    assert sum(r.rows_written for r in out.values()) == 12
    # 12 partition files, one fsync each; the 6 symbol folders, 12 year folders and the root: one syncfs
    assert (fsyncs.count, syncfs.count) == (12, 1)
    assert part(tmp_path, "S5", 2024).exists()


def test_a_single_write_fsyncs_each_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lake = Lake(tmp_path)
    lake.write("AAPL", bars(["2024-01-02"]))  # root, symbol and year folders now exist
    fsyncs, syncfs = Calls(os.fsync), Calls(lake_sync._syncfs)
    monkeypatch.setattr(os, "fsync", fsyncs)
    monkeypatch.setattr(lake_sync, "_syncfs", syncfs)
    lake.write("AAPL", bars(["2024-01-03"]))
    assert (fsyncs.count, syncfs.count) == (2, 0)  # the file, then its year folder


@needs_syncfs
def test_a_failing_syncfs_is_lakeio_naming_the_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def eio(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(lake_sync, "_syncfs", eio)
    with pytest.raises(PipelineError) as ei:
        Lake(tmp_path).write_many({f"S{i}": bars(["2024-01-02"]) for i in range(4)})
    assert ei.value.error_code == "LAKEIO"
    assert ei.value.detail["failed_dirs"] == 9  # root, 4 symbol folders, 4 year folders


def test_without_syncfs_every_folder_is_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lake_sync, "_LIBC_SYNCFS", None)
    fsyncs = Calls(os.fsync)
    monkeypatch.setattr(os, "fsync", fsyncs)
    Lake(tmp_path).write_many({f"S{i}": bars(["2024-01-02"]) for i in range(4)})
    assert fsyncs.count == 4 + 9  # 4 files; root, 4 symbol folders, 4 year folders
