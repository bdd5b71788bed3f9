"""Refetch and recheck end to end through the sandbox (SQLite and PostgreSQL): `qa --symbols` writes and prunes only
its symbols' failures; the `recheck` job refetches, re-runs QA and closes what the refetch fixed ('refetch', run
id) while noting what still fails; a hostile, unknown or oversized symbol list is refused before anything is asked."""

from __future__ import annotations

import datetime as dt
import functools
import os
from typing import Any

import pytest

from praf_engine.db.models import CronStatus, JobRequest, QAFailure, QASummary, SchedulerBeat
from praf_engine.errors import PipelineError
from praf_engine.jobs.runner import HOST, JobRunner
from praf_engine.lake import Lake
from praf_engine.logs import new_run_id
from praf_engine.qa.recheck import MAX_SYMBOLS, STILL_FAILS, check_symbols, recheck_job
from praf_engine.qa.runner import run_qa
from praf_engine.sandbox.faults import FaultConfig
from praf_engine.sandbox.wiring import sandbox_wiring
from tests.engine.fetch.conftest import insert_universe, run_fetch

CHECK = "ohlc_sanity"


def _set_bar(lake: Lake, symbol: str, day: dt.date, *, broken: bool) -> None:
    """The bar of ``day``: its high below its low (an ohlc_sanity failure), or put right again."""
    frame = lake.read_symbol(symbol).to_pandas()
    at = frame["date"].astype("datetime64[ns]") == dt.datetime.combine(day, dt.time())
    assert at.sum() == 1
    low = float(frame.loc[at, "low"].iloc[0])
    frame.loc[at, "high"] = low * 0.5 if broken else max(float(frame.loc[at, c].iloc[0]) for c in ("open", "close", "low")) * 1.01
    lake.write(symbol, frame[["date", "open", "high", "low", "close", "adj_close", "volume"]])


def _ohlc_rows() -> dict[str, QAFailure]:
    return {r.symbol: r for r in QAFailure.select().where(QAFailure.check_name == CHECK)}


@pytest.fixture
def night(make_sandbox: Any, fetch_home: Any) -> dict[str, Any]:
    """A fetched home, three symbols of one exchange with a broken bar on the as-of date, and the night's QA."""
    sandbox = make_sandbox(16)
    settings, service = fetch_home(sandbox)
    insert_universe(sandbox.market)
    assert run_fetch(settings, service.db) == 0
    lake = Lake(settings.lake_dir, fsync=False)
    nasdaq = [x.symbol for x in sandbox.market.universe() if x.exchange_code == "nasdaq"]
    day = max(d for d in (lake.last_date(s) for s in nasdaq) if d is not None)
    picked = [s for s in nasdaq if lake.last_date(s) == day][:3]
    assert len(picked) == 3
    for sym in picked:
        _set_bar(lake, sym, day, broken=True)
    run_qa(settings, service.db, day, run_id="night", lake=lake)
    assert set(picked) <= set(_ohlc_rows())
    return {"sandbox": sandbox, "settings": settings, "service": service, "lake": lake, "day": day, "picked": picked}


def test_qa_symbols_writes_and_prunes_only_its_symbols(night: dict[str, Any]) -> None:
    a, b, c = night["picked"]
    lake, day, settings = night["lake"], night["day"], night["settings"]
    summary = {r.check_name: (r.fail_count, r.run_id) for r in QASummary.select().where(QASummary.date == day)}
    for sym in (a, b):
        _set_bar(lake, sym, day, broken=False)  # both put right in the lake; only a is rechecked
    run_qa(settings, night["service"].db, day, run_id="only-a-c", lake=lake, symbols=[a, c])
    rows = _ohlc_rows()
    assert a not in rows  # no longer fails, untriaged: removed
    assert rows[b].run_id == "night"  # no longer fails either, but not asked about: untouched
    assert rows[c].run_id == "only-a-c"  # still fails: rewritten by the run
    assert {r.check_name: (r.fail_count, r.run_id) for r in QASummary.select().where(QASummary.date == day)} == summary
    assert QAFailure.select().where(QAFailure.run_id == "only-a-c", QAFailure.symbol.not_in([a, c])).count() == 0


def test_recheck_closes_what_the_refetch_fixed_and_notes_what_still_fails(night: dict[str, Any]) -> None:
    fixed, still, other = night["picked"]
    settings, service, day = night["settings"], night["service"], night["day"]
    QAFailure.update(note="looked at it").where(QAFailure.symbol == still, QAFailure.check_name == CHECK).execute()
    night["sandbox"].market.faults = FaultConfig(targets={"empty": [still]})  # its refetch brings nothing: still broken
    run_id = new_run_id()
    job = functools.partial(recheck_job, symbols=[fixed.lower(), still], full=True, as_of=day.isoformat())
    assert JobRunner(sandbox_wiring(settings, db=service.db)).run("recheck", job, run_id=run_id) == 0
    rows = _ohlc_rows()
    done = rows[fixed]
    assert (done.resolved, done.resolution, done.resolved_run_id, done.resolved_by) == (True, "refetch", run_id, "refetch")
    assert done.resolved_at is not None
    kept = rows[still]
    assert not kept.resolved and kept.resolution is None and kept.run_id == run_id
    assert kept.note == "looked at it\n" + STILL_FAILS.format(run_id=run_id)
    untouched = rows[other]
    assert (untouched.resolved, untouched.note, untouched.run_id) == (False, None, "night")
    detail = CronStatus.get(CronStatus.run_id == run_id).detail
    assert detail["closed"] >= 1 and detail["still_open"] >= 1 and detail["fetch_exit"] == 0
    assert detail["symbols"] == [fixed, still] and detail["as_of"] == day.isoformat()


def _beat(service: Any) -> None:
    now = service.wiring.clock()
    SchedulerBeat.create(name="scheduler", pid=os.getpid(), host=HOST, version="test", mode="daemon",
                         started_at=now - dt.timedelta(hours=1), beat_at=now, next_runs={})


HOSTILE = [["AAPL; rm -rf /"], ["../../etc/passwd"], ["NOPE-NOT-LISTED"], [], "AAPL", ["ÄPPL"], ["A" * 40], [7], None,
           ["AAA"] * (MAX_SYMBOLS + 1)]


def test_a_hostile_unknown_or_oversized_list_is_refused_and_nothing_is_requested(night: dict[str, Any]) -> None:
    service = night["service"]
    _beat(service)
    for symbols in HOSTILE:
        with pytest.raises(PipelineError) as exc:
            service.recheck_symbols(symbols)
        assert exc.value.error_code == "JOBOPTION", symbols
        with pytest.raises(PipelineError) as exc:
            service.request_job("recheck", {"symbols": symbols})
        assert exc.value.error_code == "JOBOPTION", symbols
    assert JobRequest.select().count() == 0
    with pytest.raises(PipelineError) as exc:  # `qa --symbols`: the same rules, the fetch's code
        check_symbols(["A B"], code="CONFIGBAD")
    assert exc.value.error_code == "CONFIGBAD"
    assert check_symbols([night["picked"][0].lower()], code="CONFIGBAD") == [night["picked"][0]]


def test_a_good_request_is_one_recheck_request_with_canonical_options(night: dict[str, Any]) -> None:
    service, day, (a, b, _c) = night["service"], night["day"], night["picked"]
    _beat(service)
    info = service.recheck_symbols([a.lower(), b, a], full=True, as_of=day)
    assert (info.job, info.status, info.route) == ("recheck", "pending", "scheduler")
    assert info.options == {"symbols": [a, b], "full": True, "as_of": day.isoformat()}
    for bad in ({}, {"symbols": [a], "full": "yes"}, {"symbols": [a], "as_of": "tomorrow"}, {"symbols": [a], "force": True}):
        with pytest.raises(PipelineError) as exc:
            service.request_job("recheck", bad)
        assert exc.value.error_code == "JOBOPTION"
    assert JobRequest.select().count() == 1

