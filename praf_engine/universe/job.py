"""The monthly scrape job: every exchange scraped, checked against its floor, applied to ``tickers``, recorded."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from praf_engine.errors import PipelineError, wrap
from praf_engine.jobs.runner import JobContext, JobFunction
from praf_engine.logs import get_logger
from praf_engine.universe.base import Fetcher, RawStore, scraper_classes, structure_error
from praf_engine.universe.euronext import Chromium
from praf_engine.universe.lifecycle import (
    apply_scrape,
    archive_delisted,
    month_of,
    previous_count,
    record_control,
)

log = get_logger(__name__)

EXCHANGES = ("nasdaq", "arca", "ftse", "dax", "euronext")
STAGES = ("fetch", "parse", "store")
# (exchange, stage or final status, figures) -> None: the CLI's progress bars listen here
Progress = Callable[[str, str, dict[str, Any]], None]
_FAILURE_ORDER = ("SCRAPESTRUCT", "SCRAPEJS", "SCRAPE404", "SCRAPEHTTP", "SCRAPEIO", "INTERNAL")


def check_exchanges(names: Sequence[str] | None) -> list[str]:
    """The exchanges to scrape, in the canonical order; CONFIGBAD for an unknown name."""
    if not names:
        return list(EXCHANGES)
    unknown = sorted(set(names) - set(EXCHANGES))
    if unknown:
        raise PipelineError("CONFIGBAD", f"unknown exchange {', '.join(unknown)}; choose from {', '.join(EXCHANGES)}",
                            {"exchanges": unknown})
    return [code for code in EXCHANGES if code in names]


def _day(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    raise TypeError(f"the job clock returned {value!r}, not a date")


def scrape_exchange(ctx: JobContext, code: str, client: httpx.Client, day: dt.date,
                    progress: Progress | None = None, chromium: Chromium | None = None) -> dict[str, Any]:
    """Scrape one exchange and apply it; never raises for the exchange's own failures (they go to scrape_control).
    ``chromium``: the job's browser, for a scraper that uses one (else it starts its own)."""
    s = ctx.settings
    month = month_of(day)
    notify = progress or (lambda *_: None)
    record_control(month, code, ctx.run_id, "running", finished=False)
    store = RawStore(s.scrapes_dir, month, code)
    fetcher = Fetcher(s, client, store, ctx.stop)
    cls = scraper_classes()[code]
    scraper = cls(s, fetcher, chromium=chromium) if cls.uses_browser and chromium is not None else cls(s, fetcher)
    started = time.perf_counter()
    timings: dict[str, float] = {}
    try:
        notify(code, "fetch", {})
        pages = scraper.fetch()
        timings["fetch_s"] = time.perf_counter() - started
        notify(code, "parse", {})
        t = time.perf_counter()
        result = scraper.clean(pages, scraper.parse(pages))
        timings["parse_s"] = time.perf_counter() - t
        floor_ref = previous_count(code, month)
        floor = int(s.scrape.row_floor_ratio * floor_ref) if floor_ref else 0
        if not result.listings:
            raise structure_error(code, "no listings found")
        if len(result.listings) < floor:
            raise structure_error(code, f"{len(result.listings)} listings, below the floor of {floor} "
                                  f"({s.scrape.row_floor_ratio:.0%} of last month's {floor_ref})",
                                  rows=len(result.listings), floor=floor)
        notify(code, "store", {"rows": len(result.listings)})
        t = time.perf_counter()
        stats = apply_scrape(result, day, cls.__name__)
        timings["store_s"] = time.perf_counter() - t
        timings.update(getattr(scraper, "timings", {}))
    except PipelineError as exc:
        return _failed(ctx, code, month, store, exc, started, notify)
    except Exception as exc:  # noqa: BLE001 - a bug in one scraper must not stop the others
        return _failed(ctx, code, month, store, wrap(exc), started, notify)
    skipped = result.skipped
    detail: dict[str, Any] = {**stats.as_dict(), "pages": result.pages, "seconds": round(time.perf_counter() - started, 3),
                              **{k: round(v, 3) for k, v in timings.items()}}
    if skipped:
        detail["skipped"] = skipped[:50]
        detail["skipped_count"] = len(skipped)
    record_control(month, code, ctx.run_id, "success", row_count=len(result.listings), raw_hash=result.raw_hash,
                   error_code="SCRAPEBAD" if skipped else None, detail=detail)
    log.info(f"{code}: {len(result.listings)} listings ({stats.new} new, {stats.delisted} delisted, "
             f"{stats.relisted} back)", detail={"exchange": code, **detail})
    notify(code, "success", detail)
    return {"status": "success", "rows": len(result.listings), "error_code": "SCRAPEBAD" if skipped else None, **detail}


def _failed(ctx: JobContext, code: str, month: str, store: RawStore, exc: PipelineError, started: float,
            notify: Progress) -> dict[str, Any]:
    status = "structure_error" if exc.error_code == "SCRAPESTRUCT" else "error"
    detail = {"msg": exc.msg, **exc.detail, "raw_dir": str(store.dir), "seconds": round(time.perf_counter() - started, 3)}
    record_control(month, code, ctx.run_id, status, raw_hash=store.digest() if store.bodies else None,
                   error_code=exc.error_code, detail=detail)
    log.error(f"{code}: scrape failed, previous universe kept: {exc.msg}", error_code=exc.error_code,
              detail={"exchange": code, **exc.detail})
    notify(code, status, {"error_code": exc.error_code, "msg": exc.msg})
    return {"status": status, "error_code": exc.error_code, "msg": exc.msg}


def make_scrape_job(exchanges: Sequence[str] | None = None, progress: Progress | None = None) -> JobFunction:
    """The job function for ``exchanges`` (default: all five). It exits non-zero (with the worst error code in
    cron_status) if any exchange failed, or if rows were skipped as SCRAPEBAD."""
    codes = check_exchanges(exchanges)

    def scrape_job(ctx: JobContext) -> int:
        day = _day(ctx.clock())
        results: dict[str, Any] = {}
        ctx.detail["month"] = month_of(day)
        ctx.detail["exchanges"] = results
        classes = scraper_classes()
        rows = {"rows": 0}

        def report(code: str, stage: str, figures: dict[str, Any]) -> None:  # the CLI's bars and ctx.progress (job_progress)
            if progress is not None:
                progress(code, stage, figures)
            rows["rows"] += int(figures.get("rows", 0)) if stage == "store" else 0
            failed = sum(1 for r in results.values() if r["status"] != "success") + (stage not in (*STAGES, "success"))
            ctx.progress(stage=f"{code}: {stage}", done=len(results) + (stage not in STAGES), total=len(codes), rows=rows["rows"],
                         errors=failed)

        # the job's browser: started when the Euronext scraper asks for it, closed (its quit waited for) below
        chromium = Chromium(ctx.settings) if any(classes[c].uses_browser for c in codes) else None
        try:
            with ctx.wiring.http_client() as client:
                for code in codes:
                    if ctx.stopping:
                        break
                    results[code] = scrape_exchange(ctx, code, client, day, report, chromium)
            ctx.detail["archive"] = archive_delisted(ctx.settings, day)
        finally:
            if chromium is not None:
                chromium.close()  # the quit started after the download: no browser outlives the job
                ctx.detail["browser"] = {k: round(v, 3) for k, v in chromium.timings.items()}
        failed = {c: r for c, r in results.items() if r["status"] != "success"}
        if failed:
            worst = min((r["error_code"] for r in failed.values()),
                        key=lambda e: _FAILURE_ORDER.index(e) if e in _FAILURE_ORDER else len(_FAILURE_ORDER))
            raise PipelineError(worst, f"scrape failed for {', '.join(sorted(failed))}; their previous universe is kept",
                                {"failed": {c: r["error_code"] for c, r in failed.items()}})
        bad = {c: r.get("skipped_count", 0) for c, r in results.items() if r.get("error_code") == "SCRAPEBAD"}
        if bad:
            raise PipelineError("SCRAPEBAD", f"rows with invalid symbols skipped: {bad}", {"skipped": bad})
        return 0

    return scrape_job


def scrape_job(ctx: JobContext) -> int:
    """The registry's entry: every exchange."""
    return make_scrape_job()(ctx)
