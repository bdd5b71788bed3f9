"""Benchmark: PRAF lake writes against a plain one-write_table-per-partition baseline (prints JSON).

    .venv/bin/python bench/lake_write.py [--symbols 6000] [--neighbours 1] [--no-fsync] [--io-threads N] [--out-dir DIR]

Data: N symbols x business days 2023-01-02 .. 2024-12-30 (a seeded random walk, float prices, int64
volume), built as pandas frames before any timing. Then, in one run ((a) and (b) alternate per batch
of 100 symbols so that background load on the machine weighs on both alike):
  (a) baseline    per symbol and year: Table.from_pandas(year slice) + pq.write_table, default options,
                  no merge, no fsync, no validation (year slices are cut before timing);
  (b) praf_full   Lake.write_many in batches of 100 into a fresh lake (validation, zstd, temp files made durable
                  together by one syncfs per group, then renamed; the folders by one more);
  (c) append      one new day (2024-12-31) per symbol through Lake.write_many in batches of 100: read,
                  merge and rewrite each symbol's 2024 partition.
The target (PRAF <= 1.5x the baseline) must hold on a loaded machine: ``--neighbours`` (default 1) CPU-bound
processes spin beside the timed part, as another job would (0: a quiet run). Where the time goes: each side's
CPU seconds (user + system of this process, all its threads) beside its wall time, the fsyncs and syncfs calls PRAF made
and the seconds its threads spent in them, and the encoded bytes; ``--no-fsync`` and ``--io-threads`` measure variants.
The load average at start and end is in ``machine``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from machine import LoadWatch, cpu_neighbours  # noqa: E402  (bench/ is sys.path[0])

from praf_engine import lake_sync  # noqa: E402
from praf_engine.lake import Lake  # noqa: E402

BATCH = 100
RATIO_TARGET = 1.5
APPEND_TARGET_S = 30.0


def make_frames(n: int, seed: int = 20240101) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2023-01-02", "2024-12-30")
    frames: dict[str, pd.DataFrame] = {}
    for i in range(n):
        close = 20.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, len(dates) + 1)))
        spread = np.abs(rng.normal(0.0, 0.01, len(dates)))
        frames[f"S{i:05d}"] = pd.DataFrame({
            "date": dates,
            "open": close[:-1],
            "high": close[1:] * (1 + spread),
            "low": close[1:] * (1 - spread),
            "close": close[1:],
            "adj_close": close[1:] * 0.98,
            "volume": rng.integers(1_000, 5_000_000, len(dates)),
        })
    new_day = pd.Timestamp("2024-12-31")
    appends = {
        sym: pd.DataFrame({"date": [new_day], "open": [f["close"].iat[-1]], "high": [f["close"].iat[-1] * 1.01],
                           "low": [f["close"].iat[-1] * 0.99], "close": [f["close"].iat[-1]],
                           "adj_close": [f["close"].iat[-1] * 0.98], "volume": [123_456]})
        for sym, f in frames.items()
    }
    return frames, appends


def dir_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*.parquet"))


def batches(items: dict, size: int):
    keys = list(items)
    for i in range(0, len(keys), size):
        yield {k: items[k] for k in keys[i:i + size]}


class FsyncMeter:
    """Counts the calls of ``real`` (``os.fsync``: a few files and folders; ``lake_sync._syncfs``: a write_many group's
    files, then its folders) and the seconds the calling threads spent in them (summed over threads: they overlap)."""

    def __init__(self, real: Any) -> None:
        self.calls, self.seconds, self._real = 0, 0.0, real

    def __call__(self, fd: int) -> None:
        t0 = time.perf_counter()
        try:
            self._real(fd)
        finally:
            self.calls += 1  # int += under the GIL: good enough for a count
            self.seconds += time.perf_counter() - t0


def cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def run(n: int, out: Path, *, neighbours: int = 1, fsync: bool = True, io_threads: int = 8) -> dict:
    t0 = time.perf_counter()
    frames, appends = make_frames(n)
    slices = []
    for sym, f in frames.items():
        years = f["date"].dt.year.to_numpy()
        for y in np.unique(years):
            slices.append((sym, int(y), f[years == y]))
    gen_s = time.perf_counter() - t0
    rows = sum(len(f) for f in frames.values())

    # (a) and (b) alternate batch by batch, so load from other processes on the machine hits both alike
    by_symbol: dict[str, list[tuple[int, pd.DataFrame]]] = {}
    for sym, y, part in slices:
        by_symbol.setdefault(sym, []).append((y, part))
    base = out / "baseline"
    lake = Lake(out / "lake", fsync=fsync, io_threads=io_threads)
    baseline_s = praf_full_s = baseline_cpu = praf_cpu = 0.0
    written = 0
    meter, syncfs = FsyncMeter(os.fsync), FsyncMeter(lake_sync._syncfs)
    with cpu_neighbours(neighbours):
        os.fsync = meter  # the lake's folders and files, when it fsyncs them one by one
        lake_sync._syncfs = syncfs
        try:
            for batch in batches(frames, BATCH):
                t0, c0 = time.perf_counter(), cpu_s()
                for sym in batch:
                    for y, part in by_symbol[sym]:
                        d = base / f"symbol={sym}" / f"year={y}"
                        os.makedirs(d, exist_ok=True)
                        pq.write_table(pa.Table.from_pandas(part, preserve_index=False), d / "part-000.parquet")
                t1, c1 = time.perf_counter(), cpu_s()
                written += sum(r.rows_written for r in lake.write_many(batch).values())
                t2, c2 = time.perf_counter(), cpu_s()
                baseline_s += t1 - t0
                praf_full_s += t2 - t1
                baseline_cpu += c1 - c0
                praf_cpu += c2 - c1
            full_fsyncs = (meter.calls, meter.seconds)
            full_syncfs = (syncfs.calls, syncfs.seconds)
            t0, c0 = time.perf_counter(), cpu_s()
            appended = 0
            for batch in batches(appends, BATCH):
                appended += sum(r.rows_written for r in lake.write_many(batch).values())
            append_s, append_cpu = time.perf_counter() - t0, cpu_s() - c0
        finally:
            os.fsync = meter._real
            lake_sync._syncfs = syncfs._real
    assert written == rows, (written, rows)
    assert appended == n

    ratio = praf_full_s / baseline_s
    return {
        "symbols": n,
        "years": sorted({y for _, y, _ in slices}),
        "rows": rows,
        "partitions": len(slices),
        "generate_s": round(gen_s, 2),
        "baseline_s": round(baseline_s, 3),
        "praf_full_s": round(praf_full_s, 3),
        "ratio": round(ratio, 3),
        "append_s": round(append_s, 3),
        "targets_met": {"ratio_le_1_5": ratio <= RATIO_TARGET, "append_le_30s": append_s <= APPEND_TARGET_S},
        "neighbours": neighbours,
        "cpu_s": {"baseline": round(baseline_cpu, 3), "praf_full": round(praf_cpu, 3), "append": round(append_cpu, 3),
                  "ratio": round(praf_cpu / baseline_cpu, 3)},
        "fsyncs": {"praf_full": full_fsyncs[0], "praf_full_thread_s": round(full_fsyncs[1], 3),
                   "append": meter.calls - full_fsyncs[0], "append_thread_s": round(meter.seconds - full_fsyncs[1], 3)},
        "syncfs": {"praf_full": full_syncfs[0], "praf_full_thread_s": round(full_syncfs[1], 3),
                   "append": syncfs.calls - full_syncfs[0], "append_thread_s": round(syncfs.seconds - full_syncfs[1], 3)},
        "baseline_bytes": dir_bytes(base),
        "lake_bytes": dir_bytes(out / "lake"),
        "fsync": lake.fsync,
        "workers": lake.workers,
        "io_threads": lake.io_threads,
        "env": {"python": platform.python_version(), "pyarrow": pa.__version__, "pandas": pd.__version__,
                "cpus": os.cpu_count()},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--symbols", type=int, default=6000)
    ap.add_argument("--neighbours", type=int, default=1, help="CPU-bound processes beside the timed part (default 1)")
    ap.add_argument("--no-fsync", action="store_true", help="PRAF without fsync (to measure what fsync costs)")
    ap.add_argument("--io-threads", type=int, default=8, help="the lake's I/O threads (default 8)")
    ap.add_argument("--out-dir", type=Path, default=None, help="kept afterwards (default: a temp dir, removed)")
    args = ap.parse_args(argv)
    watch = LoadWatch()
    options = {"neighbours": args.neighbours, "fsync": not args.no_fsync, "io_threads": args.io_threads}
    if args.out_dir is None:
        out = Path(tempfile.mkdtemp(prefix="praf-lake-bench-"))
        try:
            result = run(args.symbols, out, **options)
        finally:
            shutil.rmtree(out, ignore_errors=True)
    else:
        out = args.out_dir
        if (out / "baseline").exists() or (out / "lake").exists():
            ap.error(f"{out} already holds baseline/ or lake/; pick an empty directory")
        out.mkdir(parents=True, exist_ok=True)
        result = run(args.symbols, out, **options)
    result["machine"] = watch.report()
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
