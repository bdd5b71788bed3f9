"""The outbox: idempotent on rule + subject + night, mutes turn new rows into "muted", bad input is refused."""

from __future__ import annotations

import datetime as dt

import pytest

from praf_engine.alerts import outbox
from praf_engine.db.models import AlertOutbox
from praf_engine.errors import PipelineError

NIGHT = dt.date(2026, 3, 4)
NOW = dt.datetime(2026, 3, 4, 2, 0)


def _put(db, rule="lag", subject="universe", severity="critical", night=NIGHT, now=NOW):
    return outbox.enqueue(db, rule=rule, subject=subject, night=night, severity=severity, text=f"{rule} {subject}", now=now)


def test_enqueue_is_idempotent_per_rule_subject_night(service) -> None:
    db = service.db
    first = _put(db)
    assert first is not None and first.status == "pending"
    assert _put(db) is None  # the same alert again: nothing new
    assert _put(db, subject="XNAS") is not None
    assert _put(db, night=NIGHT + dt.timedelta(days=1)) is not None
    assert AlertOutbox.select().count() == 3


def test_pending_most_severe_first(service) -> None:
    db = service.db
    _put(db, rule="latency", severity="info")
    _put(db, rule="exit_fallback", severity="warning")
    _put(db, rule="lag", severity="critical")
    assert [r.rule for r in outbox.pending(db, NIGHT)] == ["lag", "exit_fallback", "latency"]
    assert outbox.pending(db, NIGHT + dt.timedelta(days=1)) == []


def test_mute_for_a_rule_or_all_and_unmute(service) -> None:
    db = service.db
    outbox.mute(db, "lag", NOW + dt.timedelta(days=1), "424242", "/mute lag 1d", now=NOW)
    assert _put(db, rule="lag").status == "muted"
    assert _put(db, rule="job_failed").status == "pending"
    assert [m.rule for m in outbox.mutes(db, NOW)] == ["lag"]
    assert outbox.mutes(db, NOW + dt.timedelta(days=2)) == []  # expired
    outbox.mute(db, None, NOW + dt.timedelta(hours=2), "tui", now=NOW)
    assert _put(db, rule="exit_fallback").status == "muted"
    assert outbox.unmute(db, "lag", "424242", now=NOW) == 1
    assert [m.rule for m in outbox.mutes(db, NOW + dt.timedelta(minutes=1))] == [None]
    assert outbox.unmute(db, None, "tui", now=NOW + dt.timedelta(minutes=1)) == 1
    assert _put(db, rule="lag", subject="XPAR", now=NOW + dt.timedelta(minutes=2)).status == "pending"


def test_bad_input_is_refused_with_a_code(service) -> None:
    db = service.db
    for kwargs in ({"severity": "loud"}, {"rule": ""}, {"rule": "x" * 40}):
        with pytest.raises(PipelineError) as info:
            _put(db, **kwargs)
        assert info.value.error_code == "CONFIGBAD"
    with pytest.raises(PipelineError):
        outbox.mute(db, "lag", NOW - dt.timedelta(hours=1), "me", now=NOW)
    assert AlertOutbox.select().count() == 0
