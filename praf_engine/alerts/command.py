"""`praf-engine alerts list|test|dispatch|mute|unmute` and `praf-engine watchdog`: the operator's side of the alerts."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import getpass
import re
from typing import Any

from rich.console import Console
from rich.table import Table

from praf_engine.alerts import outbox
from praf_engine.alerts.rules import RULES
from praf_engine.db.models import AlertOutbox
from praf_engine.errors import PipelineError
from praf_engine.logs import get_logger, redact
from praf_engine.wiring import Wiring

log = get_logger(__name__)
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$", re.IGNORECASE)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_MUTE = dt.timedelta(days=90)
TEST_TEXT = "ℹ PRAF test alert from {home}: Telegram delivery works.\n→ praf-engine alerts list"


def parse_duration(text: str) -> dt.timedelta:
    """'30m', '2h', '1d', '1w' -> a timedelta (at most 90 days); anything else is ALERTBAD, saying what is accepted."""
    m = _DURATION.match(text or "")
    if not m or int(m.group(1)) == 0:
        raise PipelineError("ALERTBAD", f"not a duration: {text!r}; use a number and a unit, e.g. 30m, 2h, 1d or 1w")
    seconds = int(m.group(1)) * _UNIT_S[m.group(2).lower()]
    if seconds > MAX_MUTE.total_seconds():  # checked before a timedelta is built: a huge number would overflow it
        raise PipelineError("ALERTBAD", f"a mute lasts at most 90 days, not {text.strip()}")
    return dt.timedelta(seconds=seconds)


def check_rule(rule: str | None) -> str | None:
    """None (every rule) or a rule of the catalogue; anything else is ALERTBAD naming the rules."""
    if rule is None or rule in ("all", "*"):
        return None
    if rule not in RULES or rule == "resolved":
        names = ", ".join(n for n in RULES if n != "resolved")
        raise PipelineError("ALERTBAD", f"unknown alert rule {rule!r}; rules: {names} (or none for every rule)", {"rule": rule})
    return rule


def missing(settings: Any) -> list[str]:
    from praf_engine.alerts.deliver import missing_config

    return missing_config(settings)


def send_test(settings: Any) -> int:
    """Send one test message straight to the configured chat (not through the outbox: it takes none of the night's
    messages); Telegram's message id. ALERTCONFIG names what is missing; ALERTAUTH / ALERTSEND say why it failed."""
    from telegram.error import BadRequest, Forbidden, InvalidToken, TelegramError

    from praf_engine.alerts.deliver import NO_PREVIEW, make_bot
    from praf_engine.alerts.format import render

    lacking = missing(settings)
    if lacking:
        raise PipelineError("ALERTCONFIG", f"Telegram is not configured: {' and '.join(lacking)} missing; set "
                            f"{'them' if len(lacking) > 1 else 'it'} in {settings.home / '.env'} (see .env.example). "
                            "Until then alerts are recorded in the outbox and shown, not sent", {"missing": lacking})

    async def send() -> int:
        bot = make_bot(settings)
        try:
            message = await bot.send_message((settings.telegram_chat_id or "").strip(), render(TEST_TEXT.format(home=settings.home)),
                                             parse_mode="HTML", link_preview_options=NO_PREVIEW)
            return int(message.message_id)
        finally:
            await bot.shutdown()

    try:
        return asyncio.run(send())
    except (InvalidToken, Forbidden) as exc:
        raise PipelineError("ALERTAUTH", redact(f"Telegram refused the bot: {type(exc).__name__}: {exc}")) from None
    except BadRequest as exc:
        code = "ALERTAUTH" if "chat not found" in str(exc).lower() else "ALERTSEND"
        raise PipelineError(code, redact(f"Telegram refused the test message: {exc}")) from None
    except TelegramError as exc:
        raise PipelineError("ALERTSEND", redact(f"Telegram unreachable: {type(exc).__name__}: {exc}")) from None


def _rows(night: dt.date | None, days: int) -> list[AlertOutbox]:
    q = AlertOutbox.select()
    if night is not None:
        q = q.where(AlertOutbox.night == night)
    else:
        newest = AlertOutbox.select(AlertOutbox.night).order_by(AlertOutbox.night.desc()).scalar()
        if newest is None:
            return []
        q = q.where(AlertOutbox.night > newest - dt.timedelta(days=days))
    return list(q.order_by(AlertOutbox.night.desc(), AlertOutbox.created_at, AlertOutbox.id))


def show_list(wiring: Wiring, night: dt.date | None, days: int, console: Console) -> int:
    """The outbox as a table in a terminal, else one tab-separated line per row (for grep and scripts)."""
    rows = _rows(night, days)
    table = Table(title=f"Alert outbox ({f'night {night}' if night else f'last {days} nights with alerts'})")
    for col in ("night", "id", "severity", "rule", "subject", "status", "tries", "sent (UTC)", "message / error"):
        table.add_column(col, overflow="fold")
    for r in rows:
        cells = [str(r.night), str(r.id), r.severity, r.rule, r.subject, r.status, str(r.attempts),
                 f"{r.sent_at:%m-%d %H:%M}" if r.sent_at else "", r.text.splitlines()[0] if r.text else "",
                 redact(r.last_error) if r.last_error and r.status != "sent" else ""]
        if console.is_terminal:
            table.add_row(*cells[:-2], cells[-2] + (f"\n{cells[-1]}" if cells[-1] else ""))
        else:
            console.print("\t".join(cells), markup=False, soft_wrap=True)
    if not rows:
        console.print("no alerts in the outbox")
    elif console.is_terminal:
        console.print(table)
    now = wiring.clock()
    for m in outbox.mutes(wiring.db, now):
        console.print(f"muted: {m.rule or 'every rule'} until {m.muted_until:%Y-%m-%d %H:%M} UTC "
                      f"(by {m.created_by or '?'}{f': {m.reason}' if m.reason else ''})", markup=False, soft_wrap=True)
    lacking = missing(wiring.settings)
    if lacking:
        console.print(f"Telegram not configured ({', '.join(lacking)} missing): alerts are recorded here, not sent", markup=False, soft_wrap=True)
    return 0


def run_test(wiring: Wiring, console: Console) -> int:
    message_id = send_test(wiring.settings)
    console.print(f"test alert sent to chat {wiring.settings.telegram_chat_id} (message {message_id})", markup=False, soft_wrap=True)
    return 0


def run_dispatch(wiring: Wiring, console: Console) -> int:
    """The alerts job, now: evaluate tonight's rules, then send what is due (recorded in cron_status as `alerts`)."""
    from praf_engine.alerts.evaluate import alerts_job
    from praf_engine.db.models import CronStatus
    from praf_engine.jobs.runner import JobRunner

    code = JobRunner(wiring).run("alerts", alerts_job)
    row = CronStatus.select().where(CronStatus.job == "alerts").order_by(CronStatus.id.desc()).first()
    detail = row.detail if row is not None else {}
    console.print(f"alerts queued now: {', '.join(detail.get('enqueued', [])) or 'none'}", markup=False, soft_wrap=True)
    for d in detail.get("dispatch", []):
        console.print(f"night {d['night']}: {d['sent']} sent, {d['folded']} folded into the digest, {d['pending']} pending"
                      + (f" [{d['error_code']}] {d['error']}" if d.get("error_code") else ""), markup=False, soft_wrap=True)
    return code


def run_mute(wiring: Wiring, rule: str | None, duration: str, reason: str | None, console: Console) -> int:
    rule = check_rule(rule)
    now = wiring.clock()
    row = outbox.mute(wiring.db, rule, now + parse_duration(duration), f"cli:{getpass.getuser()}", reason, now=now)
    log.info("alerts muted", detail={"rule": rule, "until": row.muted_until.isoformat(), "by": row.created_by})
    console.print(f"muted {rule or 'every rule'} until {row.muted_until:%Y-%m-%d %H:%M} UTC "
                  "(alerts are still recorded, as muted, and counted in the digest)", markup=False, soft_wrap=True)
    return 0


def run_unmute(wiring: Wiring, rule: str | None, console: Console) -> int:
    rule = check_rule(rule)
    ended = outbox.unmute(wiring.db, rule, f"cli:{getpass.getuser()}", now=wiring.clock())
    log.info("alerts unmuted", detail={"rule": rule, "mutes_ended": ended})
    console.print(f"{ended} mute(s) ended" if ended else f"no mute in force for {rule or 'any rule'}", markup=False, soft_wrap=True)
    return 0


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    """The `alerts` and `watchdog` commands of `praf-engine` (cli.py)."""
    p = sub.add_parser("alerts", parents=[common], help="the Telegram alerts: list the outbox, test, dispatch, mute, unmute")
    alerts = p.add_subparsers(dest="alerts_command", metavar="ALERTS_COMMAND", required=True)
    p = alerts.add_parser("list", parents=[common], help="the outbox (pending, sent, folded, muted, failed with the error) and the mutes")
    p.add_argument("--night", type=dt.date.fromisoformat, help="only this night YYYY-MM-DD")
    p.add_argument("--days", type=int, default=3, help="nights shown back from the newest (default 3)")
    alerts.add_parser("test", parents=[common], help="send a test message; says what is missing (token, chat id)")
    alerts.add_parser("dispatch", parents=[common], help="the alerts job now: evaluate tonight's rules, send what is due")
    p = alerts.add_parser("mute", parents=[common], help="mute one rule (or every rule) for a while; alerts are still recorded")
    p.add_argument("rule", nargs="?", help="a rule (docs/alerts.md); none: every rule")
    p.add_argument("--for", dest="duration", default="1h", help="30m, 2h, 1d, 1w (default 1h)")
    p.add_argument("--reason", help="shown beside the mute")
    p = alerts.add_parser("unmute", parents=[common], help="end the mutes of one rule (none: every mute)")
    p.add_argument("rule", nargs="?", help="a rule; none: every mute")
    p = sub.add_parser("watchdog", parents=[common], help="one watchdog pass (systemd timer, hourly): heartbeat, fetch deadline, sites; alerts and dispatches")
    p.add_argument("--no-probe", action="store_true", help="do not probe the exchange sites")


def run_alerts_command(wiring: Wiring, args: argparse.Namespace) -> int:
    out = Console(stderr=True)
    match args.alerts_command:
        case "list":
            return show_list(wiring, args.night, args.days, Console())
        case "test":
            return run_test(wiring, out)
        case "dispatch":
            return run_dispatch(wiring, out)
        case "mute":
            return run_mute(wiring, args.rule, args.duration, args.reason, out)
        case _:
            return run_unmute(wiring, args.rule, out)


def run_watchdog_command(wiring: Wiring, probe: bool, console: Console) -> int:
    from praf_engine.alerts.watchdog import run_watchdog

    for line in run_watchdog(wiring, probe=probe).lines():
        console.print(line, markup=False, soft_wrap=True)
    return 0
