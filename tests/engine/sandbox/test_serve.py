"""`praf-engine sandbox serve` and `praf-engine demo`, run as a new user would, in real processes."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import cli_env


def test_demo_runs_the_chain_into_a_fresh_home(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    # 120 requests per address cannot carry 60 cold symbols and a second night from one address: the demo must
    # fetch through the sandbox's exits (from direct alone, the second night trips the APIDOWN breaker)
    out = subprocess.run([sys.executable, "-m", "praf_engine", "--home", str(home), "--set", "sandbox.size=60",
                          "--set", "sandbox.rate_limit_requests=120", "demo"],
                         capture_output=True, text=True, env=cli_env(), timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "demo home ready" in out.stdout
    doc = json.loads(out.stdout[out.stdout.index("{"): out.stdout.rindex("}") + 1])
    assert {"as_of", "total_active", "lag_2d"} <= set(doc)
    assert (home / "praf.db").exists()
    again = subprocess.run([sys.executable, "-m", "praf_engine", "--home", str(home), "--set", "sandbox.size=60", "demo"],
                           capture_output=True, text=True, env=cli_env(), timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr


def test_sandbox_serve_prints_urls_serves_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "praf_engine", "--home", str(tmp_path / "h"), "--set", "sandbox.size=50",
         "sandbox", "serve", "--free-ports"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**cli_env(), "COLUMNS": "200"},
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "Ctrl-C stops the sandbox" in line:
                break
        text = "".join(lines)
        sites = re.search(r"exchange sites \+ NordVPN list\s+(http://\S+)", text).group(1)
        yahoo = re.search(r"Yahoo emulator\s+(http://\S+)", text).group(1)
        assert 'sources = "sandbox"' in text and "[sandbox]" in text
        assert httpx.get(f"{sites}/dynamic/SymDir/nasdaqlisted.txt", timeout=10).status_code == 200
        assert httpx.get(f"{yahoo}/v1/test/getcrumb", timeout=10).status_code == 200
        servers = httpx.get(f"{sites}/v1/servers?limit=2", timeout=10).json()
        assert len(servers) == 2 and servers[0]["station"].startswith("127.0.0.")
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "sandbox stopped" in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_faults_are_configured_from_settings(tmp_path: Path) -> None:
    import datetime as dt

    import pytest

    from praf_engine.config import load_settings, parse_overrides
    from praf_engine.errors import PipelineError
    from praf_engine.sandbox.serve import Sandbox

    settings = load_settings(home=tmp_path, environ={"PRAF_SANDBOX__FAULT_RATES__GAP": "1.0"}, cwd=tmp_path,
                             overrides=parse_overrides(["sandbox.size=50", "sandbox.today=2025-06-06", "sandbox.faults=none",
                                                        'sandbox.fault_targets.broken_structure=["ftse"]', "sandbox.exits=0"]))
    sandbox = Sandbox.from_settings(settings, fixed_ports=False)
    market = sandbox.market
    assert market.today == dt.date(2025, 6, 6)
    gaps = {i.symbol for i in market.injections() if i.kind == "gap"}
    old = {x.symbol for x in market.universe() if x.listed_on < dt.date(2025, 1, 1)}
    assert old <= gaps <= {x.symbol for x in market.universe()}  # rate 1.0: every listing with a history
    with sandbox:
        page = httpx.get(f"{sandbox.endpoints.http_url}/wiki/FTSE_100_Index", timeout=10).text
        assert 'id="constituents"' not in page  # the targeted exchange's page is broken
        assert sandbox.endpoints.exit_urls == ()
    misspelt = load_settings(home=tmp_path, environ={}, cwd=tmp_path, overrides=parse_overrides(["sandbox.fault_rates.gapp=0.1"]))
    with pytest.raises(PipelineError) as err:  # checked where the sandbox is built, not when settings load
        Sandbox.from_settings(misspelt, fixed_ports=False)
    assert err.value.error_code == "CONFIGBAD" and "unknown fault kind 'gapp'" in err.value.msg
