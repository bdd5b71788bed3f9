"""A progress bar for every running job, whatever process runs it (the scheduler, a detached `praf-engine run`, a
cron line): rows of the job_progress table as the service reports them. Used by the dashboard's Jobs panel and the
Scheduler screen; rows are added, updated and removed in place (a bar never restarts its animation on a poll)."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Label, ProgressBar

from praf_engine.service import RunningJob


def progress_text(run: RunningJob) -> str:
    """"fetch (daemon) · batch 3/12 · 120/300 · 1,234 rows · 2 errors" (and "stopping" once a stop was asked)."""
    parts = [f"{run.job} ({run.trigger})"]
    if run.stage:
        parts.append(run.stage)
    if run.total:
        parts.append(f"{run.done:,}/{run.total:,}")
    elif run.done:
        parts.append(f"{run.done:,} done")
    parts.append(f"{run.rows:,} rows")
    if run.errors:
        parts.append(f"{run.errors:,} errors")
    if run.stop_requested:
        parts.append("stopping")
    return " · ".join(parts)


class RunningRow(Horizontal):
    """One running job: what it does now, and its bar (indeterminate while the job does not know its total)."""

    def __init__(self, run: RunningJob) -> None:
        super().__init__(id=f"run-{run.run_id}", classes="running-job")
        self.run = run

    def compose(self) -> ComposeResult:
        yield Label(Content(progress_text(self.run)), classes="running-text")
        yield ProgressBar(total=self.run.total or None, show_eta=False, classes="running-bar")

    def on_mount(self) -> None:
        self.show(self.run)

    def show(self, run: RunningJob) -> None:
        self.run = run
        self.query_one(".running-text", Label).update(Content(progress_text(run)))
        self.query_one(ProgressBar).update(total=run.total or None, progress=run.done)
        self.set_class(run.stop_requested, "-stopping")


class RunningJobs(Vertical):
    """Every running job's progress; "no job running" when there is none."""

    def compose(self) -> ComposeResult:
        yield Label(Content("no job running"), classes="running-none")

    def show(self, running: Sequence[RunningJob]) -> None:
        current = {row.run.run_id: row for row in self.query(RunningRow)}
        wanted = {run.run_id for run in running}
        for run_id, row in current.items():
            if run_id not in wanted:
                row.remove()
        for run in running:
            if run.run_id in current:
                current[run.run_id].show(run)
            else:
                self.mount(RunningRow(run))
        self.query_one(".running-none", Label).display = not running

    @property
    def run_ids(self) -> list[str]:
        return [row.run.run_id for row in self.query(RunningRow)]
