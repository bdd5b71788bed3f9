"""The scraper base class: fetching over HTTP(S)/FTP with retries and politeness, raw-page saving, cleaning, registry."""

from __future__ import annotations

import contextlib
import ftplib
import hashlib
import io
import random
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

import httpx
from tenacity import RetryError, Retrying, retry_if_exception, stop_after_attempt, wait_random

from praf_engine.atomic import write_atomic
from praf_engine.config import Settings
from praf_engine.errors import PipelineError
from praf_engine.logs import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class ScrapedListing:
    """One listing as a scraper found it, already mapped to its Yahoo ticker and validated."""

    symbol: str
    exchange_code: str
    exchange_symbol: str
    name: str | None
    isin: str | None = None
    currency: str | None = None
    sector: str | None = None
    market: str | None = None
    mic: str | None = None
    is_etf: bool = False
    financial_status: str | None = None


@dataclass(frozen=True)
class RawPage:
    """One raw download (kept under ``scrapes_raw/YYYYMM/<exchange>/<name>``)."""

    name: str
    body: bytes
    status: int = 200


@dataclass
class ScrapeResult:
    """A parsed, cleaned exchange: its listings, the rows skipped as SCRAPEBAD and the SHA-256 of its raw pages."""

    exchange: str
    listings: list[ScrapedListing]
    skipped: list[dict[str, str]] = field(default_factory=list)
    raw_hash: str = ""
    pages: int = 0


class _Transient(Exception):
    """A failure worth retrying (5xx, connection error, FTP error); carries the code to raise at the end."""

    def __init__(self, code: str, msg: str, detail: dict[str, Any]) -> None:
        super().__init__(msg)
        self.code, self.msg, self.detail = code, msg, detail


def clean_name(value: str | None) -> str | None:
    """Names as published, minus the trailing and doubled spaces of the source files."""
    if value is None:
        return None
    out = " ".join(value.split())
    return out or None


class RawStore:
    """Writes every downloaded body (errors too) under ``scrapes_raw/YYYYMM/<exchange>/`` for replay."""

    def __init__(self, root: Path, month: str, exchange: str) -> None:
        self.dir = root / month / exchange
        self.bodies: list[bytes] = []

    def save(self, name: str, body: bytes, *, keep_for_hash: bool = True) -> Path:
        """Write ``body`` as ``name`` (through a temporary file: a failed write leaves no partial page); SCRAPEIO
        if it cannot be written (disk full, permissions)."""
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:120] or "page"
        path = self.dir / safe
        try:
            write_atomic(path, body)
        except OSError as exc:
            raise PipelineError("SCRAPEIO", f"could not save {safe} under {self.dir}: {exc.strerror or exc}",
                                {"path": str(path), "errno": exc.errno}) from None
        if keep_for_hash:
            self.bodies.append(body)
        return path

    def keep_error(self, name: str, body: bytes) -> None:
        """Best effort for an error page: if it cannot be saved, the error it stands for still goes up."""
        try:
            self.save(name, body, keep_for_hash=False)
        except PipelineError as exc:
            log.warning(f"error page not kept: {exc.msg}", error_code="SCRAPEIO", detail=exc.detail)

    def digest(self) -> str:
        h = hashlib.sha256()
        for body in self.bodies:
            h.update(hashlib.sha256(body).digest())
        return h.hexdigest()


class Fetcher:
    """GET over http(s):// (the caller's httpx.Client) or ftp:// (ftplib), with retries, a politeness delay between
    requests and every body saved raw. 404 -> SCRAPE404 at once; 5xx / connection / FTP errors retried, then SCRAPEHTTP."""

    def __init__(self, settings: Settings, client: httpx.Client, store: RawStore,
                 stop: threading.Event | None = None) -> None:
        self.s = settings.scrape
        self.client = client
        self.store = store
        self.stop = stop or threading.Event()
        self.requests = 0
        self._rng = random.Random()

    def polite_pause(self) -> None:
        """The jittered pause before every request but the first (zero in the sandbox); interruptible by ``stop``."""
        if self.requests and self.s.delay_max_s > 0:
            self.stop.wait(self._rng.uniform(self.s.delay_min_s, self.s.delay_max_s))
        self.requests += 1

    def get(self, url: str, name: str) -> bytes:
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("http", "https", "ftp"):
            raise PipelineError("SCRAPEHTTP", f"unsupported URL scheme {scheme!r}", {"url": url})
        retrying = Retrying(
            stop=stop_after_attempt(self.s.retries + 1),
            wait=wait_random(self.s.delay_min_s, self.s.delay_max_s),
            retry=retry_if_exception(lambda e: isinstance(e, _Transient)),
            reraise=False,
        )
        try:
            for attempt in retrying:
                with attempt:
                    self.polite_pause()
                    return self._ftp(url, name) if scheme == "ftp" else self._http(url, name)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            assert isinstance(last, _Transient)
            raise PipelineError(last.code, f"{last.msg} after {self.s.retries + 1} attempts",
                                {**last.detail, "attempts": self.s.retries + 1}) from None
        raise AssertionError("unreachable")

    def _http(self, url: str, name: str) -> bytes:
        try:
            r = self.client.get(url, headers={"User-Agent": self.s.user_agent}, timeout=self.s.timeout_s,
                                follow_redirects=True)
        except httpx.HTTPError as exc:
            raise _Transient("SCRAPEHTTP", f"{type(exc).__name__} fetching {name}", {"url": url, "error": str(exc)[:200]}) from exc
        if r.status_code == 200:
            self.store.save(name, r.content)
            return r.content
        self.store.keep_error(f"{name}.http{r.status_code}", r.content)
        detail = {"url": url, "status": r.status_code}
        if r.status_code == 404:
            raise PipelineError("SCRAPE404", f"{name}: HTTP 404", detail)
        if r.status_code >= 500 or r.status_code == 429:
            raise _Transient("SCRAPEHTTP", f"{name}: HTTP {r.status_code}", detail)
        raise PipelineError("SCRAPEHTTP", f"{name}: HTTP {r.status_code}", detail)

    def _ftp(self, url: str, name: str) -> bytes:
        parts = urlsplit(url)
        buf = io.BytesIO()
        ftp = ftplib.FTP(timeout=self.s.timeout_s)
        try:
            ftp.connect(parts.hostname or "", parts.port or 21)
            ftp.login(unquote(parts.username or "anonymous"), unquote(parts.password or "anonymous@"))
            ftp.retrbinary(f"RETR {unquote(parts.path)}", buf.write)
        except (ftplib.Error, OSError, EOFError) as exc:
            self.store.keep_error(f"{name}.ftp-error", str(exc).encode())
            raise _Transient("SCRAPEHTTP", f"FTP {type(exc).__name__} fetching {name}: {str(exc)[:120]}",
                             {"url": f"ftp://{parts.hostname}:{parts.port or 21}{parts.path}"}) from exc
        finally:
            with contextlib.suppress(OSError):
                ftp.close()
        body = buf.getvalue()
        self.store.save(name, body)
        return body


class BaseExchangeScraper(ABC):
    """fetch (raw pages) -> parse (rows of the source) -> clean (map, validate, de-duplicate) for one exchange.
    Abstract: a scraper implements ``fetch`` and ``parse``; ``scrape`` and ``clean`` are shared."""

    code: ClassVar[str] = ""
    description: ClassVar[str] = ""
    uses_browser: ClassVar[bool] = False  # True: built with the job's Chromium (``chromium=``), started ahead for it

    def __init__(self, settings: Settings, fetcher: Fetcher) -> None:
        self.settings = settings
        self.fetcher = fetcher

    @abstractmethod
    def fetch(self) -> list[RawPage]:
        """Download the exchange's raw pages through ``self.fetcher`` (which saves each under ``scrapes_raw/``)."""

    @abstractmethod
    def parse(self, pages: list[RawPage]) -> Iterable[Callable[[], ScrapedListing]]:
        """Yield one thunk per source row; a thunk raises SCRAPEBAD for a row that cannot become a listing."""

    def scrape(self) -> ScrapeResult:
        pages = self.fetch()
        return self.clean(pages, self.parse(pages))

    def clean(self, pages: list[RawPage], rows: Iterable[Callable[[], ScrapedListing]]) -> ScrapeResult:
        seen: dict[str, ScrapedListing] = {}
        skipped: list[dict[str, str]] = []
        for make in rows:
            try:
                item = make()
            except PipelineError as exc:
                if exc.error_code != "SCRAPEBAD":
                    raise
                skipped.append({"msg": exc.msg, **{k: str(v)[:60] for k, v in exc.detail.items()}})
                log.warning(f"{self.code}: row skipped: {exc.msg}", error_code="SCRAPEBAD", detail={"exchange": self.code, **exc.detail})
                continue
            if item.symbol not in seen:
                seen[item.symbol] = item
        return ScrapeResult(self.code, list(seen.values()), skipped, self.fetcher.store.digest(), len(pages))


def bad_row(msg: str, **detail: Any) -> PipelineError:
    return PipelineError("SCRAPEBAD", msg, detail)


def structure_error(exchange: str, msg: str, **detail: Any) -> PipelineError:
    return PipelineError("SCRAPESTRUCT", f"{exchange}: {msg}", {"exchange": exchange, **detail})


SCRAPERS: dict[str, type[BaseExchangeScraper]] = {}


def register(cls: type[BaseExchangeScraper]) -> type[BaseExchangeScraper]:
    SCRAPERS[cls.code] = cls
    return cls


def scraper_classes() -> dict[str, type[BaseExchangeScraper]]:
    """The five scrapers by exchange code (importing their modules registers them; Selenium stays unimported)."""
    from praf_engine.universe import euronext, html_sites, us  # noqa: F401 - registration side effect

    order = ("nasdaq", "arca", "ftse", "dax", "euronext")
    return {code: SCRAPERS[code] for code in order}
