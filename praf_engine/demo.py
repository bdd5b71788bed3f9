"""`praf-engine demo` and `praf-tui --demo`: start the sandbox in-process, wire a home to it and run every pipeline
step that exists into it (scrape, fetch, QA: the jobs themselves, on the sandbox's wiring)."""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from praf_engine.config import Key, Settings, load_settings
from praf_engine.entry import start_logging
from praf_engine.errors import PipelineError
from praf_engine.logs import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class DemoStep:
    name: str
    description: str
    run: Callable[[Any, Any], dict[str, Any]]  # (service, sandbox) -> figures to print; jobs run on service.wiring
    order: int  # init 0, scrape 10, fetch 20, qa 30, alerts 40: the steps run in this order


def _init(service: Any, sandbox: Any) -> dict[str, Any]:
    info = service.init()
    return {"schema_version": info["schema_version"], "database": info["database"]}


def _scrape(service: Any, sandbox: Any) -> dict[str, Any]:
    """Every exchange of the demo's sandbox, dated on the market's day (the sandbox wiring's clock)."""
    from praf_engine.db.models import ScrapeControl
    from praf_engine.jobs.runner import JobRunner
    from praf_engine.universe.job import make_scrape_job

    code = JobRunner(service.wiring, trigger="demo").run("scrape", make_scrape_job())
    month = f"{sandbox.market.today:%Y%m}"
    rows = {r.exchange: (r.scrape_status, r.row_count, r.error_code)
            for r in ScrapeControl.select().where(ScrapeControl.month == month)}
    if code != 0:
        raise PipelineError("SCRAPESTRUCT" if any(s == "structure_error" for s, _, _ in rows.values()) else "SCRAPEHTTP",
                            f"scrape exited {code}", {"exchanges": {k: list(v) for k, v in rows.items()}})
    return {"tickers": sum(n for _, n, _ in rows.values()), **{k: v[1] for k, v in rows.items()}}


def _fetch(service: Any, sandbox: Any) -> dict[str, Any]:
    """Backfill whatever `tickers` holds, then move the market to its next session and fetch one incremental night
    (the sandbox wiring's clock follows the market's date)."""
    from praf_engine.db.models import CronStatus, FetchError
    from praf_engine.fetch.runner import fetch_job
    from praf_engine.jobs.runner import JobRunner

    runner = JobRunner(service.wiring, trigger="demo")
    first = runner.run("fetch", lambda ctx: fetch_job(ctx))
    market = sandbox.market
    nxt = market.today + dt.timedelta(days=1)
    while nxt.weekday() >= 5:
        nxt += dt.timedelta(days=1)
    market.today = nxt
    second = runner.run("fetch", lambda ctx: fetch_job(ctx))
    rows = list(CronStatus.select().where(CronStatus.job == "fetch").order_by(CronStatus.id.desc()).limit(2))
    details = [r.detail or {} for r in reversed(rows)]
    if first != 0 or second != 0:
        raise PipelineError("INTERNAL", f"demo fetch exit codes {first}/{second}", {"details": details})
    return {"backfill_symbols": details[0].get("done", 0), "backfill_rows": details[0].get("rows_written", 0),
            "night": nxt.isoformat(), "incremental_symbols": details[-1].get("done", 0),
            "fetch_errors": FetchError.select().count()}


def _qa(service: Any, sandbox: Any) -> dict[str, Any]:
    """Every check on the sandbox's market day. The gate is forced (and the fetch's exit code reported) so the demo
    home always shows what QA makes of the lake, even after a failed demo fetch."""
    from praf_engine.db.models import CronStatus, QASummary
    from praf_engine.jobs.runner import JobRunner
    from praf_engine.qa.runner import qa_job

    day = min(sandbox.market.today, dt.datetime.now(dt.UTC).date())  # the demo's summary is as of today at the latest
    last = CronStatus.select().where(CronStatus.job == "fetch").order_by(CronStatus.id.desc()).first()
    code = JobRunner(service.wiring, trigger="demo").run("qa", functools.partial(qa_job, as_of=day, force=True))
    figures = {r.check_name: r.fail_count for r in QASummary.select().where(QASummary.date == day)}
    if code != 0:
        raise PipelineError("QAFAIL", f"the demo's QA run exited with {code}", {"checks": figures})
    return {"as_of": day.isoformat(), "fetch_exit_code": last.exit_code if last else None, **figures}


STEPS: list[DemoStep] = [
    DemoStep("init", "create the home and the schema", _init, order=0),
    DemoStep("scrape", "scrape the five exchanges into tickers", _scrape, order=10),
    DemoStep("fetch", "backfill the universe, then fetch one incremental night", _fetch, order=20),
    DemoStep("qa", "data-quality checks of the lake into qa_failures and qa_summary", _qa, order=30),
]


@dataclass(frozen=True)
class StepResult:
    name: str
    ok: bool
    figures: dict[str, Any]
    error: str | None  # "[CODE] message" when the step failed
    seconds: float


class DemoSession:
    """A running sandbox and a demo home: `praf-engine demo` and `praf-tui --demo` drive the same steps through it.
    The sandbox keeps serving until the session closes, so jobs rerun from the dashboard still reach it."""

    def __init__(self, home: str | None, overrides: dict[Key, Any] | None = None,
                 environ: Mapping[str, str] | None = None, *, console_level: str | None = "warning") -> None:
        self.home = home
        self.console_level = console_level  # None in the TUI: its screen owns the terminal
        self.overrides = dict(overrides or {})
        self.environ = environ  # None: the process environment (PRAF_*, DATABASE_URL, …)
        self.steps = sorted(STEPS, key=lambda x: x.order)
        self.settings: Settings | None = None
        self.sandbox: Any = None
        self.service: Any = None

    def __enter__(self) -> DemoSession:
        from praf_engine.sandbox.serve import Sandbox
        from praf_engine.service import EngineService

        base = load_settings(home=self.home, overrides=self.overrides, environ=self.environ)
        self.sandbox = Sandbox.from_settings(base, fixed_ports=False).__enter__()
        try:
            wiring = self.sandbox.wiring(load_settings(home=self.home, overrides={**self.sandbox.settings_overrides(),
                                                                                  **self.overrides}, environ=self.environ))
            self.settings = wiring.settings
            self.settings.home.mkdir(parents=True, exist_ok=True)  # the demo is one of the two commands that create a home
            start_logging(self.settings, console_level=self.console_level)
            self.service = EngineService.open(self.settings, init=True, wiring=wiring)
        except BaseException:
            self.sandbox.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.service is not None:
                self.service.close()
        finally:
            self.sandbox.__exit__(None, None, None)

    def describe(self) -> str:
        return (f"sandbox: {len(self.sandbox.market.universe())} listings, market date {self.sandbox.market.today}, "
                f"Yahoo at {self.sandbox.endpoints.yahoo_url}, {len(self.sandbox.endpoints.exit_urls)} exits")

    def run_step(self, step: DemoStep) -> StepResult:
        """Run one step; a failure is reported in the result (and logged), never raised, so the next step runs."""
        started = time.monotonic()
        try:
            figures = step.run(self.service, self.sandbox)
            log.info("demo step done", detail={"step": step.name, **figures})
            return StepResult(step.name, True, figures, None, time.monotonic() - started)
        except Exception as exc:  # noqa: BLE001 - report every failing step, keep going
            code = getattr(exc, "error_code", "INTERNAL")
            log.error(f"demo step {step.name} failed: {exc}", error_code=code)
            return StepResult(step.name, False, {}, f"[{code}] {getattr(exc, 'msg', exc)}", time.monotonic() - started)

    def as_of(self) -> dt.date | None:
        """The date the dashboard should show: the sandbox's market date unless that lies in the future."""
        today = self.sandbox.market.today
        return today if today <= dt.datetime.now(dt.UTC).date() else None


def run_demo(home: str | None, overrides: dict[Key, Any], console: Console) -> int:
    """Run the chain against a fresh in-process sandbox; returns the exit code (0 = every step passed)."""
    with DemoSession(home, overrides) as session:
        console.print(session.describe())
        results: list[StepResult] = []
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                      console=console, transient=False) as progress:
            task = progress.add_task("demo", total=len(session.steps))
            for step in session.steps:
                progress.update(task, description=f"{step.name}: {step.description}")
                results.append(session.run_step(step))
                progress.advance(task)
        summary = session.service.summary(session.as_of())
        settings = session.settings
    console.print_json(data=summary.to_dict())
    failed = [r for r in results if not r.ok]
    if failed:
        console.print(f"[red]demo: steps failed: {', '.join(r.name for r in failed)}[/]", highlight=False)
        return 1
    console.print(f"demo home ready: {settings.home}", highlight=False)
    return 0
