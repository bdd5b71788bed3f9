"""What every entry point (CLI, TUI, demo, daemon) does first: refuse a home that does not exist, configure logging,
build the wiring (the real world, or the sandbox when the operator asked for it)."""

from __future__ import annotations

from pathlib import Path

from praf_engine.config import Settings
from praf_engine.errors import PipelineError
from praf_engine.logs import configure_logging
from praf_engine.wiring import Wiring


def home_exists(settings: Settings) -> bool:
    """True when ``settings.home`` was made by `praf-engine init` (or the demo, or by hand from the seed plan's DDL):
    on SQLite its praf.db, on PostgreSQL its lake folder (the database's schema is checked when it is opened,
    `EngineService.open(init=False)`; an older schema is DBSCHEMA, which names `init`)."""
    if not settings.home.is_dir():
        return False
    return settings.db_path.is_file() if settings.database_url is None else settings.lake_dir.is_dir()


def require_home(settings: Settings, command: str) -> None:
    """Refuse to run ``command`` on a home that was never initialised (a mistyped --home): nothing is created."""
    if not home_exists(settings):
        raise PipelineError("HOMEMISSING", f"no PRAF home at {settings.home}: `{command}` needs one. Check --home / PRAF_HOME, "
                            f"or create it with `praf-engine --home {settings.home} init`",
                            {"home": str(settings.home), "command": command})


def start_logging(settings: Settings, *, console_level: str | None = "warning", console_json: bool = False) -> Path | None:
    """JSON lines into the home's logs/app.jsonl with the settings' secrets redacted — the same for every process.
    ``console_level``: warnings also to stderr (None in the TUI, whose screen owns the terminal). A home that does
    not exist is not created for a log: only stderr is configured and None is returned. ``console_json``: stderr gets
    the JSON lines too (the daemon under systemd: journald keeps them)."""
    if not settings.home.is_dir():
        configure_logging(None, secrets=settings.secrets(), level=settings.log_level, console_level=console_level,
                          console_json=console_json)
        return None
    return configure_logging(settings.logs_dir, secrets=settings.secrets(), level=settings.log_level,
                             console_level=console_level, keep_days=settings.retention.log_keep_days, console_json=console_json)


def build_wiring(settings: Settings) -> Wiring:
    """The process's wiring. ``sources = sandbox`` (`--sandbox`, ``PRAF_SOURCES=sandbox``, the snippet `praf-engine
    sandbox serve` prints) is the operator's switch, and only entry points read it: the sandbox then supplies its
    settings profile (every source URL at the sandbox its ``[sandbox]`` URLs name), its Yahoo session factory and its
    market clock. Its ``settings`` are the ones to use from here on. The database is added by ``EngineService``."""
    if settings.sources == "sandbox":
        from praf_engine.sandbox.wiring import sandbox_wiring

        return sandbox_wiring(settings)
    return Wiring.production(settings)
