"""`praf-tui` in a real terminal (tmux): an operator triages a failure by keyboard alone and quits cleanly."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from praf_engine.sandbox.fixture_home import FIXTURE_AS_OF
from praf_engine.service import EngineService, load_settings
from tests.conftest import REPO

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (scripts/install-system-deps.sh)")


class Tmux:
    def __init__(self, name: str, width: int, height: int, command: str, env: dict[str, str]) -> None:
        self.name = name
        self.env = env
        subprocess.run(["tmux", "-L", name, "new-session", "-d", "-s", name, "-x", str(width), "-y", str(height),
                        "bash", "-c", command + f"; echo EXIT=$? > {env['TEST_EXIT_FILE']}; sleep 30"],
                       check=True, env=env, cwd=REPO)

    def screen(self) -> str:
        out = subprocess.run(["tmux", "-L", self.name, "capture-pane", "-p", "-t", self.name], capture_output=True, text=True)
        return out.stdout

    def send(self, *keys: str) -> None:
        subprocess.run(["tmux", "-L", self.name, "send-keys", "-t", self.name, *keys], check=True)

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} did not appear within {timeout} s; the screen was:\n{self.screen()}")

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.name, "kill-server"], capture_output=True)


def test_operator_triages_a_failure_by_keyboard_and_quits(fixture_home: Path, tmp_path: Path) -> None:
    exit_file = tmp_path / "exit"
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TEXTUAL_THEME", "DATABASE_URL", "TMUX")}
    env.update(TERM="xterm-256color", PRAF_DASHBOARD__OPERATOR="tmux-operator", TEST_EXIT_FILE=str(exit_file))
    command = f"{sys.executable} -m praf_tui --home {fixture_home} --as-of {FIXTURE_AS_OF} --refresh 0"
    service = EngineService.open(load_settings(home=str(fixture_home)))
    try:
        first = service.failures(resolved=False, limit=1).rows[0]  # the triage list's first row (newest first)
        tmux = Tmux(f"praf-{os.getpid()}", 120, 40, command, env)
        try:
            tmux.wait_for("Lag", timeout=40)  # the dashboard's KPI cards
            tmux.send("t")
            tmux.wait_for(first.symbol)
            tmux.send("r")
            tmux.wait_for("Enter")  # the note dialog
            tmux.send("-l", "checked upstream, tmux")
            tmux.send("Enter")
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not service.failures(resolved=True, limit=5).total:
                time.sleep(0.2)
            done = service.failures(resolved=True, limit=5).rows
            assert [r.id for r in done] == [first.id]
            assert done[0].note == "checked upstream, tmux" and done[0].resolved_by == "tmux-operator"
            tmux.send("q")
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not exit_file.exists():
                time.sleep(0.2)
            assert exit_file.read_text().strip() == "EXIT=0"
        finally:
            tmux.kill()
    finally:
        service.close()
