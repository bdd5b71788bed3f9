"""Entry points of the fetch: `praf-engine fetch` (Rich progress), `praf-engine import-actions CSV`, the demo step."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from peewee import Database
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from praf_engine.config import Settings
from praf_engine.db.models import CronStatus, FetchError
from praf_engine.jobs.runner import JobRunner


def run_fetch(settings: Settings, db: Database, *, symbols: list[str] | None, full: bool, force: bool,
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

        code = JobRunner(settings, db, trigger=trigger).run(
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


def demo_fetch(settings: Settings, service: Any, sandbox: Any) -> dict[str, Any]:
    """Backfill whatever `tickers` holds, then move the market to its next session and fetch one incremental night."""
    from praf_engine.fetch.runner import fetch_job

    runner = JobRunner(settings, service.db, trigger="demo")
    first = runner.run("fetch", lambda ctx: fetch_job(ctx))
    market = sandbox.market
    nxt = market.today + dt.timedelta(days=1)
    while nxt.weekday() >= 5:
        nxt += dt.timedelta(days=1)
    market.today = nxt
    night_settings = settings.model_copy(update={"sandbox": settings.sandbox.model_copy(update={"today": nxt})})
    second = JobRunner(night_settings, service.db, trigger="demo").run("fetch", lambda ctx: fetch_job(ctx))
    rows = list(CronStatus.select().where(CronStatus.job == "fetch").order_by(CronStatus.id.desc()).limit(2))
    details = [r.detail or {} for r in reversed(rows)]
    if first != 0 or second != 0:
        from praf_engine.errors import PipelineError

        raise PipelineError("INTERNAL", f"demo fetch exit codes {first}/{second}", {"details": details})
    return {"backfill_symbols": details[0].get("done", 0), "backfill_rows": details[0].get("rows_written", 0),
            "night": nxt.isoformat(), "incremental_symbols": details[-1].get("done", 0),
            "fetch_errors": FetchError.select().count()}
