"""Telegram message bodies: HTML-escaped alerts, the night's digest, the 4096-character limit (SPEC §6).

The outbox keeps plain text (the rule's message, then ``→ command`` on its last line); this module escapes it for
Telegram's HTML parse mode, so a symbol or a name holding ``< & >`` shows as it is, and sets the command in
``<code>``. A message longer than Telegram's limit is cut with a marker that keeps the command at its end.
"""

from __future__ import annotations

import datetime as dt
import html
from collections import defaultdict
from collections.abc import Iterable

from praf_engine.db.models import AlertOutbox

MAX_CHARS = 4096  # Telegram's limit for one message, counted after entity parsing; we count the raw HTML: safe
ARROW = "→ "
DEFAULT_COMMAND = "praf-engine alerts list"
TOP_SUBJECTS = 3
MAX_RESOLVED = 10


def split_command(text: str) -> tuple[str, str]:
    """(body, command): the command is the last line when it starts with ``→``; else the outbox listing."""
    body, _, last = text.rstrip().rpartition("\n")
    if body and last.startswith(ARROW.strip()):
        return body.rstrip(), last.lstrip("→").strip() or DEFAULT_COMMAND
    return text.rstrip(), DEFAULT_COMMAND


def render(text: str, limit: int = MAX_CHARS) -> str:
    """Plain alert text as Telegram HTML, at most ``limit`` characters, always ending with the command."""
    body, command = split_command(text)
    tail = f"\n{ARROW}<code>{html.escape(command, quote=False)}</code>"
    escaped = html.escape(body, quote=False)
    if len(escaped) + len(tail) <= limit:
        return escaped + tail
    keep = len(body)
    while keep > 0:  # cut the plain text (never inside an &entity;) until its escaped form fits with the marker
        marker = f"\n… (cut: {len(body) - keep:,} more characters; the full text is in `praf-engine alerts list`)"
        room = limit - len(tail) - len(marker)
        cut = html.escape(body[:keep], quote=False)
        if len(cut) <= room:
            return cut + marker + tail
        keep -= max(len(cut) - room, 1)
    return tail.lstrip("\n")[:limit]


def _line(row: AlertOutbox) -> str:
    body, _ = split_command(row.text)
    return body.splitlines()[0] if body else row.rule


def digest_text(night: dt.date, rows: Iterable[AlertOutbox]) -> str:
    """The night's digest as plain text: counts per rule (most severe rule first) with the top subjects, how many
    were muted, then the resolved lines. ``rows``: the folded, muted and resolved rows of the night."""
    by_rule: dict[str, list[AlertOutbox]] = defaultdict(list)
    resolved: list[AlertOutbox] = []
    for row in rows:
        (resolved if row.rule == "resolved" else by_rule[row.rule]).append(row)
    total = sum(len(v) for v in by_rule.values())
    lines = [f"📋 PRAF digest for night {night.isoformat()}: {total} more alert(s)" if total
             else f"📋 PRAF digest for night {night.isoformat()}"]
    for rule, items in by_rule.items():  # rows arrive most severe first: the rules keep that order
        muted = sum(1 for r in items if r.status == "muted")
        subjects = [r.subject for r in items if r.subject][:TOP_SUBJECTS]
        more = len(items) - len(subjects)
        what = ", ".join(subjects) + (f" +{more}" if subjects and more > 0 else "")
        lines.append(f"• {rule}: {len(items)}" + (f" ({muted} muted)" if muted else "") + (f" — {what}" if what else ""))
        if len(items) == 1:
            lines.append(f"  {_line(items[0])}")
    if resolved:
        lines.append(f"✅ resolved ({len(resolved)}):")
        lines.extend(f"  {_line(r)}" for r in resolved[:MAX_RESOLVED])
        if len(resolved) > MAX_RESOLVED:
            lines.append(f"  +{len(resolved) - MAX_RESOLVED} more")
    lines.append(f"{ARROW}{DEFAULT_COMMAND}")
    return "\n".join(lines)
