"""The Nasdaq Trader FTP emulator on loopback, so the real scraper's FTP path runs unchanged (SPEC §2, §10).

``NasdaqFtpServer`` (pyftpdlib, anonymous, read-only) serves ``/symboldirectory/nasdaqlisted.txt`` and
``/symboldirectory/otherlisted.txt`` (LF line endings), re-rendered whenever ``market.today`` or the faults change.
Site faults as an FTP client sees them: ``site_500`` answers ``550`` on RETR/SIZE; ``truncated`` files keep the
header and the first half of the rows and end mid-line, without the footer; ``broken_structure`` renames the header
columns (the renderers are ``sites_render``'s, shared with the HTTP server in ``sites``).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

from praf_engine.atomic import write_atomic
from praf_engine.logs import get_logger
from praf_engine.sandbox.sites_render import fault, render_nasdaqlisted, render_otherlisted, site_faults

with warnings.catch_warnings():  # pyftpdlib still imports asyncore/asynchat on Python 3.11
    warnings.simplefilter("ignore", DeprecationWarning)
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.ioloop import IOLoop
    from pyftpdlib.servers import FTPServer

log = get_logger(__name__)

FTP_DIR = "symboldirectory"
FTP_FILES = {"nasdaqlisted.txt": "nasdaq", "otherlisted.txt": "arca"}

__all__ = ["FTP_DIR", "FTP_FILES", "NasdaqFtpServer"]


class _FtpHandler(FTPHandler):
    """pyftpdlib's handler, refreshing the files before each command and answering 550 on ``site_500``."""

    sites: NasdaqFtpServer
    banner = "NASDAQ Trader FTP (PRAF sandbox) ready."

    def pre_process_command(self, line: str, cmd: str, arg: str) -> None:
        self.sites.refresh()
        super().pre_process_command(line, cmd, arg)

    def _down(self, path: str) -> bool:
        code = FTP_FILES.get(os.path.basename(path))
        if code is not None and fault(self.sites.market, "site_500", code):
            self.respond("550 Service temporarily unavailable.")
            return True
        return False

    def ftp_RETR(self, file: str) -> Any:
        if self._down(file):
            return None
        return super().ftp_RETR(file)

    def ftp_SIZE(self, path: str) -> Any:
        if self._down(path):
            return None
        return super().ftp_SIZE(path)

    # pyftpdlib logs every session line through the stdlib: keep only its errors, in structlog
    def log(self, msg: str, logfun: Any = None) -> None:
        return

    def logline(self, msg: str, logfun: Any = None) -> None:
        return

    def logerror(self, msg: str) -> None:
        log.warning("ftp error", detail={"msg": msg})

    def log_exception(self, instance: Any) -> None:
        log.error("ftp handler crashed", detail={"instance": repr(instance)}, exc_info=True)


class NasdaqFtpServer:
    """``ftp://host:port/symboldirectory/{nasdaqlisted,otherlisted}.txt``: anonymous, read-only, passive on loopback."""

    def __init__(self, market: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self.market = market
        self.host = host
        self._lock = threading.Lock()
        self._key: tuple[Any, ...] | None = None
        self._root: Path | None = None
        self._server: FTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        logger = logging.getLogger("pyftpdlib")
        if not logger.handlers:  # else pyftpdlib configures its own stderr handler on first loop
            logger.addHandler(logging.NullHandler())
        self._port = port
        self._open()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"ftp://{self.host}:{self._port}"

    @property
    def root(self) -> Path:
        assert self._root is not None
        return self._root

    def _open(self) -> None:
        self._root = Path(tempfile.mkdtemp(prefix="praf-ftp-"))
        (self._root / FTP_DIR).mkdir()
        authorizer = DummyAuthorizer()
        authorizer.add_anonymous(str(self._root), perm="elr")
        handler = type("NasdaqFtpHandler", (_FtpHandler,), {"authorizer": authorizer, "sites": self})
        self._key = None
        self.refresh()
        self._server = FTPServer((self.host, self._port), handler, ioloop=IOLoop())
        self._server.max_cons = 256
        self._port = int(self._server.address[1])

    def refresh(self) -> bool:
        """Re-render the files if ``market.today`` or the faults changed; True if they were rewritten."""
        m = self.market
        key = (m.today, site_faults(m, "nasdaq"), site_faults(m, "arca"))
        with self._lock:
            if key == self._key or self._root is None:
                return False
            for name, render in (("nasdaqlisted.txt", render_nasdaqlisted), ("otherlisted.txt", render_otherlisted)):
                # a transfer in progress keeps reading the old file
                write_atomic(self._root / FTP_DIR / name, render(m, crlf=False))
            self._key = key
        log.debug("ftp files rendered", detail={"today": str(m.today)})
        return True

    def start(self) -> NasdaqFtpServer:
        if self._thread is not None:
            return self
        if self._server is None:
            self._open()
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, args=(self._server,), name=f"sandbox-ftp-{self._port}",
                                        daemon=True)
        self._thread.start()
        log.info("nasdaq ftp started", detail={"url": self.url})
        return self

    def _run(self, server: FTPServer) -> None:
        try:
            while not self._stopping.is_set():
                server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
        finally:
            server.close_all()

    def stop(self) -> None:
        server, thread, root = self._server, self._thread, self._root
        self._server, self._thread, self._root = None, None, None
        if thread is not None:
            self._stopping.set()
            thread.join(timeout=5)
        elif server is not None:
            server.close_all()
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)
            log.info("nasdaq ftp stopped", detail={"url": self.url})

    def __enter__(self) -> NasdaqFtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
