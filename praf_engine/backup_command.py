"""`praf-engine backup [--list]` and `praf-engine restore [BACKUP] [--force]`: the backup module with a progress bar."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from praf_engine.backup import backup_job, list_backups, restore_backup
from praf_engine.config import Settings
from praf_engine.db.database import bind, make_database
from praf_engine.jobs.runner import JobContext, JobRunner
from praf_engine.wiring import Wiring

_STEPS = {"backup": "backing up lake files", "verify": "checking the backup", "restore": "restoring lake files"}


@contextmanager
def file_progress(console: Console) -> Iterator[Any]:
    """A Rich progress bar per step, fed by the backup module's ``progress(step, done, total)`` calls."""
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def update(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(_STEPS.get(step, step), total=total)
            bar.update(tasks[step], completed=done, total=total)

        yield update


def show_backups(settings: Settings, out: Console) -> int:
    backups = list_backups(settings)
    if not backups:
        out.print(f"no backups in {settings.backups_dir}")
        return 0
    table = Table(title=f"backups in {settings.backups_dir} (newest last; backup.keep = {settings.backup.keep})")
    for name in ("backup", "created (UTC)", "database", "lake files", "lake MB", "schema"):
        table.add_column(name, justify="right" if name in ("lake files", "lake MB", "schema") else "left", no_wrap=True)
    for b in backups:
        table.add_row(b.name, b.created_at[:19].replace("T", " "), b.database, str(b.files), f"{b.bytes / 1e6:,.1f}",
                      str(b.schema_version))
    out.print(table)
    return 0


def run_backup(wiring: Wiring, console: Console) -> int:
    """The `backup` job through the JobRunner (lock, cron_status row), with a progress bar on ``console``."""
    made: dict[str, Any] = {}
    with file_progress(console) as progress:
        def job(ctx: JobContext) -> int:
            code = backup_job(ctx, progress)
            made.update(ctx.detail)
            return code

        code = JobRunner(wiring).run("backup", job)
    if made:
        pruned = f", pruned {', '.join(made['pruned'])}" if made["pruned"] else ""
        console.print(f"backup {made['backup']}: database and {made['files']} lake files "
                      f"({made['bytes'] / 1e6:,.1f} MB) in {wiring.settings.backups_dir}{pruned}")
    return code


def run_restore(settings: Settings, name: str | None, force: bool, console: Console) -> int:
    """Restore the home from a backup. The database is not connected here: it may be damaged beyond opening, and
    its schema is about to be replaced."""
    db = bind(make_database(settings.database_url.get_secret_value() if settings.database_url else None, settings.db_path))
    try:
        with file_progress(console) as progress:
            result = restore_backup(settings, db, name, force=force, progress=progress)
    finally:
        db.close()
    console.print(f"restored {settings.home} from backup {result['backup']}: database, {result['files_restored']} lake "
                  f"files put back, {result['files_unchanged']} unchanged, {result['files_displaced']} moved aside")
    if result["displaced"]:
        console.print(f"  what was replaced is kept in {result['displaced']}")
    return 0
