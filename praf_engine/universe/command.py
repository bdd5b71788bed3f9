"""`praf-engine scrape`: the scrape job through JobRunner, with a Rich progress bar per exchange."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from praf_engine.jobs.runner import JobRunner
from praf_engine.universe.job import STAGES, check_exchanges, make_scrape_job
from praf_engine.wiring import Wiring

_STYLE = {"success": "green", "error": "red", "structure_error": "red"}


def run_scrape(wiring: Wiring, exchanges: Sequence[str] | None, console: Console, *,
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

        code = JobRunner(wiring, trigger=trigger).run("scrape", make_scrape_job(codes, progress))
    table = Table("exchange", "status", "rows", "new", "delisted", "back", "error", title="scrape")
    for name in codes:
        r = outcome.get(name, {"status": "not run"})
        table.add_row(name, r["status"], str(r.get("seen", "")), str(r.get("new", "")), str(r.get("delisted", "")),
                      str(r.get("relisted", "")), r.get("error_code") or ("SCRAPEBAD" if r.get("skipped_count") else ""))
    console.print(table)
    console.print(f"scrape finished with exit code {code}")
    return code
