"""The log viewer's reader (praf_engine.logscan, readmodels.logs, service.logs): bad input first (a truncated last line,
non-JSON lines, a missing folder, a huge line, a rotated file vanishing mid-read), then filters, rotation and follow."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from praf_engine import logscan
from praf_engine.errors import PipelineError
from praf_engine.logs import LOG_FILE, bound_run, configure_logging, get_logger
from praf_engine.logscan import LogIndex, LogQuery
from praf_engine.readmodels.logs import LogReader, describe


@pytest.fixture(autouse=True)
def _isolate_logging() -> Iterator[None]:
    structlog.contextvars.clear_contextvars()
    yield
    structlog.contextvars.clear_contextvars()
    root = logging.getLogger("praf_engine")
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()


def line(msg: str, *, run_id: str | None = None, level: str = "info", job: str | None = None,
         error_code: str | None = None, **detail: Any) -> str:
    return json.dumps({"ts": "2026-12-04T01:00:00Z", "level": level, "module": "praf_engine.t", "run_id": run_id,
                       "job": job, "error_code": error_code, "msg": msg, "detail": detail}) + "\n"


def msgs(page: Any) -> list[str]:
    return [ln.msg if ln.parsed else ln.raw for ln in page.lines]


RUN_A, RUN_B = str(uuid.uuid4()), str(uuid.uuid4())


def test_truncated_last_line_waits_for_its_newline(tmp_path: Path) -> None:
    live = tmp_path / LOG_FILE
    live.write_text(line("one", run_id=RUN_A) + line("two", run_id=RUN_A)[:30])
    reader = LogReader(tmp_path)
    page = reader.page()
    assert msgs(page) == ["one"] and page.total == 1  # the half-written line is no entry (yet)
    with live.open("a") as f:
        f.write(line("two", run_id=RUN_A)[30:])
    page = reader.page(LogQuery(run_id=RUN_A))
    assert msgs(page) == ["one", "two"]
    assert reader.page().scanned_bytes == len(line("two", run_id=RUN_A)) - 30 + 30  # follow: only the new bytes


def test_rotated_file_last_line_without_newline_counts(tmp_path: Path) -> None:
    (tmp_path / f"{LOG_FILE}.2026-12-03").write_text(line("old", run_id=RUN_A) + line("last", run_id=RUN_A).rstrip("\n"))
    (tmp_path / LOG_FILE).write_text(line("new", run_id=RUN_A))
    reader = LogReader(tmp_path)
    assert msgs(reader.page(LogQuery(run_id=RUN_A))) == ["old", "last", "new"]
    assert reader.page(LogQuery(run_id=RUN_A)).notes == ()  # a second pass finds nothing new and nothing shrunk


def test_non_json_lines_show_raw_and_never_match_a_field(tmp_path: Path) -> None:
    (tmp_path / LOG_FILE).write_text(f"Traceback (most recent call last) {RUN_A}\n" + line("ok", run_id=RUN_A)
                                     + '["a list"]\n' + "\n" + "\xff\xfe garbage\n")
    reader = LogReader(tmp_path)
    page = reader.page()
    assert [ln.parsed for ln in page.lines] == [False, True, False, False]
    assert page.lines[0].raw.startswith("Traceback") and describe(page.lines[0])["note"] == "not a JSON line"
    assert msgs(reader.page(LogQuery(run_id=RUN_A))) == ["ok"]  # the raw line holds the id but is no record of it
    assert len(reader.page(LogQuery(text="traceback")).lines) == 1  # text matches raw lines too


def test_missing_log_folder_is_logread(tmp_path: Path) -> None:
    with pytest.raises(PipelineError) as err:
        LogReader(tmp_path / "logs").page()
    assert err.value.error_code == "LOGREAD" and "no log folder" in err.value.msg


def test_bad_queries_are_logquery(tmp_path: Path) -> None:
    reader = LogReader(tmp_path)
    for kwargs in ({"query": LogQuery(level="loud")}, {"query": LogQuery(run_id="not a run")}, {"offset": -1},
                   {"limit": 0}, {"limit": 5000}):
        with pytest.raises(PipelineError) as err:
            reader.page(**kwargs)
        assert err.value.error_code == "LOGQUERY"


def test_huge_line_is_indexed_and_cut(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logscan, "CHUNK", 4096)  # a line of several chunks without building a 4 MiB one
    big = line("big", run_id=RUN_A, blob="x" * 20000)
    (tmp_path / LOG_FILE).write_text(line("before", run_id=RUN_A) + big + line("after", run_id=RUN_B))
    reader = LogReader(tmp_path)
    assert msgs(reader.page(LogQuery(run_id=RUN_A))) == ["before", "big"]
    assert msgs(reader.page(LogQuery(run_id=RUN_B))) == ["after"]
    assert len(reader.page().lines) == 3
    monkeypatch.setattr(logscan, "MAX_LINE", 1000)
    monkeypatch.setattr("praf_engine.readmodels.logs.MAX_LINE", 1000)
    reader = LogReader(tmp_path)
    cut = reader.page(LogQuery(run_id=RUN_A)).lines[1]
    assert cut.cut and not cut.parsed and len(cut.raw) == 1000 and cut.size == len(big) - 1
    assert "cut at 1000" in describe(cut)["note"]


def test_rotated_file_vanishing_mid_read(tmp_path: Path) -> None:
    old, older = tmp_path / f"{LOG_FILE}.2026-12-02", tmp_path / f"{LOG_FILE}.2026-12-01"
    older.write_text(line("older", run_id=RUN_A))
    old.write_text(line("old", run_id=RUN_A))
    (tmp_path / LOG_FILE).write_text(line("live", run_id=RUN_A))

    class Racing(LogIndex):  # keep_days rotates `old` away after the listing, before it is read
        def _scan(self, seg: Any) -> None:
            if seg.path == older:
                old.unlink()
            super()._scan(seg)

    index = Racing(tmp_path, LogQuery(run_id=RUN_A))
    index.refresh()
    assert [raw for *_, raw in index.lines(0, 10)] == [line("older", run_id=RUN_A).encode()[:-1],
                                                       line("live", run_id=RUN_A).encode()[:-1]]
    assert any("vanished" in n for n in index.notes)
    older.unlink()  # indexed, then gone before its lines are read back
    assert len(list(index.lines(0, 10))) == 1 and any("2026-12-01 vanished" in n for n in index.notes)
    index.refresh()
    assert index.total == 1


def test_filters_and_levels(tmp_path: Path) -> None:
    (tmp_path / LOG_FILE).write_text(
        line("fetch start", run_id=RUN_A, job="fetch") + line("slow", run_id=RUN_A, job="fetch", level="warning")
        + line("429 on exit", run_id=RUN_A, job="fetch", level="error", error_code="YF429")
        + line("qa start", run_id=RUN_B, job="qa") + line("msg mentions \"job\": \"fetch\"", run_id=RUN_B, job="qa"))
    reader = LogReader(tmp_path)
    assert msgs(reader.page(LogQuery(job="fetch"))) == ["fetch start", "slow", "429 on exit"]
    assert msgs(reader.page(LogQuery(level="warning"))) == ["slow", "429 on exit"]
    assert msgs(reader.page(LogQuery(error_code="yf429"))) == ["429 on exit"]
    assert msgs(reader.page(LogQuery(run_id=RUN_B[:8].upper()))) == ["qa start", 'msg mentions "job": "fetch"']
    assert msgs(reader.page(LogQuery(text="EXIT", job="fetch"))) == ["429 on exit"]
    assert msgs(reader.page(LogQuery(run_id=RUN_A, level="error"))) == ["429 on exit"]
    page = reader.page(limit=2)  # the tail
    assert page.offset == 3 and page.total == 5 and len(page.lines) == 2
    assert msgs(reader.page(offset=1, limit=1)) == ["slow"]


def test_real_handler_rotation_and_follow(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    configure_logging(logs, console_level=None)
    log = get_logger("praf_engine.test")
    reader = LogReader(logs)
    with bound_run(RUN_A, "fetch"):
        log.info("night starts", batch=1)
    assert msgs(reader.page(LogQuery(run_id=RUN_A))) == ["night starts"]
    handler = logging.getLogger("praf_engine").handlers[0]
    handler.doRollover()  # type: ignore[attr-defined]
    with bound_run(RUN_A, "fetch"):
        log.warning("after midnight", error_code="YF429")
    page = reader.page(LogQuery(run_id=RUN_A))
    assert msgs(page) == ["night starts", "after midnight"] and len(page.files) == 2
    assert page.files[-1] == LOG_FILE and page.files[0].startswith(LOG_FILE + ".")
    assert page.lines[1].error_code == "YF429" and page.lines[1].job == "fetch" and page.lines[0].detail["batch"] == 1
