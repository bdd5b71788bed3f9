"""Exchange code -> Yahoo ticker mapping, trading calendars (MIC) and Euronext markets (SPEC §2, reference/exchanges.md)."""

from __future__ import annotations

from praf_engine.errors import PipelineError
from praf_engine.universe.symbols import validate_symbol

# Euronext market (the first venue of a combined value) -> (Yahoo suffix, MIC of its trading calendar)
EURONEXT_MARKETS: dict[str, tuple[str, str]] = {
    "Paris": (".PA", "XPAR"),
    "Amsterdam": (".AS", "XAMS"),
    "Brussels": (".BR", "XBRU"),
    "Lisbon": (".LS", "XLIS"),
    "Dublin": (".IR", "XDUB"),
    "Oslo": (".OL", "XOSL"),
    "Milan": (".MI", "XMIL"),
}
# Markets of the Euronext file that are not listings of an exchange we follow.
EURONEXT_SKIPPED = ("EuroTLX", "Trading After Hours", "Euronext Global Equity Market")
# The MIC a listing of each exchange is stored with (tickers.mic): the venue itself, not its trading calendar
# (calendars.resolve_mic maps XNAS, ARCX, ... to the calendar they trade on).
EXCHANGE_MICS = {"nasdaq": "XNAS", "arca": "ARCX", "ftse": "XLON", "dax": "XETR"}
# otherlisted.txt's Exchange column -> MIC (reference/exchanges.md); the arca scraper keeps the P rows.
OTHERLISTED_MICS = {"N": "XNYS", "P": "ARCX", "A": "XASE", "Z": "BATS", "V": "IEXG"}
EXCHANGE_CURRENCIES = {"nasdaq": "USD", "arca": "USD", "ftse": "GBp", "dax": "EUR"}

_ACT_TAILS = ((".W", "-WT"), (".U", "-UN"), (".R", "-RI"))


def nasdaq_to_yahoo(symbol: str) -> str:
    """Nasdaq-listed symbols carry no punctuation and are Yahoo tickers as they are."""
    return validate_symbol(symbol)


def act_to_yahoo(act: str) -> str:
    """An ``otherlisted.txt`` ACT symbol: ``BRK.B``->``BRK-B``, ``ABR$D``->``ABR-PD``, ``.U``/``.W``/``.R``->``-UN``/``-WT``/``-RI``."""
    out = act.strip().upper().replace("$", "-P")
    for tail, yahoo in _ACT_TAILS:
        if out.endswith(tail):
            out = out[: -len(tail)] + yahoo
            break
    return validate_symbol(out.replace(".", "-"))


def ftse_to_yahoo(ticker: str) -> str:
    """An LSE EPIC: a trailing dot dropped (``AV.``), ``.``->``-`` (``BT.A``->``BT-A``), then ``.L``."""
    base = ticker.strip().upper().rstrip(".")
    if not base:
        raise PipelineError("SCRAPEBAD", "empty FTSE ticker", {"symbol": repr(ticker)[:60]})
    return validate_symbol(base.replace(".", "-") + ".L")


def dax_to_yahoo(ticker: str) -> str:
    """A Xetra ticker with or without ``.DE``: always exactly one ``.DE``."""
    base = ticker.strip().upper().removesuffix(".DE")
    if not base:
        raise PipelineError("SCRAPEBAD", "empty DAX ticker", {"symbol": repr(ticker)[:60]})
    return validate_symbol(base + ".DE")


def euronext_city(market: str) -> str | None:
    """The city of a Euronext market value (``Euronext Growth Paris``, ``Oslo Børs``, ``Euronext Paris, Amsterdam``
    take their first venue); None for a market this universe does not follow (EuroTLX, ...)."""
    first = market.split(",")[0].strip()
    if not first or first in EURONEXT_SKIPPED:
        return None
    for city in EURONEXT_MARKETS:
        if first.endswith(city) or first.startswith(city):
            return city
    return None


def euronext_to_yahoo(symbol: str, market: str) -> tuple[str, str]:
    """(Yahoo ticker, MIC) of a Euronext symbol on ``market``; SCRAPEBAD for a market without a Yahoo suffix."""
    city = euronext_city(market)
    if city is None:
        raise PipelineError("SCRAPEBAD", "Euronext market without a Yahoo suffix", {"market": market[:60], "symbol": symbol[:30]})
    suffix, mic = EURONEXT_MARKETS[city]
    base = symbol.strip().upper()
    if not base:
        raise PipelineError("SCRAPEBAD", "empty Euronext symbol", {"symbol": repr(symbol)[:60]})
    return validate_symbol(base + suffix), mic


def to_yahoo(exchange_code: str, exchange_symbol: str, market: str = "") -> str:
    """The Yahoo ticker for any of the five exchanges (``market`` is needed for Euronext only)."""
    if exchange_code == "nasdaq":
        return nasdaq_to_yahoo(exchange_symbol)
    if exchange_code == "arca":
        return act_to_yahoo(exchange_symbol)
    if exchange_code == "ftse":
        return ftse_to_yahoo(exchange_symbol)
    if exchange_code == "dax":
        return dax_to_yahoo(exchange_symbol)
    if exchange_code == "euronext":
        return euronext_to_yahoo(exchange_symbol, market)[0]
    raise ValueError(f"unknown exchange code {exchange_code!r}")
