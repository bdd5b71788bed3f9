"""The Telegram Bot API stub, driven by the real python-telegram-bot over real loopback sockets (no mocks)."""

from __future__ import annotations

import asyncio
import datetime as dt
import http.client
import json
import threading
import time
from collections.abc import Iterator

import pytest
from telegram import Bot, MessageEntity
from telegram.error import (
    BadRequest,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.request import HTTPXRequest

from praf_engine.sandbox.telegram import TelegramStub

ALERT = "🔥 Price-jump anomaly: 12 moves"
GROUP = -100123


def _stub_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("telegram-stub")]


@pytest.fixture
def stub() -> Iterator[TelegramStub]:
    assert _stub_threads() == []
    with TelegramStub() as s:
        yield s
    assert _stub_threads() == [], "stop() left server or connection threads behind"


def make_bot(stub: TelegramStub, token: str | None = None, read_timeout: float = 5.0) -> Bot:
    """A real PTB Bot with short timeouts, so a broken stub fails a test instead of hanging it."""
    return Bot(token or stub.token, base_url=stub.base_url,
               request=HTTPXRequest(connect_timeout=2, read_timeout=read_timeout, write_timeout=2, pool_timeout=2),
               get_updates_request=HTTPXRequest(connect_timeout=2, read_timeout=read_timeout, pool_timeout=2))


def raw(stub: TelegramStub, method: str, path: str, body: bytes | None = None,
        headers: dict[str, str] | None = None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", int(stub.api_url.rsplit(":", 1)[1]), timeout=5)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        res = conn.getresponse()
        return res.status, json.loads(res.read())
    finally:
        conn.close()


async def test_get_me_through_ptb(stub: TelegramStub) -> None:
    async with make_bot(stub) as bot:  # initialize() already called getMe
        me = await bot.get_me()
    assert (me.id, me.is_bot, me.username, me.first_name) == (123456, True, "praf_sandbox_bot", "PRAF sandbox bot")
    assert me.can_join_groups is True and me.supports_inline_queries is False
    assert stub.calls["getMe"] == 2


async def test_send_message_returns_a_message_and_is_recorded(stub: TelegramStub) -> None:
    async with make_bot(stub) as bot:
        first = await bot.send_message(chat_id=GROUP, text=ALERT)
        second = await bot.send_message(chat_id=GROUP, text="<b>QA</b> 3 critical", parse_mode="HTML",
                                        disable_notification=True)
        private = await bot.send_message(chat_id=4242, text="hello")
    assert first.text == ALERT and first.chat.id == GROUP and first.chat.type == "group"
    assert first.from_user is not None and first.from_user.username == "praf_sandbox_bot"
    assert abs(first.date.timestamp() - time.time()) < 60
    assert second.message_id == first.message_id + 1
    assert private.chat.type == "private"
    assert stub.wait_for_messages(3, timeout=0)
    msgs = stub.messages
    assert [m["text"] for m in msgs] == [ALERT, "<b>QA</b> 3 critical", "hello"]  # unicode intact
    assert msgs[0]["chat_id"] == str(GROUP)  # as given: PTB form-encodes every value
    assert [m["parse_mode"] for m in msgs] == [None, "HTML", None]
    assert msgs[1]["disable_notification"] is True and msgs[0]["disable_notification"] is None
    assert [m["message_id"] for m in msgs] == [first.message_id, second.message_id, private.message_id]
    assert stub.calls["sendMessage"] == 3


async def test_send_message_rejections_map_to_bad_request(stub: TelegramStub) -> None:
    async with make_bot(stub) as bot:
        with pytest.raises(BadRequest, match="(?i)message text is empty"):
            await bot.send_message(chat_id=GROUP, text="   ")
        with pytest.raises(BadRequest, match="(?i)chat not found"):
            await bot.send_message(chat_id="not-a-chat", text=ALERT)
        with pytest.raises(BadRequest, match="too long"):
            await bot.send_message(chat_id=GROUP, text="x" * 4097)
    assert stub.messages == []


async def test_get_updates_returns_pushed_commands_and_honours_offset(stub: TelegramStub) -> None:
    mute = stub.push_command("/mute 60m", chat_id=GROUP, user="alice")
    unmute = stub.push_command("/unmute")
    async with make_bot(stub) as bot:
        updates = await bot.get_updates(timeout=0)
        assert [u.update_id for u in updates] == [mute["update_id"], unmute["update_id"]]
        msg = updates[0].message
        assert msg is not None and msg.text == "/mute 60m"
        assert msg.chat.id == GROUP and msg.from_user is not None and msg.from_user.username == "alice"
        assert [(e.type, e.offset, e.length) for e in msg.entities] == [(MessageEntity.BOT_COMMAND, 0, 5)]
        assert msg.parse_entities([MessageEntity.BOT_COMMAND]) == {msg.entities[0]: "/mute"}
        assert updates[1].effective_chat is not None and updates[1].effective_chat.type == "private"

        assert len(await bot.get_updates(limit=1)) == 1
        # Confirming the first update drops it for good.
        again = await bot.get_updates(offset=mute["update_id"] + 1)
        assert [u.update_id for u in again] == [unmute["update_id"]]
        assert [u["update_id"] for u in stub.pending_updates] == [unmute["update_id"]]
        assert await bot.get_updates(offset=unmute["update_id"] + 1) == ()
        assert stub.pending_updates == []
        # A negative offset keeps only the last -offset updates.
        ids = [stub.push_command(f"/mute {n}m")["update_id"] for n in (1, 2, 3)]
        assert [u.update_id for u in await bot.get_updates(offset=-1)] == ids[-1:]
        assert [u["update_id"] for u in stub.pending_updates] == ids[-1:]


async def test_long_poll_returns_as_soon_as_a_command_is_pushed(stub: TelegramStub) -> None:
    async with make_bot(stub) as bot:
        started = time.monotonic()
        poll = asyncio.create_task(bot.get_updates(timeout=30))
        pushed = threading.Event()

        def push_once_polling() -> None:  # gated on the stub actually holding the long-poll
            if stub.wait_for_long_poll(timeout=5):
                stub.push_command("/mute 60m")
                pushed.set()

        pusher = threading.Thread(target=push_once_polling, daemon=True)
        pusher.start()
        updates = await asyncio.wait_for(poll, timeout=10)
        pusher.join(timeout=5)
    assert pushed.is_set()
    assert [u.message.text for u in updates if u.message] == ["/mute 60m"]
    assert time.monotonic() - started < 5


async def test_long_poll_without_updates_waits_for_its_timeout(stub: TelegramStub) -> None:
    async with make_bot(stub) as bot:
        started = time.monotonic()
        assert await asyncio.wait_for(bot.get_updates(timeout=1), timeout=10) == ()
    assert 0.9 <= time.monotonic() - started < 5


async def test_stop_releases_a_pending_long_poll_promptly() -> None:
    stub = TelegramStub().start()
    try:
        async with make_bot(stub) as bot:
            started = time.monotonic()
            poll = asyncio.create_task(bot.get_updates(timeout=30))
            assert await asyncio.to_thread(stub.wait_for_long_poll, 5)
            await asyncio.to_thread(stub.stop)
            assert await asyncio.wait_for(poll, timeout=10) == ()  # answered (empty), not cut off
            assert time.monotonic() - started < 5
    finally:
        stub.stop()
    assert _stub_threads() == []


def _seconds(value: int | float | dt.timedelta) -> float:
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # PTB's own int->timedelta notice
async def test_rate_limit_raises_retry_after_with_the_configured_seconds(stub: TelegramStub) -> None:
    async with make_bot(stub) as bot:
        stub.set_failure("rate_limit", retry_after=7, count=1)
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(chat_id=GROUP, text=ALERT)
        assert _seconds(caught.value.retry_after) == 7  # int today, timedelta in a future PTB
        await bot.send_message(chat_id=GROUP, text=ALERT)  # count=1: the next call recovers
    assert [m["text"] for m in stub.messages] == [ALERT]
    assert stub.calls["sendMessage"] == 2


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_rate_limit_window_answers_429_until_it_frees(stub: TelegramStub) -> None:
    stub.set_rate_limit(2, per_s=60)
    async with make_bot(stub) as bot:
        await bot.send_message(chat_id=GROUP, text=ALERT)
        await bot.send_message(chat_id=GROUP, text=ALERT)
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(chat_id=GROUP, text=ALERT)
        assert 58 <= _seconds(caught.value.retry_after) <= 60  # until the first of the window leaves it
        assert stub.rate_limited == 1
        stub.set_rate_limit(None)
        await bot.send_message(chat_id=GROUP, text=ALERT)
    assert len(stub.messages) == 3
    with pytest.raises(ValueError):
        stub.set_rate_limit(0)


@pytest.mark.parametrize(("mode", "kwargs", "error"), [
    ("unauthorized", {}, InvalidToken),
    ("forbidden", {}, Forbidden),
    ("down", {}, NetworkError),  # TimedOut is a NetworkError too
    ("server_error", {"status": 500}, NetworkError),
    ("server_error", {"status": 502}, NetworkError),
])
async def test_failures_map_to_ptb_exceptions_and_count_one_recovers(
        stub: TelegramStub, mode: str, kwargs: dict, error: type[Exception]) -> None:
    async with make_bot(stub) as bot:
        stub.set_failure(mode, count=1, **kwargs)
        with pytest.raises(error) as caught:
            await bot.send_message(chat_id=GROUP, text=ALERT)
        if error is NetworkError:
            assert not isinstance(caught.value, BadRequest | InvalidToken | RetryAfter)
        assert stub.messages == []
        await bot.send_message(chat_id=GROUP, text=ALERT)
    assert len(stub.messages) == 1


async def test_persistent_failure_lasts_until_cleared_and_can_target_one_method(stub: TelegramStub) -> None:
    async with make_bot(stub) as bot:
        stub.set_failure("down", methods=["sendMessage"])
        for _ in range(3):
            with pytest.raises(NetworkError):
                await bot.send_message(chat_id=GROUP, text=ALERT)
        assert (await bot.get_me()).username == "praf_sandbox_bot"  # other methods unaffected
        stub.set_failure("none")
        await bot.send_message(chat_id=GROUP, text=ALERT)
    assert stub.calls["sendMessage"] == 4 and len(stub.messages) == 1


async def test_slow_answer_times_out_the_client(stub: TelegramStub) -> None:
    async with make_bot(stub, read_timeout=0.3) as bot:
        stub.set_failure("slow", delay=1, count=1)
        with pytest.raises(TimedOut):
            await bot.send_message(chat_id=GROUP, text=ALERT)
        await bot.send_message(chat_id=GROUP, text=ALERT)
    assert stub.wait_for_messages(2, timeout=5)  # the slow call still lands late, like a real server


async def test_wrong_token_and_unknown_method(stub: TelegramStub) -> None:
    with pytest.raises(InvalidToken):
        async with make_bot(stub, token="999:wrong-token"):
            pass
    async with make_bot(stub) as bot:
        with pytest.raises(EndPointNotFound):
            await bot.do_api_request("sendPigeon", api_kwargs={"chat_id": GROUP})
        assert await bot.delete_webhook() is True
        assert await bot.set_my_commands([("mute", "Mute alerts, e.g. /mute 60m"), ("unmute", "Unmute")]) is True
        assert [c.command for c in await bot.get_my_commands()] == ["mute", "unmute"]


def test_sync_sender_pattern_asyncio_run_twice_with_a_fresh_bot(stub: TelegramStub) -> None:
    async def send(text: str) -> int:
        async with make_bot(stub) as bot:
            return (await bot.send_message(chat_id=GROUP, text=text, parse_mode="HTML")).message_id

    first = asyncio.run(send("alert one"))
    second = asyncio.run(send(ALERT))
    assert second > first
    assert [(m["text"], m["parse_mode"]) for m in stub.messages] == [("alert one", "HTML"), (ALERT, "HTML")]


def test_raw_http_json_get_keepalive_and_error_bodies(stub: TelegramStub) -> None:
    base = f"/bot{stub.token}"
    status, body = raw(stub, "POST", f"{base}/sendMessage", json.dumps({"chat_id": GROUP, "text": ALERT}).encode(),
                       {"Content-Type": "application/json"})
    assert status == 200 and body["result"]["chat"] == {"id": GROUP, "type": "group", "title": "PRAF alerts"}
    assert stub.messages[0]["chat_id"] == GROUP  # JSON keeps the int
    assert raw(stub, "GET", f"{base}/GETME")[1]["result"]["username"] == "praf_sandbox_bot"  # case-insensitive
    assert raw(stub, "GET", f"{base}/sendMessage?chat_id=5&text=hi%20there")[1]["result"]["text"] == "hi there"
    assert raw(stub, "POST", f"{base}/nope") == (404, {"ok": False, "error_code": 404, "description": "Not Found"})
    assert raw(stub, "GET", "/bot1:bad/getMe") == (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    assert raw(stub, "POST", f"{base}/sendMessage", b"chat_id=5", {"Content-Type": "application/x-www-form-urlencoded"}) \
        == (400, {"ok": False, "error_code": 400, "description": "Bad Request: message text is empty"})
    stub.set_failure("rate_limit", retry_after=3, count=1)
    assert raw(stub, "GET", f"{base}/getMe") == (429, {"ok": False, "error_code": 429, "parameters": {"retry_after": 3},
                                                       "description": "Too Many Requests: retry after 3"})
    # Keep-alive: several requests on one connection, each with an exact Content-Length.
    conn = http.client.HTTPConnection("127.0.0.1", int(stub.api_url.rsplit(":", 1)[1]), timeout=5)
    try:
        for _ in range(3):
            conn.request("GET", f"{base}/getMe")
            res = conn.getresponse()
            data = res.read()
            assert res.status == 200 and int(res.headers["Content-Length"]) == len(data)
            assert not res.will_close
    finally:
        conn.close()


def test_lifecycle_idempotent_restart_same_port_and_no_thread_leak() -> None:
    stub = TelegramStub()
    with pytest.raises(RuntimeError):
        _ = stub.base_url
    assert stub.start() is stub.start()
    url = stub.base_url
    assert url.startswith("http://127.0.0.1:") and url.endswith("/bot") and url == stub.api_url + "/bot"
    idle = http.client.HTTPConnection("127.0.0.1", int(stub.api_url.rsplit(":", 1)[1]), timeout=5)
    idle.request("GET", f"/bot{stub.token}/getMe")
    idle.getresponse().read()  # leaves a keep-alive connection (and its server thread) open
    started = time.monotonic()
    stub.stop()
    stub.stop()
    assert time.monotonic() - started < 2
    assert _stub_threads() == []
    idle.close()
    stub.push_command("/mute 60m")  # the state survives a restart
    with stub:
        assert stub.base_url == url
        assert raw(stub, "GET", f"/bot{stub.token}/getUpdates")[1]["result"][0]["message"]["text"] == "/mute 60m"
    assert _stub_threads() == []
    with pytest.raises(ValueError):
        stub.set_failure("flaky")
