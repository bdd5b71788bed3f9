"""Messages that thread workers post (dataclasses, past tense: something happened). A screen's load worker posts
one to the screen; the screen renders it and schedules its next poll. A worker never touches a widget."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual.message import Message

from praf_engine.service import (
    DashboardSnapshot,
    DemoStepOutcome,
    FailureFilters,
    FailurePage,
    JobRun,
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
class JobFinished(Message):
    """A job started from the dashboard ended (its cron_status row)."""

    bubble = False
    run: JobRun


@dataclass
class DemoStepFinished(Message):
    """`praf-tui --demo`: one pipeline step ended."""

    bubble = False
    index: int
    total: int
    result: DemoStepOutcome
