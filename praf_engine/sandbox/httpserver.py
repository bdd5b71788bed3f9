"""A small threaded HTTP/1.1 server on loopback that turns each request into a call of a plain function."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def _serve(self) -> None:
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

    def __init__(self, address: tuple[str, int], app: Handler) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.connections: set[socket.socket] = set()  # open keep-alive connections, closed by stop()
        super().__init__(address, _RequestHandler)

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hangs up mid-request (a killed fetch, a dropped exit) is normal here: log it, no traceback."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            log.debug("client went away", detail={"client": str(client_address), "error": type(exc).__name__})
            return
        super().handle_error(request, client_address)

    def drop_connections(self) -> None:
        with self.lock:
            open_now = list(self.connections)
        for conn in open_now:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class LoopbackHTTPServer:
    """Serve ``app(Request) -> Response`` on ``host:port`` (0 = a free port) in a background thread.

    The port is bound at construction (``url`` works before ``start``); ``stop`` also closes idle keep-alive
    connections, and ``start`` after ``stop`` serves again on the same port.
    """

    def __init__(self, app: Handler, host: str = "127.0.0.1", port: int = 0, name: str = "sandbox-http") -> None:
        self.app, self.host, self.name = app, host, name
        self._server: _Server | None = _Server((host, port), app)
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
            self._server = _Server((self.host, self._port), self.app)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"{self.name}-{self._port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is None:
            return
        if thread is not None:
            server.shutdown()
            thread.join(timeout=5)
        server.server_close()
        server.drop_connections()

    def __enter__(self) -> LoopbackHTTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
