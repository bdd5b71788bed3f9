"""`praf-engine daemon` (= `praf-engine --daemon`): the foreground scheduler process systemd runs. JSON log lines on
stderr, the database opened with back-off, SIGTERM/SIGINT stop, SIGHUP reload, sd_notify READY/WATCHDOG/STOPPING."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

from praf_engine.config import Settings
from praf_engine.daemon.host import SchedulerHost
from praf_engine.daemon.notify import Notifier
from praf_engine.errors import PipelineError
from praf_engine.logs import get_logger
from praf_engine.wiring import Wiring

log = get_logger(__name__)


def open_with_backoff(wiring: Wiring, stop: threading.Event, notifier: Notifier) -> Any | None:
    """EngineService.open, retried while the database is unreachable (DBERROR): 1 s, 2 s, 4 s … up to
    ``daemon.db_retry_max_s``, each try logged, the watchdog fed meanwhile (no crash loop under systemd). Any other
    error (HOMEMISSING, DBSCHEMA, CONFIGBAD) is raised. None when ``stop`` was set while waiting."""
    from praf_engine.service import EngineService

    delay, tries = 1.0, 0
    while not stop.is_set():
        try:
            service = EngineService.open(wiring.settings, init=False, wiring=wiring)
        except PipelineError as exc:
            if exc.error_code != "DBERROR":
                raise
            tries += 1
            log.error(f"database unreachable at start (try {tries}); retrying in {delay:g} s: {exc.msg}",
                      error_code="DBERROR", detail={"try": tries, "retry_in_s": delay})
            notifier.send("WATCHDOG=1", f"STATUS=waiting for the database (try {tries}, next in {delay:g} s)")
            stop.wait(delay)
            delay = min(delay * 2, wiring.settings.daemon.db_retry_max_s)
            continue
        if tries:
            log.info(f"database reachable after {tries} failed tries")
        return service
    return None


def run_daemon(wiring: Wiring, reload_settings: Callable[[], Settings], *, mode: str = "daemon") -> int:
    """Run the scheduler in the foreground until SIGTERM/SIGINT; returns the exit code (0 after a clean stop).

    Once this process holds the home (a second daemon never gets that far), the Telegram command listener
    (/mute /unmute /status /help and the outbox's retry pass) runs beside the scheduler in a thread of its own."""
    stop = threading.Event()
    notifier = Notifier.from_env()
    host: SchedulerHost | None = None
    listener: threading.Thread | None = None
    listener_stop = threading.Event()

    def start_bot(ready: SchedulerHost) -> None:
        nonlocal listener
        from praf_engine.alerts.bot import start_listener  # python-telegram-bot loads only where it is used

        listener = start_listener(ready.wiring, listener_stop)

    def on_stop(signum: int, _frame: Any) -> None:
        if not stop.is_set():
            log.info("stop requested", detail={"signal": signal.Signals(signum).name})
        stop.set()

    def on_hup(_signum: int, _frame: Any) -> None:
        if host is not None:
            host.reload_requested.set()
        else:
            log.warning("SIGHUP before the scheduler started: ignored (the settings are read at start)")

    handlers = {signal.SIGTERM: on_stop, signal.SIGINT: on_stop, signal.SIGHUP: on_hup}
    previous = {sig: signal.signal(sig, fn) for sig, fn in handlers.items()}
    try:
        notifier.send("STATUS=opening the database")
        service = open_with_backoff(wiring, stop, notifier)
        if service is None:
            notifier.send("STOPPING=1")
            return 0
        try:
            host = SchedulerHost(service.wiring, mode="daemon" if mode == "daemon" else "tui", notifier=notifier,
                                 reloader=reload_settings, on_ready=start_bot if mode == "daemon" else None)
            host.run(stop)
        finally:
            listener_stop.set()
            if listener is not None:
                listener.join(10)  # a daemon thread: a long poll still open does not hold the exit
            service.close()
        if host.lost:  # another scheduler took the home over: not a clean stop
            return 1
    finally:
        for sig, fn in previous.items():
            signal.signal(sig, fn)
        notifier.close()
    return 0
