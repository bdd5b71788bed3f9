"""Architecture rules: the engine never imports Textual; the TUI reaches the engine only through its service."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

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


def test_the_service_and_the_daemon_load_no_array_library_until_used(tmp_path: Path) -> None:
    """What the idle daemon and every entry point import (the service, the CLI, the daemon, a wiring) loads neither
    pyarrow nor numpy nor pandas (~65 MB resident, 0.18 s, issue 16): the lake opens when first used, and the copies
    a wiring makes share that one lake."""
    code = (
        "import sys\n"
        "import praf_engine.service, praf_engine.cli, praf_engine.daemon.process, praf_engine.scheduler.core\n"
        "from praf_engine.config import load_settings\n"
        "from praf_engine.wiring import Wiring\n"
        f"w = Wiring.production(load_settings(home={str(tmp_path)!r}, environ={{}}, overrides={{}}))\n"
        "copy = w.with_clock(w.clock)\n"
        "before = [m for m in ('pyarrow', 'numpy', 'pandas') if m in sys.modules]\n"
        "lake = copy.lake\n"
        "print(','.join(before), lake is w.lake, 'pyarrow' in sys.modules, lake.root == w.settings.lake_dir)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.split() == ["True", "True", "True"], out.stdout  # nothing before; one lake, opened on use


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


def test_the_tui_uses_exactly_the_engine_api_protocol() -> None:
    """praf_tui's app, screens and widgets are typed against service.EngineAPI: every attribute they read off their
    service is in the protocol, the protocol holds nothing they do not use, and EngineService implements all of it.
    (The entry point, module-level `main`, builds and closes the concrete EngineService.)"""
    from praf_engine.service import EngineAPI, EngineService

    used = set()
    for path in (REPO / "praf_tui").rglob("*.py"):
        classes = [n for n in ast.parse(path.read_text(), str(path)).body if isinstance(n, ast.ClassDef)]
        for node in (n for c in classes for n in ast.walk(c)):
            if isinstance(node, ast.Attribute) and (
                    isinstance(node.value, ast.Attribute) and node.value.attr == "service"
                    or isinstance(node.value, ast.Name) and node.value.id == "service"):
                used.add(node.attr)
    protocol = {name for name in vars(EngineAPI) if not name.startswith("_")}
    assert used == protocol
    assert all(callable(getattr(EngineService, name)) or isinstance(getattr(EngineService, name), property)
               for name in protocol - {"settings"})
    assert "settings" in EngineService.__init__.__code__.co_names



def test_praf_tuis_command_line_imports_no_textual() -> None:
    """praf_tui.cli parses and opens the home (forking the dashboard's snapshot off) before Textual is imported: the
    child's work overlaps Textual's imports only if they come after (ADR 0017)."""
    code = ("import sys, praf_tui.cli, praf_tui.start; praf_tui.cli.parser().parse_args(['--as-of', '2025-06-09']); "
            "print(','.join(m for m in ('textual', 'praf_tui.app', 'praf_engine.service') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == ""


ENTRY_POINTS = {"cli.py", "entry.py", "demo.py"}  # praf-tui reaches the demo and the wiring through the service


def _imported_names(path: Path) -> list[str]:
    """Every module an engine file imports, at module level or inside a function (``from praf_engine import sandbox``
    counts as ``praf_engine.sandbox``)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
    return names


def test_only_the_entry_points_and_the_sandbox_import_the_sandbox() -> None:
    """Production code never asks whether it runs in the sandbox: the entry points build the wiring (the sandbox's
    when asked) and hand it down; nothing else reaches praf_engine.sandbox, not even lazily inside a function."""
    root = REPO / "praf_engine"
    offenders = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith("sandbox/") or rel in ENTRY_POINTS:
            continue
        offenders += sorted({f"{rel}: {name}" for name in _imported_names(path)
                             if name == "praf_engine.sandbox" or name.startswith("praf_engine.sandbox.")})
    assert offenders == []


def test_importing_the_production_modules_loads_no_sandbox() -> None:
    modules = [m.name for m in pkgutil.walk_packages(praf_engine.__path__, "praf_engine.")
               if not m.name.startswith("praf_engine.sandbox") and m.name.rsplit(".", 1)[-1] not in {"__main__", "cli", "demo"}]
    code = "import importlib, sys\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules) + \
        "print(','.join(sorted(m for m in sys.modules if m.startswith('praf_engine.sandbox'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert len(modules) > 10
    assert out.stdout.strip() == ""


def test_the_tuis_polls_import_no_job_code(tmp_path: Path) -> None:
    """The dashboard's snapshot and the Scheduler screen's state (the header line, polled from the first frame) run
    beside the TUI's start-up: they must not import the fetch, the checks or their libraries (pandas, yfinance,
    DuckDB). The QA gate the Scheduler screen asks lives in qa/gate.py for that; importing pandas there made the
    first dashboard 0.5 s slower (bench/tui.py)."""
    from tests.conftest import cli_env

    home = tmp_path / "home"
    subprocess.run([sys.executable, "-m", "praf_engine", "--home", str(home), "init"], capture_output=True, text=True,
                   check=True, cwd=REPO, env=cli_env())
    code = ("import datetime as dt, sys\nfrom pathlib import Path\n"
            "from praf_engine.service import EngineService, load_settings\n"
            f"service = EngineService.open(load_settings(home=Path({str(home)!r}), environ={{}}, overrides={{}}))\n"
            "service.dashboard_snapshot(dt.date(2025, 6, 9)); state = service.scheduler_state(); assert state.jobs\n"
            "heavy = ('pandas', 'yfinance', 'duckdb', 'selenium', 'praf_engine.fetch.runner', 'praf_engine.qa.runner',"
            " 'praf_engine.qa.checks')\n"
            "print(','.join(m for m in heavy if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO, env=cli_env())
    assert out.stdout.strip() == ""


def test_the_scheduler_state_does_not_load_the_scheduler(tmp_path: Path) -> None:
    """The header of every TUI screen and `praf-engine status` read the scheduler state; only a process that hosts the
    scheduler loads its core (the schedule library, the runner, the request queue: ~25 ms of the TUI's start)."""
    code = (
        "import sys\n"
        "from praf_engine.config import load_settings\n"
        "from praf_engine.service import EngineService\n"
        f"service = EngineService.open(load_settings(home={str(tmp_path)!r}, environ={{}}, overrides={{}}))\n"
        "state = service.scheduler_state()\n"
        "print(len(state.jobs) > 0, ','.join(m for m in ('praf_engine.scheduler.core', 'schedule') if m in sys.modules) or '-')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.splitlines()[-1].split() == ["True", "-"], out.stdout  # (the migration logs first)
