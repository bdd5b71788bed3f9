"""Benchmark: the full QA run against one DuckDB scan of the same lake rows and columns, and QA's peak memory per
1,000 symbols (prints JSON).

    .venv/bin/python bench/qa.py [--symbols 6000 [20000 ...]] [--years 2] [--repeat 3] [--chunk-symbols N] [--keep DIR]

Data, per size: a sandbox market with enough listings for N active symbols, ``--years`` of served bars each (data
faults at 2 % per kind), written once with ``Lake.write_many`` into a home together with tickers, fetch state and
corporate actions, in a child process (``--keep DIR`` keeps the homes, DIR/home-<N>, and reuses them). Then,
alternating ``--repeat`` times after one warm-up scan:
  (a) baseline  in this process: DuckDB ``read_parquet`` over the lake (hive partitions) reading the columns QA reads
                (symbol, date, open..adj_close, volume) for the rows QA reads (its window), into Arrow: the floor;
  (b) qa        in a fresh child process: ``run_qa`` for every check (universe, lake in chunks of
                ``--chunk-symbols`` symbols, the checks, qa_failures/qa_summary upserts), timed alone; the child
                reports its own peak RSS (VmHWM) and its RSS before the run (interpreter, imports, calendars).
Targets: median(qa) <= 3 x median(scan); QA's peak RSS <= 300 MB at 6,000 symbols x 2 years. ``rss_per_1000_symbols``
is (peak - RSS before the run) per 1,000 symbols: with chunks it falls as the universe grows (the chunk's share is
fixed), without them it stays flat or grows. The load average at start and end is in ``machine``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from machine import LoadWatch  # noqa: E402  (bench/ is sys.path[0])

AS_OF = dt.date(2025, 12, 30)
RATIO_TARGET, MEMORY_TARGET_MB, MEMORY_TARGET_AT = 3.0, 300.0, 6000


def _settings(home: Path):  # noqa: ANN202 - Settings, imported lazily
    from praf_engine.config import load_settings

    return load_settings(home=home, environ={}, overrides={}, cwd=home)


def build(home: Path, symbols: int, years: int) -> dict:
    from praf_engine.lake import Lake
    from praf_engine.sandbox import lake_fill
    from praf_engine.sandbox.faults import DATA_FAULTS, FaultConfig
    from praf_engine.sandbox.market import Market
    from praf_engine.service import EngineService

    home.mkdir(parents=True, exist_ok=True)
    settings = _settings(home)
    service = EngineService.open(settings)
    size = int(symbols / 0.87) + 10
    market = Market(size=size, seed=2026, today=AS_OF, faults=FaultConfig(rates={k: 0.02 for k in DATA_FAULTS}))
    while len(market.universe()) < symbols:
        size += 200
        market = Market(size=size, seed=2026, today=AS_OF, faults=FaultConfig(rates={k: 0.02 for k in DATA_FAULTS}))
    started = time.perf_counter()
    built = lake_fill.build(market, Lake(settings.lake_dir, fsync=False), AS_OF - dt.timedelta(days=365 * years))
    service.close()
    return {"listings": len(built.symbols), "rows": built.rows, "seconds": round(time.perf_counter() - started, 1)}


def window_start(settings: Any) -> dt.date:
    """The first day QA reads (its widest window and margin): the scan reads from there too."""
    from praf_engine import calendars
    from praf_engine.qa import catalog
    from praf_engine.qa.data import MARGIN_DAYS

    widest = max(v.get("window_sessions", 0) for v in catalog.default_thresholds(settings.qa).values())
    return min(calendars.window_start(m, AS_OF, widest + 1) for m in calendars.KNOWN_MICS) - dt.timedelta(days=MARGIN_DAYS)


def scan(lake_dir: Path, start: dt.date) -> tuple[float, int]:
    import duckdb

    glob = f"{lake_dir}/*/*/*.parquet"
    started = time.perf_counter()
    con = duckdb.connect(":memory:")
    table = con.sql(
        "SELECT symbol, date, open, high, low, close, adj_close, volume FROM read_parquet("
        f"'{glob}', hive_partitioning = true, hive_types = {{'symbol': VARCHAR, 'year': INTEGER}}) "
        f"WHERE year >= {start.year} AND date BETWEEN DATE '{start}' AND DATE '{AS_OF}'").to_arrow_table()
    con.close()
    return time.perf_counter() - started, table.num_rows


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(f"{field}:")) / 1024


def _rss_mb() -> float:
    return _status_mb("VmRSS")


def _peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM). Not ``ru_maxrss``: Linux carries the parent's peak into a child across
    fork/vfork + exec, so a child of this bench reported the parent's scan (323 MB at 6,000 symbols) as its peak."""
    return _status_mb("VmHWM")


def qa_child(home: Path, chunk_symbols: int, trace: bool) -> dict[str, Any]:
    """One QA run in this (fresh) process: its time, the RSS before it, the peak RSS, the checks' outcomes."""
    import tracemalloc

    from praf_engine.lake import Lake
    from praf_engine.logs import configure_logging
    from praf_engine.qa.runner import run_qa
    from praf_engine.service import EngineService

    settings = _settings(home)
    configure_logging(settings.logs_dir, secrets=[], level="warning", console_level=None)
    service = EngineService.open(settings)
    window_start(settings)  # the calendars, as the parent's warm-up scan made them for the old in-process runs
    before_mb = _rss_mb()
    if trace:
        tracemalloc.start()
    began = time.perf_counter()
    result = run_qa(settings, service.db, AS_OF, run_id="bench", lake=Lake(settings.lake_dir),
                    chunk_symbols=chunk_symbols or None)
    seconds = time.perf_counter() - began
    traced = tracemalloc.get_traced_memory()[1] / 2**20 if trace else None
    service.close()
    return {"seconds": seconds, "rss_before_mb": before_mb, "peak_rss_mb": _peak_rss_mb(),
            "tracemalloc_peak_mb": traced, "universe": result.universe_size,
            "checks": {o.check: {"failures": o.failures, "seconds": round(o.seconds, 3)} for o in result.outcomes}}


def _child(*args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"child {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_size(root: Path, symbols: int, years: int, repeat: int, chunk_symbols: int) -> dict[str, Any]:
    home = root / f"home-{symbols}"
    if (home / "praf.db").exists():
        build_info: dict[str, Any] = {"reused": str(home)}
    else:
        build_info = _child("--symbols", str(symbols), "--years", str(years), "--build-only", str(home))
    settings = _settings(home)
    start = window_start(settings)
    scan(settings.lake_dir, start)  # warm-up: page cache and imports
    scans, runs = [], []
    rows = 0
    for _ in range(repeat):
        seconds, rows = scan(settings.lake_dir, start)
        scans.append(seconds)
        runs.append(_child("--qa-child", str(home), "--chunk-symbols", str(chunk_symbols)))
    qa_s, scan_s = statistics.median(r["seconds"] for r in runs), statistics.median(scans)
    peak = max(r["peak_rss_mb"] for r in runs)
    before = statistics.median(r["rss_before_mb"] for r in runs)
    universe = runs[-1]["universe"]
    mid = sorted(runs, key=lambda r: r["seconds"])[(len(runs) - 1) // 2]
    return {
        "active_symbols": universe, "years": years, "build": build_info, "window_rows_scanned": rows,
        "window_start": start.isoformat(), "chunk_symbols": chunk_symbols or None,
        "baseline_duckdb_scan_s": {"median": round(scan_s, 3), "runs": [round(x, 3) for x in scans]},
        "qa_full_run_s": {"median": round(qa_s, 3), "runs": [round(r["seconds"], 3) for r in runs]},
        "ratio_qa_to_scan": round(qa_s / scan_s, 2),
        "memory_mb": {"peak_rss": round(peak, 1), "rss_before_run": round(before, 1),
                      "rss_per_1000_symbols": round((peak - before) / universe * 1000, 1) if universe else None,
                      "peak_rss_per_1000_symbols": round(peak / universe * 1000, 1) if universe else None},
        "targets": {"ratio_max": RATIO_TARGET, "ratio_met": qa_s / scan_s <= RATIO_TARGET,
                    "memory_max_mb": MEMORY_TARGET_MB, "memory_met": peak <= MEMORY_TARGET_MB
                    if symbols <= MEMORY_TARGET_AT else None},
        "checks": mid["checks"],
    }


def main() -> int:
    from praf_engine.qa.runner import CHUNK_SYMBOLS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, nargs="+", default=[6000], help="universe sizes, each benched (default 6000)")
    parser.add_argument("--years", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chunk-symbols", type=int, default=CHUNK_SYMBOLS, help="QA's chunk (0: the whole universe at once)")
    parser.add_argument("--trace", action="store_true", help="one more QA run under tracemalloc (slow): Python-level peak")
    parser.add_argument("--keep", type=Path, help="build into (or reuse) DIR/home-<N> and keep them")
    parser.add_argument("--build-only", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--qa-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_only:
        print(json.dumps(build(args.build_only, args.symbols[0], args.years)))
        return 0
    if args.qa_child:
        print(json.dumps(qa_child(args.qa_child, args.chunk_symbols, args.trace)))
        return 0
    watch = LoadWatch()
    root = args.keep or Path(tempfile.mkdtemp(prefix="praf-bench-qa-"))
    try:
        sizes = {}
        for n in args.symbols:
            sizes[str(n)] = bench_size(root, n, args.years, args.repeat, args.chunk_symbols)
            if args.trace:
                traced = _child("--qa-child", str(root / f"home-{n}"), "--chunk-symbols", str(args.chunk_symbols), "--trace")
                sizes[str(n)]["memory_mb"]["tracemalloc_peak"] = round(traced["tracemalloc_peak_mb"], 1)
        print(json.dumps({"benchmark": "qa_full_run_vs_duckdb_scan", "as_of": AS_OF.isoformat(), "repeat": args.repeat,
                          "sizes": sizes, "machine": watch.report()}, indent=2))
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
