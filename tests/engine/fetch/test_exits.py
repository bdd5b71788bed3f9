"""Exits over real SOCKS5 on loopback: rotation away from 429 storms, fallback to direct, NordVPN list, no secrets in logs."""

from __future__ import annotations

import json
import tomllib

from praf_engine.db.models import BatchLatency, CronStatus, FetchError, TickerFetchMeta
from praf_engine.logs import configure_logging
from praf_engine.sandbox.exits import ExitPool
from tests.conftest import make_settings
from tests.engine.fetch.conftest import insert_universe, run_fetch


def _detail() -> dict:
    return CronStatus.select().where(CronStatus.job == "fetch").order_by(CronStatus.id.desc()).first().detail


def test_storm_completes_by_rotating_exits_while_direct_is_rate_limited(make_sandbox, fetch_home):
    # per client address and window: under 50 symbols' chart requests (one each once yfinance's process-wide time-zone
    # cache knows them, two when cold), so one address never serves them all; 4 exits can (120 >= 100 + cookie, crumb)
    limit = 30
    rotating = make_sandbox(50, exits=4, rate_limit_requests=limit)
    settings, service = fetch_home(rotating, "rotating", fetch__batch_size=8, fetch__workers=2)
    symbols = insert_universe(rotating.market)
    assert run_fetch(settings, service.db) == 0
    assert FetchError.select().count() == 0
    assert TickerFetchMeta.select().where(TickerFetchMeta.fetch_status == "ok").count() == len(symbols)
    exits_used = {ip for ip, n in rotating.yahoo.requests.items() if ip != "127.0.0.1" and n}
    assert len(exits_used) >= 2 and rotating.yahoo.requests.get("127.0.0.1", 0) == 0
    health = _detail()["exits"]
    assert sum(h["rate_limited"] for h in health.values()) > 0 and sum(h["ok"] for h in health.values()) == len(symbols)

    direct = make_sandbox(100, seed=11, rate_limit_requests=limit)  # more symbols than one address may ask for
    settings2, service2 = fetch_home(direct, "direct", fetch__batch_size=8, fetch__workers=2)
    insert_universe(direct.market)
    assert run_fetch(settings2, service2.db) == 0  # rate-limited symbols are recorded, not fatal
    limited = FetchError.select().where(FetchError.error_code == "YF429").count()
    assert limited > 0 and _detail()["outcomes"]["rate_limited"] == limited
    assert direct.yahoo.statuses[429] > 0


def test_the_sandbox_overrides_alone_send_the_fetch_through_its_exits(make_sandbox, tmp_path, backend):
    """`praf-engine demo` points its home at the sandbox with ``settings_overrides()`` only: that must include the
    exits, or the whole fetch leaves from 127.0.0.1 and one address's rate limit trips the APIDOWN breaker."""
    from praf_engine.service import EngineService

    sandbox = make_sandbox(50, exits=4, rate_limit_requests=30)  # one address cannot serve 50 symbols
    flat = {"__".join(k): v for k, v in sandbox.settings_overrides().items()}
    settings = make_settings(tmp_path / "home", backend, **flat, fetch__batch_size=8, fetch__workers=2)
    configure_logging(settings.logs_dir, secrets=settings.secrets(), console_level=None)
    assert (settings.exits.kind, settings.exits.proxies) == ("proxies", list(sandbox.endpoints.exit_urls))
    toml = tomllib.loads(sandbox.settings_toml())
    assert toml["exits"] == {"kind": "proxies", "proxies": list(sandbox.endpoints.exit_urls)}
    service = EngineService.open(settings)
    try:
        symbols = insert_universe(sandbox.market)
        assert run_fetch(settings, service.db) == 0
        assert TickerFetchMeta.select().where(TickerFetchMeta.fetch_status == "ok").count() == len(symbols)
        assert sandbox.yahoo.requests.get("127.0.0.1", 0) == 0 and len(sandbox.yahoo.requests) >= 2
    finally:
        service.close()


def test_dead_exits_fall_back_to_direct_with_half_batches(make_sandbox, fetch_home):
    sandbox = make_sandbox(30, exits=3)
    for i in range(3):
        sandbox.pool.set_failure(i, "refuse")
    settings, service = fetch_home(sandbox, fetch__batch_size=10)
    symbols = insert_universe(sandbox.market)
    assert run_fetch(settings, service.db) == 0
    detail = _detail()
    assert detail["vpn_fail"] is True and detail["batch_size"] == 5
    assert TickerFetchMeta.select().where(TickerFetchMeta.fetch_status == "ok").count() == len(symbols)
    calls = list(BatchLatency.select())
    assert calls and all(c.exit_name == "direct" and c.symbols <= 5 for c in calls)
    lines = [json.loads(x) for x in (settings.logs_dir / "app.jsonl").read_text().splitlines()]
    assert any(x["error_code"] == "EXITFAIL" and "fallback" in x["msg"].lower() and x["level"] == "warning" for x in lines)


def test_proxy_credentials_never_reach_logs_or_run_records(make_sandbox, fetch_home):
    sandbox = make_sandbox(12)
    with ExitPool(2, username="svcuser", password="s3cret-pass-xyz") as pool:
        pool.set_failure(0, "auth")  # expired credentials on one exit
        proxies = pool.urls  # socks5h://svcuser:s3cret-pass-xyz@127.0.0.x:port
        settings, service = fetch_home(sandbox, exits__kind="proxies", exits__proxies=proxies)
        symbols = insert_universe(sandbox.market)
        assert run_fetch(settings, service.db) == 0
        assert TickerFetchMeta.select().where(TickerFetchMeta.fetch_status == "ok").count() == len(symbols)
        assert pool.exit(1).stats["upstream_connects"] > 0 and pool.exit(0).stats["auth_failures"] > 0, pool.stats
    text = (settings.logs_dir / "app.jsonl").read_text() + json.dumps(_detail())
    assert "s3cret-pass-xyz" not in text and "svcuser" not in text
    assert "EXITFAIL" in text


def test_nordvpn_exits_from_the_server_list(make_sandbox, fetch_home, monkeypatch):
    sandbox = make_sandbox(15, exits=2)
    monkeypatch.setenv("PRAF_NORDVPN_PASSWORD", "nord-service-secret")
    settings, service = fetch_home(sandbox, exits__kind="nordvpn", nordvpn_user="service-user")
    symbols = insert_universe(sandbox.market)
    assert run_fetch(settings, service.db) == 0
    assert TickerFetchMeta.select().where(TickerFetchMeta.fetch_status == "ok").count() == len(symbols)
    used = {ip for ip in sandbox.yahoo.requests if ip in sandbox.pool.addresses}
    assert used and all(name.startswith("nordvpn:") for name in _detail()["exits"])
    assert "nord-service-secret" not in (settings.logs_dir / "app.jsonl").read_text()
