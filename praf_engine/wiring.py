"""The world a process works in, built once at its entry point: settings, database, Yahoo sessions, HTTP clients,
clock and lake (the model: httpx's ``transport=``, one parameter with a real and a stand-in implementation).

Jobs get it through ``JobContext`` and never build these themselves; production code never asks whether it runs in
the sandbox: the sandbox hands in its own wiring (``praf_engine.sandbox.wiring``), chosen by the entry point.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Wiring:
    """One per process (``production`` or the sandbox's); ``db`` is set once the entry point opened the database."""

    settings: Settings
    yahoo_session: YahooSessionFactory
    http_client: HttpClientFactory
    clock: Clock
    lake: Lake
    db: Database | None = None

    @classmethod
    def production(cls, settings: Settings, db: Database | None = None) -> Wiring:
        """The real world: curl_cffi impersonating Chrome for Yahoo, httpx with PRAF's User-Agent, the UTC clock."""
        from praf_engine.lake import Lake

        return cls(settings=settings, yahoo_session=chrome_session, http_client=http_client_factory(settings),
                   clock=utcnow, lake=Lake(settings.lake_dir), db=db)

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
