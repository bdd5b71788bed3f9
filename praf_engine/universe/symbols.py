"""The one symbol validator, used wherever a symbol becomes a path, a URL or a query parameter."""

from __future__ import annotations

import re

from praf_engine.errors import PipelineError

MAX_SYMBOL_LENGTH = 20

# Yahoo tickers: BRK-B, BT-A.L, ABR-PD, AIR.PA, ^GSPC. Upper case letters and digits, joined by single
# '.' or '-' separators; an optional leading '^' for indices. No '/', '\\', '=', '%', spaces or '..',
# so a symbol is always safe as the `symbol=<SYM>` directory of the lake and inside a URL path.
_SYMBOL_RE = re.compile(r"\^?[A-Z0-9]+(?:[.\-][A-Z0-9]+)*")


def validate_symbol(raw: object) -> str:
    """Return the canonical (upper-case, trimmed) symbol or raise ``PipelineError('SCRAPEBAD')``."""
    if not isinstance(raw, str):
        raise PipelineError("SCRAPEBAD", "symbol is not a string", {"symbol": repr(raw)[:60]})
    if not raw.isascii():  # before upper(): 'ı'.upper() == 'I', 'ß'.upper() == 'SS' would forge another ticker
        raise PipelineError("SCRAPEBAD", "symbol has non-ASCII characters", {"symbol": repr(raw)[:60]})
    candidate = raw.strip(" ").upper()
    if not candidate:
        raise PipelineError("SCRAPEBAD", "empty symbol", {"symbol": repr(raw)[:60]})
    if len(candidate) > MAX_SYMBOL_LENGTH:
        raise PipelineError(
            "SCRAPEBAD",
            f"symbol longer than {MAX_SYMBOL_LENGTH} characters",
            {"symbol": repr(raw)[:60], "length": len(candidate)},
        )
    if not _SYMBOL_RE.fullmatch(candidate):
        raise PipelineError(
            "SCRAPEBAD", "symbol has characters outside [A-Z0-9.-^]", {"symbol": repr(raw)[:60]}
        )
    return candidate


def is_valid_symbol(raw: object) -> bool:
    try:
        validate_symbol(raw)
    except PipelineError:
        return False
    return True
