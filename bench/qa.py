"""Benchmark: the full QA run against one DuckDB scan of the same lake rows and columns (prints JSON).

    .venv/bin/python bench/qa.py [--symbols 6000] [--years 2] [--repeat 3] [--keep DIR]

Data: a sandbox market with enough listings for N active symbols, 2 years of served bars each (data faults at 2 %
per kind), written once with ``Lake.write_many`` into a temp home together with tickers, fetch state and corporate
actions — in a child process, so the peak memory reported below is the QA's and the scan's, not the build's.
Then, in one process, alternating (a) and (b) ``--repeat`` times after one warm-up scan:
  (a) baseline  DuckDB ``read_parquet`` over the lake (hive partitions) reading the columns QA reads
                (symbol, date, open..adj_close, volume) for the rows QA reads (its window), into Arrow: the floor;
  (b) qa        ``run_qa`` for every check: universe + lake load, the checks, qa_failures/qa_summary upserts.
Targets: median(qa) <= 3 x median(scan) and <= 20 s. Peak memory: ru_maxrss of this process, and the
tracemalloc peak of one extra QA run (Python-level allocations, including numpy and pandas buffers).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

AS_OF = dt.date(2025, 12, 30)
RATIO_TARGET, SECONDS_TARGET = 3.0, 20.0


def _settings(home: Path):  # noqa: ANN202 - Settings, imported lazily
    from praf_engine.config import load_settings

    return load_settings(home=home, environ={}, overrides={}, cwd=home)


def build(home: Path, symbols: int, years: int) -> dict:
    from praf_engine.lake import Lake
    from praf_engine.sandbox import lake_fill
    from praf_engine.sandbox.faults import DATA_FAULTS, FaultConfig
    from praf_engine.sandbox.market import Market
    from praf_engine.service import EngineService

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=6000)
    parser.add_argument("--years", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build into (or reuse) this directory and keep it")
    parser.add_argument("--build-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_only:
        print(json.dumps(build(args.build_only, args.symbols, args.years)))
        return 0

    root = args.keep or Path(tempfile.mkdtemp(prefix="praf-bench-qa-"))
    home = root / "home"
    try:
        if (home / "praf.db").exists():
            build_info = {"reused": str(home)}
        else:
            out = subprocess.run([sys.executable, __file__, "--symbols", str(args.symbols), "--years", str(args.years),
                                  "--build-only", str(home)], capture_output=True, text=True, check=True)
            build_info = json.loads(out.stdout.strip().splitlines()[-1])
        from praf_engine import calendars
        from praf_engine.lake import Lake
        from praf_engine.logs import configure_logging
        from praf_engine.qa import catalog
        from praf_engine.qa.data import MARGIN_DAYS
        from praf_engine.qa.runner import run_qa
        from praf_engine.service import EngineService

        settings = _settings(home)
        configure_logging(settings.logs_dir, secrets=[], level="warning", console_level=None)
        service = EngineService.open(settings)
        widest = max(v.get("window_sessions", 0) for v in catalog.default_thresholds(settings.qa).values())
        start = min(calendars.window_start(m, AS_OF, widest + 1) for m in calendars.KNOWN_MICS) - dt.timedelta(days=MARGIN_DAYS)
        lake = Lake(settings.lake_dir)
        scan(settings.lake_dir, start)  # warm-up: page cache and imports for both sides
        scans, runs, rows, result = [], [], 0, None
        for _ in range(args.repeat):
            seconds, rows = scan(settings.lake_dir, start)
            scans.append(seconds)
            began = time.perf_counter()
            result = run_qa(settings, service.db, AS_OF, run_id="bench", lake=lake)
            runs.append(time.perf_counter() - began)
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        tracemalloc.start()
        run_qa(settings, service.db, AS_OF, run_id="bench", lake=lake)
        traced_mb = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        service.close()
        qa_s, scan_s = statistics.median(runs), statistics.median(scans)
        report = {
            "benchmark": "qa_full_run_vs_duckdb_scan",
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
            "data": {"active_symbols": result.universe_size, "years": args.years, "as_of": AS_OF.isoformat(), "build": build_info,
                     "window_rows_scanned": rows, "window_start": start.isoformat()},
            "baseline_duckdb_scan_s": {"median": round(scan_s, 3), "runs": [round(x, 3) for x in scans]},
            "qa_full_run_s": {"median": round(qa_s, 3), "runs": [round(x, 3) for x in runs]},
            "ratio_qa_to_scan": round(qa_s / scan_s, 2),
            "targets": {"ratio_max": RATIO_TARGET, "seconds_max": SECONDS_TARGET,
                        "ratio_met": qa_s / scan_s <= RATIO_TARGET, "seconds_met": qa_s <= SECONDS_TARGET},
            "peak_memory_mb": {"ru_maxrss_process": round(rss_mb, 1), "tracemalloc_one_qa_run": round(traced_mb, 1)},
            "checks": {o.check: {"failures": o.failures, "seconds": round(o.seconds, 3)} for o in result.outcomes},
        }
        print(json.dumps(report, indent=2))
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
