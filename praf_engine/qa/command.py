"""`praf-engine qa`: the qa job through JobRunner, with a Rich progress bar per check."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from praf_engine.db.models import CronStatus
from praf_engine.jobs.runner import JobRunner
from praf_engine.qa import catalog
from praf_engine.qa.runner import CheckOutcome, qa_job
from praf_engine.wiring import Wiring

_STYLE = {"green": "green", "yellow": "yellow", "red": "red"}


def run_qa_command(wiring: Wiring, as_of: dt.date | None, checks: Sequence[str] | None, force: bool,
                   console: Console, *, trigger: str = "cli", symbols: Sequence[str] | None = None) -> int:
    """Run the qa job; print one line per check; returns the job's exit code (1 if a check crashed). ``symbols``
    (`qa --symbols A,B`): only those symbols' failures are written, refused with CONFIGBAD before anything runs."""
    if symbols is not None:
        from praf_engine.qa.recheck import check_symbols

        symbols = check_symbols([p for s in symbols for p in str(s).split(",") if p.strip()], code="CONFIGBAD")
    if checks:
        catalog_unknown = [c for c in checks if c not in catalog.CHECKS]
        if catalog_unknown:
            from praf_engine.errors import PipelineError

            raise PipelineError("CONFIGBAD", f"unknown check(s) {catalog_unknown}; known: {', '.join(catalog.CHECKS)}")
    total = len(checks) if checks else len(catalog.SPECS)
    with Progress(SpinnerColumn(), TextColumn("{task.description:<40}"), BarColumn(), TimeElapsedColumn(),
                  console=console, transient=False) as bars:
        task = bars.add_task("qa: loading the universe and the lake", total=total)

        def progress(name: str, outcome: CheckOutcome | None) -> None:
            if outcome is None:
                bars.update(task, description=f"qa: {name}")
            else:
                bars.advance(task)

        job = functools.partial(qa_job, as_of=as_of, checks=list(checks) if checks else None, force=force, progress=progress,
                                symbols=list(symbols) if symbols is not None else None)
        code = JobRunner(wiring, trigger=trigger).run("qa", job)
    last = CronStatus.select().where(CronStatus.job == "qa").order_by(CronStatus.id.desc()).first()
    detail = (last.detail or {}) if last else {}
    if detail.get("checks"):
        scope = f"{len(symbols)} of {detail.get('universe_size')} active symbols" if symbols is not None else \
            f"{detail.get('universe_size')} active symbols"
        table = Table("check", "severity", "failures", "colour", "seconds", "error", title=f"QA {detail.get('as_of')} ({scope})")
        for name, r in detail["checks"].items():
            style = _STYLE.get(r["colour"], "white")
            table.add_row(name, r["severity"], str(r["failures"]), f"[{style}]{r['colour']}[/]", f"{r['seconds']:.3f}",
                          "QAFAIL: " + r["error"] if r.get("crashed") else "")
        console.print(table)
    console.print(f"qa finished with exit code {code}")
    return code
