"""Benchmarks of the operator's fix loop (issue 15), one function each; prints JSON.

    .venv/bin/python bench/tui_fixloop.py threshold [--symbols 6000] [--years 2] [--repeat 3] [--keep DIR]

``threshold``: the threshold editor's preview (``EngineService.preview_check``) on a lake of N active symbols ×
``--years`` of bars, built like bench/qa.py builds its lake (its ``build``, in a child process; ``--keep DIR``
keeps the home, DIR/home-<N>, and reuses it). Timed in this process, alternating ``--repeat`` times after one
warm-up of each: (a) baseline: the bare DuckDB scan of the preview's window (bench/qa.py's ``scan``: the columns
QA reads, into Arrow); (b) cold preview: ``preview_check("price_jump", {"max_move": 0.5})`` for bench/qa.py's as-of
date (the check run twice in memory: stored 0.75 and edited 0.5) with the service's window cache emptied first, so
the window is read from the lake; (c) warm preview: the same call again, on the window the cold one kept in memory
(what the editor's previews after its first cost; the editor reads the window when a check is opened). Target:
preview <= 2 s at 6,000 × 2 years. The load average at start and end is in ``machine``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(1, str(BENCH.parent))

import qa as qa_bench  # noqa: E402  (bench/qa.py: its lake builder, scan and as-of date)
from machine import LoadWatch  # noqa: E402

PREVIEW_TARGET_S = 2.0
PREVIEW_CHECK, PREVIEW_PARAMS = "price_jump", {"max_move": 0.5}


def _home(root: Path, symbols: int, years: int) -> tuple[Path, dict[str, Any]]:
    """DIR/home-<N>, built by bench/qa.py in a child process unless it is there already."""
    home = root / f"home-{symbols}"
    if (home / "praf.db").exists():
        return home, {"reused": str(home)}
    out = subprocess.run([sys.executable, str(BENCH / "qa.py"), "--symbols", str(symbols), "--years", str(years),
                          "--build-only", str(home)], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"building the lake failed:\n{out.stderr[-3000:]}")
    return home, json.loads(out.stdout.strip().splitlines()[-1])


def threshold_preview(symbols: int = 6000, years: int = 2, repeat: int = 3, keep: Path | None = None) -> dict[str, Any]:
    """Median of ``repeat`` previews of one threshold edit beside the bare scan of the same window, measured in this
    run; the figures as a dict (seconds, ratio, the preview's counts, target met)."""
    from praf_engine.logs import configure_logging
    from praf_engine.service import EngineService

    root = keep or Path(tempfile.mkdtemp(prefix="praf-bench-fixloop-"))
    try:
        home, build = _home(root, symbols, years)
        settings = qa_bench._settings(home)
        configure_logging(settings.logs_dir, secrets=[], level="warning", console_level=None)
        service = EngineService.open(settings)
        start = qa_bench.window_start(settings)
        qa_bench.scan(settings.lake_dir, start)  # warm-ups: page cache, imports, calendars
        preview = service.preview_check(PREVIEW_CHECK, PREVIEW_PARAMS, as_of=qa_bench.AS_OF)
        scans, colds, previews = [], [], []
        rows = 0
        for _ in range(repeat):
            seconds, rows = qa_bench.scan(settings.lake_dir, start)
            scans.append(seconds)
            service.__dict__.pop("_check_window", None)  # the service's WindowCache: empty, so the lake is read
            began = time.perf_counter()
            cold = service.preview_check(PREVIEW_CHECK, PREVIEW_PARAMS, as_of=qa_bench.AS_OF)
            colds.append(time.perf_counter() - began)
            began = time.perf_counter()
            preview = service.preview_check(PREVIEW_CHECK, PREVIEW_PARAMS, as_of=qa_bench.AS_OF)
            previews.append(time.perf_counter() - began)
            assert not cold.cached and preview.cached and preview.added == cold.added
        service.close()
        p_s, s_s, c_s = statistics.median(previews), statistics.median(scans), statistics.median(colds)
        return {"active_symbols": preview.universe_size, "years": years, "build": build, "as_of": qa_bench.AS_OF.isoformat(),
                "window_start": start.isoformat(), "window_rows_scanned": rows,
                "edit": {"check": PREVIEW_CHECK, "params": PREVIEW_PARAMS},
                "baseline_duckdb_scan_s": {"median": round(s_s, 3), "runs": [round(x, 3) for x in scans]},
                "preview_cold_s": {"median": round(c_s, 3), "runs": [round(x, 3) for x in colds]},
                "preview_warm_s": {"median": round(p_s, 3), "runs": [round(x, 3) for x in previews]},
                "ratio_cold_preview_to_scan": round(c_s / s_s, 2) if s_s else None,
                "preview": {"before": preview.before, "after": preview.after, "added": preview.added,
                            "removed": preview.removed, "added_sample": list(preview.added_sample[:3])},
                "target": {"preview_max_s": PREVIEW_TARGET_S, "warm_met": p_s <= PREVIEW_TARGET_S,
                           "cold_met": c_s <= PREVIEW_TARGET_S}}
    finally:
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="bench", required=True)
    threshold = sub.add_parser("threshold", help="the threshold editor's preview vs a bare scan of its window")
    threshold.add_argument("--symbols", type=int, default=6000)
    threshold.add_argument("--years", type=int, default=2)
    threshold.add_argument("--repeat", type=int, default=3)
    threshold.add_argument("--keep", type=Path, help="build into (or reuse) DIR/home-<N> and keep it")
    args = parser.parse_args()
    watch = LoadWatch()
    if args.bench == "threshold":
        figures = threshold_preview(args.symbols, args.years, args.repeat, args.keep)
        print(json.dumps({"benchmark": "threshold_preview_vs_duckdb_scan", "repeat": args.repeat, **figures,
                          "machine": watch.report()}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
