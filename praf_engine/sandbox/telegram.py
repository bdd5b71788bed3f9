"""Telegram Bot API stub on loopback: the real python-telegram-bot talks to it unchanged (sandbox, SPEC §10)."""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
from collections import Counter
from typing import Any
from urllib.parse import parse_qsl

from praf_engine.logs import get_logger
from praf_engine.sandbox.httpserver import LoopbackHTTPServer, Request, Response

log = get_logger(__name__)

DEFAULT_TOKEN = "123456:TEST-token-for-the-sandbox-000000000"
DEFAULT_CHAT_ID = 424242  # the operator's private chat (user id == chat id)
FAILURE_MODES = ("none", "down", "rate_limit", "unauthorized", "forbidden", "server_error", "slow")
METHODS = ("getMe", "sendMessage", "getUpdates", "deleteWebhook", "setMyCommands", "getMyCommands")
_CANONICAL = {m.lower(): m for m in METHODS}  # the Bot API treats method names case-insensitively
_MAX_TEXT = 4096
_NO_FAILURE: dict[str, Any] = {"mode": "none"}

Reply = tuple[int, dict[str, Any]] | None  # None: drop the connection without answering


def _ok(result: Any) -> tuple[int, dict[str, Any]]:
    return 200, {"ok": True, "result": result}


def _err(code: int, description: str, **parameters: Any) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    return code, ({**body, "parameters": parameters} if parameters else body)


def _number(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _flag(value: Any) -> bool | None:
    return value if value is None or isinstance(value, bool) else str(value).strip().lower() in ("true", "1")


def _parse_body(content_type: str, body: bytes) -> dict[str, Any]:
    """Form-encoded (what PTB sends) or JSON bodies; anything else counts as no parameters."""
    if body and "json" in content_type:
        with contextlib.suppress(ValueError):
            data = json.loads(body)
            return data if isinstance(data, dict) else {}
    if body and "x-www-form-urlencoded" in content_type:
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return {}


def _chat(chat_id: Any) -> dict[str, Any] | None:
    try:
        cid = int(str(chat_id).strip())
    except ValueError:  # "@channel" usernames are not emulated
        return None
    return {"id": cid, "type": "group", "title": "PRAF alerts"} if cid < 0 else \
        {"id": cid, "type": "private", "first_name": "PRAF operator"}


class TelegramStub:
    """The Bot API subset PRAF uses, with recorded messages, queued commands and injectable failures."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, token: str = DEFAULT_TOKEN) -> None:
        self.host, self.token, self._port = host, token, port
        self._life = threading.Lock()  # serialises start/stop
        self._cond = threading.Condition()  # guards all state below
        self._stopping = threading.Event()  # wakes long polls and slow answers at stop()
        self._http: LoopbackHTTPServer | None = None  # bound at the first start(); a restart keeps its port
        self._messages: list[dict[str, Any]] = []
        self._updates: list[dict[str, Any]] = []
        self._calls: Counter[str] = Counter()
        self._commands: list[Any] = []
        self._failure: dict[str, Any] = _NO_FAILURE
        self._pollers = 0
        self._rate: tuple[int, float] | None = None  # (messages, per seconds): Telegram's flood control, see set_rate_limit
        self._recent: list[float] = []  # monotonic times of the sendMessage calls inside the rate window
        self.rate_limited = 0  # sendMessage calls answered 429 by the rate limit
        self._next_update_id = self._next_message_id = 1
        head = token.split(":", 1)[0]
        self.bot_user = {"id": int(head) if head.isdigit() else 1, "is_bot": True, "first_name": "PRAF sandbox bot",
                         "username": "praf_sandbox_bot", "can_join_groups": True,
                         "can_read_all_group_messages": False, "supports_inline_queries": False}

    def start(self) -> TelegramStub:
        """Serve in a background thread; idempotent. A restart after stop() reuses the same port."""
        with self._life:
            if self._http is None:
                self._http = LoopbackHTTPServer(self._serve, self.host, self._port, name="telegram-stub")
                self._port = self._http.port
            self._stopping.clear()
            self._http.start()
        return self

    def stop(self) -> None:
        """Stop promptly and idempotently: pending long-polls get their (empty) answer, idle keep-alive
        connections are closed, every thread is joined."""
        with self._life:
            if self._http is None:
                return
            self._stopping.set()
            with self._cond:
                self._cond.notify_all()
            self._http.stop()

    def __enter__(self) -> TelegramStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        if self._http is None:
            raise RuntimeError("TelegramStub is not started (no port yet)")
        return f"http://{self.host}:{self._port}"

    @property
    def base_url(self) -> str:
        """What `Bot(token, base_url=...)` and PRAF's alerts.telegram_api_url point at."""
        return f"{self.api_url}/bot"

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Recorded sendMessage calls: message_id, chat_id (as given), text, parse_mode, disable_notification,
        params (everything sent), at (epoch seconds)."""
        with self._cond:
            return [dict(m) for m in self._messages]

    @property
    def calls(self) -> Counter[str]:
        """Requests received per method, failed ones included."""
        with self._cond:
            return Counter(self._calls)

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        with self._cond:
            return list(self._updates)

    def wait_for_messages(self, n: int, timeout: float = 5.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self._messages) >= n, timeout)

    def wait_for_long_poll(self, timeout: float = 5.0) -> bool:
        """True once a getUpdates call is blocked waiting for an update."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pollers > 0, timeout)

    def push_command(self, text: str, chat_id: int | str = DEFAULT_CHAT_ID,
                     user: str | dict[str, Any] = "praf_operator") -> dict[str, Any]:
        """Queue an incoming message (e.g. ``/mute 60m``) from `user` for getUpdates; returns the update."""
        chat = _chat(chat_id)
        if chat is None:
            raise ValueError(f"bad chat_id {chat_id!r}")
        sender = {"id": max(chat["id"], 0) or DEFAULT_CHAT_ID, "is_bot": False, "first_name": "PRAF operator"}
        sender.update({"username": user} if isinstance(user, str) else user)
        message: dict[str, Any] = {"chat": chat, "from": sender, "date": int(time.time()), "text": text}
        if text.startswith("/"):
            word = text.split(maxsplit=1)[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(word.encode("utf-16-le")) // 2}]
        with self._cond:
            message["message_id"] = self._next_message_id
            update = {"update_id": self._next_update_id, "message": message}
            self._next_message_id += 1
            self._next_update_id += 1
            self._updates.append(update)
            self._cond.notify_all()
        return update

    def set_failure(self, mode: str, *, count: int | None = None, retry_after: int = 5, status: int = 500,
                    delay: float = 1.0, methods: tuple[str, ...] | list[str] | None = None) -> None:
        """Fail the next `count` calls (None: until set_failure("none")), optionally only for some `methods`.
        rate_limit answers 429 with `retry_after`; server_error answers `status` (5xx); slow answers after
        `delay` seconds; down closes the connection unanswered; unauthorized 401; forbidden 403."""
        if mode not in FAILURE_MODES:
            raise ValueError(f"unknown failure mode {mode!r}; expected one of {FAILURE_MODES}")
        if not 500 <= status <= 599 or (count is not None and count < 1):
            raise ValueError("status must be 5xx and count >= 1")
        failure = {"mode": mode, "count": count, "retry_after": int(retry_after), "status": status,
                   "delay": float(delay), "methods": set(methods or ())}
        with self._cond:
            self._failure = _NO_FAILURE if mode == "none" else failure

    def set_rate_limit(self, messages: int | None, per_s: float = 1.0) -> None:
        """Flood control like Telegram's (about 30 messages a second for a bot): a sendMessage beyond ``messages``
        within ``per_s`` seconds is answered 429 with retry_after = the whole seconds until the window frees
        (at least 1, as Telegram's). None: no limit."""
        if messages is not None and (messages < 1 or per_s <= 0):
            raise ValueError("messages must be >= 1 and per_s > 0")
        with self._cond:
            self._rate = None if messages is None else (int(messages), float(per_s))
            self._recent = []

    def _over_rate(self) -> int | None:
        """retry_after seconds when this sendMessage exceeds the rate limit, else None (and it is counted)."""
        with self._cond:
            if self._rate is None:
                return None
            limit, window = self._rate
            now = time.monotonic()
            self._recent = [t for t in self._recent if t > now - window]
            if len(self._recent) >= limit:
                self.rate_limited += 1
                return max(1, math.ceil(self._recent[0] + window - now))
            self._recent.append(now)
            return None

    def _serve(self, request: Request) -> Response:
        params: dict[str, Any] = {k: v[-1] for k, v in request.query.items()}
        params.update(_parse_body(request.headers.get("content-type", ""), request.body))
        try:
            reply = self._handle(request.path, params)
        except Exception as exc:  # a bug in the stub must show as a 500, not as a hung client
            log.error("telegram stub crashed", detail={"path": request.path, "error": repr(exc)})
            reply = _err(500, f"Internal Server Error: {exc!r}")
        if reply is None:  # "down": close without a response -> the client sees a dead peer
            return Response(drop=True)
        return Response(reply[0], json.dumps(reply[1], ensure_ascii=False).encode("utf-8"))

    def _take_failure(self, method: str) -> dict[str, Any] | None:
        with self._cond:
            failure = self._failure
            if failure["mode"] == "none" or (failure["methods"] and method not in failure["methods"]):
                return None
            if failure["count"] is not None:
                failure["count"] -= 1
                if failure["count"] <= 0:
                    self._failure = _NO_FAILURE  # this call still fails; the next one recovers
            return failure

    def _handle(self, path: str, params: dict[str, Any]) -> Reply:
        token, _, name = path.removeprefix("/bot").partition("/") if path.startswith("/bot") else ("", "", "")
        method = _CANONICAL.get(name.lower(), name)
        with self._cond:
            self._calls[method] += 1
        failure = self._take_failure(method) or _NO_FAILURE
        mode = failure["mode"]
        if mode == "down":
            return None
        if mode == "rate_limit":
            n = failure["retry_after"]
            return _err(429, f"Too Many Requests: retry after {n}", retry_after=n)
        if mode in ("unauthorized", "forbidden", "server_error"):
            status = {"unauthorized": 401, "forbidden": 403}.get(mode) or failure["status"]
            return _err(status, {401: "Unauthorized", 403: "Forbidden: bot was kicked from the group chat",
                                 502: "Bad Gateway"}.get(status, "Internal Server Error"))
        if mode == "slow":
            self._stopping.wait(failure["delay"])  # interrupted by stop()
        if not name or method not in METHODS:
            return _err(404, "Not Found")
        if token != self.token:
            return _err(401, "Unauthorized")
        if method == "sendMessage":
            wait = self._over_rate()
            if wait is not None:
                return _err(429, f"Too Many Requests: retry after {wait}", retry_after=wait)
            return self._send_message(params)
        if method == "getUpdates":
            return self._get_updates(params)
        if method == "setMyCommands":
            commands = params.get("commands", [])
            with contextlib.suppress(ValueError, TypeError):
                commands = json.loads(commands) if isinstance(commands, str) else commands
            with self._cond:
                self._commands = list(commands) if isinstance(commands, list) else []
        with self._cond:
            return _ok({"getMe": self.bot_user, "getMyCommands": list(self._commands)}.get(method, True))

    def _send_message(self, params: dict[str, Any]) -> Reply:
        chat_id, text = params.get("chat_id"), params.get("text")
        chat = None if chat_id is None else _chat(chat_id)
        if chat is None:
            return _err(400, "Bad Request: chat not found")
        if text is None or not str(text).strip():
            return _err(400, "Bad Request: message text is empty")
        if len(str(text)) > _MAX_TEXT:
            return _err(400, "Bad Request: message is too long")
        now = time.time()
        with self._cond:
            message_id = self._next_message_id
            self._next_message_id += 1
            self._messages.append({"message_id": message_id, "chat_id": chat_id, "text": text,
                                   "parse_mode": params.get("parse_mode"),
                                   "disable_notification": _flag(params.get("disable_notification")),
                                   "params": dict(params), "at": now})
            self._cond.notify_all()
        return _ok({"message_id": message_id, "date": int(now), "chat": chat, "from": self.bot_user, "text": text})

    def _get_updates(self, params: dict[str, Any]) -> Reply:
        """Like the real API: offset > 0 confirms (drops) older updates, offset < 0 keeps the last -offset;
        with `timeout`, wait (Condition, no polling) for an update or stop()."""
        offset = int(_number(params.get("offset"), 0))
        limit = min(max(int(_number(params.get("limit"), 100)), 1), 100)
        timeout = max(_number(params.get("timeout"), 0.0), 0.0)
        with self._cond:
            if offset:
                self._updates = ([u for u in self._updates if u["update_id"] >= offset] if offset > 0
                                 else self._updates[offset:])

            def available() -> list[dict[str, Any]]:
                return [u for u in self._updates if offset <= 0 or u["update_id"] >= offset]

            if timeout > 0 and not available() and not self._stopping.is_set():
                self._pollers += 1
                self._cond.notify_all()
                try:
                    self._cond.wait_for(lambda: bool(available()) or self._stopping.is_set(), timeout)
                finally:
                    self._pollers -= 1
            return _ok(available()[:limit])
