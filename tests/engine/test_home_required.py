"""Only `init` and the demo create a data home: every other command refuses a mistyped --home with HOMEMISSING,
naming the path and the command that creates it, and leaves nothing behind. Every entry point logs the same way."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, cli_env

COMMANDS = [
    ("summary", "--json"),
    ("sql", "select 1"),
    ("run", "qa"),
    ("run", "fetch"),
    ("scrape",),
    ("qa",),
    ("fetch",),
    ("import-actions", "actions.csv"),
]


def _run(argv: list[str], backend: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=cli_env(backend), cwd=REPO, timeout=120)


def _tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else ["<absent>"]


def _assert_refused(out: subprocess.CompletedProcess[str], home: Path, command: str) -> None:
    assert out.returncode == 2, out.stderr
    assert "[HOMEMISSING]" in out.stderr, out.stderr
    assert str(home) in out.stderr and f"praf-engine --home {home} init" in out.stderr, out.stderr
    assert command in out.stderr


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: "-".join(a))
def test_engine_commands_refuse_a_mistyped_home_and_create_nothing(tmp_path: Path, args: tuple[str, ...]) -> None:
    home = tmp_path / "hmoe"
    out = _run(["-m", "praf_engine", "--home", str(home), *args])
    _assert_refused(out, home, f"praf-engine {args[0]}")
    assert not home.exists()


def test_tui_refuses_a_mistyped_home_and_creates_nothing(tmp_path: Path) -> None:
    home = tmp_path / "hmoe"
    out = _run(["-m", "praf_tui", "--home", str(home)])
    _assert_refused(out, home, "praf-tui")
    assert not home.exists()


def test_a_folder_with_only_settings_is_not_a_home_and_stays_untouched(tmp_path: Path) -> None:
    """An operator who wrote settings.toml first, then forgot `init`: refused, and no praf.db, lake/ or logs/ appear."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "settings.toml").write_text("[fetch]\nbatch_size = 50\n")
    before = _tree(home)
    for argv in (["-m", "praf_engine", "--home", str(home), "qa"], ["-m", "praf_tui", "--home", str(home)]):
        assert _run(argv).returncode == 2
    assert _tree(home) == before == ["settings.toml"]


def test_a_postgresql_database_without_the_schema_is_refused(tmp_path: Path, backend: str | None) -> None:
    """The home's folders exist but its (PostgreSQL) database was never initialised: HOMEMISSING, no tables made."""
    if backend is None:
        pytest.skip("PostgreSQL only: on SQLite the missing praf.db is the missing home")
    home = tmp_path / "home"
    (home / "lake").mkdir(parents=True)
    out = _run(["-m", "praf_engine", "--home", str(home), "summary"], backend)
    assert out.returncode == 2 and "[HOMEMISSING]" in out.stderr and "has no PRAF schema" in out.stderr, out.stderr
    ok = _run(["-m", "praf_engine", "--home", str(home), "init"], backend)
    assert ok.returncode == 0, ok.stderr
    assert _run(["-m", "praf_engine", "--home", str(home), "summary"], backend).returncode == 0


def test_init_creates_the_home_then_the_commands_run(tmp_path: Path) -> None:
    home = tmp_path / "new"
    assert _run(["-m", "praf_engine", "--home", str(home), "init"]).returncode == 0
    out = _run(["-m", "praf_engine", "--home", str(home), "summary", "--json"])
    assert out.returncode == 0 and json.loads(out.stdout)["total_active"] == 0


def test_sandbox_serve_needs_no_home_and_creates_none(tmp_path: Path) -> None:
    """`sandbox serve` is not a home command: with no home it runs (stderr logging only) and leaves none behind."""
    home = tmp_path / "nohome"
    proc = subprocess.Popen([sys.executable, "-m", "praf_engine", "--home", str(home), "sandbox", "serve", "--free-ports"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(None), cwd=REPO)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("PRAF sandbox:"), first + (proc.stderr.read() if proc.poll() is not None else "")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert not home.exists()
