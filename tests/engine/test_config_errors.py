"""CONFIGBAD: a wrong setting stops PRAF at start with a message naming the setting and the source it came from,
never a secret it carried."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from praf_engine.config import parse_overrides
from praf_engine.errors import PipelineError
from tests.engine.conftest import PRAF_ENGINE, SECRET, configbad, load_from, subprocess_env


def test_negative_batch_size_from_environment(dirs: tuple[Path, Path]) -> None:
    home, cwd = dirs
    msg = configbad(home, cwd, {"PRAF_FETCH__BATCH_SIZE": "-5"})
    assert "fetch.batch_size" in msg
    assert "PRAF_FETCH__BATCH_SIZE" in msg


def test_unknown_exit_kind_from_settings_toml(dirs: tuple[Path, Path]) -> None:
    home, cwd = dirs
    (home / "settings.toml").write_text('[exits]\nkind = "tor"\n')
    msg = configbad(home, cwd)
    assert "exits.kind" in msg
    assert str(home / "settings.toml") in msg


@pytest.mark.parametrize("value", ["25:00", "1:5", "24:00", "01:60", "0100", "1:05", "01:5"])
def test_bad_fetch_time_from_command_line(dirs: tuple[Path, Path], value: str) -> None:
    home, cwd = dirs
    msg = configbad(home, cwd, cli=[f"schedule.fetch_time={value}"])
    assert "schedule.fetch_time" in msg
    assert "command line" in msg


@pytest.mark.parametrize("value", ["00:00", "23:59", "01:45"])
def test_good_fetch_time_from_command_line(dirs: tuple[Path, Path], value: str) -> None:
    home, cwd = dirs
    assert load_from(home, cwd, cli=[f"schedule.fetch_time={value}"]).schedule.fetch_time == value


@pytest.mark.parametrize("source", ["settings.toml", "home .env", "cwd .env", "environment", "command line"])
def test_unknown_key_is_rejected_in_every_source(dirs: tuple[Path, Path], source: str) -> None:
    home, cwd = dirs
    environ: dict[str, str] = {}
    cli: list[str] = []
    if source == "settings.toml":
        (home / "settings.toml").write_text("[fetch]\nbatchsize = 5\n")
        where = str(home / "settings.toml")
    elif source == "home .env":
        (home / ".env").write_text("PRAF_FETCH__BATCHSIZE=5\n")
        where = str(home / ".env")
    elif source == "cwd .env":
        (cwd / ".env").write_text("PRAF_FETCH__BATCHSIZE=5\n")
        where = str(cwd / ".env")
    elif source == "environment":
        environ["PRAF_FETCH__BATCHSIZE"] = "5"
        where = "PRAF_FETCH__BATCHSIZE"
    else:
        cli.append("fetch.batchsize=5")
        where = "command line"
    msg = configbad(home, cwd, environ, cli)
    assert "fetch.batchsize" in msg
    assert "unknown" in msg
    assert where in msg


@pytest.mark.parametrize(
    ("environ", "toml", "name", "where"),
    [
        ({"PRAF_FECTH__BATCH_SIZE": "5"}, None, "fecth", "PRAF_FECTH__BATCH_SIZE"),
        ({"PRAF_LOGLEVEL": "debug"}, None, "loglevel", "PRAF_LOGLEVEL"),
        ({}, "[fecth]\nbatch_size = 5\n", "fecth", "settings.toml"),
        ({}, "loglevel = 'debug'\n", "loglevel", "settings.toml"),
    ],
)
def test_unknown_section_or_top_level_key(
    dirs: tuple[Path, Path], environ: dict[str, str], toml: str | None, name: str, where: str
) -> None:
    home, cwd = dirs
    if toml:
        (home / "settings.toml").write_text(toml)
    msg = configbad(home, cwd, environ)
    assert name in msg
    assert where in msg


def test_invalid_toml(dirs: tuple[Path, Path]) -> None:
    home, cwd = dirs
    (home / "settings.toml").write_text("[fetch\nbatch_size = \n")
    msg = configbad(home, cwd)
    assert str(home / "settings.toml") in msg
    assert "TOML" in msg


def test_home_inside_settings_toml(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    home, cwd = dirs
    (home / "settings.toml").write_text(f"home = '{tmp_path / 'elsewhere'}'\n")
    with pytest.raises(PipelineError) as info:
        load_from(home, cwd)
    assert info.value.error_code == "CONFIGBAD"
    assert "home" in str(info.value)
    assert "settings.toml" in str(info.value)
    assert info.value.detail["source"] == str(home / "settings.toml")


def test_home_inside_settings_toml_message_names_the_file(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    home, cwd = dirs
    (home / "settings.toml").write_text(f"home = '{tmp_path / 'elsewhere'}'\n")
    assert str(home / "settings.toml") in configbad(home, cwd)


@pytest.mark.parametrize("proxies", ["proxy.example:1080", "socks5h://ok:1080,10.0.0.3:3128", "ftp://x:21", '["//x:1"]'])
def test_proxy_without_scheme(dirs: tuple[Path, Path], proxies: str) -> None:
    home, cwd = dirs
    msg = configbad(home, cwd, {"PRAF_EXITS__PROXIES": proxies})
    assert "exits.proxies" in msg
    assert "PRAF_EXITS__PROXIES" in msg


def test_rejected_proxy_with_credentials_does_not_leak_the_password(dirs: tuple[Path, Path]) -> None:
    home, cwd = dirs
    with pytest.raises(PipelineError) as info:
        load_from(home, cwd, {"PRAF_EXITS__PROXIES": f"user:{SECRET}@proxy.example:1080"})
    assert info.value.error_code == "CONFIGBAD"
    assert "exits.proxies" in str(info.value)
    assert SECRET not in str(info.value)
    assert SECRET not in repr(info.value.detail)


def test_delay_min_above_max_from_command_line(dirs: tuple[Path, Path]) -> None:
    home, cwd = dirs
    msg = configbad(home, cwd, cli=["scrape.delay_min_s=5"])
    assert "delay_min_s" in msg
    assert "command line" in msg


def test_delay_min_above_max_names_both_sources(dirs: tuple[Path, Path]) -> None:
    home, cwd = dirs
    (home / "settings.toml").write_text("[scrape]\ndelay_min_s = 2.5\n")
    msg = configbad(home, cwd, {"PRAF_SCRAPE__DELAY_MAX_S": "2"})
    assert "delay_min_s" in msg and "delay_max_s" in msg
    assert str(home / "settings.toml") in msg
    assert "PRAF_SCRAPE__DELAY_MAX_S" in msg


@pytest.mark.parametrize("source", ["environment", "DATABASE_URL", "cwd .env", "command line", "settings.toml"])
def test_mysql_database_url_rejected_without_showing_the_password(dirs: tuple[Path, Path], source: str) -> None:
    home, cwd = dirs
    url = f"mysql://praf:{SECRET}@db.example:3306/praf"
    environ: dict[str, str] = {}
    cli: list[str] = []
    if source == "environment":
        environ["PRAF_DATABASE_URL"] = url
        where = "PRAF_DATABASE_URL"
    elif source == "DATABASE_URL":
        environ["DATABASE_URL"] = url
        where = "DATABASE_URL"
    elif source == "cwd .env":
        (cwd / ".env").write_text(f"DATABASE_URL={url}\n")
        where = str(cwd / ".env")
    elif source == "command line":
        cli.append(f"database_url={url}")
        where = "command line"
    else:
        (home / "settings.toml").write_text(f"database_url = '{url}'\n")
        where = str(home / "settings.toml")
    with pytest.raises(PipelineError) as info:
        load_from(home, cwd, environ, cli)
    err = info.value
    assert err.error_code == "CONFIGBAD"
    assert "database_url" in str(err)
    assert where in str(err)
    assert SECRET not in str(err)
    assert SECRET not in repr(err.detail)
    assert SECRET not in repr(err.args)


def test_set_without_equals_sign() -> None:
    with pytest.raises(PipelineError) as info:
        parse_overrides(["fetch.batch_size"])
    assert info.value.error_code == "CONFIGBAD"
    assert "fetch.batch_size" in str(info.value)
    assert info.value.detail["source"] == "command line"


def test_parse_overrides_reads_json_values() -> None:
    assert parse_overrides(["fetch.batch_size=7", "exits.kind=proxies", "fetch.backoff_s=[1, 2]", "A.B = 1.5"]) == {
        ("fetch", "batch_size"): 7,
        ("exits", "kind"): "proxies",
        ("fetch", "backoff_s"): [1, 2],
        ("a", "b"): 1.5,
    }


@pytest.mark.parametrize("source", ["command line", "settings.toml"])
def test_numeric_telegram_chat_id_is_accepted(dirs: tuple[Path, Path], source: str) -> None:
    home, cwd = dirs
    cli: list[str] = []
    if source == "command line":
        cli.append("telegram_chat_id=-100123456")
    else:
        (home / "settings.toml").write_text("telegram_chat_id = -100123456\n")
    assert load_from(home, cwd, cli=cli).telegram_chat_id == "-100123456"


def test_cli_exits_2_with_the_setting_and_source_on_stderr(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(PRAF_ENGINE), "--home", str(tmp_path / "home"), "--set", "fetch.batch_size=-1", "config"],
        cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2, result.stderr
    err = " ".join(result.stderr.split())
    assert "CONFIGBAD" in err
    assert "fetch.batch_size" in err
    assert "command line" in err
