"""`praf-engine demo`: start the sandbox in-process and run every pipeline step that exists into a home."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from praf_engine.config import Key, Settings, load_settings
from praf_engine.entry import start_logging
from praf_engine.logs import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class DemoStep:
    name: str
    description: str
    run: Callable[[Settings, Any, Any], dict[str, Any]]  # (settings, service, sandbox) -> figures to print
    order: int  # init 0, scrape 10, fetch 20, qa 30, alerts 40: the steps run in this order


def _init(settings: Settings, service: Any, sandbox: Any) -> dict[str, Any]:
    info = service.init()
    return {"schema_version": info["schema_version"], "database": info["database"]}


# The universe, fetch and QA work each add their step here (with its `order`).
STEPS: list[DemoStep] = [DemoStep("init", "create the home and the schema", _init, order=0)]


def _scrape(settings: Settings, service: Any, sandbox: Any) -> dict[str, Any]:
    from praf_engine.universe.command import demo_scrape

    return demo_scrape(settings, service, sandbox)


STEPS.append(DemoStep("scrape", "scrape the five exchanges into tickers", _scrape, order=10))


def _fetch(settings: Settings, service: Any, sandbox: Any) -> dict[str, Any]:
    from praf_engine.fetch.command import demo_fetch

    return demo_fetch(settings, service, sandbox)


STEPS.append(DemoStep("fetch", "backfill the universe, then fetch one incremental night", _fetch, order=20))


def _qa(settings: Settings, service: Any, sandbox: Any) -> dict[str, Any]:
    from praf_engine.qa.command import demo_qa

    return demo_qa(settings, service, sandbox)


STEPS.append(DemoStep("qa", "data-quality checks of the lake into qa_failures and qa_summary", _qa, order=30))


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

        base = load_settings(home=self.home, overrides={**self.overrides, ("sources",): "sandbox"}, environ=self.environ)
        self.sandbox = Sandbox.from_settings(base, fixed_ports=False).__enter__()
        try:
            self.settings = load_settings(home=self.home, overrides={**self.sandbox.settings_overrides(), **self.overrides},
                                          environ=self.environ)
            self.settings.home.mkdir(parents=True, exist_ok=True)  # the demo is one of the two commands that create a home
            start_logging(self.settings, console_level=self.console_level)
            self.service = EngineService.open(self.settings, init=True)
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
            figures = step.run(self.settings, self.service, self.sandbox)
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
