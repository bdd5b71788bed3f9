"""Benchmark: the monthly scrape of a sandbox universe of 10,000 listings against a bare script doing the same I/O (prints JSON).

    .venv/bin/python bench/scrape.py [--size 10000] [--repeat 3] [--no-browser]

All over loopback against one ``SitesServer`` (HTTP) of a ``Market`` grown until it lists N on the day scraped.
Each of ``--repeat`` rounds (default 3) runs both sides, their order alternating from round to round (after one
untimed warm-up of each: Chromium's binary and the server's render cache are warm for both):
  bare          what a competent engineer writes with plain Selenium 4 and Debian's chromium/chromedriver, no PRAF
                code: start Chromium headless (the flags Chromium needs on this machine, a download folder through
                prefs and CDP), load the Euronext list page, wait for and click Download (10 ms polls, no sleep
                padding the wait), wait for the finished file, read it, parse its rows with ``csv``, quit; then
                fetch the raw pages of the four HTTP exchanges with a bare httpx.Client (nasdaqlisted, otherlisted,
                both FTSE pages, every DAX page); then one ``executemany`` INSERT of the rows the scrape stored into
                a fresh SQLite table with the same columns (no upsert, no lifecycle, no scrape_control).
  praf_scrape   the scrape job through JobRunner into a fresh home (SQLite), browser included: fetch with
                retries/raw saving, the Euronext page in Chromium, parse, validate, map, upsert, delist check, DLQ
                clean-up, scrape_control, archival pass, the wait for the browser's quit.
Target: median praf_scrape <= 1.5 x median bare (wall seconds of each whole run). Each figure is the median of its
rounds; ``rounds`` lists every round. The load average (1, 5, 15 min) at start and end tells how busy the machine was.
Also reported: the ratio without any of PRAF's browser time (start, page, the job's wait for its quit) against the
bare script's downloads + insert, and the four HTTP exchanges alone against their own downloads and bare insert.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import math
import os
import platform
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from machine import LoadWatch  # noqa: E402  (bench/ is sys.path[0])

from praf_engine.config import load_settings  # noqa: E402
from praf_engine.db.models import CronStatus, ScrapeControl, Ticker  # noqa: E402
from praf_engine.jobs.runner import JobRunner  # noqa: E402
from praf_engine.logs import configure_logging  # noqa: E402
from praf_engine.sandbox.market import Market  # noqa: E402
from praf_engine.sandbox.sites import SitesServer  # noqa: E402
from praf_engine.sandbox.wiring import sandbox_wiring  # noqa: E402
from praf_engine.service import EngineService  # noqa: E402
from praf_engine.universe.job import EXCHANGES, make_scrape_job  # noqa: E402

TODAY = dt.date(2025, 6, 6)
RATIO_TARGET = 1.5
EURONEXT_PAGE = "/en/products/equities/list"
COLUMNS = ("symbol", "exchange_code", "exchange_symbol", "name", "isin", "currency", "sector", "market", "mic", "is_etf",
           "financial_status", "first_seen", "last_seen", "status", "status_changed", "scraper_source")
# the bare script's own choices (Debian's binaries; the flags headless Chromium needs as root in a container)
BARE_CHROMIUM, BARE_CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
BARE_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run")
BARE_POLL_S = 0.01


def bare_browser(url: str, downloads: Path) -> tuple[dict[str, float], int]:
    """Plain Selenium 4: start Chromium, load the list page, click Download, wait for the file, read and parse it,
    quit. Seconds per step and the number of data rows parsed."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    took: dict[str, float] = {}
    downloads.mkdir(parents=True)
    started = time.perf_counter()
    options = webdriver.ChromeOptions()
    options.binary_location = BARE_CHROMIUM
    for flag in BARE_FLAGS:
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(BARE_CHROMEDRIVER), options=options)
    try:
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
        took["start"] = time.perf_counter() - started
        mark = time.perf_counter()
        driver.get(url)
        WebDriverWait(driver, 20, poll_frequency=BARE_POLL_S).until(
            ec.element_to_be_clickable((By.ID, "download-button"))).click()
        took["page"] = time.perf_counter() - mark
        mark = time.perf_counter()

        def finished(_: Any) -> Path | bool:
            done = [p for p in downloads.iterdir() if not p.name.endswith(".crdownload") and p.stat().st_size > 0]
            return done[0] if done else False

        body = WebDriverWait(driver, 20, poll_frequency=BARE_POLL_S).until(finished).read_bytes()
        took["file"] = time.perf_counter() - mark
        mark = time.perf_counter()
        records = list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
        rows = [r for r in records[1:] if len(r) >= 5]  # the preamble lines have one cell
        took["parse"] = time.perf_counter() - mark
    finally:
        mark = time.perf_counter()
        driver.quit()
        took["quit"] = time.perf_counter() - mark
    return took, len(rows)


def _token(html: str) -> str:
    """The token a Euronext page load hands its script (the data and file endpoints need it)."""
    return re.search(r'data-token="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def download(url: str, euronext: bool = False) -> tuple[dict[str, float], int]:
    """Seconds per exchange and total bytes to fetch the raw pages of the HTTP exchanges with a bare client (with
    ``euronext``, also the list page and the CSV's URL fetched directly: only to warm the server)."""
    took: dict[str, float] = {}
    size = 0
    with httpx.Client(base_url=url, timeout=30) as c:
        for code, paths in (("nasdaq", ["/dynamic/SymDir/nasdaqlisted.txt"]), ("arca", ["/dynamic/SymDir/otherlisted.txt"]),
                            ("ftse", ["/wiki/FTSE_100_Index", "/wiki/FTSE_250_Index"])):
            started = time.perf_counter()
            size += sum(len(c.get(p).content) for p in paths)
            took[code] = time.perf_counter() - started
        started = time.perf_counter()
        page: str | None = "/index/dax/constituents"
        while page:
            body = c.get(page).text
            size += len(body)
            m = re.search(r'<a rel="next"[^>]*href="([^"]+)"', body)
            page = "/index/dax/constituents" + m.group(1) if m else None
        took["dax"] = time.perf_counter() - started
        if euronext:
            token = _token(c.get(EURONEXT_PAGE).text)
            c.get("/en/pd/data/stocks", params={"mics": "dm_all_stock", "iDisplayStart": 0, "iDisplayLength": 100,
                                                "token": token}).raise_for_status()
            c.get("/en/pd_es/data/stocks/download", params={"fe_type": "csv", "token": token}).raise_for_status()
    return took, size


def bare_insert(rows: list[tuple[Any, ...]], directory: Path) -> float:
    """Seconds of one executemany INSERT of ``rows`` into a fresh SQLite table with the tickers columns."""
    directory.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(directory / "bare.db")
    conn.execute(f"CREATE TABLE tickers ({', '.join(c + (' PRIMARY KEY' if c == 'symbol' else '') for c in COLUMNS)})")
    started = time.perf_counter()
    with conn:
        conn.executemany(f"INSERT INTO tickers VALUES ({', '.join('?' * len(COLUMNS))})", rows)
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def bare_once(url: str, work: Path, rows: list[tuple[Any, ...]], browser: bool) -> dict[str, Any]:
    """The whole bare script: the Euronext page in plain Selenium, the HTTP downloads, one bare insert."""
    started = time.perf_counter()
    steps, euronext_rows = bare_browser(url + EURONEXT_PAGE, work / "downloads") if browser else ({}, 0)
    browser_s = time.perf_counter() - started
    took, size = download(url)
    insert_s = bare_insert(rows, work / "db")
    total = time.perf_counter() - started
    http_insert_s = bare_insert([r for r in rows if r[1] != "euronext"], work / "db-http")
    return {"bare_s": total, "browser_s": browser_s, "steps": steps, "euronext_rows": euronext_rows, "took": took,
            "download_bytes": size, "insert_s": insert_s, "http_insert_s": http_insert_s}


def scrape_once(url: str, home: Path, codes: list[str]) -> dict[str, Any]:
    """One scrape of ``codes`` into a fresh home: wall seconds, per-exchange figures and the rows it stored."""
    wiring = sandbox_wiring(load_settings(home=home, environ={}, cwd=home.parent,
                                          overrides={("sources",): "sandbox", ("sandbox", "http_url"): url}))
    service = EngineService.open(wiring.settings, wiring=wiring)
    try:
        clock = lambda: dt.datetime.combine(TODAY, dt.time(0, 5))  # noqa: E731
        started = time.perf_counter()
        code = JobRunner(service.wiring.with_clock(clock)).run("scrape", make_scrape_job(codes))
        scrape_s = time.perf_counter() - started
        per_exchange = {r.exchange: {"rows": r.row_count, "status": r.scrape_status, **{
            k: r.detail[k] for k in ("seconds", "fetch_s", "parse_s", "store_s", "browser_start_s", "browser_wait_s",
                                     "page_s", "file_s", "browser_quit_s") if k in r.detail}} for r in ScrapeControl.select()}
        browser = (CronStatus.select().where(CronStatus.job == "scrape").order_by(CronStatus.id.desc()).first().detail
                   or {}).get("browser", {})
        rows = [tuple(getattr(t, c) for c in COLUMNS) for t in Ticker.select()]
    finally:
        service.close()
    euronext = per_exchange.get("euronext", {})
    return {"code": code, "scrape_s": scrape_s, "per_exchange": per_exchange, "browser": browser, "rows": rows,
            "start_s": euronext.get("browser_wait_s", euronext.get("browser_start_s", 0.0)),
            "page_s": euronext.get("page_s") or 0.0, "close_wait_s": browser.get("browser_close_wait_s", 0.0),
            "http_s": sum(v["seconds"] for c, v in per_exchange.items() if c != "euronext")}


def _med(values: list[float]) -> float:
    return statistics.median(values)


def run(size: int, work: Path, browser: bool, repeat: int) -> dict[str, Any]:
    """One warm-up of each side, then ``repeat`` rounds of both, alternating which goes first; medians."""
    watch = LoadWatch()
    configure_logging(work / "logs", secrets=[], console_level=None)
    market_size = size  # grown until the market lists ``size`` listings on the day scraped (some are not yet listed)
    while len(universe := (market := Market(size=market_size, seed=42, today=TODAY)).universe(TODAY)) < size:
        market_size = math.ceil(market_size * size / max(len(universe), 1)) + 1
    codes = list(EXCHANGES) if browser else [c for c in EXCHANGES if c != "euronext"]
    http_codes = [c for c in codes if c != "euronext"]
    praf: list[dict[str, Any]] = []
    bare: list[dict[str, Any]] = []
    with SitesServer(market) as sites:
        download(sites.url, euronext=True)  # warm the server's render cache: both sides then read the same bytes
        rows = scrape_once(sites.url, work / "warm-home", codes)["rows"]  # the rows the bare script inserts
        bare_once(sites.url, work / "warm-bare", rows, browser)
        for i in range(repeat):
            sides = ["bare", "praf"] if i % 2 == 0 else ["praf", "bare"]
            for side in sides:
                if side == "bare":
                    bare.append(bare_once(sites.url, work / f"bare{i}", rows, browser))
                else:
                    praf.append(scrape_once(sites.url, work / f"home{i}", codes))
    machine = watch.report()
    by_time = sorted(praf, key=lambda r: r["scrape_s"])
    mid = by_time[(len(by_time) - 1) // 2]  # the median round (lower middle for an even count): its detail is shown
    scrape_s = _med([r["scrape_s"] for r in praf])
    bare_s = _med([r["bare_s"] for r in bare])
    ratio = scrape_s / bare_s
    took = {c: _med([r["took"][c] for r in bare]) for c in http_codes}
    download_s = sum(took.values())
    insert_s = _med([r["insert_s"] for r in bare])
    http_insert_s = _med([r["http_insert_s"] for r in bare])
    without_browser = _med([r["scrape_s"] - r["start_s"] - r["page_s"] - r["close_wait_s"] for r in praf])
    http_s = _med([r["http_s"] for r in praf])
    store_s = _med([sum(x["store_s"] for x in r["per_exchange"].values()) for r in praf])
    code = max(r["code"] for r in praf)
    euronext = mid["per_exchange"].get("euronext", {})
    steps = {k: round(_med([r["steps"][k] for r in bare]), 3) for k in bare[0]["steps"]}
    return {
        "benchmark": "scrape", "python": platform.python_version(), "machine": platform.machine(),
        "cpus": os.cpu_count(), "loadavg_start": machine["load_average"]["start"],
        "loadavg_end": machine["load_average"]["end"], "load_average": machine["load_average"], "rounds": repeat,
        "listings_in_market": len(universe), "market_size": market_size, "exchanges": codes, "exit_code": code,
        "rows_scraped": len(rows),
        "bare_s": round(bare_s, 3), "praf_scrape_s": round(scrape_s, 3),
        "ratio": round(ratio, 3), "ratio_target": RATIO_TARGET, "target_met": bool(ratio <= RATIO_TARGET and code == 0),
        "round_figures": [{"bare_s": round(b["bare_s"], 3), "praf_scrape_s": round(p["scrape_s"], 3),
                           "ratio": round(p["scrape_s"] / b["bare_s"], 3)} for b, p in zip(bare, praf, strict=True)],
        "bare_browser_s": round(_med([r["browser_s"] for r in bare]), 3), "bare_browser_steps_s": steps,
        "bare_euronext_rows": bare[0]["euronext_rows"],
        "download_s": round(download_s, 3), "download_s_per_exchange": {c: round(took[c], 4) for c in http_codes},
        "download_bytes": bare[0]["download_bytes"],
        "bare_insert_s": round(insert_s, 4), "bare_insert_rows_per_s": round(len(rows) / insert_s),
        "per_exchange": mid["per_exchange"], "euronext_page_s": euronext.get("page_s"),
        "euronext_file_s": euronext.get("file_s"),
        "upsert_s": round(store_s, 4), "upsert_rows_per_s": round(len(rows) / store_s) if store_s else None,
        "browser_start_s": round(_med([r["browser"].get("browser_start_s", r["start_s"]) for r in praf]), 3),
        "browser_wait_s": round(_med([r["start_s"] for r in praf]), 3),
        "browser_quit_s": mid["browser"].get("browser_quit_s"),
        "browser_close_wait_s": round(_med([r["close_wait_s"] for r in praf]), 3),
        "ratio_without_browser": round(without_browser / (download_s + insert_s), 3),
        "http_exchanges_s": round(http_s, 3), "http_exchanges_bare_insert_s": round(http_insert_s, 4),
        "http_exchanges_ratio": round(http_s / (http_insert_s + download_s), 3),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=10_000, help="listings on the exchanges the day scraped (default 10000)")
    ap.add_argument("--no-browser", action="store_true", help="leave Euronext (and Chromium) out, on both sides")
    ap.add_argument("--repeat", type=int, default=3, help="rounds of both sides (default 3); figures are medians")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="praf-scrape-bench-"))
    try:
        result = run(args.size, work, not args.no_browser, max(1, args.repeat))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0 if result["target_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
