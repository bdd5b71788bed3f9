"""The exchange-site emulators over real sockets: httpx + BeautifulSoup, ftplib, and Selenium driving Chromium."""

from __future__ import annotations

import csv
import datetime as dt
import ftplib
import http.client
import io
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bs4 import BeautifulSoup

from praf_engine.sandbox.faults import SITE_KEYS, FaultConfig
from praf_engine.sandbox.market import Market
from praf_engine.sandbox.sites import (
    EURONEXT_NOISE_MARKETS,
    NasdaqFtpServer,
    SitesServer,
    cqs_symbol,
    euronext_csv,
    euronext_rows,
    ftse_tickers,
    nasdaq_symbol,
    otherlisted_noise,
    render_nasdaqlisted,
    render_otherlisted,
)

TODAY = dt.date(2025, 6, 6)
NASDAQ = "/dynamic/SymDir/nasdaqlisted.txt"
OTHER = "/dynamic/SymDir/otherlisted.txt"
FTSE = {"FTSE 100": "/wiki/FTSE_100_Index", "FTSE 250": "/wiki/FTSE_250_Index"}
DAX = "/index/dax/constituents"
EURONEXT = "/en/products/equities/list"
EURONEXT_DATA, EURONEXT_FILE = "/en/pd/data/stocks", "/en/pd_es/data/stocks/download"
CHROMEDRIVER, CHROMIUM = "/usr/bin/chromedriver", "/usr/bin/chromium"
FOOTER = re.compile(r"^File Creation Time: \d{10}:\d{2}\|+$")


# --- fixtures --------------------------------------------------------------------------------------------------------
def _market(faults: FaultConfig | None = None) -> Market:
    return Market(size=300, seed=42, today=TODAY, faults=faults or FaultConfig.none())


def _faulty(kind: str, codes: tuple[str, ...] = SITE_KEYS) -> Market:
    return _market(FaultConfig(targets={kind: frozenset(codes)}))


@pytest.fixture(scope="module")
def market() -> Market:
    return _market()


@pytest.fixture(scope="module")
def site(market: Market) -> Iterator[SitesServer]:
    with SitesServer(market) as server:
        yield server


@pytest.fixture(scope="module")
def ftp_site(market: Market) -> Iterator[NasdaqFtpServer]:
    with NasdaqFtpServer(market) as server:
        yield server


@pytest.fixture(scope="module")
def client(site: SitesServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, timeout=10) as c:
        yield c


def _universe(market: Market, code: str) -> list:
    return [x for x in market.universe(market.today) if x.exchange_code == code]


def _pipe_rows(text: str) -> tuple[list[str], list[dict[str, str]], str]:
    """Header, rows as dicts, and the footer line ('' when missing) of a Nasdaq Trader file."""
    lines = text.splitlines()
    header = lines[0].split("|")
    footer = lines[-1] if lines[-1].startswith("File Creation Time") else ""
    body = lines[1:-1] if footer else lines[1:]
    return header, [dict(zip(header, line.split("|"), strict=False)) for line in body], footer


def _ftp_get(server: NasdaqFtpServer, name: str) -> bytes:
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", server.port, timeout=10)
    try:
        ftp.login()
        buf = io.BytesIO()
        ftp.retrbinary(f"RETR /symboldirectory/{name}", buf.write)
        return buf.getvalue()
    finally:
        ftp.close()


def _soup(response: httpx.Response) -> BeautifulSoup:
    assert response.status_code == 200, response.status_code
    return BeautifulSoup(response.text, "lxml")


def _walk_dax(c: httpx.Client) -> tuple[list[list[str]], list[int]]:
    """Follow the 'next' links from page 1; the rows of every page and the statuses seen."""
    rows: list[list[str]] = []
    statuses: list[int] = []
    url = DAX
    while url:
        r = c.get(url)
        statuses.append(r.status_code)
        if r.status_code != 200:
            break
        soup = BeautifulSoup(r.text, "lxml")
        table = soup.select_one("table.constituents")
        assert table is not None
        assert [th.get_text(strip=True) for th in table.select("thead th")] == ["Company", "ISIN", "Ticker", "Sector"]
        page_rows = [[td.get_text(strip=True) for td in tr.find_all("td")] for tr in table.select("tbody tr")]
        assert 1 <= len(page_rows) <= 10
        rows += page_rows
        nxt = soup.select_one('a[rel="next"]')
        url = str(httpx.URL(str(r.url)).join(nxt["href"])) if nxt else ""
    return rows, statuses


# --- Nasdaq Trader ---------------------------------------------------------------------------------------------------
def test_nasdaqlisted_over_http_is_the_nasdaq_universe_plus_test_issues(client, market) -> None:
    r = client.get(NASDAQ)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert b"\r\n" in r.content and r.content.count(b"\n") == r.content.count(b"\r\n")
    header, rows, footer = _pipe_rows(r.text)
    assert "|".join(header) == "Symbol|Security Name|Market Category|Test Issue|Financial Status|Round Lot Size|ETF|NextShares"
    assert FOOTER.match(footer) and footer[20:28] == TODAY.strftime("%m%d%Y")
    real = [row for row in rows if row["Test Issue"] == "N"]
    tests = [row for row in rows if row["Test Issue"] == "Y"]
    assert 1 <= len(tests) <= 3 and all(t["ETF"] == "" and "TEST" in t["Security Name"].upper() for t in tests)
    by_symbol = {x.exchange_symbol: x for x in _universe(market, "nasdaq")}
    assert sorted(row["Symbol"] for row in real) == sorted(by_symbol)
    for row in real:
        listing = by_symbol[row["Symbol"]]
        assert " ".join(row["Security Name"].split()) == listing.name
        assert row["Market Category"] == listing.market in ("Q", "G", "S")
        assert row["Financial Status"] == listing.financial_status
        assert row["ETF"] == ("Y" if listing.is_etf else "N")
    assert any(row["Security Name"] != row["Security Name"].strip() or "  " in row["Security Name"] for row in real)
    assert {row["ETF"] for row in real} == {"Y", "N"}


def test_otherlisted_keeps_arca_among_other_venues_and_test_issues(client, market) -> None:
    r = client.get(OTHER)
    header, rows, footer = _pipe_rows(r.text)
    assert "|".join(header) == "ACT Symbol|Security Name|Exchange|CQS Symbol|ETF|Round Lot Size|Test Issue|NASDAQ Symbol"
    assert FOOTER.match(footer)
    arca = [row for row in rows if row["Exchange"] == "P" and row["Test Issue"] == "N"]
    assert sorted(row["ACT Symbol"] for row in arca) == sorted(x.exchange_symbol for x in _universe(market, "arca"))
    assert {row["Exchange"] for row in rows} >= {"P", "N", "A", "Z", "V"}
    assert any(row["ACT Symbol"] == "ZVV" and row["Exchange"] == "P" and row["Test Issue"] == "Y" for row in rows)
    every_symbol = {x.exchange_symbol for x in market.listings}
    noise = otherlisted_noise(market)
    assert len(rows) == len(arca) + len(noise) and not {n.act for n in noise} & every_symbol
    for row in rows:  # the CQS and NASDAQ columns follow the reference's conventions on every row
        assert row["CQS Symbol"] == cqs_symbol(row["ACT Symbol"])
        assert row["NASDAQ Symbol"] == nasdaq_symbol(row["ACT Symbol"])
    acts = {row["ACT Symbol"] for row in rows}
    assert any("$" in a for a in acts) and any(a.endswith(".W") for a in acts) and any(a.endswith(".U") for a in acts)


@pytest.mark.parametrize(("act", "cqs", "nasdaq"), [
    ("ABR$D", "ABRpD", "ABR-D"), ("AACT.U", "AACT.U", "AACT="), ("AACT.W", "AACT.WS", "AACT+"),
    ("BRK.B", "BRK.B", "BRK.B"), ("CELG.R", "CELGr", "CELG^"), ("AAA", "AAA", "AAA"),
])
def test_symbol_columns_follow_the_reference_file(act: str, cqs: str, nasdaq: str) -> None:
    assert (cqs_symbol(act), nasdaq_symbol(act)) == (cqs, nasdaq)


def test_ftp_serves_both_files_with_lf_line_endings(ftp_site, client, market) -> None:
    for name, path, render in (("nasdaqlisted.txt", NASDAQ, render_nasdaqlisted),
                               ("otherlisted.txt", OTHER, render_otherlisted)):
        data = _ftp_get(ftp_site, name)
        assert b"\r" not in data and data == render(market, crlf=False)
        assert data.decode().splitlines() == client.get(path).text.splitlines()
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", ftp_site.port, timeout=10)
    ftp.login()
    assert sorted(ftp.nlst("/symboldirectory")) == ["nasdaqlisted.txt", "otherlisted.txt"]
    with pytest.raises(ftplib.error_perm, match="^550"):
        ftp.storbinary("STOR /symboldirectory/evil.txt", io.BytesIO(b"x"))
    ftp.quit()
    assert ftp_site.url == f"ftp://127.0.0.1:{ftp_site.port}"


# --- FTSE and DAX ----------------------------------------------------------------------------------------------------
def test_ftse_pages_have_the_constituents_table_among_other_tables(client, market) -> None:
    footnotes, tickers = set(), []
    for index, path in FTSE.items():
        soup = _soup(client.get(path))
        assert len(soup.select("table.wikitable")) >= 3  # annual returns and changes tables around it
        table = soup.select_one("table#constituents")
        heads = [th.get_text(strip=True) for th in table.find("tr").find_all("th")]
        assert heads[:2] == ["Company", "Ticker" if index == "FTSE 100" else "EPIC"]
        assert re.fullmatch(r"FTSE industry classification benchmark sector\[\d+\]", heads[2])
        footnotes.add(heads[2])
        cells = [[td.get_text(strip=True) for td in tr.find_all("td")] for tr in table.find_all("tr")[1:]]
        members = [x for x in _universe(market, "ftse") if x.market == index]
        assert sorted(c[0] for c in cells) == sorted(x.name for x in members)
        assert sorted(c[1] for c in cells) == sorted(t for _, t in ftse_tickers(market, index))
        # the shown ticker is the exchange's code, at most with a trailing dot that the Yahoo mapping drops
        assert sorted(c[1].rstrip(".") for c in cells) == sorted(x.exchange_symbol.rstrip(".") for x in members)
        tickers += [c[1] for c in cells]
    assert len(footnotes) == 2
    assert any(t.endswith(".") for t in tickers) and any(re.fullmatch(r"[A-Z]+\.[A-Z]", t) for t in tickers)


def test_dax_next_links_visit_every_page_and_collect_the_dax_universe(client, market) -> None:
    rows, statuses = _walk_dax(client)
    assert set(statuses) == {200} and len(statuses) >= 2
    members = {x.isin: x for x in _universe(market, "dax")}
    assert sorted(r[1] for r in rows) == sorted(members)
    for _company, isin, ticker, _sector in rows:
        assert ticker.removesuffix(".DE") == members[isin].exchange_symbol
    with_suffix = sum(r[2].endswith(".DE") for r in rows)
    assert 0 < with_suffix < len(rows)
    last = len(statuses)
    assert client.get(DAX, params={"page": last}).text == client.get(f"{DAX}?page={last}").text
    for bad in (0, last + 1, "x"):
        assert client.get(DAX, params={"page": bad}).status_code == 404


# --- Euronext --------------------------------------------------------------------------------------------------------
def test_euronext_endpoints_need_the_token_of_a_page_load(client, market) -> None:
    for path in (EURONEXT_DATA, EURONEXT_FILE):
        assert client.get(path).status_code == 403
        assert client.get(path, params={"token": "guessed"}).status_code == 403
    page = _soup(client.get(EURONEXT))
    assert page.select("#stocks-data-table tbody tr") == [] and page.select_one("#download-button") is None
    app = page.select_one("#equities-app")
    token = app["data-token"]
    assert (app["data-endpoint"], app["data-download"]) == (EURONEXT_DATA, EURONEXT_FILE)
    r = client.get(EURONEXT_DATA, params={"token": token, "iDisplayStart": 0, "iDisplayLength": 100})
    assert r.status_code == 200 and r.json()["aaData"]
    r = client.get(EURONEXT_FILE, params={"token": token, "mics": "dm_all_stock", "fe_type": "csv"})
    assert r.status_code == 200 and r.content == euronext_csv(market)
    assert r.headers["content-disposition"] == f'attachment; filename="Euronext_Equities_{TODAY.isoformat()}.csv"'
    other = _soup(client.get(EURONEXT)).select_one("#equities-app")["data-token"]
    assert other != token  # a fresh token on each page load


def test_euronext_table_pages_like_datatables(client, market) -> None:
    token = _soup(client.get(EURONEXT)).select_one("#equities-app")["data-token"]
    rows = euronext_rows(market)

    def page(**params: object) -> httpx.Response:
        return client.get(EURONEXT_DATA, params={"token": token, **params})

    first, second = page(iDisplayStart=0, iDisplayLength=10).json(), page(iDisplayStart=10, iDisplayLength=10).json()
    assert first["iTotalRecords"] == first["iTotalDisplayRecords"] == len(rows)
    assert [r[2] for r in first["aaData"] + second["aaData"]] == [r.symbol for r in rows[:20]]
    assert first["aaData"][0] == [rows[0].cells[i] for i in (0, 1, 2, 3, 8, 11)]
    assert len(page(iDisplayStart=0, iDisplayLength=5000).json()["aaData"]) == min(100, len(rows))  # capped at 100
    assert page(iDisplayStart=len(rows), iDisplayLength=10).json()["aaData"] == []
    assert page(iDisplayStart="x").status_code == 400
    assert client.get(EURONEXT_FILE, params={"token": token, "fe_type": "xls"}).status_code == 400


def test_euronext_rows_cover_the_universe_and_noise(market) -> None:
    rows = euronext_rows(market)
    real = [r for r in rows if not r.noise]
    assert sorted((r.isin, r.symbol, r.market.split(",")[0]) for r in real) == \
        sorted((x.isin, x.exchange_symbol, x.market) for x in _universe(market, "euronext"))
    assert {r.market for r in rows if r.noise} == set(EURONEXT_NOISE_MARKETS)
    assert all(r.market not in EURONEXT_NOISE_MARKETS for r in real)
    assert any("," in r.market for r in real) and any("-" in r.cells[5:] for r in real)


def _chrome_available() -> None:
    if not os.path.exists(CHROMEDRIVER) and os.environ.get("REQUIRE_POSTGRES_TESTS") != "1":
        pytest.skip(f"no {CHROMEDRIVER} (apt-get install chromium chromium-driver; `make test` installs it)")


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Iterator[object]:
    _chrome_available()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"):
        options.add_argument(arg)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.add_experimental_option("prefs", {"download.default_directory": str(tmp_path_factory.mktemp("dl")),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(15)
    try:
        yield driver
    finally:
        driver.quit()


def _open_euronext(driver, url: str, download_dir: Path, *, button: bool = True):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    download_dir.mkdir(parents=True, exist_ok=True)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(download_dir)})
    driver.get(url + EURONEXT)
    WebDriverWait(driver, 10).until(ec.text_to_be_present_in_element((By.ID, "equities-status"), "instruments"))
    if not button:
        return None
    return WebDriverWait(driver, 5).until(ec.element_to_be_clickable((By.ID, "download-button")))


def _wait_for_file(directory: Path, name: str, timeout: float) -> Path | None:
    """Bounded poll for a finished download (Chromium writes a temporary file first, then renames it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        target = directory / name
        if target.exists() and target.stat().st_size > 0:
            return target
        time.sleep(0.05)
    return None


def test_euronext_download_in_chromium(browser, site, market, tmp_path) -> None:
    from selenium.webdriver.common.by import By

    button = _open_euronext(browser, site.url, tmp_path)
    shown = browser.find_elements(By.CSS_SELECTOR, "#stocks-data-table tbody tr")
    total = len(euronext_rows(market))
    assert len(shown) == min(100, total)  # the first page of the table, as live.euronext.com shows it
    assert browser.find_element(By.ID, "equities-status").text == f"Showing 1 to {len(shown)} of {total} instruments"
    button.click()
    name = f"Euronext_Equities_{TODAY.isoformat()}.csv"
    path = _wait_for_file(tmp_path, name, 10)
    assert path is not None, f"no {name} in {sorted(p.name for p in tmp_path.iterdir())}"
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and data == euronext_csv(market)
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[0].startswith('Name;ISIN;Symbol;Market;Currency;"Open Price"')
    assert lines[1:4] == ['"European Equities"', '"06 Jun 2025"', '"All datapoints provided as of end of last active trading day."']
    records = list(csv.reader(lines[4:], delimiter=";"))
    assert all(len(rec) == 15 for rec in records)
    kept = {(rec[1], rec[2], rec[3].split(",")[0]) for rec in records if rec[3] not in EURONEXT_NOISE_MARKETS}
    assert kept == {(x.isin, x.exchange_symbol, x.market) for x in _universe(market, "euronext")}
    assert {rec[3] for rec in records} >= set(EURONEXT_NOISE_MARKETS)
    assert any(not line.startswith('"') for line in lines[4:]) and any(line.startswith('"') for line in lines[4:])


def test_euronext_faults_in_chromium(browser, tmp_path) -> None:
    from selenium.webdriver.common.by import By

    with SitesServer(_faulty("broken_structure", ("euronext",))) as server:
        _open_euronext(browser, server.url, tmp_path / "broken", button=False)
        assert browser.find_elements(By.CSS_SELECTOR, "#stocks-data-table tbody tr")
        assert browser.find_elements(By.ID, "download-button") == []

    hung = _faulty("js_timeout", ("euronext",))
    with SitesServer(hung) as server:
        _open_euronext(browser, server.url, tmp_path / "hang").click()
        assert _wait_for_file(tmp_path / "hang", f"Euronext_Equities_{TODAY.isoformat()}.csv", 1.5) is None
        assert list((tmp_path / "hang").iterdir()) == []
        assert "Preparing" in browser.find_element(By.ID, "equities-status").text

    cut = _faulty("truncated", ("euronext",))
    with SitesServer(cut) as server:
        _open_euronext(browser, server.url, tmp_path / "cut").click()
        path = _wait_for_file(tmp_path / "cut", f"Euronext_Equities_{TODAY.isoformat()}.csv", 10)
        assert path is not None and path.read_bytes() == euronext_csv(cut)
        full = euronext_csv(cut, apply_faults=False)
        assert full.startswith(path.read_bytes()) and len(path.read_bytes()) < 0.6 * len(full)


# --- site faults as a client sees them -------------------------------------------------------------------------------
def test_broken_structure_renames_and_removes_what_scrapers_look_for() -> None:
    m = _faulty("broken_structure")
    with SitesServer(m) as server, NasdaqFtpServer(m) as ftp_server, httpx.Client(base_url=server.url) as c:
        for path, gone in ((NASDAQ, "Symbol"), (OTHER, "ACT Symbol")):
            header, rows, footer = _pipe_rows(c.get(path).text)
            assert gone not in header and rows and footer
        assert "Market Category" not in _pipe_rows(_ftp_get(ftp_server, "nasdaqlisted.txt").decode())[0]
        for path in FTSE.values():
            soup = _soup(c.get(path))
            assert soup.select_one("table#constituents") is None and soup.select("table.wikitable.sortable")
        soup = _soup(c.get(DAX))
        assert soup.select_one("table.constituents") is None and soup.select("table tbody tr")
        assert soup.select_one('a[rel="next"]') is not None


def test_site_500_hits_only_the_targeted_exchanges() -> None:
    m = _faulty("site_500", ("nasdaq", "ftse", "dax", "euronext"))  # not arca
    with SitesServer(m) as server, NasdaqFtpServer(m) as ftp_server, httpx.Client(base_url=server.url) as c:
        for path in (NASDAQ, *FTSE.values(), DAX, f"{DAX}?page=2", EURONEXT, EURONEXT_DATA, EURONEXT_FILE):
            assert c.get(path).status_code == 500, path
        assert c.get(OTHER).status_code == 200
        with pytest.raises(ftplib.error_perm, match="^550"):
            _ftp_get(ftp_server, "nasdaqlisted.txt")
        assert _ftp_get(ftp_server, "otherlisted.txt") == render_otherlisted(m, crlf=False)


def test_truncated_files_and_pages_are_cut(market) -> None:
    m = _faulty("truncated")
    with SitesServer(m) as server, NasdaqFtpServer(m) as ftp_server, httpx.Client(base_url=server.url) as c:
        for path, name, code in ((NASDAQ, "nasdaqlisted.txt", "nasdaq"), (OTHER, "otherlisted.txt", "arca")):
            for body in (c.get(path).content, _ftp_get(ftp_server, name)):
                _, rows, footer = _pipe_rows(body.decode())
                full = _pipe_rows(_render_text(market, code))[1]
                assert footer == "" and not body.endswith(b"\n")
                assert len(full) // 2 <= len(rows) <= len(full) // 2 + 1
        ftse = c.get(FTSE["FTSE 250"])
        assert ftse.status_code == 200 and "</html>" not in ftse.text
        rows, statuses = _walk_dax(c)
        assert statuses[-1] == 404 and 0 < len(rows) < len(_universe(m, "dax"))


def _render_text(market: Market, code: str) -> str:
    return (render_nasdaqlisted if code == "nasdaq" else render_otherlisted)(market).decode()


# --- time, determinism and the server itself -------------------------------------------------------------------------
def test_moving_today_a_month_ahead_changes_the_served_files() -> None:
    m = _market()
    before = {code: {x.symbol for x in _universe(m, code)} for code in ("nasdaq", "arca")}
    with SitesServer(m) as server, NasdaqFtpServer(m) as ftp_server, httpx.Client(base_url=server.url) as c:
        old = (c.get(NASDAQ).text, c.get(OTHER).text, _ftp_get(ftp_server, "nasdaqlisted.txt"), c.get(DAX).text)
        m.today = TODAY + dt.timedelta(days=31)
        after = {code: {x.symbol for x in _universe(m, code)} for code in ("nasdaq", "arca")}
        new = (c.get(NASDAQ).text, c.get(OTHER).text, _ftp_get(ftp_server, "nasdaqlisted.txt"), c.get(DAX).text)
        assert all(a != b for a, b in zip(old, new, strict=True))
        universe_old = {x.exchange_symbol for code in ("nasdaq", "arca") for x in _universe(_market(), code)}
        universe_new = {x.exchange_symbol for code in ("nasdaq", "arca") for x in _universe(m, code)}
        assert universe_new - universe_old and universe_old - universe_new  # listings added and removed
        served_old = {row["Symbol"] for row in _pipe_rows(old[0])[1] if row["Test Issue"] == "N"}
        served_new = {row["Symbol"] for row in _pipe_rows(new[2].decode())[1] if row["Test Issue"] == "N"}
        listing_of = {x.symbol: x.exchange_symbol for x in m.listings}
        assert served_old == {listing_of[s] for s in before["nasdaq"]}
        assert served_new == {listing_of[s] for s in after["nasdaq"]}
        assert _pipe_rows(new[0])[2][20:28] == m.today.strftime("%m%d%Y")


def test_renders_are_deterministic(market) -> None:
    again = _market()
    assert render_nasdaqlisted(again) == render_nasdaqlisted(market)
    assert render_otherlisted(again) == render_otherlisted(market)
    assert euronext_csv(again) == euronext_csv(market)
    other_seed = Market(size=300, seed=43, today=TODAY, faults=FaultConfig.none())
    assert render_otherlisted(other_seed) != render_otherlisted(market)


def test_server_counts_hits_routes_extras_and_keeps_connections_alive(market) -> None:
    seen: list[str] = []

    def nordvpn(path_and_query: str) -> tuple[int, str, bytes]:
        seen.append(path_and_query)
        return 200, "application/json", b"[]"

    server = SitesServer(market, extra_routes={"/v1/servers": nordvpn})
    server.start()
    server.start()  # idempotent
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("GET", "/v1/servers/recommendations?filters[servers_technologies][identifier]=socks&limit=5")
        r = conn.getresponse()
        assert (r.status, r.read()) == (200, b"[]")
        sock = conn.sock
        conn.request("HEAD", NASDAQ)
        r = conn.getresponse()
        assert r.status == 200 and int(r.headers["Content-Length"]) > 1000 and r.read() == b""
        conn.request("POST", DAX, body=b"x=1")
        r = conn.getresponse()
        assert r.status == 405 and r.read()
        conn.request("GET", "/no/such/page")
        r = conn.getresponse()
        assert r.status == 404 and r.read()
        assert conn.sock is sock  # one keep-alive connection for all four requests
        assert seen == ["/v1/servers/recommendations?filters[servers_technologies][identifier]=socks&limit=5"]
        assert server.hits[NASDAQ] == 1 and server.hits["/v1/servers/recommendations"] == 1
    finally:
        server.stop()
        server.stop()
    with pytest.raises((ConnectionError, http.client.HTTPException)):  # stop() also closed the open connection
        conn.request("GET", NASDAQ)
        conn.getresponse()
    conn.close()
    started = time.monotonic()
    with server:  # restarts on the same port
        assert httpx.get(server.url + FTSE["FTSE 100"]).status_code == 200
    assert time.monotonic() - started < 2
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + NASDAQ, timeout=2)
