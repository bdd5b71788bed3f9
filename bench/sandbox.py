"""Benchmark: chart requests/s the Yahoo emulator serves to yfinance vs a raw HTTP GET loop (prints JSON).

The emulator runs in a child process (its own core), as in a real fetch; the client side is either the real
yfinance (`yf.download` through the rewriting session: what PRAF's fetch can consume) or a raw keep-alive GET
loop on the same endpoint (what the emulator can serve). Target: raw rate >= 5x the yfinance rate.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from machine import LoadWatch  # noqa: E402  (bench/ is sys.path[0])

CHILD = """
import sys, datetime as dt
from praf_engine.sandbox.market import Market
from praf_engine.sandbox.faults import FaultConfig
from praf_engine.sandbox.yahoo import serve_yahoo
market = Market(size=int(sys.argv[1]), seed=42, today=dt.date(2025, 6, 6), faults=FaultConfig.none())
emulator, server = serve_yahoo(market, rate_limit_requests=10**9)
server.start()
print(server.url, flush=True)
sys.stdin.read()
server.stop()
"""


def start_emulator(size: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(size)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, cwd=REPO)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def raw_loop(url: str, symbols: list[str], threads: int) -> float:
    """Keep-alive GETs with the standard library's http.client: the client costs little, the emulator is measured."""
    import http.client
    from urllib.parse import urlsplit

    host, port = urlsplit(url).hostname, urlsplit(url).port
    chunks = [symbols[i::threads] for i in range(threads)]
    errors: list[int] = []

    def work(chunk: list[str]) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=30)
        for sym in chunk:
            conn.request("GET", f"/v8/finance/chart/{sym}?range=1y&interval=1d&events=div%2Csplits")
            response = conn.getresponse()
            if not response.read() or response.status != 200:
                errors.append(response.status)
        conn.close()

    started = time.perf_counter()
    pool = [threading.Thread(target=work, args=(c,)) for c in chunks]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"raw loop got {len(errors)} non-200 answers")
    return len(symbols) / elapsed


def yfinance_rate(url: str, symbols: list[str], batch: int) -> tuple[float, int]:
    import yfinance as yf
    from yfinance.cache import set_cache_location

    from praf_engine.sandbox.yahoo import SandboxSession

    set_cache_location(tempfile.mkdtemp(prefix="yfcache"))
    warnings.filterwarnings("ignore")
    session = SandboxSession(url)
    rows = 0
    started = time.perf_counter()
    for i in range(0, len(symbols), batch):
        frame = yf.download(symbols[i:i + batch], period="1y", auto_adjust=False, actions=True, progress=False,
                            threads=True, session=session)
        rows += int(frame["Close"].notna().to_numpy().sum())
    return len(symbols) / (time.perf_counter() - started), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--symbols", type=int, default=6000, help="universe size served (default 6000)")
    parser.add_argument("--yf-sample", type=int, default=600, help="symbols downloaded through yfinance")
    parser.add_argument("--threads", type=int, default=4, help="raw GET loop client threads")
    args = parser.parse_args()
    watch = LoadWatch()

    import datetime as dt

    from praf_engine.sandbox.faults import FaultConfig
    from praf_engine.sandbox.market import Market

    market = Market(size=args.symbols, seed=42, today=dt.date(2025, 6, 6), faults=FaultConfig.none())
    symbols = [x.symbol for x in market.universe() if x.listed_on < dt.date(2024, 6, 1)]
    proc, url = start_emulator(args.symbols)
    try:
        cold = raw_loop(url, symbols, args.threads)  # first pass also generates each symbol's history
        warm = raw_loop(url, symbols, args.threads)
        yf_rate, rows = yfinance_rate(url, symbols[: args.yf_sample], batch=100)
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)
    print(json.dumps({
        "benchmark": "sandbox_yahoo_chart",
        "symbols": len(symbols), "range": "1y", "raw_threads": args.threads,
        "raw_requests_per_s_cold": round(cold, 1), "raw_requests_per_s": round(warm, 1),
        "yfinance_symbols": args.yf_sample, "yfinance_bars": rows, "yfinance_symbols_per_s": round(yf_rate, 1),
        "ratio": round(warm / yf_rate, 2), "target_ratio": 5.0, "target_met": warm / yf_rate >= 5.0,
        "machine": watch.report(),
    }, indent=2))


if __name__ == "__main__":
    main()
