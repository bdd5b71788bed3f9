"""Start the whole sandbox in one process (threads, loopback ports) and point a PRAF home at it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from praf_engine.config import Key, Settings
from praf_engine.logs import get_logger
from praf_engine.sandbox.exits import ExitPool
from praf_engine.sandbox.httpserver import LoopbackHTTPServer
from praf_engine.sandbox.market import Market
from praf_engine.sandbox.nordvpn import NordVPNList
from praf_engine.sandbox.sites import NasdaqFtpServer, SitesServer
from praf_engine.sandbox.telegram import TelegramStub
from praf_engine.sandbox.wiring import fault_config, sandbox_wiring
from praf_engine.sandbox.yahoo import YahooEmulator
from praf_engine.wiring import Wiring

log = get_logger(__name__)


@dataclass(frozen=True)
class Endpoints:
    http_url: str
    yahoo_url: str
    ftp_url: str
    telegram_url: str
    exit_urls: tuple[str, ...]
    exit_port: int


def _port(url: str) -> int:
    return urlsplit(url).port or 0


class Sandbox:
    """The exchange sites (HTTP + FTP), the Yahoo emulator, the Telegram stub, NordVPN's list and K SOCKS5 exits."""

    def __init__(self, market: Market, *, http_port: int = 0, yahoo_port: int = 0, ftp_port: int = 0,
                 telegram_port: int = 0, exits: int = 4, exit_port: int = 0,
                 rate_limit_requests: int = 950, rate_limit_window_s: float = 600.0) -> None:
        self.market = market
        self.pool: ExitPool | None = None  # started in start(): an ExitPool binds when it is built
        self._exits, self._exit_port = exits, exit_port
        self.nordvpn = NordVPNList(lambda: self.pool)  # NordVPN's server list over the exits (set_fault: unavailable)
        routes = {"/v1/servers": self.nordvpn} if exits else {}
        self.sites = SitesServer(market, port=http_port, extra_routes=routes)
        self.ftp = NasdaqFtpServer(market, port=ftp_port)
        self.yahoo = YahooEmulator(market, rate_limit_requests=rate_limit_requests, rate_limit_window_s=rate_limit_window_s)
        self.yahoo_server = LoopbackHTTPServer(self.yahoo, port=yahoo_port)
        self.telegram = TelegramStub(port=telegram_port)
        self._started: list[Any] = []

    @classmethod
    def from_settings(cls, settings: Settings, *, fixed_ports: bool = True) -> Sandbox:
        """The sandbox the settings describe; ``fixed_ports=False`` takes free ports (tests, `demo`)."""
        s = settings.sandbox
        market = Market(size=s.size, seed=s.seed, today=s.today or dt.datetime.now(dt.UTC).date(), faults=fault_config(s))
        ports: dict[str, int] = {}
        if fixed_ports:
            ports = {"http_port": _port(s.http_url), "yahoo_port": _port(s.yahoo_url), "ftp_port": _port(s.ftp_url),
                     "telegram_port": _port(s.telegram_url), "exit_port": s.exit_port}
        return cls(market, exits=s.exits, rate_limit_requests=s.rate_limit_requests,
                   rate_limit_window_s=s.rate_limit_window_s, **ports)

    def start(self) -> Sandbox:
        try:
            if self._exits:
                self.pool = ExitPool(self._exits, port=self._exit_port)
                self._started.append(self.pool)
            for part in (self.sites, self.ftp, self.yahoo_server, self.telegram):
                part.start()
                self._started.append(part)
        except BaseException:
            self.stop()
            raise
        log.info("sandbox started", detail={"endpoints": self.endpoints.__dict__, "listings": len(self.market.universe())})
        return self

    def stop(self) -> None:
        while self._started:
            part = self._started.pop()
            try:
                part.stop()
            except Exception as exc:  # noqa: BLE001 - stopping must reach every part
                log.warning("sandbox part did not stop cleanly", detail={"part": type(part).__name__, "error": repr(exc)})

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoints(self) -> Endpoints:
        return Endpoints(
            http_url=self.sites.url, yahoo_url=self.yahoo_server.url, ftp_url=self.ftp.url,
            telegram_url=self.telegram.api_url,
            exit_urls=tuple(self.pool.urls) if self.pool else (), exit_port=self.pool.port if self.pool else 0,
        )

    def settings_overrides(self) -> dict[Key, Any]:
        """Overrides for ``load_settings`` that point a PRAF home at this running sandbox, its SOCKS5 exits included
        (the Yahoo emulator rate-limits per source address: a fetch from 127.0.0.1 alone would run into it)."""
        e = self.endpoints
        out: dict[Key, Any] = {
            ("sources",): "sandbox", ("sandbox", "http_url"): e.http_url, ("sandbox", "yahoo_url"): e.yahoo_url,
            ("sandbox", "ftp_url"): e.ftp_url, ("sandbox", "telegram_url"): e.telegram_url,
            ("sandbox", "seed"): self.market.seed, ("sandbox", "size"): self.market.size,
            ("sandbox", "today"): self.market.today.isoformat(),
        }
        if self.pool:
            out[("sandbox", "exit_port")] = e.exit_port
            out[("sandbox", "exits")] = len(e.exit_urls)
            out[("exits", "kind")] = "proxies"
            out[("exits", "proxies")] = list(e.exit_urls)
        return out

    def wiring(self, settings: Settings, db: Any = None) -> Wiring:
        """The wiring of a home pointed at this running sandbox (``settings`` loaded with ``settings_overrides``): the
        sandbox's profile and sessions, and a clock on the market's date, which follows the market when it moves on."""
        return sandbox_wiring(settings, today=lambda: self.market.today, db=db)

    def settings_toml(self) -> str:
        """A settings.toml snippet for a PRAF home that should use this sandbox (the same as ``settings_overrides``)."""
        sections: dict[str, list[str]] = {}
        for (section, *rest), value in self.settings_overrides().items():
            if not rest:
                continue  # top-level keys go first, below
            shown = "[" + ", ".join(f'"{v}"' for v in value) + "]" if isinstance(value, list) else repr(value).replace("'", '"')
            sections.setdefault(section, []).append(f"{rest[0]} = {shown}")
        lines = ['sources = "sandbox"']
        for section, entries in sections.items():
            lines += ["", f"[{section}]", *entries]
        return "\n".join(lines) + "\n"
