"""`praf-tui`'s command line: the arguments, the home opened (the dashboard's first snapshot forked off first), then
the app (``praf_tui.app.run``).

Nothing here imports Textual, and the engine only inside the calls: the entry point (``praf_tui.start``) opens the home
before Textual's imports (~130 ms), so that the child computing the dashboard's snapshot (``praf_engine.prefetch``,
ADR 0017) works on another core while this process imports, composes and paints.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from praf_engine.service import EngineService

SCREENS = ("alerts", "checks", "dashboard", "scheduler", "triage")  # PrafApp.MODES (tests/tui/test_app.py checks it)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="praf-tui", description="PRAF terminal dashboard")
    p.add_argument("--home", help="data home (default $PRAF_HOME or ~/.local/share/praf)")
    p.add_argument("--as-of", type=dt.date.fromisoformat, metavar="YYYY-MM-DD", help="show the data as of this date")
    p.add_argument("--demo", action="store_true",
                   help="start the offline sandbox, run scrape → fetch → QA into the home, and watch it in the dashboard")
    p.add_argument("--size", type=int, default=300, help="with --demo: listings in the sandbox universe (default 300)")
    p.add_argument("--sandbox", action="store_true",
                   help="point every source at the offline sandbox, like `praf-engine --sandbox` (same as "
                        "PRAF_SOURCES=sandbox): jobs run from the dashboard fetch from it")
    p.add_argument("--ansi", action="store_true", help="use the terminal's own 16 colours")
    p.add_argument("--refresh", type=float, metavar="SECONDS",
                   help="live refresh period (default: dashboard.refresh_s, 5 s; 0: off)")
    p.add_argument("--with-scheduler", action="store_true",
                   help="run the home's scheduler inside the dashboard while it is open (unless a daemon or another "
                        "dashboard already runs it: then it says so and starts none)")
    p.add_argument("--screen", choices=SCREENS, help="the screen to open first (default: dashboard)")
    p.add_argument("--check", metavar="CHECK", help="open triage filtered on this QA check, e.g. price_jump")
    return p


def open_service(home: str | None, *, sandbox: bool = False, prefetch_dashboard: dt.date | None = None) -> EngineService:
    """The dashboard's engine: an existing home only (HOMEMISSING otherwise, nothing created), its JSON log configured
    with the settings' secrets so jobs started here log like everywhere else (nothing to stderr: the screen owns it),
    and the wiring its reruns use (the sandbox's with ``sandbox`` — `--sandbox` — or ``PRAF_SOURCES=sandbox``).
    ``prefetch_dashboard``: the dashboard's snapshot at that date computed meanwhile in a child (EngineService.open)."""
    from praf_engine.service import EngineService, build_wiring, load_settings, require_home, start_logging

    wiring = build_wiring(load_settings(home=home, overrides={("sources",): "sandbox"} if sandbox else None))
    require_home(wiring.settings, "praf-tui")
    start_logging(wiring.settings, console_level=None)
    return EngineService.open(wiring.settings, init=False, wiring=wiring, prefetch_dashboard=prefetch_dashboard)


def first_dashboard_date(args: argparse.Namespace) -> dt.date | None:
    """The date of the dashboard's first load when the app opens on the dashboard (PrafApp.effective_as_of), else
    None: another first screen would leave a prefetched snapshot unused."""
    if args.demo or args.check or args.screen not in (None, "dashboard"):
        return None
    return args.as_of or dt.datetime.now(dt.UTC).date()


def main(argv: Sequence[str] | None = None) -> int:
    """`praf-tui`: parse, open the home (and fork the dashboard's snapshot), then import and run the app."""
    from praf_engine.service import PipelineError, redact

    args = parser().parse_args(argv)
    if args.demo:
        from praf_tui.app import run_demo

        return run_demo(args)
    try:
        service = open_service(args.home, sandbox=args.sandbox, prefetch_dashboard=first_dashboard_date(args))
    except PipelineError as exc:
        print(f"error: [{exc.error_code}] {redact(exc.msg)}", file=sys.stderr)
        return exc.exit_code
    from praf_tui.app import run  # Textual: imported while the child computes

    return run(service, args)
