"""The threshold editor through the service (SQLite and PostgreSQL): listing, validation by the runner's rules,
the in-memory preview (writes nothing; predicts what the next run writes), save + audit, history."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import pytest

from praf_engine.config import Settings
from praf_engine.db.models import QACheck, QACheckAudit, QAFailure, QASummary
from praf_engine.errors import PipelineError
from praf_engine.lake import Lake
from praf_engine.qa.runner import run_qa
from tests.engine.qa.helpers import frame, make_home, session_dates

AS_OF = dt.date(2025, 12, 29)


@pytest.fixture
def home(settings: Settings, service: Any) -> Settings:
    """A clean listing, one with a 60 % move five sessions ago, one with a missing session; QA ran for AS_OF."""
    ny = session_dates("XNYS", dt.date(2025, 10, 1), AS_OF)
    ldn = session_dates("XLON", dt.date(2025, 10, 1), AS_OF)
    closes = [10.0 * (1.6 if i >= len(ldn) - 5 else 1.0) for i in range(len(ldn))]
    make_home(Lake(settings.lake_dir, fsync=False), {
        "CLEAN": ("XNYS", frame(ny)),
        "MOVE.L": ("XLON", frame(ldn, closes)),
        "GAPPY": ("XNYS", frame([d for d in ny if d != dt.date(2025, 12, 17)])),
    })
    run_qa(settings, service.db, AS_OF, run_id="night")
    return settings


def _tables() -> tuple[Any, ...]:
    """Everything a preview must leave as it was."""
    return (sorted((r.symbol, r.check_name, r.date, r.run_id, r.updated_at) for r in QAFailure.select()),
            sorted((r.check_name, r.fail_count, r.created_at) for r in QASummary.select()),
            sorted((r.check_name, r.severity, r.enabled, str(r.threshold_params), r.updated_at) for r in QACheck.select()),
            QACheckAudit.select().count())


def test_every_check_is_listed_with_its_thresholds(home: Settings, service: Any) -> None:
    rows = {r.name: r for r in service.qa_checks()}
    assert len(rows) == 15 and rows["price_jump"].severity == "critical" and rows["price_jump"].enabled
    params = {p.name: p for p in rows["price_jump"].params}
    assert params["max_move"].kind == "float" and params["max_move"].value == params["max_move"].default == 0.75
    assert params["window_sessions"].kind == "int" and params["window_sessions"].minimum == 2
    assert rows["price_jump"].error is None


def test_validation_is_the_runners(home: Settings, service: Any) -> None:
    assert service.validate_check("price_jump", {"max_move": "0.5"})["max_move"] == 0.5
    assert service.validate_check("missing_dates", {"min_missing": " 3 "}) == {"window_sessions": 30, "min_missing": 3}
    for bad in ({"max_move": "abc"}, {"max_move": "-1"}, {"max_move": "true"}, {"window_sessions": "2.5"},
                {"window_sessions": "1"}, {"nope": 1}, {"max_move": "NaN"}):
        with pytest.raises(PipelineError) as err:
            service.validate_check("price_jump", bad)
        assert err.value.error_code == "QAFAIL", bad
    with pytest.raises(PipelineError, match="severity 'loud'") as err:
        service.validate_check("price_jump", severity="loud")
    assert err.value.error_code == "QAFAIL"
    with pytest.raises(PipelineError, match="enabled") as err:
        service.validate_check("price_jump", enabled="yes")
    with pytest.raises(PipelineError) as err:
        service.validate_check("no_such_check", {})
    assert err.value.error_code == "CONFIGBAD"


def test_preview_reports_added_and_removed_and_writes_nothing(home: Settings, service: Any) -> None:
    before = _tables()
    lower = service.preview_check("price_jump", {"max_move": "0.5"})
    assert lower.as_of == AS_OF  # the latest date QA ran for
    assert (lower.before, lower.after, lower.added, lower.removed) == (0, 1, 1, 0)
    assert lower.added_sample == ("MOVE.L",) and lower.removed_sample == ()
    assert lower.old_params["max_move"] == 0.75 and lower.new_params["max_move"] == 0.5 and lower.universe_size == 3
    off = service.preview_check("missing_dates", enabled=False)
    assert (off.before, off.after, off.removed, off.removed_sample) == (1, 0, 1, ("GAPPY",))
    assert not off.new_enabled and off.old_enabled
    louder = service.preview_check("missing_dates", severity="critical")
    assert (louder.added, louder.removed, louder.old_severity, louder.new_severity) == (0, 0, "warning", "critical")
    earlier = service.preview_check("price_jump", {"max_move": 0.5}, as_of=AS_OF - dt.timedelta(days=30))
    assert earlier.as_of == AS_OF - dt.timedelta(days=30) and earlier.after == 0  # the move is after that date
    with pytest.raises(PipelineError) as err:
        service.preview_check("price_jump", {"max_move": "x"})
    assert err.value.error_code == "QAFAIL"
    assert _tables() == before


def test_save_writes_the_row_and_an_audit_and_the_next_run_uses_it(home: Settings, service: Any) -> None:
    predicted = service.preview_check("price_jump", {"max_move": "0.5"})
    row = service.save_check("price_jump", who="alice", note="too quiet", params={"max_move": "0.5"})
    assert {p.name: p.value for p in row.params}["max_move"] == 0.5 and row.updated_by == "alice"
    stored = QACheck.get(QACheck.check_name == "price_jump")
    assert stored.threshold_params == {"window_sessions": 30, "max_move": 0.5}
    (audit,) = service.check_history("price_jump")
    assert audit.changed_by == "alice" and audit.note == "too quiet"
    assert audit.old == {"severity": "critical", "enabled": True, "threshold_params": {"window_sessions": 30, "max_move": 0.75}}
    assert audit.new["threshold_params"]["max_move"] == 0.5
    run_qa(home, service.db, AS_OF, checks=["price_jump"], run_id="after")
    written = {r.symbol for r in QAFailure.select().where(QAFailure.check_name == "price_jump", QAFailure.date == AS_OF)}
    assert written == set(predicted.added_sample) == {"MOVE.L"}  # the preview predicted the run
    service.save_check("price_jump", who="bob", note="back", params={"max_move": 0.75}, severity="warning")
    history = service.check_history("price_jump")
    assert [h.changed_by for h in history] == ["bob", "alice"] and history[0].new["severity"] == "warning"
    assert service.check_history("missing_dates") == ()


def test_a_malformed_value_is_never_saved(home: Settings, service: Any) -> None:
    before = _tables()
    for kwargs in ({"params": {"max_move": "abc"}}, {"params": {"window_sessions": 0}}, {"params": {"extra": 1}},
                   {"severity": "urgent"}, {"enabled": 1}, {"params": "max_move=0.5"}):
        with pytest.raises(PipelineError) as err:
            service.save_check("price_jump", who="alice", note="x", **kwargs)
        assert err.value.error_code == "QAFAIL", kwargs
    with pytest.raises(PipelineError, match="who"):
        service.save_check("price_jump", who=" ", params={"max_move": 0.5})
    assert _tables() == before
    service.save_check("price_jump", who="alice", params={"max_move": 0.75})  # no change: nothing written
    assert _tables() == before


def test_malformed_stored_thresholds_are_shown_and_can_be_repaired(home: Settings, service: Any) -> None:
    QACheck.update(threshold_params={"max_move": "lots"}).where(QACheck.check_name == "price_jump").execute()
    row = next(r for r in service.qa_checks() if r.name == "price_jump")
    assert row.error and "max_move" in row.error and {p.name: p.value for p in row.params}["max_move"] == 0.75
    preview = service.preview_check("price_jump", {"max_move": 0.5})
    assert (preview.before, preview.after) == (0, 1)  # the runner writes nothing for a malformed check (QAFAIL)
    service.save_check("price_jump", who="alice", note="repair", params={"max_move": 0.5})
    (audit,) = service.check_history("price_jump")
    assert audit.old["threshold_params"] == {"max_move": "lots"}
    assert next(r for r in service.qa_checks() if r.name == "price_jump").error is None


def test_the_window_is_kept_for_the_next_preview_until_a_job_runs(home: Settings, service: Any) -> None:
    from praf_engine.db.models import CronStatus, utcnow

    first = service.preview_check("price_jump", {"max_move": 0.5})
    again = service.preview_check("missing_dates", {"min_missing": 2})  # another check, the same window
    assert not first.cached and again.cached and (again.before, again.removed_sample) == (1, ("GAPPY",))
    warm = service.preview_check("price_jump", {"max_move": 0.5})
    assert warm.cached and replace(warm, seconds=0, cached=False) == replace(first, seconds=0)  # the same answer
    CronStatus.create(run_id="r1", job="fetch", started_at=utcnow(), trigger="manual")  # a job started: read again
    fresh = service.preview_check("price_jump", {"max_move": 0.5})
    assert not fresh.cached and (fresh.added, fresh.added_sample) == (first.added, first.added_sample)


def test_warming_reads_the_window_the_first_preview_then_uses(home: Settings, service: Any) -> None:
    assert service.warm_check_window() is True  # read now
    assert service.warm_check_window() is False  # in memory already
    preview = service.preview_check("price_jump", {"max_move": 0.5})
    assert preview.cached and (preview.before, preview.after) == (0, 1)
    service.__dict__.pop("_check_window")
    cold = service.preview_check("price_jump", {"max_move": 0.5})
    assert not cold.cached and replace(cold, seconds=0) == replace(preview, seconds=0, cached=False)
