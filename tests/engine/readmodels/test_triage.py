"""The engine's read/write API for the dashboard beyond the QA panels (praf_engine.views through EngineService):
one symbol's page, the failure filter choices, bulk triage, the CSV export, failure sorting and the job list.
Every test runs on SQLite and on PostgreSQL (the ``backend`` fixture behind ``service``)."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from praf_engine.db.models import (
    CorporateAction,
    CronStatus,
    DLQSymbol,
    FetchError,
    QACheck,
    QAFailure,
    Ticker,
    TickerFetchMeta,
)
from praf_engine.errors import PipelineError
from praf_engine.lake import Lake
from praf_engine.views import EXPORT_COLUMNS
from tests.engine.qa.helpers import frame, session_dates

DAY = dt.date(2025, 6, 6)


def _ticker(symbol: str, exchange: str = "nasdaq", **kw: Any) -> None:
    values = {"exchange_code": exchange, "mic": "XNYS", "currency": "USD", "name": f"{symbol} Corp",
              "first_seen": dt.date(2020, 1, 2), "last_seen": DAY, "status": "active", **kw}
    Ticker.create(symbol=symbol, **values)


def _failure(symbol: str, check: str = "lag_check", day: dt.date = DAY, severity: str = "warning", **kw: Any) -> int:
    return QAFailure.create(symbol=symbol, check_name=check, date=day, severity=severity, details={"n": 1}, **kw).id


def _row(failure_id: int) -> QAFailure:
    return QAFailure.get_by_id(failure_id)


def _state(ids: list[int]) -> list[tuple[Any, ...]]:
    rows = QAFailure.select().where(QAFailure.id.in_(ids)).order_by(QAFailure.id)
    return [(r.id, r.resolved, r.resolution, r.note, r.resolved_by, r.resolved_at) for r in rows]


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """An empty folder for exports (tmp_path also holds the data home)."""
    folder = tmp_path / "exports"
    folder.mkdir()
    return folder


def _code(exc: pytest.ExceptionInfo[PipelineError]) -> str:
    return exc.value.error_code


# Bad input first ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("symbol", ["../../etc", "..", "A/B", "a b c", "ÄPFEL", "", "   ", "X" * 40, "AAPL;DROP", None, 42])
def test_symbol_detail_refuses_a_malformed_symbol_with_scrapebad(service: Any, symbol: Any) -> None:
    _ticker("AAPL")
    with pytest.raises(PipelineError) as exc:
        service.symbol_detail(symbol)
    assert _code(exc) == "SCRAPEBAD"
    assert not (service.settings.lake_dir.parent / "etc").exists()


def test_symbol_detail_of_an_unknown_symbol_is_symbolunknown(service: Any) -> None:
    _ticker("AAPL")
    with pytest.raises(PipelineError) as exc:
        service.symbol_detail("msft")
    assert _code(exc) == "SYMBOLUNKNOWN" and "MSFT" in exc.value.msg


@pytest.mark.parametrize("days", [0, -5])
def test_symbol_detail_refuses_a_window_below_one_day(service: Any, days: int) -> None:
    _ticker("AAPL")
    with pytest.raises(PipelineError) as exc:
        service.symbol_detail("AAPL", days)
    assert _code(exc) == "CONFIGBAD"


@pytest.mark.parametrize(("action", "who", "ids"), [
    ("delete", "ann", None), ("RESOLVED", "ann", None), ("resolved", "", None), ("resolved", "  ", None),
    ("resolved", "ann", ["x"]), ("resolved", "ann", [1.5]), ("resolved", "ann", [True]), ("resolved", "ann", ["1e3"]), ("resolved", "ann", [None]),
])
def test_triage_refuses_a_bad_request_and_changes_nothing(service: Any, action: str, who: str, ids: list[Any] | None) -> None:
    _ticker("AAPL")
    fid = _failure("AAPL")
    before = _state([fid])
    with pytest.raises(PipelineError) as exc:
        service.triage_failures([fid] + (ids or []), action, "note", who)
    assert _code(exc) == "QATRIAGE"
    assert _state([fid]) == before


def test_triage_with_an_unknown_id_changes_nothing_even_across_chunks(service: Any) -> None:
    ids = [_failure(f"S{i:04d}") for i in range(620)]  # more than one 500-id chunk: the first chunk is updated first
    missing = max(ids) + 1000
    before = _state(ids)
    with pytest.raises(PipelineError) as exc:
        service.triage_failures([*ids, missing], "resolved", "bulk", "ann")
    assert _code(exc) == "QATRIAGE" and str(missing) in exc.value.msg
    assert _state(ids) == before
    assert QAFailure.select().where(QAFailure.resolved == True).count() == 0  # noqa: E712


def test_export_to_a_missing_folder_is_exportio_and_writes_nothing(service: Any, out: Path) -> None:
    _ticker("AAPL")
    _failure("AAPL")
    target = out / "nowhere" / "out.csv"
    with pytest.raises(PipelineError) as exc:
        service.export_failures(target)
    assert _code(exc) == "EXPORTIO"
    assert not target.parent.exists()


def test_export_onto_a_folder_is_exportio_and_leaves_no_temp_file(service: Any, out: Path) -> None:
    _ticker("AAPL")
    _failure("AAPL")
    folder = out / "taken"
    folder.mkdir()
    with pytest.raises(PipelineError) as exc:
        service.export_failures(folder)
    assert _code(exc) == "EXPORTIO"
    assert sorted(p.name for p in out.iterdir()) == ["taken"] and not any(folder.iterdir())


def test_export_with_a_bad_filter_raises_and_leaves_no_file(service: Any, out: Path) -> None:
    _ticker("AAPL")
    _failure("AAPL")
    target = out / "out.csv"
    with pytest.raises(PipelineError) as exc:
        service.export_failures(target, check="no_such_check")
    assert _code(exc) == "QATRIAGE"
    assert list(out.iterdir()) == []


def test_export_keeps_an_existing_file_when_it_fails(service: Any, out: Path) -> None:
    _ticker("AAPL")
    _failure("AAPL")
    target = out / "out.csv"
    target.write_text("previous\n")
    with pytest.raises(PipelineError):
        service.export_failures(target, sort="nope")
    assert target.read_text() == "previous\n" and [p.name for p in out.iterdir()] == ["out.csv"]


@pytest.mark.parametrize("sort", ["nope", "id; DROP TABLE qa_failures", "", "DATE"])
def test_failures_with_an_unknown_sort_is_qatriage(service: Any, sort: str) -> None:
    with pytest.raises(PipelineError) as exc:
        service.failures(sort=sort)
    assert _code(exc) == "QATRIAGE"


@pytest.mark.parametrize("name", ["nope", "", "../retention", "RETENTION"])
def test_run_job_of_an_unknown_job_is_configbad_and_records_nothing(service: Any, name: str) -> None:
    with pytest.raises(PipelineError) as exc:
        service.run_job(name)
    assert _code(exc) == "CONFIGBAD"
    assert CronStatus.select().count() == 0


# Symbol page -------------------------------------------------------------------------------------------------------
@pytest.fixture
def listing(service: Any) -> dict[str, Any]:
    """AAPL with bars from 2023 to DAY (one null adj_close, one null volume), QA rows, actions, fetch state, DLQ."""
    settings = service.settings
    dates = session_dates("XNYS", dt.date(2023, 1, 3), DAY)
    f = frame(dates, [10.0 + i * 0.01 for i in range(len(dates))])
    f.loc[len(f) - 2, "adj_close"] = float("nan")
    f.loc[len(f) - 3, "volume"] = float("nan")
    Lake(settings.lake_dir, fsync=False).write("AAPL", f)
    _ticker("AAPL", name="Apple Inc.", first_seen=dt.date(2019, 3, 1))
    _ticker("MSFT")  # a listing without bars or fetch state
    _ticker("AAPL.L", exchange="ftse", mic="XLON", currency="GBp")  # another symbol's rows must not leak in
    old = _failure("AAPL", "missing_dates", DAY - dt.timedelta(days=3))
    new = _failure("AAPL", "price_jump", DAY, "critical")
    same_day = _failure("AAPL", "zero_volume", DAY)
    _failure("AAPL.L", "price_jump", DAY)
    for day, kind, ratio in ((dt.date(2024, 5, 10), "dividend", 0.24), (dt.date(2020, 8, 31), "split", 4.0)):
        CorporateAction.create(symbol="AAPL", action_date=day, action_type=kind, ratio=ratio)
    CorporateAction.create(symbol="AAPL.L", action_date=dt.date(2024, 6, 1), action_type="split", ratio=2.0)
    TickerFetchMeta.create(symbol="AAPL", last_fetched_date=DAY, consecutive_failures=2, fetch_status="error",
                           last_error_code="YFEMPTY", last_attempt_at=dt.datetime(2025, 6, 6, 2, 0), latency_ms=180.5,
                           last_exit="exit-a")
    DLQSymbol.create(symbol="AAPL", reason="YFEMPTY", failures=3)
    for night, code in ((DAY - dt.timedelta(days=1), "YF429"), (DAY, "YFEMPTY")):
        FetchError.create(run_id="r", night=night, symbol="AAPL", error_code=code, msg=f"{code} happened")
    FetchError.create(run_id="r", night=DAY, symbol="AAPL.L", error_code="YFDELISTED", msg="other")
    return {"dates": dates, "qa": [same_day, new, old]}


def test_symbol_detail_shows_bars_qa_actions_and_fetch_state(service: Any, listing: dict[str, Any]) -> None:
    d = service.symbol_detail(" aapl ", 90)
    assert (d.symbol, d.exchange_code, d.name, d.currency, d.mic, d.status) == ("AAPL", "nasdaq", "Apple Inc.", "USD", "XNYS", "active")
    assert (d.first_seen, d.last_seen) == (dt.date(2019, 3, 1), DAY)
    window = [x for x in listing["dates"] if x >= DAY - dt.timedelta(days=90)]
    assert [b.date for b in d.bars] == window  # oldest first, the last 90 calendar days up to the newest bar
    assert d.bars_total == len(listing["dates"])
    last = d.bars[-1]
    assert last.close == pytest.approx(10.0 + (len(listing["dates"]) - 1) * 0.01) and isinstance(last.close, float)
    assert isinstance(last.volume, int) and last.volume == 1000
    assert d.bars[-2].adj_close is None and d.bars[-2].close is not None
    assert d.bars[-3].volume is None
    assert [r.id for r in d.qa] == listing["qa"]  # newest first, then by id descending
    assert {r.symbol for r in d.qa} == {"AAPL"} and d.qa[1].severity == "critical" and d.qa[1].details == {"n": 1}
    assert [(a.date, a.action_type, a.ratio, a.source) for a in d.actions] == [
        (dt.date(2024, 5, 10), "dividend", 0.24, "yahoo"), (dt.date(2020, 8, 31), "split", 4.0, "yahoo")]
    f = d.fetch
    assert f is not None
    assert (f.last_fetched_date, f.fetch_status, f.consecutive_failures, f.last_error_code, f.latency_ms, f.last_exit) == (
        DAY, "error", 2, "YFEMPTY", 180.5, "exit-a")
    assert (f.in_dlq, f.dlq_reason) == (True, "YFEMPTY")
    assert [e[:2] for e in d.errors] == [(DAY, "YFEMPTY"), (DAY - dt.timedelta(days=1), "YF429")]
    assert d.errors[0][2] == "YFEMPTY happened"


def test_symbol_detail_windows_and_all_history(service: Any, listing: dict[str, Any]) -> None:
    dates = listing["dates"]
    year = service.symbol_detail("AAPL", 365)
    assert year.bars[0].date >= DAY - dt.timedelta(days=365) and year.bars[-1].date == DAY
    assert len(service.symbol_detail("AAPL", 1).bars) == 2  # DAY and the day before when both are sessions
    for days in (None, 10**9):  # everything; a huge window never overflows the calendar
        everything = service.symbol_detail("AAPL", days)
        assert [b.date for b in everything.bars] == dates


def test_symbol_detail_of_a_listing_without_bars_or_fetch_state(service: Any, listing: dict[str, Any]) -> None:
    d = service.symbol_detail("MSFT")
    assert (d.bars, d.bars_total, d.qa, d.actions, d.fetch, d.errors) == ((), 0, (), (), None, ())


def test_symbol_detail_in_dlq_without_fetch_meta(service: Any) -> None:
    _ticker("GONE", status="delisted")
    DLQSymbol.create(symbol="GONE", reason="YFDELISTED", failures=3)
    d = service.symbol_detail("GONE")
    assert d.status == "delisted"
    assert d.fetch is not None and (d.fetch.fetch_status, d.fetch.in_dlq, d.fetch.dlq_reason, d.fetch.last_fetched_date) == (
        "pending", True, "YFDELISTED", None)


# Filters -----------------------------------------------------------------------------------------------------------
def test_failure_filters_list_every_check_with_its_configured_severity(service: Any) -> None:
    from praf_engine.qa import catalog

    _ticker("A1", "nasdaq")
    _ticker("B1", "ftse", mic="XLON")
    _ticker("C1", "dax", mic="XETR")
    _ticker("C2", "dax", mic="XETR")
    QACheck.update(severity="critical").where(QACheck.check_name == "lag_check").execute()
    filters = service.failure_filters()
    assert [name for name, _ in filters.checks] == list(catalog.CHECKS)
    checks = dict(filters.checks)
    assert checks["lag_check"] == "critical"
    assert all(sev in ("critical", "warning", "info") for sev in checks.values())
    assert set(filters.severities) == {"critical", "warning", "info"}
    assert filters.exchanges == ("dax", "ftse", "nasdaq")


# Triage ------------------------------------------------------------------------------------------------------------
def test_triage_resolve_false_positive_and_reopen_in_bulk(service: Any) -> None:
    for s in ("A", "B", "C", "D"):
        _ticker(s)
    a, b, c, d = (_failure(s) for s in ("A", "B", "C", "D"))
    assert service.triage_failures([a, b, b], "resolved", "checked upstream", "ann") == 2  # duplicates count once
    for fid in (a, b):
        r = _row(fid)
        assert (r.resolved, r.resolution, r.note, r.resolved_by) == (True, "resolved", "checked upstream", "ann")
        assert r.resolved_at is not None
    assert (_row(c).resolved, _row(d).resolved) == (False, False)
    assert service.triage_failures([c], "false_positive", None, "bob") == 1
    assert (_row(c).resolution, _row(c).note, _row(c).resolved_by) == ("false_positive", None, "bob")
    # reopen without a note: the resolution and its time go, the note stays
    assert service.triage_failures([a, c], "reopen", None, "cy") == 2
    r = _row(a)
    assert (r.resolved, r.resolution, r.resolved_at, r.note, r.resolved_by) == (False, None, None, "checked upstream", "cy")
    # a note given replaces the old one, an empty note clears it
    service.triage_failures([b], "reopen", "", "cy")
    assert _row(b).note == "" and _row(b).resolution is None
    assert service.triage_failures([], "resolved", None, "ann") == 0
    assert service.triage_failures([f" {d} "], "resolved", None, "ann") == 1  # a table's row key (digits) is an id too
    assert service.failures(resolved=True).total == 1 and service.failures(resolved=False).total == 3


def test_triage_of_many_ids_is_one_transaction(service: Any) -> None:
    ids = [_failure(f"S{i:04d}") for i in range(1100)]
    assert service.triage_failures(ids, "resolved", "bulk", "ann") == 1100
    assert QAFailure.select().where(QAFailure.resolved == True, QAFailure.note == "bulk").count() == 1100  # noqa: E712


# Export ------------------------------------------------------------------------------------------------------------
def test_export_writes_every_row_of_the_filter_across_pages(service: Any, out: Path) -> None:
    _ticker("A")
    rows = [{"symbol": f"S{i:04d}", "check_name": "lag_check", "date": DAY - dt.timedelta(days=i % 3),
             "severity": "warning", "details": {"days": i}} for i in range(2150)]
    rows += [{"symbol": f"S{i:04d}", "check_name": "price_jump", "date": DAY, "severity": "critical",
              "details": {}} for i in range(7)]
    with service.db.atomic():
        for start in range(0, len(rows), 200):
            QAFailure.insert_many(rows[start:start + 200]).execute()
    QAFailure.update(resolved=True, resolution="resolved", note='said "ok", twice\nreally', resolved_by="ann",
                     resolved_at=dt.datetime(2025, 6, 7, 9, 30)).where(QAFailure.symbol == "S0003",
                                                                       QAFailure.check_name == "lag_check").execute()
    target = out / "lag.csv"
    assert service.export_failures(target, check="lag_check") == 2150
    with target.open(newline="", encoding="utf-8") as fh:
        got = list(csv.reader(fh))
    assert tuple(got[0]) == EXPORT_COLUMNS == ("id", "symbol", "date", "check_name", "severity", "resolved", "resolution",
                                               "note", "resolved_by", "resolved_at", "details")
    body = [dict(zip(got[0], line, strict=True)) for line in got[1:]]
    assert len(body) == 2150 and len({r["id"] for r in body}) == 2150
    assert {r["check_name"] for r in body} == {"lag_check"}
    dates = [r["date"] for r in body]
    assert dates == sorted(dates, reverse=True)  # the list's default order: newest first
    s3 = next(r for r in body if r["symbol"] == "S0003")
    assert (s3["resolved"], s3["resolution"], s3["note"], s3["resolved_by"]) == ("1", "resolved", 'said "ok", twice\nreally', "ann")
    assert s3["resolved_at"].startswith("2025-06-07T09:30") and s3["details"] == '{"days": 3}'
    assert [p.name for p in out.iterdir()] == ["lag.csv"]  # atomic: no temp file left
    # an empty filter writes the header only; a second export replaces the file
    assert service.export_failures(target, symbol="nothing-matches") == 0
    assert target.read_text() == ",".join(EXPORT_COLUMNS) + "\n"
    assert service.export_failures(target, severity="critical", sort="symbol", descending=False) == 7
    lines = target.read_text().splitlines()[1:]
    assert [line.split(",")[1] for line in lines] == [f"S{i:04d}" for i in range(7)]


# Sorting -----------------------------------------------------------------------------------------------------------
def test_failures_sort_orders(service: Any) -> None:
    _ticker("AAA")
    spec = [("MMM", "lag_check", DAY - dt.timedelta(days=2), "warning"), ("AAA", "price_jump", DAY, "critical"),
            ("ZZZ", "zero_volume", DAY - dt.timedelta(days=1), "info"), ("BBB", "missing_dates", DAY - dt.timedelta(days=3), "warning")]
    for sym, check, day, sev in spec:
        _failure(sym, check, day, sev)

    def order(sort: str, descending: bool) -> list[str]:
        return [r.symbol for r in service.failures(sort=sort, descending=descending).rows]

    assert order("date", True) == ["AAA", "ZZZ", "MMM", "BBB"]
    assert order("date", False) == ["BBB", "MMM", "ZZZ", "AAA"]
    assert order("symbol", False) == ["AAA", "BBB", "MMM", "ZZZ"]
    assert order("symbol", True) == ["ZZZ", "MMM", "BBB", "AAA"]
    assert order("check", False) == ["MMM", "BBB", "AAA", "ZZZ"]  # lag_check, missing_dates, price_jump, zero_volume
    assert order("check", True) == ["ZZZ", "AAA", "BBB", "MMM"]
    by_severity = [r.severity for r in service.failures(sort="severity", descending=False).rows]
    assert by_severity == ["info", "warning", "warning", "critical"]  # by rank, not alphabetically
    # ties on the sort key are broken by date (newest first): both warnings, MMM is newer than BBB
    assert [s for s in order("severity", False) if s in ("MMM", "BBB")] == ["MMM", "BBB"]


# Jobs --------------------------------------------------------------------------------------------------------------
def test_jobs_and_running_retention_from_the_tui(service: Any) -> None:
    from praf_engine.jobs.registry import JOBS

    jobs = service.jobs()
    assert [j.name for j in jobs] == list(JOBS)
    assert all(j.summary and j.last_started is None and j.last_exit_code is None and not j.running for j in jobs)
    run = service.run_job("retention")
    assert (run.job, run.trigger, run.exit_code, run.error_code) == ("retention", "tui", 0, None)
    assert run.finished_at is not None and run.finished_at >= run.started_at
    row = CronStatus.get(CronStatus.run_id == run.run_id)
    assert (row.job, row.trigger, row.exit_code) == ("retention", "tui", 0)
    info = {j.name: j for j in service.jobs()}["retention"]
    assert (info.last_exit_code, info.last_error_code, info.running) == (0, None, False)
    assert info.last_started == run.started_at
    # a run still in flight (no finished_at) shows as running; the newest run wins
    CronStatus.create(job="vacuum", run_id="in-flight", started_at=dt.datetime(2030, 1, 1), trigger="cli")
    assert {j.name: j for j in service.jobs()}["vacuum"].running is True


def test_severity_sorts_by_rank_and_export_ignores_paging(service, tmp_path) -> None:
    import datetime as _dt

    from praf_engine.db.models import QAFailure as _F

    day = _dt.date(2025, 6, 9)
    for i, sev in enumerate(("info", "critical", "warning")):
        _F.create(symbol=f"R{i}", date=day, check_name="price_jump", severity=sev, details={})
    ranked = [r.severity for r in service.failures(sort="severity", descending=True).rows]
    assert ranked == ["critical", "warning", "info"]
    assert service.export_failures(tmp_path / "all.csv", offset=2, limit=1) == 3


def test_the_default_triage_page_reads_the_index_in_order(service) -> None:
    """50,000 open failures page in ~0.1 ms instead of ~7 ms when the default order needs no sort (SQLite plan)."""
    from peewee import SqliteDatabase

    from praf_engine.db.models import QAFailure as _F

    if not isinstance(service.db, SqliteDatabase):
        names = {r[0] for r in service.db.execute_sql("SELECT indexname FROM pg_indexes WHERE tablename = 'qa_failures'").fetchall()}
        assert "qa_failures_triage_order" in names
        return
    query = (_F.select().where(_F.resolved == False)  # noqa: E712 - peewee expression
             .order_by(_F.date.desc(), _F.check_name, _F.symbol, _F.id).limit(100))
    sql, params = query.sql()
    plan = " ".join(str(r) for r in service.db.execute_sql(f"EXPLAIN QUERY PLAN {sql}", params).fetchall())
    assert "qa_failures_triage_order" in plan and "TEMP B-TREE" not in plan
