"""A batch's files are made durable by one syncfs of the lake's filesystem before any of them is renamed into place,
and its folders by one more; a failing syncfs is LAKEIO, like a failing fsync, and replaces nothing; a few files or
folders, or no syncfs, get an fsync each; a single write fsyncs its file and folder."""

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


class FailingCall(Calls):
    """Lets the calls through, but the ``nth`` (1-based) fails with EIO."""

    def __init__(self, real, nth: int) -> None:  # noqa: ANN001
        super().__init__(real)
        self.nth = nth

    def __call__(self, *args):  # noqa: ANN002, ANN204
        if self.count + 1 == self.nth:
            self.count += 1
            raise OSError(errno.EIO, "Input/output error")
        return super().__call__(*args)


@needs_syncfs
def test_a_batch_syncs_its_files_once_before_any_rename_and_its_folders_once(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    fsyncs, syncfs = Calls(os.fsync), Calls(lake_sync._syncfs)
    seen: list[tuple[int, int]] = []  # (partitions in place, temp files) at each syncfs

    def recording(fd: int) -> None:
        seen.append((len(list(tmp_path.rglob("part-000.parquet"))), len(list(tmp_path.rglob(".part-000.parquet.*.tmp")))))
        syncfs(fd)

    monkeypatch.setattr(os, "fsync", fsyncs)
    monkeypatch.setattr(lake_sync, "_syncfs", recording)
    lake = Lake(tmp_path, publish_wait_s=30.0)  # one group: closed by the batch's end, not by a pause
    out = lake.write_many({f"S{i}": bars(["2023-12-29", "2024-01-02"]) for i in range(6)})
    assert sum(r.rows_written for r in out.values()) == 12
    # the 12 partition files: one syncfs while none is in place yet; then the 6 symbol folders, 12 year folders and
    # the root: one syncfs once all 12 are renamed; no fsync at all
    assert (fsyncs.count, syncfs.count) == (0, 2)
    assert seen == [(0, 12), (12, 0)]
    assert part(tmp_path, "S5", 2024).exists()


@needs_syncfs
def test_a_failing_file_sync_is_lakeio_and_replaces_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lake = Lake(tmp_path, publish_wait_s=30.0)
    lake.write_many({f"S{i}": bars(["2024-01-02"]) for i in range(4)})
    before = {p: p.read_bytes() for p in tmp_path.rglob("part-000.parquet")}
    calls = FailingCall(lake_sync._syncfs, 1)  # the files' sync fails; the folders' one (second) works
    monkeypatch.setattr(lake_sync, "_syncfs", calls)
    with pytest.raises(PipelineError) as ei:
        lake.write_many({f"S{i}": bars(["2024-01-03"]) for i in range(4)})
    assert ei.value.error_code == "LAKEIO" and len(ei.value.detail["failed"]) == 4
    assert all(f["detail"]["errno"] == errno.EIO for f in ei.value.detail["failed"].values())
    assert {p: p.read_bytes() for p in tmp_path.rglob("part-000.parquet")} == before  # the old files, untouched
    assert [p for p in tmp_path.rglob("*") if p.name.startswith(".")] == []  # no temp file left
    monkeypatch.setattr(lake_sync, "_syncfs", calls.real)
    out = lake.write_many({f"S{i}": bars(["2024-01-03"]) for i in range(4)})  # every symbol's lock was released
    assert all(r.rows_written == 1 for r in out.values())


def test_a_single_write_fsyncs_each_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lake = Lake(tmp_path)
    lake.write("AAPL", bars(["2024-01-02"]))  # root, symbol and year folders now exist
    fsyncs, syncfs = Calls(os.fsync), Calls(lake_sync._syncfs)
    monkeypatch.setattr(os, "fsync", fsyncs)
    monkeypatch.setattr(lake_sync, "_syncfs", syncfs)
    lake.write("AAPL", bars(["2024-01-03"]))
    assert (fsyncs.count, syncfs.count) == (2, 0)  # the file, then its year folder


@needs_syncfs
def test_a_failing_folder_sync_is_lakeio_naming_the_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lake_sync, "_syncfs", FailingCall(lake_sync._syncfs, 2))  # the files' sync works, the folders' fails
    with pytest.raises(PipelineError) as ei:
        Lake(tmp_path, publish_wait_s=30.0).write_many({f"S{i}": bars(["2024-01-02"]) for i in range(4)})
    assert ei.value.error_code == "LAKEIO"
    assert ei.value.detail["failed_dirs"] == 9  # root, 4 symbol folders, 4 year folders


def test_without_syncfs_every_folder_is_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lake_sync, "_LIBC_SYNCFS", None)
    fsyncs = Calls(os.fsync)
    monkeypatch.setattr(os, "fsync", fsyncs)
    Lake(tmp_path).write_many({f"S{i}": bars(["2024-01-02"]) for i in range(4)})
    assert fsyncs.count == 4 + 9  # 4 files; root, 4 symbol folders, 4 year folders
