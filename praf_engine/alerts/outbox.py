"""The durable alert outbox and the mutes: an alert is a row written before any delivery (SPEC §6).

``enqueue`` is idempotent on the dedupe key (rule + subject + night): the same alert is never queued twice, whoever
evaluates it (the 02:00 alerts job, the watchdog, a rerun). An alert raised while a mute covers its rule is stored
with status ``muted``: it is never sent on its own but is counted in the night's digest.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from peewee import IntegrityError, SqliteDatabase

from praf_engine.db.models import SEVERITIES, AlertMute, AlertOutbox, utcnow
from praf_engine.errors import PipelineError

SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}  # critical 0 sorts first
RULE_MAX, SUBJECT_MAX, KEY_MAX = 32, 128, 128


def write_txn(db: Any) -> Any:
    """A transaction that reads, then writes: on SQLite it takes the write lock at BEGIN (IMMEDIATE), so two
    processes queueing or dispatching at once wait for each other (busy_timeout) instead of one failing with
    "database is locked" when its read snapshot went stale; nested, it is a savepoint."""
    return db.atomic("IMMEDIATE") if isinstance(db, SqliteDatabase) and not db.in_transaction() else db.atomic()


def dedupe_key(rule: str, subject: str, night: dt.date) -> str:
    """rule + subject + night, cut to the column's width (a long subject keeps its start, which names it)."""
    head = f"{rule}|{night.isoformat()}|"
    return head + subject[: KEY_MAX - len(head)]


def _check(rule: str, subject: str, severity: str, text: str) -> None:
    if not rule or len(rule) > RULE_MAX:
        raise PipelineError("CONFIGBAD", f"alert rule name must be 1..{RULE_MAX} characters: {rule!r}")
    if severity not in SEVERITY_RANK:
        raise PipelineError("CONFIGBAD", f"alert severity must be one of {', '.join(SEVERITIES)}: {severity!r}")
    if not text.strip():
        raise PipelineError("CONFIGBAD", f"alert {rule}/{subject} has an empty text")


def active_mute(rule: str, now: dt.datetime) -> AlertMute | None:
    """The mute covering ``rule`` at ``now`` (one for the rule itself or one for every rule), if any."""
    return (AlertMute.select()
            .where((AlertMute.muted_until > now) & (AlertMute.rule.is_null() | (AlertMute.rule == rule)))
            .order_by(AlertMute.muted_until.desc()).first())


def enqueue(db: Any, *, rule: str, subject: str, night: dt.date, severity: str, text: str,
            now: dt.datetime | None = None) -> AlertOutbox | None:
    """Queue one alert; returns the new row, or None when rule + subject + night is already in the outbox.

    ``db`` is the Peewee database the models are bound to (its transaction makes check-and-insert atomic)."""
    _check(rule, subject, severity, text)
    now = now or utcnow()
    subject = subject[:SUBJECT_MAX]
    key = dedupe_key(rule, subject, night)
    status = "muted" if active_mute(rule, now) is not None else "pending"
    try:
        with write_txn(db):
            if AlertOutbox.select().where(AlertOutbox.dedupe_key == key).exists():
                return None
            return AlertOutbox.create(night=night, rule=rule, subject=subject, severity=severity, text=text,
                                      dedupe_key=key, status=status, created_at=now)
    except IntegrityError:  # another process queued the same key between our check and insert
        return None


def pending(db: Any, night: dt.date | None = None) -> list[AlertOutbox]:
    """Rows still to deliver (of ``night``, or of every night), most severe first, then oldest first."""
    query = AlertOutbox.select().where(AlertOutbox.status == "pending")
    if night is not None:
        query = query.where(AlertOutbox.night == night)
    rows = list(query.order_by(AlertOutbox.created_at, AlertOutbox.id))
    return sorted(rows, key=lambda r: SEVERITY_RANK.get(r.severity, len(SEVERITY_RANK)))


def night_rows(night: dt.date) -> list[AlertOutbox]:
    """Every row of a night, whatever its status, most severe first, then oldest first."""
    rows = list(AlertOutbox.select().where(AlertOutbox.night == night).order_by(AlertOutbox.created_at, AlertOutbox.id))
    return sorted(rows, key=lambda r: SEVERITY_RANK.get(r.severity, len(SEVERITY_RANK)))


def mutes(db: Any, now: dt.datetime | None = None) -> list[AlertMute]:
    """The mutes in force at ``now``, the longest-running first."""
    now = now or utcnow()
    return list(AlertMute.select().where(AlertMute.muted_until > now).order_by(AlertMute.muted_until.desc()))


def mute(db: Any, rule: str | None, until: dt.datetime, by: str | None, reason: str | None = None,
         *, now: dt.datetime | None = None) -> AlertMute:
    """Mute ``rule`` (None: every rule) until ``until``; alerts raised meanwhile are stored as muted."""
    now = now or utcnow()
    if until <= now:
        raise PipelineError("CONFIGBAD", f"a mute must end in the future: {until.isoformat(' ', 'minutes')} is not after now")
    if rule is not None and (not rule or len(rule) > RULE_MAX):
        raise PipelineError("CONFIGBAD", f"alert rule name must be 1..{RULE_MAX} characters: {rule!r}")
    with db.atomic():
        return AlertMute.create(rule=rule, muted_until=until, created_by=(by or "")[:64] or None, reason=reason,
                                created_at=now)


def unmute(db: Any, rule: str | None, by: str | None, *, now: dt.datetime | None = None) -> int:
    """End the mutes in force for ``rule`` (None: every mute, whatever its rule); returns how many ended.
    The rows are kept (ended at ``now``) so the TUI can show who muted what."""
    now = now or utcnow()
    query = AlertMute.update(muted_until=now).where(AlertMute.muted_until > now)
    if rule is not None:
        query = query.where(AlertMute.rule == rule)
    with db.atomic():
        return query.execute()
