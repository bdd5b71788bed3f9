"""The pipeline's jobs report their progress through ctx.progress on the sandbox: the scrape per exchange, the fetch
per batch (planned total, done, rows, errors), QA per check; the row goes when the run ends (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from praf_engine.control import progress
from praf_engine.db.models import JobProgress
from praf_engine.jobs.registry import JOBS
from praf_engine.jobs.runner import JobRunner
from praf_engine.sandbox.wiring import sandbox_wiring
from praf_engine.universe.job import make_scrape_job
from tests.engine.fetch.conftest import home_settings, make_sandbox  # noqa: F401 - fixture


def test_scrape_fetch_and_qa_report_progress(tmp_path: Path, backend: str | None, make_sandbox: Any, monkeypatch: Any) -> None:  # noqa: F811
    from praf_engine.service import EngineService

    written: list[tuple[str, dict[str, Any]]] = []
    original = progress.ProgressReporter._write

    def record(self: progress.ProgressReporter, state: dict[str, Any]) -> bool:
        written.append((self.job, dict(state)))
        return original(self, state)

    monkeypatch.setattr(progress.ProgressReporter, "_write", record)
    monkeypatch.setattr(progress, "INTERVAL", 0.0)  # every report written: the test sees each one
    sandbox = make_sandbox(24)
    settings = home_settings(tmp_path / "home", sandbox, backend, fetch__batch_size=5)
    service = EngineService.open(settings)
    try:
        runner = JobRunner(sandbox_wiring(settings, db=service.db))
        assert runner.run("scrape", make_scrape_job(["nasdaq", "arca", "ftse", "dax"])) == 0
        assert runner.run("fetch", JOBS["fetch"].load()) == 0
        assert runner.run("qa", JOBS["qa"].load()) == 0
        assert JobProgress.select().count() == 0
    finally:
        service.close()
    by_job: dict[str, list[dict[str, Any]]] = {}
    for job, state in written:
        by_job.setdefault(job, []).append(state)
    scrape = by_job["scrape"]
    assert [s["stage"] for s in scrape][:3] == ["nasdaq: fetch", "nasdaq: parse", "nasdaq: store"]
    assert scrape[-1]["stage"] == "dax: success" and scrape[-1]["done"] == scrape[-1]["total"] == 4 and scrape[-1]["errors"] == 0
    assert scrape[-1]["rows"] > 0 and [s["done"] for s in scrape] == sorted(s["done"] for s in scrape)
    fetch = by_job["fetch"]
    planned = fetch[0]["total"]
    assert fetch[0]["stage"] == "plan" and fetch[0]["done"] == 0 and planned > 0
    assert [s["done"] for s in fetch[1:]] == sorted(s["done"] for s in fetch[1:]) and len(fetch) >= 1 + planned // 5
    assert fetch[-1]["done"] == fetch[-1]["total"] == planned and fetch[-1]["rows"] > 0 and fetch[-1]["errors"] == 0
    qa = by_job["qa"]
    assert qa[0]["stage"] == "checks over the lake" and qa[0]["done"] == 0
    assert qa[-1]["done"] == qa[-1]["total"] == qa[0]["total"] > 10 and qa[-1]["stage"].startswith("check ") and qa[-1]["errors"] == 0
