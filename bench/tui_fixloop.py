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

    .venv/bin/python bench/tui_fixloop.py refetch [--size 300] [--count 30] [--repeat 3] [--modes incremental,full] [--keep DIR]

``refetch``: refetch-and-recheck of ``--count`` symbols end to end through the sandbox, as the operator asks for it.
The home is built by the real chain on an in-process sandbox (``Sandbox``: a Market of ``--size`` listings, seed 11,
no exits, no rate limit), the demo's steps (praf_engine.demo: init, scrape, fetch backfill + one night, QA);
``--keep DIR`` keeps it, DIR/sandbox-home-<size>, and reuses it (the market date it reached is in its state.json).
The home's settings.toml points it at the running sandbox, so every child process (the detached run, the CLI)
fetches from it. The symbols: active ones of one venue (the one with most; one calendar, so one as-of date) that the
market never delists, with a bar in the lake's last week, those with open QA failures first. Each round, untimed:
their last bar is broken in the lake (high below low, an ohlc_sanity failure, as tests/engine/fetch/test_recheck.py
does), their failures of that day reopened and QA run on them (``run_qa(symbols=…)``, the night's QA of those
symbols); for ``incremental`` the market then moves on one session (the operator acts the day after the night; in the
sandbox the night already has the market date's bar, so without a new session the planner finds the symbols up to
date and an incremental recheck fetches 0 rows and closes nothing). Timed, for each mode, ``--repeat`` rounds alternating after one warm-up of each:
(a) request: ``EngineService.recheck_symbols(symbols, full, as_of)`` as the TUI's recheck dialog makes it — no live
scheduler here, so a detached `praf-engine run recheck --request ID` process — then ``job_requests`` polled every
20 ms until the row is done or failed (request to finished run); the run's rows fetched, failures closed as
'refetch' and still open come from its ``cron_status.detail``. (b) baseline, the CLI twins as subprocesses:
``praf-engine fetch --symbols … [--full]`` then ``praf-engine qa --symbols … --date D``; its rows fetched are the
fetch run's, and the failures it removed (QA prunes the untriaged rows that no longer fail; it closes nothing) are
counted. The load average at start and end is in ``machine``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
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


REFETCH_SEED = 11
REFETCH_ANCHOR = dt.date(2025, 6, 5)  # a Thursday; the demo's fetch moves the market to Friday 2025-06-06
POLL_S = 0.02
ENGINE = [sys.executable, "-m", "praf_engine"]


def _clean_environ() -> None:
    """This process and its children on the home's own SQLite database and settings: no DATABASE_URL, no PRAF_*."""
    for key in [k for k in os.environ if k == "DATABASE_URL" or k.startswith("PRAF_")]:
        del os.environ[key]


def _next_session(day: dt.date) -> dt.date:
    nxt = day + dt.timedelta(days=1)
    while nxt.weekday() >= 5:
        nxt += dt.timedelta(days=1)
    return nxt


class SandboxHome:
    """A running in-process sandbox and a home pointed at it (its settings.toml), built by the demo's steps once."""

    def __init__(self, root: Path, size: int) -> None:
        from praf_engine.logs import configure_logging
        from praf_engine.sandbox.faults import FaultConfig
        from praf_engine.sandbox.market import Market
        from praf_engine.sandbox.serve import Sandbox

        configure_logging(None, level="warning", console_level="warning")  # the sandbox's start lines: not on stderr
        self.home = root / f"sandbox-home-{size}"
        self.state_file = self.home / "state.json"
        state = json.loads(self.state_file.read_text()) if self.state_file.exists() else {}
        market = Market(size=size, seed=REFETCH_SEED, today=REFETCH_ANCHOR, faults=FaultConfig.none())
        if state.get("today"):
            market.today = dt.date.fromisoformat(state["today"])
        self.sandbox = Sandbox(market, exits=0, rate_limit_requests=10**9).start()
        self.built: dict[str, Any] = {"reused": str(self.home)} if state.get("built") else {}
        self.service: Any = None
        self.settings: Any = None

    def point(self) -> None:
        """settings.toml at the sandbox's ports and market date, and the service reopened on it (no stale --set)."""
        from praf_engine.config import load_settings
        from praf_engine.logs import configure_logging
        from praf_engine.service import EngineService

        self.close_service()
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "settings.toml").write_text(self.sandbox.settings_toml())
        settings = load_settings(home=self.home)
        configure_logging(settings.logs_dir, secrets=[], level="warning", console_level=None)
        self.service = EngineService.open(settings, init=True, wiring=self.sandbox.wiring(settings))
        self.settings = self.service.wiring.settings
        self.save_state()

    def save_state(self) -> None:
        """The market date reached (a reused home goes on from it) and whether the demo's chain completed."""
        self.state_file.write_text(json.dumps({"today": self.sandbox.market.today.isoformat(), "built": bool(self.built)}))

    def build(self) -> dict[str, Any]:
        """The demo's chain (init, scrape, fetch backfill + one night, QA) unless the home was built already."""
        from praf_engine.demo import STEPS

        self.point()
        if self.built:
            return self.built
        began = time.perf_counter()
        figures: dict[str, Any] = {}
        for step in sorted(STEPS, key=lambda x: x.order):
            figures[step.name] = step.run(self.service, self.sandbox)
            if step.name == "fetch":
                self.point()  # the demo's fetch moved the market on one session
        self.built = {"built_s": round(time.perf_counter() - began, 1), "steps": figures}
        self.save_state()
        return self.built

    def advance(self) -> None:
        self.sandbox.market.today = _next_session(self.sandbox.market.today)
        self.point()

    def close_service(self) -> None:
        if self.service is not None:
            self.service.close()
            self.service = None

    def close(self) -> None:
        self.close_service()
        self.sandbox.stop()


def _pick(count: int, market: Any) -> tuple[list[str], int]:
    """``count`` active symbols of one venue (the one with most; one calendar, so one as-of date has a bar of each
    after the market moves on) that the market never delists and whose lake reaches the last week, those with open
    QA failures first; and how many of them had open failures."""
    from collections import Counter

    from praf_engine.db.models import QAFailure, Ticker, TickerFetchMeta

    mic = {s: m for s, m in Ticker.select(Ticker.symbol, Ticker.mic).where(Ticker.status == "active").tuples()}
    last = {s: d for s, d in TickerFetchMeta.select(TickerFetchMeta.symbol, TickerFetchMeta.last_fetched_date).tuples()
            if s in mic and d is not None}
    day = max(last.values())
    fresh = sorted(s for s, d in last.items() if d >= day - dt.timedelta(days=7)
                   and (x := market.listing(s)) is not None and x.delisted_on is None)
    venue = Counter(mic[s] for s in fresh).most_common(1)[0][0]
    fresh = [s for s in fresh if mic[s] == venue]
    failing = {s for (s,) in QAFailure.select(QAFailure.symbol).where(QAFailure.resolved == False).tuples()}  # noqa: E712
    picked = ([s for s in fresh if s in failing] + [s for s in fresh if s not in failing])[:count]
    if len(picked) < count:
        raise SystemExit(f"only {len(picked)} active symbols of {venue} reach {day}; use a larger --size")
    return picked, sum(s in failing for s in picked)


def _break_and_qa(h: SandboxHome, symbols: list[str], tag: str) -> tuple[dt.date, int]:
    """Untimed: the last bar of each symbol broken in the lake (high below low), their failures of that day reopened
    and QA run on them; returns the day and its open failures of ``symbols``."""
    from praf_engine.db.models import QAFailure
    from praf_engine.lake import Lake
    from praf_engine.qa.recheck import open_failures
    from praf_engine.qa.runner import run_qa

    lake = Lake(h.settings.lake_dir)
    day = min(d for d in (lake.last_date(s) for s in symbols) if d is not None)  # equal unless a run was cut short
    at_day = dt.datetime.combine(day, dt.time())
    for sym in symbols:
        frame = lake.read_symbol(sym).to_pandas()
        at = frame["date"].astype("datetime64[ns]") == at_day
        if at.sum() != 1:
            raise SystemExit(f"{sym} has no bar on {day}")
        frame.loc[at, "high"] = float(frame.loc[at, "low"].iloc[0]) * 0.5
        lake.write(sym, frame[["date", "open", "high", "low", "close", "adj_close", "volume"]])
    QAFailure.update(resolved=False, resolution=None, resolved_run_id=None, resolved_by=None, resolved_at=None,
                     note=None).where(QAFailure.symbol.in_(symbols), QAFailure.date == day).execute()
    run_qa(h.settings, h.service.db, day, run_id=f"bench-{tag}", lake=lake, symbols=symbols)
    return day, len(open_failures(symbols, day))


def _wait_pid(claimed_by: str | None, timeout: float = 60.0) -> None:
    """Untimed: the detached process (``detached:PID@host``) gone, so the next round starts on a quiet home."""
    head = (claimed_by or "").rsplit("@", 1)[0].split(":")[-1]
    if not head.isdigit():
        return
    from praf_engine.jobs.runner import pid_alive

    deadline = time.monotonic() + timeout
    while pid_alive(int(head)) and time.monotonic() < deadline:
        time.sleep(POLL_S)


def _request_round(h: SandboxHome, symbols: list[str], full: bool, day: dt.date) -> dict[str, Any]:
    """Timed: the TUI's request (a detached run: no live scheduler) until its job_requests row is done or failed."""
    from praf_engine.db.models import CronStatus, JobRequest

    began = time.perf_counter()
    info = h.service.recheck_symbols(symbols, full, day, by="bench")
    while True:
        row = JobRequest.get_by_id(info.id)
        if row.status in ("done", "failed"):
            break
        time.sleep(POLL_S)
    seconds = time.perf_counter() - began
    _wait_pid(row.claimed_by)
    run = CronStatus.get_or_none(CronStatus.run_id == row.run_id)
    d = (run.detail or {}) if run else {}
    run_s = (run.finished_at - run.started_at).total_seconds() if run and run.finished_at else None
    return {"seconds": seconds, "run_s": run_s, "status": row.status, "error": row.error, "route": info.route,
            "rows_fetched": (d.get("fetch") or {}).get("rows_written"), "fetch_exit": d.get("fetch_exit"),
            "open_before": d.get("open_before"), "closed_refetch": d.get("closed"), "still_open": d.get("still_open")}


def _cli_round(h: SandboxHome, symbols: list[str], full: bool, day: dt.date, open_before: int) -> dict[str, Any]:
    """Timed: the CLI twins, `praf-engine fetch --symbols … [--full]` then `praf-engine qa --symbols … --date D`."""
    from praf_engine.db.models import CronStatus
    from praf_engine.qa.recheck import open_failures

    base = [*ENGINE, "--home", str(h.home)]
    fetch = [*base, "fetch", "--symbols", *symbols, *(["--full"] if full else [])]
    qa = [*base, "qa", "--symbols", *symbols, "--date", day.isoformat()]
    began = time.perf_counter()
    codes = [subprocess.run(fetch, stdin=subprocess.DEVNULL, capture_output=True, cwd=BENCH.parent).returncode]
    if codes[0] == 0:
        codes.append(subprocess.run(qa, stdin=subprocess.DEVNULL, capture_output=True, cwd=BENCH.parent).returncode)
    seconds = time.perf_counter() - began
    run = CronStatus.select().where(CronStatus.job == "fetch").order_by(CronStatus.id.desc()).first()
    still = len(open_failures(symbols, day))
    return {"seconds": seconds, "exit_codes": codes, "rows_fetched": ((run.detail or {}).get("rows_written") if run else None),
            "open_before": open_before, "removed_by_qa": open_before - still, "still_open": still}


def _summary(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    runs = [r["seconds"] for r in rounds]
    last = {k: v for k, v in rounds[-1].items() if k not in ("seconds", "run_s")}
    jobs = [r["run_s"] for r in rounds if r.get("run_s") is not None]
    inside = {"job_run_median_s": round(statistics.median(jobs), 3)} if jobs else {}  # cron_status start -> end
    return {"median_s": round(statistics.median(runs), 3), "runs_s": [round(x, 3) for x in runs], **inside, "last_round": last,
            "all_ok": all(r.get("status", "done") == "done" and r.get("exit_codes", [0, 0]) == [0, 0] for r in rounds)}


def refetch_recheck(size: int = 300, count: int = 30, repeat: int = 3, modes: tuple[str, ...] = ("incremental", "full"),
                    keep: Path | None = None) -> dict[str, Any]:
    """Median of ``repeat`` refetch-and-recheck requests (request to finished detached run) per mode beside the CLI
    twins on the same symbols, measured in this run; the figures as a dict."""
    _clean_environ()
    root = keep or Path(tempfile.mkdtemp(prefix="praf-bench-refetch-"))
    root.mkdir(parents=True, exist_ok=True)
    h = SandboxHome(root, size)
    try:
        build = h.build()
        symbols, with_failures = _pick(count, h.sandbox.market)
        out: dict[str, Any] = {"sandbox": {"size": size, "listings": len(h.sandbox.market.universe()), "seed": REFETCH_SEED,
                                           "yahoo": h.sandbox.endpoints.yahoo_url},
                               "home": {"path": str(h.home), **build}, "symbols": symbols,
                               "symbols_with_open_failures_at_pick": with_failures, "modes": {}}
        for mode in modes:
            full = mode == "full"
            rounds: dict[str, list[dict[str, Any]]] = {"request": [], "cli": []}
            for i in range(repeat + 1):  # round 0: the warm-up of each (page cache, imports), not counted
                for path in ("request", "cli") if i % 2 == 0 else ("cli", "request"):
                    day, open_before = _break_and_qa(h, symbols, f"{mode}-{path}-{i}")
                    if not full:
                        h.advance()
                    if path == "request":
                        r = _request_round(h, symbols, full, day)
                    else:
                        r = _cli_round(h, symbols, full, day, open_before)
                    r.update(as_of=day.isoformat(), market_date=h.sandbox.market.today.isoformat())
                    if i:
                        rounds[path].append(r)
                    print(f"{mode} {path} round {i}: {r['seconds']:.2f} s", file=sys.stderr, flush=True)
            req, cli = _summary(rounds["request"]), _summary(rounds["cli"])
            out["modes"][mode] = {"request_to_finished_run": req, "baseline_cli_fetch_then_qa": cli,
                                  "ratio_request_to_cli": round(req["median_s"] / cli["median_s"], 2) if cli["median_s"] else None}
        return out
    finally:
        h.close()
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
    refetch = sub.add_parser("refetch", help="refetch-and-recheck through the control plane vs the CLI twins")
    refetch.add_argument("--size", type=int, default=300, help="the sandbox market's listings (seeded)")
    refetch.add_argument("--count", type=int, default=30, help="symbols refetched and rechecked")
    refetch.add_argument("--repeat", type=int, default=3)
    refetch.add_argument("--modes", default="incremental,full", help="incremental, full or both (comma separated)")
    refetch.add_argument("--keep", type=Path, help="build into (or reuse) DIR/sandbox-home-<size> and keep it")
    args = parser.parse_args()
    watch = LoadWatch()
    if args.bench == "threshold":
        figures = threshold_preview(args.symbols, args.years, args.repeat, args.keep)
        print(json.dumps({"benchmark": "threshold_preview_vs_duckdb_scan", "repeat": args.repeat, **figures,
                          "machine": watch.report()}, indent=2))
    elif args.bench == "refetch":
        modes = tuple(m for m in args.modes.split(",") if m)
        if not modes or set(modes) - {"incremental", "full"}:
            parser.error("--modes: incremental, full or both")
        figures = refetch_recheck(args.size, args.count, args.repeat, modes, args.keep)
        print(json.dumps({"benchmark": "refetch_recheck_request_vs_cli_twins", "repeat": args.repeat, **figures,
                          "machine": watch.report()}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
