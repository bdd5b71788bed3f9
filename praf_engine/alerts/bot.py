"""The Telegram command listener: /mute /unmute /status /help by long polling, only from the configured chats (SPEC §6).

The daemon starts it with ``start_listener(wiring, stop_event)``: python-telegram-bot's ``Application`` runs in a
thread of its own with its own event loop (``run_polling`` wants the main thread's signals, so the updater is driven
by hand). The same thread retries the outbox every ``alerts.retry_s`` (``deliver.retry_due``), so an outage of hours
is caught up without waiting for the next night. Commands from any chat other than ``TELEGRAM_CHAT_ID`` and
``alerts.command_chat_ids`` are ignored and logged; bad arguments get a reply saying how to use the command.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import threading
from typing import Any

from telegram import BotCommand, Update
from telegram.error import Forbidden, InvalidToken, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest

from praf_engine.alerts import command, outbox
from praf_engine.alerts.deliver import missing_config, retry_due
from praf_engine.alerts.rules import RULES
from praf_engine.errors import PipelineError
from praf_engine.logs import get_logger, redact

log = get_logger(__name__)

MUTABLE = tuple(name for name in RULES if name != "resolved")
HELP = ("PRAF alerts bot\n"
        "/mute DURATION — mute every alert, e.g. /mute 2h\n"
        "/mute RULE DURATION — mute one rule, e.g. /mute lag 1d\n"
        "/unmute [RULE] — end the mutes (of one rule)\n"
        "/status — the 7 KPIs, the last runs, the outbox\n"
        "/help — this text\n"
        "DURATION: a number and m, h, d or w (at most 90 days). RULE: " + ", ".join(MUTABLE))
COMMANDS = [("mute", "mute alerts: /mute 2h or /mute lag 1d"), ("unmute", "end mutes: /unmute [rule]"),
            ("status", "KPIs, last runs, pending alerts"), ("help", "how to use the bot")]


class UsageError(ValueError):
    """A command with arguments the bot does not understand: the reply says how to use it."""


def parse_duration(text: str) -> dt.timedelta:
    """The CLI's parser (``alerts mute``): its ALERTBAD message becomes the usage reply."""
    try:
        return command.parse_duration(text)
    except OverflowError:  # a number of days beyond what a timedelta holds
        raise UsageError(f"a mute lasts at most 90 days, not {text[:40]}") from None
    except PipelineError as exc:
        raise UsageError(exc.msg) from None


def parse_mute(args: list[str]) -> tuple[str | None, dt.timedelta]:
    """``/mute 2h`` → (None, 2 h); ``/mute lag 1d`` → ("lag", 1 d)."""
    if len(args) == 1:
        return None, parse_duration(args[0])
    if len(args) == 2:
        return parse_rule(args[0]), parse_duration(args[1])
    raise UsageError("usage: /mute DURATION or /mute RULE DURATION, e.g. /mute 2h or /mute lag 1d")


def parse_rule(text: str) -> str:
    """A rule of the catalogue (the CLI's check), case-insensitive; "all" is not a rule here (/mute 2h is)."""
    try:
        rule = command.check_rule(text.strip().lower()[:40])
    except PipelineError as exc:
        raise UsageError(exc.msg) from None
    if rule is None:
        raise UsageError("usage: /mute DURATION mutes every rule, /mute RULE DURATION one rule")
    return rule


def allowed_chats(settings: Any) -> list[int]:
    ids = [settings.telegram_chat_id or "", *settings.alerts.command_chat_ids]
    return sorted({int(i) for i in (x.strip() for x in ids) if re.fullmatch(r"-?\d+", i)})


def _who(update: Update) -> str:
    user = update.effective_user
    name = (user.username or user.first_name or str(user.id)) if user else "?"
    return f"telegram:{update.effective_chat.id if update.effective_chat else '?'}:{name}"[:64]


class Commands:
    """The handlers, bound to one wiring (database, settings, clock)."""

    def __init__(self, wiring: Any) -> None:
        self.wiring = wiring

    def _now(self) -> dt.datetime:
        return self.wiring.clock()

    async def mute(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            rule, span = parse_mute(list(context.args or []))
        except UsageError as exc:
            await self._reply(update, f"{exc}\n\n{HELP}")
            return
        now = self._now()
        row = outbox.mute(self.wiring.db, rule, now + span, _who(update), (update.effective_message.text or "")[:200],
                          now=now)
        log.info("alerts muted from telegram", detail={"rule": rule, "until": row.muted_until.isoformat(), "by": _who(update)})
        await self._reply(update, f"🔕 {rule or 'all alerts'} muted until {row.muted_until:%Y-%m-%d %H:%M} UTC "
                                  "(still recorded, counted in the digest)")

    async def unmute(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        args = list(context.args or [])
        try:
            if len(args) > 1:
                raise UsageError("usage: /unmute or /unmute RULE")
            rule = parse_rule(args[0]) if args else None
        except UsageError as exc:
            await self._reply(update, f"{exc}\n\n{HELP}")
            return
        ended = outbox.unmute(self.wiring.db, rule, _who(update), now=self._now())
        log.info("alerts unmuted from telegram", detail={"rule": rule, "ended": ended, "by": _who(update)})
        await self._reply(update, f"🔔 {ended} mute(s) ended" + (f" for {rule}" if rule else "") if ended
                          else "🔔 nothing was muted" + (f" for {rule}" if rule else ""))

    async def status(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update, status_text(self.wiring))

    async def help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update, HELP)

    async def ignored(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        log.warning("telegram command from an unconfigured chat ignored",
                    detail={"chat_id": chat.id if chat else None, "by": _who(update),
                            "text": redact((update.effective_message.text or "")[:80]) if update.effective_message else ""})

    async def _reply(self, update: Update, text: str) -> None:
        if update.effective_message is not None:
            await update.effective_message.reply_text(text[:4096])


def status_text(wiring: Any) -> str:
    """The 7 KPI cards, the last runs of each job, the outbox and the mutes, as plain text."""
    from praf_engine.db.models import AlertOutbox
    from praf_engine.readmodels import dashboard, jobs

    now = wiring.clock()
    cards = dashboard.cards(dashboard.summary(now.date()), wiring.settings)
    lines = [f"📊 PRAF status {now:%Y-%m-%d %H:%M} UTC"]
    lines += [f"{c.label}: {c.count:,}" + (f" ({c.pct_of_universe:g} %)" if c.key != "total_active" else "") for c in cards]
    latest: dict[str, Any] = {}
    for run in jobs.last_runs(50):
        latest.setdefault(run.job, run)
    if latest:
        lines.append("Last runs:")
        for run in list(latest.values())[:8]:
            started = f"{run.started_at:%m-%d %H:%M}" if run.started_at else "?"
            state = "running" if run.exit_code is None else "ok" if run.exit_code == 0 else f"exit {run.exit_code}"
            lines.append(f"  {run.job}: {state} {started}" + (f" [{run.error_code}]" if run.error_code else ""))
    pending = AlertOutbox.select().where(AlertOutbox.status == "pending").count()
    active = outbox.mutes(wiring.db, now)
    lines.append(f"Outbox: {pending} pending" + "".join(
        f"; muted {m.rule or 'all'} until {m.muted_until:%m-%d %H:%M}" for m in active))
    return "\n".join(lines)


def build_application(wiring: Any) -> Application:
    settings = wiring.settings
    timeout = settings.alerts.timeout_s
    poll = settings.alerts.poll_timeout_s
    commands = Commands(wiring)
    app = (ApplicationBuilder()
           .token(settings.telegram_token.get_secret_value().strip())
           .base_url(settings.alerts.telegram_api_url.rstrip("/") + "/bot")
           .request(HTTPXRequest(connect_timeout=timeout, read_timeout=timeout, write_timeout=timeout, pool_timeout=timeout))
           .get_updates_request(HTTPXRequest(connect_timeout=timeout, read_timeout=poll + timeout))
           .build())
    chats = filters.Chat(chat_id=allowed_chats(settings))
    for name in ("mute", "unmute", "status", "help"):
        app.add_handler(CommandHandler(name, getattr(commands, name), filters=chats))
    app.add_handler(CommandHandler("start", commands.help, filters=chats))
    app.add_handler(MessageHandler(chats & filters.COMMAND, commands.help))  # an unknown command: the help
    app.add_handler(MessageHandler(~chats, commands.ignored))
    return app


async def _serve(wiring: Any, stop: threading.Event) -> None:
    """One session: start polling, retry the outbox every retry_s until ``stop``; raises TelegramError on refusal."""
    settings = wiring.settings
    app = build_application(wiring)
    async with app:
        try:
            await app.bot.set_my_commands([BotCommand(n, d) for n, d in COMMANDS])
        except TelegramError as exc:  # the menu is a nicety; InvalidToken/Forbidden are raised again by the poll
            if isinstance(exc, InvalidToken | Forbidden):
                raise
        await app.start()
        await app.updater.start_polling(timeout=settings.alerts.poll_timeout_s, allowed_updates=["message"])
        log.info("telegram command listener polling", detail={"chats": len(allowed_chats(settings))})
        try:
            while not stop.is_set():
                await asyncio.to_thread(retry_due, wiring, stop)
                await asyncio.to_thread(stop.wait, settings.alerts.retry_s)
        finally:
            await app.updater.stop()
            await app.stop()


def _thread_main(wiring: Any, stop: threading.Event) -> None:
    wait = wiring.settings.alerts.retry_s
    try:
        while not stop.is_set():
            try:
                asyncio.run(_serve(wiring, stop))
            except (InvalidToken, Forbidden) as exc:
                log.error("telegram refused the bot; listener retries later", error_code="ALERTAUTH",
                          detail={"error": redact(str(exc)), "retry_in_s": wait})
            except Exception as exc:  # network down at start, a bug: logged, retried, never kills the daemon
                log.error("telegram command listener failed; retries later", error_code="ALERTSEND",
                          detail={"error": redact(f"{type(exc).__name__}: {exc}"), "retry_in_s": wait})
            stop.wait(wait)
            wait = min(wait * 2, 3600.0)
    finally:
        if wiring.db is not None:
            wiring.db.close()  # this thread's connection only
        log.info("telegram command listener stopped")


def start_listener(wiring: Any, stop_event: threading.Event) -> threading.Thread:
    """Start the listener thread (daemon thread, name ``telegram-listener``) and return it; it ends soon after
    ``stop_event`` is set (join it). Without a token or chat id it logs ALERTCONFIG once and ends at once."""
    missing = missing_config(wiring.settings)
    if missing:
        thread = threading.Thread(target=lambda: None, name="telegram-listener", daemon=True)
        log.warning("telegram command listener not started: not configured", error_code="ALERTCONFIG",
                    detail={"missing": missing})
    else:
        thread = threading.Thread(target=_thread_main, args=(wiring, stop_event), name="telegram-listener", daemon=True)
    thread.start()
    return thread
