"""Architecture rules: the engine never imports Textual; the TUI reaches the engine only through its service."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys

import praf_engine
from tests.conftest import REPO


def test_importing_every_engine_module_never_imports_textual() -> None:
    modules = [m.name for m in pkgutil.walk_packages(praf_engine.__path__, "praf_engine.") if not m.name.endswith("__main__")]
    code = "import importlib, sys\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules) + \
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith(('textual.', 'praf_tui')))\nprint(','.join(bad))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert len(modules) > 10
    assert out.stdout.strip() == ""


def test_praf_tui_imports_only_the_service_from_the_engine() -> None:
    offenders = []
    for path in (REPO / "praf_tui").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] if node.module != "praf_engine" else [f"praf_engine.{a.name}" for a in node.names]
            offenders += [f"{path.name}: {n}" for n in names if n.startswith("praf_engine") and n != "praf_engine.service"]
    assert offenders == []


def test_engine_import_is_light() -> None:
    """`import praf_engine.cli` must not pull in yfinance, selenium or duckdb (fast start for every command)."""
    code = "import sys, praf_engine.cli; print(','.join(m for m in ('yfinance', 'selenium', 'duckdb', 'textual') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == ""


def test_the_read_models_never_import_the_jobs() -> None:
    """The read side (praf_engine.readmodels) is queries and DTOs: it never reaches the job runner or registry, not
    even lazily inside a function (the service hands it the job list)."""
    direct = []
    for path in (REPO / "praf_engine" / "readmodels").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names] if isinstance(node, ast.ImportFrom) else []
            direct += [f"{path.name}: {n}" for n in names if n == "praf_engine.jobs" or n.startswith("praf_engine.jobs.")]
    assert direct == []
    code = ("import importlib, pkgutil, sys, praf_engine.readmodels as r\n"
            "for m in pkgutil.walk_packages(r.__path__, 'praf_engine.readmodels.'): importlib.import_module(m.name)\n"
            "print(','.join(sorted(m for m in sys.modules if m.startswith('praf_engine.jobs'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == ""
