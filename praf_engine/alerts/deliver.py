"""Deliver the outbox to Telegram with python-telegram-bot: ≤ max_per_night messages + one digest a night,
retries with back-off, exactly once across restarts (SPEC §6).

A dispatch of one night (``dispatch``) first *plans* in one transaction: the pending rows are ranked most severe
first; the first ``alerts.max_per_night`` minus those already sent stay pending, the others (and every "resolved"
line) are folded; a digest row (rule ``digest``) is queued when anything was folded or muted. Then it *sends*: each
row is claimed by a conditional UPDATE (so two dispatchers never send the same row), sent, and marked sent with
Telegram's message id in the same breath. The digest goes last, once every kept row is out, its text built from the
folded and muted rows of the night. Whatever happens, a night gets at most ``max_per_night`` + 1 messages.

Failures: network errors and 5xx are retried ``alerts.send_backoff_s`` times inside the dispatch, then the row waits
``alerts.retry_s`` (doubling with each attempt, capped at 64×) in ``next_attempt_at``; a 429 is waited for when its
``retry_after`` is at most ``alerts.max_wait_s``, else it sets ``next_attempt_at``; 401/403/"chat not found" stop the
dispatch after that one request (ALERTAUTH, no retry storm); any other 400 fails that row (status failed). The only
window for a duplicate is a crash between Telegram's answer and the commit that follows it (milliseconds).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any

from telegram import Bot, LinkPreviewOptions
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.request import HTTPXRequest

from praf_engine.alerts import outbox
from praf_engine.alerts.format import digest_text, render
from praf_engine.config import Settings
from praf_engine.db.models import AlertOutbox
from praf_engine.logs import get_logger, redact

log = get_logger(__name__)

DIGEST = "digest"
RESOLVED = "resolved"
CLAIM = dt.timedelta(minutes=10)  # a claimed row is not picked by another dispatcher for this long
MAX_DOUBLING = 6
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
NO_CONFIG = "ALERTCONFIG: not sent: no Telegram {missing} configured; kept in the outbox"


class _Stop(Exception):
    """Telegram refused the bot (ALERTAUTH) or is unreachable: the rest of the dispatch would fail the same way."""


@dataclass
class DispatchReport:
    night: dt.date
    sent: list[int] = field(default_factory=list)  # outbox ids delivered now (the digest included)
    folded: list[int] = field(default_factory=list)  # folded into the digest by this dispatch
    digest_sent: bool = False
    pending: int = 0  # rows of the night still pending afterwards (the digest included)
    error_code: str | None = None  # ALERTCONFIG, ALERTAUTH or ALERTSEND when something was not delivered
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"night": self.night.isoformat(), "sent": len(self.sent), "folded": len(self.folded),
                "digest_sent": self.digest_sent, "pending": self.pending, "error_code": self.error_code,
                "error": self.error}


def missing_config(settings: Settings) -> list[str]:
    """What is missing to send: the names of the environment variables."""
    missing = [] if settings.telegram_token and settings.telegram_token.get_secret_value().strip() else ["TELEGRAM_BOT_TOKEN"]
    return missing + ([] if (settings.telegram_chat_id or "").strip() else ["TELEGRAM_CHAT_ID"])


def make_bot(settings: Settings) -> Bot:
    """A python-telegram-bot ``Bot`` on ``alerts.telegram_api_url`` (the sandbox stub stands in for api.telegram.org)."""
    timeout = settings.alerts.timeout_s
    request = HTTPXRequest(connect_timeout=timeout, read_timeout=timeout, write_timeout=timeout, pool_timeout=timeout)
    token = settings.telegram_token.get_secret_value().strip() if settings.telegram_token else ""
    # one request object for both slots: the Bot would build a second client (and TLS context, ~0.1 s) for getUpdates
    return Bot(token, base_url=settings.alerts.telegram_api_url.rstrip("/") + "/bot", request=request,
               get_updates_request=request)


def retry_after_s(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 deprecates the int form; both are accepted here
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


def _due(row: AlertOutbox, now: dt.datetime) -> bool:
    return row.next_attempt_at is None or row.next_attempt_at <= now


def plan(db: Any, night: dt.date, max_per_night: int, now: dt.datetime) -> list[int]:
    """Fold what exceeds tonight's budget and queue the digest row; returns the ids folded now."""
    with outbox.write_txn(db):
        rows = outbox.night_rows(night)
        sent = sum(1 for r in rows if r.status == "sent" and r.rule != DIGEST)
        digest = next((r for r in rows if r.rule == DIGEST), None)
        waiting = [r for r in rows if r.status == "pending" and r.rule not in (DIGEST, RESOLVED)]
        fold = waiting[max(max_per_night - sent, 0):] + [r for r in rows if r.status == "pending" and r.rule == RESOLVED]
        if fold:
            late = digest is not None and digest.status != "pending"
            note = "folded after the night's digest was sent (max_per_night + 1 reached): see the TUI" if late else None
            AlertOutbox.update(status="folded", last_error=note, next_attempt_at=None) \
                .where(AlertOutbox.id.in_([r.id for r in fold])).execute()
        wants_digest = bool(fold) or any(r.status in ("folded", "muted") for r in rows if r.rule != DIGEST)
        if digest is None and wants_digest:
            outbox.enqueue(db, rule=DIGEST, subject="", night=night, severity="info",
                           text="digest of the night (its text is built when it is sent)", now=now)
    return [r.id for r in fold]


def _claim(row: AlertOutbox, now: dt.datetime) -> bool:
    """Take the row for this dispatcher: one conditional UPDATE, so a concurrent dispatcher never sends it too."""
    due = AlertOutbox.next_attempt_at.is_null() | (AlertOutbox.next_attempt_at <= now)
    return AlertOutbox.update(attempts=AlertOutbox.attempts + 1, next_attempt_at=now + CLAIM) \
        .where((AlertOutbox.id == row.id) & (AlertOutbox.status == "pending") & due).execute() == 1


def _later(row: AlertOutbox, now: dt.datetime, settings: Settings, error: str, wait_s: float | None = None) -> dt.datetime:
    """Write the error and the next attempt (``wait_s``, or retry_s doubling with the row's attempts); returns it."""
    attempts = AlertOutbox.get_by_id(row.id).attempts
    wait = wait_s if wait_s is not None else settings.alerts.retry_s * 2 ** min(max(attempts - 1, 0), MAX_DOUBLING)
    until = now + dt.timedelta(seconds=wait)
    AlertOutbox.update(last_error=redact(error)[:2000], next_attempt_at=until).where(AlertOutbox.id == row.id).execute()
    return until


class _Sender:
    """One dispatch's conversation with Telegram: the bot, the chat, the in-dispatch retry ladder."""

    def __init__(self, settings: Settings, bot: Bot, stop: threading.Event | None) -> None:
        self.settings, self.bot, self.stop = settings, bot, stop
        self.chat_id = (settings.telegram_chat_id or "").strip()

    async def _pause(self, seconds: float) -> None:
        if self.stop is None:
            await asyncio.sleep(seconds)
        else:  # a daemon shutting down does not wait out a back-off
            await asyncio.get_running_loop().run_in_executor(None, self.stop.wait, seconds)

    async def send(self, row: AlertOutbox, text: str, now: dt.datetime) -> int | None:
        """Telegram's message id, or None when the row must wait (its error and next attempt are written);
        raises _Stop when the rest of the dispatch would fail the same way."""
        ladder = list(self.settings.alerts.send_backoff_s)
        rate_limited = 0
        while True:
            try:
                message = await self.bot.send_message(self.chat_id, render(text), parse_mode="HTML",
                                                      link_preview_options=NO_PREVIEW)
                return message.message_id
            except RetryAfter as exc:
                wait = retry_after_s(exc)
                rate_limited += 1
                if wait > self.settings.alerts.max_wait_s or rate_limited > 3 or (self.stop and self.stop.is_set()):
                    until = _later(row, now, self.settings, f"ALERTSEND: Telegram rate limit (429), retry after {wait:g} s",
                                   wait)
                    raise _Stop("ALERTSEND", f"rate limited by Telegram for {wait:g} s", until) from None
                log.info("telegram rate limit: waiting retry_after", detail={"outbox_id": row.id, "retry_after_s": wait})
                await self._pause(wait)
            except (InvalidToken, Forbidden) as exc:
                self._refused(row, now, exc)
            except BadRequest as exc:
                if "chat not found" in str(exc).lower():
                    self._refused(row, now, exc)
                AlertOutbox.update(status="failed", last_error=redact(f"ALERTSEND: Telegram refused the message: {exc}"),
                                   next_attempt_at=None).where(AlertOutbox.id == row.id).execute()
                log.error("telegram refused an alert", error_code="ALERTSEND",
                          detail={"outbox_id": row.id, "rule": row.rule, "error": redact(str(exc))})
                return None
            except (NetworkError, TelegramError) as exc:  # network errors, timeouts, 5xx
                if ladder and not (self.stop and self.stop.is_set()):
                    await self._pause(ladder.pop(0))
                    continue
                message = f"ALERTSEND: Telegram unreachable: {type(exc).__name__}: {exc}"
                raise _Stop("ALERTSEND", message, _later(row, now, self.settings, message)) from None

    def _refused(self, row: AlertOutbox, now: dt.datetime, exc: TelegramError) -> None:
        status = {InvalidToken: "401 token revoked or wrong", Forbidden: "403 bot blocked or removed"}.get(type(exc), "")
        message = f"ALERTAUTH: Telegram refused the bot ({status or exc}): {exc}"
        raise _Stop("ALERTAUTH", message, _later(row, now, self.settings, message))


async def _send_night(wiring: Any, night: dt.date, now: dt.datetime, report: DispatchReport,
                      stop: threading.Event | None) -> None:
    settings = wiring.settings
    bot = make_bot(settings)
    sender = _Sender(settings, bot, stop)
    try:
        for row in outbox.pending(wiring.db, night):
            if row.rule == DIGEST or not _due(row, now) or not _claim(row, now):
                continue
            message_id = await sender.send(row, row.text, now)
            if message_id is not None:
                _mark_sent(row, message_id, now, report)
        kept = [r for r in outbox.pending(wiring.db, night) if r.rule != DIGEST]
        digest = AlertOutbox.get_or_none((AlertOutbox.night == night) & (AlertOutbox.rule == DIGEST))
        if kept or digest is None or digest.status != "pending" or not _due(digest, now) or not _claim(digest, now):
            return
        rows = [r for r in outbox.night_rows(night) if r.rule != DIGEST and r.status in ("folded", "muted")]
        text = digest_text(night, rows)
        message_id = await sender.send(digest, text, now)
        if message_id is not None:
            AlertOutbox.update(text=text).where(AlertOutbox.id == digest.id).execute()
            _mark_sent(digest, message_id, now, report)
            report.digest_sent = True
    except _Stop as exc:
        report.error_code, report.error, until = exc.args[0], redact(exc.args[1]), exc.args[2]
        # the night's other due rows wait as long as the refused one: one request per back-off step, not per row
        AlertOutbox.update(next_attempt_at=until).where(
            (AlertOutbox.night == night) & (AlertOutbox.status == "pending")
            & (AlertOutbox.next_attempt_at.is_null() | (AlertOutbox.next_attempt_at < until))).execute()
        log.warning("alerts not delivered, kept pending", error_code=exc.args[0],
                    detail={"night": night.isoformat(), "error": report.error})
    finally:
        await bot.shutdown()


def _mark_sent(row: AlertOutbox, message_id: int, now: dt.datetime, report: DispatchReport) -> None:
    AlertOutbox.update(status="sent", sent_at=now, message_id=message_id, last_error=None, next_attempt_at=None) \
        .where(AlertOutbox.id == row.id).execute()
    report.sent.append(row.id)
    log.info("alert sent", detail={"outbox_id": row.id, "rule": row.rule, "night": row.night.isoformat(),
                                   "message_id": message_id})


def _no_config(night: dt.date, missing: list[str], report: DispatchReport) -> None:
    """Rows stay pending with the reason; one log line a night (the first dispatch that notes it on a row)."""
    note = NO_CONFIG.format(missing=" and ".join(missing))
    of_night = AlertOutbox.night == night
    told = AlertOutbox.select().where(of_night & (AlertOutbox.last_error == note)).exists()
    noted = AlertOutbox.update(last_error=note).where(
        of_night & (AlertOutbox.status == "pending")
        & (AlertOutbox.last_error.is_null() | (AlertOutbox.last_error != note))).execute()
    if noted and not told:
        log.warning("alerts recorded but not sent: Telegram is not configured", error_code="ALERTCONFIG",
                    detail={"night": night.isoformat(), "missing": missing})
    report.error_code, report.error = "ALERTCONFIG", note


def dispatch(wiring: Any, night: dt.date, *, now: dt.datetime | None = None,
             stop: threading.Event | None = None) -> DispatchReport:
    """Deliver the night's outbox (see the module's docstring); ``wiring.db`` must be open."""
    now = now or wiring.clock()
    report = DispatchReport(night)
    report.folded = plan(wiring.db, night, wiring.settings.alerts.max_per_night, now)
    missing = missing_config(wiring.settings)
    if missing:
        _no_config(night, missing, report)
    else:
        _run(_send_night(wiring, night, now, report, stop))
    report.pending = AlertOutbox.select().where((AlertOutbox.night == night) & (AlertOutbox.status == "pending")).count()
    return report


def nights_due(now: dt.datetime, days: int = 7) -> list[dt.date]:
    """Nights (of the last ``days``) holding pending rows whose next attempt is due: what a retry pass dispatches."""
    due = AlertOutbox.next_attempt_at.is_null() | (AlertOutbox.next_attempt_at <= now)
    query = (AlertOutbox.select(AlertOutbox.night).distinct()
             .where((AlertOutbox.status == "pending") & due & (AlertOutbox.night >= (now - dt.timedelta(days=days)).date())))
    return sorted(r.night for r in query)


def retry_due(wiring: Any, stop: threading.Event | None = None, *,
              min_age: dt.timedelta = dt.timedelta(minutes=5)) -> list[DispatchReport]:
    """The listener's periodic pass: dispatch every recent night holding due pending rows that a dispatch already
    tried, or that are older than ``min_age`` (a night being evaluated right now is left to its own dispatch, so its
    ranking sees all of its alerts). Nothing without a token or chat id (the nightly dispatch notes that)."""
    if missing_config(wiring.settings):
        return []
    now = wiring.clock()
    due = AlertOutbox.next_attempt_at.is_null() | (AlertOutbox.next_attempt_at <= now)
    tried = (AlertOutbox.attempts > 0) | (AlertOutbox.created_at <= now - min_age)
    nights = sorted({r.night for r in AlertOutbox.select(AlertOutbox.night).where(
        (AlertOutbox.status == "pending") & due & tried & (AlertOutbox.night >= (now - dt.timedelta(days=7)).date()))})
    return [dispatch(wiring, night, now=now, stop=stop) for night in nights]


def _run(coro: Any) -> None:
    """Run a coroutine to its end from sync code, also when this thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coro)
        return
    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=target, name="alerts-dispatch")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
