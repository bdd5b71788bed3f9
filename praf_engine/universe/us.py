"""Nasdaq Trader symbol directory scrapers: ``nasdaq`` (nasdaqlisted.txt) and ``arca`` (otherlisted.txt, Exchange P)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from urllib.parse import urlsplit

from praf_engine.universe.base import (
    BaseExchangeScraper,
    RawPage,
    ScrapedListing,
    bad_row,
    clean_name,
    register,
    structure_error,
)
from praf_engine.universe.mapping import (
    EXCHANGE_CURRENCIES,
    EXCHANGE_MICS,
    OTHERLISTED_MICS,
    act_to_yahoo,
    nasdaq_to_yahoo,
)

NASDAQ_COLUMNS = ("Symbol", "Security Name", "Market Category", "Test Issue", "Financial Status", "ETF")
OTHER_COLUMNS = ("ACT Symbol", "Security Name", "Exchange", "ETF", "Test Issue")
FOOTER = "File Creation Time:"


def parse_pipe_file(exchange: str, body: bytes, required: tuple[str, ...]) -> tuple[list[dict[str, str]], str]:
    """Rows of a Nasdaq Trader pipe file as dicts, and its footer. CRLF or LF; the footer line is required (a file
    without it was cut short) and the header must carry ``required`` (SCRAPESTRUCT otherwise)."""
    text = body.decode("utf-8-sig", errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise structure_error(exchange, "empty file")
    header = [h.strip() for h in lines[0].split("|")]
    missing = [c for c in required if c not in header]
    if missing:
        raise structure_error(exchange, f"header lacks {', '.join(missing)}", header=lines[0][:200])
    footer = lines[-1]
    if not footer.startswith(FOOTER):
        raise structure_error(exchange, "no 'File Creation Time' footer: the file is truncated", last_line=footer[:80])
    rows = []
    for number, line in enumerate(lines[1:-1], start=2):
        cells = line.split("|")
        if len(cells) != len(header):
            rows.append({"__line__": str(number), "__raw__": line[:80]})
            continue
        rows.append(dict(zip(header, cells, strict=True)))
    return rows, footer


class _PipeScraper(BaseExchangeScraper):
    url_setting = ""
    file_name = ""

    def fetch(self) -> list[RawPage]:
        url = getattr(self.settings.scrape, self.url_setting)
        name = urlsplit(url).path.rsplit("/", 1)[-1] or self.file_name
        return [RawPage(name, self.fetcher.get(url, name))]


@register
class NasdaqScraper(_PipeScraper):
    """``nasdaqlisted.txt`` over HTTPS or FTP: every non-test issue, market tier and financial status kept."""

    code = "nasdaq"
    description = "Nasdaq Trader nasdaqlisted.txt"
    url_setting = "nasdaq_url"
    file_name = "nasdaqlisted.txt"

    def parse(self, pages: list[RawPage]) -> Iterator[Callable[[], ScrapedListing]]:
        rows, _ = parse_pipe_file(self.code, pages[0].body, NASDAQ_COLUMNS)
        for row in rows:
            if row.get("Test Issue", "").strip() == "Y":
                continue
            yield partial(self._listing, row)

    def _listing(self, row: dict[str, str]) -> ScrapedListing:
        if "__raw__" in row:
            raise bad_row("malformed line", line=row["__line__"], raw=row["__raw__"])
        raw = row["Symbol"].strip()
        return ScrapedListing(
            symbol=nasdaq_to_yahoo(raw), exchange_code=self.code, exchange_symbol=raw.upper(),
            name=clean_name(row["Security Name"]), currency=EXCHANGE_CURRENCIES[self.code],
            market=row["Market Category"].strip() or None, mic=EXCHANGE_MICS[self.code],
            is_etf=row["ETF"].strip() == "Y", financial_status=row["Financial Status"].strip() or None,
        )


@register
class ArcaScraper(_PipeScraper):
    """``otherlisted.txt``: the NYSE Arca rows (Exchange ``P``), ACT symbols mapped to Yahoo, ETF flag kept."""

    code = "arca"
    description = "Nasdaq Trader otherlisted.txt, Exchange P"
    url_setting = "otherlisted_url"
    file_name = "otherlisted.txt"

    def parse(self, pages: list[RawPage]) -> Iterator[Callable[[], ScrapedListing]]:
        rows, _ = parse_pipe_file(self.code, pages[0].body, OTHER_COLUMNS)
        for row in rows:
            if "__raw__" in row:
                yield partial(self._malformed, row)
                continue
            if row["Exchange"].strip() != "P" or row["Test Issue"].strip() == "Y":
                continue
            yield partial(self._listing, row)

    @staticmethod
    def _malformed(row: dict[str, str]) -> ScrapedListing:
        raise bad_row("malformed line", line=row["__line__"], raw=row["__raw__"])

    def _listing(self, row: dict[str, str]) -> ScrapedListing:
        raw = row["ACT Symbol"].strip()
        return ScrapedListing(
            symbol=act_to_yahoo(raw), exchange_code=self.code, exchange_symbol=raw.upper(),
            name=clean_name(row["Security Name"]), currency=EXCHANGE_CURRENCIES[self.code],
            market="NYSE Arca", mic=OTHERLISTED_MICS[row["Exchange"].strip()], is_etf=row["ETF"].strip() == "Y",
        )
