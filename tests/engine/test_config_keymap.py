"""Settings: tui.keymap (binding id → key or comma-separated keys) from settings.toml, the environment (JSON) and
--set; a malformed id or key is CONFIGBAD naming the setting and its source. (Unknown ids are the TUI's check.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.conftest import configbad, load_from


def test_keymap_from_each_source(dirs: tuple[Path, Path]) -> None:
    home, cwd = dirs
    assert load_from(home, cwd).tui.keymap == {}
    (home / "settings.toml").write_text('[tui.keymap]\n"triage.resolve" = "R"\n"app.quit" = "ctrl+q, x"\n')
    assert load_from(home, cwd).tui.keymap == {"triage.resolve": "R", "app.quit": "ctrl+q, x"}
    env = {"PRAF_TUI__KEYMAP": '{"app.help": "f1"}'}
    assert load_from(home, cwd, env).tui.keymap == {"app.help": "f1"}  # a whole value replaces the file's
    assert load_from(home, cwd, cli=['tui.keymap={"dashboard.rerun_job": "ctrl+shift+r"}']).tui.keymap == {
        "dashboard.rerun_job": "ctrl+shift+r"}


@pytest.mark.parametrize(("toml", "fragment"), [
    ('"triage resolve" = "r"', "binding id"),
    ('"Triage.Resolve" = "r"', "binding id"),
    ('"resolve" = "r"', "binding id"),
    ('"triage.resolve" = ""', "key"),
    ('"triage.resolve" = "r,,s"', "key"),
    ('"triage.resolve" = "ctrl + r"', "key"),
    ('"triage.resolve" = "hyper+"', "key"),
    ('"triage.resolve" = 5', "string"),
])
def test_a_malformed_keymap_is_configbad(dirs: tuple[Path, Path], toml: str, fragment: str) -> None:
    home, cwd = dirs
    (home / "settings.toml").write_text(f"[tui.keymap]\n{toml}\n")
    msg = configbad(home, cwd)
    assert "tui.keymap" in msg and fragment in msg and str(home / "settings.toml") in msg


def test_a_keymap_that_is_not_json_in_the_environment_is_configbad(dirs: tuple[Path, Path]) -> None:
    home, cwd = dirs
    msg = configbad(home, cwd, {"PRAF_TUI__KEYMAP": "triage.resolve=R"})
    assert "tui.keymap" in msg and "PRAF_TUI__KEYMAP" in msg
