"""Lazy reading of logs/app.jsonl and its rotated files: an incremental index of the offsets of the lines that pass a
filter, built by scanning in chunks (a byte-level prefilter before any JSON parsing), never the whole file in memory.

The files are the live ``app.jsonl`` and what ``ConcurrentTimedRotatingFileHandler`` renamed it to at each rollover:
``app.jsonl.<time>`` (``%Y-%m-%d`` for the midnight rotation), ``.<n>`` when that name was taken. Files are known by
inode, so a rollover (the live file renamed, a new one created) keeps what was indexed; a file that vanished (rotated
away by ``keep_days``) is dropped with a note; a file that shrank is scanned again. A line is indexed once its newline
is written (the live file's unfinished last line waits); a rotated file's last line counts without one.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from praf_engine.errors import PipelineError
from praf_engine.logs import LOG_FILE

if TYPE_CHECKING:
    import numpy as np

CHUNK = 4 << 20  # bytes read at once while scanning
MAX_LINE = 256 << 10  # a longer line is indexed whole but parsed and shown from its first MAX_LINE bytes only
LEVELS = ("debug", "info", "warning", "error", "critical")
_RUN_ID = re.compile(r"[0-9a-fA-F-]{1,36}")
_ROTATED = re.compile(re.escape(LOG_FILE) + r"\.(?P<stamp>[^.]+)(?:\.(?P<n>\d+))?$")


@dataclass(frozen=True)
class LogQuery:
    """What to show: every field None/empty matches everything. ``run_id`` may be a prefix of the run id; ``level`` is
    the lowest level shown (``warning`` shows warnings, errors and critical lines); ``text`` is case-insensitive and
    matches anywhere in the line (message, detail, stack). Non-JSON lines pass only a query without fields but text."""

    run_id: str | None = None
    level: str | None = None
    job: str | None = None
    error_code: str | None = None
    text: str | None = None

    def check(self) -> LogQuery:
        """The query normalised; LOGQUERY for a level not in LEVELS or a run id that is not (a prefix of) a UUID."""
        level = (self.level or "").strip().lower() or None
        if level is not None and level not in LEVELS:
            raise PipelineError("LOGQUERY", f"unknown log level {self.level!r}; the levels are {', '.join(LEVELS)}",
                                {"level": self.level})
        run_id = (self.run_id or "").strip().lower() or None
        if run_id is not None and not _RUN_ID.fullmatch(run_id):
            raise PipelineError("LOGQUERY", f"a run id is a UUID (or its first characters), not {self.run_id!r}",
                                {"run_id": self.run_id})
        return LogQuery(run_id, level, (self.job or "").strip() or None, (self.error_code or "").strip().upper() or None,
                        (self.text or "").strip() or None)

    @property
    def fielded(self) -> bool:
        return any((self.run_id, self.level, self.job, self.error_code))

    def matches_head(self, head: bytes) -> bool:
        """The test of a line cut at MAX_LINE (no JSON to parse): each field's bytes in its start (_shape writes the
        fields before msg and detail), the text anywhere in it."""
        if self.text and self.text.lower().encode() not in head.lower():
            return False
        fields = (LogQuery(run_id=self.run_id), LogQuery(error_code=self.error_code), LogQuery(job=self.job),
                  LogQuery(level=self.level))
        return all(any(n in head for n in q.needles()[0]) for q in fields if q.fielded)

    def exact(self) -> bool:
        """Whether a line holding a needle passes without more tests: one field alone (a whole run id, a job, an error
        code, a level, or the text). The key-and-value bytes json.dumps writes cannot occur inside a JSON string
        (its quotes would be escaped); only a nested key of the same name could, and names the same run or job."""
        fields = [bool(self.run_id), bool(self.error_code), bool(self.job), bool(self.level), bool(self.text)]
        return sum(fields) == 1 and (not self.run_id or len(self.run_id) == 36)

    def needles(self) -> tuple[tuple[bytes, ...], bool]:
        """The byte strings one of which a matching line must contain (the most selective field's; json.dumps writes
        ``"key": "value"``), and whether they are matched against the lowered line (text)."""
        if self.run_id:
            whole = '"' if len(self.run_id) == 36 else ""
            return (f'"run_id": "{self.run_id}{whole}'.encode(),), False
        if self.error_code:
            return (json.dumps({"error_code": self.error_code})[1:-1].encode(),), False
        if self.job:
            return (json.dumps({"job": self.job}, ensure_ascii=False)[1:-1].encode(),), False
        if self.text:
            return (self.text.lower().encode(),), True
        if self.level:
            return tuple(f'"level": "{lv}"'.encode() for lv in LEVELS[LEVELS.index(self.level):]), False
        return (), False

    def matches(self, raw: bytes, record: dict[str, Any] | None) -> bool:
        """The full test of one line (``record``: its JSON object, None when it is not one)."""
        if self.text and self.text.lower().encode() not in raw.lower():
            return False
        if not self.fielded:
            return True
        if record is None:
            return False
        if self.run_id and not str(record.get("run_id") or "").lower().startswith(self.run_id):
            return False
        if self.job and record.get("job") != self.job:
            return False
        if self.error_code and record.get("error_code") != self.error_code:
            return False
        if self.level:
            level = str(record.get("level") or "").lower()
            return level in LEVELS and LEVELS.index(level) >= LEVELS.index(self.level)
        return True


def parse_line(raw: bytes) -> dict[str, Any] | None:
    """The JSON object of one line, or None (not JSON, not an object, cut at MAX_LINE)."""
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def log_files(logs_dir: Path) -> list[Path]:
    """The rotated files oldest first, then the live file (those that exist). LOGREAD when the folder is missing."""
    try:
        names = os.listdir(logs_dir)
    except FileNotFoundError:
        raise PipelineError("LOGREAD", f"no log folder at {logs_dir}: nothing has run in this home yet, or logs_dir "
                            "points elsewhere", {"logs_dir": str(logs_dir)}) from None
    except OSError as exc:
        raise PipelineError("LOGREAD", f"the log folder {logs_dir} cannot be read: {exc.strerror}",
                            {"logs_dir": str(logs_dir)}) from None
    rotated = []
    for name in names:
        m = _ROTATED.match(name)
        if m:
            rotated.append(((m["stamp"], int(m["n"] or 0)), name))
    out = [logs_dir / name for _, name in sorted(rotated)]
    if LOG_FILE in names:
        out.append(logs_dir / LOG_FILE)
    return out


@dataclass
class _Segment:
    """One file's share of the index: the start and end offsets of its lines that pass the query, in file order."""

    path: Path
    inode: tuple[int, int]
    live: bool
    scanned: int = 0  # bytes scanned: every line before this offset was tested
    starts: list[np.ndarray] = field(default_factory=list)
    ends: list[np.ndarray] = field(default_factory=list)
    count: int = 0

    def add(self, starts: np.ndarray, ends: np.ndarray) -> None:
        if len(starts):
            self.starts.append(starts)
            self.ends.append(ends)
            self.count += len(starts)

    def compact(self) -> None:
        import numpy as np  # numpy loads with the first log search, not with every import of the service

        if len(self.starts) > 1:
            self.starts, self.ends = [np.concatenate(self.starts)], [np.concatenate(self.ends)]

    def entry(self, i: int) -> tuple[int, int]:
        self.compact()
        return int(self.starts[0][i]), int(self.ends[0][i])


class LogIndex:
    """The lines of one query over one log folder. ``refresh()`` scans only what was appended since (follow mode);
    ``lines(start, count)`` reads those lines back from disk. Not thread-safe: one caller at a time."""

    def __init__(self, logs_dir: Path, query: LogQuery) -> None:
        self.logs_dir = logs_dir
        self.query = query.check()
        self._needles, self._lowered = self.query.needles()
        self._exact = self.query.exact()  # the needle alone decides: no JSON parsing
        self._segments: list[_Segment] = []
        self.notes: list[str] = []  # what happened to files while reading (vanished, truncated)
        self.scanned_bytes = 0  # total bytes scanned (a refresh with nothing new scans none)

    @property
    def total(self) -> int:
        return sum(s.count for s in self._segments)

    @property
    def files(self) -> list[Path]:
        return [s.path for s in self._segments]

    def refresh(self) -> int:
        """Bring the index up to date with the folder; returns the number of lines added."""
        before = self.total
        known = {s.inode: s for s in self._segments}
        segments: list[_Segment] = []
        paths = log_files(self.logs_dir)
        for path in paths:
            try:
                st = path.stat()
            except FileNotFoundError:  # rotated away between the listing and now
                continue
            inode, live = (st.st_dev, st.st_ino), path.name == LOG_FILE
            seg = known.pop(inode, None)
            if seg is None or st.st_size < seg.scanned:  # new, or truncated: scan from the start
                if seg is not None:
                    self.notes.append(f"{path.name} shrank: read again from its start")
                seg = _Segment(path, inode, live)
            seg.path, seg.live = path, live
            segments.append(seg)
        for gone in known.values():
            self.notes.append(f"{gone.path.name} vanished (rotated away): its {gone.count} line(s) dropped")
        self._segments = segments
        for seg in list(segments):
            try:
                self._scan(seg)
            except FileNotFoundError:
                self._segments.remove(seg)
                self.notes.append(f"{seg.path.name} vanished while being read: skipped")
        return self.total - before

    def _scan(self, seg: _Segment) -> None:
        with open(seg.path, "rb") as f:
            pos = seg.scanned
            while True:
                f.seek(pos)
                buf = f.read(CHUNK)
                if not buf:
                    break
                self.scanned_bytes += len(buf)
                last_nl = buf.rfind(b"\n")
                if last_nl < 0:
                    if len(buf) == CHUNK:  # a line longer than a chunk: find its end without keeping it
                        end = _line_end(f, pos + len(buf))
                        if end is None and seg.live:
                            break
                        nxt = end + 1 if end is not None else f.seek(0, os.SEEK_END)
                        self._huge_line(f, seg, pos, nxt - 1 if end is not None else nxt)
                        pos = nxt
                        continue
                    if seg.live:  # the live file's unfinished last line: wait for its newline
                        break
                    last_nl = len(buf)  # a rotated file's last line without a newline is complete
                read = len(buf)
                body = buf if last_nl < len(buf) else buf + b"\n"
                starts, ends = self._select(body, last_nl + 1)
                seg.add(starts + pos, ends + pos)
                pos += min(last_nl + 1, read)
            seg.scanned = pos

    def _select(self, body: bytes, limit: int) -> tuple[np.ndarray, np.ndarray]:
        """Start and end offsets of the lines of ``body[:limit]`` (which ends in a newline) that pass the query."""
        import numpy as np

        hay = body[:limit].lower() if self._lowered else body
        if self._needles:
            hits: set[int] = set()
            for needle in self._needles:
                at = hay.find(needle, 0, limit)
                while at >= 0:
                    hits.add(body.rfind(b"\n", 0, at) + 1)
                    at = hay.find(needle, body.find(b"\n", at) + 1, limit)
            starts = np.array(sorted(hits), dtype=np.int64)
            ends = np.array([body.find(b"\n", s) for s in starts], dtype=np.int64)
        else:
            nl = np.flatnonzero(np.frombuffer(body, dtype=np.uint8, count=limit) == 10).astype(np.int64)
            starts, ends = np.concatenate(([0], nl[:-1] + 1)).astype(np.int64), nl
        if self._exact or (not self.query.fielded and not self.query.text):
            keep = ends > starts  # an empty line is no entry
            return starts[keep], ends[keep]
        keep = np.array([s < e and self.query.matches(body[s:e], parse_line(body[s:e]) if self.query.fielded else None)
                         for s, e in zip(starts.tolist(), ends.tolist(), strict=True)], dtype=bool)
        return (starts[keep], ends[keep]) if len(starts) else (starts, ends)

    def _huge_line(self, f: Any, seg: _Segment, start: int, end: int) -> None:
        import numpy as np

        f.seek(start)
        size = end - start
        head = f.read(min(size, MAX_LINE))
        if (self.query.matches(head, parse_line(head) if self.query.fielded else None) if size <= MAX_LINE
                else self.query.matches_head(head)):
            seg.add(np.array([start], dtype=np.int64), np.array([end], dtype=np.int64))

    def lines(self, start: int, count: int) -> Iterator[tuple[Path, int, int, bytes]]:
        """(file, offset, length, first MAX_LINE bytes) of the index's lines start..start+count-1; a file that vanished
        since it was indexed yields nothing (its note says so)."""
        base = 0
        for seg in self._segments:
            if count <= 0:
                return
            if start < base + seg.count:
                first = max(0, start - base)
                take = min(seg.count - first, count)
                try:
                    with open(seg.path, "rb") as f:
                        for i in range(first, first + take):
                            s, e = seg.entry(i)
                            f.seek(s)
                            yield seg.path, s, e - s, f.read(min(e - s, MAX_LINE))
                except FileNotFoundError:
                    self.notes.append(f"{seg.path.name} vanished: {take} line(s) not shown")
                start, count = base + seg.count, count - take
            base += seg.count


def _line_end(f: Any, pos: int) -> int | None:
    """The offset of the first newline at or after ``pos`` (reading chunk by chunk); None at the end of the file."""
    while True:
        f.seek(pos)
        buf = f.read(CHUNK)
        if not buf:
            return None
        at = buf.find(b"\n")
        if at >= 0:
            return pos + at
        pos += len(buf)
