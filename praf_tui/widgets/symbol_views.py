"""Cells and lines of the symbol page: formatted prices, QA rows, corporate actions and the fetch state.
Every text that comes from data (names, notes, messages, details) is shown as plain text, never as markup."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.app import App
from textual.color import Color, ColorParseError
from textual.content import Content

from praf_engine.service import ActionRow, Bar, FailureRow, FetchMeta, SymbolDetail, redact

DASH = "–"
SEVERITY_COLOUR = {"critical": "error", "warning": "warning", "info": "primary"}
STATUS = {None: ("open", "warning"), "resolved": ("resolved", "success"), "false_positive": ("false pos.", "primary"),
          "auto": ("auto", "primary")}
BAR_COLUMNS = ("Date", "Open", "High", "Low", "Close", "Adj close", "Volume")
QA_COLUMNS = ("Date", "Check", "Severity", "Status", "Note", "Details")
ACTION_COLUMNS = ("Date", "Type", "Ratio / amount", "Source")
ERROR_COLUMNS = ("Night", "Code", "Message")


def theme_style(app: App[Any], variable: str, *, bold: bool = False) -> Style:
    """A Rich style in the colour of a theme variable ($error, $warning, …); works for ANSI themes too."""
    try:
        colour = Color.parse(app.theme_variables.get(variable, "")).rich_color
    except ColorParseError:
        colour = None
    return Style(color=colour, bold=bold)


def plain(value: Any, limit: int = 0) -> Text:
    """Data as literal text (a note "[b]x[/b]" stays as typed), secrets redacted, cut to ``limit`` characters."""
    text = DASH if value is None or value == "" else redact(str(value)).replace("\n", " ")
    if limit and len(text) > limit:
        text = text[: limit - 1] + "…"
    return Text(text)


def right(text: str, style: Style | str = "") -> Text:
    return Text(text, style=style, justify="right")


def price_decimals(bars: Sequence[Bar]) -> int:
    top = max((abs(v) for b in bars for v in (b.open, b.high, b.low, b.close, b.adj_close) if v is not None), default=0.0)
    return 2 if top >= 100 else 3 if top >= 1 else 4


def fmt_price(value: float | None, decimals: int) -> Text:
    return right(DASH if value is None else f"{value:,.{decimals}f}")


def fmt_volume(value: int | None) -> Text:
    return right(DASH if value is None else f"{value:,}")


def bar_cells(bar: Bar, decimals: int) -> tuple[Any, ...]:
    return (bar.date.isoformat(), *(fmt_price(getattr(bar, c), decimals) for c in ("open", "high", "low", "close", "adj_close")),
            fmt_volume(bar.volume))


def short_value(value: Any) -> str:
    if value is None:
        return DASH
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        more = f" +{len(value) - 1}" if len(value) > 1 else ""
        return short_value(value[0]) + more
    return str(value)


def details_summary(details: dict[str, Any], limit: int = 70) -> Text:
    """One line for a failure's details: its dates first, then key=value pairs (lists as first value +N)."""
    parts = []
    dates = details.get("dates")
    if isinstance(dates, list) and dates:
        parts.append(short_value(dates))
    for key, value in details.items():
        if key in ("dates", "count"):
            continue
        parts.append(f"{key}={short_value(value)}")
    return plain(" ".join(parts), limit)


def status_cell(app: App[Any], row: FailureRow) -> Text:
    key = (row.resolution or "resolved") if row.resolved else None
    label, colour = STATUS.get(key, (str(key), "primary"))
    by = f" ({row.resolved_by})" if row.resolved and row.resolved_by else ""
    return Text(label + redact(by), style=theme_style(app, colour))


def qa_cells(app: App[Any], row: FailureRow) -> tuple[Any, ...]:
    severity = Text(row.severity, style=theme_style(app, SEVERITY_COLOUR.get(row.severity, "primary"), bold=row.severity == "critical"))
    return (row.date.isoformat(), plain(row.check_name), severity, status_cell(app, row), plain(row.note, 40),
            details_summary(row.details))


def qa_caption(row: FailureRow) -> Content:
    """The highlighted failure in full: check, date, every detail; who resolved it and when."""
    details = " ".join(f"{k}={_full(v)}" for k, v in row.details.items()) or DASH
    line = f"{row.check_name} {row.date}: {details}"
    if row.resolved:
        when = row.resolved_at.strftime("%Y-%m-%d %H:%M") if row.resolved_at else DASH
        line += f" · {row.resolution or 'resolved'} by {row.resolved_by or DASH} at {when}"
    return Content(redact(line))


def _full(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(_full(v) for v in value)
    return short_value(value)


def action_cells(action: ActionRow, currency: str | None) -> tuple[Any, ...]:
    if action.ratio is None:
        amount = DASH
    elif action.action_type == "split":
        amount = f"{action.ratio:g} : 1"
    elif action.action_type == "dividend":
        amount = f"{action.ratio:g} {currency or ''}".rstrip()
    else:
        amount = f"{action.ratio:g}"
    return (action.date.isoformat(), plain(action.action_type), right(amount), plain(action.source))


def error_cells(error: tuple[dt.date, str, str]) -> tuple[Any, ...]:
    night, code, msg = error
    return (night.isoformat() if night else DASH, plain(code), plain(msg, 200))


def info_line(d: SymbolDetail) -> Content:
    """The two header lines: symbol and name; exchange, calendar, currency, status and first/last seen."""
    status_colour = {"active": "$success", "delisted": "$error"}.get(d.status, "$warning")
    return Content.from_markup(
        "[b]$symbol[/b]  $name\n$exchange · $mic · $currency · [" + status_colour + "]$status[/] · "
        "seen $first → $last · lake $total bars",
        symbol=d.symbol, name=redact(d.name or DASH), exchange=d.exchange_code, mic=d.mic or DASH,
        currency=d.currency or DASH, status=d.status, first=_day(d.first_seen), last=_day(d.last_seen),
        total=f"{d.bars_total:,}")


def fetch_lines(meta: FetchMeta | None) -> Content:
    """The fetch state as aligned ``label value`` pairs, two per line; trouble in $warning / $error."""
    if meta is None:
        return Content("No fetch state yet: the listing was never part of a fetch night.")
    latency = DASH if meta.latency_ms is None else f"{meta.latency_ms:,.0f} ms"
    attempt = DASH if meta.last_attempt_at is None else meta.last_attempt_at.strftime("%Y-%m-%d %H:%M")
    failing = "$warning" if meta.consecutive_failures else ""
    pairs = [("Last fetched", _day(meta.last_fetched_date), ""), ("Status", meta.fetch_status, failing),
             ("Last attempt", attempt, ""), ("Failures", f"{meta.consecutive_failures} in a row", failing),
             ("Last error", meta.last_error_code or DASH, failing), ("Latency", latency, ""),
             ("DLQ", f"yes ({meta.dlq_reason})" if meta.in_dlq else "no", "$error" if meta.in_dlq else ""),
             ("Exit used", meta.last_exit or DASH, "")]
    parts: list[Any] = []
    for i, (label, value, style) in enumerate(pairs):
        left = i % 2 == 0
        parts.append((f"{label:<13}" if left else f"{label:<11}", "bold"))
        parts.append((f"{redact(value):<22}" if left else redact(value), style))
        if not left and i < len(pairs) - 1:
            parts.append("\n")
    return Content.assemble(*parts)


def qa_label(rows: Iterable[FailureRow]) -> str:
    rows = list(rows)
    open_count = sum(1 for r in rows if not r.resolved)
    return f"3 QA {open_count} open" if open_count else f"3 QA {len(rows)}"


def _day(value: dt.date | None) -> str:
    return value.isoformat() if value else DASH
