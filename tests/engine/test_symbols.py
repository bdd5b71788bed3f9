"""validate_symbol: Yahoo tickers pass (canonicalised), anything unsafe as a path or URL part is SCRAPEBAD."""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from praf_engine.errors import PipelineError
from praf_engine.universe.symbols import MAX_SYMBOL_LENGTH, is_valid_symbol, validate_symbol


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("AAPL", "AAPL"),
        ("BRK-B", "BRK-B"),
        ("BT-A.L", "BT-A.L"),
        ("ABR-PD", "ABR-PD"),
        ("AACT-UN", "AACT-UN"),
        ("AIR.PA", "AIR.PA"),
        ("SAP.DE", "SAP.DE"),
        ("^GSPC", "^GSPC"),
        ("0700.HK", "0700.HK"),
        ("aapl", "AAPL"),
        ("brk-b", "BRK-B"),
        ("  AAPL  ", "AAPL"),
        (" sap.de", "SAP.DE"),
        ("A", "A"),
        ("A" * MAX_SYMBOL_LENGTH, "A" * MAX_SYMBOL_LENGTH),
    ],
)
def test_valid_symbols_are_canonicalised(raw: str, expected: str) -> None:
    assert validate_symbol(raw) == expected
    assert is_valid_symbol(raw)


HOSTILE = [
    "../x",
    "../../etc",
    "../../etc/passwd",
    "a/b",
    "a\\b",
    "",
    "   ",
    ".",
    "..",
    "A..B",
    "A.-B",
    "-A",
    "A-",
    "A.",
    ".A",
    "^",
    "^^GSPC",
    "A^B",
    "\x00A",
    "A\x00",
    "A\nB",
    "AAPL\n",
    "A\tB",
    "\tAAPL",
    "A B",
    "%2e%2e",
    "%2F",
    "A=B",
    "A;DROP",
    "A;DROP TABLE tickers",
    "'",
    '"',
    "A'B",
    "A:B",
    "A?B",
    "A#B",
    "A&B",
    "*",
    "~",
    "A" * 100,
    "A" * (MAX_SYMBOL_LENGTH + 1),
    "ÄPL",
    "A\u200bB",
]


@pytest.mark.parametrize("raw", HOSTILE, ids=repr)
def test_hostile_symbols_are_rejected(raw: str) -> None:
    with pytest.raises(PipelineError) as info:
        validate_symbol(raw)
    assert info.value.error_code == "SCRAPEBAD"
    assert not is_valid_symbol(raw)


@pytest.mark.parametrize("raw", [None, 5, 5.0, b"AAPL", ["AAPL"], {"s": "AAPL"}, object()], ids=lambda raw: type(raw).__name__ if type(raw) is object else repr(raw))
def test_non_strings_are_rejected(raw: object) -> None:
    with pytest.raises(PipelineError) as info:
        validate_symbol(raw)
    assert info.value.error_code == "SCRAPEBAD"
    assert not is_valid_symbol(raw)


def test_the_21_char_limit_counts_the_trimmed_symbol() -> None:
    assert len("A" * 21) == MAX_SYMBOL_LENGTH + 1
    with pytest.raises(PipelineError, match="longer than"):
        validate_symbol("A" * 21)
    assert validate_symbol(" " * 10 + "A" * 20 + " " * 10) == "A" * 20


@pytest.mark.parametrize("raw", ["A" * 5000, "../" * 2000, "x" * 100 + "\x00" + "y" * 100, b"Z" * 1000])
def test_error_detail_holds_only_a_short_excerpt_of_the_input(raw: object) -> None:
    with pytest.raises(PipelineError) as info:
        validate_symbol(raw)
    assert len(str(info.value)) < 120
    for value in info.value.detail.values():
        assert len(str(value)) <= 60
    assert "A" * 61 not in repr(info.value.to_dict())


# --------------------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------------------

_ALPHABET = string.ascii_letters + string.digits + ".-^/\\ \t\n\r\x00\x7f%=;'\"_:~*?" + "ſıßﬀé\u200b"
_TICKERISH = st.from_regex(r"\^?[A-Za-z0-9]{1,6}([.\-][A-Za-z0-9]{1,4}){0,3}", fullmatch=True)
_CANDIDATES = st.one_of(
    _TICKERISH,
    st.builds(lambda pad, sym, pad2: pad + sym + pad2, st.text(" ", max_size=3), _TICKERISH, st.text(" ", max_size=3)),
    st.text(alphabet=_ALPHABET, max_size=30),
    st.text(max_size=30),
)
_FORBIDDEN = ("/", "\\", "..")


def _assert_safe(out: str) -> None:
    assert out, "accepted symbol is empty"
    for bad in _FORBIDDEN:
        assert bad not in out
    assert not any(ch.isspace() for ch in out)
    assert all(ch.isprintable() and ord(ch) >= 0x20 and ord(ch) != 0x7F for ch in out)
    assert len(out) <= MAX_SYMBOL_LENGTH
    assert out == out.upper()


def test_accepted_symbols_are_safe_and_validation_is_idempotent() -> None:
    """Property over ticker-like strings, padded ones and arbitrary text; at least some must be accepted."""
    outcomes = {"accepted": 0, "rejected": 0}

    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
    @given(_CANDIDATES)
    def check(raw: str) -> None:
        try:
            out = validate_symbol(raw)
        except PipelineError as exc:
            outcomes["rejected"] += 1
            assert exc.error_code == "SCRAPEBAD"
            assert all(len(str(v)) <= 60 for v in exc.detail.values())
            return
        outcomes["accepted"] += 1
        _assert_safe(out)
        assert validate_symbol(out) == out  # idempotent: validate(validate(x)) == validate(x)
        assert is_valid_symbol(raw)

    check()
    assert outcomes["accepted"] >= 20, outcomes
    assert outcomes["rejected"] >= 20, outcomes


@settings(max_examples=200, deadline=None, database=None)
@given(_TICKERISH)
def test_every_ticker_shaped_string_up_to_20_chars_is_accepted(raw: str) -> None:
    if len(raw) > MAX_SYMBOL_LENGTH:
        with pytest.raises(PipelineError):
            validate_symbol(raw)
    else:
        assert validate_symbol(raw) == raw.upper()


@settings(max_examples=200, deadline=None, database=None)
@given(_TICKERISH, st.sampled_from(["/", "\\", "..", " ", "\t", "\n", "\x00", "%", "=", ";", "'"]), st.data())
def test_inserting_an_unsafe_character_inside_a_symbol_is_rejected(raw: str, bad: str, data: st.DataObject) -> None:
    raw = raw if len(raw) > 1 else raw + "X"
    pos = data.draw(st.integers(1, len(raw) - 1))  # strictly inside: a space at the edge is trimmed, allowed
    hostile = raw[:pos] + bad + raw[pos:]
    with pytest.raises(PipelineError) as info:
        validate_symbol(hostile)
    assert info.value.error_code == "SCRAPEBAD"


@pytest.mark.parametrize("raw", ["ıbm", "AAPſ", "straße", "ﬀ"])
def test_non_ascii_letters_are_not_folded_into_another_ticker(raw: str) -> None:
    with pytest.raises(PipelineError) as info:
        validate_symbol(raw)
    assert info.value.error_code == "SCRAPEBAD"
