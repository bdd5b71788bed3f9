"""The log viewer's read model: pages of logs/app.jsonl (and its rotated files) that pass a query, as LogLine DTOs.

One ``LogIndex`` (praf_engine.logscan) per recent query is kept and brought up to date on each call, so asking again
(follow mode, the next page) scans only what was appended since. Lines are redacted again on the way out (the
settings' secrets of this process), whatever the writer did.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from praf_engine.errors import PipelineError
from praf_engine.logs import redact
from praf_engine.logscan import MAX_LINE, LogIndex, LogQuery, parse_line
from praf_engine.readmodels.dto import LogLine, LogPage

MAX_LIMIT = 1000


def to_line(file: str, offset: int, size: int, raw: bytes) -> LogLine:
    """One line as the viewer shows it: the JSON object's fields, or the raw text when it is none."""
    text = redact(raw.decode("utf-8", errors="replace"))
    cut = size > len(raw)
    record = None if cut else parse_line(text.encode())
    if record is None:
        return LogLine(file, offset, size, "", "", "", "", "", "", "", {}, "", text, False, cut)

    def field(key: str) -> str:
        value = record.get(key)
        return "" if value is None else str(value)

    detail = record.get("detail")
    detail = detail if isinstance(detail, dict) else ({} if detail is None else {"value": detail})
    extra = {k: v for k, v in record.items() if k not in ("ts", "level", "module", "run_id", "job", "error_code", "msg",
                                                          "detail", "stack", "event")}
    return LogLine(file, offset, size, field("ts"), field("level"), field("module"), field("run_id"), field("job"),
                   field("error_code"), field("msg") or field("event"), {**detail, **extra}, field("stack"), text, True,
                   False)


class LogReader:
    """Pages of one log folder for a few queries at a time (the least recently used index is dropped). Thread-safe:
    one call at a time scans."""

    def __init__(self, logs_dir: Path, keep: int = 4) -> None:
        self.logs_dir = logs_dir
        self.keep = keep
        self._indexes: OrderedDict[LogQuery, LogIndex] = OrderedDict()
        self._lock = threading.Lock()

    def page(self, query: LogQuery | None = None, *, offset: int | None = None, limit: int = 100) -> LogPage:
        """Lines ``offset``..``offset+limit-1`` of those passing ``query`` (None offset: the last ``limit``, the tail).
        LOGQUERY for a bad query, offset or limit; LOGREAD when the folder is missing or unreadable."""
        if not 1 <= limit <= MAX_LIMIT:
            raise PipelineError("LOGQUERY", f"a log page holds 1 to {MAX_LIMIT} lines, not {limit}", {"limit": limit})
        if offset is not None and offset < 0:
            raise PipelineError("LOGQUERY", f"a log page offset is 0 or more, not {offset}", {"offset": offset})
        query = (query or LogQuery()).check()
        with self._lock:
            index = self._indexes.pop(query, None) or LogIndex(self.logs_dir, query)
            self._indexes[query] = index
            while len(self._indexes) > self.keep:
                self._indexes.popitem(last=False)
            before = index.scanned_bytes
            try:
                index.refresh()
            except PipelineError:
                self._indexes.pop(query, None)
                raise
            total = index.total
            start = max(0, total - limit) if offset is None else min(offset, total)
            lines = tuple(to_line(path.name, at, size, raw) for path, at, size, raw in index.lines(start, limit))
            notes = tuple(index.notes)
            index.notes.clear()
            return LogPage(lines, start, total, tuple(p.name for p in index.files), notes, index.scanned_bytes - before)


def describe(line: LogLine) -> dict[str, Any]:
    """One line for a person (the detail pane, `--json`): the fields that are set, the detail, the stack."""
    if not line.parsed:
        return {"file": line.file, "offset": line.offset, "raw": line.raw,
                "note": f"line cut at {MAX_LINE} of {line.size} bytes" if line.cut else "not a JSON line"}
    out: dict[str, Any] = {k: getattr(line, k) for k in ("ts", "level", "module", "run_id", "job", "error_code", "msg")
                           if getattr(line, k)}
    out.update(detail=line.detail, file=line.file, offset=line.offset)
    if line.stack:
        out["stack"] = line.stack
    return out
