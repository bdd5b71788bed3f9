"""`praf-engine`: the command line of the headless engine."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from praf_engine import __version__
from praf_engine.config import Settings, describe_settings, load_settings, parse_overrides
from praf_engine.entry import build_wiring, require_home, start_logging
from praf_engine.errors import PipelineError, stack_excerpt, wrap
from praf_engine.logs import get_logger, redact
from praf_engine.wiring import Wiring

log = get_logger(__name__)


def _global_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument("--home", default=default, help="data home (default $PRAF_HOME or ~/.local/share/praf)")
    parser.add_argument("--set", dest="overrides", action="append", metavar="SECTION.KEY=VALUE",
                        default=argparse.SUPPRESS if suppress else [], help="override a setting (repeatable)")
    parser.add_argument("--log-level", default=default, choices=["debug", "info", "warning", "error"],
                        help="lowest level written to logs/app.jsonl")
    parser.add_argument("--sandbox", action="store_true", default=argparse.SUPPRESS if suppress else False,
                        help="point every source at the offline sandbox (same as PRAF_SOURCES=sandbox)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="praf-engine", description="PRAF engine: scrape, fetch, QA and alert on daily OHLCV data.")
    parser.add_argument("--version", action="version", version=f"praf-engine {__version__}")
    parser.add_argument("--daemon", action="store_true", help="run the scheduler in the foreground (same as `praf-engine daemon`)")
    _global_options(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, suppress=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("init", parents=[common], help="create the data home and database schema (idempotent, upgrades)")
    p = sub.add_parser("summary", parents=[common], help="the 7 KPI counts (the seed's /api/summary document)")
    p.add_argument("--json", action="store_true", help="print the JSON document")
    p.add_argument("--as-of", type=dt.date.fromisoformat, help="as-of date YYYY-MM-DD (default today, UTC)")
    p = sub.add_parser("sql", parents=[common], help="ad-hoc SQL: DuckDB over the lake (view prices) and the metadata tables")
    p.add_argument("query", help='e.g. "select symbol, max(date) from prices group by 1"')
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument("--max-rows", type=int, default=200, help="rows shown in table format (csv/json print all)")
    p = sub.add_parser("run", parents=[common], help="run one job by name: " + ", ".join(_job_names()))
    p.add_argument("job", choices=_job_names())
    p.add_argument("--unlock", action="store_true", help="remove the job's lock (left by a crashed run on another host) instead of running it")
    p.add_argument("--detach", action="store_true", help="hand the job to the home's live scheduler, else start it as a process of its "
                   "own that outlives this shell (a closed SSH session); returns at once")
    p.add_argument("--request", type=int, metavar="ID", help=argparse.SUPPRESS)  # the detached process: run job request ID
    from praf_engine.control.command import add_parsers as add_control_parsers

    add_control_parsers(sub, common)
    p = sub.add_parser("sandbox", parents=[common], help="the offline market sandbox (exchanges, Yahoo, Telegram, exits)")
    sandbox_sub = p.add_subparsers(dest="sandbox_command", metavar="SANDBOX_COMMAND", required=True)
    serve = sandbox_sub.add_parser("serve", parents=[common], help="serve the sandbox until Ctrl-C; prints a settings.toml snippet")
    serve.add_argument("--free-ports", action="store_true", help="take free ports instead of the [sandbox] URLs' ports")
    p = sub.add_parser("scrape", parents=[common], help="monthly universe scrape into tickers (all exchanges, or --exchange …)")
    p.add_argument("--exchange", action="append", choices=["nasdaq", "arca", "ftse", "dax", "euronext"],
                   help="scrape only this exchange (repeatable)")
    p = sub.add_parser("qa", parents=[common], help="data-quality checks into qa_failures/qa_summary (gated on tonight's fetch)")
    p.add_argument("--date", type=dt.date.fromisoformat, help="as-of date YYYY-MM-DD (default: the day before QA's night, i.e. yesterday UTC)")
    p.add_argument("--check", action="append", metavar="CHECK", help="run only this check (repeatable)")
    p.add_argument("--force", action="store_true", help="run even if tonight's fetch failed or has not run (never while a fetch is running)")
    p.add_argument("--symbols", nargs="+", metavar="SYMBOL", help="write only these symbols' failures (A B or A,B; the checks "
                   "still see the whole universe; other symbols' failures and qa_summary are left as they are)")
    p = sub.add_parser("recheck", parents=[common], help="refetch symbols, re-run QA on them, close the failures that no longer hold")
    p.add_argument("--symbols", nargs="+", metavar="SYMBOL", required=True, help="the symbols (A B or A,B; at most 500)")
    p.add_argument("--full", action="store_true", help="re-download their whole history (default: incremental)")
    p.add_argument("--date", type=dt.date.fromisoformat, help="as-of date YYYY-MM-DD of the failures (default: QA's, yesterday UTC)")
    p.add_argument("--detach", action="store_true", help="one request through the control plane (a live scheduler, else a "
                   "process of its own that outlives this shell); returns at once")
    p = sub.add_parser("fetch", parents=[common], help="nightly OHLCV fetch into the lake (all active symbols, or --symbols …)")
    p.add_argument("--symbols", nargs="+", metavar="SYMBOL", help="fetch only these symbols (even if in the dead-letter queue)")
    p.add_argument("--full", action="store_true", help="download full history instead of the incremental window")
    p.add_argument("--force", action="store_true", help="fetch even when the universe is stale or the last scrape failed (logged)")
    p = sub.add_parser("import-actions", parents=[common], help="import manual corporate actions from a CSV (symbol,action_date,action_type,ratio)")
    p.add_argument("csv", type=Path, help="the CSV file")
    sub.add_parser("demo", parents=[common], help="start the sandbox and run every pipeline step into the home")
    p = sub.add_parser("backup", parents=[common], help="back up the database and the lake into backups/ (keeps backup.keep)")
    p.add_argument("--list", action="store_true", help="list the backups instead of making one")
    p = sub.add_parser("restore", parents=[common], help="bring the home back from a backup; a home in use needs --force")
    p.add_argument("backup", nargs="?", help="a backup's name (see backup --list) or folder path; default the newest")
    p.add_argument("--force", action="store_true", help="replace a home that holds data (replaced files go to backups/restore-*-displaced/)")
    p = sub.add_parser("config", parents=[common], help="show the settings in force (secrets hidden)")
    p.add_argument("--reference", action="store_true", help="print every setting with its default, as Markdown")
    sub.add_parser("daemon", parents=[common], help="run the scheduler in the foreground (systemd: deploy/praf-engine.service); "
                   "SIGTERM stops, SIGHUP reloads the settings")
    p = sub.add_parser("status", parents=[common], help="the home's scheduler (host, since, last beat, next runs) and every job's last run")
    p.add_argument("--json", action="store_true", help="print the JSON document")
    from praf_engine.alerts.command import add_parsers

    add_parsers(sub, common)
    return parser


def _job_names() -> list[str]:
    from praf_engine.jobs.registry import JOBS

    return sorted(JOBS)


def _settings(args: argparse.Namespace) -> Settings:
    overrides = parse_overrides(getattr(args, "overrides", []) or [])
    if getattr(args, "log_level", None):
        overrides[("log_level",)] = args.log_level
    if getattr(args, "sandbox", False):
        overrides[("sources",)] = "sandbox"
    return load_settings(home=getattr(args, "home", None), overrides=overrides)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "daemon", False) and not args.command:
        args.command = "daemon"
    if not args.command:
        parser.print_help()
        return 2
    console = Console(stderr=True)
    logging_on = False
    if args.command == "config" and args.reference:  # needs no valid settings
        print(settings_reference())
        return 0
    try:
        wiring = build_wiring(_settings(args))  # the real world, or the sandbox's (--sandbox, PRAF_SOURCES=sandbox)
        settings = wiring.settings
        if args.command == "config":
            return _cmd_config(wiring, args)
        if args.command == "init":  # with the demo, the only commands that create a home
            settings.home.mkdir(parents=True, exist_ok=True)
        elif args.command not in NO_HOME_NEEDED:
            require_home(settings, f"praf-engine {args.command}")
        start_logging(settings)  # the sandbox (which needs no home) logs to stderr only when the home is absent
        logging_on = True
        return COMMANDS[args.command](wiring, args)
    except PipelineError as exc:
        if logging_on:  # the log's console handler prints it to stderr once, redacted
            log.error(exc.msg, error_code=exc.error_code, detail=exc.detail)
        else:
            print(f"error: [{exc.error_code}] {redact(exc.msg)}", file=sys.stderr)  # plain: never wrapped
        return exc.exit_code
    except KeyboardInterrupt:
        console.print("interrupted", markup=False)
        return 130
    except BrokenPipeError:  # `praf-engine sql … | head`
        sys.stderr.close()
        return 0
    except Exception as exc:  # noqa: BLE001 - the last line of defence: logged with a stack, INTERNAL (or DBFULL, …)
        code = wrap(exc).error_code  # a full database is DBFULL whichever command met it
        if logging_on:
            log.error(f"{type(exc).__name__}: {exc} (stack in logs/app.jsonl)", error_code=code, stack=stack_excerpt(exc))
        else:
            print(f"error: [{code}] {redact(f'{type(exc).__name__}: {exc}')}", file=sys.stderr)
        return 1


def _service(wiring: Wiring) -> Any:
    """Open the database of a home that `main` checked exists (`require_home`); its schema is never created here.
    Jobs run on ``service.wiring``: ``wiring`` with that database."""
    from praf_engine.service import EngineService

    return EngineService.open(wiring.settings, init=False, wiring=wiring)


def _cmd_init(wiring: Wiring, args: argparse.Namespace) -> int:
    from praf_engine.service import EngineService

    service = EngineService(wiring.settings, wiring=wiring)  # no schema check: init is what upgrades
    try:
        info = service.init()
    finally:
        service.close()
    out = Console()
    out.print(f"PRAF home [bold]{info['home']}[/] ready: {info['database']}, schema version {info['schema_version']}")
    if info.get("backup"):
        out.print(f"  backed up the database before upgrading it: {info['backup']}")
    if info["created_tables"]:
        out.print(f"  created tables: {', '.join(info['created_tables'])}")
    for table, rows in info["rebuilt_tables"].items():
        out.print(f"  upgraded table {table}: {rows} rows kept")
    return 0


def _cmd_summary(wiring: Wiring, args: argparse.Namespace) -> int:
    service = _service(wiring)
    try:
        summary = service.summary(args.as_of)
    finally:
        service.close()
    doc = summary.to_dict()
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    table = Table(title=f"PRAF summary as of {doc['as_of']}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in doc.items():
        if key != "as_of":
            table.add_row(key, "-" if value is None else str(value))
    Console().print(table)
    return 0


def _cmd_sql(wiring: Wiring, args: argparse.Namespace) -> int:
    from praf_engine.analytics import run_query

    service = _service(wiring)  # binds the models for the metadata tables
    try:
        result = run_query(wiring.settings.lake_dir, args.query)
    finally:
        service.close()
    rows = result.to_pylist()
    if args.format == "json":
        print(json.dumps(rows, default=str, indent=1))
    elif args.format == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(result.column_names)
        writer.writerows([[r[c] for c in result.column_names] for r in rows])
    else:
        table = Table(show_lines=False)
        for name in result.column_names:
            table.add_column(name)
        for r in rows[: args.max_rows]:
            table.add_row(*["" if r[c] is None else str(r[c]) for c in result.column_names])
        out = Console()
        out.print(table)
        if len(rows) > args.max_rows:
            out.print(f"({len(rows)} rows, {args.max_rows} shown; --format csv prints all)")
    return 0


def _cmd_run(wiring: Wiring, args: argparse.Namespace) -> int:
    from praf_engine.jobs.registry import JOBS
    from praf_engine.jobs.runner import JobRunner

    service = _service(wiring)
    try:
        if args.unlock:
            from praf_engine.db.models import JobLock

            runs = [lock.run_id for lock in JobLock.select().where(JobLock.job == args.job)]
            removed = JobLock.delete().where(JobLock.job == args.job).execute()
            JobLock.delete().where(JobLock.job == "pipeline", JobLock.run_id.in_(runs)).execute()  # the run's pipeline lock
            log.warning("job lock removed by hand", detail={"job": args.job, "locks_removed": removed})
            Console(stderr=True).print(f"job {args.job}: {removed} lock(s) removed")
            return 0
        if args.detach or args.request is not None:
            from praf_engine.control.command import run_detached

            return run_detached(service.wiring, args)
        code = JobRunner(service.wiring).run(args.job, JOBS[args.job].load())
    finally:
        service.close()
    Console(stderr=True).print(f"job {args.job} finished with exit code {code}")
    return code


def _cmd_control(wiring: Wiring, args: argparse.Namespace) -> int:
    from praf_engine.control.command import run_control_command

    service = _service(wiring)
    try:
        return run_control_command(service, args)
    finally:
        service.close()


def _cmd_config(wiring: Wiring, args: argparse.Namespace) -> int:
    print(json.dumps(json.loads(wiring.settings.model_dump_json()), indent=2))
    return 0


def settings_reference() -> str:
    """docs/configuration.md's table: every setting, its environment variable and default."""
    lines = ["| setting | environment variable | default | meaning |", "|---|---|---|---|"]
    for row in describe_settings():
        default = row["default"]
        shown = "(none)" if default is None or default == [] else json.dumps(default, default=str) if not isinstance(default, str) else f"`{default}`"
        lines.append(f"| `{row['key']}` | `{row['env']}` | {shown} | {row['description']} |")
    return "\n".join(lines)


def _cmd_sandbox(wiring: Wiring, args: argparse.Namespace) -> int:
    import signal
    import threading

    from praf_engine.sandbox.serve import Sandbox

    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    out = Console()
    try:
        with Sandbox.from_settings(wiring.settings, fixed_ports=not args.free_ports) as sandbox:
            e = sandbox.endpoints
            out.print(f"PRAF sandbox: {len(sandbox.market.universe())} listings, market date {sandbox.market.today}")
            out.print(f"  exchange sites + NordVPN list  {e.http_url}")
            out.print(f"  Nasdaq Trader FTP              {e.ftp_url}")
            out.print(f"  Yahoo emulator                 {e.yahoo_url}")
            out.print(f"  Telegram Bot API               {e.telegram_url}")
            for url in e.exit_urls:
                out.print(f"  SOCKS5 exit                    {url}")
            out.print("\nsettings.toml for a PRAF home that uses it:\n")
            out.file.flush()
            print(sandbox.settings_toml(), flush=True)  # plain: Rich would wrap long TOML lines
            out.print("Ctrl-C stops the sandbox.", style="dim")
            stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    out.print("sandbox stopped")
    return 0


def _cmd_demo(wiring: Wiring, args: argparse.Namespace) -> int:
    from praf_engine.demo import run_demo

    overrides = parse_overrides(getattr(args, "overrides", []) or [])
    return run_demo(getattr(args, "home", None), overrides, Console())


def _cmd_scrape(wiring: Wiring, args: argparse.Namespace) -> int:
    from praf_engine.universe.command import run_scrape

    service = _service(wiring)
    try:
        return run_scrape(service.wiring, args.exchange, Console(stderr=True))
    finally:
        service.close()


def _cmd_qa(wiring: Wiring, args: argparse.Namespace) -> int:
    from praf_engine.qa.command import run_qa_command

    service = _service(wiring)
    try:
        return run_qa_command(service.wiring, args.date, args.check, args.force, Console(stderr=True), symbols=args.symbols)
    finally:
        service.close()


def _cmd_recheck(wiring: Wiring, args: argparse.Namespace) -> int:
    from praf_engine.qa.recheck import run_recheck_command

    service = _service(wiring)
    try:
        return run_recheck_command(service.wiring, args.symbols, full=args.full, as_of=args.date, detach=args.detach,
                                   console=Console(stderr=True))
    finally:
        service.close()


def _cmd_fetch(wiring: Wiring, args: argparse.Namespace) -> int:
    from praf_engine.fetch.command import run_fetch

    service = _service(wiring)
    try:
        return run_fetch(service.wiring, symbols=args.symbols, full=args.full, force=args.force, console=Console(stderr=True))
    finally:
        service.close()


def _cmd_import_actions(wiring: Wiring, args: argparse.Namespace) -> int:
    from praf_engine.fetch.command import import_actions

    service = _service(wiring)
    try:
        return import_actions(args.csv, Console(stderr=True))
    finally:
        service.close()


def _cmd_backup(wiring: Wiring, args: argparse.Namespace) -> int:
    from praf_engine.backup_command import run_backup, show_backups

    if args.list:
        return show_backups(wiring.settings, Console())
    service = _service(wiring)
    try:
        return run_backup(service.wiring, Console(stderr=True))
    finally:
        service.close()


def _cmd_restore(wiring: Wiring, args: argparse.Namespace) -> int:
    from praf_engine.backup_command import run_restore

    return run_restore(wiring.settings, args.backup, args.force, Console(stderr=True))

def _cmd_alerts(wiring: Wiring, args: argparse.Namespace) -> int:
    from praf_engine.alerts.command import run_alerts_command

    service = _service(wiring)
    try:
        return run_alerts_command(service.wiring, args)
    finally:
        service.close()


def _cmd_watchdog(wiring: Wiring, args: argparse.Namespace) -> int:
    from praf_engine.alerts.command import run_watchdog_command

    service = _service(wiring)
    try:
        return run_watchdog_command(service.wiring, not args.no_probe, Console())
    finally:
        service.close()


def _cmd_daemon(wiring: Wiring, args: argparse.Namespace) -> int:
    from praf_engine.daemon.process import run_daemon

    start_logging(wiring.settings, console_level="info", console_json=True)  # JSON lines on stderr: journald keeps them
    return run_daemon(wiring, lambda: build_wiring(_settings(args)).settings)


def _cmd_status(wiring: Wiring, args: argparse.Namespace) -> int:
    from praf_engine.daemon.status import print_status, scheduler_status
    from praf_engine.scheduler.plan import ORDER

    service = _service(wiring)
    try:
        names = [*[j for j in ORDER if j in _job_names()], *[j for j in _job_names() if j not in ORDER]]
        doc = scheduler_status(service.wiring.clock(), names, wiring.settings.daemon.stale_after_s)
    finally:
        service.close()
    print_status(doc, args.json)
    return 0


NO_HOME_NEEDED = frozenset({"init", "demo", "sandbox"})
COMMANDS = {"pause": _cmd_control, "resume": _cmd_control, "stop": _cmd_control, "init": _cmd_init, "summary": _cmd_summary, "sql": _cmd_sql, "run": _cmd_run,
            "sandbox": _cmd_sandbox, "demo": _cmd_demo, "scrape": _cmd_scrape, "qa": _cmd_qa, "recheck": _cmd_recheck,
            "fetch": _cmd_fetch, "import-actions": _cmd_import_actions, "backup": _cmd_backup, "restore": _cmd_restore,
            "alerts": _cmd_alerts, "watchdog": _cmd_watchdog, "daemon": _cmd_daemon, "status": _cmd_status}


if __name__ == "__main__":
    raise SystemExit(main())
