"""logs/app.jsonl: the unified schema, run binding, secret redaction and daily rotation (shared by processes)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Iterator
from logging.handlers import TimedRotatingFileHandler
from pathlib import Path
from typing import Any

import pytest
import structlog

from praf_engine.errors import stack_excerpt
from praf_engine.logs import LOG_FILE, bound_run, configure_logging, get_logger, new_run_id, redact

FIELDS = {"ts", "level", "module", "run_id", "job", "error_code", "msg", "detail"}
SECRET = "s3cr3t-VALUE-42"
DB_URL = "postgresql://praf:pw0rdXYZ@db.example:5432/praf"
TOKEN = "123456789:AA" + "b" * 33  # Telegram shape: digits, colon, 35 characters
BOT_URL = "https://api.telegram.org/bot987654321:" + "C" * 35 + "/sendMessage"


@pytest.fixture(autouse=True)
def _isolate_logging() -> Iterator[None]:
    structlog.contextvars.clear_contextvars()
    yield
    structlog.contextvars.clear_contextvars()
    root = logging.getLogger("praf_engine")
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _file_handler() -> TimedRotatingFileHandler:
    handlers = [h for h in logging.getLogger("praf_engine").handlers if isinstance(h, TimedRotatingFileHandler)]
    assert len(handlers) == 1, handlers
    return handlers[0]


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    path = configure_logging(tmp_path / "logs", secrets=[SECRET], console_level=None)
    assert path == tmp_path / "logs" / LOG_FILE
    return path


# ----------------------------------------------------------------------------------------------------------
# Schema and binding
# ----------------------------------------------------------------------------------------------------------


def test_structlog_line_in_a_run_has_exactly_the_schema_keys(log_path: Path) -> None:
    run_id = new_run_id()
    with bound_run(run_id, "fetch"):
        get_logger("praf_engine.fetch.client").info("batch done", detail={"batch": 5}, symbols=100)
    [line] = _lines(log_path)
    assert set(line) == FIELDS
    assert line["level"] == "info"
    assert line["module"] == "praf_engine.fetch.client"
    assert line["run_id"] == run_id
    assert line["job"] == "fetch"
    assert line["error_code"] is None
    assert line["msg"] == "batch done"
    assert line["detail"] == {"batch": 5, "symbols": 100}
    ts = dt.datetime.fromisoformat(line["ts"].replace("Z", "+00:00"))
    assert ts.utcoffset() == dt.timedelta(0)
    assert abs(dt.datetime.now(dt.UTC) - ts) < dt.timedelta(minutes=5)


def test_error_code_is_a_top_level_field(log_path: Path) -> None:
    get_logger("praf_engine.fetch").error("HTTP 429 Too Many Requests", error_code="YF429", detail={"retry": 2})
    [line] = _lines(log_path)
    assert set(line) == FIELDS
    assert (line["level"], line["error_code"], line["detail"]) == ("error", "YF429", {"retry": 2})


def test_exception_line_has_stack_with_the_traceback(log_path: Path) -> None:
    log = get_logger("praf_engine.jobs")
    with bound_run("r-1", "qa"):
        try:
            {}["missing_key_xyz"]
        except KeyError:
            log.exception("check crashed", error_code="QAFAIL")
    [line] = _lines(log_path)
    assert set(line) == FIELDS | {"stack"}
    assert line["error_code"] == "QAFAIL"
    assert line["level"] == "error"
    assert "Traceback" in line["stack"]
    assert "KeyError: 'missing_key_xyz'" in line["stack"]
    assert "exception" not in line["detail"]


def test_stack_passed_explicitly_like_the_cli_does(log_path: Path) -> None:
    try:
        raise RuntimeError("explode")
    except RuntimeError as exc:
        get_logger("praf_engine.cli").error("RuntimeError: explode", error_code="INTERNAL", stack=stack_excerpt(exc))
    [line] = _lines(log_path)
    assert set(line) == FIELDS | {"stack"}
    assert "RuntimeError: explode" in line["stack"]


def test_stdlib_logging_lines_use_the_same_schema(log_path: Path) -> None:
    std = logging.getLogger("praf_engine.x")
    with bound_run("run-std", "scrape"):
        std.warning("retrying %s after %d s", "nasdaq", 3)
        try:
            1 / 0  # noqa: B018
        except ZeroDivisionError:
            std.exception("std failure")
    std.info("outside the run")
    first, second, third = _lines(log_path)
    assert set(first) == FIELDS
    assert (first["level"], first["module"], first["msg"]) == ("warning", "praf_engine.x", "retrying nasdaq after 3 s")
    assert (first["run_id"], first["job"]) == ("run-std", "scrape")
    assert set(second) == FIELDS | {"stack"}
    assert "ZeroDivisionError" in second["stack"] and "Traceback" in second["stack"]
    assert set(third) == FIELDS
    assert (third["run_id"], third["job"], third["level"]) == (None, None, "info")


def test_lines_outside_a_run_have_null_run_id_and_binding_does_not_leak(log_path: Path) -> None:
    log = get_logger("praf_engine.t")
    log.info("before")
    with bound_run("outer", "fetch"):
        log.info("in outer")
        with bound_run("inner", "qa"):
            log.info("in inner")
        log.info("back in outer")
    log.info("after")
    with pytest.raises(ValueError), bound_run("failing", "alerts"):
        raise ValueError("job failed")
    log.info("after a failing run")
    got = [(line["msg"], line["run_id"], line["job"]) for line in _lines(log_path)]
    assert got == [
        ("before", None, None),
        ("in outer", "outer", "fetch"),
        ("in inner", "inner", "qa"),
        ("back in outer", "outer", "fetch"),
        ("after", None, None),
        ("after a failing run", None, None),
    ]


def test_level_filters_lower_lines(tmp_path: Path) -> None:
    path = configure_logging(tmp_path / "logs", level="warning", console_level=None)
    log = get_logger("praf_engine.t")
    log.debug("d")
    log.info("i")
    logging.getLogger("praf_engine.t").info("std i")
    log.warning("w")
    assert [line["msg"] for line in _lines(path)] == ["w"]


def test_new_run_id_is_a_fresh_uuid() -> None:
    a, b = new_run_id(), new_run_id()
    assert a != b
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", a)


# ----------------------------------------------------------------------------------------------------------
# Redaction
# ----------------------------------------------------------------------------------------------------------


def test_secrets_are_redacted_in_msg_and_nested_detail(log_path: Path) -> None:
    log = get_logger("praf_engine.alerts")
    log.info(f"token is {SECRET}", detail={"deep": {"list": [f"x{SECRET}x", {"url": DB_URL}]}}, extra=SECRET)
    log.warning(f"connecting to {DB_URL}", detail={"dsn": DB_URL})
    log.error(f"telegram said no for {TOKEN}", detail={"url": BOT_URL})
    logging.getLogger("praf_engine.alerts").error("std %s %s", SECRET, BOT_URL)
    try:
        raise ConnectionError(f"could not connect to {DB_URL} with {SECRET}")
    except ConnectionError:
        log.exception("db down")
    raw = log_path.read_text(encoding="utf-8")
    for secret in (SECRET, "pw0rdXYZ", TOKEN, TOKEN.split(":")[1], "C" * 35):
        assert secret not in raw
    lines = _lines(log_path)
    assert len(lines) == 5
    first = lines[0]
    assert first["msg"] == "token is ***"
    assert first["detail"] == {"deep": {"list": ["x***x", {"url": "postgresql://praf:***@db.example:5432/praf"}]}, "extra": "***"}
    assert lines[1]["msg"] == "connecting to postgresql://praf:***@db.example:5432/praf"
    assert lines[2]["msg"] == "telegram said no for ***"
    assert lines[2]["detail"]["url"] == "https://api.telegram.org/bot***/sendMessage"
    assert lines[3]["msg"] == "std *** https://api.telegram.org/bot***/sendMessage"
    assert "***" in lines[4]["stack"] and "ConnectionError" in lines[4]["stack"]


def test_secret_with_json_special_characters_is_redacted(tmp_path: Path) -> None:
    weird = 'we"ird\\pass\twd'
    path = configure_logging(tmp_path / "logs", secrets=[weird], console_level=None)
    get_logger("praf_engine.t").info(f"pw={weird}", detail={"pw": weird})
    raw = path.read_text(encoding="utf-8")
    assert json.dumps(weird)[1:-1] not in raw
    assert "ird" not in raw
    [line] = _lines(path)
    assert line["msg"] == "pw=***"
    assert line["detail"] == {"pw": "***"}


def test_redact_text(log_path: Path) -> None:
    assert redact(f"a {SECRET} b") == "a *** b"
    assert redact(f"dsn={DB_URL}") == "dsn=postgresql://praf:***@db.example:5432/praf"
    assert redact(f"token {TOKEN}.") == "token ***."
    assert redact(BOT_URL) == "https://api.telegram.org/bot***/sendMessage"
    assert redact("nothing to hide: AAPL 123:45") == "nothing to hide: AAPL 123:45"
    assert redact("short 12345:" + "A" * 35) == "short 12345:" + "A" * 35  # not a Telegram shape (5 digits)


def test_redact_follows_the_latest_configuration(tmp_path: Path) -> None:
    configure_logging(tmp_path / "a", secrets=["first-secret"], console_level=None)
    assert redact("x first-secret") == "x ***"
    configure_logging(tmp_path / "b", secrets=["second-secret"], console_level=None)
    assert redact("x second-secret") == "x ***"
    assert redact(f"y {TOKEN}") == "y ***"  # shapes are redacted whatever the configured secrets


def test_console_shows_warnings_redacted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(tmp_path / "logs", secrets=[SECRET], console_level="warning")
    log = get_logger("praf_engine.t")
    log.info("quiet info line")
    log.error(f"failed with {SECRET}", error_code="DBERROR")
    err = capsys.readouterr().err
    assert "quiet info line" not in err
    assert "[DBERROR] failed with ***" in err
    assert SECRET not in err


# ----------------------------------------------------------------------------------------------------------
# Rotation
# ----------------------------------------------------------------------------------------------------------

MIDNIGHT_2023_11_15 = 1_700_006_400  # a UTC midnight


def _rotated(logs_dir: Path) -> list[str]:
    return sorted(p.name for p in logs_dir.iterdir() if re.fullmatch(r"app\.jsonl\.\d{4}-\d{2}-\d{2}", p.name))


def _roll(handler: TimedRotatingFileHandler, times: int) -> list[str]:
    """Force ``times`` daily rollovers, one line per day; returns the suffixes produced, oldest first."""
    log = get_logger("praf_engine.rotation")
    suffixes = []
    for day in range(times):
        log.info("line", day=day)
        handler.rolloverAt = MIDNIGHT_2023_11_15 + (day + 1) * 86400  # the file is named for the day before
        handler.doRollover()
        suffixes.append(dt.datetime.fromtimestamp(MIDNIGHT_2023_11_15 + day * 86400, dt.UTC).strftime("%Y-%m-%d"))
    return suffixes


def test_file_handler_rotates_daily_at_utc_midnight_keeping_14(log_path: Path) -> None:
    handler = _file_handler()
    assert handler.baseFilename == str(log_path)
    assert handler.when == "MIDNIGHT"
    assert handler.utc is True
    assert handler.interval == 86400
    assert handler.backupCount == 14


def test_keep_days_is_honoured(tmp_path: Path) -> None:
    configure_logging(tmp_path / "logs", console_level=None, keep_days=3)
    assert _file_handler().backupCount == 3


def test_twenty_rollovers_leave_the_newest_14_files(log_path: Path) -> None:
    suffixes = _roll(_file_handler(), 20)
    assert len(set(suffixes)) == 20
    rotated = _rotated(log_path.parent)
    assert len(rotated) == 14
    assert rotated == [f"app.jsonl.{s}" for s in suffixes[-14:]]
    newest = _lines(log_path.parent / rotated[-1])
    assert [line["detail"]["day"] for line in newest] == [19]
    get_logger("praf_engine.rotation").info("after")  # the next line opens a fresh current file
    assert [line["msg"] for line in _lines(log_path)] == ["after"]


def test_rollovers_honour_keep_days(tmp_path: Path) -> None:
    path = configure_logging(tmp_path / "logs", console_level=None, keep_days=3)
    suffixes = _roll(_file_handler(), 20)
    assert _rotated(path.parent) == [f"app.jsonl.{s}" for s in suffixes[-3:]]


# ----------------------------------------------------------------------------------------------------------
# Reconfiguration
# ----------------------------------------------------------------------------------------------------------


def test_configure_twice_writes_only_to_the_second_home(tmp_path: Path) -> None:
    first = configure_logging(tmp_path / "home1" / "logs", console_level=None)
    get_logger("praf_engine.t").info("to first")
    second = configure_logging(tmp_path / "home2" / "logs", console_level=None)
    get_logger("praf_engine.t").info("to second")
    logging.getLogger("praf_engine.t").warning("std to second")
    assert [line["msg"] for line in _lines(first)] == ["to first"]
    assert [line["msg"] for line in _lines(second)] == ["to second", "std to second"]
    assert _file_handler().baseFilename == str(second)
    assert len(logging.getLogger("praf_engine").handlers) == 1  # console_level=None: no stderr handler
