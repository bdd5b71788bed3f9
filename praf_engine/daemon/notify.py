"""systemd's notify protocol (sd_notify): READY=1, WATCHDOG=1, STOPPING=1, STATUS=… as datagrams to $NOTIFY_SOCKET.

No pinned library speaks it (constraints.txt), and the protocol is one datagram per message on a unix socket, so it
is written here: an address starting with ``@`` is in the abstract namespace. Without NOTIFY_SOCKET (not started by
systemd) every call does nothing; a send that fails is logged once and never stops the scheduler."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

from praf_engine.logs import get_logger

log = get_logger(__name__)


class Notifier:
    """One per daemon process. ``send("READY=1", "STATUS=scheduling")`` sends one datagram of newline-joined fields."""

    def __init__(self, address: str | None, watchdog_usec: int | None = None) -> None:
        self.address = address or None
        self.watchdog_s = watchdog_usec / 1e6 if watchdog_usec else None  # systemd's WatchdogSec, when enabled
        self._failed = False
        self._sock: socket.socket | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        env = os.environ if environ is None else environ
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        watchdog = int(usec) if usec.isdigit() and (not pid.isdigit() or int(pid) == os.getpid()) else None
        return cls(env.get("NOTIFY_SOCKET"), watchdog)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *fields: str) -> bool:
        """Send ``fields`` as one message; True when it was handed to the socket."""
        if self.address is None:
            return False
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            # never blocks: a receiver whose queue is full (not reading) drops the message, the loop goes on
            self._sock.sendto("\n".join(fields).encode("utf-8"), socket.MSG_DONTWAIT, target)
        except OSError as exc:
            if not self._failed:
                self._failed = True
                log.warning(f"systemd notify socket unusable: {exc}; the service manager is not told the daemon's state",
                            detail={"socket": self.address, "fields": list(fields)})
            return False
        return True

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
