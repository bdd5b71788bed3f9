"""Settings: one object loaded from defaults, settings.toml, .env, PRAF_* variables and CLI flags, in that order.

Every value remembers which source gave it, so a wrong value is rejected at start with a message that names
the setting and where it came from (``CONFIGBAD``). The section models (``[fetch]``, ``[qa]``, …) live in
``praf_engine.config_sections`` and are re-exported here: import them from ``praf_engine.config``.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from dotenv import dotenv_values
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from praf_engine.config_sections import (
    HHMM,
    AlertSettings,
    BackupSettings,
    DaemonSettings,
    DashboardSettings,
    ExitSettings,
    FetchSettings,
    QASettings,
    RetentionSettings,
    SandboxSettings,
    ScheduleSettings,
    ScrapeSettings,
    Section,
    TuiSettings,
)
from praf_engine.errors import PipelineError
from praf_engine.logs import redact

__all__ = [
    "DEFAULT_HOME", "ENV_PREFIX", "HHMM", "SECTIONS", "AlertSettings", "BackupSettings", "DaemonSettings",
    "DashboardSettings", "ExitSettings", "FetchSettings", "Key", "QASettings", "RetentionSettings", "SandboxSettings",
    "ScheduleSettings", "ScrapeSettings", "Settings", "TuiSettings", "describe_settings", "load_settings",
    "parse_overrides",
]

ENV_PREFIX = "PRAF_"
DEFAULT_HOME = Path("~/.local/share/praf")


class Settings(BaseModel):
    """All of PRAF's settings. Build with ``load_settings``; pass it down, never read it from a global."""

    model_config = ConfigDict(extra="forbid", validate_default=True, frozen=True)

    home: Path = Field(DEFAULT_HOME, description="Data home: praf.db, lake/, cache/, scrapes_raw/, archive/, logs/")
    database_url: SecretStr | None = Field(None, description="postgresql://… to use PostgreSQL; default SQLite praf.db in the home")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Lowest level written to logs/app.jsonl")
    sources: Literal["live", "sandbox"] = Field("live", description="live: the real sites; sandbox: every source URL points at the sandbox")
    telegram_token: SecretStr | None = Field(None, description="Telegram bot token (secret)")
    telegram_chat_id: str | None = Field(None, description="Telegram chat id for alerts")

    @field_validator("telegram_chat_id", mode="before")
    @classmethod
    def _chat_id_text(cls, value: Any) -> Any:
        """Chat ids are numbers in Telegram; TOML and --set give ints, keep them as text."""
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    nordvpn_user: SecretStr | None = Field(None, description="NordVPN service username (secret)")
    nordvpn_password: SecretStr | None = Field(None, description="NordVPN service password (secret)")
    scrape: ScrapeSettings = ScrapeSettings()
    fetch: FetchSettings = FetchSettings()
    exits: ExitSettings = ExitSettings()
    qa: QASettings = QASettings()
    dashboard: DashboardSettings = DashboardSettings()
    tui: TuiSettings = TuiSettings()
    alerts: AlertSettings = AlertSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    daemon: DaemonSettings = DaemonSettings()
    retention: RetentionSettings = RetentionSettings()
    backup: BackupSettings = BackupSettings()
    sandbox: SandboxSettings = SandboxSettings()

    @field_validator("database_url")
    @classmethod
    def _db_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.match(r"^(sqlite|postgres(ql)?|psycopg3?)://", value.get_secret_value()):
            raise ValueError("must start with postgresql:// or sqlite://")
        return value

    # Derived locations -------------------------------------------------------------------------
    @property
    def db_path(self) -> Path:
        return self.home / "praf.db"

    @property
    def lake_dir(self) -> Path:
        return self.home / "lake"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def scrapes_dir(self) -> Path:
        return self.home / "scrapes_raw"

    @property
    def archive_dir(self) -> Path:
        return self.home / "archive"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def backups_dir(self) -> Path:
        return self.home / "backups"

    def secrets(self) -> list[str]:
        """Every secret value in force, for the log redactor."""
        found = [s.get_secret_value() for s in (self.telegram_token, self.nordvpn_user, self.nordvpn_password) if s]
        if self.database_url is not None:
            password = re.search(r"://[^:/@]+:([^@]+)@", self.database_url.get_secret_value())
            if password:
                found.append(password.group(1))
        return [s for s in found if len(s) >= 4]


SECTIONS: dict[str, type[Section]] = {
    name: field.annotation  # type: ignore[misc]
    for name, field in Settings.model_fields.items()
    if isinstance(field.annotation, type) and issubclass(field.annotation, Section)
}
# Variables outside the PRAF_ prefix that operators expect to work (12-factor names).
_ALIASES = {"DATABASE_URL": "database_url", "TELEGRAM_BOT_TOKEN": "telegram_token", "TELEGRAM_CHAT_ID": "telegram_chat_id"}

Key = tuple[str, ...]
_SECRET_NAMES = ("token", "password", "user", "database_url", "proxies")


def _flatten(data: Mapping[str, Any], prefix: Key = ()) -> dict[Key, Any]:
    flat: dict[Key, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping) and (prefix or key in SECTIONS):
            flat.update(_flatten(value, prefix + (key,)))
        else:
            flat[prefix + (key,)] = value
    return flat


def _env_key(name: str) -> Key:
    """PRAF_FETCH__BATCH_SIZE -> ('fetch', 'batch_size'); PRAF_LOG_LEVEL -> ('log_level',)."""
    return tuple(part.lower() for part in name[len(ENV_PREFIX):].split("__"))


def _parse_cli_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_overrides(pairs: list[str]) -> dict[Key, Any]:
    """``--set fetch.batch_size=50`` pairs -> {('fetch', 'batch_size'): 50}."""
    out: dict[Key, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise PipelineError("CONFIGBAD", f"--set expects SECTION.KEY=VALUE, got {pair!r}", {"source": "command line"})
        key, _, value = pair.partition("=")
        out[tuple(key.strip().lower().split("."))] = _parse_cli_value(value.strip())
    return out


def _nest(flat: dict[Key, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        node = nested
        for part in key[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[key[-1]] = value
    return nested


def _describe(loc: Key, sources: dict[Key, str]) -> str:
    """The source of the value at ``loc``: the key itself, an enclosing one, or the keys set inside it."""
    for cut in range(len(loc), 0, -1):
        if loc[:cut] in sources:
            return sources[loc[:cut]]
    inside = sorted({f"{'.'.join(k)} from {src}" for k, src in sources.items() if k[: len(loc)] == loc})
    return "; ".join(inside) or "defaults"


def load_settings(
    home: str | os.PathLike[str] | None = None,
    overrides: Mapping[Key, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Load settings: defaults < settings.toml (home) < .env (home, then cwd) < PRAF_* env < CLI flags.

    ``home`` is the ``--home`` flag; else ``PRAF_HOME`` (environment, then .env of the cwd); else the default.
    """
    environ = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    layers: list[tuple[str, dict[Key, Any]]] = []

    cwd_env = {k: v for k, v in dotenv_values(cwd / ".env").items() if v is not None} if (cwd / ".env").is_file() else {}
    if home is not None:
        home_path, home_source = Path(home), "command line --home"
    elif environ.get("PRAF_HOME"):
        home_path, home_source = Path(environ["PRAF_HOME"]), "environment variable PRAF_HOME"
    elif cwd_env.get("PRAF_HOME"):
        home_path, home_source = Path(cwd_env["PRAF_HOME"]), f"{cwd / '.env'} (PRAF_HOME)"
    else:
        home_path, home_source = DEFAULT_HOME, "defaults"
    home_path = home_path.expanduser()

    toml_path = home_path / "settings.toml"
    if toml_path.is_file():
        try:
            data = tomllib.loads(toml_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise PipelineError("CONFIGBAD", f"{toml_path} is not valid TOML: {exc}", {"source": str(toml_path)}) from None
        if "home" in data:
            raise PipelineError("CONFIGBAD", f"home cannot be set inside {toml_path} (the file lives in the home)", {"source": str(toml_path)})
        layers.append((str(toml_path), _flatten(data)))

    for env_file, values in ((home_path / ".env", None), (cwd / ".env", cwd_env)):
        if values is None:
            values = {k: v for k, v in dotenv_values(env_file).items() if v is not None} if env_file.is_file() else {}
        layers.append((str(env_file), _env_layer(values)))
    layers.append(("environment variable", _env_layer(environ)))
    layers.append(("command line", dict(overrides or {})))

    merged: dict[Key, Any] = {}
    sources: dict[Key, str] = {}
    for source, layer in layers:
        for key, value in layer.items():
            if key == ("home",):
                continue
            merged[key] = value
            sources[key] = source if not source.startswith("environment") else f"environment variable {_env_name(key)}"
    merged[("home",)] = home_path
    sources[("home",)] = home_source
    try:
        return Settings.model_validate(_nest(merged))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(str(p) for p in err["loc"])
            name = ".".join(loc)
            if err["type"] == "extra_forbidden":
                problems.append(f"unknown setting {name} (from {_describe(loc, sources)})")
            else:
                shown = "***" if any(s in name for s in _SECRET_NAMES) else redact(repr(err.get("input"))[:80])
                problems.append(f"invalid setting {name} = {shown} (from {_describe(loc, sources)}): {err['msg']}")
        raise PipelineError("CONFIGBAD", "; ".join(problems), {"settings": [p for p in problems]}) from None


def _env_name(key: Key) -> str:
    for alias, target in _ALIASES.items():
        if key == (target,):
            return f"{ENV_PREFIX}{target.upper()} or {alias}"
    return ENV_PREFIX + "__".join(part.upper() for part in key)


def _env_layer(values: Mapping[str, str]) -> dict[Key, Any]:
    layer: dict[Key, Any] = {}
    for alias, target in _ALIASES.items():
        if values.get(alias):
            layer[(target,)] = values[alias]
    for name, value in values.items():
        if name.startswith(ENV_PREFIX) and name != "PRAF_HOME":
            layer[_env_key(name)] = value
    return layer


def describe_settings() -> list[dict[str, Any]]:
    """Every setting with its default and description, for docs/configuration.md and `praf-engine config`."""
    rows: list[dict[str, Any]] = []
    for name, field in Settings.model_fields.items():
        if name in SECTIONS:
            for sub, subfield in SECTIONS[name].model_fields.items():
                rows.append({"key": f"{name}.{sub}", "env": _env_name((name, sub)), "default": subfield.default, "description": subfield.description or ""})
        else:
            default = field.default
            rows.append({"key": name, "env": _env_name((name,)), "default": None if isinstance(default, SecretStr) else default, "description": field.description or ""})
    return rows
