"""Egress for the fetcher: direct, a proxy list, the NordVPN SOCKS5 service or the NordVPN CLI, rotated with health.

Only the fetcher's sessions use an exit (a proxy on its curl_cffi session); the `nordvpn-cli` kind is the
exception: the CLI re-routes the whole machine, which is why it is documented as machine-wide.
Credentials live only inside the proxy URL handed to curl; names, logs and errors use ``Exit.name``.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from praf_engine.config import Settings
from praf_engine.errors import PipelineError
from praf_engine.logs import get_logger

log = get_logger(__name__)


@dataclass
class Exit:
    """One egress. ``proxy_url`` may hold credentials: never log it, log ``name``."""

    name: str
    proxy_url: str | None = None
    cli_server: str | None = None  # nordvpn-cli: the server to `nordvpn connect` to
    ok: int = 0
    rate_limited: int = 0
    failures: int = 0
    cooldown_until: float = 0.0
    dead: bool = False
    session: Any = None

    def health(self) -> dict[str, Any]:
        return {"ok": self.ok, "rate_limited": self.rate_limited, "failures": self.failures, "dead": self.dead}


DIRECT = "direct"


def _safe_name(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port}"


def probe(exit_: Exit, timeout: float = 5.0) -> None:
    """Connect to the exit's proxy and, for SOCKS5, negotiate (and authenticate); raises OSError on failure."""
    if exit_.proxy_url is None:
        return
    parts = urlsplit(exit_.proxy_url)
    with socket.create_connection((parts.hostname, parts.port or 1080), timeout=timeout) as sock:
        if not parts.scheme.startswith("socks5"):
            return
        user, password = parts.username, parts.password
        sock.sendall(b"\x05\x02\x00\x02" if user else b"\x05\x01\x00")
        reply = sock.recv(2)
        if len(reply) != 2 or reply[0] != 5 or reply[1] == 0xFF:
            raise ConnectionRefusedError("the SOCKS5 exit accepted no authentication method")
        if reply[1] == 2:
            u, p = (user or "").encode(), (password or "").encode()
            sock.sendall(b"\x01" + struct.pack("B", len(u)) + u + struct.pack("B", len(p)) + p)
            status = sock.recv(2)
            if len(status) != 2 or status[1] != 0:
                raise PermissionError("the SOCKS5 exit refused the credentials")


def nordvpn_exits(settings: Settings, get: Callable[[str], Any] | None = None) -> list[Exit]:
    """SOCKS5 exits from NordVPN's server list (station = address), with the service credentials from the environment."""
    import httpx

    try:
        if get is None:
            response = httpx.get(settings.exits.nordvpn_api_url, timeout=30)
            response.raise_for_status()
            servers = response.json()
        else:
            servers = get(settings.exits.nordvpn_api_url)
    except (httpx.HTTPError, ValueError) as exc:
        raise PipelineError("EXITFAIL", f"NordVPN server list unavailable: {type(exc).__name__}", {}) from None
    user = settings.nordvpn_user.get_secret_value() if settings.nordvpn_user else None
    password = settings.nordvpn_password.get_secret_value() if settings.nordvpn_password else None
    auth = f"{quote(user, safe='')}:{quote(password or '', safe='')}@" if user else ""
    port = settings.exits.nordvpn_port
    out = []
    for server in servers:
        if server.get("status", "online") != "online" or not server.get("station"):
            continue
        name = f"nordvpn:{server.get('hostname') or server['station']}"
        out.append(Exit(name, f"socks5h://{auth}{server['station']}:{port}", cli_server=server.get("hostname")))
    if not out:
        raise PipelineError("EXITFAIL", "NordVPN server list has no online SOCKS server", {})
    return out


def build_exits(settings: Settings) -> list[Exit]:
    """The exits the settings describe (direct is always the fallback, not part of the rotation)."""
    kind = settings.exits.kind
    if kind == "direct":
        return [Exit(DIRECT)]
    if kind == "proxies":
        if not settings.exits.proxies:
            raise PipelineError("CONFIGBAD", "exits.kind = proxies needs exits.proxies", {"setting": "exits.proxies"})
        return [Exit(_safe_name(url), url) for url in settings.exits.proxies]
    exits = nordvpn_exits(settings)
    if kind == "nordvpn-cli":
        return [Exit(f"nordvpn-cli:{e.cli_server}", None, cli_server=e.cli_server) for e in exits]
    return exits


@dataclass
class ExitPool:
    """Rotation over the exits: every ``rotate_every`` tickers, away from 429 storms, with cooldown and fallback."""

    settings: Settings
    exits: list[Exit]
    session_factory: Callable[[Settings, str | None], Any]
    clock: Callable[[], float] = time.monotonic
    run_cli: Callable[[list[str]], int] | None = None
    vpn_failed: bool = False
    connect_failures: int = 0
    _index: int = -1
    _since_rotation: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _direct: Exit | None = None

    def __post_init__(self) -> None:
        self.batch_size = self.settings.fetch.batch_size
        if [e.name for e in self.exits] == [DIRECT]:
            self._direct = self.exits[0]
            self._index = 0

    @property
    def direct_only(self) -> bool:
        return self._direct is not None

    def current(self) -> Exit:
        """The exit to use now, connecting (probing) a new one if needed."""
        with self._lock:
            if self._direct is not None:
                return self._ensure_session(self._direct)
            if self._index < 0 or self.exits[self._index].dead or self._since_rotation >= self.settings.exits.rotate_every \
                    or self.exits[self._index].cooldown_until > self.clock():
                self._rotate()
            if self._direct is not None:
                return self._ensure_session(self._direct)
            return self._ensure_session(self.exits[self._index])

    def _ensure_session(self, exit_: Exit) -> Exit:
        if exit_.session is None:
            exit_.session = self.session_factory(self.settings, exit_.proxy_url)
        return exit_

    def _rotate(self) -> None:
        """Next live exit not cooling down (else the one whose cooldown ends first); probe it; fall back after N failures."""
        self._since_rotation = 0
        n = len(self.exits)
        while self._direct is None:
            alive = [i for i in range(n) if not self.exits[i].dead]
            if not alive:
                self._fallback("no exit left")
                return
            now = self.clock()
            order = [(self._index + k) % n for k in range(1, n + 1)]
            ready = [i for i in order if i in alive and self.exits[i].cooldown_until <= now]
            choice = ready[0] if ready else min(alive, key=lambda i: self.exits[i].cooldown_until)
            candidate = self.exits[choice]
            try:
                self._connect(candidate)
            except OSError as exc:
                candidate.dead = True
                candidate.failures += 1
                self.connect_failures += 1
                log.warning("exit failed to connect", error_code="EXITFAIL",
                            detail={"exit": candidate.name, "error": type(exc).__name__, "failures": self.connect_failures})
                if self.connect_failures >= self.settings.exits.max_connect_failures:
                    self._fallback(f"{self.connect_failures} failed connects")
                continue
            self._index = choice
            log.info("exit in use", detail={"exit": candidate.name})
            return

    def _connect(self, exit_: Exit) -> None:
        if exit_.cli_server is not None and exit_.proxy_url is None:  # nordvpn-cli: machine-wide reconnect
            runner = self.run_cli or (lambda cmd: subprocess.run(cmd, capture_output=True, timeout=60).returncode)
            if runner(["nordvpn", "connect", exit_.cli_server]) != 0:
                raise ConnectionError("nordvpn connect failed")
            return
        probe(exit_)

    def _fallback(self, why: str) -> None:
        self.vpn_failed = True
        self.batch_size = max(1, self.settings.fetch.batch_size // 2)
        self._direct = Exit(DIRECT)
        log.warning("VPN fallback: fetching direct with half batch size", error_code="EXITFAIL",
                    detail={"reason": why, "batch_size": self.batch_size, "vpn_fail": True})

    def record(self, exit_: Exit, symbols: int, ok: int, rate_limited: int, unreachable: int) -> None:
        """Account a finished download on ``exit_``: a 429 storm cools it down, a dead connection kills it."""
        with self._lock:
            exit_.ok += ok
            exit_.rate_limited += rate_limited
            self._since_rotation += symbols
            if exit_ is self._direct or exit_.name == DIRECT:
                return
            if unreachable and not ok:
                exit_.failures += 1
                exit_.dead = True
                self.connect_failures += 1
                log.warning("exit lost its connection", error_code="EXITFAIL", detail={"exit": exit_.name})
                if self.connect_failures >= self.settings.exits.max_connect_failures:
                    self._fallback(f"{self.connect_failures} failed connects")
            elif rate_limited:
                exit_.cooldown_until = self.clock() + self.settings.exits.cooldown_s
                log.warning("exit rate limited; rotating", error_code="YF429", detail={"exit": exit_.name, "rate_limited": rate_limited})
                if self.exits[self._index] is exit_:
                    self._since_rotation = self.settings.exits.rotate_every  # rotate on the next call

    def health(self) -> dict[str, Any]:
        out = {e.name: e.health() for e in self.exits}
        if self._direct is not None and self._direct not in self.exits:
            out[DIRECT] = self._direct.health()
        return out

    def close(self) -> None:
        for e in [*self.exits, *([self._direct] if self._direct else [])]:
            if e.session is not None:
                with contextlib.suppress(Exception):  # closing must reach every session
                    e.session.close()
                e.session = None
