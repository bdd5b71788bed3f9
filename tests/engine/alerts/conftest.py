"""A home whose alerts go to the sandbox's Telegram stub over HTTP (the real python-telegram-bot), with debug logs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from praf_engine.alerts import outbox
from praf_engine.logs import configure_logging
from praf_engine.sandbox.telegram import DEFAULT_CHAT_ID, DEFAULT_TOKEN, TelegramStub
from praf_engine.service import EngineService
from tests.conftest import make_settings

NIGHT = dt.date(2026, 3, 4)
NOW = dt.datetime(2026, 3, 4, 2, 0)


@pytest.fixture
def stub() -> Iterator[TelegramStub]:
    with TelegramStub() as s:
        yield s


def alert_settings(home: Path, backend: str | None, stub: TelegramStub, **over: Any):
    values = {"telegram_token": DEFAULT_TOKEN, "telegram_chat_id": str(DEFAULT_CHAT_ID), "log_level": "debug",
              "alerts__telegram_api_url": stub.api_url, "alerts__send_backoff_s": [0.0, 0.0], "alerts__max_wait_s": 5.0,
              "alerts__timeout_s": 5.0, "alerts__poll_timeout_s": 1}
    values.update(over)
    settings = make_settings(home, backend, **{k: v for k, v in values.items() if v is not None})
    configure_logging(settings.logs_dir, secrets=settings.secrets(), console_level="warning", level=settings.log_level)
    return settings


@pytest.fixture
def alerting(tmp_path: Path, backend: str | None, stub: TelegramStub) -> Iterator[EngineService]:
    svc = EngineService.open(alert_settings(tmp_path / "home", backend, stub))
    yield svc
    svc.close()


def put(db: Any, rule: str, subject: str = "", severity: str = "critical", night: dt.date = NIGHT,
        now: dt.datetime = NOW, text: str | None = None):
    return outbox.enqueue(db, rule=rule, subject=subject, night=night, severity=severity,
                          text=text or f"{rule} {subject}\n→ praf-tui --screen triage --check {rule}", now=now)
