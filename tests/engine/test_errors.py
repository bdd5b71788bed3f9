"""PipelineError, wrap() and docs/error_codes.md against the CATALOGUE."""

from __future__ import annotations

import re

import pytest

from praf_engine.errors import CATALOGUE, PipelineError, stack_excerpt, wrap
from tests.conftest import REPO

DOC = REPO / "docs" / "error_codes.md"
TABLE_HEADER = "| code | origin | meaning | automatic action |"


def test_unknown_code_raises_value_error() -> None:
    with pytest.raises(ValueError, match="NOSUCHCODE"):
        PipelineError("NOSUCHCODE", "whatever")
    with pytest.raises(ValueError):
        PipelineError("yf429", "codes are case-sensitive")


def test_str_has_code_and_message() -> None:
    err = PipelineError("YF429", "HTTP 429 Too Many Requests", {"batch": 5})
    assert str(err) == "[YF429] HTTP 429 Too Many Requests"
    assert err.detail == {"batch": 5}
    assert err.to_dict() == {"error_code": "YF429", "msg": "HTTP 429 Too Many Requests", "detail": {"batch": 5}}
    assert isinstance(err, Exception)
    with pytest.raises(PipelineError, match=r"\[YF429\] HTTP 429"):
        raise err


def test_detail_defaults_to_a_fresh_dict() -> None:
    a, b = PipelineError("DBERROR", "a"), PipelineError("DBERROR", "b")
    a.detail["x"] = 1
    assert b.detail == {}


@pytest.mark.parametrize(("code", "exit_code"), [("CONFIGBAD", 2), ("INTERRUPTED", 130), ("YF429", 1), ("INTERNAL", 1),
                                                 ("JOBKILLED", 1), ("QAFAIL", 1)])
def test_exit_codes(code: str, exit_code: int) -> None:
    assert PipelineError(code, "m").exit_code == exit_code


def test_only_start_refusals_and_interrupted_have_special_exit_codes() -> None:
    """2: nothing ran (a wrong setting, no home, an unknown job or option, a scheduled run the scheduler skipped, a
    second daemon, a stop of a job that is not running); 130: stopped by a signal; every other error is 1."""
    special = {c.code: c.exit_code for c in CATALOGUE.values() if c.exit_code != 1}
    assert special == {"CONFIGBAD": 2, "HOMEMISSING": 2, "INTERRUPTED": 130,
                       "JOBUNKNOWN": 2, "JOBPAUSED": 2, "QAWAITTIMEOUT": 2, "ALERTBAD": 2,
                       "DAEMONRUNNING": 2, "JOBNOTRUNNING": 2, "JOBOPTION": 2}


def test_wrap_keeps_a_pipeline_error() -> None:
    err = PipelineError("LAKEIO", "disk full", {"path": "/x"})
    assert wrap(err) is err
    assert wrap(err, "DBERROR", extra=1) is err


def test_wrap_turns_other_exceptions_into_internal() -> None:
    wrapped = wrap(ValueError("bad value"), symbol="AAPL")
    assert wrapped.error_code == "INTERNAL"
    assert wrapped.msg == "ValueError: bad value"
    assert str(wrapped) == "[INTERNAL] ValueError: bad value"
    assert wrapped.detail == {"symbol": "AAPL", "exception": "ValueError"}
    assert wrapped.exit_code == 1


def test_wrap_with_an_explicit_code() -> None:
    wrapped = wrap(TimeoutError("read timed out"), "YFTIMEOUT", batch=3)
    assert wrapped.error_code == "YFTIMEOUT"
    assert wrapped.detail == {"batch": 3, "exception": "TimeoutError"}
    with pytest.raises(ValueError):
        wrap(KeyError("k"), "NOT_A_CODE")


def test_stack_excerpt_has_the_traceback_text() -> None:
    def inner() -> None:
        raise RuntimeError("deep failure")

    try:
        inner()
    except RuntimeError as exc:
        text = stack_excerpt(exc)
    assert "Traceback" in text
    assert "RuntimeError: deep failure" in text
    assert "inner" in text


def test_catalogue_entries_are_complete() -> None:
    assert len(CATALOGUE) >= 20
    for code, entry in CATALOGUE.items():
        assert entry.code == code
        assert re.fullmatch(r"[A-Z0-9]+", code), code
        assert entry.origin.strip() and entry.meaning.strip() and entry.action.strip(), code
    for seed_code in ("SCRAPE404", "SCRAPEJS", "YF429", "YFEMPTY", "QAFAIL", "APIDOWN"):  # seed §9.2
        assert seed_code in CATALOGUE


# ----------------------------------------------------------------------------------------------------------
# docs/error_codes.md
# ----------------------------------------------------------------------------------------------------------


def _doc_rows() -> list[list[str]]:
    lines = DOC.read_text(encoding="utf-8").splitlines()
    assert TABLE_HEADER in lines, f"{DOC} has no table with the header {TABLE_HEADER!r}"
    rows = []
    for line in lines[lines.index(TABLE_HEADER) + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        rows.append(cells)
    return rows


def _expected_table() -> str:
    return "\n".join(f"| `{c.code}` | {c.origin} | {c.meaning} | {c.action} |" for c in CATALOGUE.values())


def test_error_codes_doc_lists_exactly_the_catalogue_in_order() -> None:
    documented = [row[0].strip("`") for row in _doc_rows()]
    hint = f"regenerate the table of docs/error_codes.md from praf_engine.errors.CATALOGUE:\n{_expected_table()}"
    assert not set(documented) - set(CATALOGUE), f"codes documented but not in CATALOGUE; {hint}"
    assert not set(CATALOGUE) - set(documented), f"codes missing from the doc; {hint}"
    assert documented == list(CATALOGUE), f"order differs; {hint}"


def test_error_codes_doc_rows_match_origin_meaning_and_action() -> None:
    for row in _doc_rows():
        assert len(row) == 4, row
        entry = CATALOGUE[row[0].strip("`")]
        assert row[1:] == [entry.origin, entry.meaning, entry.action], (
            f"docs/error_codes.md row of {entry.code} differs from CATALOGUE; expected\n{_expected_table()}"
        )


def test_error_codes_doc_intro_has_schema_log_path_and_exit_codes() -> None:
    intro = DOC.read_text(encoding="utf-8").split(TABLE_HEADER, 1)[0]
    for field in ("ts", "level", "module", "run_id", "job", "error_code", "msg", "detail", "stack"):
        assert f"`{field}`" in intro, field
    assert "PRAF_HOME/logs/app.jsonl" in intro
    for needle in ("| 2 | `CONFIGBAD`", "| 130 | `INTERRUPTED`", "137", "`JOBKILLED`", "| 1 |"):
        assert needle in intro, needle


# ----------------------------------------------------------------------------------------------------------
# scrape and fetch entries against the code's behaviour: they name the settings that govern it, with defaults
# ----------------------------------------------------------------------------------------------------------

_GOVERNED_BY = {
    "SCRAPE404": set(),
    "SCRAPEJS": {"scrape.js_timeout_s", "scrape.retries"},
    "SCRAPEHTTP": {"scrape.retries"},
    "SCRAPESTRUCT": {"scrape.row_floor_ratio"},
    "UNIVERSESTALE": {"fetch.universe_max_age_days"},
    "YF429": {"fetch.backoff_s", "exits.cooldown_s"},
    "YFEMPTY": {"fetch.backoff_s"},
    "YFDELISTED": {"fetch.dlq_after_nights"},
    "YFTIMEOUT": {"fetch.request_timeout_s", "fetch.backoff_s"},
    "YFMALFORMED": {"fetch.dlq_after_nights"},
    "YFHTTP": {"fetch.backoff_s"},
    "EXITFAIL": {"exits.max_connect_failures"},
    "APIDOWN": {"fetch.breaker_first_batches", "fetch.breaker_failure_ratio"},
    "YFRATELIMIT": {"fetch.breaker_first_batches", "fetch.breaker_failure_ratio", "exits.kind"},
}
_SETTING_REF = re.compile(r"`([a-z_]+\.[a-z_0-9]+)`(?: \(([^)]*)\))?")


def _defaults() -> dict[str, object]:
    from praf_engine.config import describe_settings

    return {row["key"]: row["default"] for row in describe_settings()}


def _numbers(value: object) -> list[float]:
    return [float(x) for x in re.findall(r"\d+(?:\.\d+)?", str(value))]


def test_scrape_and_fetch_entries_name_their_settings_with_the_true_defaults() -> None:
    """Retry counts, timeouts and thresholds come from settings: the operator text names the setting and gives its
    default in parentheses, so a hard-coded '2x' or '3 retries' can no longer drift from the code."""
    defaults = _defaults()
    for code, needed in _GOVERNED_BY.items():
        entry = CATALOGUE[code]
        text = f"{entry.meaning} | {entry.action}"
        named = {m.group(1) for m in _SETTING_REF.finditer(text)}
        assert needed <= named, f"{code} should name {sorted(needed - named)}: {text}"
        assert not re.search(r"\b\d+ ?x\b|\b\d+ (?:retries|times|nights|failures)\b", text), f"{code} hard-codes a count: {text}"
    for entry in CATALOGUE.values():
        for m in _SETTING_REF.finditer(f"{entry.meaning} | {entry.action}"):
            key, shown = m.group(1), m.group(2)
            if key.split(".")[0] not in {"scrape", "fetch", "exits", "qa", "retention", "alerts", "sandbox"}:
                continue
            assert key in defaults, f"{entry.code} names an unknown setting {key}"
            if shown is not None:
                assert _numbers(shown) == _numbers(defaults[key]), f"{entry.code}: {key} default is {defaults[key]}, text says {shown}"
