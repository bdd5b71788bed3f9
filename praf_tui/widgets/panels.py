"""The dashboard's panels (seed §6.3): each a container that renders one engine DTO through ``show``.

Tables get their cells as rich Text (never markup: error messages carry brackets) coloured from the app theme's
$success / $warning / $error, so the colours follow the default and the 16-colour ANSI themes alike. A panel
shown the same data again leaves its widgets alone: the cursor stays where the operator put it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.color import Color
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widget import Widget
from textual.widgets import DataTable, Label, Static

from praf_engine.service import CheckPanel, FetchHealthPanel, JobInfo, JobRun, TimelinessPanel, UniverseMonth
from praf_tui.widgets.charts import ErrorChart, HistogramChart, LatencyChart, UniverseChart
from praf_tui.widgets.progress import RunningJobs

THEME_VARIABLES = {"green": "success", "yellow": "warning", "red": "error", "neutral": "primary"}


def colour_style(widget: Widget, colour: str | None) -> Style:
    """A rich Style for a DTO colour (green/yellow/red/neutral) in the app's current theme."""
    variable = THEME_VARIABLES.get(colour or "")
    value = widget.app.theme_variables.get(variable) if variable else None
    return Style(color=Color.parse(value).rich_color) if value else Style()


def when(value: dt.datetime | dt.date | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, dt.datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    return value.isoformat()


def clip(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


class Table(DataTable[Any]):
    """A row-cursor DataTable refilled from plain rows; the cursor stays on the same key when it still exists."""

    DEFAULT_CSS = "Table { height: 1fr; }"

    def __init__(self, columns: Sequence[str], *, id: str | None = None,  # noqa: A002
                 widths: Sequence[int | None] | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._columns = columns
        self._widths = list(widths or [None] * len(columns))

    def on_mount(self) -> None:
        for label, width in zip(self._columns, self._widths, strict=True):
            self.add_column(Text(label), width=width)  # a str would be parsed as markup (and load rich's emoji table)

    def fill(self, rows: Iterable[tuple[str, Sequence[Any]]]) -> None:
        keep = self.cursor_key()
        self.clear()
        for key, cells in rows:
            self.add_row(*(c if isinstance(c, Text) else Text(str(c)) for c in cells), key=key)
        if keep is not None and keep in self.rows:
            self.move_cursor(row=self.get_row_index(keep), animate=False)

    def cursor_key(self) -> str | None:
        if not self.row_count or self.cursor_row < 0:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:  # noqa: BLE001 - a stale cursor after clear()
            return None


class SymbolTable(Table):
    """A table whose rows are listings: Enter opens the symbol page (the screen handles RowSelected)."""

    BINDINGS = [Binding("enter", "select_cursor", "Open symbol", tooltip="Open the listing under the cursor", id="panels.open_symbol")]

    def __init__(self, columns: Sequence[str], *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(columns, id=id)
        self.symbols: dict[str, str] = {}

    def fill_symbols(self, rows: Iterable[tuple[str, str, Sequence[Any]]]) -> None:
        """Rows of (key, symbol, cells)."""
        rows = list(rows)
        self.symbols = {key: symbol for key, symbol, _ in rows}
        self.fill((key, cells) for key, _, cells in rows)

    def symbol_of(self, key: str | None) -> str | None:
        return self.symbols.get(key) if key is not None else None


class JobsTable(Table):
    """Every job and its last run; R (on the screen) reruns the job under the cursor."""


class Panel(Vertical):
    """A panel: a head line and the widgets that draw one DTO; ``show`` leaves them alone when the data is unchanged."""

    _last: Any = None

    def unchanged(self, data: Any) -> bool:
        if data == self._last:
            return True
        self._last = data
        return False

    def forget(self) -> None:
        """The next ``show`` redraws even when the data did not change (after a theme change)."""
        self._last = None

    def head(self, text: str) -> None:
        self.query_one(".panel-head", Label).update(Content(text))


class UniversePanel(Panel):
    """Universe Health: new vs delisted listings per month, as a chart and a table."""

    def compose(self) -> ComposeResult:
        yield Label("", classes="panel-head")
        with Horizontal():
            yield UniverseChart(id="universe-chart")
            yield Table(("Month", "New", "Delisted", "Net"), id="universe-table", widths=(7, 5, 8, 6))

    def show(self, months: Sequence[UniverseMonth], active: int) -> None:
        if self.unchanged((tuple(months), active)):
            return
        new, gone = sum(m.new for m in months), sum(m.delisted for m in months)
        self.head(f"{active:,} active listings · {len(months)} months: {new:,} new, {gone:,} delisted")
        self.query_one(UniverseChart).show(months)
        green, red = colour_style(self, "green"), colour_style(self, "red")
        self.query_one("#universe-table", Table).fill(
            (m.month, (m.month, Text(f"{m.new:,}", green if m.new else ""), Text(f"{m.delisted:,}", red if m.delisted else ""),
                       f"{m.new - m.delisted:+,}"))
            for m in reversed(months))


class TimelinessView(Panel):
    """Data Timeliness: the days-behind histogram and the lagging listings."""

    def compose(self) -> ComposeResult:
        yield Label("", classes="panel-head")
        with Horizontal():
            yield HistogramChart()
            yield SymbolTable(("Symbol", "Exch", "Cal", "Last bar", "Behind"), id="lagging-table")

    def show(self, panel: TimelinessPanel, active: int) -> None:
        if self.unchanged((panel, active)):
            return
        shown = f" (first {len(panel.lagging)})" if len(panel.lagging) < panel.total_lagging else ""
        self.head(f"{panel.total_lagging:,} of {active:,} listings more than {panel.threshold} sessions behind their "
                  f"calendar, or never fetched{shown}")
        self.query_one(HistogramChart).show(panel.histogram, panel.threshold)
        red = colour_style(self, "red")
        self.query_one(SymbolTable).fill_symbols(
            (r.symbol, r.symbol, (r.symbol, r.exchange_code, r.calendar, when(r.last_fetched_date),
                                  Text("never" if r.days_behind is None else f"{r.days_behind}", red)))
            for r in panel.lagging)


def issue_detail(details: dict[str, Any]) -> str:
    """The interesting part of a failure's details: fields, moves, hints (count and dates have columns)."""
    parts = []
    for key, value in details.items():
        if key in ("count", "dates"):
            continue
        if isinstance(value, list | tuple):
            value = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value[:3]) + ("…" if len(value) > 3 else "")
        elif isinstance(value, float):
            value = f"{value:g}"
        parts.append(f"{key}={value}")
    return clip("; ".join(parts), 48)


def dates_text(dates: Sequence[str]) -> str:
    """The latest date of an issue and how many more (the triage screen lists them all)."""
    if not dates:
        return "–"
    latest = max(dates)
    return latest if len(dates) == 1 else f"{latest} +{len(dates) - 1}"


def exit_text(exit_name: str | None) -> str:
    return exit_name.split("://", 1)[-1] if exit_name else "–"


class ChecksView(Panel):
    """Completeness & Integrity or Volume & Price Quality: a count per check and the issues of the QA date."""

    def __init__(self, title: str, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.heading = title

    def compose(self) -> ComposeResult:
        yield Label("", classes="panel-head")
        with Horizontal():
            yield Static("", classes="check-counts")
            yield SymbolTable(("Symbol", "Check", "#", "Dates", "Detail"))

    def show(self, panel: CheckPanel) -> None:
        if self.unchanged(panel):
            return
        total = sum(panel.counts.values())
        day = panel.qa_date.isoformat() if panel.qa_date else "no QA run yet"
        self.head(f"{self.heading} · QA of {day} · {total:,} failures (false positives left out)")
        counts = Text()
        for name, count in panel.counts.items():
            style = colour_style(self, panel.colours.get(name))
            counts.append(f"{name:<16}", style).append(f"{count:>5,}\n", style + Style(bold=True))
        self.query_one(".check-counts", Static).update(counts)
        self.query_one(SymbolTable).fill_symbols(
            (f"{issue.check_name}:{issue.symbol}", issue.symbol,
             (issue.symbol, issue.check_name, issue.count, dates_text(issue.dates), issue_detail(issue.details)))
            for name in panel.issues for issue in panel.issues[name])


class FetchView(Panel):
    """Last night's fetch errors and the 30-night latency and error-count charts."""

    def compose(self) -> ComposeResult:
        yield Label("", classes="panel-head")
        yield SymbolTable(("Symbol", "Error", "Tries", "Exit", "Message"), id="fetch-errors")
        with Horizontal():
            yield LatencyChart()
            yield ErrorChart()

    def show(self, panel: FetchHealthPanel, threshold: str) -> None:
        if self.unchanged((panel, threshold)):
            return
        night = panel.night.isoformat() if panel.night else "no fetch night with errors"
        symbols = len({e.symbol for e in panel.errors})
        self.head(f"Fetch night {night}: {symbols:,} symbols failed · {threshold}")
        style = colour_style(self, panel.colour)
        self.query_one(SymbolTable).fill_symbols(
            (e.symbol, e.symbol, (e.symbol, Text(e.error_code, style), e.tries, exit_text(e.exit_name), clip(e.msg, 60)))
            for e in panel.errors)
        self.query_one(LatencyChart).show(panel.series)
        self.query_one(ErrorChart).show(panel.series)


def exit_colour(exit_code: int | None, running: bool = False) -> str | None:
    if running:
        return "yellow"
    if exit_code is None:
        return None
    return "green" if exit_code == 0 else "red"


def took(run: JobRun) -> str:
    if run.finished_at is None:
        return "running"
    seconds = (run.finished_at - run.started_at).total_seconds()
    return f"{seconds:.0f} s" if seconds < 600 else f"{seconds / 60:.0f} min"


class JobsView(Panel):
    """Every job with its last run (R reruns the one under the cursor), a progress bar for every running job (the
    screen feeds it from the app's scheduler state) and the latest runs of all jobs."""

    def compose(self) -> ComposeResult:
        yield Label("", classes="panel-head")
        yield JobsTable(("Job", "Last start", "Exit", "Error", "State", "What it does"), id="jobs-table")
        yield RunningJobs(id="jobs-running")
        yield Label(Content("Latest runs"), classes="panel-head", id="runs-head")
        yield Table(("Started", "Job", "Trigger", "Exit", "Error", "Took"), id="runs-table")

    def show(self, jobs: Sequence[JobInfo], runs: Sequence[JobRun]) -> None:
        if self.unchanged((tuple(jobs), tuple(runs))):
            return
        self.head("Jobs · R reruns the selected job (after a confirmation)")
        rows = []
        for job in jobs:
            style = colour_style(self, exit_colour(job.last_exit_code, job.running))
            state = "running" if job.running else "never run" if job.last_started is None else "ok" if job.last_exit_code == 0 else "failed"
            exit_text = "–" if job.last_exit_code is None else str(job.last_exit_code)
            rows.append((job.name, (Text(job.name, style), when(job.last_started), Text(exit_text, style), job.last_error_code or "",
                                    Text(state, style), clip(job.summary, 60))))
        self.query_one(JobsTable).fill(rows)
        self.query_one("#runs-table", Table).fill(
            (run.run_id, (when(run.started_at), run.job, run.trigger,
                          Text("–" if run.exit_code is None else str(run.exit_code), colour_style(self, exit_colour(run.exit_code, run.finished_at is None))),
                          run.error_code or "", took(run)))
            for run in runs)
