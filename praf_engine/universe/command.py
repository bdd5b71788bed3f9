"""`praf-engine scrape`: the scrape job through JobRunner, with a Rich progress bar per exchange."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from praf_engine.config import Settings
from praf_engine.jobs.runner import JobRunner
from praf_engine.universe.job import STAGES, check_exchanges, make_scrape_job

_STYLE = {"success": "green", "error": "red", "structure_error": "red"}


def run_scrape(settings: Settings, db: Any, exchanges: Sequence[str] | None, console: Console, *,
               trigger: str = "cli") -> int:
    """Scrape ``exchanges`` (default all) as the job ``scrape``; returns its exit code (non-zero if one failed)."""
    codes = check_exchanges(exchanges)
    outcome: dict[str, dict[str, Any]] = {}
    with Progress(SpinnerColumn(), TextColumn("{task.description:<42}"), BarColumn(), TimeElapsedColumn(),
                  console=console, transient=False) as bars:
        tasks: dict[str, TaskID] = {code: bars.add_task(f"{code}: waiting", total=len(STAGES)) for code in codes}

        def progress(code: str, stage: str, figures: dict[str, Any]) -> None:
            task = tasks[code]
            if stage in STAGES:
                rows = f" ({figures['rows']} rows)" if "rows" in figures else ""
                bars.update(task, description=f"{code}: {stage}{rows}", completed=STAGES.index(stage))
                return
            outcome[code] = {"status": stage, **figures}
            text = f"{figures.get('seen', 0)} listings" if stage == "success" else f"{stage} [{figures.get('error_code')}]"
            bars.update(task, description=f"[{_STYLE.get(stage, 'white')}]{code}: {text}[/]", completed=len(STAGES))

        code = JobRunner(settings, db, trigger=trigger).run("scrape", make_scrape_job(codes, progress))
    table = Table("exchange", "status", "rows", "new", "delisted", "back", "error", title="scrape")
    for name in codes:
        r = outcome.get(name, {"status": "not run"})
        table.add_row(name, r["status"], str(r.get("seen", "")), str(r.get("new", "")), str(r.get("delisted", "")),
                      str(r.get("relisted", "")), r.get("error_code") or ("SCRAPEBAD" if r.get("skipped_count") else ""))
    console.print(table)
    console.print(f"scrape finished with exit code {code}")
    return code


def demo_scrape(settings: Settings, service: Any, sandbox: Any) -> dict[str, Any]:
    """The demo's scrape step: every exchange of the demo's sandbox, dated on the sandbox's market day."""
    import datetime as dt

    from praf_engine.db.models import ScrapeControl, utcnow
    from praf_engine.errors import PipelineError

    def clock() -> dt.datetime:
        return dt.datetime.combine(sandbox.market.today, utcnow().time())

    code = JobRunner(settings, service.db, trigger="demo", clock=clock).run("scrape", make_scrape_job())
    month = f"{sandbox.market.today:%Y%m}"
    rows = {r.exchange: (r.scrape_status, r.row_count, r.error_code)
            for r in ScrapeControl.select().where(ScrapeControl.month == month)}
    if code != 0:
        raise PipelineError("SCRAPESTRUCT" if any(s == "structure_error" for s, _, _ in rows.values()) else "SCRAPEHTTP",
                            f"scrape exited {code}", {"exchanges": {k: list(v) for k, v in rows.items()}})
    return {"tickers": sum(n for _, n, _ in rows.values()), **{k: v[1] for k, v in rows.items()}}
