"""The one temp-file-and-replace helper: a failed write leaves the old file and no temp file; nothing else renames."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from praf_engine.atomic import replacing, write_atomic
from tests.conftest import REPO

OWN_REPLACE_ALLOWED = {"atomic.py"}


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "state.json"
    write_atomic(target, b"old")
    with pytest.raises(ZeroDivisionError), replacing(target) as tmp:
        tmp.write_bytes(b"half of the new")
        raise ZeroDivisionError
    with pytest.raises(KeyboardInterrupt), replacing(target) as tmp:
        tmp.write_bytes(b"interrupted")
        raise KeyboardInterrupt
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["state.json"]


def test_a_write_replaces_the_file_whole_from_any_buffer(tmp_path: Path) -> None:
    import pyarrow as pa

    target = tmp_path / "part-000.parquet"
    write_atomic(target, b"first")
    write_atomic(target, pa.py_buffer(b"second, longer"), fsync=True, make_parents=False, mode=0o600)
    assert target.read_bytes() == b"second, longer"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["part-000.parquet"]
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "missing" / "x", b"", make_parents=False)
    assert not (tmp_path / "missing").exists()


def test_no_engine_module_replaces_files_itself() -> None:
    """Temp file + rename is written once (praf_engine/atomic.py), not once per writer."""
    root = REPO / "praf_engine"
    offenders = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, ast.Attribute) and node.attr == "replace" and isinstance(node.value, ast.Name)
                    and node.value.id == "os" and rel not in OWN_REPLACE_ALLOWED):
                offenders.append(f"{rel}:{node.lineno}")
    assert offenders == []
