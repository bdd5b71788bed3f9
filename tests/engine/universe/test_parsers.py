"""The five parsers on saved real-format pages (tests/data/pages) and on damaged copies of them."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from praf_engine.config import Settings
from praf_engine.errors import PipelineError
from praf_engine.universe.base import Fetcher, RawPage, RawStore, ScrapeResult, scraper_classes
from praf_engine.universe.euronext import parse_euronext_csv

PAGES = Path(__file__).resolve().parents[2] / "data" / "pages"


def _page(name: str) -> bytes:
    return (PAGES / name).read_bytes()


def _parse(settings: Settings, tmp_path: Path, code: str, pages: list[RawPage]) -> ScrapeResult:
    with httpx.Client() as client:
        scraper = scraper_classes()[code](settings, Fetcher(settings, client, RawStore(tmp_path, "202501", code)))
        return scraper.clean(pages, scraper.parse(pages))


def _by_symbol(result: ScrapeResult) -> dict:
    return {x.symbol: x for x in result.listings}


def _struct(settings: Settings, tmp_path: Path, code: str, pages: list[RawPage]) -> PipelineError:
    with pytest.raises(PipelineError) as err:
        _parse(settings, tmp_path, code, pages)
    assert err.value.error_code == "SCRAPESTRUCT"
    return err.value


# --- bad input first -------------------------------------------------------------------------------------------------
def test_hostile_and_malformed_rows_are_skipped_and_the_rest_kept(sqlite_settings, tmp_path) -> None:
    body = _page("nasdaqlisted.txt").replace(b"AAPL|", b"../../etc|Evil|Q|N|N|100|N|N\r\nAAPL|", 1)
    body = body.replace(b"AADR|", b"BAD|only|three\r\nAADR|", 1)
    result = _parse(sqlite_settings, tmp_path, "nasdaq", [RawPage("nasdaqlisted.txt", body)])
    assert sorted(_by_symbol(result)) == ["AACG", "AACIW", "AADR", "AAPL", "ACAHU"]
    assert sorted(s.get("symbol") or s.get("raw") for s in result.skipped) == ["'../../etc'", "BAD|only|three"]


def test_damaged_pipe_files_are_structure_errors(sqlite_settings, tmp_path) -> None:
    body = _page("nasdaqlisted.txt")
    cut = body[: body.index(b"ACAHU") + 3]  # the transfer died mid-line: no footer
    assert "truncated" in _struct(sqlite_settings, tmp_path, "nasdaq", [RawPage("n.txt", cut)]).msg
    renamed = body.replace(b"Symbol|", b"Ticker Symbol|", 1).replace(b"Market Category", b"Market Tier")
    err = _struct(sqlite_settings, tmp_path, "nasdaq", [RawPage("n.txt", renamed)])
    assert "Symbol" in err.msg and "Market Category" in err.msg
    _struct(sqlite_settings, tmp_path, "arca", [RawPage("o.txt", _page("otherlisted.txt").replace(b"ACT Symbol", b"ACT_Symbol"))])
    _struct(sqlite_settings, tmp_path, "arca", [RawPage("o.txt", b"")])


def test_damaged_html_pages_are_structure_errors(sqlite_settings, tmp_path) -> None:
    ftse = _page("ftse250_epic.html")
    pages = [RawPage("ftse100.html", ftse), RawPage("ftse250.html", ftse.replace(b' id="constituents"', b""))]
    assert "table#constituents" in _struct(sqlite_settings, tmp_path, "ftse", pages).msg
    cut = ftse[: ftse.index(b"BT Group")]
    assert "truncated" in _struct(sqlite_settings, tmp_path, "ftse", [RawPage("a", ftse), RawPage("b", cut)]).msg
    no_epic = ftse.replace(b"<th>EPIC", b"<th>Code")
    _struct(sqlite_settings, tmp_path, "ftse", [RawPage("a", ftse), RawPage("b", no_epic)])
    dax = _page("dax_page2.html").replace(b"table constituents", b"table index-members-v2")
    _struct(sqlite_settings, tmp_path, "dax", [RawPage("dax_page001.html", dax)])


def test_damaged_euronext_files_are_structure_errors() -> None:
    body = _page("euronext.csv")
    with pytest.raises(PipelineError, match="truncated") as err:
        parse_euronext_csv(body[: len(body) * 2 // 5])
    assert err.value.error_code == "SCRAPESTRUCT"
    with pytest.raises(PipelineError, match="lacks isin"):
        parse_euronext_csv(body.replace(b"ISIN;", b"Code;", 1))
    with pytest.raises(PipelineError, match="empty"):
        parse_euronext_csv(b"\xef\xbb\xbf")


# --- the real formats ------------------------------------------------------------------------------------------------
def test_nasdaqlisted_crlf_footer_padded_names_test_issues(sqlite_settings, tmp_path) -> None:
    assert b"\r\n" in _page("nasdaqlisted.txt")
    got = _by_symbol(_parse(sqlite_settings, tmp_path, "nasdaq", [RawPage("nasdaqlisted.txt", _page("nasdaqlisted.txt"))]))
    assert sorted(got) == ["AACG", "AACIW", "AADR", "AAPL", "ACAHU"]  # ZXZZT, a test issue, skipped
    assert got["AADR"].is_etf and got["AADR"].name == "AdvisorShares Dorsey Wright ADR ETF"
    assert got["ACAHU"].name == "Atlantic Coastal Acquisition Corp. - Units" and got["ACAHU"].financial_status == "E"
    assert got["AACG"].financial_status == "D" and got["AACG"].market == "S"
    assert (got["AAPL"].mic, got["AAPL"].currency, got["AAPL"].exchange_symbol) == ("XNAS", "USD", "AAPL")
    lf = _page("nasdaqlisted.txt").replace(b"\r\n", b"\n")
    assert _by_symbol(_parse(sqlite_settings, tmp_path, "nasdaq", [RawPage("n", lf)])) == got


def test_otherlisted_keeps_arca_rows_and_maps_act_symbols(sqlite_settings, tmp_path) -> None:
    got = _by_symbol(_parse(sqlite_settings, tmp_path, "arca", [RawPage("otherlisted.txt", _page("otherlisted.txt"))]))
    assert sorted(got) == ["AAA", "AACT-UN", "AACT-WT", "ABR-PD", "BRK-B", "CELG-RI"]  # N/A/Z/V rows and ZVV skipped
    assert got["AAA"].is_etf and not got["BRK-B"].is_etf
    assert got["ABR-PD"].exchange_symbol == "ABR$D" and got["AACT-WT"].exchange_symbol == "AACT.W"
    assert {x.market for x in got.values()} == {"NYSE Arca"} and {x.mic for x in got.values()} == {"ARCX"}


def test_ftse_page_with_epic_header_and_footnoted_sector(sqlite_settings, tmp_path) -> None:
    page = _page("ftse250_epic.html")
    got = _by_symbol(_parse(sqlite_settings, tmp_path, "ftse", [RawPage("a", page.replace(b"<th>EPIC", b"<th>Ticker")),
                                                                 RawPage("b", page)]))
    assert sorted(got) == ["AV.L", "BT-A.L", "FOUR.L"]  # the "changes" table's OTH is not a constituent
    assert got["BT-A.L"].name == "BT Group" and got["BT-A.L"].sector == "Telecommunications Service Providers"
    assert got["FOUR.L"].sector == "Media"  # the footnote in the cell is dropped
    assert got["AV.L"].exchange_symbol == "AV." and got["AV.L"].currency == "GBp" and got["AV.L"].mic == "XLON"
    assert got["AV.L"].market == "FTSE 100"  # first seen on the FTSE 100 page; duplicates keep the first


def test_dax_pages_with_and_without_de(sqlite_settings, tmp_path) -> None:
    pages = [RawPage("dax_page001.html", _page("dax_page1.html")), RawPage("dax_page002.html", _page("dax_page2.html"))]
    got = _by_symbol(_parse(sqlite_settings, tmp_path, "dax", pages))
    assert sorted(got) == ["ADS.DE", "AIR.DE", "ALV.DE", "BAS.DE"]
    assert got["ADS.DE"].exchange_symbol == "ADS" and got["ADS.DE"].isin == "DE000A1EWWW0"
    assert got["BAS.DE"].sector == "Chemicals" and got["AIR.DE"].name == "Airbus SE" and got["ALV.DE"].mic == "XETR"


@pytest.mark.parametrize("name", ["euronext.csv", "euronext_resaved.csv"])
def test_euronext_csv_and_its_resaved_copy(sqlite_settings, tmp_path, name: str) -> None:
    body = _page(name)
    assert body.startswith(b"\xef\xbb\xbf")
    got = _by_symbol(_parse(sqlite_settings, tmp_path, "euronext", [RawPage("euronext.csv", body)]))
    assert sorted(got) == ["AALB.AS", "AGS.BR", "AI.PA", "AIM.MI", "EQNR.OL", "GALP.LS", "GROOPA.MI", "SK3.IR"]
    ai = got["AI.PA"]  # "Euronext Paris, Amsterdam, Brussels": the first venue; its after-hours line skipped
    assert (ai.market, ai.mic, ai.isin, ai.name, ai.currency) == ("Euronext Paris", "XPAR", "FR0000120073", "AIR LIQUIDE", "EUR")
    assert got["EQNR.OL"].currency == "NOK" and got["EQNR.OL"].mic == "XOSL"
    assert got["GROOPA.MI"].name == "GROWENS OPA" and got["AIM.MI"].market == "Euronext Growth Milan"
