"""The triage read model through EngineService: the failures list (filters, paging, sorting), its filter choices,
triage of one or many failures (one path, all or nothing), the CSV export of a view.
Every test runs on SQLite and on PostgreSQL (the ``backend`` fixture behind ``service``)."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from praf_engine.config import Settings
from praf_engine.db.models import QACheck, QAFailure, Ticker
from praf_engine.errors import PipelineError
from praf_engine.readmodels.triage import EXPORT_COLUMNS
from tests.engine.readmodels.conftest import AS_OF

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


# On a QA run's failures ------------------------------------------------------------------------------------------
def test_failures_filters_and_paging(home: Settings, service: Any) -> None:
    page = service.failures(check="missing_dates", limit=2)
    assert page.total == 6 and len(page.rows) == 2 and [r.symbol for r in page.rows] == ["G0", "G1"]
    assert [r.symbol for r in service.failures(check="missing_dates", offset=4, limit=5).rows] == ["G4", "G5"]
    assert service.failures(exchange="arca").total == 1
    assert service.failures(symbol="jmp").rows[0].symbol == "JMP.L"
    assert service.failures(severity="critical").total == 3  # the jump and two lags (25 % of the universe)
    assert service.failures(date=AS_OF - dt.timedelta(days=1)).total == 0


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"limit": 0}, "paging out of range"), ({"offset": -1}, "paging out of range"), ({"check": "jumps"}, "unknown check"),
])
def test_bad_failure_queries_are_refused(home: Settings, service: Any, kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(PipelineError, match=fragment) as err:
        service.failures(**kwargs)
    assert err.value.error_code == "QATRIAGE"


def test_triage_resolve_false_positive_reopen(home: Settings, service: Any) -> None:
    target = service.failures(check="price_jump").rows[0]
    done = service.resolve_failure(target.id, "split not in the feed yet", "bob")
    assert (done.resolved, done.resolution, done.note, done.resolved_by) == (True, "resolved", "split not in the feed yet", "bob")
    assert done.resolved_at is not None
    assert service.failures(resolved=False, check="price_jump").total == 0
    fp = service.resolve_failure(target.id, None, "carol", false_positive=True)
    assert fp.resolution == "false_positive" and fp.note == "split not in the feed yet"
    assert service.summary(AS_OF).price_jumps == 0  # false positives leave the KPI
    back = service.reopen_failure(target.id, "not a split after all", "dave")
    assert (back.resolved, back.resolution, back.resolved_at, back.note) == (False, None, None, "not a split after all")


def test_triage_of_an_unknown_failure_is_refused(home: Settings, service: Any) -> None:
    with pytest.raises(PipelineError, match="no QA failure with id 999999") as err:
        service.resolve_failure(999999, "x", "bob")
    assert err.value.error_code == "QATRIAGE" and err.value.detail == {"missing": [999999]}
    with pytest.raises(PipelineError, match="needs the name"):
        service.reopen_failure(QAFailure.select().first().id, "x", " ")
