"""`praf-engine demo`: start the sandbox in-process and run every pipeline step that exists into a home."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from praf_engine.config import Key, Settings, load_settings
from praf_engine.logs import configure_logging, get_logger

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


def run_demo(home: str | None, overrides: dict[Key, Any], console: Console) -> int:
    """Run the chain against a fresh in-process sandbox; returns the exit code (0 = every step passed)."""
    from praf_engine.sandbox.serve import Sandbox
    from praf_engine.service import EngineService

    base = load_settings(home=home, overrides={**overrides, ("sources",): "sandbox"})
    configure_logging(base.logs_dir, secrets=base.secrets(), level=base.log_level, keep_days=base.retention.log_keep_days)
    with Sandbox.from_settings(base, fixed_ports=False) as sandbox:
        settings = load_settings(home=home, overrides={**overrides, **sandbox.settings_overrides()})
        console.print(f"sandbox: {len(sandbox.market.universe())} listings, market date {sandbox.market.today}, "
                      f"Yahoo at {sandbox.endpoints.yahoo_url}, {len(sandbox.endpoints.exit_urls)} exits")
        service = EngineService.open(settings, init=False)
        failed: list[str] = []
        try:
            with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                          console=console, transient=False) as progress:
                task = progress.add_task("demo", total=len(STEPS))
                for step in sorted(STEPS, key=lambda x: x.order):
                    progress.update(task, description=f"{step.name}: {step.description}")
                    try:
                        figures = step.run(settings, service, sandbox)
                        log.info("demo step done", detail={"step": step.name, **figures})
                    except Exception as exc:  # noqa: BLE001 - report every failing step, keep going
                        failed.append(step.name)
                        log.error(f"demo step {step.name} failed: {exc}", error_code=getattr(exc, "error_code", "INTERNAL"))
                    progress.advance(task)
            summary = service.summary(sandbox.market.today if sandbox.market.today <= dt.date.today() else None)
        finally:
            service.close()
    console.print_json(data=summary.to_dict())
    if failed:
        console.print(f"[red]demo: steps failed: {', '.join(failed)}[/]")
        return 1
    console.print(f"demo home ready: {settings.home}")
    return 0
