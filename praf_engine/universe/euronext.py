"""Euronext scraper: headless Chromium (Selenium 4, imported lazily) clicks the list page's Download button; CSV parser."""

from __future__ import annotations

import contextlib
import contextvars
import csv
import json
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from praf_engine.config import Settings
from praf_engine.errors import PipelineError
from praf_engine.logs import get_logger
from praf_engine.universe.base import (
    BaseExchangeScraper,
    RawPage,
    ScrapedListing,
    bad_row,
    clean_name,
    register,
    structure_error,
)
from praf_engine.universe.mapping import EURONEXT_SKIPPED, euronext_to_yahoo

log = get_logger(__name__)

REQUIRED = ("name", "isin", "symbol", "market", "currency")
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run")
POLL_S = 0.01  # WebDriverWait and the download folder: a poll is one WebDriver command, or one listdir
PROFILE_PREFIX = "praf-euronext-"
OWNER_FILE = "owner.json"  # in each browser's temporary folder: the pids (and start times) of PRAF and chromedriver
UNOWNED_GRACE_S = 600.0  # a folder without its owner file is being made right now, unless older than this


def _missing(value: str) -> str | None:
    value = value.strip()
    return None if value in ("", "-") else value


def parse_euronext_csv(body: bytes) -> list[dict[str, str]]:
    """Rows of the Euronext equities CSV: UTF-8 with BOM, ``;``, header then preamble lines, partly quoted; also the
    re-saved form (CRLF, decimal commas, ``;;;`` padding). SCRAPESTRUCT for a missing column or a truncated file."""
    text = body.decode("utf-8-sig", errors="replace").lstrip("\ufeff")
    if not text.strip():
        raise structure_error("euronext", "empty file")
    if not text.endswith(("\n", "\r")):
        raise structure_error("euronext", "the file ends mid-line: truncated download", tail=text[-60:])
    records = list(csv.reader(text.splitlines(), delimiter=";"))
    header = [h.strip().casefold() for h in records[0]]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise structure_error("euronext", f"header lacks {', '.join(missing)}", header=records[0][:8])
    col = {c: header.index(c) for c in REQUIRED}
    width = max(col.values())
    rows = []
    for number, rec in enumerate(records[1:], start=2):
        filled = [c for c in rec if c.strip()]
        if len(filled) <= 1:  # the preamble ("European Equities", the date, the note) and blank padded lines
            continue
        if len(rec) <= width:
            rows.append({"__line__": str(number), "__raw__": ";".join(rec)[:80]})
            continue
        rows.append({c: rec[i] for c, i in col.items()})
    return rows


def _started_at(pid: int) -> int | None:
    """The start time (clock ticks since boot) of a live, non-zombie process ``pid``; None if there is none."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else int(fields[19])


def _is_running(owner: dict[str, Any], pid_key: str, start_key: str) -> bool:
    pid = owner.get(pid_key)
    return isinstance(pid, int) and _started_at(pid) == owner.get(start_key)


def _write_owner(folder: Path, driver: int | None = None) -> None:
    """Who the folder's browser belongs to: this process and, once started, its chromedriver (pids + start times)."""
    owner: dict[str, Any] = {"pid": os.getpid(), "start": _started_at(os.getpid())}
    if driver is not None:
        owner.update(driver=driver, driver_start=_started_at(driver))
    (folder / OWNER_FILE).write_text(json.dumps(owner), encoding="utf-8")


def _new_profile_dir() -> Path:
    """A private temporary folder for one browser, with its owner (this process) written down at once."""
    tmp = Path(tempfile.mkdtemp(prefix=PROFILE_PREFIX))
    _write_owner(tmp)
    return tmp


def sweep_orphans() -> list[Path]:
    """Clear what a killed scrape left: every ``praf-euronext-*`` temporary folder whose owner no longer runs loses
    its Chromium processes (found by the profile path on their command line), its chromedriver and the folder.
    Folders of a running owner (another home's scrape) are left alone. Linux (/proc); returns the folders cleared."""
    cleared: list[Path] = []
    for folder in Path(tempfile.gettempdir()).glob(PROFILE_PREFIX + "*"):
        try:
            owner = json.loads((folder / OWNER_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            with contextlib.suppress(OSError):
                if time.time() - folder.stat().st_mtime < UNOWNED_GRACE_S:
                    continue
            owner = {}
        except (OSError, ValueError):
            owner = {}
        if not isinstance(owner, dict) or _is_running(owner, "pid", "start"):
            continue
        pids = _pids_naming(str(folder))
        if _is_running(owner, "driver", "driver_start"):
            pids.append(owner["driver"])
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(folder, ignore_errors=True)
        log.warning("euronext: cleared the browser of a killed scrape", error_code="JOBKILLED",
                    detail={"folder": str(folder), "owner": owner.get("pid"), "killed": len(pids)})
        cleared.append(folder)
    return cleared


def _pids_naming(path: str) -> list[int]:
    """Live processes whose command line names ``path`` (Chromium's processes carry --user-data-dir=<path>/...)."""
    pids = []
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{name}/cmdline", "rb") as fh:
                if path.encode() in fh.read():
                    pids.append(int(name))
        except OSError:  # gone meanwhile
            continue
    return pids


def _start_failed(settings: Settings, exc: BaseException) -> PipelineError:
    s = settings.scrape
    return PipelineError("SCRAPEJS", f"Chromium did not start: {type(exc).__name__}: {str(exc)[:200]}",
                         {"chromedriver": s.chromedriver_path, "chromium": s.chromium_path})


class _Browser:
    """One headless Chromium for one scrape, downloading into a private directory."""

    def __init__(self, settings: Settings) -> None:
        try:
            from selenium import webdriver
            from selenium.webdriver.chrome.service import Service
        except ImportError as exc:  # pragma: no cover - selenium is a dependency
            raise PipelineError("SCRAPEJS", "selenium is not installed", {"error": str(exc)}) from exc
        s = settings.scrape
        sweep_orphans()
        self.tmp = _new_profile_dir()
        self.downloads = self.tmp / "downloads"
        self.downloads.mkdir()
        # TMPDIR of chromedriver and Chromium: the profile chromedriver makes and Chromium's temporary files are
        # inside the folder, so Chromium's processes name it (the sweep finds them) and its removal removes them
        scratch = self.tmp / "tmp"
        scratch.mkdir()
        options = webdriver.ChromeOptions()
        options.binary_location = s.chromium_path
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-agent={s.user_agent}")
        # no --user-data-dir: given one, chromedriver starts Chromium on its new-tab page (~0.2 s of renderer CPU)
        options.page_load_strategy = "eager"  # get() returns at DOMContentLoaded; the waits below look for the elements
        options.add_experimental_option("prefs", {"download.default_directory": str(self.downloads),
                                                  "download.prompt_for_download": False,
                                                  "profile.managed_default_content_settings.images": 2})  # no images
        try:
            service = Service(s.chromedriver_path, env={**os.environ, "TMPDIR": str(scratch)})
            self.driver = webdriver.Chrome(service=service, options=options)
        except Exception as exc:  # noqa: BLE001 - any start failure (no binary, driver mismatch) is one error
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise _start_failed(settings, exc) from None
        try:
            _write_owner(self.tmp, self.driver.service.process.pid)
            self.driver.set_page_load_timeout(s.js_timeout_s)
            self.driver.execute_cdp_cmd("Browser.setDownloadBehavior",
                                        {"behavior": "allow", "downloadPath": str(self.downloads)})
        except Exception as exc:  # noqa: BLE001 - started but unusable: quit it, it is a start failure
            self.close()
            raise _start_failed(settings, exc) from None

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)


class Chromium:
    """The scrape job's Chromium: started when the Euronext scraper first needs it (``acquire``), quit in a
    background thread once the file is downloaded (``release``: the quit overlaps the parse, the upsert and the job's
    bookkeeping). ``close()`` (the job's end, also after a failure) waits for the quit and quits a browser never
    released: no Chromium outlives the job.

    The start is not moved ahead of the HTTP exchanges: measured on a 2-core machine (bench/scrape.py), a start
    overlapping them slowed them 3x (DAX pages 0.2 -> 0.8 s) and saved no wall time.

    ``timings``: ``browser_start_s`` (the start), ``browser_wait_s`` (how long the scraper waited for the browser:
    the start, on the job's critical path) and, once quit, ``browser_quit_s`` and ``browser_close_wait_s``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.timings: dict[str, float] = {}
        self._browser: _Browser | None = None
        self._error: PipelineError | None = None
        self._quitting: threading.Thread | None = None

    def _start(self) -> None:
        began = time.perf_counter()
        try:
            self._browser = _Browser(self.settings)
        except PipelineError as exc:
            self._error = exc
        except Exception as exc:  # noqa: BLE001 - handed to the scraper as the start failure it is
            self._error = _start_failed(self.settings, exc)
        finally:
            self.timings["browser_start_s"] = time.perf_counter() - began

    def acquire(self) -> _Browser:
        """The browser, started on the first call; SCRAPEJS if it could not start."""
        began = time.perf_counter()
        if "browser_start_s" not in self.timings:
            self._start()
        self.timings["browser_wait_s"] = time.perf_counter() - began
        if self._error is not None:
            raise self._error
        if self._browser is None:
            raise PipelineError("SCRAPEJS", "Chromium was already quit for this job")
        return self._browser

    def release(self, *, wait: bool = False) -> None:
        """Quit the browser, in a background thread unless ``wait``."""
        browser, self._browser = self._browser, None
        if browser is None:
            return

        def quit_() -> None:
            began = time.perf_counter()
            try:
                browser.close()
            except Exception as exc:  # noqa: BLE001 - a failed quit is logged; close() still removed the profile
                log.warning(f"euronext: Chromium did not quit cleanly: {type(exc).__name__}", error_code="SCRAPEJS")
            finally:
                self.timings["browser_quit_s"] = time.perf_counter() - began

        if wait:
            quit_()
            return
        self._quitting = threading.Thread(target=contextvars.copy_context().run, args=(quit_,), name="chromium-quit",
                                          daemon=True)  # the copied context keeps the run_id on its log lines
        self._quitting.start()

    def close(self) -> None:
        """Wait for the quit; quit a browser still open. Idempotent. ``browser_close_wait_s``: how long the job
        waited here (the part of the quit it did not overlap)."""
        began = time.perf_counter()
        self.release(wait=True)
        if self._quitting is not None:
            self._quitting.join()
        if "browser_start_s" in self.timings:  # the first close is the job's wait (a second one waits for nothing)
            self.timings.setdefault("browser_close_wait_s", time.perf_counter() - began)


def download_csv(settings: Settings, url: str, stop: threading.Event, attempts: int,
                 timings: dict[str, float] | None = None, chromium: Chromium | None = None) -> tuple[bytes, str]:
    """Load ``url`` in Chromium, wait for ``#download-button`` to be clickable, click it and poll (bounded by
    ``scrape.js_timeout_s``) for the finished file. SCRAPESTRUCT if the table fills but no button comes; SCRAPEJS if
    the page or the file never arrives in ``attempts`` tries. Returns (bytes, file name); ``timings`` gets the seconds
    of the page with its click and of the file wait (``chromium``'s own timings: its start, the wait for it, its quit).
    ``chromium``: the job's browser, released (quit in the background) once done; None: one started here and quit
    before returning."""
    from selenium.common.exceptions import TimeoutException, WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    def _button_or_rows(driver: Any) -> tuple[str, Any] | bool:
        """("button", it) once #download-button is clickable, ("rows", None) once the table has rows (one poll
        tells which, so the click needs no further look-up)."""
        try:
            button = ec.element_to_be_clickable((By.ID, "download-button"))(driver)
            if button:
                return "button", button
        except WebDriverException:
            pass
        try:
            driver.find_element(By.CSS_SELECTOR, "#stocks-data-table tbody tr")
        except WebDriverException:
            return False
        return "rows", None

    timeout = settings.scrape.js_timeout_s
    spent = timings if timings is not None else {}
    own = chromium is None
    session = Chromium(settings) if chromium is None else chromium
    last = ""
    try:
        browser = session.acquire()
        mark = time.perf_counter()
        for attempt in range(1, attempts + 1):
            try:
                browser.driver.get(url)
                found, button = WebDriverWait(browser.driver, timeout, poll_frequency=POLL_S).until(_button_or_rows)
                if found == "rows":  # the table is there: give the button a moment, then it is a changed page
                    try:
                        button = WebDriverWait(browser.driver, min(2.0, timeout), poll_frequency=POLL_S).until(
                            ec.element_to_be_clickable((By.ID, "download-button")))
                    except TimeoutException:
                        raise structure_error("euronext", "the list loads but has no #download-button",
                                              url=url) from None
                button.click()
            except TimeoutException:
                last = "the list page did not finish loading"
                log.warning(f"euronext: {last} (attempt {attempt}/{attempts})", error_code="SCRAPEJS")
                continue
            except WebDriverException as exc:
                last = f"browser error: {str(exc).splitlines()[0][:160]}"
                log.warning(f"euronext: {last} (attempt {attempt}/{attempts})", error_code="SCRAPEJS")
                continue
            spent["page_s"] = time.perf_counter() - mark
            clicked = time.perf_counter()
            done = _wait_for_download(browser.downloads, timeout, stop)
            spent["file_s"] = time.perf_counter() - clicked
            if done is not None:
                return done.read_bytes(), done.name
            last = f"no file {timeout:g} s after clicking Download"
            log.warning(f"euronext: {last} (attempt {attempt}/{attempts})", error_code="SCRAPEJS")
        raise PipelineError("SCRAPEJS", f"euronext: {last} ({attempts} attempts)", {"url": url, "timeout_s": timeout})
    finally:
        if own:
            session.close()
        else:
            session.release()
        spent.update(session.timings)


def _wait_for_download(directory: Path, timeout: float, stop: threading.Event) -> Path | None:
    """Bounded poll for a finished download (Chromium writes ``*.crdownload`` first, then renames it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stop.is_set():
        done = [p for p in directory.iterdir() if not p.name.endswith((".crdownload", ".tmp")) and p.stat().st_size > 0]
        if done:
            return done[0]
        stop.wait(POLL_S)
    return None


@register
class EuronextScraper(BaseExchangeScraper):
    """The Euronext equities list: page checked over HTTP (status, retries), the CSV downloaded in Chromium."""

    code = "euronext"
    description = "Euronext equities list (JavaScript download)"
    uses_browser = True

    def __init__(self, *args: Any, chromium: Chromium | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.chromium = chromium  # the job's browser, already starting; None: started by fetch()
        self.timings: dict[str, float] = {}  # the browser's share of the fetch (the job records it)

    def fetch(self) -> list[RawPage]:
        url = self.settings.scrape.euronext_url
        page = RawPage("list.html", self.fetcher.get(url, "list.html"))  # HTTP status and retries; kept for replay
        body, _name = download_csv(self.settings, url, self.fetcher.stop, self.settings.scrape.retries + 1, self.timings,
                                   self.chromium)
        self.fetcher.store.save("euronext.csv", body)
        return [page, RawPage("euronext.csv", body)]

    def parse(self, pages: list[RawPage]) -> Iterator[Callable[[], ScrapedListing]]:
        csv_page = next(p for p in pages if p.name.endswith(".csv"))
        for row in parse_euronext_csv(csv_page.body):
            if "__raw__" not in row and row["market"].split(",")[0].strip() in EURONEXT_SKIPPED:
                continue
            yield partial(self._listing, row)

    def _listing(self, row: dict[str, Any]) -> ScrapedListing:
        if "__raw__" in row:
            raise bad_row("malformed line", line=row["__line__"], raw=row["__raw__"])
        raw = row["symbol"].strip().upper()
        symbol, mic = euronext_to_yahoo(raw, row["market"])
        return ScrapedListing(
            symbol=symbol, exchange_code=self.code, exchange_symbol=raw, name=clean_name(_missing(row["name"])),
            isin=_missing(row["isin"]), currency=_missing(row["currency"]), market=row["market"].split(",")[0].strip(),
            mic=mic,
        )
