"""Settings: precedence of the five sources, the data home, aliases and lists, secrets, the docs reference
(CONFIGBAD messages: test_config_errors.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from praf_engine.cli import settings_reference
from praf_engine.config import Settings, describe_settings, load_settings
from tests.conftest import REPO
from tests.engine.conftest import PRAF_ENGINE, SECRET, load_from, subprocess_env

DOC = REPO / "docs" / "configuration.md"
START, END = "<!-- settings-reference:start -->", "<!-- settings-reference:end -->"


# ----------------------------------------------------------------------------------------------------------
# Precedence: defaults < settings.toml < <home>/.env < <cwd>/.env < environment < command line
# ----------------------------------------------------------------------------------------------------------

LAYERS = ["defaults", "settings.toml", "home .env", "cwd .env", "environment", "command line"]
VALUES = {"defaults": 100, "settings.toml": 50, "home .env": 51, "cwd .env": 52, "environment": 53, "command line": 7}


@pytest.mark.parametrize("top", LAYERS)
def test_each_layer_beats_every_layer_below(dirs: tuple[Path, Path], top: str) -> None:
    """fetch.batch_size is given by every layer up to ``top``; the value of ``top`` wins."""
    home, cwd = dirs
    present = LAYERS[1 : LAYERS.index(top) + 1]
    environ: dict[str, str] = {}
    cli: list[str] = []
    if "settings.toml" in present:
        (home / "settings.toml").write_text(f"[fetch]\nbatch_size = {VALUES['settings.toml']}\n")
    if "home .env" in present:
        (home / ".env").write_text(f"PRAF_FETCH__BATCH_SIZE={VALUES['home .env']}\n")
    if "cwd .env" in present:
        (cwd / ".env").write_text(f"PRAF_FETCH__BATCH_SIZE={VALUES['cwd .env']}\n")
    if "environment" in present:
        environ["PRAF_FETCH__BATCH_SIZE"] = str(VALUES["environment"])
    if "command line" in present:
        cli.append(f"fetch.batch_size={VALUES['command line']}")
    assert load_from(home, cwd, environ, cli).fetch.batch_size == VALUES[top]


@pytest.mark.parametrize("only", LAYERS[1:])
def test_each_layer_alone_sets_the_knob(dirs: tuple[Path, Path], only: str) -> None:
    home, cwd = dirs
    environ: dict[str, str] = {}
    cli: list[str] = []
    if only == "settings.toml":
        (home / "settings.toml").write_text("[fetch]\nbatch_size = 50\n")
    elif only == "home .env":
        (home / ".env").write_text("PRAF_FETCH__BATCH_SIZE=50\n")
    elif only == "cwd .env":
        (cwd / ".env").write_text("PRAF_FETCH__BATCH_SIZE=50\n")
    elif only == "environment":
        environ["PRAF_FETCH__BATCH_SIZE"] = "50"
    else:
        cli.append("fetch.batch_size=50")
    settings = load_from(home, cwd, environ, cli)
    assert settings.fetch.batch_size == 50
    assert settings.fetch.workers == 6  # the rest of the section keeps its defaults


def test_layers_merge_key_by_key_not_section_by_section(dirs: tuple[Path, Path]) -> None:
    home, cwd = dirs
    (home / "settings.toml").write_text("log_level = 'debug'\n[fetch]\nbatch_size = 50\nworkers = 2\n")
    settings = load_from(home, cwd, {"PRAF_FETCH__WORKERS": "3"}, ["fetch.full_history_cap=9"])
    assert (settings.fetch.batch_size, settings.fetch.workers, settings.fetch.full_history_cap) == (50, 3, 9)
    assert settings.log_level == "debug"


def test_defaults_when_nothing_is_given(dirs: tuple[Path, Path]) -> None:
    home, cwd = dirs
    settings = load_from(home, cwd)
    assert settings.fetch.batch_size == 100
    assert settings.schedule.fetch_time == "01:00"
    assert settings.database_url is None
    assert settings.home == home


def test_other_variables_in_env_and_dotenv_are_ignored(dirs: tuple[Path, Path]) -> None:
    home, cwd = dirs
    (cwd / ".env").write_text("FOO=bar\nSECRET_KEY=x\nPRAF_FETCH__WORKERS=4\n")
    settings = load_from(home, cwd, {"PATH": "/usr/bin", "HOME": "/nowhere", "LANG": "C"})
    assert settings.fetch.workers == 4


# --- the data home -------------------------------------------------------------------------------------------


def _home_with_toml(path: Path, batch_size: int) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "settings.toml").write_text(f"[fetch]\nbatch_size = {batch_size}\n")
    return path


def test_home_flag_beats_praf_home(tmp_path: Path) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    flag, env, dotenv = (_home_with_toml(tmp_path / n, b) for n, b in (("flag", 11), ("env", 12), ("dotenv", 13)))
    (cwd / ".env").write_text(f"PRAF_HOME={dotenv}\n")
    settings = load_settings(home=flag, environ={"PRAF_HOME": str(env)}, cwd=cwd)
    assert settings.home == flag
    assert settings.fetch.batch_size == 11  # settings.toml is read from the chosen home


def test_praf_home_env_beats_dotenv_praf_home(tmp_path: Path) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    env, dotenv = _home_with_toml(tmp_path / "env", 12), _home_with_toml(tmp_path / "dotenv", 13)
    (cwd / ".env").write_text(f"PRAF_HOME={dotenv}\n")
    settings = load_settings(home=None, environ={"PRAF_HOME": str(env)}, cwd=cwd)
    assert settings.home == env
    assert settings.fetch.batch_size == 12


def test_dotenv_praf_home_beats_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "userhome"))
    _home_with_toml(tmp_path / "userhome" / ".local" / "share" / "praf", 14)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    dotenv = _home_with_toml(tmp_path / "dotenv", 13)
    (cwd / ".env").write_text(f"PRAF_HOME={dotenv}\n")
    settings = load_settings(home=None, environ={}, cwd=cwd)
    assert settings.home == dotenv
    assert settings.fetch.batch_size == 13


def test_default_home_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --home/PRAF_HOME the home is ~/.local/share/praf with ~ expanded (HOME points into tmp_path)."""
    monkeypatch.setenv("HOME", str(tmp_path / "userhome"))
    default = _home_with_toml(tmp_path / "userhome" / ".local" / "share" / "praf", 14)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    settings = load_settings(home=None, environ={}, cwd=cwd)
    assert settings.home == default
    assert "~" not in str(settings.home)
    assert settings.fetch.batch_size == 14
    assert settings.logs_dir == default / "logs"


def test_home_flag_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    assert load_settings(home="~/data", environ={}, cwd=cwd).home == tmp_path / "data"


# --- aliases and lists ---------------------------------------------------------------------------------------


def test_database_url_alias(dirs: tuple[Path, Path]) -> None:
    home, cwd = dirs
    url = f"postgresql://praf:{SECRET}@db.example:5432/praf"
    settings = load_from(home, cwd, {"DATABASE_URL": url})
    assert settings.database_url is not None
    assert settings.database_url.get_secret_value() == url


def test_database_url_alias_from_cwd_dotenv_and_environment_wins(dirs: tuple[Path, Path]) -> None:
    home, cwd = dirs
    (cwd / ".env").write_text("DATABASE_URL=postgresql://a:b@from-dotenv/db\n")
    assert load_from(home, cwd).database_url.get_secret_value() == "postgresql://a:b@from-dotenv/db"  # type: ignore[union-attr]
    settings = load_from(home, cwd, {"DATABASE_URL": "postgresql://a:b@from-env/db"})
    assert settings.database_url.get_secret_value() == "postgresql://a:b@from-env/db"  # type: ignore[union-attr]


def test_telegram_aliases(dirs: tuple[Path, Path]) -> None:
    home, cwd = dirs
    settings = load_from(home, cwd, {"TELEGRAM_BOT_TOKEN": "123456789:" + "A" * 35, "TELEGRAM_CHAT_ID": "-100123"})
    assert settings.telegram_token is not None
    assert settings.telegram_token.get_secret_value() == "123456789:" + "A" * 35
    assert settings.telegram_chat_id == "-100123"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("10,30", [10.0, 30.0]), ("[1,2]", [1.0, 2.0]), (" 5 , 6 ,7", [5.0, 6.0, 7.0]), ("[0.5]", [0.5])],
)
def test_list_setting_from_environment(dirs: tuple[Path, Path], text: str, expected: list[float]) -> None:
    home, cwd = dirs
    assert load_from(home, cwd, {"PRAF_FETCH__BACKOFF_S": text}).fetch.backoff_s == expected


def test_list_settings_from_dotenv_cli_and_toml(dirs: tuple[Path, Path]) -> None:
    home, cwd = dirs
    (cwd / ".env").write_text("PRAF_EXITS__PROXIES=socks5h://10.0.0.2:1080, http://10.0.0.3:3128\n")
    settings = load_from(home, cwd, cli=["fetch.backoff_s=[5, 6]"])
    assert settings.exits.proxies == ["socks5h://10.0.0.2:1080", "http://10.0.0.3:3128"]
    assert settings.fetch.backoff_s == [5.0, 6.0]
    assert load_from(home, cwd, cli=["fetch.backoff_s=10,30"]).fetch.backoff_s == [10.0, 30.0]
    (home / "settings.toml").write_text("[fetch]\nbackoff_s = [1, 2, 3]\n")
    assert load_from(home, cwd).fetch.backoff_s == [1.0, 2.0, 3.0]


# ----------------------------------------------------------------------------------------------------------
# Secrets
# ----------------------------------------------------------------------------------------------------------

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
NORD_USER = "nordUserXYZ"
NORD_PASS = "nordPassw0rdQQ"


def _secret_settings(home: Path, cwd: Path) -> Settings:
    return load_from(home, cwd, {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "PRAF_NORDVPN_USER": NORD_USER,
        "PRAF_NORDVPN_PASSWORD": NORD_PASS,
        "DATABASE_URL": f"postgresql://praf:{SECRET}@db.example:5432/praf",
        "TELEGRAM_CHAT_ID": "4242",
    })


def test_secrets_lists_every_secret_in_force(dirs: tuple[Path, Path]) -> None:
    home, cwd = dirs
    assert set(_secret_settings(home, cwd).secrets()) == {TOKEN, NORD_USER, NORD_PASS, SECRET}


def test_secrets_is_empty_without_secrets(dirs: tuple[Path, Path]) -> None:
    home, cwd = dirs
    assert load_from(home, cwd).secrets() == []
    assert load_from(home, cwd, {"DATABASE_URL": "postgresql://praf@db.example/praf"}).secrets() == []


def test_repr_and_json_dump_hide_secrets(dirs: tuple[Path, Path]) -> None:
    home, cwd = dirs
    settings = _secret_settings(home, cwd)
    dumped = settings.model_dump_json()
    for text in (repr(settings), str(settings), dumped):
        for secret in (TOKEN, NORD_USER, NORD_PASS, SECRET):
            assert secret not in text
    assert "4242" in dumped  # the chat id is not a secret, and the dump is not simply empty


# ----------------------------------------------------------------------------------------------------------
# describe_settings() and docs/configuration.md
# ----------------------------------------------------------------------------------------------------------


def _model_keys() -> list[str]:
    keys = []
    for name, field in Settings.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            keys += [f"{name}.{sub}" for sub in ann.model_fields]
        else:
            keys.append(name)
    return keys


def test_describe_settings_covers_every_field_with_a_description() -> None:
    rows = describe_settings()
    keys = [row["key"] for row in rows]
    assert len(keys) == len(set(keys))
    assert sorted(keys) == sorted(_model_keys())
    assert len(keys) > 60
    for row in rows:
        assert row["description"].strip(), f"{row['key']} has no description"
        assert row["env"].startswith("PRAF_")


def test_describe_settings_defaults_match_loaded_defaults(dirs: tuple[Path, Path]) -> None:
    home, cwd = dirs
    loaded: dict[str, Any] = load_from(home, cwd).model_dump()
    for row in describe_settings():
        if row["key"] == "home":
            continue
        node: Any = loaded
        for part in row["key"].split("."):
            node = node[part]
        if row["default"] is None:
            assert node is None, row["key"]
        else:
            assert node == row["default"], row["key"]


def test_describe_settings_env_names_load_the_setting(dirs: tuple[Path, Path]) -> None:
    home, cwd = dirs
    row = next(r for r in describe_settings() if r["key"] == "qa.lag_days")
    assert load_from(home, cwd, {row["env"]: "4"}).qa.lag_days == 4


def _doc_block() -> str:
    text = DOC.read_text(encoding="utf-8")
    assert text.count(START) == 1 and text.count(END) == 1, f"{DOC} must hold the markers {START} and {END} once"
    return text.split(START, 1)[1].split(END, 1)[0].strip()


def test_configuration_doc_reference_is_current() -> None:
    assert _doc_block() == settings_reference().strip(), (
        "docs/configuration.md is out of date: run `praf-engine config --reference` and paste its output "
        f"between {START} and {END}"
    )


def test_configuration_doc_intro_explains_sources_and_flags() -> None:
    intro = DOC.read_text(encoding="utf-8").split(START, 1)[0]
    for needle in ("settings.toml", ".env", "PRAF_HOME", "PRAF_SECTION__KEY", "DATABASE_URL", "TELEGRAM_BOT_TOKEN",
                   "TELEGRAM_CHAT_ID", "--home", "--set SECTION.KEY=VALUE", "--log-level", "CONFIGBAD",
                   "command line"):
        assert needle in intro, f"docs/configuration.md intro does not mention {needle}"


def test_config_reference_command_prints_settings_reference(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(PRAF_ENGINE), "--home", str(tmp_path / "home"), "config", "--reference"],
        cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == settings_reference().strip()
    assert result.stdout.count("\n") >= len(describe_settings())
