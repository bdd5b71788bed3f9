"""The wiring an entry point builds: production's, or the sandbox's when the home says sources = sandbox."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from praf_engine.cli import main
from praf_engine.config import load_settings, parse_overrides
from praf_engine.db.models import utcnow
from praf_engine.entry import build_wiring
from praf_engine.fetch.client import Recording, RecordingSession
from praf_engine.sandbox.market import Market
from praf_engine.sandbox.serve import Sandbox
from praf_engine.sandbox.wiring import with_profile
from praf_engine.wiring import chrome_session


def _settings(home: Path, *pairs: str, environ: dict[str, str] | None = None) -> Any:
    return load_settings(home=home, environ=environ or {}, cwd=home, overrides=parse_overrides(list(pairs)))


def test_a_sandbox_home_gets_the_profile_and_its_own_settings_win(tmp_path: Path) -> None:
    wiring = build_wiring(_settings(tmp_path, "sandbox.http_url=http://127.0.0.1:9999/", "scrape.delay_max_s=5",
                                    "fetch.backoff_s=[1]", environ={"PRAF_SOURCES": "sandbox"}))
    s = wiring.settings
    assert s.scrape.nasdaq_url == "http://127.0.0.1:9999/dynamic/SymDir/nasdaqlisted.txt"
    assert s.exits.nordvpn_api_url.startswith("http://127.0.0.1:9999/v1/servers?")
    assert (s.scrape.delay_min_s, s.scrape.delay_max_s, s.fetch.backoff_s) == (0.0, 5.0, [1.0])  # the operator's own win
    assert s.fetch.yahoo_base_url == "http://127.0.0.1:8766"
    assert with_profile(s) == s  # applying it again changes nothing
    session = wiring.yahoo_session(None)
    try:
        assert isinstance(session, Recording) and not isinstance(session, RecordingSession)
    finally:
        session.close()


def test_a_live_home_gets_the_real_world(tmp_path: Path) -> None:
    wiring = build_wiring(_settings(tmp_path, "sandbox.today=2025-06-06"))
    assert wiring.settings.scrape.nasdaq_url.startswith("https://www.nasdaqtrader.com/")
    assert (wiring.yahoo_session, wiring.clock) == (chrome_session, utcnow)
    assert wiring.settings.fetch.backoff_s == [10, 30, 120, 600]


def test_the_sandbox_clock_reads_the_market_date(tmp_path: Path) -> None:
    fixed = build_wiring(_settings(tmp_path, "sources=sandbox", "sandbox.today=2025-06-06"))
    assert fixed.clock().date() == dt.date(2025, 6, 6)
    with Sandbox(Market(size=10, seed=1, today=dt.date(2025, 6, 6)), exits=0) as sandbox:
        wiring = sandbox.wiring(_settings(tmp_path, *(f"{'.'.join(k)}={v}" for k, v in sandbox.settings_overrides().items())))
        assert wiring.settings.fetch.yahoo_base_url == sandbox.endpoints.yahoo_url
        assert wiring.clock().date() == dt.date(2025, 6, 6)
        sandbox.market.today = dt.date(2025, 6, 9)  # the demo moves its market to the next session
        assert wiring.clock().date() == dt.date(2025, 6, 9)


def test_settings_that_do_not_fit_the_profile_are_configbad(tmp_path: Path, capsys: Any) -> None:
    assert main(["--home", str(tmp_path), "--sandbox", "--set", "scrape.delay_min_s=2", "config"]) == 2
    err = capsys.readouterr().err
    assert "CONFIGBAD" in err and "sandbox profile" in err and "delay_min_s" in err


def test_an_unknown_fault_is_configbad_naming_it_where_the_sandbox_is_used(tmp_path: Path, capsys: Any) -> None:
    """The [sandbox] fault settings are checked against the sandbox's catalogue when a sandbox is built or a home is
    wired to one (not by config.py: a live home's settings never load the sandbox)."""
    import pytest

    from praf_engine.errors import PipelineError
    from praf_engine.sandbox.wiring import sandbox_wiring

    assert main(["--home", str(tmp_path), "--sandbox", "--set", "sandbox.fault_rates.gapp=0.1", "config"]) == 2
    err = capsys.readouterr().err
    assert "CONFIGBAD" in err and "unknown fault kind 'gapp'" in err and "sandbox.fault_rates" in err
    bad_target = _settings(tmp_path, 'sandbox.fault_targets.jumpp=["AAPL"]', "sandbox.exits=0")
    for build in (sandbox_wiring, lambda s: Sandbox.from_settings(s, fixed_ports=False)):
        with pytest.raises(PipelineError) as exc:
            build(bad_target)
        assert exc.value.error_code == "CONFIGBAD" and "'jumpp'" in exc.value.msg and "sandbox.fault_targets" in exc.value.msg
    with pytest.raises(PipelineError) as exc:
        sandbox_wiring(_settings(tmp_path, "sandbox.fault_rates.gap=1.5"))
    assert exc.value.error_code == "CONFIGBAD" and "gap" in exc.value.msg
    assert sandbox_wiring(_settings(tmp_path, "sandbox.fault_rates.gap=0.5")).settings.sandbox.fault_rates == {"gap": 0.5}
