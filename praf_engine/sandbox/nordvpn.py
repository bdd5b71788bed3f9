"""The NordVPN-style server list of the sandbox: the running ``ExitPool`` as api.nordvpn.com's ``/v1/servers`` body,
so the ``nordvpn`` exit kind finds its SOCKS5 servers (station = each exit's loopback address); ``NordVPNList`` is the
route, with a switchable fault (an unavailable list)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from praf_engine.sandbox.exits import ExitPool

_COUNTRIES = {  # code: (NordVPN country id, name, city, latitude, longitude)
    "nl": (153, "Netherlands", "Amsterdam", 52.374, 4.89), "de": (81, "Germany", "Frankfurt", 50.116, 8.684),
    "gb": (227, "United Kingdom", "London", 51.514, -0.093), "fr": (74, "France", "Paris", 48.853, 2.349),
    "us": (228, "United States", "New York", 40.714, -74.006), "se": (208, "Sweden", "Stockholm", 59.333, 18.05),
    "ch": (209, "Switzerland", "Zurich", 47.367, 8.55), "be": (21, "Belgium", "Brussels", 50.833, 4.333),
}
_STAMPS = {"created_at": "2024-01-15 10:00:00", "updated_at": "2024-01-15 10:00:00"}
SOCKS_TECHNOLOGY = {"id": 7, "name": "Socks 5", "identifier": "socks", **_STAMPS, "metadata": []}


def nordvpn_servers_json(pool: ExitPool, country_codes: tuple[str, ...] = ("nl", "de", "gb", "fr", "us", "se", "ch", "be"),
                         ) -> list[dict[str, Any]]:
    """The pool as the body of NordVPN's ``GET /v1/servers?filters[servers_technologies][identifier]=socks``:
    one record per exit, ``station`` = the exit's loopback address (deterministic ids, names and loads)."""
    servers = []
    for i, exit_ in enumerate(pool.exits):
        cc = country_codes[i % len(country_codes)].lower()
        country_id, country, city, lat, lon = _COUNTRIES.get(cc, (1000 + i, cc.upper(), cc.upper(), 0.0, 0.0))
        number, server_id = 100 + i, 900000 + i
        servers.append({
            "id": server_id, **_STAMPS, "name": f"{country} #{number}", "station": exit_.address,
            "ipv6_station": "", "hostname": f"{cc}{number}.nordvpn.com", "load": (17 + 29 * i) % 80 + 5,
            "status": "online",
            "locations": [{"id": 100 + i, **_STAMPS, "latitude": lat, "longitude": lon, "country": {
                "id": country_id, "name": country, "code": cc.upper(), "city": {
                    "id": country_id * 1000, "name": city, "latitude": lat, "longitude": lon,
                    "dns_name": city.lower().replace(" ", "-"), "hub_score": 0}}}],
            "technologies": [{**SOCKS_TECHNOLOGY, "pivot": {"technology_id": SOCKS_TECHNOLOGY["id"],
                                                            "server_id": server_id, "status": "online"}}],
            "groups": [{"id": 11, **_STAMPS, "title": "Standard VPN servers", "identifier": "legacy_standard",
                        "type": {"id": 3, **_STAMPS, "title": "Legacy category", "identifier": "legacy_group_category"}}],
            "ips": [{"id": server_id, "ip": {"id": server_id, "ip": exit_.address, "version": 4}, "type": "entry"}],
        })
    return servers


_FILTERS: dict[str, Callable[[dict[str, Any], str], bool]] = {
    "filters[servers_technologies][identifier]": lambda s, v: any(t["identifier"] == v for t in s["technologies"]),
    "filters[servers_technologies][id]": lambda s, v: any(str(t["id"]) == v for t in s["technologies"]),
    "filters[country_id]": lambda s, v: any(str(loc["country"]["id"]) == v for loc in s["locations"]),
}


def serve_nordvpn_path(path_and_query: str, pool: ExitPool, **kwargs: Any) -> tuple[int, bytes]:
    """Answer ``/v1/servers`` (and ``/v1/servers/recommendations``, sorted by load) like api.nordvpn.com:
    ``limit`` (default 100, 0 = all) and the ``_FILTERS``; any other path is a 404. Returns (status, JSON)."""
    parts = urlsplit(path_and_query)
    path = parts.path.rstrip("/")
    if path not in ("/v1/servers", "/v1/servers/recommendations"):
        return 404, json.dumps({"errors": {"code": 404, "message": "Not Found"}}).encode()
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    try:
        limit = int(query.get("limit", "100"))
    except ValueError:
        return 400, json.dumps({"errors": {"code": 400, "message": "limit must be an integer"}}).encode()
    servers = nordvpn_servers_json(pool, **kwargs)
    for key, keep in _FILTERS.items():
        if key in query:
            servers = [s for s in servers if keep(s, query[key])]
    if path.endswith("recommendations"):
        servers.sort(key=lambda s: s["load"])
    return 200, json.dumps(servers[:limit] if limit > 0 else servers).encode()


# What an unavailable list looks like: a 5xx, a challenge page instead of JSON, a body cut short, JSON that is not a list.
LIST_FAULTS = ("none", "http_500", "garbage", "truncated", "not_a_list")
_CHALLENGE = b"<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>Checking your browser</body></html>"


class NordVPNList:
    """The sandbox's ``/v1/servers`` route (``route(path_and_query) -> (status, content type, body)``) over the exit
    pool ``pool_of()`` returns, with a fault set by ``set_fault`` (one of ``LIST_FAULTS``); ``statuses`` counts answers."""

    def __init__(self, pool_of: Callable[[], ExitPool | None]) -> None:
        self._pool_of = pool_of
        self._fault = "none"
        self._lock = threading.Lock()
        self.statuses: Counter[int] = Counter()

    fault = property(lambda self: self._fault, doc="The current fault.")

    def set_fault(self, mode: str) -> None:
        if mode not in LIST_FAULTS:
            raise ValueError(f"list fault must be one of {LIST_FAULTS}, not {mode!r}")
        with self._lock:
            self._fault = mode

    def __call__(self, path_and_query: str) -> tuple[int, str, bytes]:
        status, ctype, body = self._answer(path_and_query)
        with self._lock:
            self.statuses[status] += 1
        return status, ctype, body

    def _answer(self, path_and_query: str) -> tuple[int, str, bytes]:
        pool, fault = self._pool_of(), self._fault
        if pool is None:
            return 503, "application/json", b'{"error":"exits not started"}'
        if fault == "http_500":
            return 500, "application/json", json.dumps({"errors": {"code": 500, "message": "Internal Server Error"}}).encode()
        if fault == "garbage":
            return 200, "text/html", _CHALLENGE
        if fault == "not_a_list":
            return 200, "application/json", json.dumps({"errors": {"code": 429, "message": "Too many requests"}}).encode()
        status, body = serve_nordvpn_path(path_and_query, pool)
        if fault == "truncated" and status == 200:
            body = body[: len(body) // 2]
        return status, "application/json", body
