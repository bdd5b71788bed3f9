"""NordVPN exits against the sandbox's server list: the last good list when the API fails, direct when there is none,
and the `nordvpn-cli` kind driving a `nordvpn` program (a stand-in written by the test: the external CLI)."""

from __future__ import annotations

import json
import os
import socket
import stat
from pathlib import Path

from praf_engine.db.models import BatchLatency, CronStatus, TickerFetchMeta
from praf_engine.fetch.exits import SERVER_LIST, build_exits
from praf_engine.sandbox.nordvpn import LIST_FAULTS
from tests.engine.fetch.conftest import home_settings, insert_universe, run_fetch


def _log(settings) -> list[dict]:
    return [json.loads(x) for x in (settings.logs_dir / "app.jsonl").read_text().splitlines()]


def _last_run() -> CronStatus:
    return CronStatus.select().where(CronStatus.job == "fetch").order_by(CronStatus.id.desc()).first()


def _exits_of_last_run() -> set[str]:
    return {b.exit_name for b in BatchLatency.select().where(BatchLatency.run_id == _last_run().run_id)}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_last_good_server_list_is_kept_and_used_when_the_api_fails(make_sandbox, tmp_path):
    sandbox = make_sandbox(10, exits=2)
    s = home_settings(tmp_path / "home", sandbox, exits__kind="nordvpn")
    names = [e.name for e in build_exits(s)]
    assert names == ["nordvpn:nl100.nordvpn.com", "nordvpn:de101.nordvpn.com"]
    kept_text = (s.cache_dir / SERVER_LIST).read_text()
    kept = json.loads(kept_text)
    assert [x["station"] for x in kept["servers"]] == sandbox.pool.addresses

    for fault in LIST_FAULTS[1:]:  # 500, a challenge page, a cut body, JSON that is not a list
        sandbox.nordvpn.set_fault(fault)
        assert [e.name for e in build_exits(s)] == names, fault
    down = s.model_copy(update={"exits": s.exits.model_copy(update={
        "nordvpn_api_url": f"http://127.0.0.1:{_closed_port()}/v1/servers"})})  # the API does not answer at all
    assert [e.proxy_url for e in build_exits(down)] == [f"socks5h://{a}:{s.exits.nordvpn_port}" for a in sandbox.pool.addresses]
    assert (s.cache_dir / SERVER_LIST).read_text() == kept_text  # a failure never replaces the kept list
    used = [x for x in _log(s) if x["error_code"] == "EXITFAIL"]
    assert len(used) == len(LIST_FAULTS)  # one per failed fetch of the list
    assert all(x["level"] == "warning" and f"using the list from {kept['fetched_at'][:10]}" in x["msg"] for x in used)
    assert {x["detail"]["error"].split(":")[0] for x in used} >= {"HTTPStatusError", "JSONDecodeError", "ValueError", "ConnectError"}

    (s.cache_dir / SERVER_LIST).write_text('{"fetched_at": "2025-01-01", "servers": "none"}')
    assert build_exits(down) == []  # an unreadable kept list is no list
    assert "the kept one is unreadable" in _log(s)[-1]["msg"]
    sandbox.nordvpn.set_fault("none")
    assert [e.name for e in build_exits(s)] == names  # the API is back: a fresh list is kept again
    assert json.loads((s.cache_dir / SERVER_LIST).read_text())["servers"] == kept["servers"]


def test_without_any_server_list_the_fetch_goes_direct_with_half_batches(make_sandbox, fetch_home):
    sandbox = make_sandbox(12, exits=2)
    sandbox.nordvpn.set_fault("http_500")
    settings, service = fetch_home(sandbox, exits__kind="nordvpn", fetch__batch_size=6)
    symbols = insert_universe(sandbox.market)
    assert run_fetch(settings, service.db) == 0  # not stopped: direct, half batches
    run = _last_run()
    assert run.exit_code == 0 and run.detail["vpn_fail"] is True and run.detail["batch_size"] == 3
    assert _exits_of_last_run() == {"direct"} and all(b.symbols <= 3 for b in BatchLatency.select())
    assert TickerFetchMeta.select().where(TickerFetchMeta.fetch_status == "ok").count() == len(symbols)
    msgs = [x["msg"] for x in _log(settings) if x["error_code"] == "EXITFAIL"]
    assert any("none kept" in m for m in msgs) and any("VPN fallback" in m for m in msgs)

    sandbox.nordvpn.set_fault("none")  # the list is back: through the exits, and the list is kept
    assert run_fetch(settings, service.db, full=True) == 0
    assert _exits_of_last_run() <= {"nordvpn:nl100.nordvpn.com", "nordvpn:de101.nordvpn.com"}
    sandbox.nordvpn.set_fault("garbage")  # gone again: the kept list still routes through the exits
    assert run_fetch(settings, service.db, full=True) == 0
    assert _exits_of_last_run() <= {"nordvpn:nl100.nordvpn.com", "nordvpn:de101.nordvpn.com"}
    assert _last_run().detail["vpn_fail"] is False
    assert {ip for ip in sandbox.yahoo.requests if ip in sandbox.pool.addresses}


FAKE_NORDVPN = """#!/bin/sh
# stand-in for NordVPN's CLI: logs its arguments; `connect` fails for the servers named in NORDVPN_FAKE_FAIL
echo "$*" >> "$NORDVPN_FAKE_LOG"
case " $NORDVPN_FAKE_FAIL " in
  *" $2 "*) echo "Whoops! We couldn't connect you to '$2'." >&2; exit 1 ;;
esac
echo "You are connected to $2."
"""


def _fake_nordvpn(tmp_path: Path, monkeypatch, fail: str = "") -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    program = bin_dir / "nordvpn"
    program.write_text(FAKE_NORDVPN)
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    calls = tmp_path / "nordvpn_calls.txt"
    calls.unlink(missing_ok=True)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("NORDVPN_FAKE_LOG", str(calls))
    monkeypatch.setenv("NORDVPN_FAKE_FAIL", fail)
    return calls


def test_nordvpn_cli_connects_each_server_in_turn_and_skips_one_that_fails(make_sandbox, fetch_home, tmp_path, monkeypatch):
    sandbox = make_sandbox(12, exits=3)
    calls = _fake_nordvpn(tmp_path, monkeypatch, fail="de101.nordvpn.com")
    settings, service = fetch_home(sandbox, exits__kind="nordvpn-cli", exits__rotate_every=4, fetch__batch_size=4,
                                   fetch__workers=1)
    symbols = insert_universe(sandbox.market)
    assert run_fetch(settings, service.db) == 0
    assert calls.read_text().splitlines() == ["connect nl100.nordvpn.com", "connect de101.nordvpn.com",
                                              "connect gb102.nordvpn.com", "connect nl100.nordvpn.com"]
    assert [b.exit_name for b in BatchLatency.select().order_by(BatchLatency.batch_no)] == [
        "nordvpn-cli:nl100.nordvpn.com", "nordvpn-cli:gb102.nordvpn.com", "nordvpn-cli:nl100.nordvpn.com"]
    run = _last_run()
    assert run.detail["vpn_fail"] is False and run.detail["exits"]["nordvpn-cli:de101.nordvpn.com"]["dead"] is True
    assert TickerFetchMeta.select().where(TickerFetchMeta.fetch_status == "ok").count() == len(symbols)
    failed = [x for x in _log(settings) if x["error_code"] == "EXITFAIL"]
    assert [x["detail"]["exit"] for x in failed] == ["nordvpn-cli:de101.nordvpn.com"]


def test_nordvpn_cli_failing_everywhere_falls_back_to_direct(make_sandbox, fetch_home, tmp_path, monkeypatch):
    sandbox = make_sandbox(12, exits=3)
    calls = _fake_nordvpn(tmp_path, monkeypatch, fail="nl100.nordvpn.com de101.nordvpn.com gb102.nordvpn.com")
    settings, service = fetch_home(sandbox, exits__kind="nordvpn-cli", fetch__batch_size=6)
    symbols = insert_universe(sandbox.market)
    assert run_fetch(settings, service.db) == 0
    assert len(calls.read_text().splitlines()) == settings.exits.max_connect_failures
    run = _last_run()
    assert run.detail["vpn_fail"] is True and run.detail["batch_size"] == 3 and _exits_of_last_run() == {"direct"}
    assert TickerFetchMeta.select().where(TickerFetchMeta.fetch_status == "ok").count() == len(symbols)
