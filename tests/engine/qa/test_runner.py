"""The QA run against a real database (SQLite and PostgreSQL): upserts, triage kept, thresholds, crashes, gate."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from praf_engine.config import Settings
from praf_engine.db.models import BatchLatency, CronStatus, QACheck, QAFailure, QASummary
from praf_engine.errors import PipelineError
from praf_engine.jobs.runner import JobRunner
from praf_engine.lake import Lake
from praf_engine.qa import catalog, runner
from praf_engine.qa.runner import qa_job, run_qa
from tests.engine.qa.helpers import frame, make_home, session_dates

AS_OF = dt.date(2025, 12, 29)  # a Monday after Christmas and Boxing Day (XLON closed on both)


def _closes(n: int, jump_at: int | None = None, factor: float = 1.6) -> list[float]:
    return [10.0 * (factor if jump_at is not None and i >= jump_at else 1.0) for i in range(n)]


@pytest.fixture
def home(settings: Settings, service: Any) -> Settings:
    """Three listings: a clean New York one, a London one with a 60 % move, one with a missing session."""
    ny = session_dates("XNYS", dt.date(2025, 10, 1), AS_OF)
    ldn = session_dates("XLON", dt.date(2025, 10, 1), AS_OF)
    gap = [d for d in ny if d != dt.date(2025, 12, 17)]
    make_home(Lake(settings.lake_dir, fsync=False), {
        "CLEAN": ("XNYS", frame(ny)),
        "MOVE.L": ("XLON", frame(ldn, _closes(len(ldn), jump_at=len(ldn) - 5))),
        "GAPPY": ("XNYS", frame(gap)),
    })
    return settings


def _failures() -> dict[tuple[str, str], QAFailure]:
    return {(r.check_name, r.symbol): r for r in QAFailure.select()}


def test_failures_and_summary_are_written(home: Settings, service: Any) -> None:
    result = run_qa(home, service.db, AS_OF)
    assert result.exit_code == 0 and result.universe_size == 3
    rows = _failures()
    assert set(rows) == {("missing_dates", "GAPPY")}  # a 60 % move is below the 75 % default
    assert rows[("missing_dates", "GAPPY")].details["dates"] == ["2025-12-17"]
    summary = {r.check_name: r for r in QASummary.select().where(QASummary.date == AS_OF)}
    assert summary["missing_dates"].fail_count == 1 and summary["missing_dates"].universe_size == 3
    assert summary["lag_check"].fail_count == 0


def test_rerun_is_idempotent_and_keeps_triage(home: Settings, service: Any) -> None:
    run_qa(home, service.db, AS_OF, run_id="first")
    row = _failures()[("missing_dates", "GAPPY")]
    service.resolve_failure(row.id, "vendor outage, refetch queued", "alice", false_positive=True)
    run_qa(home, service.db, AS_OF, run_id="second")
    again = _failures()
    assert len(again) == 1 and QASummary.select().count() == len(catalog.SPECS)
    kept = again[("missing_dates", "GAPPY")]
    assert kept.id == row.id and kept.run_id == "second"
    assert (kept.resolved, kept.resolution, kept.note, kept.resolved_by) == (True, "false_positive", "vendor outage, refetch queued", "alice")


def test_a_fixed_failure_disappears_on_rerun_unless_triaged(home: Settings, service: Any) -> None:
    run_qa(home, service.db, AS_OF)
    Lake(home.lake_dir, fsync=False).write("GAPPY", frame([dt.date(2025, 12, 17)]))  # the refetch filled the gap
    run_qa(home, service.db, AS_OF)
    assert _failures() == {}


def test_an_edited_threshold_changes_the_next_run(home: Settings, service: Any) -> None:
    run_qa(home, service.db, AS_OF)
    assert ("price_jump", "MOVE.L") not in _failures()
    QACheck.update(threshold_params={"max_move": 0.5, "window_sessions": 30}).where(QACheck.check_name == "price_jump").execute()
    run_qa(home, service.db, AS_OF)
    jump = _failures()[("price_jump", "MOVE.L")]
    assert jump.severity == "critical" and jump.details["move_pct"] == [pytest.approx(60.0)]


def test_a_malformed_threshold_disables_only_that_check(home: Settings, service: Any) -> None:
    QACheck.update(threshold_params={"window_sessions": "thirty"}).where(QACheck.check_name == "missing_dates").execute()
    result = run_qa(home, service.db, AS_OF)
    assert result.crashed == ["missing_dates"] and result.exit_code == 1
    outcome = next(o for o in result.outcomes if o.check == "missing_dates")
    assert "window_sessions='thirty' must be an integer" in outcome.error
    summary = {r.check_name: r for r in QASummary.select()}
    assert summary["missing_dates"].crashed and summary["missing_dates"].colour == "red"
    assert len(summary) == len(catalog.SPECS) and not summary["zero_volume"].crashed


def test_a_crashing_check_does_not_stop_the_others_and_the_job_exits_1(home: Settings, service: Any,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(data: Any, params: Any) -> Any:
        raise ZeroDivisionError("bad maths")

    monkeypatch.setitem(runner.FUNCTIONS, "null_fields", boom)
    code = JobRunner(service.wiring).run("qa", lambda ctx: qa_job(ctx, as_of=AS_OF, force=True))
    assert code == 1
    row = CronStatus.get(CronStatus.job == "qa")
    assert row.error_code == "QAFAIL" and row.detail["crashed"] == ["null_fields"]
    assert "bad maths" in row.detail["checks"]["null_fields"]["error"]
    assert ("missing_dates", "GAPPY") in _failures()  # written by the checks after it


def test_disabled_checks_are_skipped(home: Settings, service: Any) -> None:
    QACheck.update(enabled=False).where(QACheck.check_name == "missing_dates").execute()
    result = run_qa(home, service.db, AS_OF)
    assert result.skipped == ["missing_dates"] and _failures() == {}


def test_unknown_check_name_is_refused(home: Settings, service: Any) -> None:
    with pytest.raises(PipelineError, match="unknown check"):
        run_qa(home, service.db, AS_OF, checks=["price_jumps"])


def test_lag_counts_sessions_of_the_listings_calendar(settings: Settings, service: Any) -> None:
    ny = session_dates("XNYS", dt.date(2025, 11, 1), AS_OF)
    ldn = session_dates("XLON", dt.date(2025, 11, 1), AS_OF)
    make_home(Lake(settings.lake_dir, fsync=False), {"LATE": ("XNYS", frame(ny)), "HOLS.L": ("XLON", frame(ldn))},
              last_fetched={"LATE": dt.date(2025, 12, 23), "HOLS.L": dt.date(2025, 12, 23)})
    run_qa(settings, service.db, AS_OF, checks=["lag_check"])
    rows = _failures()
    # New York: 24, 26, 29 are sessions (3 behind); London: 24 and 29 only (25, 26 are holidays), 2 behind
    assert set(rows) == {("lag_check", "LATE")}
    assert rows[("lag_check", "LATE")].details["days_behind"] == 3
    assert rows[("lag_check", "LATE")].severity == "critical"  # 1 of 2 listings is above 5 % of the universe


def test_fetch_error_and_api_latency(settings: Settings, service: Any) -> None:
    ny = session_dates("XNYS", dt.date(2025, 12, 1), AS_OF)
    make_home(Lake(settings.lake_dir, fsync=False), {"A": ("XNYS", frame(ny)), "B": ("XNYS", frame(ny))}, failures={"A": 3, "B": 2})
    for night, ms in ((dt.date(2025, 12, 25), 5_000), (dt.date(2025, 12, 26), 12_000), (dt.date(2025, 12, 27), 15_000)):
        for i in range(20):
            BatchLatency.create(run_id=str(night), night=night, batch_no=i, symbols=50, latency_ms=ms + i)
    run_qa(settings, service.db, AS_OF, checks=["fetch_error", "api_latency"])
    assert set(_failures()) == {("fetch_error", "A")}  # only 2 nights above 10 s
    BatchLatency.create(run_id="n4", night=dt.date(2025, 12, 28), batch_no=0, symbols=50, latency_ms=11_000)
    run_qa(settings, service.db, AS_OF, checks=["fetch_error", "api_latency"])
    latency = _failures()[("api_latency", "*")]
    assert latency.details["nights"] == ["2025-12-26", "2025-12-27", "2025-12-28"]


def test_init_seeds_every_check_and_keeps_edits(settings: Settings, service: Any) -> None:
    assert QACheck.select().count() == len(catalog.SPECS)
    QACheck.update(threshold_params={"max_move": 0.9}, updated_by="ops").where(QACheck.check_name == "price_jump").execute()
    service.init()
    row = QACheck.get(QACheck.check_name == "price_jump")
    assert row.threshold_params == {"max_move": 0.9} and row.updated_by == "ops"
