"""Messages that thread workers post (dataclasses, past tense: something happened). A screen's load worker posts
one to the screen; the screen renders it and schedules its next poll. A worker never touches a widget."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual.message import Message

from praf_engine.service import (
    CheckChange,
    CheckPreview,
    CheckRow,
    DashboardSnapshot,
    DemoStepOutcome,
    FailureFilters,
    FailurePage,
    JobRequestInfo,
    LogPage,
    LogQuery,
    SchedulerState,
    SymbolDetail,
)


@dataclass
class DashboardLoaded(Message):
    """The dashboard's snapshot at one as-of date. It bubbles to the app, which keeps the last one (the command
    palette lists its jobs without a query)."""

    snapshot: DashboardSnapshot


@dataclass
class FailuresLoaded(Message):
    """One triage page for (query, page_no); ``choices`` when the filter choices were loaded with it."""

    bubble = False
    query: Any  # the TriageQuery the page was asked for
    page_no: int
    page: FailurePage
    choices: FailureFilters | None = None


@dataclass
class SymbolLoaded(Message):
    bubble = False
    detail: SymbolDetail


@dataclass
class LogsLoaded(Message):
    """A window of the log for ``query`` (``offset`` as asked: None for the tail)."""

    bubble = False
    query: LogQuery
    offset: int | None
    page: LogPage


@dataclass
class LoadFailed(Message):
    """A screen's load raised: ``code`` is the error code (or the exception's type), ``msg`` already redacted."""

    bubble = False
    code: str
    msg: str


@dataclass
class FailuresTriaged(Message):
    """A triage write went through; ``page`` is the triage page (query, page_no) read right after it, if asked."""

    bubble = False
    action: str
    ids: tuple[int, ...]
    changed: int
    query: Any = None
    page_no: int = 0
    page: FailurePage | None = None


@dataclass
class ActionFailed(Message):
    """A write or an export raised (``title`` names what was tried); ``msg`` already redacted."""

    bubble = False
    title: str
    code: str
    msg: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class FailuresExported(Message):
    bubble = False
    path: str
    rows: int


@dataclass
class DemoStepFinished(Message):
    """`praf-tui --demo`: one pipeline step ended."""

    bubble = False
    index: int
    total: int
    result: DemoStepOutcome


@dataclass
class SchedulerLoaded(Message):
    """The home's scheduler state (beat, every job's last/next run, gate, paused, running jobs' progress). It bubbles
    to the app, whose header shows the scheduler line from the last one."""

    state: SchedulerState


@dataclass
class JobRequested(Message):
    """A run was asked for (run now, rerun, the palette): the scheduler or a detached process runs it."""

    bubble = False
    request: JobRequestInfo


@dataclass
class JobControlled(Message):
    """A job was paused or resumed (``target`` its name) or a run asked to stop (``target`` its run id)."""

    bubble = False
    action: str
    target: str


@dataclass
class SchedulerHostEnded(Message):
    """`praf-tui --with-scheduler`: the scheduler this dashboard hosts stopped, or never started (``code``: why)."""

    bubble = False
    code: str | None
    msg: str


@dataclass
class SchedulerPollFailed(Message):
    """The app's poll of the scheduler state raised (logged); the header keeps its last line until the next poll."""

    bubble = False


@dataclass
class ChecksLoaded(Message):
    """The threshold editor's list: every QA check as the next run reads it."""

    bubble = False
    rows: tuple[CheckRow, ...]


@dataclass
class CheckHistoryLoaded(Message):
    """The saved edits of one check, newest first."""

    bubble = False
    check: str
    changes: tuple[CheckChange, ...]


@dataclass
class CheckValidated(Message):
    """An edit checked by the QA runner's rules: ``params`` when valid, else the error's ``code`` and ``msg``."""

    bubble = False
    form: tuple[Any, ...]  # the form's values the answer is for (a newer edit ignores an older answer)
    params: dict[str, Any] | None
    code: str = ""
    msg: str = ""


@dataclass
class CheckPreviewed(Message):
    """An edit's preview (``form`` as in CheckValidated): failures added and removed on the as-of date."""

    bubble = False
    form: tuple[Any, ...]
    preview: CheckPreview


@dataclass
class CheckSaved(Message):
    """An edit was saved (qa_checks and its audit row)."""

    bubble = False
    row: CheckRow
