"""HTML-table scrapers: ``ftse`` (FTSE 100/250 ``table#constituents``) and ``dax`` (paginated listing, "next" links)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any
from urllib.parse import urljoin

import lxml.html
from lxml.etree import ParserError

from praf_engine.universe.base import (
    BaseExchangeScraper,
    RawPage,
    ScrapedListing,
    bad_row,
    clean_name,
    register,
    structure_error,
)
from praf_engine.universe.mapping import EXCHANGE_CURRENCIES, EXCHANGE_MICS, dax_to_yahoo, ftse_to_yahoo

_FOOTNOTE = re.compile(r"\[[^\]]*\]")
MAX_DAX_PAGES = 500


def _doc(exchange: str, body: bytes) -> Any:
    """The page as an lxml tree (libxml2's forgiving HTML parser); SCRAPESTRUCT for a body that is no HTML at all."""
    try:
        return lxml.html.document_fromstring(body)
    except (ParserError, ValueError) as exc:
        raise structure_error(exchange, f"not an HTML page: {exc}") from None


def _cell_text(cell: Any) -> str:
    if len(cell):  # child elements: footnote markers ([12], [a]) may be among them
        for sup in list(cell.iter("sup")):
            sup.drop_tree()
    return " ".join(_FOOTNOTE.sub("", cell.text_content()).split())


def _rows(table: Any) -> list[Any]:
    return table.xpath("./tr | ./thead/tr | ./tbody/tr | ./tfoot/tr")


def _header(table: Any) -> list[str]:
    rows = _rows(table)
    if not rows:
        return []
    return [_cell_text(th).casefold() for th in rows[0].xpath("./th | ./td")]


def _column(header: list[str], exchange: str, *names: str, contains: str = "") -> int:
    for i, head in enumerate(header):
        if head in names or (contains and contains in head):
            return i
    raise structure_error(exchange, f"no {' / '.join(names) or contains!r} column", header=header)


def _finished(exchange: str, page: RawPage) -> None:
    if b"</html>" not in page.body[-4096:].lower():
        raise structure_error(exchange, f"{page.name} ends before </html>: the page is truncated", page=page.name)


def parse_ftse_page(body: bytes, index: str) -> list[dict[str, str]]:
    """Rows (company, ticker, sector, index) of one Wikipedia FTSE page; SCRAPESTRUCT without ``table#constituents``
    or its Company / Ticker-or-EPIC / sector columns. The sector header's footnote (``[12]``) may change."""
    tables = _doc("ftse", body).xpath("//table[@id='constituents']")
    if not tables:
        raise structure_error("ftse", f"{index}: no table#constituents")
    table = tables[0]
    header = _header(table)
    company = _column(header, "ftse", "company")
    ticker = _column(header, "ftse", "ticker", "epic", "ticker symbol")
    sector = _column(header, "ftse", contains="sector")
    out = []
    for tr in _rows(table)[1:]:
        cells = tr.xpath("./td")
        if not cells:
            continue
        if len(cells) <= max(company, ticker, sector):
            out.append({"__raw__": " ".join(tr.text_content().split())[:80], "index": index})
            continue
        out.append({"company": _cell_text(cells[company]), "ticker": _cell_text(cells[ticker]),
                    "sector": _cell_text(cells[sector]), "index": index})
    return out


@register
class FtseScraper(BaseExchangeScraper):
    """FTSE 100 and FTSE 250 from their Wikipedia pages; tickers mapped to ``.L``."""

    code = "ftse"
    description = "Wikipedia FTSE 100 / FTSE 250 constituents"

    def fetch(self) -> list[RawPage]:
        s = self.settings.scrape
        return [RawPage(name, self.fetcher.get(url, name))
                for name, url in (("ftse100.html", s.ftse100_url), ("ftse250.html", s.ftse250_url))]

    def parse(self, pages: list[RawPage]) -> Iterator[Callable[[], ScrapedListing]]:
        parsed = []
        for page, index in zip(pages, ("FTSE 100", "FTSE 250"), strict=True):
            _finished(self.code, page)
            rows = parse_ftse_page(page.body, index)
            if not rows:
                raise structure_error(self.code, f"{index}: table#constituents has no rows")
            parsed += rows
        for row in parsed:
            yield partial(self._listing, row)

    def _listing(self, row: dict[str, str]) -> ScrapedListing:
        if "__raw__" in row:
            raise bad_row("row with missing cells", raw=row["__raw__"], index=row["index"])
        ticker = row["ticker"].upper()
        return ScrapedListing(
            symbol=ftse_to_yahoo(ticker), exchange_code=self.code, exchange_symbol=ticker,
            name=clean_name(row["company"]), currency=EXCHANGE_CURRENCIES[self.code], sector=row["sector"] or None,
            market=row["index"], mic=EXCHANGE_MICS[self.code],
        )


def parse_dax_page(body: bytes) -> tuple[list[dict[str, str]], str | None]:
    """Rows (company, isin, ticker, sector) of one listing page and the href of its ``a[rel=next]`` (None on the last)."""
    doc = _doc("dax", body)
    tables = doc.xpath("//table[contains(concat(' ', normalize-space(@class), ' '), ' constituents ')]")
    if not tables:
        raise structure_error("dax", "no table.constituents")
    table = tables[0]
    header = _header(table)
    cols = {name: _column(header, "dax", *alts) for name, alts in (
        ("company", ("company", "name")), ("isin", ("isin",)), ("ticker", ("ticker", "ticker symbol", "symbol")),
        ("sector", ("sector", "prime standard sector")))}
    rows = []
    for tr in _rows(table)[1:]:
        cells = tr.xpath("./td")
        if not cells:
            continue
        if len(cells) <= max(cols.values()):
            rows.append({"__raw__": " ".join(tr.text_content().split())[:80]})
            continue
        rows.append({k: _cell_text(cells[i]) for k, i in cols.items()})
    links = doc.xpath("//a[@rel='next']")
    href = links[0].get("href") if links else None
    return rows, (str(href) if href else None)


@register
class DaxScraper(BaseExchangeScraper):
    """The paginated DAX listing, following ``a[rel=next]`` until none; tickers with or without ``.DE``."""

    code = "dax"
    description = "Börse Frankfurt DAX constituents (paginated)"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._rows: dict[str, list[dict[str, str]]] = {}  # page name -> rows, parsed once while following "next"

    def fetch(self) -> list[RawPage]:
        url: str | None = self.settings.scrape.dax_url
        pages: list[RawPage] = []
        visited: set[str] = set()
        while url is not None:
            if url in visited or len(pages) >= MAX_DAX_PAGES:
                raise structure_error(self.code, "pagination loops or never ends", url=url, pages=len(pages))
            visited.add(url)
            name = f"dax_page{len(pages) + 1:03d}.html"
            page = RawPage(name, self.fetcher.get(url, name))
            pages.append(page)
            _finished(self.code, page)
            self._rows[name], href = parse_dax_page(page.body)
            url = urljoin(url, href) if href else None
        return pages

    def parse(self, pages: list[RawPage]) -> Iterator[Callable[[], ScrapedListing]]:
        rows = [row for page in pages
                for row in (self._rows[page.name] if page.name in self._rows else parse_dax_page(page.body)[0])]
        for row in rows:
            yield partial(self._listing, row)

    def _listing(self, row: dict[str, str]) -> ScrapedListing:
        if "__raw__" in row:
            raise bad_row("row with missing cells", raw=row["__raw__"])
        ticker = row["ticker"].upper()
        return ScrapedListing(
            symbol=dax_to_yahoo(ticker), exchange_code=self.code, exchange_symbol=ticker.removesuffix(".DE"),
            name=clean_name(row["company"]), isin=row["isin"] or None, currency=EXCHANGE_CURRENCIES[self.code],
            sector=row["sector"] or None, market="DAX", mic=EXCHANGE_MICS[self.code],
        )
