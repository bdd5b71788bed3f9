"""Egress for the fetcher: direct, a proxy list, the NordVPN SOCKS5 service or the NordVPN CLI, rotated with health.

Only the fetcher's sessions use an exit (a proxy on its curl_cffi session); the `nordvpn-cli` kind is the
exception: the CLI re-routes the whole machine, which is why it is documented as machine-wide.
Credentials live only inside the proxy URL handed to curl; names, logs and errors use ``Exit.name``.
Two small files in the home's cache/ outlive a run: the last good NordVPN server list (used when the API is down)
and the exit the next run starts at (so the first batches, and their 429s, do not always land on the first exit).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from praf_engine.atomic import write_atomic
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
SERVER_LIST = "nordvpn_servers.json"  # in cache/: the last NordVPN server list that was fetched and usable
EXIT_STATE = "exits_state.json"  # in cache/: the exit the next run starts at


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


def online_servers(body: Any) -> list[dict[str, str | None]]:
    """The online servers with a station (``hostname``, ``station``) of a ``/v1/servers`` body; ValueError when the
    body is not a list of server records or has no such server."""
    if not isinstance(body, list) or not all(isinstance(s, dict) for s in body):
        raise ValueError("not a list of server records")
    out = [{"hostname": s.get("hostname") or None, "station": str(s["station"])}
           for s in body if s.get("status", "online") == "online" and s.get("station")]
    if not out:
        raise ValueError("no online SOCKS server")
    return out


def server_list(settings: Settings, report: dict[str, Any] | None = None) -> list[dict[str, str | None]]:
    """NordVPN's online SOCKS servers: from the API (then kept in cache/nordvpn_servers.json), else the list kept
    there by the last run that had one, else none (the pool then falls back to direct). ``report`` gets
    ``nordvpn_list``: fresh, kept (with ``nordvpn_list_from``) or none (the nordvpn_list alert reads it)."""
    import httpx

    report = {} if report is None else report
    report["nordvpn_list"] = "none"

    kept = settings.cache_dir / SERVER_LIST
    try:
        response = httpx.get(settings.exits.nordvpn_api_url, timeout=30)
        response.raise_for_status()
        servers = online_servers(response.json())
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
        return _kept_servers(kept, f"{type(exc).__name__}: {exc}"[:300], report)
    report["nordvpn_list"] = "fresh"
    stamp = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    try:
        write_atomic(kept, json.dumps({"fetched_at": stamp, "servers": servers}).encode())
    except OSError as exc:
        log.warning("could not keep the NordVPN server list", detail={"path": str(kept), "error": f"{type(exc).__name__}: {exc}"})
    return servers


def _kept_servers(path: Path, why: str, report: dict[str, Any]) -> list[dict[str, str | None]]:
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
        servers, fetched = online_servers(kept["servers"]), str(kept["fetched_at"])
    except FileNotFoundError:
        log.warning("NordVPN server list unavailable and none kept from an earlier run", error_code="EXITFAIL",
                    detail={"error": why})
        return []
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("NordVPN server list unavailable and the kept one is unreadable", error_code="EXITFAIL",
                    detail={"error": why, "kept": str(path), "kept_error": f"{type(exc).__name__}: {exc}"[:300]})
        return []
    report.update(nordvpn_list="kept", nordvpn_list_from=fetched[:10])
    log.warning(f"NordVPN server list unavailable; using the list from {fetched[:10]}", error_code="EXITFAIL",
                detail={"error": why, "fetched_at": fetched, "servers": len(servers)})
    return servers


def nordvpn_exits(settings: Settings, report: dict[str, Any] | None = None) -> list[Exit]:
    """SOCKS5 exits from NordVPN's server list (station = address), with the service credentials from the environment;
    none when no list is available."""
    user = settings.nordvpn_user.get_secret_value() if settings.nordvpn_user else None
    password = settings.nordvpn_password.get_secret_value() if settings.nordvpn_password else None
    auth = f"{quote(user, safe='')}:{quote(password or '', safe='')}@" if user else ""
    port = settings.exits.nordvpn_port
    return [Exit(f"nordvpn:{s['hostname'] or s['station']}", f"socks5h://{auth}{s['station']}:{port}", cli_server=s["hostname"])
            for s in server_list(settings, report)]


def build_exits(settings: Settings, report: dict[str, Any] | None = None) -> list[Exit]:
    """The exits the settings describe (direct is always the fallback, not part of the rotation); an empty list
    (no NordVPN server list) makes the pool fall back to direct at once. ``report``: see ``server_list``."""
    kind = settings.exits.kind
    if kind == "direct":
        return [Exit(DIRECT)]
    if kind == "proxies":
        if not settings.exits.proxies:
            raise PipelineError("CONFIGBAD", "exits.kind = proxies needs exits.proxies", {"setting": "exits.proxies"})
        return [Exit(_safe_name(url), url) for url in settings.exits.proxies]
    exits = nordvpn_exits(settings, report)
    if kind == "nordvpn-cli":
        return [Exit(f"nordvpn-cli:{e.cli_server}", None, cli_server=e.cli_server) for e in exits if e.cli_server]
    return exits


def run_nordvpn_cli(cmd: list[str]) -> int:
    """Run the NordVPN CLI; its exit status (124, as timeout(1) says, when it hangs past 60 s)."""
    try:
        return subprocess.run(cmd, capture_output=True, timeout=60).returncode
    except subprocess.TimeoutExpired:
        return 124


@dataclass
class ExitPool:
    """Rotation over the exits: every ``rotate_every`` tickers, away from 429 storms, with cooldown and fallback.
    The first exit of a run is the one after the last exit the previous run chose (``state_path``, default
    cache/exits_state.json), so the first batches of every night do not all land on the same exit."""

    settings: Settings
    exits: list[Exit]
    session_factory: Callable[[str | None], Any]  # the wiring's Yahoo session factory: proxy URL -> session
    clock: Callable[[], float] = time.monotonic
    run_cli: Callable[[list[str]], int] | None = None
    state_path: Path | None = None
    vpn_failed: bool = False
    connect_failures: int = 0
    _index: int = -1
    _since_rotation: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _direct: Exit | None = None
    _start: int = 0
    _state_warned: bool = False

    def __post_init__(self) -> None:
        self.batch_size = self.settings.fetch.batch_size
        if [e.name for e in self.exits] == [DIRECT]:
            self._direct = self.exits[0]
            self._index = 0
        elif self.exits:
            self.state_path = self.state_path or self.settings.cache_dir / EXIT_STATE
            self._start = self._load_start()

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
            exit_.session = self.session_factory(exit_.proxy_url)
        return exit_

    def _load_start(self) -> int:
        """The index of the exit the previous run said to start at (by name; by position if the list changed), else 0."""
        assert self.state_path is not None
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
            names = [e.name for e in self.exits]
            return names.index(state["next"]) if state.get("next") in names else int(state.get("index", 0)) % len(names)
        except FileNotFoundError:
            return 0
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            log.warning("exit rotation state unreadable; starting at the first exit",
                        detail={"path": str(self.state_path), "error": f"{type(exc).__name__}: {exc}"[:300]})
            return 0

    def _save_next(self, chosen: int) -> None:
        """Keep the exit after ``chosen`` as the next run's first (a failed write only loses the spreading)."""
        if self.state_path is None:
            return
        after = (chosen + 1) % len(self.exits)
        try:
            write_atomic(self.state_path, json.dumps({"next": self.exits[after].name, "index": after}).encode())
        except OSError as exc:
            if not self._state_warned:
                self._state_warned = True
                log.warning("could not keep the exit rotation state", detail={"path": str(self.state_path), "error": str(exc)[:300]})

    def _rotate(self) -> None:
        """Next live exit not cooling down (else the one whose cooldown ends first); probe it; fall back after N failures."""
        self._since_rotation = 0
        n = len(self.exits)
        while self._direct is None:
            alive = [i for i in range(n) if not self.exits[i].dead]
            if not alive:
                self._fallback("no exit left" if n else "no exit available")
                return
            now = self.clock()
            base = self._index if self._index >= 0 else self._start - 1  # the run's first rotation starts at _start
            order = [(base + k) % n for k in range(1, n + 1)]
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
            self._save_next(choice)
            log.info("exit in use", detail={"exit": candidate.name})
            return

    def _connect(self, exit_: Exit) -> None:
        if exit_.cli_server is not None and exit_.proxy_url is None:  # nordvpn-cli: machine-wide reconnect
            runner = self.run_cli or run_nordvpn_cli
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
