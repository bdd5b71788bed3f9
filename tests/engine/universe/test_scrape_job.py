"""The monthly scrape job over real sockets against the sandbox: universe, lifecycle, faults, floor, retries."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from praf_engine import atomic
from praf_engine.config import Settings
from praf_engine.db.models import CronStatus, DLQSymbol, ScrapeControl, Ticker
from praf_engine.jobs.runner import JobRunner
from praf_engine.sandbox.faults import FaultConfig
from praf_engine.sandbox.market import Market
from praf_engine.sandbox.sites import euronext_csv, render_nasdaqlisted
from praf_engine.service import EngineService
from praf_engine.universe.base import Fetcher, RawPage, RawStore, scraper_classes
from praf_engine.universe.job import make_scrape_job
from praf_engine.universe.lifecycle import apply_scrape
from tests.engine.universe.conftest import TODAY, need_chromium

NON_BROWSER = ["nasdaq", "arca", "ftse", "dax"]
FIELDS = ("exchange_code", "exchange_symbol", "name", "isin", "currency", "sector", "market", "mic", "is_etf",
          "financial_status")
# what each source publishes: the rest of a Listing is not on that exchange's page
PUBLISHED = {
    "nasdaq": {"exchange_code", "exchange_symbol", "name", "currency", "market", "mic", "is_etf", "financial_status"},
    "arca": {"exchange_code", "exchange_symbol", "name", "currency", "market", "mic", "is_etf"},
    "ftse": {"exchange_code", "exchange_symbol", "name", "currency", "sector", "market", "mic"},
    "dax": {"exchange_code", "exchange_symbol", "name", "isin", "currency", "sector", "market", "mic"},
    "euronext": {"exchange_code", "exchange_symbol", "name", "isin", "currency", "market", "mic"},
}


@contextmanager
def opened(settings: Settings) -> Iterator[EngineService]:
    service = EngineService.open(settings)
    try:
        yield service
    finally:
        service.close()


def scrape(service: EngineService, exchanges: list[str] | None, day: dt.date = TODAY) -> int:
    clock = lambda: dt.datetime.combine(day, dt.time(0, 5))  # noqa: E731
    return JobRunner(service.wiring.with_clock(clock)).run("scrape", make_scrape_job(exchanges))


def tickers(code: str | None = None) -> dict[str, Ticker]:
    query = Ticker.select() if code is None else Ticker.select().where(Ticker.exchange_code == code)
    return {t.symbol: t for t in query}


def control(month: str = "202506") -> dict[str, ScrapeControl]:
    return {r.exchange: r for r in ScrapeControl.select().where(ScrapeControl.month == month)}


def last_cron() -> CronStatus:
    return CronStatus.select().order_by(CronStatus.id.desc()).first()


def truth(market: Market, codes: list[str]) -> dict[str, Any]:
    return {x.symbol: x for x in market.universe(market.today) if x.exchange_code in codes}


def assert_matches(market: Market, codes: list[str]) -> None:
    expected = truth(market, codes)
    got = {s: t for s, t in tickers().items() if t.exchange_code in codes and t.status == "active"}
    assert sorted(got) == sorted(expected)
    for sym, x in expected.items():
        row = got[sym]
        for f in PUBLISHED[x.exchange_code]:
            want = getattr(x, f) if f != "financial_status" else (x.financial_status or None)
            assert getattr(row, f) == want, (sym, f)
        assert row.scraper_source.endswith("Scraper") and row.last_seen == market.today


# --- bad input and faults first ---------------------------------------------------------------------------------------
def test_hostile_symbol_is_skipped_logged_and_the_rest_of_the_exchange_counts(market, sites, home_settings) -> None:
    good = render_nasdaqlisted(market).decode()
    hostile = good.replace("\r\n", "\r\n../../etc|Evil Corp - Common Stock|Q|N|N|100|N|N\r\n", 1).encode()
    sites.extra_routes["/hostile/"] = lambda _target: (200, "text/plain", hostile)
    settings = home_settings(scrape__nasdaq_url=sites.url + "/hostile/nasdaqlisted.txt")
    with opened(settings) as service:
        assert scrape(service, ["nasdaq"]) != 0
        assert_matches(market, ["nasdaq"])
        row = control()["nasdaq"]
        assert (row.scrape_status, row.error_code, row.detail["skipped_count"]) == ("success", "SCRAPEBAD", 1)
        assert row.detail["skipped"][0]["symbol"] == "'../../etc'"
        assert last_cron().error_code == "SCRAPEBAD" and last_cron().exit_code == 1
        assert not Ticker.select().where(Ticker.symbol.contains("ETC")).exists()
    assert not any("etc" in p.name.lower() for p in settings.home.rglob("*"))
    assert "SCRAPEBAD" in (settings.logs_dir / "app.jsonl").read_text()


FAULTS = [  # (fault kind, exchange, error code, scrape_status)
    ("broken_structure", "nasdaq", "SCRAPESTRUCT", "structure_error"),
    ("broken_structure", "arca", "SCRAPESTRUCT", "structure_error"),
    ("broken_structure", "ftse", "SCRAPESTRUCT", "structure_error"),
    ("broken_structure", "dax", "SCRAPESTRUCT", "structure_error"),
    ("truncated", "nasdaq", "SCRAPESTRUCT", "structure_error"),
    ("truncated", "ftse", "SCRAPESTRUCT", "structure_error"),
    ("truncated", "dax", "SCRAPE404", "error"),
    ("site_500", "arca", "SCRAPEHTTP", "error"),
    ("site_500", "dax", "SCRAPEHTTP", "error"),
]


def _baseline(service: EngineService, market: Market, codes: list[str]) -> dict[str, tuple]:
    """Month 1, clean; Euronext from the exact bytes its Download button saves (no browser needed here)."""
    assert scrape(service, [c for c in codes if c != "euronext"]) == 0
    if "euronext" in codes:
        s = service.settings
        scraper = scraper_classes()["euronext"](s, Fetcher(s, None, RawStore(s.scrapes_dir, "202506", "euronext")))  # type: ignore[arg-type]
        pages = [RawPage("euronext.csv", euronext_csv(market))]
        apply_scrape(scraper.clean(pages, scraper.parse(pages)), TODAY, "EuronextScraper")
    return {t.symbol: (t.status, t.last_seen, t.first_seen, t.name) for t in Ticker.select()}


def _next_month_with(market: Market, kind: str, code: str) -> dt.date:
    market.faults = FaultConfig(targets={kind: frozenset([code])})
    market.today = TODAY + dt.timedelta(days=31)
    return market.today


@pytest.mark.parametrize(("kind", "code", "error_code", "status"), FAULTS)
def test_site_fault_keeps_the_previous_universe_of_that_exchange(market, sites, home_settings, kind, code,
                                                                 error_code, status) -> None:
    settings = home_settings()
    with opened(settings) as service:
        before = _baseline(service, market, NON_BROWSER)
        day = _next_month_with(market, kind, code)
        assert scrape(service, NON_BROWSER, day) == 1
        row = control("202507")[code]
        assert (row.scrape_status, row.error_code) == (status, error_code)
        cron = last_cron()
        assert (cron.exit_code, cron.error_code) == (1, error_code)
        assert cron.detail["exchanges"][code]["error_code"] == error_code
        after = {t.symbol: (t.status, t.last_seen, t.first_seen, t.name) for t in Ticker.select()}
        assert {s: v for s, v in after.items() if s in tickers(code)} == {s: v for s, v in before.items() if s in tickers(code)}
        for other in set(NON_BROWSER) - {code}:
            assert control("202507")[other].scrape_status == "success"
        assert_matches(market, sorted(set(NON_BROWSER) - {code}))
        assert list((settings.scrapes_dir / "202507" / code).iterdir())  # raw pages kept for replay, failures too


@pytest.fixture
def plain_temp_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """Temp files named ``<name>.tmp`` (not ``.<name>.<pid>.<random>.tmp``), so a test can plant one beforehand."""
    monkeypatch.setattr(atomic, "temp_beside", lambda path: path.with_name(path.name + ".tmp"))


def test_full_disk_while_saving_a_raw_page_is_scrapeio_and_keeps_that_exchange(market, sites, home_settings,
                                                                                plain_temp_names) -> None:
    """A real ENOSPC: the raw page's temporary file is a link to /dev/full, so the kernel refuses the write."""
    settings = home_settings()
    with opened(settings) as service:
        before = _baseline(service, market, NON_BROWSER)
        day = market.today = TODAY + dt.timedelta(days=31)
        raw = settings.scrapes_dir / f"{day:%Y%m}" / "nasdaq"
        raw.mkdir(parents=True)
        (raw / "nasdaqlisted.txt.tmp").symlink_to("/dev/full")
        assert scrape(service, NON_BROWSER, day) == 1
        row = control(f"{day:%Y%m}")["nasdaq"]
        assert (row.scrape_status, row.error_code) == ("error", "SCRAPEIO")
        assert "No space left on device" in row.detail["msg"] and row.detail["path"].endswith("nasdaqlisted.txt")
        assert (last_cron().exit_code, last_cron().error_code) == (1, "SCRAPEIO")
        after = {t.symbol: (t.status, t.last_seen, t.first_seen, t.name) for t in Ticker.select()}
        assert {s: v for s, v in after.items() if s in tickers("nasdaq")} == \
            {s: v for s, v in before.items() if s in tickers("nasdaq")}  # nothing delisted, nothing moved
        assert all(control(f"{day:%Y%m}")[c].scrape_status == "success" for c in ("arca", "ftse", "dax"))
    assert not (raw / "nasdaqlisted.txt.tmp").exists() and not (raw / "nasdaqlisted.txt").exists()


def test_an_error_page_that_cannot_be_kept_does_not_hide_the_error(market, sites, home_settings, plain_temp_names) -> None:
    settings = home_settings(scrape__retries=0)
    market.faults = FaultConfig(targets={"site_500": frozenset(["nasdaq"])})
    raw = settings.scrapes_dir / "202506" / "nasdaq"
    raw.mkdir(parents=True)
    (raw / "nasdaqlisted.txt.http500.tmp").symlink_to("/dev/full")
    with opened(settings) as service:
        assert scrape(service, ["nasdaq"]) == 1
        assert control()["nasdaq"].error_code == "SCRAPEHTTP"  # the site's failure, not the disk's
    logged = [line for line in (settings.logs_dir / "app.jsonl").read_text().splitlines() if '"SCRAPEIO"' in line]
    assert logged and "error page not kept" in logged[0]


def test_500s_are_retried_then_scrapehttp_with_the_error_page_kept(market, sites, home_settings) -> None:
    settings = home_settings(scrape__retries=2)
    market.faults = FaultConfig(targets={"site_500": frozenset(["nasdaq"])})
    with opened(settings) as service:
        assert scrape(service, ["nasdaq"]) == 1
        assert sites.hits["/dynamic/SymDir/nasdaqlisted.txt"] == 3
        row = control()["nasdaq"]
        assert row.error_code == "SCRAPEHTTP" and row.detail["attempts"] == 3 and row.detail["status"] == 500
        assert not Ticker.select().exists()
    kept = settings.scrapes_dir / "202506" / "nasdaq" / "nasdaqlisted.txt.http500"
    assert b"Internal Server Error" in kept.read_bytes()


def test_row_count_below_the_floor_is_a_structure_error(market, sites, home_settings) -> None:
    text = render_nasdaqlisted(market).decode().split("\r\n")
    thin = "\r\n".join([text[0], *text[1:20], *[line for line in text if line.startswith("File Creation")]]) + "\r\n"
    settings = home_settings()
    with opened(settings) as service:
        assert scrape(service, ["nasdaq"]) == 0
        before = {t.symbol: t.status for t in Ticker.select()}
        sites.extra_routes["/thin/"] = lambda _target: (200, "text/plain", thin.encode())
        thin_settings = home_settings(scrape__nasdaq_url=sites.url + "/thin/nasdaqlisted.txt")
        with opened(thin_settings) as thin_service:
            assert scrape(thin_service, ["nasdaq"], TODAY + dt.timedelta(days=31)) == 1
        row = control("202507")["nasdaq"]
        assert (row.scrape_status, row.error_code) == ("structure_error", "SCRAPESTRUCT")
        assert row.detail["floor"] == len(before) // 2 and row.detail["rows"] < row.detail["floor"]
        assert {t.symbol: t.status for t in Ticker.select()} == before  # nothing delisted


# --- the universe and its lifecycle -----------------------------------------------------------------------------------
def test_all_five_exchanges_into_tickers(market, sites, home_settings) -> None:
    need_chromium()
    settings = home_settings()
    with opened(settings) as service:
        assert scrape(service, None) == 0
        assert_matches(market, ["nasdaq", "arca", "ftse", "dax", "euronext"])
        rows = control()
        assert {c: r.scrape_status for c, r in rows.items()} == dict.fromkeys(
            ["nasdaq", "arca", "ftse", "dax", "euronext"], "success")
        assert all(len(r.hash) == 64 and r.row_count > 0 for r in rows.values())
        symbols = set(tickers())
    for shape in ("-P", "-UN", "-WT", ".L", ".DE", ".PA", ".AS", ".BR", ".LS", ".IR", ".OL", ".MI"):
        assert any(shape in s for s in symbols), shape
    assert any("-" in s and s.endswith(".L") for s in symbols)  # class shares such as BT-A.L
    assert (settings.scrapes_dir / "202506" / "euronext" / "euronext.csv").read_bytes() == euronext_csv(market)
    assert (settings.scrapes_dir / "202506" / "dax" / "dax_page001.html").exists()


def test_nasdaq_and_arca_over_ftp(market, sites, ftp, home_settings) -> None:
    settings = home_settings(scrape__nasdaq_url=ftp.url + "/symboldirectory/nasdaqlisted.txt",
                             scrape__otherlisted_url=ftp.url + "/symboldirectory/otherlisted.txt")
    with opened(settings) as service:
        assert scrape(service, ["nasdaq", "arca"]) == 0
        assert_matches(market, ["nasdaq", "arca"])
    assert sites.hits["/dynamic/SymDir/nasdaqlisted.txt"] == 0
    market.faults = FaultConfig(targets={"site_500": frozenset(["nasdaq"])})
    with opened(settings) as service:
        assert scrape(service, ["nasdaq"], TODAY + dt.timedelta(days=31)) == 1
        assert control("202507")["nasdaq"].error_code == "SCRAPEHTTP"


def test_second_month_delists_adds_and_relists(market, sites, home_settings) -> None:
    settings = home_settings()
    with opened(settings) as service:
        assert scrape(service, NON_BROWSER) == 0
        month1 = set(truth(market, NON_BROWSER))
        new_month = _moved(market)
        stays = sorted(month1 & set(truth(market, NON_BROWSER)))[0]  # listed in both months
        Ticker.update(status="delisted", status_changed=TODAY).where(Ticker.symbol == stays).execute()
        DLQSymbol.create(symbol=stays, reason="YFDELISTED", failures=3)
        assert scrape(service, NON_BROWSER, new_month) == 0
        month2 = set(truth(market, NON_BROWSER))
        gone, added = month1 - month2, month2 - month1
        assert gone and added
        rows = tickers()
        assert {s for s, t in rows.items() if t.status == "delisted"} == gone
        assert all(rows[s].last_seen == TODAY and rows[s].status_changed == new_month for s in gone)
        assert all(rows[s].first_seen == new_month and rows[s].status == "active" for s in added)
        assert all(rows[s].first_seen == TODAY and rows[s].last_seen == new_month for s in month1 & month2)
        assert rows[stays].status == "active" and rows[stays].status_changed == new_month
        assert not DLQSymbol.select().where(DLQSymbol.symbol == stays).exists()
        assert_matches(market, NON_BROWSER)
        assert sum(last_cron().detail["exchanges"][c]["delisted"] for c in NON_BROWSER) == len(gone)


def _moved(market: Market) -> dt.date:
    market.today = TODAY + dt.timedelta(days=31)
    return market.today


# --- Euronext in Chromium: its faults ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("kind", "error_code", "status"), [
    ("js_timeout", "SCRAPEJS", "error"), ("broken_structure", "SCRAPESTRUCT", "structure_error"),
    ("truncated", "SCRAPESTRUCT", "structure_error"), ("site_500", "SCRAPEHTTP", "error"),
])
def test_euronext_faults(market, sites, home_settings, kind, error_code, status) -> None:
    if kind != "site_500":
        need_chromium()
    settings = home_settings(scrape__js_timeout_s=1.5, scrape__retries=1)
    with opened(settings) as service:
        before = _baseline(service, market, ["nasdaq", "euronext"])
        day = _next_month_with(market, kind, "euronext")
        assert scrape(service, ["nasdaq", "euronext"], day) == 1
        row = control("202507")["euronext"]
        assert (row.scrape_status, row.error_code) == (status, error_code)
        if kind == "js_timeout":  # the catalogue's promise: retried scrape.retries times, so 2 attempts here
            assert "(2 attempts)" in row.detail["msg"], row.detail
        assert control("202507")["nasdaq"].scrape_status == "success"
        assert last_cron().error_code == error_code
        assert {t.symbol: (t.status, t.last_seen, t.first_seen, t.name) for t in Ticker.select()
                if t.exchange_code == "euronext"} == {s: v for s, v in before.items() if s in tickers("euronext")}
    assert (settings.scrapes_dir / "202507" / "euronext").is_dir()



# --- the job's Chromium: started ahead, quit in the background, never left behind --------------------------------------
def _processes_naming(path: str) -> list[int]:
    """Pids of the live processes whose command line names ``path`` (Chromium's profile directory)."""
    pids = []
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{name}/cmdline", "rb") as fh:
                cmdline = fh.read().decode(errors="replace")
        except OSError:  # gone meanwhile
            continue
        if path in cmdline and _running(int(name)):  # a zombie is already dead (its parent reaps it)
            pids.append(int(name))
    return pids


@pytest.mark.parametrize("page", ["served", "site_500"])
def test_no_chromium_outlives_the_scrape_job(market, sites, home_settings, monkeypatch, page) -> None:
    need_chromium()
    import praf_engine.universe.euronext as euronext
    import praf_engine.universe.job as job

    profiles: list[str] = []
    drivers: list[int] = []
    sessions: list[euronext.Chromium] = []

    class Recorded(euronext.Chromium):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            sessions.append(self)

        def _start(self) -> None:
            super()._start()
            if self._browser is not None:
                profiles.append(str(self._browser.tmp))
                drivers.append(self._browser.driver.service.process.pid)

    monkeypatch.setattr(job, "Chromium", Recorded)
    settings = home_settings()
    day = TODAY if page == "served" else _next_month_with(market, "site_500", "euronext")
    with opened(settings) as service:
        assert scrape(service, ["nasdaq", "euronext"], day) == (0 if page == "served" else 1)
        browser = last_cron().detail["browser"]
        assert control(f"{day:%Y%m}")["euronext"].scrape_status == ("success" if page == "served" else "error")
    assert len(sessions) == 1, "one browser session, made by the job"
    if page == "site_500":  # the page failed over HTTP: the browser was never started
        assert profiles == [] and browser == {}
        return
    assert len(profiles) == 1 and browser["browser_start_s"] > 0 and "browser_quit_s" in browser
    assert browser["browser_wait_s"] >= browser["browser_start_s"]  # started when the scraper asked for it
    assert browser["browser_close_wait_s"] >= 0  # how long the job waited for the quit it started in the background
    assert not _processes_naming(profiles[0]), "Chromium still running after the job"
    assert not _running(drivers[0]), "chromedriver still running after the job"
    assert not os.path.exists(profiles[0])


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False



def test_the_browser_starts_on_a_blank_page_in_its_own_folder(home_settings) -> None:
    """Chromium starts on chromedriver's blank page, not on its new-tab page (a WebUI page that costs ~0.2 s of
    renderer CPU per scrape; chromedriver opens it when given a --user-data-dir of PRAF's own). Its profile is
    chromedriver's, made under the browser's folder (TMPDIR), so the sweep of a killed scrape still finds it and
    the folder's removal removes it."""
    need_chromium()
    from praf_engine.universe.euronext import _Browser

    browser = _Browser(home_settings())
    try:
        pages = [t["url"] for t in browser.driver.execute_cdp_cmd("Target.getTargets", {})["targetInfos"]
                 if t["type"] == "page"]
        profile = Path(browser.driver.capabilities["chrome"]["userDataDir"])
        named = _processes_naming(str(browser.tmp))
    finally:
        browser.close()
    assert pages == ["data:,"], pages
    assert profile.is_relative_to(browser.tmp), profile
    assert named, "no Chromium process names the browser's folder: the sweep could not find it"
    assert not profile.exists() and not browser.tmp.exists()
