"""Regenerate the generated parts of docs/: the settings reference, the error-code table, the TUI's keys and the
alert rules."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from praf_engine.cli import settings_reference  # noqa: E402
from praf_engine.errors import CATALOGUE  # noqa: E402

START, END = "<!-- settings-reference:start -->", "<!-- settings-reference:end -->"
TABLE_HEADER = "| code | origin | meaning | automatic action |"
KEYS_START, KEYS_END = "<!-- tui-keys:start -->", "<!-- tui-keys:end -->"
ALERTS_START, ALERTS_END = "<!-- alert-rules:start -->", "<!-- alert-rules:end -->"


def configuration(text: str) -> str:
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{settings_reference()}\n{END}{tail}"


def error_codes(text: str) -> str:
    lines = text.splitlines()
    start = lines.index(TABLE_HEADER) + 2
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    rows = [f"| `{c.code}` | {c.origin} | {c.meaning} | {c.action} |" for c in CATALOGUE.values()]
    return "\n".join(lines[:start] + rows + lines[end:]) + "\n"


def tui_keys_table() -> str:
    """Markdown: every described binding of the app, each screen, widget and dialog, with its id (``tui.keymap``)."""
    from praf_tui.keys import binding_owners, declared

    out = []
    for title, cls in binding_owners():
        out += [f"**{title}**", "", "| key | action | what it does | id |", "|---|---|---|---|"]
        for b in declared(cls):
            if b.description:
                keys = b.key_display or b.key.replace(",", ", ")
                out.append(f"| `{keys}` | {b.description} | {b.tooltip or ''} | `{b.id}` |")
        out.append("")
    return "\n".join(out).rstrip()


def tui(text: str) -> str:
    head, _, rest = text.partition(KEYS_START)
    _, _, tail = rest.partition(KEYS_END)
    return f"{head}{KEYS_START}\n{tui_keys_table()}\n{KEYS_END}{tail}"


def alerts(text: str) -> str:
    """docs/alerts.md's rule table, from praf_engine.alerts.rules (defaults of the settings each rule reads)."""
    from praf_engine.alerts.rules import catalogue_table

    head, _, rest = text.partition(ALERTS_START)
    _, _, tail = rest.partition(ALERTS_END)
    return f"{head}{ALERTS_START}\n{catalogue_table()}\n{ALERTS_END}{tail}"


if __name__ == "__main__":
    for name, fn in (("configuration.md", configuration), ("error_codes.md", error_codes), ("tui.md", tui),
                     ("alerts.md", alerts)):
        path = REPO / "docs" / name
        path.write_text(fn(path.read_text(encoding="utf-8")), encoding="utf-8")
        print(f"docs/{name}")
