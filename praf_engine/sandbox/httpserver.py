"""The sandbox's one loopback HTTP server (exchange sites, Yahoo, NordVPN's list, Telegram): a threaded HTTP/1.1
server that turns each request into a call of a plain function, and stops gracefully (answers in progress are
finished with ``Connection: close``, idle keep-alive connections closed, every connection thread joined)."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from praf_engine.logs import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # without the query string
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    client_ip: str
    target: str = ""  # the request target as sent: path and query

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering (a dead peer)


Handler = Callable[[Request], Response]


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else ~40 ms per keep-alive request (delayed ACK)
    server_version = "nginx"
    sys_version = ""
    server: _Server

    def handle(self) -> None:  # the stdlib loop, but no new request is read once stop() began
        self.close_connection = True
        self.handle_one_request()
        while not self.close_connection and not self.server.closing.is_set():
            self.handle_one_request()

    def _serve(self) -> None:
        me = threading.current_thread()
        with self.server.lock:
            self.server.busy.add(me)
        try:
            self._answer()
        finally:
            with self.server.lock:
                self.server.busy.discard(me)

    def _answer(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
                          {k.lower(): v for k, v in self.headers.items()}, body, self.client_address[0], self.path)
        try:
            response = self.server.app(request)
        except Exception as exc:  # noqa: BLE001 - a bug in an emulator must show as a 500, not a hung client
            log.error("sandbox handler crashed", detail={"path": parts.path, "error": repr(exc)})
            response = Response(500, b'{"error":"sandbox handler crashed"}')
        if response.drop:
            self.close_connection = True
            return
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        if self.server.closing.is_set():
            self.send_header("Connection", "close")  # also sets close_connection: the thread ends
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_HEAD = _serve

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: Handler, name: str) -> None:
        self.app, self.name = app, name
        self.lock = threading.Lock()
        self.closing = threading.Event()  # set by stop(): answers close their connection, none is read after
        self.connections: dict[threading.Thread, socket.socket] = {}  # one thread per open connection
        self.busy: set[threading.Thread] = set()  # connection threads answering a request now
        super().__init__(address, _RequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self._serve_connection, args=(request, client_address),
                                  name=f"{self.name}-conn", daemon=True)
        with self.lock:
            self.connections[thread] = request
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self.lock:
                self.connections.pop(threading.current_thread(), None)

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hangs up mid-request (a killed fetch, a dropped exit) is normal here: log it, no traceback."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            log.debug("client went away", detail={"client": str(client_address), "error": type(exc).__name__})
            return
        super().handle_error(request, client_address)

    def close_connections(self, grace_s: float) -> None:
        """Idle connections are closed at once; busy ones get ``grace_s`` to finish their answer, then are closed
        too; every connection thread is joined."""
        for attempt in (0, 1):
            with self.lock:
                alive = list(self.connections.items())
                idle = [sock for thread, sock in alive if attempt or thread not in self.busy]
            for sock in idle:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            for thread, _ in alive:
                thread.join(timeout=grace_s)


class LoopbackHTTPServer:
    """Serve ``app(Request) -> Response`` on ``host:port`` (0 = a free port) in a background thread.

    The port is bound at construction (``url`` works before ``start``); ``stop`` lets answers in progress finish
    (up to ``grace_s``), closes idle keep-alive connections and joins every thread; ``start`` after ``stop``
    serves again on the same port. Threads are named after ``name``.
    """

    def __init__(self, app: Handler, host: str = "127.0.0.1", port: int = 0, name: str = "sandbox-http",
                 grace_s: float = 2.0) -> None:
        self.app, self.host, self.name, self.grace_s = app, host, name, grace_s
        self._server: _Server | None = _Server((host, port), app, name)
        self._port = int(self._server.server_address[1])
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self._port}"

    def start(self) -> LoopbackHTTPServer:
        if self._thread is not None:
            return self
        if self._server is None:  # started again after stop(): same port
            self._server = _Server((self.host, self._port), self.app, self.name)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"{self.name}-{self._port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is None:
            return
        server.closing.set()
        if thread is not None:
            server.shutdown()
            thread.join(timeout=5)
        server.server_close()
        server.close_connections(self.grace_s)

    def __enter__(self) -> LoopbackHTTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
