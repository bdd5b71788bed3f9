"""ExitPool over real SOCKS5 exits on loopback: `rotate_every`, `cooldown_s`, and where each run starts its rotation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from praf_engine.config import Settings
from praf_engine.db.models import BatchLatency, CronStatus
from praf_engine.fetch.exits import EXIT_STATE, ExitPool, build_exits
from praf_engine.logs import configure_logging
from praf_engine.sandbox.exits import ExitPool as SocksPool
from praf_engine.wiring import chrome_session
from tests.conftest import make_settings
from tests.engine.fetch.conftest import insert_universe, run_fetch


@pytest.fixture
def socks() -> Iterator[SocksPool]:
    with SocksPool(3) as pool:
        yield pool


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _settings(home: Path, socks: SocksPool, **overrides: object) -> Settings:
    s = make_settings(home, **{"exits__kind": "proxies", "exits__proxies": socks.urls, **overrides})
    configure_logging(s.logs_dir, secrets=s.secrets(), console_level=None)
    return s


def _pool(s: Settings, clock: Clock | None = None) -> ExitPool:
    return ExitPool(s, build_exits(s), chrome_session, clock=clock or Clock())


def test_rotate_every_moves_to_the_next_exit_after_that_many_tickers(tmp_path, socks):
    pool = _pool(_settings(tmp_path / "home", socks, exits__rotate_every=10))
    try:
        first = pool.current()
        assert first is pool.exits[0]
        pool.record(first, 6, 6, 0, 0)
        assert pool.current() is first  # 6 tickers: not yet
        pool.record(first, 4, 4, 0, 0)
        second = pool.current()
        assert second is pool.exits[1]  # 10 tickers: rotated
        pool.record(second, 9, 9, 0, 0)
        assert pool.current() is second
        pool.record(second, 1, 1, 0, 0)
        assert pool.current() is pool.exits[2]
        assert [s["connections"] > 0 for s in socks.stats] == [True, True, True]  # each was probed when chosen
        assert {name: h["ok"] for name, h in pool.health().items()} == {pool.exits[0].name: 10, pool.exits[1].name: 10,
                                                                       pool.exits[2].name: 0}
    finally:
        pool.close()


def test_a_rate_limited_exit_rests_cooldown_s_before_it_is_chosen_again(tmp_path, socks):
    clock = Clock()
    s = _settings(tmp_path / "home", socks, exits__rotate_every=5, exits__cooldown_s=300.0)
    pool = _pool(s, clock)
    pool.exits.pop()  # two exits: after the storm on the first, only the second is ready
    try:
        a = pool.current()
        pool.record(a, 5, 0, 5, 0)  # a 429 storm on a: it rests until now + 300 and the pool moves on at once
        assert a.cooldown_until == clock.now + 300
        b = pool.current()
        assert b is pool.exits[1]
        clock.now += 299
        pool.record(b, 5, 5, 0, 0)  # rotate_every reached, but a is still resting: b stays
        assert pool.current() is b
        clock.now += 2
        pool.record(b, 5, 5, 0, 0)  # a has rested 301 s: back to a
        assert pool.current() is a
        pool.record(a, 5, 0, 5, 0)
        pool.record(b, 5, 0, 5, 0)  # both resting: the one whose rest ends first (a, then b) is used anyway
        b.cooldown_until = a.cooldown_until + 1
        assert pool.current() is a and not pool.vpn_failed
    finally:
        pool.close()


def test_each_run_starts_at_the_exit_after_the_last_one_the_previous_run_chose(tmp_path, socks):
    s = _settings(tmp_path / "home", socks, exits__rotate_every=10)
    names = [e.name for e in build_exits(s)]

    def night(rotations: int) -> list[str]:
        pool = _pool(s)
        try:
            used = [pool.current().name]
            for _ in range(rotations):
                pool.record(pool.current(), 10, 10, 0, 0)
                used.append(pool.current().name)
            return used
        finally:
            pool.close()

    assert night(0) == [names[0]]  # no state yet
    assert json.loads((s.cache_dir / EXIT_STATE).read_text()) == {"next": names[1], "index": 1}
    assert night(0) == [names[1]]
    assert night(2) == [names[2], names[0], names[1]]  # rotation wraps; the next night starts after names[1]
    assert night(0) == [names[2]]

    reordered = _settings(tmp_path / "home", socks, exits__rotate_every=10, exits__proxies=list(reversed(socks.urls)))
    pool = _pool(reordered)  # the list changed: the state names the exit, so its new position is used
    assert pool.current().name == names[0]
    pool.close()

    (s.cache_dir / EXIT_STATE).write_text("{not json")
    assert night(0) == [names[0]]  # unreadable state: from the first exit, with a warning
    assert "exit rotation state unreadable" in (s.logs_dir / "app.jsonl").read_text()


def test_consecutive_fetches_start_on_different_exits(make_sandbox, fetch_home):
    sandbox = make_sandbox(12, exits=3)
    settings, service = fetch_home(sandbox, fetch__batch_size=4, fetch__workers=1)
    insert_universe(sandbox.market)

    def exits_of_last_run() -> set[str]:
        run_id = CronStatus.select().where(CronStatus.job == "fetch").order_by(CronStatus.id.desc()).first().run_id
        return {b.exit_name for b in BatchLatency.select().where(BatchLatency.run_id == run_id)}

    used = []
    for _night in range(3):
        assert run_fetch(settings, service.db, full=True) == 0
        used.append(exits_of_last_run())
    assert all(len(u) == 1 for u in used)  # 12 tickers: no rotation within a run
    assert len(set.union(*used)) == 3, used  # but each night starts on the next exit
