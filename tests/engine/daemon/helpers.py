"""A real unix datagram socket in the role of systemd's NOTIFY_SOCKET, and the log lines of a home."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any


class NotifyListener:
    """Binds ``path`` (AF_UNIX, SOCK_DGRAM) and keeps every message received; ``expect`` waits on the socket."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.messages: list[dict[str, str]] = []

    def expect(self, match: Callable[[dict[str, str]], bool], timeout: float = 60.0) -> dict[str, str]:
        """The first message (already received or arriving within ``timeout``) for which ``match`` is true."""
        for msg in self.messages:
            if match(msg):
                return msg
        self.sock.settimeout(timeout)
        while True:
            data = self.sock.recv(4096)  # socket.timeout fails the test
            msg = dict(line.split("=", 1) for line in data.decode().split("\n") if "=" in line)
            self.messages.append(msg)
            if match(msg):
                return msg

    def next(self, timeout: float = 60.0) -> dict[str, str]:
        """The next message to arrive (the daemon's WATCHDOG pings make a tick of every beat)."""
        self.sock.settimeout(timeout)
        data = self.sock.recv(4096)
        msg = dict(line.split("=", 1) for line in data.decode().split("\n") if "=" in line)
        self.messages.append(msg)
        return msg

    def close(self) -> None:
        self.sock.close()


def log_lines(home: Path) -> list[dict[str, Any]]:
    path = home / "logs" / "app.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
