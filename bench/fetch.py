"""Benchmark: PRAF's nightly fetch vs a bare yfinance script, against the sandbox in a child process (prints JSON).

1. incremental night (one new session per symbol), no rate limit: PRAF fetch vs `yf.download` of the same
   symbols and dates (PRAF's request window: last fetched + 1 - fetch.overlap_days .. the night) + one `to_parquet`
   per symbol, same session type, both with the timezone cache a previous night leaves. Target: PRAF <= 1.25x
   (``--repeat N``: N rounds in alternating order, the median ratio).
2. rate-limited night (per-address limit): share of symbols fetched and wall time, PRAF through 4 SOCKS exits
   vs the bare script direct. Target: PRAF 100 %.
3. full backfill of 1,000 symbols x 20 years: rows per second written (PRAF, and the bare script beside it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from machine import LoadWatch  # noqa: E402  (bench/ is sys.path[0])

ANCHOR = dt.date(2025, 6, 5)  # a Thursday; the night fetched is Friday 2025-06-06
NIGHT = dt.date(2025, 6, 6)

CHILD = """
import sys, datetime as dt, json
from praf_engine.sandbox.market import Market
from praf_engine.sandbox.faults import FaultConfig
from praf_engine.sandbox.yahoo import serve_yahoo
from praf_engine.sandbox.exits import ExitPool
size, anchor, today, start, limit, exits = sys.argv[1:7]
market = Market(size=int(size), seed=42, today=dt.date.fromisoformat(anchor), faults=FaultConfig.none(),
                history_start=dt.date.fromisoformat(start))
market.today = dt.date.fromisoformat(today)
emulator, server = serve_yahoo(market, rate_limit_requests=int(limit))
server.start()
pool = ExitPool(int(exits)) if int(exits) else None
print(json.dumps({"yahoo": server.url, "exits": pool.urls if pool else []}), flush=True)
sys.stdin.read()
if pool:
    pool.stop()
server.stop()
"""


class Emulator:
    """The Yahoo emulator (and optional SOCKS exits) in a child process, on its own core."""

    def __init__(self, size: int, today: dt.date, history_start: dt.date, limit: int = 10**9, exits: int = 0) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", CHILD, str(size), ANCHOR.isoformat(), today.isoformat(),
                                      history_start.isoformat(), str(limit), str(exits)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO)
        assert self.proc.stdout is not None
        line = ""
        while not line.startswith('{"yahoo"'):  # the sandbox's own log lines come first
            line = self.proc.stdout.readline()
            if not line:
                raise SystemExit("the emulator child process did not start")
        info = json.loads(line)
        self.url, self.exits = info["yahoo"], info["exits"]

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def market(size: int, history_start: dt.date) -> Any:
    from praf_engine.sandbox.faults import FaultConfig
    from praf_engine.sandbox.market import Market

    return Market(size=size, seed=42, today=ANCHOR, faults=FaultConfig.none(), history_start=history_start)


def make_home(home: Path, url: str, today: dt.date, **extra: Any) -> tuple[Any, Any]:
    from praf_engine.config import load_settings
    from praf_engine.logs import configure_logging
    from praf_engine.sandbox.wiring import sandbox_wiring
    from praf_engine.service import EngineService

    overrides = {("sources",): "sandbox", ("sandbox", "yahoo_url"): url, ("sandbox", "today"): today.isoformat(),
                 ("fetch", "full_history_cap"): 100_000}
    overrides.update({tuple(k.split("__")): v for k, v in extra.items()})
    wiring = sandbox_wiring(load_settings(home=home, overrides=overrides, environ={}))
    configure_logging(wiring.settings.logs_dir, secrets=[], level="warning", console_level=None)
    return wiring.settings, EngineService.open(wiring.settings, wiring=wiring)


def seed_state(settings: Any, mk: Any, symbols: list[str]) -> None:
    """Tickers + a lake holding every bar up to ANCHOR, meta last_fetched = ANCHOR (what a previous night left)."""
    from praf_engine.db.models import Ticker, TickerFetchMeta
    from praf_engine.fetch.actions import record_events
    from praf_engine.lake import Lake

    rows = [{"symbol": x.symbol, "exchange_code": x.exchange_code, "mic": x.mic, "first_seen": ANCHOR, "last_seen": ANCHOR}
            for x in mk.universe() if x.symbol in set(symbols)]
    Ticker.insert_many(rows).execute()
    lake = Lake(settings.lake_dir)
    for i in range(0, len(symbols), 500):
        chunk = symbols[i:i + 500]
        lake.write_many({s: mk.bars(s).frame() for s in chunk})
    TickerFetchMeta.insert_many([{"symbol": s, "last_fetched_date": ANCHOR, "full_history_pending": False}
                                 for s in symbols]).execute()
    for s in symbols:  # the events the backfill recorded
        bars = mk.bars(s)
        record_events(s, bars.dividends, bars.splits)


def warm_timezones(mk: Any, symbols: list[str]) -> None:
    """yfinance's timezone cache as any night after the first leaves it: one entry per symbol (without it every
    symbol costs a second request, a timezone lookup). yfinance keeps that cache where it was first opened in the
    process (``set_cache_location`` does not move it), so the bare script and every PRAF home here share it."""
    from yfinance.cache import get_tz_cache

    cache = get_tz_cache()
    for s in symbols:
        cache.store(s, mk.listing(s).tz)


def cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def praf_fetch(settings: Any, service: Any) -> tuple[float, dict[str, Any]]:
    from praf_engine.db.models import CronStatus
    from praf_engine.fetch.runner import fetch_job
    from praf_engine.jobs.runner import JobRunner

    began = time.perf_counter()
    code = JobRunner(service.wiring).run("fetch", fetch_job)
    wall = time.perf_counter() - began
    detail = CronStatus.select().order_by(CronStatus.id.desc()).first().detail
    return wall, {"exit_code": code, **{k: detail.get(k) for k in ("done", "outcomes", "rows_written", "redownloaded", "vpn_fail")}}


def bare_script(url: str, symbols: list[str], start: dt.date | None, out: Path, proxy: str | None = None) -> tuple[float, int, int]:
    """yf.download in batches of 100 with the same session type, then one to_parquet per symbol: (wall, ok, rows)."""
    import yfinance as yf

    from praf_engine.sandbox.yahoo import SandboxSession

    session = SandboxSession(url, proxies={"http": proxy, "https": proxy} if proxy else None)
    out.mkdir(parents=True, exist_ok=True)
    ok = rows = 0
    began = time.perf_counter()
    for i in range(0, len(symbols), 100):
        batch = symbols[i:i + 100]
        kwargs: dict[str, Any] = {"period": "max"} if start is None else {"start": start.isoformat(), "end": (NIGHT + dt.timedelta(days=1)).isoformat()}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = yf.download(batch, auto_adjust=False, actions=True, progress=False, threads=True, session=session, **kwargs)
        for sym in batch:
            if sym not in frame.columns.get_level_values(1):
                continue
            sub = frame.xs(sym, axis=1, level=1).dropna(how="all", subset=["Close"])
            if len(sub):
                sub.to_parquet(out / f"{sym}.parquet")
                ok += 1
                rows += len(sub)
    return time.perf_counter() - began, ok, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--symbols", type=int, default=6000, help="symbols fetched each night (default 6000)")
    parser.add_argument("--backfill-symbols", type=int, default=1000, help="symbols of the 20-year backfill (default 1000)")
    parser.add_argument("--exits", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=1, help="rounds of the incremental night (median ratio; default 1)")
    parser.add_argument("--parts", default="incremental,rate_limited,backfill", help="comma-separated parts to run")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    args.repeat = max(1, args.repeat)
    watch = LoadWatch()

    from praf_engine.fetch.client import configure_yfinance

    work = Path(tempfile.mkdtemp(prefix="praf-bench-fetch-"))
    configure_yfinance(str(work / "yfcache"))
    short_start = ANCHOR - dt.timedelta(days=400)
    # the universe fetched: listings with a year of history that trade on the night (the market delists some on it:
    # they answer 404 to everyone); the market is grown until it holds --symbols of them
    size = args.symbols
    while True:
        mk = market(size, short_start)
        live = {x.symbol for x in mk.universe(NIGHT)}
        symbols = [x.symbol for x in mk.universe() if x.listed_on < short_start and x.symbol in live]
        if len(symbols) >= args.symbols:
            symbols = symbols[: args.symbols]
            break
        size = math.ceil(size * args.symbols / max(len(symbols), 1) * 1.02) + 1
    report: dict[str, Any] = {"benchmark": "nightly_fetch", "universe": len(symbols), "market_size": size,
                              "night": NIGHT.isoformat()}
    warm_timezones(mk, symbols)  # for every part (before, part 1's bare script warmed it for the later parts)

    # 1. incremental night, no rate limit
    if "incremental" in parts:
        rounds = []
        with Emulator(size, NIGHT, short_start) as emu:
            settings, service = make_home(work / "inc", emu.url, NIGHT)
            seed_state(settings, mk, symbols)
            service.close()
            start = ANCHOR + dt.timedelta(days=1 - settings.fetch.overlap_days)  # what PRAF asks for (batches.plan_night)
            for i in range(args.repeat):
                home = work / f"inc{i}"
                shutil.copytree(work / "inc", home)  # the same seeded home every round
                one: dict[str, Any] = {}

                def bare(i: int = i, one: dict[str, Any] = one) -> None:
                    cpu = cpu_s()
                    one["bare_s"], one["bare_ok"], _ = bare_script(emu.url, symbols, start, work / f"bare-inc{i}")
                    one["bare_cpu_s"] = cpu_s() - cpu

                def praf(home: Path = home, one: dict[str, Any] = one) -> None:
                    cpu = cpu_s()
                    settings, service = make_home(home, emu.url, NIGHT)
                    one["praf_s"], one["praf"] = praf_fetch(settings, service)
                    service.close()
                    one["praf_cpu_s"] = cpu_s() - cpu

                for step in ((bare, praf) if i % 2 == 0 else (praf, bare)):
                    step()
                one["ratio"] = one["praf_s"] / one["bare_s"]
                rounds.append(one)
        best = sorted(rounds, key=lambda r: r["ratio"])[(len(rounds) - 1) // 2]  # the median round (lower middle)
        ratio = statistics.median(r["ratio"] for r in rounds)
        report["incremental"] = {
            "rounds": len(rounds), "bare_start": start.isoformat(), "overlap_days": settings.fetch.overlap_days,
            "bare_s": round(best["bare_s"], 1), "bare_ok": best["bare_ok"], "praf_s": round(best["praf_s"], 1), **best["praf"],
            "bare_cpu_s": round(best["bare_cpu_s"], 1), "praf_cpu_s": round(best["praf_cpu_s"], 1),
            "ratio": round(ratio, 3), "target_ratio": 1.25, "target_met": ratio <= 1.25,
            **({"ratios": [round(r["ratio"], 3) for r in rounds], "bare_s_all": [round(r["bare_s"], 1) for r in rounds],
                "praf_s_all": [round(r["praf_s"], 1) for r in rounds]} if len(rounds) > 1 else {}),
        }

    if "rate_limited" in parts:
        # 2. rate-limited night: with the time zones cached a symbol costs one chart request (the cookie and crumb are
        # fetched once); one address may make 0.35 per symbol, so direct gets about a third of the universe and 4
        # exits have room for all of it (and for the re-downloads)
        limit = math.ceil(len(symbols) * 0.35)
        with Emulator(size, NIGHT, short_start, limit=limit) as emu:
            bare_s, bare_ok, _ = bare_script(emu.url, symbols, NIGHT, work / "bare-rl")
        with Emulator(size, NIGHT, short_start, limit=limit, exits=args.exits) as emu:
            settings, service = make_home(work / "rl", emu.url, NIGHT, exits__kind="proxies", exits__proxies=emu.exits,
                                          exits__rotate_every=max(100, limit // 2))
            seed_state(settings, mk, symbols)
            praf_s, praf = praf_fetch(settings, service)
            from praf_engine.db.models import TickerFetchMeta

            ok = TickerFetchMeta.select().where(TickerFetchMeta.fetch_status == "ok").count()  # distinct symbols
            service.close()
        report["rate_limited"] = {"limit_per_address": limit, "exits": args.exits,
                                  "bare_direct_share": round(bare_ok / len(symbols), 3), "bare_s": round(bare_s, 1),
                                  "praf_share": round(ok / len(symbols), 3), "praf_s": round(praf_s, 1), **praf,
                                  "target_met": ok == len(symbols)}

    if "backfill" in parts:
        # 3. full backfill, 20 years
        long_start = NIGHT - dt.timedelta(days=int(365.25 * 20))
        mk20 = market(size, long_start)
        back = [x.symbol for x in mk20.universe() if x.listed_on <= long_start + dt.timedelta(days=30)][: args.backfill_symbols]
        with Emulator(size, NIGHT, long_start) as emu:
            bare_s, bare_ok, bare_rows = bare_script(emu.url, back, None, work / "bare-full")
            settings, service = make_home(work / "full", emu.url, NIGHT)
            from praf_engine.db.models import Ticker

            Ticker.insert_many([{"symbol": s, "exchange_code": mk20.listing(s).exchange_code, "mic": mk20.listing(s).mic,
                                 "first_seen": NIGHT, "last_seen": NIGHT} for s in back]).execute()
            praf_s, praf = praf_fetch(settings, service)
            service.close()
        report["backfill"] = {"symbols": len(back), "years": 20, "praf_s": round(praf_s, 1), **praf,
                              "praf_rows_per_s": round((praf.get("rows_written") or 0) / praf_s),
                              "bare_s": round(bare_s, 1), "bare_rows": bare_rows, "bare_rows_per_s": round(bare_rows / bare_s)}
    report["machine"] = watch.report()
    print(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
