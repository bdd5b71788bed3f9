"""Shared fixtures: a data home per test, on SQLite and (when DATABASE_URL is set) on a real PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from praf_engine.config import Settings, load_settings
from praf_engine.logs import configure_logging

PG_URL = os.environ.get("DATABASE_URL", "")
REQUIRE_PG = os.environ.get("REQUIRE_POSTGRES_TESTS") == "1"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _no_inherited_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """No in-process command reads the run's DATABASE_URL: a test that wants PostgreSQL takes a private schema
    (``backend``); otherwise every in-process ``main([...])`` would share the server's public schema (parallel
    workers saw each other's rows)."""
    monkeypatch.delenv("DATABASE_URL", raising=False)


def _pg_schema_url(base: str) -> Iterator[str]:
    """A fresh PostgreSQL schema for one test, dropped afterwards; the URL selects it via search_path."""
    import psycopg2

    schema = f"t_{uuid.uuid4().hex[:12]}"
    conn = psycopg2.connect(base)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE SCHEMA {schema}")
    try:
        sep = "&" if "?" in base else "?"
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP SCHEMA {schema} CASCADE")
        conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """The database URL of the test: None (SQLite in the home) or a private PostgreSQL schema."""
    if request.param == "sqlite":
        yield None
        return
    if not PG_URL.startswith("postgres"):
        if REQUIRE_PG:
            pytest.fail("REQUIRE_POSTGRES_TESTS=1 but DATABASE_URL is not a PostgreSQL URL")
        pytest.skip("no PostgreSQL (run `make test`, which starts one)")
    yield from _pg_schema_url(PG_URL)


def make_settings(home: Path, database_url: str | None = None, **overrides: Any) -> Settings:
    env = {"DATABASE_URL": database_url} if database_url else {}
    flat = {tuple(k.split("__")): v for k, v in overrides.items()}
    return load_settings(home=home, environ=env, overrides=flat, cwd=home)


@pytest.fixture
def settings(tmp_path: Path, backend: str | None) -> Settings:
    s = make_settings(tmp_path / "home", backend)
    configure_logging(s.logs_dir, secrets=s.secrets(), console_level=None)
    return s


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    s = make_settings(tmp_path / "home")
    configure_logging(s.logs_dir, secrets=s.secrets(), console_level=None)
    return s


@pytest.fixture
def service(settings: Settings) -> Iterator[Any]:
    from praf_engine.service import EngineService

    svc = EngineService.open(settings)
    yield svc
    svc.close()


def cli_env(database_url: str | None = None, **extra: str) -> dict[str, str]:
    """Environment for a `praf-engine` subprocess: no inherited PRAF_*/DATABASE_URL unless given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRAF_") and k != "DATABASE_URL"}
    if database_url:
        env["DATABASE_URL"] = database_url
    env.update(extra)
    return env
