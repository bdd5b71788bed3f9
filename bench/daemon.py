"""Benchmark: the scheduler daemon — idle CPU and memory, scheduled time → job start, request → job start (JSON).

    .venv/bin/python bench/daemon.py [--seconds 300] [--requests 5] [--keep DIR]

A fresh SQLite home (`praf-engine init`) and one real `praf-engine daemon` process under a stand-in for systemd (a
unix datagram socket as NOTIFY_SOCKET: the bench waits for READY and counts the WATCHDOG pings), default settings
(heartbeat every 5 s) except that nothing is caught up at start. Then, on that one process:
  (1) idle      ``--seconds`` (the issue asks 5 min) with nothing due: CPU time of the process (utime + stime of
                /proc/PID/stat, every thread) over wall time, as % of one core; RSS (VmRSS) at the end;
  (2) on time   the retention job scheduled at the next whole minute (settings.toml rewritten, SIGHUP): delay from
                its scheduled time to its cron_status start (both on the UTC clock);
  (3) requests  ``--requests`` times a pending job_requests row (what the TUI's "run now" writes when a scheduler
                beats): delay from requested_at to the run's start;
and the baseline of (3): the same job as its own process (`praf-engine run retention`, what a request costs with no
daemon: a detached process), spawn → start. Peak RSS (VmHWM) at the end. Targets: idle CPU <= 0.5 % of a core,
RSS <= 150 MB, on time <= 1 s, request <= 2 s. The load average at start and end says how busy the machine was.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from machine import LoadWatch  # noqa: E402  (bench/ is sys.path[0])

TARGETS = {"idle_cpu_pct": 0.5, "rss_mb": 150.0, "on_time_delay_s": 1.0, "request_delay_s": 2.0}
QUIET = "[schedule]\ncatchup_nightly_h = 0.01\ncatchup_weekly_h = 0\ncatchup_scrape_days = 0\n"
ENGINE = [sys.executable, "-m", "praf_engine"]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("PRAF_", "TELEGRAM_")) and k != "DATABASE_URL"}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (fields 14, 15)


def memory_mb(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(key)


class Notify:
    """NOTIFY_SOCKET: READY/WATCHDOG/STOPPING datagrams from the daemon."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.watchdog = 0

    def drain(self) -> None:
        """Count what arrived meanwhile (the pings of an idle window), without waiting."""
        self.sock.setblocking(False)
        try:
            while True:
                self.watchdog += self.sock.recv(4096).decode().split("\n").count("WATCHDOG=1")
        except BlockingIOError:
            pass
        finally:
            self.sock.setblocking(True)

    def wait_for(self, field: str, timeout: float = 120.0) -> None:
        self.sock.settimeout(timeout)
        while True:
            fields = dict(x.split("=", 1) for x in self.sock.recv(4096).decode().split("\n") if "=" in x)
            self.watchdog += fields.get("WATCHDOG") == "1"
            if field in fields:
                return


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="idle window (the issue: 5 min)")
    parser.add_argument("--requests", type=int, default=5, help="job requests timed")
    parser.add_argument("--keep", type=Path, help="keep the home in DIR (default: a temporary folder, removed)")
    args = parser.parse_args()
    watch = LoadWatch()
    tmp = Path(tempfile.mkdtemp(prefix="praf-bench-daemon-"))
    home = args.keep or tmp / "home"
    env = _env()
    subprocess.run([*ENGINE, "--home", str(home), "init"], env=env, cwd=REPO, check=True, capture_output=True)
    (home / "settings.toml").write_text(QUIET, encoding="utf-8")

    from praf_engine.config import load_settings
    from praf_engine.db.models import CronStatus, JobRequest
    from praf_engine.service import EngineService

    service = EngineService.open(load_settings(home=home, environ={}, cwd=home), init=False)
    notify = Notify(tmp / "notify")
    proc = subprocess.Popen([*ENGINE, "--home", str(home), "daemon"], env={**env, "NOTIFY_SOCKET": str(notify.path)},
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    report: dict[str, Any] = {"seconds": args.seconds, "targets": TARGETS}
    try:
        notify.wait_for("READY")
        # (1) idle
        notify.drain()
        notify.watchdog = 0
        cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
        end = t0 + args.seconds
        while (left := end - time.monotonic()) > 0:  # read the pings as systemd does (a full socket queue would drop them)
            notify.sock.settimeout(left)
            try:
                notify.watchdog += notify.sock.recv(4096).decode().split("\n").count("WATCHDOG=1")
            except TimeoutError:
                break
        cpu1, t1 = cpu_seconds(proc.pid), time.monotonic()
        report["idle"] = {"cpu_pct_of_core": round(100 * (cpu1 - cpu0) / (t1 - t0), 3), "cpu_s": round(cpu1 - cpu0, 3),
                          "wall_s": round(t1 - t0, 1), "rss_mb": round(memory_mb(proc.pid, "VmRSS"), 1),
                          "watchdog_pings": notify.watchdog}
        # (2) on time: retention at the next whole minute at least 20 s ahead
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        slot = (now + dt.timedelta(seconds=80)).replace(second=0, microsecond=0)
        (home / "settings.toml").write_text(QUIET + f'archival_time = "{slot:%H:%M}"\n', encoding="utf-8")
        proc.send_signal(signal.SIGHUP)
        while not CronStatus.select().where(CronStatus.job == "retention", CronStatus.trigger == "daemon").exists():
            notify.wait_for("WATCHDOG", timeout=max(120.0, (slot - now).total_seconds() + 60))
        run = CronStatus.get(CronStatus.job == "retention", CronStatus.trigger == "daemon")
        report["on_time"] = {"scheduled": slot.isoformat(), "started": run.started_at.isoformat(),
                             "delay_s": round((run.started_at - slot).total_seconds(), 3)}
        # (3) requests
        delays = []
        for _ in range(args.requests):
            request = JobRequest.create(job="retention", requested_by="bench:daemon", requested_at=dt.datetime.now(dt.UTC).replace(tzinfo=None))
            while True:
                row = JobRequest.get_by_id(request.id)
                if row.run_id and CronStatus.select().where(CronStatus.run_id == row.run_id, CronStatus.finished_at.is_null(False)).exists():
                    break
                time.sleep(0.05)
            started = CronStatus.get(CronStatus.run_id == row.run_id).started_at
            delays.append((started - row.requested_at).total_seconds())
        report["request"] = {"delays_s": [round(d, 3) for d in delays], "median_s": round(statistics.median(delays), 3),
                             "max_s": round(max(delays), 3)}
        report["peak_rss_mb"] = round(memory_mb(proc.pid, "VmHWM"), 1)
        proc.send_signal(signal.SIGTERM)
        stop0 = time.monotonic()
        report["stop"] = {"exit_code": proc.wait(60), "seconds": round(time.monotonic() - stop0, 3)}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # baseline of (3): no daemon, the job as a process of its own
    spawns = []
    for _ in range(args.requests):
        before = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        subprocess.run([*ENGINE, "--home", str(home), "run", "retention"], env=env, cwd=REPO, check=True, capture_output=True)
        run = CronStatus.select().where(CronStatus.job == "retention", CronStatus.trigger == "cli").order_by(CronStatus.id.desc()).first()
        spawns.append((run.started_at - before).total_seconds())
    report["baseline_spawned_run"] = {"delays_s": [round(d, 3) for d in spawns], "median_s": round(statistics.median(spawns), 3)}
    service.close()
    report["ok"] = {"idle_cpu": report["idle"]["cpu_pct_of_core"] <= TARGETS["idle_cpu_pct"],
                    "rss": report["peak_rss_mb"] <= TARGETS["rss_mb"],
                    "on_time": 0 <= report["on_time"]["delay_s"] <= TARGETS["on_time_delay_s"],
                    "request": report["request"]["max_s"] <= TARGETS["request_delay_s"]}
    report["machine"] = watch.report()
    print(json.dumps(report, indent=2))
    if args.keep is None:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if all(report["ok"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
