"""Read model of the alerts (the TUI's Alerts screen, the header's pending count): the outbox of the last nights,
the mutes in force and whether Telegram is configured. DTOs here; errors and texts are redacted."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from praf_engine.db.models import AlertMute, AlertOutbox
from praf_engine.logs import redact

STATUSES = ("pending", "sent", "folded", "muted", "failed")


@dataclass(frozen=True)
class AlertRow:
    id: int
    night: dt.date
    created_at: dt.datetime
    rule: str
    subject: str
    severity: str
    status: str  # pending, sent, folded, muted, failed
    attempts: int
    sent_at: dt.datetime | None
    last_error: str | None
    text: str

    @property
    def headline(self) -> str:
        return self.text.splitlines()[0] if self.text else ""


@dataclass(frozen=True)
class MuteRow:
    id: int
    rule: str | None  # None: every rule
    muted_until: dt.datetime
    created_by: str | None
    reason: str | None


@dataclass(frozen=True)
class AlertsView:
    """The Alerts screen: the outbox rows of the last nights (newest night first, then most severe, then oldest),
    the counts per status, the mutes in force and what is missing to send (empty: Telegram configured)."""

    rows: tuple[AlertRow, ...]
    counts: dict[str, int]
    mutes: tuple[MuteRow, ...]
    missing: tuple[str, ...]
    now: dt.datetime

    @property
    def pending(self) -> int:
        return self.counts.get("pending", 0)


_RANK = {"critical": 0, "warning": 1, "info": 2}


def _row(r: AlertOutbox) -> AlertRow:
    return AlertRow(r.id, r.night, r.created_at, r.rule, r.subject, r.severity, r.status, int(r.attempts or 0), r.sent_at,
                    redact(r.last_error) if r.last_error else None, redact(r.text or ""))


def pending_count() -> int:
    """Alerts still to deliver, every night (the header's red count)."""
    return AlertOutbox.select().where(AlertOutbox.status == "pending").count()


def alerts_view(now: dt.datetime, missing: tuple[str, ...], days: int = 7) -> AlertsView:
    """The outbox of the ``days`` nights up to the newest one that has alerts, and the mutes in force at ``now``."""
    newest = AlertOutbox.select(AlertOutbox.night).order_by(AlertOutbox.night.desc()).scalar()
    rows: list[AlertRow] = []
    if newest is not None:
        q = AlertOutbox.select().where(AlertOutbox.night > newest - dt.timedelta(days=days))
        rows = sorted((_row(r) for r in q), key=lambda a: (-a.night.toordinal(), _RANK.get(a.severity, 3), a.created_at, a.id))
    counts = {s: 0 for s in STATUSES}
    for r in rows:
        counts[r.status] = counts.get(r.status, 0) + 1
    counts["pending"] = pending_count()  # every night's, also older than the window
    mutes = tuple(MuteRow(m.id, m.rule, m.muted_until, m.created_by, m.reason)
                  for m in AlertMute.select().where(AlertMute.muted_until > now).order_by(AlertMute.muted_until.desc()))
    return AlertsView(tuple(rows), counts, mutes, missing, now)
