"""The world a process works in, built once at its entry point: settings, database, Yahoo sessions, HTTP clients,
clock and lake (the model: httpx's ``transport=``, one parameter with a real and a stand-in implementation).

Jobs get it through ``JobContext`` and never build these themselves; production code never asks whether it runs in
the sandbox: the sandbox hands in its own wiring (``praf_engine.sandbox.wiring``), chosen by the entry point.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from praf_engine.config import Settings
from praf_engine.db.models import utcnow

if TYPE_CHECKING:
    import httpx
    from peewee import Database

    from praf_engine.lake import Lake

YahooSessionFactory = Callable[[str | None], Any]  # proxy URL (None: direct) -> a recording curl_cffi session
HttpClientFactory = Callable[[], "httpx.Client"]  # a new client for the scrapers (the caller closes it)
Clock = Callable[[], dt.datetime]  # naive UTC "now"; the fetch's night is its date


class LakeHandle:
    """A wiring's lake, opened when first used: pyarrow and numpy (~65 MB resident, 0.08 s to import) load only in a
    process that reads or writes the lake, not in the idle daemon, at the dashboard's start or in a CLI command that
    never touches it. The copies of a wiring (``with_db``, ``with_clock``, new settings) share one handle, so one Lake
    (and its per-symbol write locks) serves the process, as before."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._lake: Lake | None = None
        self._lock = threading.Lock()

    def get(self) -> Lake:
        with self._lock:
            if self._lake is None:
                from praf_engine.lake import Lake

                self._lake = Lake(self.root)
            return self._lake


@dataclass(frozen=True)
class Wiring:
    """One per process (``production`` or the sandbox's); ``db`` is set once the entry point opened the database."""

    settings: Settings
    yahoo_session: YahooSessionFactory
    http_client: HttpClientFactory
    clock: Clock
    lake_handle: LakeHandle
    db: Database | None = None

    @property
    def lake(self) -> Lake:
        return self.lake_handle.get()

    @classmethod
    def production(cls, settings: Settings, db: Database | None = None) -> Wiring:
        """The real world: curl_cffi impersonating Chrome for Yahoo, httpx with PRAF's User-Agent, the UTC clock."""
        return cls(settings=settings, yahoo_session=chrome_session, http_client=http_client_factory(settings),
                   clock=utcnow, lake_handle=LakeHandle(settings.lake_dir), db=db)

    def with_db(self, db: Database) -> Wiring:
        return dataclasses.replace(self, db=db)

    def with_clock(self, clock: Clock) -> Wiring:
        return dataclasses.replace(self, clock=clock)


def chrome_session(proxy_url: str | None = None) -> Any:
    """The production Yahoo session: curl_cffi impersonating Chrome, through one exit's proxy when given."""
    from praf_engine.fetch.client import RecordingSession

    return RecordingSession(impersonate="chrome", proxies={"http": proxy_url, "https": proxy_url} if proxy_url else None)


def http_client_factory(settings: Settings) -> HttpClientFactory:
    """New httpx clients that send PRAF's User-Agent to the exchange sites."""

    def make() -> httpx.Client:
        import httpx

        return httpx.Client(headers={"User-Agent": settings.scrape.user_agent})

    return make
