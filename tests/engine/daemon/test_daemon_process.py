"""`praf-engine --daemon` as a real process under a stand-in for systemd: a unix datagram socket as NOTIFY_SOCKET
(READY, WATCHDOG, RELOADING, STOPPING), a second daemon refused, SIGHUP with a good and a bad settings file,
SIGTERM, `praf-engine status`, and a database that is not there at start (retried with back-off, no crash)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from praf_engine.daemon.notify import Notifier
from tests.conftest import REPO, cli_env
from tests.engine.daemon.helpers import NotifyListener, log_lines

QUIET = "[schedule]\ncatchup_nightly_h = 0\ncatchup_weekly_h = 0\ncatchup_scrape_days = 0\n"  # nothing is run late


def _engine(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "praf_engine", *args], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def _status(home: Path, env: dict[str, str]) -> dict:
    out = _engine("--home", str(home), "status", "--json", env=env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_notifier_speaks_the_protocol_to_a_real_socket(tmp_path: Path) -> None:
    listener = NotifyListener(tmp_path / "notify")
    try:
        assert Notifier(str(listener.path)).send("READY=1", "STATUS=scheduling")
        assert listener.expect(lambda m: True, 5) == {"READY": "1", "STATUS": "scheduling"}
    finally:
        listener.close()
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # "@name": Linux's abstract namespace, as systemd uses
    name = f"praf-test-{os.getpid()}"
    abstract.bind("\0" + name)
    abstract.settimeout(5)
    try:
        assert Notifier("@" + name).send("WATCHDOG=1")
        assert abstract.recv(100) == b"WATCHDOG=1"
    finally:
        abstract.close()
    deaf = NotifyListener(tmp_path / "deaf")  # bound, never read: its queue fills up
    try:
        results: list[bool] = []
        sender = threading.Thread(target=lambda: results.extend(Notifier(str(deaf.path)).send("WATCHDOG=1") for _ in range(2000)),
                                  daemon=True)
        sender.start()
        sender.join(30)
        assert not sender.is_alive(), "send blocked on a full socket queue: the scheduler loop would hang"
        assert results[0] and not results[-1]  # the first queued, the overflow dropped
    finally:
        deaf.close()
    missing = Notifier(str(tmp_path / "nobody-listens"))
    assert not missing.send("READY=1") and not missing.send("READY=1")  # logged once, never raised
    assert not Notifier(None).send("READY=1")
    assert Notifier.from_env({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "20000000", "WATCHDOG_PID": str(os.getpid())}).watchdog_s == 20.0
    assert Notifier.from_env({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "1"}).watchdog_s is None


def test_daemon_under_a_notify_socket_reloads_refuses_a_second_and_stops(tmp_path: Path, backend: str | None) -> None:
    home = tmp_path / "home"
    env = cli_env(backend)
    assert _engine("--home", str(home), "init", env=env).returncode == 0
    settings = home / "settings.toml"
    settings.write_text(QUIET + "\n[daemon]\nbeat_s = 0.2\nstale_after_s = 5\n", encoding="utf-8")
    listener = NotifyListener(tmp_path / "notify")
    proc = subprocess.Popen([sys.executable, "-m", "praf_engine", "--home", str(home), "--daemon"], cwd=REPO,
                            env={**env, "NOTIFY_SOCKET": str(listener.path), "WATCHDOG_USEC": "400000"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        ready = listener.expect(lambda m: m.get("READY") == "1")
        assert "scheduling (daemon)" in ready["STATUS"] and str(proc.pid) in ready["STATUS"]
        listener.expect(lambda m: m.get("WATCHDOG") == "1")
        doc = _status(home, env)
        assert doc["scheduler"]["state"] == "running" and doc["scheduler"]["pid"] == proc.pid
        assert doc["scheduler"]["next_runs"]["fetch"].endswith("T01:00:00")
        assert [j["job"] for j in doc["jobs"]][:3] == ["scrape", "fetch", "qa"]

        second = _engine("--home", str(home), "daemon", env=env)
        assert second.returncode == 2 and "DAEMONRUNNING" in second.stderr and f"pid {proc.pid}" in second.stderr

        settings.write_text(QUIET + 'fetch_time = "01:20"\n\n[daemon]\nbeat_s = 0.2\nstale_after_s = 5\n', encoding="utf-8")
        listener.messages.clear()
        proc.send_signal(signal.SIGHUP)
        listener.expect(lambda m: m.get("RELOADING") == "1")
        assert listener.expect(lambda m: m.get("READY") == "1")["STATUS"] == "settings reloaded: 1 changed"
        reloaded = [r for r in log_lines(home) if r["msg"].startswith("settings reloaded")]
        assert reloaded[-1]["detail"]["changed"] == {"schedule.fetch_time": {"old": "01:00", "new": "01:20"}}

        settings.write_text(QUIET + 'fetch_time = "25:00"\n', encoding="utf-8")
        listener.messages.clear()
        proc.send_signal(signal.SIGHUP)
        assert "NOT reloaded (CONFIGBAD)" in listener.expect(lambda m: m.get("READY") == "1")["STATUS"]
        bad = [r for r in log_lines(home) if r["msg"].startswith("settings not reloaded")]
        assert bad and bad[-1]["error_code"] == "CONFIGBAD" and "schedule.fetch_time" in bad[-1]["msg"]
        settings.write_text(QUIET, encoding="utf-8")  # `status` reads the file too; the daemon is not told (no SIGHUP)
        listener.expect(lambda m: m.get("WATCHDOG") == "1")  # a beat after the refused reload
        assert _status(home, env)["scheduler"]["next_runs"]["fetch"].endswith("T01:20:00")  # the good ones stay

        proc.send_signal(signal.SIGTERM)
        listener.expect(lambda m: m.get("STOPPING") == "1")
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        listener.close()
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]  # JSON lines on stderr for journald
    assert any(r["msg"] == "scheduler stopped" for r in lines)
    doc = _status(home, env)
    assert doc["scheduler"]["state"] == "stopped" and doc["scheduler"]["stopped_at"]
    human = _engine("--home", str(home), "status", env=env)
    assert human.returncode == 0 and "stopped cleanly" in human.stdout


def test_an_unreachable_database_at_start_is_retried_with_backoff_until_stopped(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "lake").mkdir(parents=True)  # a PostgreSQL home: its lake folder; the database is not there
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()  # nothing listens on it now
    env = cli_env(f"postgresql://praf:s3cretpw0rd@127.0.0.1:{port}/praf")
    listener = NotifyListener(tmp_path / "notify")
    proc = subprocess.Popen([sys.executable, "-m", "praf_engine", "--home", str(home), "daemon"], cwd=REPO,
                            env={**env, "NOTIFY_SOCKET": str(listener.path)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        listener.expect(lambda m: m.get("STATUS", "").startswith("waiting for the database (try 2, next in 2 s)"))
        assert proc.poll() is None  # still there: no crash, no exit for systemd to restart in a loop
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        listener.close()
    assert proc.returncode == 0, err[-2000:]
    tries = [r for r in log_lines(home) if r["msg"].startswith("database unreachable at start")]
    assert [r["detail"]["retry_in_s"] for r in tries[:2]] == [1.0, 2.0] and {r["error_code"] for r in tries} == {"DBERROR"}
    assert "s3cretpw0rd" not in err and "s3cretpw0rd" not in (home / "logs" / "app.jsonl").read_text()


@pytest.mark.parametrize("argv", [["daemon"], ["--daemon"]])
def test_daemon_on_a_home_that_does_not_exist_is_homemissing(tmp_path: Path, argv: list[str]) -> None:
    out = _engine("--home", str(tmp_path / "nowhere"), *argv, env=cli_env())
    assert out.returncode == 2 and "HOMEMISSING" in out.stderr and not (tmp_path / "nowhere").exists()


def test_the_daemon_answers_telegram_commands_from_the_configured_chat_only(tmp_path: Path) -> None:
    """The command listener runs in the daemon (long polling against the sandbox's Bot API stub, the real
    python-telegram-bot): /status is answered, a stranger is not, SIGTERM ends both, and the token is never logged."""
    from praf_engine.sandbox.telegram import DEFAULT_CHAT_ID, DEFAULT_TOKEN, TelegramStub

    home = tmp_path / "home"
    env = cli_env(None, TELEGRAM_BOT_TOKEN=DEFAULT_TOKEN, TELEGRAM_CHAT_ID=str(DEFAULT_CHAT_ID))
    assert _engine("--home", str(home), "init", env=env).returncode == 0
    with TelegramStub() as stub:
        (home / "settings.toml").write_text(
            QUIET + f'\n[alerts]\ntelegram_api_url = "{stub.api_url}"\npoll_timeout_s = 1\ntimeout_s = 5\n', encoding="utf-8")
        listener = NotifyListener(tmp_path / "notify")
        proc = subprocess.Popen([sys.executable, "-m", "praf_engine", "--home", str(home), "--daemon"], cwd=REPO,
                                env={**env, "NOTIFY_SOCKET": str(listener.path)}, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        try:
            listener.expect(lambda m: m.get("READY") == "1")
            assert stub.wait_for_long_poll(30), "the daemon does not poll Telegram"
            stub.push_command("/mute 2h", chat_id=777001, user="intruder")
            stub.push_command("/status")
            assert stub.wait_for_messages(1, 30), "no reply to /status"
            assert stub.messages[0]["text"].startswith("📊 PRAF status")
            assert all(str(m["chat_id"]) == str(DEFAULT_CHAT_ID) for m in stub.messages)
            proc.send_signal(signal.SIGTERM)
            _out, err = proc.communicate(timeout=45)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)
            listener.close()
    assert proc.returncode == 0, err[-2000:]
    msgs = [r["msg"] for r in log_lines(home)]
    assert "telegram command listener polling" in msgs and "telegram command listener stopped" in msgs
    assert "telegram command from an unconfigured chat ignored" in msgs
    assert DEFAULT_TOKEN not in err and DEFAULT_TOKEN not in (home / "logs" / "app.jsonl").read_text()
