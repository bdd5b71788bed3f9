"""Benchmark: alert delivery through the sandbox's Telegram stub over HTTP (prints JSON).

1. drain: 1,000 queued alerts of one night (``alerts.max_per_night`` raised to 1,000 for the run) sent by PRAF's
   dispatcher (outbox claim, send, mark sent per message) with the stub's flood control on (Telegram's ~30
   messages a second; a 429 carries retry_after and is waited for), and the same without the limit. Baseline beside
   it: a bare python-telegram-bot loop sending the same 1,000 texts (sleeping retry_after on a 429).
2. delay from a rule firing to the message at the stub: one alert enqueued (what the rules do), then dispatched
   (what the alerts job and the watchdog do next): the enqueue's time to the stub's receipt, median and max of N.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from machine import LoadWatch  # noqa: E402  (bench/ is sys.path[0])

from praf_engine.alerts import outbox  # noqa: E402
from praf_engine.alerts.deliver import dispatch  # noqa: E402
from praf_engine.alerts.format import render  # noqa: E402
from praf_engine.config import load_settings  # noqa: E402
from praf_engine.db.models import AlertOutbox  # noqa: E402
from praf_engine.logs import configure_logging  # noqa: E402
from praf_engine.sandbox.telegram import DEFAULT_CHAT_ID, DEFAULT_TOKEN, TelegramStub  # noqa: E402
from praf_engine.service import EngineService  # noqa: E402

SEVERITIES = ("critical", "warning", "info")
NIGHT = dt.date(2026, 3, 4)


def _service(home: Path, stub: TelegramStub, max_per_night: int) -> EngineService:
    overrides = {("telegram_token",): DEFAULT_TOKEN, ("telegram_chat_id",): str(DEFAULT_CHAT_ID),
                 ("alerts", "telegram_api_url"): stub.api_url, ("alerts", "max_per_night"): max_per_night,
                 ("alerts", "max_wait_s"): 5.0}
    settings = load_settings(home=home, environ={}, overrides=overrides, cwd=home)
    configure_logging(settings.logs_dir, secrets=settings.secrets(), console_level=None, level="warning")
    return EngineService.open(settings)


def _texts(n: int) -> list[tuple[str, str, str]]:
    return [(f"rule{i % 7}", f"SYM{i:04d}", SEVERITIES[i % 3]) for i in range(n)]


def praf_drain(home: Path, stub: TelegramStub, n: int) -> dict[str, Any]:
    svc = _service(home, stub, n)
    try:
        for rule, subject, severity in _texts(n):
            outbox.enqueue(svc.db, rule=rule, subject=subject, night=NIGHT, severity=severity,
                           text=f"{rule}: {subject} <{severity}>\n→ praf-tui --screen triage --check {rule}")
        before, limited = len(stub.messages), stub.rate_limited
        started = time.perf_counter()
        report = dispatch(svc.wiring, NIGHT)
        elapsed = time.perf_counter() - started
        sent = AlertOutbox.select().where(AlertOutbox.status == "sent").count()
        return {"messages": len(stub.messages) - before, "sent_rows": sent, "pending": report.pending,
                "seconds": round(elapsed, 3), "messages_per_s": round(sent / elapsed, 1),
                "answered_429": stub.rate_limited - limited}
    finally:
        svc.close()


def bare_drain(stub: TelegramStub, n: int) -> dict[str, Any]:
    """The bare script: one Bot, a loop over the texts, retry_after slept on a 429."""
    from telegram import Bot
    from telegram.error import RetryAfter

    texts = [render(f"{r}: {s} <{sev}>\n→ praf-tui --screen triage --check {r}") for r, s, sev in _texts(n)]

    async def run() -> float:
        bot = Bot(DEFAULT_TOKEN, base_url=f"{stub.api_url}/bot")
        started = time.perf_counter()
        for text in texts:
            while True:
                try:
                    await bot.send_message(DEFAULT_CHAT_ID, text, parse_mode="HTML")
                    break
                except RetryAfter as exc:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        wait = exc.retry_after
                    await asyncio.sleep(wait.total_seconds() if isinstance(wait, dt.timedelta) else wait)
        elapsed = time.perf_counter() - started
        await bot.shutdown()
        return elapsed

    before, limited = len(stub.messages), stub.rate_limited
    elapsed = asyncio.run(run())
    sent = len(stub.messages) - before
    return {"messages": sent, "seconds": round(elapsed, 3), "messages_per_s": round(sent / elapsed, 1),
            "answered_429": stub.rate_limited - limited}


def delays(home: Path, stub: TelegramStub, rounds: int) -> dict[str, Any]:
    svc = _service(home, stub, 3)
    found: list[float] = []
    try:
        for i in range(rounds):
            night = NIGHT + dt.timedelta(days=i + 1)
            fired = time.time()
            outbox.enqueue(svc.db, rule="lag", subject="universe", night=night, severity="critical",
                           text="Data lag: 352/6,000 listings > 2 trading days behind\n→ praf-tui --screen triage")
            dispatch(svc.wiring, night)
            found.append(stub.messages[-1]["at"] - fired)
    finally:
        svc.close()
    ms = sorted(round(1000 * d, 1) for d in found)
    return {"rounds": rounds, "median_ms": round(statistics.median(ms), 1), "max_ms": ms[-1], "all_ms": ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=30, help="the stub's flood control: messages a second")
    parser.add_argument("--rounds", type=int, default=20, help="single alerts timed for the delay")
    args = parser.parse_args()
    watch = LoadWatch()
    out: dict[str, Any] = {"alerts": args.alerts, "stub_rate_limit_per_s": args.rate}
    with tempfile.TemporaryDirectory() as tmp, TelegramStub() as stub:
        root = Path(tmp)
        stub.set_rate_limit(args.rate, per_s=1.0)
        out["rate_limited"] = {"praf": praf_drain(root / "a", stub, args.alerts), "bare": bare_drain(stub, args.alerts)}
        stub.set_rate_limit(None)
        out["unlimited"] = {"praf": praf_drain(root / "b", stub, args.alerts), "bare": bare_drain(stub, args.alerts)}
        out["delay_fire_to_stub"] = delays(root / "c", stub, args.rounds)
    for side in ("rate_limited", "unlimited"):
        p, b = out[side]["praf"], out[side]["bare"]
        out[side]["ratio_seconds"] = round(p["seconds"] / b["seconds"], 3)
    out["machine"] = watch.report()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
