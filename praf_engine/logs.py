"""structlog JSON lines (logs/app.jsonl, daily rotation) with run_id/job binding and secret redaction."""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import structlog
from concurrent_log_handler import ConcurrentTimedRotatingFileHandler

LOG_FILE = "app.jsonl"
_FIELDS = ("ts", "level", "module", "run_id", "job", "error_code", "msg", "detail")
_ROOT = "praf_engine"
# Libraries whose log lines can carry a secret (python-telegram-bot and httpx log request URLs, which hold the bot
# token): they go through the same handlers (so the redactor), at warning level unless the level is debug.
_ROUTED = ("telegram", "httpx", "httpcore", "apscheduler")
# Shapes that are secrets whatever the settings say: credentials in URLs, Telegram bot tokens.
_PATTERNS = (
    # Each pattern may start only where its token starts (the look-behinds): linear, not quadratic, on long lines.
    (re.compile(r"(?i)(?<![a-z0-9+.-])([a-z][a-z0-9+.-]*://[^/\s:@\"']+:)[^@\s/\"']+@"), r"\1***@"),
    (re.compile(r"(?<![\w/:.%-])([\w.%-]+:)[^@\s/\"':]+@(?=[\w.-]+)"), r"\1***@"),
    (re.compile(r"\b\d{6,12}:[A-Za-z0-9_-]{30,}\b"), "***"),
    (re.compile(r"(?i)(\bbot)\d{6,12}:[A-Za-z0-9_-]+"), r"\1***"),
)


class Redactor:
    """Replaces known secret values and secret-shaped strings with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = {s for s in secrets if s}
        values |= {json.dumps(s)[1:-1] for s in values}  # as they appear inside JSON strings
        self._secrets = sorted(values, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        for pattern, repl in _PATTERNS:
            text = pattern.sub(repl, text)
        return text


_active = Redactor()


def redact(text: str) -> str:
    """Redact secrets from any text bound for a person: CLI errors, the TUI, alert bodies."""
    return _active(str(text))


def _shape(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    """Give every line the same keys: ts level module run_id job error_code msg detail (+ stack)."""
    out: dict[str, Any] = {
        "ts": event.pop("ts", None),
        "level": event.pop("level", "info"),
        "module": event.pop("logger", None) or event.pop("module", None),
        "run_id": event.pop("run_id", None),
        "job": event.pop("job", None),
        "error_code": event.pop("error_code", None),
        "msg": event.pop("event", ""),
    }
    detail = event.pop("detail", None)
    detail = dict(detail) if isinstance(detail, dict) else ({} if detail is None else {"value": detail})
    stack = event.pop("exception", None) or event.pop("stack", None)
    for key in ("_record", "_from_structlog", "positional_args"):
        event.pop(key, None)
    detail.update(event)
    out["detail"] = detail
    if stack:
        out["stack"] = "\n".join(str(stack).splitlines()[-40:])
    return out


def _redact_render(_logger: Any, _name: str, event: dict[str, Any]) -> str:
    return redact(json.dumps(event, default=str, ensure_ascii=False))


def _console_render(_logger: Any, _name: str, event: dict[str, Any]) -> str:
    code = f"[{event['error_code']}] " if event.get("error_code") else ""
    detail = event.get("detail") or {}
    extra = " ".join(f"{k}={v}" for k, v in detail.items() if k != "exception")[:300]
    return redact(f"{event['level']}: {code}{event['msg']}" + (f" ({extra})" if extra else ""))


_PRE_CHAIN: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
    structlog.processors.format_exc_info,
]


def configure_logging(
    logs_dir: Path | None,
    *,
    secrets: Iterable[str] = (),
    level: str = "info",
    console_level: str | None = "warning",
    keep_days: int = 14,
    rotate_when: str = "midnight",
    console_json: bool = False,
) -> Path | None:
    """Route structlog and stdlib logging of praf_engine to ``logs_dir/app.jsonl`` (and warnings to stderr);
    ``logs_dir`` None: stderr only. Entry points call it through ``praf_engine.entry.start_logging``.
    ``console_json``: the console gets the file's JSON lines (the daemon's stderr, read by journald), not short text.

    Idempotent: calling it again (another home, in tests) replaces the previous handlers.
    """
    global _active
    _active = Redactor(secrets)
    root = logging.getLogger(_ROOT)
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    path = None
    if logs_dir is not None:
        logs_dir.mkdir(parents=True, exist_ok=True)
        path = logs_dir / LOG_FILE
        # Several processes (daemon, TUI, CLI runs) append to one file: a lock file (logs/.__app.lock) serialises each
        # write and the rollover, and holds the next rollover time, so no line is lost or torn when the day turns.
        file_handler = ConcurrentTimedRotatingFileHandler(str(path), when=rotate_when, backupCount=keep_days, utc=True,
                                                          encoding="utf-8")
        file_handler.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                foreign_pre_chain=_PRE_CHAIN,
                processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _shape, _redact_render],
            )
        )
        root.addHandler(file_handler)
    if console_level:
        console = logging.StreamHandler(sys.stderr)
        console.setLevel(console_level.upper())
        console.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                foreign_pre_chain=_PRE_CHAIN,
                processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _shape,
                            _redact_render if console_json else _console_render],
            )
        )
        root.addHandler(console)
    root.setLevel(level.upper())
    root.propagate = False
    for name in _ROUTED:
        routed = logging.getLogger(name)
        for handler in list(routed.handlers):
            routed.removeHandler(handler)
        for handler in root.handlers:
            routed.addHandler(handler)
        routed.setLevel("DEBUG" if level.lower() == "debug" else "WARNING")
        routed.propagate = False
    structlog.configure(
        processors=[*_PRE_CHAIN[:1], structlog.stdlib.filter_by_level, *_PRE_CHAIN[1:],
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    return path


def new_run_id() -> str:
    return str(uuid.uuid4())


@contextmanager
def bound_run(run_id: str, job: str) -> Iterator[None]:
    """Bind ``run_id`` and ``job`` to every log line emitted inside (this thread/context)."""
    tokens = structlog.contextvars.bind_contextvars(run_id=run_id, job=job)
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)


__all__ = ["Redactor", "bound_run", "configure_logging", "get_logger", "new_run_id", "redact", "_FIELDS"]
