"""The docs follow the code: tables, columns and lake schema in docs/data_model.md; indexes and links that resolve."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from praf_engine.db.models import ALL_MODELS
from praf_engine.lake import LAKE_SCHEMA
from tests.conftest import REPO

DOCS = REPO / "docs"
DATA_MODEL = DOCS / "data_model.md"
_FENCE = re.compile(r"^\s*(```|~~~)")
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_ROW_NAME = re.compile(r"^\|\s*`([^`]+)`\s*\|")


def _prose_lines(path: Path) -> list[str]:
    """The lines of a Markdown file outside fenced code blocks."""
    lines, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def _sections(path: Path, level: int) -> dict[str, list[str]]:
    """Heading text (backticks removed) -> the lines under it, for headings of exactly ``level`` '#'."""
    marker = "#" * level + " "
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in _prose_lines(path):
        if re.match(rf"^#{{1,{level}}} ", line):
            current = out.setdefault(line[len(marker):].strip().strip("`"), []) if line.startswith(marker) else None
            continue
        if current is not None:
            current.append(line)
    return out


def _documented_rows(lines: list[str]) -> list[str]:
    """First-column names of the Markdown table rows in ``lines`` (`| `name` | ...`)."""
    return [m.group(1) for line in lines if (m := _ROW_NAME.match(line))]


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation except '-' and '_' dropped, spaces to '-'."""
    text = unicodedata.normalize("NFKC", heading.strip()).lower()
    text = "".join(ch for ch in text if ch.isalnum() or ch in " -_")
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for line in _prose_lines(path):
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        slug = _slug(m.group(1))
        n = seen.get(slug, 0)
        anchors.add(slug if n == 0 else f"{slug}-{n}")
        seen[slug] = n + 1
    return anchors


def _links(path: Path) -> list[str]:
    targets = []
    for line in _prose_lines(path):
        targets += _LINK.findall(_CODE_SPAN.sub("", line))
    return targets


def _markdown_files() -> list[Path]:
    files = sorted(DOCS.rglob("*.md"))
    readme = REPO / "README.md"
    return files + ([readme] if readme.is_file() else [])


# ------------------------------------------------------------------------------------ data model
MODEL_SECTIONS = _sections(DATA_MODEL, 3)


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m._meta.table_name)
def test_every_table_and_column_is_documented_in_data_model(model) -> None:
    table = model._meta.table_name
    assert table in MODEL_SECTIONS, f"docs/data_model.md has no '### `{table}`' section"
    documented = _documented_rows(MODEL_SECTIONS[table])
    columns = [f.column_name for f in model._meta.sorted_fields]
    missing = [c for c in columns if c not in documented]
    stale = [c for c in documented if c not in columns]
    assert not missing, f"{table}: columns missing from docs/data_model.md: {missing}"
    assert not stale, f"{table}: docs/data_model.md documents columns the model does not have: {stale}"


def test_data_model_documents_no_table_the_code_lacks() -> None:
    tables = {m._meta.table_name for m in ALL_MODELS}
    lines = "\n".join(_prose_lines(DATA_MODEL))
    tables_part = lines.split("\n## Tables\n", 1)[1].split("\n## ", 1)[0]
    headed = set(re.findall(r"^### `([^`]+)`", tables_part, re.MULTILINE))
    assert headed == tables
    listed = re.search(r"There are (\d+) tables: (.*?)\.\s", tables_part, re.DOTALL)
    assert listed, "the 'There are N tables: …' sentence is missing"
    assert int(listed.group(1)) == len(tables)
    assert set(re.findall(r"`([^`]+)`", listed.group(2))) == tables


def test_every_lake_column_and_type_is_documented() -> None:
    rows = {}
    for line in MODEL_SECTIONS["Columns"]:
        m = re.match(r"^\|\s*`([^`]+)`\s*\|\s*`([^`]+)`\s*\|", line)
        if m:
            rows[m.group(1)] = m.group(2)
    assert list(rows) == LAKE_SCHEMA.names, "lake columns in docs/data_model.md differ from lake.LAKE_SCHEMA (names or order)"
    for field in LAKE_SCHEMA:
        assert rows[field.name] == str(field.type).replace("[day]", ""), f"lake column {field.name}: documented type is wrong"
    text = DATA_MODEL.read_text(encoding="utf-8")
    assert "symbol=<SYM>/year=<YYYY>/part-000.parquet" in text.replace("`", "")
    assert "hive_types = {'symbol': VARCHAR, 'year': INTEGER}" in text


# ------------------------------------------------------------------------------------ indexes and links
@pytest.mark.parametrize("folder", ["runbooks", "adr"])
def test_index_links_exist_and_list_every_page(folder: str) -> None:
    index = DOCS / folder / "README.md"
    linked = {t.split("#", 1)[0] for t in _links(index) if not re.match(r"^[a-z]+:", t)}
    local = {t for t in linked if "/" not in t and t}
    assert local, f"docs/{folder}/README.md links to no pages"
    missing = sorted(t for t in local if not (index.parent / t).is_file())
    assert not missing, f"docs/{folder}/README.md links to missing files: {missing}"
    pages = {p.name for p in index.parent.glob("*.md")} - {"README.md"}
    unlisted = sorted(pages - local)
    assert not unlisted, f"docs/{folder}/ has pages its README.md does not list: {unlisted}"


@pytest.mark.parametrize("adr", sorted((DOCS / "adr").glob("[0-9][0-9][0-9][0-9]-*.md")), ids=lambda p: p.name)
def test_adr_has_context_decision_consequences(adr: Path) -> None:
    headings = [line.strip() for line in _prose_lines(adr) if line.startswith("## ")]
    assert headings[:3] == ["## Context", "## Decision", "## Consequences"], adr.name
    assert re.search(r"^Status: \w+", adr.read_text(encoding="utf-8"), re.MULTILINE), f"{adr.name} has no Status line"


@pytest.mark.parametrize("page", _markdown_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in _links(page):
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        dest = (page.parent / path_part).resolve() if path_part else page
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.is_file() and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target} (no heading #{anchor} in {dest.name})")
    assert not broken, f"{page.relative_to(REPO)}: broken links: {broken}"


def test_tui_keys_in_docs_are_generated_from_the_bindings() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_docs", REPO / "scripts" / "gen_docs.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    page = DOCS / "tui.md"
    assert page.read_text(encoding="utf-8") == gen.tui(page.read_text(encoding="utf-8")), "run scripts/gen_docs.py"
