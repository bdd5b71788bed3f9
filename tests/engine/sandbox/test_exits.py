"""The emulated SOCKS5 exits over real loopback sockets: per-exit source address, auth, faults, limits, NordVPN list."""

from __future__ import annotations

import contextlib
import json
import random
import socket
import struct
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from curl_cffi.requests import Session
from curl_cffi.requests.exceptions import RequestException

from praf_engine.sandbox.exits import ExitPool, SocksExitServer
from praf_engine.sandbox.nordvpn import LIST_FAULTS, NordVPNList, nordvpn_servers_json, serve_nordvpn_path

USER, PASSWORD = "svc-user", "s3cret:p@ss"
TIMEOUT = 5.0


def _body(n: int) -> bytes:
    return random.Random(n).randbytes(n)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so live relays exist between requests
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid the 40 ms delayed-ACK stall
    timeout = TIMEOUT

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/ip":
            body = self.client_address[0].encode()
        elif url.path == "/big":
            body = _body(int(parse_qs(url.query)["n"][0]))
        elif url.path == "/ua":
            body = self.headers.get("User-Agent", "").encode()
        else:
            body = b"not found"
        self._send(body)

    def do_POST(self) -> None:
        self._send(self.rfile.read(int(self.headers["Content-Length"])))

    def _send(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = False  # so server_close() joins the handler threads

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients cut mid-response on purpose here


class Upstream:
    """A threaded HTTP server on 127.0.0.1 answering with what it sees; closing joins all its threads."""

    def __init__(self) -> None:
        self.server = _QuietServer(("127.0.0.1", 0), _Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(TIMEOUT)


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.close()


@pytest.fixture
def exit_() -> Iterator[SocksExitServer]:
    with SocksExitServer("127.0.0.2", 0, "127.0.0.2", username=USER, password=PASSWORD) as server:
        yield server


def _session(proxy: str | None = None, **kwargs: object) -> Session:
    proxies = {"http": proxy, "https": proxy} if proxy else None
    return Session(proxies=proxies, timeout=TIMEOUT, trust_env=False, **kwargs)


def _get(url: str, proxy: str | None = None) -> bytes:
    with _session(proxy) as s:
        response = s.get(url)
        assert response.status_code == 200
        return response.content


def _socks(server: SocksExitServer, request: bytes, *, creds: tuple[str, str] | None = (USER, PASSWORD)) -> tuple[socket.socket, int]:
    """A raw SOCKS5 handshake; ``request`` is CMD + ATYP + address + port. Returns the socket and the reply code."""
    sock = socket.create_connection((server.address, server.port), timeout=TIMEOUT)
    sock.sendall(b"\x05\x01\x02" if creds else b"\x05\x01\x00")
    assert sock.recv(2) == (b"\x05\x02" if creds else b"\x05\x00")
    if creds:
        u, p = creds[0].encode(), creds[1].encode()
        sock.sendall(bytes([1, len(u)]) + u + bytes([len(p)]) + p)
        assert sock.recv(2) == b"\x01\x00"
    sock.sendall(b"\x05" + request)
    reply = _recv_exact(sock, 10)
    assert reply[0] == 5 and reply[2] == 0 and reply[3] == 1
    return sock, reply[1]


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, f"EOF after {len(data)} of {n} bytes"
        data += chunk
    return data


def _ipv4(address: str, port: int, cmd: int = 1) -> bytes:
    return bytes([cmd, 0, 1]) + socket.inet_aton(address) + struct.pack("!H", port)


def _domain(name: str, port: int, cmd: int = 1) -> bytes:
    return bytes([cmd, 0, 3, len(name)]) + name.encode() + struct.pack("!H", port)


def _recv_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


# -- source addresses -------------------------------------------------------------------------------
def test_each_exit_egresses_from_its_own_loopback_address(upstream: Upstream) -> None:
    with ExitPool(3, username=USER, password=PASSWORD) as pool:
        assert _get(upstream.url("/ip")) == b"127.0.0.1"
        for i, url in enumerate(pool.urls):
            assert _get(upstream.url("/ip"), url) == f"127.0.0.{2 + i}".encode()
            assert _get(upstream.url("/ip", host="localhost"), url) == f"127.0.0.{2 + i}".encode()  # DOMAINNAME
        assert [s["connections"] for s in pool.stats] == [2, 2, 2]


def test_yfinance_style_impersonating_session_through_an_exit(upstream: Upstream, exit_: SocksExitServer) -> None:
    with _session(exit_.url, impersonate="chrome") as s:
        assert s.get(upstream.url("/ip")).content == b"127.0.0.2"
        assert b"Chrome" in s.get(upstream.url("/ua")).content


def test_a_large_body_relays_intact_both_ways(upstream: Upstream, exit_: SocksExitServer) -> None:
    big, upload = 5 * 1024 * 1024, _body(2 * 1024 * 1024 + 7)
    with _session(exit_.url) as s:
        assert s.get(upstream.url(f"/big?n={big}")).content == _body(big)
        assert s.post(upstream.url("/echo"), data=upload).content == upload
    stats = exit_.stats
    assert stats["bytes_down"] > big + len(upload) and stats["bytes_up"] > len(upload)


# -- authentication ---------------------------------------------------------------------------------
def test_credentials_are_required_and_wrong_ones_rejected(upstream: Upstream, exit_: SocksExitServer) -> None:
    assert exit_.url == f"socks5h://svc-user:s3cret%3Ap%40ss@127.0.0.2:{exit_.port}"
    assert PASSWORD not in repr(exit_)
    for bad in (f"socks5h://127.0.0.2:{exit_.port}", f"socks5h://{USER}:wrong@127.0.0.2:{exit_.port}"):
        with pytest.raises(RequestException):
            _get(upstream.url("/ip"), bad)
    assert exit_.stats["auth_failures"] == 2
    assert _get(upstream.url("/ip"), exit_.url) == b"127.0.0.2"


def test_an_exit_without_credentials_needs_none(upstream: Upstream) -> None:
    with SocksExitServer("127.0.0.3", 0, "127.0.0.3") as server:
        assert server.url == f"socks5h://127.0.0.3:{server.port}"
        assert _get(upstream.url("/ip"), server.url) == b"127.0.0.3"


# -- failure modes ----------------------------------------------------------------------------------
def test_refuse_mode_refuses_connections_and_cuts_live_relays_until_reset(upstream: Upstream, exit_: SocksExitServer) -> None:
    with _session(exit_.url) as s:
        assert s.get(upstream.url("/ip")).content == b"127.0.0.2"
        exit_.set_failure("refuse")
        with pytest.raises(RequestException):
            s.get(upstream.url("/ip"))
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((exit_.address, exit_.port), timeout=TIMEOUT).close()
        exit_.set_failure("none")
        assert s.get(upstream.url("/ip")).content == b"127.0.0.2"
    assert exit_.stats["connections"] == 2  # refused connects never reach the exit


def test_cut_live_false_keeps_kept_alive_relays_while_refusing_new_ones(upstream: Upstream, exit_: SocksExitServer) -> None:
    with _session(exit_.url) as s:
        assert s.get(upstream.url("/ip")).content == b"127.0.0.2"
        exit_.set_failure("refuse", cut_live=False)
        assert s.get(upstream.url("/ip")).content == b"127.0.0.2"  # the same tunnel, still up
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((exit_.address, exit_.port), timeout=TIMEOUT).close()
    assert exit_.stats["connections"] == 1


def test_auth_mode_fails_every_authentication_until_reset(upstream: Upstream, exit_: SocksExitServer) -> None:
    exit_.set_failure("auth")
    with pytest.raises(RequestException):
        _get(upstream.url("/ip"), exit_.url)
    sock = socket.create_connection((exit_.address, exit_.port), timeout=TIMEOUT)
    with sock:
        sock.sendall(b"\x05\x01\x02" + bytes([1, len(USER)]) + USER.encode() + bytes([len(PASSWORD)]) + PASSWORD.encode())
        assert _recv_exact(sock, 4) == b"\x05\x02\x01\x01"  # method user/pass, then status 0x01: failure
    assert exit_.stats["auth_failures"] == 2
    exit_.set_failure("none")
    assert _get(upstream.url("/ip"), exit_.url) == b"127.0.0.2"


def test_drop_mode_truncates_the_response_mid_stream_until_reset(upstream: Upstream, exit_: SocksExitServer) -> None:
    exit_.set_failure("drop")
    with pytest.raises(RequestException):
        _get(upstream.url("/big?n=100000"), exit_.url)
    sock, code = _socks(exit_, _ipv4("127.0.0.1", upstream.port))
    with sock:
        assert code == 0
        sock.sendall(b"GET /big?n=100000 HTTP/1.1\r\nHost: x\r\n\r\n")
        received = _recv_all(sock)
    assert len(received) == exit_.drop_after == 512 and received.startswith(b"HTTP/1.1 200")
    assert exit_.stats["dropped"] == 2
    exit_.set_failure("none")
    assert _get(upstream.url("/big?n=100000"), exit_.url) == _body(100000)


def test_failure_modes_are_validated() -> None:
    with pytest.raises(ValueError):
        SocksExitServer("127.0.0.2", 0, "127.0.0.2", failure="flaky")
    with SocksExitServer("127.0.0.2", 0, "127.0.0.2") as server, pytest.raises(ValueError):
        server.set_failure("explode")


# -- destinations and protocol errors ---------------------------------------------------------------
def test_destinations_outside_loopback_are_refused_without_connecting(upstream: Upstream, exit_: SocksExitServer) -> None:
    for request in (_ipv4("10.0.0.1", 80), _ipv4("93.184.216.34", 443), _domain("example.com", 443),
                    _domain("query1.finance.yahoo.com", 443), _ipv4("0.0.0.0", upstream.port)):
        sock, code = _socks(exit_, request)
        sock.close()
        assert code == 0x02  # connection not allowed by ruleset
    assert exit_.stats["not_allowed"] == 5 and exit_.stats["upstream_connects"] == 0
    sock, code = _socks(exit_, _domain("localhost", upstream.port))
    sock.close()
    assert code == 0 and exit_.stats["upstream_connects"] == 1


def test_the_hosts_map_resolves_names_to_loopback_without_dns(upstream: Upstream) -> None:
    with SocksExitServer("127.0.0.3", 0, "127.0.0.3", hosts={"query1.finance.yahoo.com": "127.0.0.1"}) as server:
        assert _get(upstream.url("/ip", host="query1.finance.yahoo.com"), server.url) == b"127.0.0.3"
    with pytest.raises(ValueError):
        SocksExitServer("127.0.0.3", 0, "127.0.0.3", hosts={"example.com": "93.184.216.34"})


def test_unsupported_commands_and_address_types(exit_: SocksExitServer, upstream: Upstream) -> None:
    for cmd in (2, 3):  # BIND, UDP ASSOCIATE
        sock, code = _socks(exit_, _ipv4("127.0.0.1", upstream.port, cmd=cmd))
        sock.close()
        assert code == 0x07
    sock, code = _socks(exit_, b"\x01\x00\x04" + socket.inet_pton(socket.AF_INET6, "::1") + struct.pack("!H", 80))
    sock.close()
    assert code == 0x08
    sock, code = _socks(exit_, b"\x01\x00\x09")
    sock.close()
    assert code == 0x08
    assert exit_.stats["upstream_connects"] == 0 and exit_.stats["refused"] == 4


def test_an_upstream_that_refuses_gives_reply_0x05(exit_: SocksExitServer) -> None:
    with socket.socket() as reserved:  # bound, not listening: connecting to it is refused
        reserved.bind(("127.0.0.1", 0))
        sock, code = _socks(exit_, _ipv4("127.0.0.1", reserved.getsockname()[1]))
        sock.close()
    assert code == 0x05


def _exit_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("socks-exit")]


def test_clients_that_vanish_at_any_point_leave_no_threads_or_tracebacks(capfd: pytest.CaptureFixture[str]) -> None:
    baseline = threading.active_count()
    upstream = Upstream()
    with SocksExitServer("127.0.0.4", 0, "127.0.0.4", username=USER, password=PASSWORD) as server:
        for partial in (b"", b"\x05", b"\x05\x01\x02", b"\x05\x01\x02\x01\x08svc", b"\x04\x01\x00\x50"):
            with socket.create_connection((server.address, server.port), timeout=TIMEOUT) as sock:
                sock.sendall(partial)
        sock, code = _socks(server, _ipv4("127.0.0.1", upstream.port))
        sock.sendall(b"GET /big?n=3000000 HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.recv(1000)
        sock.close()  # mid-response
        with _session(server.url) as s:
            assert s.get(upstream.url("/ip")).content == b"127.0.0.4"
    assert code == 0 and server.stats["active"] == 0 and server.stats["connections"] == 7
    assert _exit_threads() == []
    upstream.close()
    assert threading.active_count() == baseline
    assert "Traceback" not in capfd.readouterr().err


# -- lifecycle --------------------------------------------------------------------------------------
def test_stop_with_a_live_relay_returns_promptly_frees_the_port_and_joins_threads(upstream: Upstream) -> None:
    server = SocksExitServer("127.0.0.2", 0, "127.0.0.2").start()
    sock, code = _socks(server, _ipv4("127.0.0.1", upstream.port), creds=None)
    with sock:
        assert code == 0 and server.stats["active"] == 1
        began = time.monotonic()
        server.stop()
        assert time.monotonic() - began < 1.0
        with contextlib.suppress(ConnectionResetError):  # RST from the abortive close
            assert sock.recv(10) == b""
    server.stop()  # idempotent
    assert _exit_threads() == []
    with socket.socket() as probe:  # the port is free again (RST-closed relays leave no TIME_WAIT)
        probe.bind(("127.0.0.2", server.port))
    with SocksExitServer("127.0.0.2", server.port, "127.0.0.2") as again:
        assert _get(upstream.url("/ip"), again.url) == b"127.0.0.2"


def test_whole_lifecycle_thread_count_returns_to_baseline() -> None:
    baseline = threading.active_count()
    server = Upstream()
    with ExitPool(3) as pool:
        pool.set_failure(1, "drop")
        pool.set_failure("127.0.0.4", "refuse")
        with _session(pool.urls[0]) as s:
            for _ in range(5):
                assert s.get(server.url("/ip")).content == b"127.0.0.2"
        with pytest.raises(RequestException):
            _get(server.url("/big?n=10000"), pool.urls[1])
        with pytest.raises(RequestException):
            _get(server.url("/ip"), pool.urls[2])
    server.close()
    assert threading.active_count() == baseline


def test_addresses_outside_loopback_are_rejected() -> None:
    for listen, source in (("0.0.0.0", "127.0.0.2"), ("127.0.0.2", "10.0.0.2"), ("127.0.0.2", "::1")):
        with pytest.raises(ValueError):
            SocksExitServer(listen, 0, source)
    with pytest.raises(ValueError):
        ExitPool(2, first_address="192.168.0.2")


# -- pool and NordVPN list --------------------------------------------------------------------------
def test_exit_pool_gives_distinct_addresses_on_one_port(upstream: Upstream) -> None:
    with ExitPool(4, username=USER, password=PASSWORD) as pool:
        assert pool.addresses == ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]
        assert {e.port for e in pool.exits} == {pool.port} and len(pool) == 4
        assert pool.urls[3] == f"socks5h://svc-user:s3cret%3Ap%40ss@127.0.0.5:{pool.port}"
        pool.set_failure("127.0.0.3", "auth")
        assert pool.exit(1).failure == "auth" and pool.exit("127.0.0.5") is pool.exits[3]
        with pytest.raises(RequestException):
            _get(upstream.url("/ip"), pool.urls[1])
        assert _get(upstream.url("/ip"), pool.urls[3]) == b"127.0.0.5"
        port = pool.port
    with ExitPool(2, port=port, first_address="127.0.0.10") as fixed:  # an explicit port is honoured
        assert fixed.port == port and fixed.addresses == ["127.0.0.10", "127.0.0.11"]


def test_nordvpn_server_list_names_each_exit_by_station() -> None:
    with ExitPool(4) as pool:
        servers = nordvpn_servers_json(pool)
        assert [s["station"] for s in servers] == pool.addresses
        first = servers[0]
        assert first["name"] == "Netherlands #100" and first["hostname"] == "nl100.nordvpn.com"
        assert first["status"] == "online" and 0 <= first["load"] <= 100
        assert first["locations"][0]["country"]["code"] == "NL"
        assert first["locations"][0]["country"]["city"]["dns_name"] == "amsterdam"
        assert [t["identifier"] for t in first["technologies"]] == ["socks"]
        assert [s["locations"][0]["country"]["code"] for s in servers] == ["NL", "DE", "GB", "FR"]
        assert len({s["id"] for s in servers}) == 4

        query = "/v1/servers?filters%5Bservers_technologies%5D%5Bidentifier%5D=socks&limit=2"
        status, body = serve_nordvpn_path(query, pool)
        assert status == 200 and [s["station"] for s in json.loads(body)] == ["127.0.0.2", "127.0.0.3"]
        status, body = serve_nordvpn_path("/v1/servers?filters[servers_technologies][identifier]=socks", pool)
        assert len(json.loads(body)) == 4
        assert json.loads(serve_nordvpn_path("/v1/servers?filters[servers_technologies][identifier]=wireguard_udp",
                                             pool)[1]) == []
        assert [s["station"] for s in json.loads(serve_nordvpn_path("/v1/servers?filters[country_id]=81", pool)[1])] \
            == ["127.0.0.3"]
        loads = [s["load"] for s in json.loads(serve_nordvpn_path("/v1/servers/recommendations?limit=0", pool)[1])]
        assert loads == sorted(loads) and len(loads) == 4
        assert serve_nordvpn_path("/v1/servers?limit=x", pool)[0] == 400
        assert serve_nordvpn_path("/v2/servers", pool)[0] == 404


def test_nordvpn_list_faults_make_the_list_unavailable_until_reset() -> None:
    query = "/v1/servers?filters[servers_technologies][identifier]=socks&limit=50"
    with ExitPool(2) as pool:
        route = NordVPNList(lambda: pool)
        status, ctype, body = route(query)
        assert (status, ctype) == (200, "application/json") and [s["station"] for s in json.loads(body)] == pool.addresses
        answers = {}
        for fault in LIST_FAULTS[1:]:
            route.set_fault(fault)
            answers[fault] = route(query)
        assert answers["http_500"][0] == 500
        assert answers["garbage"][:2] == (200, "text/html") and answers["garbage"][2].startswith(b"<!DOCTYPE html>")
        assert answers["truncated"][0] == 200 and 0 < len(answers["truncated"][2]) < len(body)
        assert answers["not_a_list"][0] == 200 and isinstance(json.loads(answers["not_a_list"][2]), dict)
        for fault in ("garbage", "truncated"):
            with pytest.raises(ValueError):
                json.loads(answers[fault][2])
        route.set_fault("none")
        assert route(query)[2] == body
        assert route.statuses == {200: 5, 500: 1}
        with pytest.raises(ValueError, match="list fault"):
            route.set_fault("down")
    assert NordVPNList(lambda: None)(query)[0] == 503  # the exits not started yet
