"""Entry points of the fetch: `praf-engine fetch` (Rich progress) and `praf-engine import-actions CSV`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from praf_engine.db.models import CronStatus
from praf_engine.jobs.runner import JobRunner
from praf_engine.wiring import Wiring


def run_fetch(wiring: Wiring, *, symbols: list[str] | None, full: bool, force: bool,
              console: Console, trigger: str = "cli") -> int:
    """Run the fetch job with a progress bar (symbols done, errors, current exit); returns the job's exit code."""
    from praf_engine.fetch.runner import fetch_job

    columns = (TextColumn("fetch"), BarColumn(), MofNCompleteColumn(), TextColumn("errors {task.fields[errors]}"),
               TextColumn("exit {task.fields[exit]}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("fetch", total=None, errors=0, exit="-")

        def update(state: dict[str, Any]) -> None:
            progress.update(task, completed=state["done"], total=max(state["total"], state["done"]),
                            errors=state["errors"], exit=state["exit"])

        code = JobRunner(wiring, trigger=trigger).run(
            "fetch", lambda ctx: fetch_job(ctx, symbols=symbols, full=full, force=force, progress=update))
    row = CronStatus.select().where(CronStatus.job == "fetch").order_by(CronStatus.id.desc()).first()
    detail = row.detail if row else {}
    if detail.get("planned") is not None:
        console.print(f"fetch {detail.get('night')}: {detail.get('done', 0)}/{detail.get('planned', 0)} symbols, "
                      f"outcomes {detail.get('outcomes', {})}, {detail.get('rows_written', 0)} rows, "
                      f"{detail.get('deferred_full_history', 0)} full histories deferred"
                      + (", VPN FALLBACK (direct, half batches)" if detail.get("vpn_fail") else ""), markup=False)
    console.print(f"fetch finished with exit code {code}", markup=False)
    return code


def import_actions(path: Path, console: Console) -> int:
    """Import manual corporate actions; exit 1 when rows were rejected (the good ones are kept)."""
    from praf_engine.fetch.actions import import_csv

    report = import_csv(path)
    console.print(f"corporate actions from {path.name}: {report.inserted} imported, {report.duplicates} already known, "
                  f"{len(report.rejected)} rejected", markup=False)
    for bad in report.rejected[:20]:
        console.print(f"  line {bad['line']}: {bad['reason']}", markup=False)
    return 1 if report.rejected else 0
