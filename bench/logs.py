"""Benchmark: the log viewer's reader on a 14-day log of --lines lines (default 500,000) in app.jsonl and 13 rotated
files, lines shaped like praf_engine.logs writes them (prints JSON).

Timed through ``EngineService.logs``' reader (praf_engine.readmodels.logs.LogReader), each on a fresh reader (cold):
open (the tail of the unfiltered log: every line's offset indexed), filter by one fetch night's run id (the target:
≤ 1 s), filter by level error, by text; then follow (append 1,000 lines of that run, ask again: only the new bytes
are scanned). Baseline beside it: ``grep -c RUN_ID`` over the same files. Peak RSS before and after the reads.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from machine import LoadWatch  # noqa: E402

from praf_engine.logs import LOG_FILE  # noqa: E402
from praf_engine.logscan import LogQuery  # noqa: E402
from praf_engine.readmodels.logs import LogReader  # noqa: E402

JOBS = ("fetch", "qa", "alerts", "housekeeping", "universe")
MSGS = ("batch fetched", "exit rotated", "symbol written", "check concluded", "request retried", "partition compacted")


def line(rng: random.Random, ts: str, run_id: str, job: str) -> str:
    level = rng.choices(("info", "warning", "error", "debug"), (90, 6, 2, 2))[0]
    code = rng.choice(("YF429", "YFEMPTY", "YFTIMEOUT")) if level == "error" else None
    return json.dumps({"ts": ts, "level": level, "module": f"praf_engine.{job}", "run_id": run_id, "job": job,
                       "error_code": code, "msg": rng.choice(MSGS),
                       "detail": {"symbol": f"S{rng.randrange(6000):04d}.L", "batch": rng.randrange(300),
                                  "exit": f"exit-{rng.randrange(8)}", "ms": round(rng.random() * 900, 1)}}) + "\n"


def write_log(logs: Path, lines: int, seed: int = 7) -> tuple[str, int]:
    """14 files (13 rotated, the live one); each night a fetch run (most lines) and smaller runs. Returns the run id of
    one fetch night in the middle and its line count."""
    rng = random.Random(seed)
    per_day = lines // 14
    target, target_lines = "", 0
    for day in range(14):
        name = LOG_FILE if day == 13 else f"{LOG_FILE}.2026-11-{day + 17:02d}"
        runs = [(str(uuid.UUID(int=rng.getrandbits(128))), job) for job in JOBS]
        weights = (70, 15, 5, 5, 5)
        with open(logs / name, "w", encoding="utf-8") as f:
            for i in range(per_day):
                run_id, job = rng.choices(runs, weights)[0]
                f.write(line(rng, f"2026-11-{day + 17:02d}T{1 + i * 4 // per_day:02d}:00:00Z", run_id, job))
                if day == 7 and job == "fetch":
                    target, target_lines = run_id, target_lines + 1
    return target, target_lines


def timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return round(time.perf_counter() - start, 3), out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=500_000)
    parser.add_argument("--dir", help="write the log here (default: a temporary folder)")
    args = parser.parse_args()
    watch = LoadWatch()
    with tempfile.TemporaryDirectory() as tmp:
        logs = Path(args.dir or tmp)
        logs.mkdir(parents=True, exist_ok=True)
        gen_s, (run_id, run_lines) = timed(lambda: write_log(logs, args.lines))
        files = sorted(logs.iterdir())
        size = sum(p.stat().st_size for p in files)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out: dict[str, Any] = {"lines": args.lines, "files": len(files), "bytes": size, "generate_s": gen_s,
                               "run_id_lines": run_lines}
        open_s, page = timed(lambda: LogReader(logs).page(limit=100))
        out["open_tail_s"], out["open_total"] = open_s, page.total
        reader = LogReader(logs)
        out["filter_run_id_s"], page = timed(lambda: reader.page(LogQuery(run_id=run_id), limit=100))
        assert page.total == run_lines, (page.total, run_lines)
        out["filter_run_id_prefix8_s"], _ = timed(lambda: LogReader(logs).page(LogQuery(run_id=run_id[:8])))
        out["filter_level_error_s"], page = timed(lambda: LogReader(logs).page(LogQuery(level="error")))
        out["level_error_lines"] = page.total
        out["filter_text_s"], page = timed(lambda: LogReader(logs).page(LogQuery(text="exit-3")))
        out["text_lines"] = page.total
        rng = random.Random(1)
        with open(logs / LOG_FILE, "a", encoding="utf-8") as f:
            f.writelines(line(rng, "2026-11-30T05:00:00Z", run_id, "fetch") for _ in range(1000))
        out["follow_1000_new_s"], page = timed(lambda: reader.page(LogQuery(run_id=run_id), limit=100))
        out["follow_scanned_bytes"] = page.scanned_bytes
        out["follow_total"] = page.total
        out["rss_max_kib"] = {"before_reads": rss_before,
                              "after_reads": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
        baseline = time.perf_counter()
        grep = subprocess.run(["grep", "-c", run_id, *map(str, files)], capture_output=True, text=True, check=False)
        out["baseline_grep_c_run_id_s"] = round(time.perf_counter() - baseline, 3)
        out["baseline_grep_count"] = sum(int(x.rsplit(":", 1)[1]) for x in grep.stdout.split())
    out["target_filter_run_id_le_1s"] = out["filter_run_id_s"] <= 1.0
    out["machine"] = watch.report()
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
