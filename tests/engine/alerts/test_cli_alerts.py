"""`praf-engine alerts …` and `praf-engine watchdog` as an operator runs them: real processes, a real home, the
Telegram stub on loopback for the sending commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from praf_engine.sandbox.telegram import DEFAULT_CHAT_ID, DEFAULT_TOKEN, TelegramStub
from tests.engine.conftest import subprocess_env


def praf(home: Path, *args: str, backend: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**subprocess_env(), **({"DATABASE_URL": backend} if backend else {}), **env}
    return subprocess.run([sys.executable, "-m", "praf_engine", "--home", str(home), *args],
                          capture_output=True, text=True, env=full, timeout=120)


@pytest.fixture
def home(tmp_path: Path, backend: str | None) -> Path:
    h = tmp_path / "home"
    assert praf(h, "init", backend=backend).returncode == 0
    return h


def telegram(stub: TelegramStub, chat: bool = True) -> dict[str, str]:
    env = {"TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN, "PRAF_ALERTS__TELEGRAM_API_URL": stub.api_url}
    return {**env, "TELEGRAM_CHAT_ID": str(DEFAULT_CHAT_ID)} if chat else env


def test_alerts_test_says_what_is_missing(home: Path, backend: str | None) -> None:
    out = praf(home, "alerts", "test", backend=backend)
    assert out.returncode == 1 and "[ALERTCONFIG]" in out.stderr or "ALERTCONFIG" in out.stderr, out.stderr
    assert "TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID missing" in out.stderr
    out = praf(home, "alerts", "test", backend=backend, TELEGRAM_BOT_TOKEN=DEFAULT_TOKEN)
    assert out.returncode == 1 and "TELEGRAM_CHAT_ID missing" in out.stderr and "TELEGRAM_BOT_TOKEN" not in out.stderr.split("missing")[0]
    assert DEFAULT_TOKEN not in out.stderr + out.stdout


def test_alerts_test_sends_one_message_through_the_stub_and_names_a_refused_bot(home: Path, backend: str | None) -> None:
    with TelegramStub() as stub:
        out = praf(home, "alerts", "test", backend=backend, **telegram(stub))
        assert out.returncode == 0, out.stderr
        assert [m["text"].splitlines()[0] for m in stub.messages] == [f"ℹ PRAF test alert from {home}: Telegram delivery works."]
        stub.set_failure("unauthorized")
        out = praf(home, "alerts", "test", backend=backend, **telegram(stub))
    assert out.returncode == 1 and "ALERTAUTH" in out.stderr, out.stderr
    logs = "".join(p.read_text() for p in (home / "logs").glob("*.jsonl*"))
    assert DEFAULT_TOKEN not in out.stderr + out.stdout + logs and DEFAULT_TOKEN.split(":")[1] not in logs


def test_mute_list_unmute_and_bad_input(home: Path, backend: str | None) -> None:
    out = praf(home, "alerts", "mute", "lag", "--for", "2h", "--reason", "maintenance", backend=backend)
    assert out.returncode == 0 and "muted lag until" in out.stderr, out.stderr
    listed = praf(home, "alerts", "list", backend=backend)
    assert listed.returncode == 0 and "muted: lag until" in listed.stdout and "maintenance" in listed.stdout
    assert "TELEGRAM_BOT_TOKEN, TELEGRAM_CHAT_ID missing): alerts are recorded here, not sent" in listed.stdout
    bad = praf(home, "alerts", "mute", "lagg", backend=backend)
    assert bad.returncode == 2 and "ALERTBAD" in bad.stderr and "unknown alert rule 'lagg'" in bad.stderr and "dead_scheduler" in bad.stderr
    bad = praf(home, "alerts", "mute", "lag", "--for", "2x", backend=backend)
    assert bad.returncode == 2 and "not a duration: '2x'" in bad.stderr
    out = praf(home, "alerts", "unmute", "lag", backend=backend)
    assert out.returncode == 0 and "1 mute(s) ended" in out.stderr
    assert "muted: lag" not in praf(home, "alerts", "list", backend=backend).stdout


def test_dispatch_without_telegram_records_and_shows_the_alerts(home: Path, backend: str | None) -> None:
    gated = praf(home, "qa", backend=backend)  # no fetch ran: QAGATE, a real failed run in cron_status
    assert gated.returncode == 1 and "QAGATE" in gated.stderr
    out = praf(home, "alerts", "dispatch", backend=backend)  # the wall clock is past 03:30 only after 03:30 UTC
    assert out.returncode == 0, out.stderr
    assert "alerts queued now: job_failed:qa" in out.stderr and "[ALERTCONFIG]" in out.stderr
    listed = praf(home, "alerts", "list", backend=backend).stdout
    assert "job_failed" in listed and "QAGATE" in listed and "pending" in listed and "ALERTCONFIG" in listed
    again = praf(home, "alerts", "dispatch", backend=backend)
    assert "alerts queued now: none" in again.stderr  # the same night: not queued twice


def test_watchdog_on_a_home_without_a_daemon(home: Path, backend: str | None) -> None:
    out = praf(home, "watchdog", "--no-probe", backend=backend)
    assert out.returncode == 0, out.stderr
    assert "no scheduler has ever run in this home" in out.stdout
