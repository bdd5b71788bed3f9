"""Pure renderers of the exchange sites the universe scrapers read (SPEC §10, reference/exchanges.md).

Every function takes the synthetic ``Market`` and renders ``market.universe(market.today)`` in the real format:
Nasdaq Trader's pipe files, Wikipedia-like FTSE pages and a Börse-Frankfurt-like paginated DAX listing; the
Euronext list page and CSV are in ``sites_euronext``, on the shared helpers (hash draws, faults, made-up noise) here.
Site faults (``SITE_FAULTS``) are applied when ``apply_faults`` is true: ``market.faults.hits(kind, code, seed)``.
Output is deterministic: same market, same day, same faults -> same bytes. Noise rows that a correct scraper
must skip (other exchanges, test issues, EuroTLX...) are derived from the seed alone and never collide with a
listing of the market.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import math
from dataclasses import dataclass
from typing import Any

from praf_engine.sandbox.faults import SITE_FAULTS
from praf_engine.sandbox.market_universe import isin_check_digit

EXCHANGES = ("nasdaq", "arca", "ftse", "dax", "euronext")
DAX_PAGE_SIZE = 10

NASDAQ_HEADER = "Symbol|Security Name|Market Category|Test Issue|Financial Status|Round Lot Size|ETF|NextShares"
NASDAQ_HEADER_BROKEN = "Ticker Symbol|Security Name|Market Tier|Test Issue|Financial Status|Round Lot|ETF|NextShares"
OTHER_HEADER = "ACT Symbol|Security Name|Exchange|CQS Symbol|ETF|Round Lot Size|Test Issue|NASDAQ Symbol"
OTHER_HEADER_BROKEN = "ACT_Symbol|Security Name|Listing Exchange|CQS Symbol|ETF|Round Lot Size|Test Issue|NASDAQ Symbol"
# The test issues Nasdaq really publishes; 1-3 of them are in every nasdaqlisted.txt.
NASDAQ_TEST_ISSUES = (
    ("ZAZZT", "Tick Pilot Test Stock Class A Common Stock", "G"),
    ("ZBZZT", "Tick Pilot Test Stock Class B Common Stock", "Q"),
    ("ZJZZT", "NASDAQ TEST STOCK", "G"),
    ("ZVZZT", "NASDAQ TEST STOCK", "G"),
    ("ZWZZT", "NASDAQ TEST STOCK", "S"),
    ("ZXZZT", "NASDAQ TEST STOCK", "G"),
)
# Test issues of other venues in otherlisted.txt (ZVV is the Arca one from the reference file).
OTHER_TEST_ISSUES = (
    ("ZVV", "NYSE ARCA test stock", "P"),
    ("NTEST", "NYSE Test One", "N"),
    ("ZXIET", "IEX Test Company", "V"),
)
FTSE_PAGES = {  # index -> (page title, ticker column, footnote number of the sector column)
    "FTSE 100": ("FTSE 100 Index", "Ticker", 12),
    "FTSE 250": ("FTSE 250 Index", "EPIC", 14),
}


# --- helpers ---------------------------------------------------------------------------------------------------------
def unit(*parts: object) -> float:
    """A deterministic number in [0, 1) from ``parts`` (stable across processes, unlike ``hash``)."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def pick(seq: Any, *parts: object) -> Any:
    return seq[int(unit(*parts) * len(seq))]


def fault(market: Any, kind: str, code: str) -> bool:
    faults = getattr(market, "faults", None)
    return bool(faults is not None and faults.hits(kind, code, market.seed))


def site_faults(market: Any, code: str) -> tuple[str, ...]:
    """The site faults hitting exchange ``code`` now (part of every cache key)."""
    return tuple(kind for kind in SITE_FAULTS if fault(market, kind, code))


def listings(market: Any, code: str) -> list[Any]:
    """The exchange's listings on ``market.today``, ordered by the exchange's own symbol."""
    return sorted((x for x in market.universe(market.today) if x.exchange_code == code),
                  key=lambda x: (x.exchange_symbol, x.symbol))


def _all_exchange_symbols(market: Any) -> set[str]:
    everyone = getattr(market, "listings", None)
    if everyone is None:
        everyone = market.universe(None)
    symbols = {x.exchange_symbol.upper() for x in everyone}
    return symbols | {s.split("$")[0].split(".")[0] for s in symbols}  # issuer roots too: no fake ABR next to ABR$D


def fake_isin(country: str, body: str) -> str:
    """A well-formed ISIN: country + 9 characters (padded with 0) + the Luhn check digit."""
    stem = (country + body)[:11].ljust(11, "0")
    return stem + isin_check_digit(stem)


_WORDS_A = ("Atlas", "Beacon", "Cedar", "Delta", "Evergreen", "Falcon", "Granite", "Harbor", "Iron", "Juniper",
            "Keystone", "Lumen", "Meridian", "Northwind", "Orchid", "Pioneer", "Quarry", "Redwood", "Summit",
            "Tidewater", "Union", "Vantage", "Willow", "Xenith", "Yellowstone", "Zephyr")
_WORDS_B = ("Capital", "Energy", "Holdings", "Industries", "Realty", "Therapeutics", "Bancorp", "Minerals",
            "Logistics", "Systems", "Brands", "Utilities", "Partners", "Resources", "Technologies")


def fake_name(*parts: object) -> str:
    return f"{pick(_WORDS_A, 'a', *parts)} {pick(_WORDS_B, 'b', *parts)}"


def fake_symbols(market: Any, tag: str, count: int, length: tuple[int, int] = (2, 4)) -> list[str]:
    """``count`` distinct made-up symbols, none of them a symbol of the market (at any date)."""
    taken = _all_exchange_symbols(market) | {s for s, *_ in NASDAQ_TEST_ISSUES} | {s for s, *_ in OTHER_TEST_ISSUES}
    out: list[str] = []
    i = 0
    while len(out) < count:
        n = length[0] + int(unit(market.seed, tag, "len", i) * (length[1] - length[0] + 1))
        sym = "".join(chr(65 + int(unit(market.seed, tag, i, k) * 26)) for k in range(n))
        i += 1
        if sym not in taken:
            taken.add(sym)
            out.append(sym)
    return out


def _creation_time(market: Any) -> str:
    minutes = int(unit(market.seed, "file-time", market.today) * 24 * 60)
    return f"{market.today:%m%d%Y}{minutes // 60:02d}:{minutes % 60:02d}"


def _pipe_file(header: str, rows: list[str], pipes: int, market: Any, *, crlf: bool, truncated: bool) -> bytes:
    lines = [header, *rows]
    if truncated:  # the transfer died: the last half of the rows and the footer are gone, mid-line
        keep = 1 + len(rows) // 2
        partial = lines[keep][: max(1, len(lines[keep]) // 2)] if keep < len(lines) else ""
        eol = "\r\n" if crlf else "\n"
        return (eol.join(lines[:keep]) + eol + partial).encode("utf-8")
    lines.append(f"File Creation Time: {_creation_time(market)}" + "|" * pipes)
    eol = "\r\n" if crlf else "\n"
    return (eol.join(lines) + eol).encode("utf-8")


def _noisy_name(name: str, seed: int, symbol: str) -> str:
    """Real security names sometimes carry a trailing or a double space."""
    u = unit(seed, "name-space", symbol)
    if u < 0.04:
        return name + " "
    if u < 0.07 and " " in name:
        return name.replace(" ", "  ", 1)
    return name


# --- Nasdaq Trader ---------------------------------------------------------------------------------------------------
def render_nasdaqlisted(market: Any, *, crlf: bool = True, apply_faults: bool = True) -> bytes:
    """``nasdaqlisted.txt``: the ``nasdaq`` listings plus 1-3 test issues, footer ``File Creation Time``."""
    rows: list[tuple[str, str]] = []
    for x in listings(market, "nasdaq"):
        name = _noisy_name(x.name, market.seed, x.exchange_symbol)
        status = getattr(x, "financial_status", None) or "N"
        rows.append((x.exchange_symbol,
                     f"{x.exchange_symbol}|{name}|{x.market}|N|{status}|100|{'Y' if x.is_etf else 'N'}|N"))
    count = 1 + int(unit(market.seed, "nasdaq-tests") * 3)
    order = sorted(range(len(NASDAQ_TEST_ISSUES)), key=lambda i: unit(market.seed, "nasdaq-test", i))
    for i in order[:count]:
        sym, name, tier = NASDAQ_TEST_ISSUES[i]
        rows.append((sym, f"{sym}|{name}|{tier}|Y|N|100||N"))
    rows.sort()
    broken = apply_faults and fault(market, "broken_structure", "nasdaq")
    truncated = apply_faults and fault(market, "truncated", "nasdaq")
    return _pipe_file(NASDAQ_HEADER_BROKEN if broken else NASDAQ_HEADER, [r for _, r in rows], 7, market,
                      crlf=crlf, truncated=truncated)


def cqs_symbol(act: str) -> str:
    """ACT -> CQS symbol: ``ABR$D``->``ABRpD``, ``AACT.W``->``AACT.WS``, ``CELG.R``->``CELGr``, else unchanged."""
    if act.endswith(".W"):
        return act + "S"
    if act.endswith(".R"):
        return act[:-2] + "r"
    return act.replace("$", "p")


def nasdaq_symbol(act: str) -> str:
    """ACT -> NASDAQ symbol: ``$``->``-``, ``.U``->``=``, ``.W``->``+``, ``.R``->``^`` (``BRK.B`` unchanged)."""
    for suffix, repl in ((".U", "="), (".W", "+"), (".R", "^")):
        if act.endswith(suffix):
            return act[: -len(suffix)] + repl
    return act.replace("$", "-")


@dataclass(frozen=True)
class OtherRow:
    act: str
    name: str
    exchange: str
    etf: bool
    test: bool

    def line(self) -> str:
        return (f"{self.act}|{self.name}|{self.exchange}|{cqs_symbol(self.act)}|{'Y' if self.etf else 'N'}|100|"
                f"{'Y' if self.test else 'N'}|{nasdaq_symbol(self.act)}")


def otherlisted_noise(market: Any) -> list[OtherRow]:
    """Rows of other venues (NYSE N, NYSE American A, Cboe Z, IEX V) and test issues: not in the universe."""
    count = max(12, int(getattr(market, "size", 300)) // 8)
    out: list[OtherRow] = []
    for i, base in enumerate(fake_symbols(market, "otherlisted", count)):
        venue = pick("NNNNNNAAAZZZV", market.seed, "venue", i)
        etf = venue == "Z" or unit(market.seed, "etf", i) < 0.15
        company = fake_name(market.seed, "other", i)
        form = unit(market.seed, "form", i)
        if etf:
            act, name = base, f"{company} {pick(('Dividend', 'Income', 'Growth', 'Momentum'), market.seed, i)} ETF"
        elif form < 0.10:
            series = pick("ABCDEFGHIJK", market.seed, "series", i)
            act, name = f"{base}${series}", f"{company} 6.375% Series {series} Cumulative Redeemable Preferred Stock"
        elif form < 0.16:
            act, name = f"{base}.B", f"{company} Class B Common Stock"
        elif form < 0.22:
            act, name = f"{base}.U", f"{company} Acquisition Corp. Units"
        elif form < 0.28:
            act, name = f"{base}.W", f"{company} Acquisition Corp. Redeemable Warrants"
        elif form < 0.31:
            act, name = f"{base}.R", f"{company} Contingent Value Rights"
        else:
            act, name = base, f"{company}, Inc. Common Stock"
        out.append(OtherRow(act, _noisy_name(name, market.seed, act), venue, etf, False))
    out += [OtherRow(sym, name, venue, False, True) for sym, name, venue in OTHER_TEST_ISSUES]
    return out


def render_otherlisted(market: Any, *, crlf: bool = True, apply_faults: bool = True) -> bytes:
    """``otherlisted.txt``: the ``arca`` listings (Exchange ``P``) among noise rows of other venues."""
    rows = [OtherRow(x.exchange_symbol, _noisy_name(x.name, market.seed, x.exchange_symbol), "P", bool(x.is_etf), False)
            for x in listings(market, "arca")]
    rows += otherlisted_noise(market)
    rows.sort(key=lambda r: r.act)
    broken = apply_faults and fault(market, "broken_structure", "arca")
    truncated = apply_faults and fault(market, "truncated", "arca")
    return _pipe_file(OTHER_HEADER_BROKEN if broken else OTHER_HEADER, [r.line() for r in rows], 6, market,
                      crlf=crlf, truncated=truncated)


# --- FTSE (Wikipedia) ------------------------------------------------------------------------------------------------
def ftse_tickers(market: Any, index: str) -> list[tuple[Any, str]]:
    """(listing, ticker as shown) of one FTSE index. If no FTSE listing of the market has a trailing dot, ~2 % of
    the dot-less tickers (at least one a page) get one, as Wikipedia shows ``AV.``; the Yahoo mapping drops it."""
    members = [x for x in listings(market, "ftse") if x.market == index]
    if any(x.exchange_code == "ftse" and x.exchange_symbol.endswith(".") for x in market.listings):
        return [(x, x.exchange_symbol) for x in members]  # the market decides
    eligible = [x for x in members if "." not in x.exchange_symbol]
    dotted = {x.symbol for x in eligible if unit(market.seed, "ftse-dot", x.symbol) < 0.02}
    if eligible:
        dotted.add(min(eligible, key=lambda x: unit(market.seed, "ftse-dot", x.symbol)).symbol)
    return [(x, x.exchange_symbol + "." if x.symbol in dotted else x.exchange_symbol) for x in members]


def _wiki_link(name: str) -> str:
    title = html.escape(name, quote=True)
    return f'<a href="/wiki/{html.escape(name.replace(" ", "_"), quote=True)}" title="{title}">{html.escape(name)}</a>'


def render_ftse_page(market: Any, index: str, *, apply_faults: bool = True) -> bytes:
    """The Wikipedia page of ``index`` ("FTSE 100" or "FTSE 250") with ``table#constituents`` among other tables."""
    title, ticker_col, note = FTSE_PAGES[index]
    broken = apply_faults and fault(market, "broken_structure", "ftse")
    truncated = apply_faults and fault(market, "truncated", "ftse")
    members = sorted(ftse_tickers(market, index), key=lambda p: p[0].name.casefold())
    today = market.today
    rows = [f"<tr>\n<td>{_wiki_link(x.name)}\n</td>\n<td>{html.escape(t)}\n</td>\n<td>{html.escape(x.sector)}\n</td></tr>"
            for x, t in members]
    table_id = "" if broken else ' id="constituents"'
    head = (f"<tr>\n<th>Company\n</th>\n<th>{ticker_col}\n</th>\n<th>FTSE industry classification benchmark sector"
            f'<sup id="cite_ref-icb_{note}-0" class="reference"><a href="#cite_note-icb-{note}">[{note}]</a></sup>\n</th></tr>')
    returns = "".join(
        f"<tr><td>{year}</td><td>{5000 + int(unit(market.seed, index, year) * 3000):,}.{int(unit(year, index) * 100):02d}</td>"
        f"<td>{(unit(market.seed, 'chg', index, year) - 0.4) * 20:+.2f}%</td></tr>\n"
        for year in range(today.year - 5, today.year))
    recent = [p for p in members if p[0].listed_on > today - dt.timedelta(days=365)][:8]
    changes = "".join(f"<tr><td>{x.listed_on.day} {x.listed_on:%B %Y}</td><td>{_wiki_link(x.name)}</td><td>{html.escape(t)}</td>"
                      f"<td></td><td></td></tr>\n" for x, t in recent) or "<tr><td colspan=\"5\">No changes</td></tr>\n"
    page = f"""<!DOCTYPE html>
<html class="client-nojs vector-feature-language-in-header-enabled" lang="en" dir="ltr">
<head>
<meta charset="UTF-8">
<title>{title} - Wikipedia</title>
<link rel="stylesheet" href="/w/load.php?lang=en&amp;modules=site.styles&amp;only=styles&amp;skin=vector-2022">
</head>
<body class="skin-vector skin-vector-search-vue mediawiki ltr sitedir-ltr ns-0 page-{title.replace(' ', '_')}">
<a class="mw-jump-link" href="#bodyContent">Jump to content</a>
<div id="mw-navigation"><ul id="p-navigation"><li><a href="/wiki/Main_Page">Main page</a></li>
<li><a href="/wiki/Wikipedia:Contents">Contents</a></li><li><a href="/wiki/Portal:Current_events">Current events</a></li></ul></div>
<main id="content" class="mw-body">
<h1 id="firstHeading" class="firstHeading mw-first-heading"><span class="mw-page-title-main">{title}</span></h1>
<div id="bodyContent" class="vector-body">
<div id="siteSub">From Wikipedia, the free encyclopedia</div>
<div id="mw-content-text" class="mw-body-content"><div class="mw-content-ltr mw-parser-output" lang="en" dir="ltr">
<table class="infobox"><tbody>
<tr><th colspan="2" class="infobox-above">{title}</th></tr>
<tr><th scope="row" class="infobox-label">Foundation</th><td class="infobox-data">{'3 January 1984' if index == 'FTSE 100' else '12 October 1992'}</td></tr>
<tr><th scope="row" class="infobox-label">Operator</th><td class="infobox-data"><a href="/wiki/FTSE_Russell">FTSE Russell</a></td></tr>
<tr><th scope="row" class="infobox-label">Exchanges</th><td class="infobox-data"><a href="/wiki/London_Stock_Exchange">London Stock Exchange</a></td></tr>
<tr><th scope="row" class="infobox-label">Trading symbol</th><td class="infobox-data">^{'FTSE' if index == 'FTSE 100' else 'FTMC'}</td></tr>
<tr><th scope="row" class="infobox-label">Constituents</th><td class="infobox-data">{len(members)}</td></tr>
<tr><th scope="row" class="infobox-label">Type</th><td class="infobox-data">Large cap</td></tr>
</tbody></table>
<p>The <b>{title}</b> is a share index of the companies listed on the <a href="/wiki/London_Stock_Exchange">London Stock Exchange</a>
with the {'highest' if index == 'FTSE 100' else '101st to the 350th largest'} market capitalisation.<sup class="reference"><a href="#cite_note-1">[1]</a></sup></p>
<div id="toc" class="toc"><ul><li><a href="#Annual_returns">1 Annual returns</a></li><li><a href="#Constituents">2 Constituents</a></li>
<li><a href="#Changes">3 Changes</a></li><li><a href="#References">4 References</a></li></ul></div>
<h2><span class="mw-headline" id="Annual_returns">Annual returns</span></h2>
<table class="wikitable"><tbody>
<tr><th>Year</th><th>Closing level</th><th>Change in Index in %</th></tr>
{returns}</tbody></table>
<h2><span class="mw-headline" id="Constituents">Constituents</span></h2>
<p>The following table lists the constituents of the index as of {today.day} {today:%B %Y}, after the quarterly review.<sup class="reference"><a href="#cite_note-{note - 1}">[{note - 1}]</a></sup></p>
<table class="wikitable sortable"{table_id}>
<tbody>{head}
{chr(10).join(rows)}
</tbody></table>
<h2><span class="mw-headline" id="Changes">Changes in the last twelve months</span></h2>
<table class="wikitable sortable"><tbody>
<tr><th>Date</th><th>Company added</th><th>{ticker_col}</th><th>Company removed</th><th>{ticker_col}</th></tr>
{changes}</tbody></table>
<h2><span class="mw-headline" id="References">References</span></h2>
<div class="reflist"><ol class="references">
<li id="cite_note-{note - 1}"><span class="reference-text">"Constituents". FTSE Russell. Retrieved {today.day} {today:%B %Y}.</span></li>
<li id="cite_note-icb-{note}"><span class="reference-text">"Industry Classification Benchmark". FTSE Russell.</span></li>
</ol></div>
<div role="navigation" class="navbox"><table class="nowraplinks navbox-inner"><tbody>
<tr><th class="navbox-title" colspan="2">UK stock market indices</th></tr>
<tr><td><a href="/wiki/FTSE_100_Index">FTSE 100</a> · <a href="/wiki/FTSE_250_Index">FTSE 250</a> · <a href="/wiki/FTSE_350_Index">FTSE 350</a></td></tr>
</tbody></table></div>
</div></div></div>
</main>
<footer id="footer"><ul><li id="footer-info-lastmod">This page was last edited on {today.day} {today:%B %Y}, at 09:12.</li></ul></footer>
</body>
</html>
"""
    if truncated:  # the connection dropped inside the constituents table: ~40 % of the rows, no closing tags
        cut_row = rows[int(len(rows) * 0.4)] if rows else head
        page = page[: page.index(cut_row) + len(cut_row) // 2]
    return page.encode("utf-8")


# --- DAX (Börse Frankfurt style, paginated) --------------------------------------------------------------------------
def dax_rows(market: Any) -> list[tuple[Any, str]]:
    """(listing, ticker as shown), by company name; about half the tickers already carry ``.DE``."""
    members = sorted(listings(market, "dax"), key=lambda x: (x.name.casefold(), x.symbol))
    out = []
    for x in members:
        base = x.exchange_symbol[:-3] if x.exchange_symbol.endswith(".DE") else x.exchange_symbol
        out.append((x, base + ".DE" if unit(market.seed, "dax-suffix", x.symbol) < 0.5 else base))
    return out


def dax_page_count(market: Any) -> int:
    return max(1, math.ceil(len(listings(market, "dax")) / DAX_PAGE_SIZE))


def dax_page_missing(market: Any, page: int, *, apply_faults: bool = True) -> bool:
    """Pages that answer 404: out of range, or (``truncated``) the later half of the listing."""
    pages = dax_page_count(market)
    if page < 1 or page > pages:
        return True
    return apply_faults and page > math.ceil(pages / 2) and fault(market, "truncated", "dax")


def render_dax_page(market: Any, page: int = 1, *, apply_faults: bool = True) -> bytes:
    """Page ``page`` (1-based) of the DAX constituents: 10 rows in ``table.constituents`` and a ``rel=next`` link."""
    rows = dax_rows(market)
    pages = dax_page_count(market)
    broken = apply_faults and fault(market, "broken_structure", "dax")
    chunk = rows[(page - 1) * DAX_PAGE_SIZE: page * DAX_PAGE_SIZE]
    body = "\n".join(
        f'<tr><td class="name"><a href="/equity/{x.isin}">{html.escape(x.name)}</a></td><td class="isin">{x.isin}</td>'
        f'<td class="ticker">{html.escape(t)}</td><td class="sector">{html.escape(x.sector)}</td></tr>'
        for x, t in chunk)
    links = []
    if page > 1:
        links.append(f'<a rel="prev" class="page-prev" href="?page={page - 1}">Previous</a>')
    links += [f'<a class="page-number{" active" if n == page else ""}" href="?page={n}">{n}</a>' for n in range(1, pages + 1)]
    if page < pages:
        links.append(f'<a rel="next" class="page-next" href="?page={page + 1}">Next</a>')
    first = (page - 1) * DAX_PAGE_SIZE + (1 if chunk else 0)
    level = 15000 + unit(market.seed, "dax-level", market.today) * 5000
    table_class = "table index-members-v2" if broken else "table constituents"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>DAX constituents | Börse Frankfurt</title>
</head>
<body class="page-index">
<header class="header"><a class="logo" href="/">Börse Frankfurt</a>
<nav class="main-nav"><a href="/equities">Equities</a> <a href="/indices">Indices</a> <a href="/etfs">ETFs</a> <a href="/bonds">Bonds</a></nav>
<form class="search" action="/search"><input type="search" name="q" placeholder="Name / WKN / ISIN"></form></header>
<main class="container">
<h1>DAX <small>Performance index</small></h1>
<div class="index-quote"><span class="price">{level:,.2f}</span> <span class="change">{(unit(market.seed, 'dax-chg', market.today) - 0.5) * 2:+.2f}%</span>
<span class="as-of">{market.today:%d/%m/%Y}</span></div>
<ul class="nav nav-tabs"><li><a href="/index/dax">Overview</a></li><li class="active"><a href="/index/dax/constituents">Constituents</a></li>
<li><a href="/index/dax/key-data">Key data</a></li></ul>
<table class="table key-data"><tbody><tr><th>ISIN</th><td>DE0008469008</td></tr><tr><th>Symbol</th><td>DAX</td></tr></tbody></table>
<h2>Constituents</h2>
<table class="{table_class}">
<thead><tr><th>Company</th><th>ISIN</th><th>Ticker</th><th>Sector</th></tr></thead>
<tbody>
{body}
</tbody>
</table>
<nav class="pagination" aria-label="Pagination">
<span class="page-info">{first}-{first + len(chunk) - 1 if chunk else 0} of {len(rows)}</span>
{' '.join(links)}
</nav>
</main>
<footer class="footer"><p>Prices delayed by 15 minutes. &copy; Deutsche Börse AG</p></footer>
</body>
</html>
""".encode()
