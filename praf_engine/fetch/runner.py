"""The nightly fetch job: plan, download through rotating exits, write the lake, then (only then) the fetch state.

Threads: a ThreadPoolExecutor downloads and writes the lake (downloads themselves are serialised by the client,
see ``client.py``); every database write happens on the job's thread, batch by batch, so a successful batch
commits even when others fail, and a stop request (SIGTERM/Ctrl-C) finishes the batches in flight, commits and stops.
"""

from __future__ import annotations

import contextvars
import datetime as dt
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from praf_engine.errors import PipelineError
from praf_engine.fetch import tracker
from praf_engine.fetch.actions import history_rewritten, last_adj_ratio, record_events_many
from praf_engine.fetch.batches import Plan, batches, plan_night, sessions_between
from praf_engine.fetch.cache import write_raw
from praf_engine.fetch.client import (
    EMPTY,
    OK,
    RATE_LIMITED,
    TRANSIENT,
    UNREACHABLE,
    SymbolResult,
    YFinanceClient,
    rate_wall,
)
from praf_engine.fetch.exits import ExitPool, build_exits
from praf_engine.fetch.tracker import fetch_night
from praf_engine.jobs.runner import JobContext
from praf_engine.logs import get_logger

log = get_logger(__name__)
STALE = "stale"  # an outcome of the run: stored, but stale at source (YFSTALE)
Progress = Callable[[dict[str, Any]], None]


@dataclass
class BatchOutcome:
    """What a worker hands back: per-symbol results, and for the stored ones what the tracker needs."""

    batch_no: int
    start: dt.date | None
    results: dict[str, SymbolResult]
    calls: list[tuple[str, int, int, float]] = field(default_factory=list)  # exit, symbols, ok, latency ms
    exit_of: dict[str, str] = field(default_factory=dict)
    stored: dict[str, dt.date] = field(default_factory=dict)  # symbol -> last date now in the lake
    hashes: dict[str, str] = field(default_factory=dict)
    ratios: dict[str, float | None] = field(default_factory=dict)
    rewrites: dict[str, str] = field(default_factory=dict)
    suspect: set[str] = field(default_factory=set)
    lake_error: dict[str, str] = field(default_factory=dict)


class FetchRun:
    """One run of the nightly fetch (build it, then ``run()``)."""

    def __init__(self, ctx: JobContext, *, symbols: list[str] | None = None, full: bool = False, force: bool = False,
                 progress: Progress | None = None, night: dt.date | None = None) -> None:
        self.ctx, self.settings = ctx, ctx.settings
        self.symbols, self.full, self.force = symbols, full, force
        self.progress = progress or (lambda _state: None)
        self.night = night or fetch_night(ctx.clock)
        self.lake = ctx.lake
        self.counts: Counter[str] = Counter()
        self.done = 0
        self.rows = 0
        self.batch_no = 0
        self.redo: list[str] = []
        self.tripped = False
        self.breaker_code = "APIDOWN"  # or YFRATELIMIT: a 429 wall on a direct connection
        self._judged: list[bool] = []  # per finished batch among the first ones: did it fail as a whole?
        self._held: list[BatchOutcome] = []  # failures of the first batches, held until the breaker decides
        self.lifecycle: Counter[str] = Counter()  # stale at source: backed_off / dead_lettered / delisted
        self.venue: dict[str, str | None] = {}
        self._behind: dict[tuple[str | None, dt.date], int] = {}

    # ------------------------------------------------------------------ the job
    def run(self) -> int:
        s = self.settings
        universe, skip = tracker.guard_freshness(s, self.night, self.force, named=self.symbols is not None)
        plan = plan_night(s, self.night, symbols=self.symbols, full=self.full, skip_exchanges=skip)
        tracker.ensure_meta(plan.last_fetched)
        self.ratios = tracker.adj_ratios(plan.last_fetched)
        self.venue = plan.venue
        self.total = plan.symbols
        self.ctx.progress(stage="plan", done=0, total=self.total)
        log.info("fetch planned", detail={"night": self.night.isoformat(), "full": len(plan.full), "incremental": plan.symbols - len(plan.full),
                                          "deferred": len(plan.deferred), "up_to_date": len(plan.up_to_date), "stale_backed_off": len(plan.backed_off)})
        self.client = YFinanceClient(s)
        self.exit_report: dict[str, Any] = {}  # nordvpn_list: fresh / kept / none (the nordvpn_list alert)
        self.pool = ExitPool(s, build_exits(s, self.exit_report), self.ctx.wiring.yahoo_session)
        try:
            if plan.symbols:
                self.pool.current()  # connect the first exit now: a fallback halves the very first batches
            self._round(plan)
            if self.redo and not self.tripped and not self.ctx.stopping:
                log.info("re-downloading rewritten histories", detail={"symbols": self.redo[:50], "count": len(self.redo)})
                again = Plan(self.night, full=sorted(set(self.redo)))
                self.total += len(again.full)
                self._round(again, redo=True)
        finally:
            self.pool.close()
        self.ctx.detail.update({
            "night": self.night.isoformat(), "planned": plan.symbols, "done": self.done, "rows_written": self.rows,
            "outcomes": dict(self.counts), "deferred_full_history": len(plan.deferred), "up_to_date": len(plan.up_to_date),
            "redownloaded": len(set(self.redo)), "stale_backed_off": len(plan.backed_off), "stale_lifecycle": dict(self.lifecycle), "exits": self.pool.health(), "vpn_fail": self.pool.vpn_failed,
            "batch_size": self.pool.batch_size, **universe.as_detail(), "skipped_stale": plan.skipped_stale, **self.exit_report,
        })
        if self.tripped and self.breaker_code == "YFRATELIMIT":
            raise PipelineError("YFRATELIMIT", "Yahoo rate-limits this IP: every batch answered 429 on a direct connection; "
                                "failures not counted against symbols; configure exits or wait, the next run catches up",
                                {"batches_judged": len(self._judged), "failed": sum(self._judged), "vpn_fail": self.pool.vpn_failed})
        if self.tripped:
            raise PipelineError("APIDOWN", "most of the first batches failed on every exit: treated as an outage, "
                                "failures not counted against symbols; the next run catches up",
                                {"batches_judged": len(self._judged), "failed": sum(self._judged)})
        return 0

    def _round(self, plan: Plan, redo: bool = False) -> None:
        chunks = batches(plan, lambda: self.pool.batch_size)
        inflight: set[Future[BatchOutcome]] = set()
        with ThreadPoolExecutor(max_workers=self.settings.fetch.workers, thread_name_prefix="fetch") as executor:
            while True:
                while len(inflight) < self.settings.fetch.workers and not self.ctx.stopping and not self.tripped:
                    chunk = next(chunks, None)
                    if chunk is None:
                        break
                    self.batch_no += 1
                    context = contextvars.copy_context()  # run_id/job log binding into the pool thread
                    inflight.add(executor.submit(context.run, self._work, self.batch_no, chunk[0], chunk[1]))
                if not inflight:
                    break
                finished, inflight = wait(inflight, return_when=FIRST_COMPLETED)
                for future in finished:
                    self._commit(future.result(), redo)
        if self._held:  # fewer batches than the breaker looks at
            self._decide()

    # ------------------------------------------------------------------ worker side (pool threads)
    def _work(self, batch_no: int, start: dt.date | None, symbols: list[str]) -> BatchOutcome:
        out = BatchOutcome(batch_no, start, {})
        remaining, ladder = list(symbols), self.settings.fetch.backoff_s
        for attempt in range(len(ladder) + 1):
            exit_ = self.pool.current()
            got = self.client.download_batch(remaining, start, self.night, exit_.session)
            oks = got.by_outcome(OK)
            out.calls.append((exit_.name, len(remaining), len(oks), got.latency_ms))
            self.pool.record(exit_, len(remaining), len(oks), len(got.by_outcome(RATE_LIMITED)), len(got.by_outcome(UNREACHABLE)))
            for sym, res in got.results.items():
                out.results[sym], out.exit_of[sym] = res, exit_.name
            whole_empty = len(remaining) > 1 and len(got.by_outcome(EMPTY)) == len(remaining)
            remaining = [s for s, r in got.results.items() if r.outcome in TRANSIENT or (whole_empty and r.outcome == EMPTY)]
            if not remaining or attempt == len(ladder) or self.ctx.stop.wait(ladder[attempt]):
                break
        for sym in [s for s, r in out.results.items() if r.outcome == EMPTY]:  # one single-symbol retry
            exit_ = self.pool.current()
            got = self.client.download_batch([sym], start, self.night, exit_.session)
            out.calls.append((exit_.name, 1, int(got.results[sym].outcome == OK), got.latency_ms))
            out.results[sym], out.exit_of[sym] = got.results[sym], exit_.name
            if got.results[sym].outcome == EMPTY:
                out.suspect.add(sym)
        self._store(out)
        return out

    def _store(self, out: BatchOutcome) -> None:
        """Raw cache, the adj/close ratio check, then the lake write (durable when it returns)."""
        frames: dict[str, pd.DataFrame] = {}
        for sym, res in out.results.items():
            if res.outcome != OK or res.bars is None:
                continue
            out.hashes[sym] = write_raw(self.settings.cache_dir, sym, self.night, res.bars, res.dividends, res.splits)
            ratio = last_adj_ratio(res.bars)
            out.ratios[sym] = ratio
            if out.start is not None:
                why = history_rewritten(self.ratios.get(sym), ratio, self.settings.fetch.adj_ratio_change)
                if why:
                    out.rewrites[sym] = why
            frames[sym] = res.bars
        if not frames:
            return
        try:
            written = self.lake.write_many(frames)
        except PipelineError as exc:
            out.lake_error = {s: f"[{exc.error_code}] {exc.msg}" for s in frames}
            return
        for sym, result in written.items():
            last = self.lake.last_date(sym) if result.rejected_rows else frames[sym]["date"].max().date()
            if last is not None:
                out.stored[sym] = last

    # ------------------------------------------------------------------ job thread: database
    def _commit(self, out: BatchOutcome, redo: bool) -> None:
        s, ctx = self.settings, self.ctx
        failed_whole = not out.stored and all(r.outcome in TRANSIENT for r in out.results.values())
        judging = len(self._judged) < s.fetch.breaker_first_batches and not redo
        if judging:
            self._judged.append(failed_whole)
        with ctx.db.atomic():
            for n, (exit_name, count, ok, latency) in enumerate(out.calls):
                tracker.record_batch(run_id=ctx.run_id, night=self.night, batch_no=out.batch_no * 100 + n, exit_name=exit_name,
                                     symbols=count, ok=ok, latency_ms=latency)
            per_symbol = [lat / max(count, 1) for _e, count, _ok, lat in out.calls]
            events = record_events_many({sym: (out.results[sym].dividends, out.results[sym].splits) for sym in out.stored})
            successes = []
            for sym, last in out.stored.items():
                res = out.results[sym]
                behind = self._sessions_behind(sym, last)
                if behind > s.fetch.stale_after_sessions:  # stored, but nothing near the night: stale at source
                    row = tracker.Stale(sym, last, behind, out.hashes.get(sym), out.exit_of[sym], out.ratios.get(sym))
                    self.lifecycle[tracker.record_stale(s, run_id=ctx.run_id, night=self.night, row=row)] += 1
                    self.rows += len(res.bars) if res.bars is not None else 0
                    self.counts[STALE] += 1
                    continue
                new_events = events.get(sym, 0)
                rewrite = out.rewrites.get(sym) or (f"{new_events} new corporate action(s)" if new_events and out.start is not None else None)
                pending = bool(rewrite) and not redo
                successes.append(tracker.Success(sym, last, out.hashes.get(sym), out.exit_of[sym], out.ratios.get(sym), pending))
                self.rows += len(res.bars) if res.bars is not None else 0
                self.counts[OK] += 1
                if pending:
                    self.redo.append(sym)
                    log.info("upstream history rewritten; full re-download", detail={"symbol": sym, "why": rewrite})
            tracker.record_successes(successes, per_symbol)
        if judging:
            self._held.append(out)
        elif self.tripped:
            self.counts["not_counted"] += len(out.results) - len(out.stored)
        else:
            self._fail(out)
        self.done += len(out.results)
        if len(self._judged) >= s.fetch.breaker_first_batches:
            self._decide()
        errors = sum(v for k, v in self.counts.items() if k != OK)
        self.progress({"done": self.done, "total": self.total, "errors": errors, "exit": out.calls[-1][0] if out.calls else "-"})
        self.ctx.progress(stage="redo" if redo else "fetch", done=self.done, total=self.total, rows=self.rows, errors=errors)

    def _sessions_behind(self, sym: str, last: dt.date) -> int:
        """Sessions of the symbol's venue after its newest stored bar, up to the night (asked once per pair)."""
        key = (self.venue.get(sym), last)
        if key not in self._behind:
            self._behind[key] = sessions_between(key[0], last + dt.timedelta(days=1), self.night)
        return self._behind[key]

    def _decide(self) -> None:
        """Circuit breaker over the first batches: most failed as a whole (on every exit) = API down."""
        if not self._held and self.tripped:
            return
        ratio = sum(self._judged) / len(self._judged) if self._judged else 0.0
        if self._judged and ratio >= self.settings.fetch.breaker_failure_ratio:
            self.tripped = True
            failed = [r for o in self._held if not o.stored for r in o.results.values()]  # the batches that failed whole
            self.breaker_code = "YFRATELIMIT" if self.pool.direct_only and rate_wall(failed) else "APIDOWN"
            log.error("circuit breaker: " + ("429 wall on a direct connection" if self.breaker_code == "YFRATELIMIT" else "API down")
                      + ", stopping; failures not counted", error_code=self.breaker_code,
                      detail={"batches": len(self._judged), "failed": sum(self._judged), "exits": self.pool.health()})
            self.counts["not_counted"] += sum(len(o.results) - len(o.stored) for o in self._held)
        else:
            for held in self._held:
                self._fail(held)
        self._held = []

    def _fail(self, out: BatchOutcome) -> None:
        with self.ctx.db.atomic():
            for sym, res in out.results.items():
                if sym in out.stored:
                    continue
                code, msg = (res.error_code or "YFEMPTY"), res.reason
                if sym in out.lake_error:
                    code, msg = out.lake_error[sym][1:].split("]", 1)[0], out.lake_error[sym]
                tracker.record_failure(self.settings, run_id=self.ctx.run_id, night=self.night, symbol=sym, error_code=code,
                                       msg=msg, exit_name=out.exit_of.get(sym, "-"), suspect_missing=sym in out.suspect)
                self.counts[res.outcome if sym not in out.lake_error else "lake_error"] += 1


def fetch_job(ctx: JobContext, *, symbols: list[str] | None = None, full: bool = False, force: bool = False,
              progress: Progress | None = None, night: dt.date | None = None) -> int:
    """The `fetch` job (registry, scheduler, CLI): 0 when the run completed; per-symbol failures are recorded, not fatal."""
    return FetchRun(ctx, symbols=symbols, full=full, force=force, progress=progress, night=night).run()
