"""Regenerate the generated parts of docs/: the settings reference and the error-code table."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from praf_engine.cli import settings_reference  # noqa: E402
from praf_engine.errors import CATALOGUE  # noqa: E402

START, END = "<!-- settings-reference:start -->", "<!-- settings-reference:end -->"
TABLE_HEADER = "| code | origin | meaning | automatic action |"


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


if __name__ == "__main__":
    for name, fn in (("configuration.md", configuration), ("error_codes.md", error_codes)):
        path = REPO / "docs" / name
        path.write_text(fn(path.read_text(encoding="utf-8")), encoding="utf-8")
        print(f"docs/{name}")
