"""Emulated VPN/proxy exits for the offline sandbox: SOCKS5 servers on 127.0.0.x, each egressing from its own address."""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import selectors
import socket
import struct
import threading
from typing import Any
from urllib.parse import quote

import structlog

log = structlog.get_logger(__name__)

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
FAILURE_MODES = ("none", "refuse", "auth", "drop")
CHUNK = 64 * 1024
MAX_PENDING = 4 * CHUNK  # stop reading a side while this much is still queued for its peer (back-pressure)
# SOCKS5 reply codes (RFC 1928 §6)
OK, GENERAL_FAILURE, NOT_ALLOWED, HOST_UNREACHABLE, CONN_REFUSED, BAD_COMMAND, BAD_ATYP = 0, 1, 2, 4, 5, 7, 8
_READ, _WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE
STAT_KEYS = ("connections", "active", "bytes_up", "bytes_down", "auth_failures", "refused", "not_allowed",
             "upstream_connects", "dropped")


def _check_mode(mode: str) -> str:
    if mode not in FAILURE_MODES:
        raise ValueError(f"failure mode must be one of {FAILURE_MODES}, not {mode!r}")
    return mode


def _loopback(address: str) -> str:
    """``address`` if it is an IPv4 address in 127.0.0.0/8, else ValueError (nothing here leaves loopback)."""
    if ipaddress.ip_address(address) not in LOOPBACK:
        raise ValueError(f"{address} is not in 127.0.0.0/8")
    return address


class _Conn:
    """A client socket and, once connected, its upstream. ``kill`` (any thread) only shuts them down, which
    wakes the owning thread; only the owner closes them, so a killer never touches a reused fd."""

    def __init__(self, client: socket.socket) -> None:
        self.client = client
        self.upstream: socket.socket | None = None
        self.killed = self.closed = False
        self.lock = threading.Lock()

    def attach(self, upstream: socket.socket) -> bool:
        with self.lock:
            self.upstream = None if self.killed else upstream
            return not self.killed

    def kill(self) -> None:
        with self.lock:
            self.killed = True
            for sock in (s for s in (self.client, self.upstream) if s is not None and not self.closed):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        with self.lock:
            self.closed = True
            for sock in (s for s in (self.client, self.upstream) if s is not None):
                if self.killed:  # abortive close (RST): no TIME_WAIT left behind on the exit's port
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()


class SocksExitServer:
    """A threaded SOCKS5 server (RFC 1928 CONNECT, RFC 1929 user/password) whose upstream connections leave
    from ``source_address``, so the server behind it sees a distinct client IP per exit.

    Only destinations in 127.0.0.0/8 are allowed; others get reply 0x02 and are never connected. Domain names
    (socks5h) resolve locally without DNS: IP literals, ``localhost``/``*.localhost`` and the ``hosts`` map.
    """

    def __init__(self, listen_host: str | None, port: int, source_address: str, *,
                 username: str | None = None, password: str | None = None, failure: str = "none",
                 drop_after: int = 512, hosts: dict[str, str] | None = None,
                 connect_timeout: float = 5.0, handshake_timeout: float = 10.0) -> None:
        if (username is None) != (password is None):
            raise ValueError("give both username and password, or neither")
        self.source_address = _loopback(source_address)
        self.listen_host = _loopback(listen_host or source_address)
        self._port = port
        self._creds = (username.encode(), password.encode()) if username is not None and password is not None else None
        self._failure = _check_mode(failure)
        self.drop_after = drop_after
        self.hosts = {k.lower(): _loopback(v) for k, v in (hosts or {}).items()}
        self.connect_timeout, self.handshake_timeout = connect_timeout, handshake_timeout
        self._lock = threading.Lock()  # state and counters; _control serialises start/stop/set_failure
        self._control = threading.Lock()
        self._listener: socket.socket | None = None  # None while not listening ("refuse", stopped)
        self._live: set[_Conn] = set()
        self._threads: set[threading.Thread] = set()  # accept and connection threads, joined by stop()
        self._started = self._stopped = False
        self._stats = dict.fromkeys(STAT_KEYS, 0)

    port = property(lambda self: self._port, doc="The listening port (the real one once started).")
    address = property(lambda self: self.listen_host, doc="The address clients connect to.")
    failure = property(lambda self: self._failure, doc="The current failure mode.")

    @property
    def url(self) -> str:
        """``socks5h://user:pass@host:port`` (credentials percent-encoded), or without credentials."""
        auth = ":".join(quote(c.decode(), safe="") for c in self._creds) + "@" if self._creds else ""
        return f"socks5h://{auth}{self.listen_host}:{self._port}"

    @property
    def stats(self) -> dict[str, int]:
        """A snapshot of the counters named in ``STAT_KEYS``."""
        with self._lock:
            return dict(self._stats)

    def __repr__(self) -> str:  # never shows the credentials
        return f"<SocksExitServer {self.listen_host}:{self._port} via {self.source_address} failure={self._failure}>"

    def start(self) -> SocksExitServer:
        with self._control:
            if self._started:
                return self
            self._listen()  # binds even in "refuse" mode, to fix the port
            self._started = True
            if self._failure == "refuse":
                self._unlisten()
            log.debug("socks_exit.started", address=self.listen_host, port=self._port, source=self.source_address)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Close the listener and every live relay (RST), join all threads. Idempotent."""
        with self._control:
            if not self._started or self._stopped:
                return
            self._stopped = True
            self._unlisten()
        joined: set[threading.Thread] = set()
        while True:  # rounds: a connection accepted just before the listener went down joins the next one
            with self._lock:
                live, threads = list(self._live), [t for t in self._threads if t not in joined]
            if not threads:
                break
            for conn in live:
                conn.kill()
            for thread in threads:
                thread.join(timeout)
                joined.add(thread)
        log.debug("socks_exit.stopped", address=self.listen_host, port=self._port)

    def set_failure(self, mode: str, *, cut_live: bool = True) -> None:
        """Switch the failure mode, effective for the next connection: ``none``; ``refuse`` (not listening:
        connection refused); ``auth`` (every authentication fails, status 0x01); ``drop`` (each relay closes
        after ``drop_after`` bytes downstream). Entering a failure mode also cuts the live relays, as a dying
        exit would (a kept-alive client connection would otherwise never notice), unless ``cut_live=False``."""
        with self._control:
            with self._lock:
                previous, self._failure = self._failure, _check_mode(mode)
                live = list(self._live) if cut_live and mode != "none" else []
            log.debug("socks_exit.failure", address=self.listen_host, mode=mode)
            if self._started and not self._stopped and (mode == "refuse") != (previous == "refuse"):
                if mode == "refuse":
                    self._unlisten()
                else:
                    try:
                        self._listen()  # listening again before we return: the next client connects
                    except OSError:  # the port was taken meanwhile: still refusing
                        self._failure = "refuse"
                        raise
        for conn in live:
            conn.kill()

    def __enter__(self) -> SocksExitServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- listener: one blocking accept thread per listening socket ------------------------------------
    def _listen(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.listen_host, self._port))
            sock.listen(128)
        except OSError:
            sock.close()
            raise
        self._port = sock.getsockname()[1]
        thread = threading.Thread(target=self._accept_loop, args=(sock,), name=f"socks-exit-{self.listen_host}",
                                  daemon=True)
        with self._lock:
            self._listener = sock
            self._threads.add(thread)
        thread.start()

    def _unlisten(self) -> None:
        """Stop listening now: new connects are refused at once (Linux: shutdown() leaves the LISTEN state
        and wakes the blocked accept(); its thread then closes the socket, so no fd is closed twice)."""
        with self._lock:
            sock, self._listener = self._listener, None
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _accept_loop(self, listener: socket.socket) -> None:
        try:
            while True:
                try:
                    client, _ = listener.accept()
                except OSError:
                    if listener is not self._listener:
                        return  # shut down by _unlisten
                    continue  # a client that reset before accept
                conn = _Conn(client)
                thread = threading.Thread(target=self._handle, args=(conn,), daemon=True,
                                          name=f"socks-exit-{self.listen_host}-conn")
                with self._lock:
                    self._stats["connections"] += 1
                    self._stats["active"] += 1
                    self._live.add(conn)
                    self._threads.add(thread)
                try:
                    thread.start()
                except RuntimeError:  # cannot start a thread: drop this client, keep listening
                    self._forget(conn, thread)
        finally:
            listener.close()
            with self._lock:
                self._threads.discard(threading.current_thread())

    # -- one connection -----------------------------------------------------------------------------
    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._stats[key] += n

    def _handle(self, conn: _Conn) -> None:
        try:
            self._serve(conn)
        except OSError:  # the client (or upstream) went away, or the exit was stopped
            pass
        except Exception as exc:  # a bug must not print a traceback from a worker thread
            log.debug("socks_exit.error", address=self.listen_host, error=repr(exc))
        finally:
            self._forget(conn, threading.current_thread())

    def _forget(self, conn: _Conn, thread: threading.Thread) -> None:
        conn.close()
        with self._lock:
            self._stats["active"] -= 1
            self._live.discard(conn)
            self._threads.discard(thread)

    def _serve(self, conn: _Conn) -> None:
        client, mode = conn.client, self._failure
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.settimeout(self.handshake_timeout)
        version, nmethods = _recv_exact(client, 2)
        if version != 5 or not self._negotiate(client, _recv_exact(client, nmethods), mode):
            return
        version, cmd, _, atyp = _recv_exact(client, 4)
        if version != 5:
            return
        if atyp not in (1, 3):
            if atyp == 4:  # IPv6: read it to answer cleanly; these exits serve IPv4 loopback only
                _recv_exact(client, 18)
            return self._reply(client, BAD_ATYP)
        raw = _recv_exact(client, 4) if atyp == 1 else _recv_exact(client, _recv_exact(client, 1)[0])
        host = socket.inet_ntoa(raw) if atyp == 1 else raw.decode("ascii", "replace")
        port = struct.unpack("!H", _recv_exact(client, 2))[0]
        if cmd != 1:  # BIND, UDP ASSOCIATE
            return self._reply(client, BAD_COMMAND)
        if (target := self._resolve(host)) is None:
            self._count("not_allowed")
            log.debug("socks_exit.not_allowed", address=self.listen_host, destination=host[:255], port=port)
            return self._reply(client, NOT_ALLOWED)
        self._count("upstream_connects")
        try:
            upstream = socket.create_connection((target, port), timeout=self.connect_timeout,
                                                source_address=(self.source_address, 0))
        except OSError as exc:
            codes = {ConnectionRefusedError: CONN_REFUSED, TimeoutError: HOST_UNREACHABLE}
            return self._reply(client, codes.get(type(exc), GENERAL_FAILURE))
        if not conn.attach(upstream):
            upstream.close()
            return
        upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._reply(client, OK, upstream.getsockname())
        self._relay(conn, client, upstream, self.drop_after if mode == "drop" else None)

    def _negotiate(self, client: socket.socket, methods: bytes, mode: str) -> bool:
        need_auth = mode == "auth" or self._creds is not None
        if 0 in methods and not need_auth:
            client.sendall(b"\x05\x00")
            return True
        if 2 not in methods:
            if need_auth:
                self._count("auth_failures")
            client.sendall(b"\x05\xff")  # no acceptable method
            return False
        client.sendall(b"\x05\x02")
        version, ulen = _recv_exact(client, 2)
        user = _recv_exact(client, ulen)
        password = _recv_exact(client, _recv_exact(client, 1)[0])
        ok = version == 1 and mode != "auth"
        if ok and self._creds is not None:
            ok = hmac.compare_digest(user, self._creds[0]) & hmac.compare_digest(password, self._creds[1])
        if not ok:
            self._count("auth_failures")  # before the reply: a client that saw it sees the count too
        client.sendall(b"\x01\x00" if ok else b"\x01\x01")
        return ok

    def _resolve(self, host: str) -> str | None:
        """A loopback IPv4 address for ``host``, or None when not allowed. Never asks DNS."""
        name = host.lower().rstrip(".")
        if name == "localhost" or name.endswith(".localhost"):
            return "127.0.0.1"
        try:
            address = ipaddress.ip_address(self.hosts.get(name, name))
        except ValueError:
            return None
        return str(address) if address.version == 4 and address in LOOPBACK else None

    def _reply(self, client: socket.socket, code: int, bound: tuple[str, int] = ("0.0.0.0", 0)) -> None:
        if code != OK:
            self._count("refused")
        client.sendall(struct.pack("!BBBB4sH", 5, code, 0, 1, socket.inet_aton(bound[0]), bound[1]))

    def _relay(self, conn: _Conn, client: socket.socket, upstream: socket.socket, drop_after: int | None) -> None:
        """Copy both ways until both sides have closed (half-closes are forwarded), a side fails, or the
        connection is killed; in drop mode, stop after ``drop_after`` bytes downstream."""
        peer = {client: upstream, upstream: client}
        pending = {client: bytearray(), upstream: bytearray()}  # bytes waiting to be sent TO the socket
        eof = {client: False, upstream: False}
        registered = {client: 0, upstream: 0}
        down, dropping = 0, False
        client.setblocking(False)
        upstream.setblocking(False)
        with selectors.DefaultSelector() as sel:
            while not conn.killed:
                if dropping and not pending[client]:
                    self._count("dropped")
                    client.shutdown(socket.SHUT_WR)  # FIN right after the truncated bytes
                    return
                if all(eof.values()) and not any(pending.values()):
                    return
                for sock in (client, upstream):
                    readable = not eof[sock] and not dropping and len(pending[peer[sock]]) < MAX_PENDING
                    events = (_WRITE if pending[sock] else 0) | (_READ if readable else 0)
                    if events != registered[sock]:
                        if not events:
                            sel.unregister(sock)
                        else:
                            (sel.modify if registered[sock] else sel.register)(sock, events)
                        registered[sock] = events
                for key, mask in sel.select():
                    ready: socket.socket = key.fileobj  # type: ignore[assignment]
                    other = peer[ready]
                    if mask & _WRITE and pending[ready]:
                        _flush(ready, pending[ready], eof[other])
                    if not mask & _READ or eof[ready]:
                        continue
                    try:
                        data = ready.recv(CHUNK)
                    except BlockingIOError:
                        continue
                    if not data:
                        eof[ready] = True
                        if not pending[other]:
                            other.shutdown(socket.SHUT_WR)
                        continue
                    if ready is upstream:
                        if drop_after is not None and down + len(data) >= drop_after:
                            data, dropping = data[: max(drop_after - down, 0)], True
                        down += len(data)
                    self._count("bytes_down" if ready is upstream else "bytes_up", len(data))
                    was_empty = not pending[other]
                    pending[other] += data
                    if was_empty:  # nothing queued before: try to send right away, saving a select round
                        _flush(other, pending[other], False)


def _flush(sock: socket.socket, buf: bytearray, then_shutdown: bool) -> None:
    with contextlib.suppress(BlockingIOError):
        del buf[: sock.send(buf)]
    if not buf and then_shutdown:
        sock.shutdown(socket.SHUT_WR)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        if not (chunk := sock.recv(n - len(data))):
            raise ConnectionAbortedError("the client closed during the handshake")
        data += chunk
    return data


class ExitPool:
    """``count`` started exits on consecutive loopback addresses (127.0.0.2, 127.0.0.3, …), all on one port
    (``port=0``: the first exit's free port, retried until it is free on every address)."""

    def __init__(self, count: int, port: int = 0, *, username: str | None = None, password: str | None = None,
                 first_address: str = "127.0.0.2", attempts: int = 20, **options: Any) -> None:
        if count < 1:
            raise ValueError("count must be at least 1")
        first = ipaddress.ip_address(_loopback(first_address))
        self.addresses = [_loopback(str(first + i)) for i in range(count)]
        self.exits: list[SocksExitServer] = []
        for attempt in range(attempts):
            self.exits, chosen = [], port
            try:
                for address in self.addresses:  # binding is the test: the first bind picks the port
                    server = SocksExitServer(address, chosen, address, username=username, password=password, **options)
                    self.exits.append(server.start())
                    chosen = server.port
                break
            except OSError:
                self.stop()
                if port or attempt == attempts - 1:
                    raise
        self.port = self.exits[0].port

    urls = property(lambda self: [e.url for e in self.exits])
    stats = property(lambda self: [e.stats for e in self.exits])

    def exit(self, index_or_address: int | str) -> SocksExitServer:
        if isinstance(index_or_address, int):
            return self.exits[index_or_address]
        return self.exits[self.addresses.index(index_or_address)]

    def set_failure(self, index_or_address: int | str, mode: str, **kwargs: Any) -> None:
        self.exit(index_or_address).set_failure(mode, **kwargs)

    def stop(self) -> None:
        for server in self.exits:
            server.stop()

    def __len__(self) -> int:
        return len(self.exits)

    def __enter__(self) -> ExitPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
