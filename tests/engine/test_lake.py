"""The Parquet lake's storage: layout and schema, merge, hostile symbols, corrupt partitions, atomic writes under disk
failures, readers (pyarrow, DuckDB), write_many and concurrent writers (the type rules: test_lake_frames.py)."""

from __future__ import annotations

import errno
import math
import os
import tempfile
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from praf_engine.errors import PipelineError
from praf_engine.lake import LAKE_SCHEMA, PRICE_COLUMNS, Lake, WriteResult
from tests.engine.conftest import all_files, bars, part

D = Decimal


# ------------------------------------------------------------------------------------------ round trip
def test_round_trip_file_layout_schema_and_types(lake: Lake, root: Path) -> None:
    ts = datetime(2024, 3, 5, 22, 15, 1, 123456, tzinfo=UTC)
    res = lake.write("aapl", bars(["2024-03-01", "2024-03-04"]), source_ts=ts)
    assert res == WriteResult(symbol="AAPL", rows_in=2, rows_written=2, years=[2024])
    f = part(root, "AAPL", 2024)
    assert all_files(root) == [f]
    assert pq.read_schema(f).equals(LAKE_SCHEMA)  # no symbol/year columns inside the file
    meta = pq.ParquetFile(f).metadata
    assert {meta.row_group(0).column(i).compression for i in range(meta.num_columns)} == {"ZSTD"}
    provider_encodings = meta.row_group(0).column(LAKE_SCHEMA.get_field_index("provider")).encodings
    assert any("DICTIONARY" in e for e in provider_encodings)
    t = lake.read_symbol("AAPL")
    assert t.schema.equals(LAKE_SCHEMA)
    row = t.to_pylist()[1]
    assert row == {
        "date": date(2024, 3, 4), "open": D("11.000000"), "high": D("12.000000"), "low": D("10.000000"),
        "close": D("11.500000"), "adj_close": D("11.250000"), "volume": 1000,
        "source_ts": datetime(2024, 3, 5, 22, 15, 1, 123000, tzinfo=UTC), "provider": "yfinance",
    }


def test_defaults_source_ts_now_and_provider_and_explicit_columns(lake: Lake) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    lake.write("MSFT", bars(["2024-01-02"]))
    got = lake.read_symbol("MSFT").to_pylist()[0]
    assert before <= got["source_ts"] <= datetime.now(UTC) and got["provider"] == "yfinance"
    stamp = pd.Timestamp("2024-01-03 12:00", tz="Europe/Paris")
    lake.write("MSFT", bars(["2024-01-03"], source_ts=[stamp], provider=["stooq"]), provider="other")
    got = lake.read_symbol("MSFT").to_pylist()[1]
    assert got["source_ts"] == datetime(2024, 1, 3, 11, 0, tzinfo=UTC)  # converted to UTC
    assert got["provider"] == "stooq"
    lake.write("MSFT", bars(["2024-01-04"]), provider="stooq-bulk")
    assert lake.read_symbol("MSFT")["provider"].to_pylist()[-1] == "stooq-bulk"


def test_accepts_datetimeindex_date_objects_arrow_tables_and_tz_aware_local_dates(lake: Lake) -> None:
    frame = bars(["2024-02-01", "2024-02-02"]).set_index("date")
    assert lake.write("IDX", frame).rows_written == 2
    assert lake.read_symbol("IDX")["date"].to_pylist() == [date(2024, 2, 1), date(2024, 2, 2)]

    objs = bars(["2024-02-05"])
    objs["date"] = [date(2024, 2, 5)]
    assert lake.write("OBJ", objs).rows_written == 1

    # 00:30 in Tokyo on 1 March is still 29 February in UTC: the exchange's calendar date is kept
    tz = bars(["2024-03-01"])
    tz["date"] = pd.DatetimeIndex([pd.Timestamp("2024-03-01 00:30", tz="Asia/Tokyo")])
    lake.write("7203.T", tz)
    assert lake.read_symbol("7203.T")["date"].to_pylist() == [date(2024, 3, 1)]

    table = pa.table({
        "date": pa.array([date(2024, 4, 1)], pa.date32()),
        **{c: pa.array([D("1.5")], pa.decimal128(10, 2)) for c in PRICE_COLUMNS},
        "volume": pa.array([7], pa.int32()),
    })
    assert lake.write("ARW", table).rows_written == 1
    got = lake.read_symbol("ARW").to_pylist()[0]
    assert got["open"] == D("1.500000") and got["volume"] == 7


# --------------------------------------------------------------------------------------------- merge
def test_merge_newer_rows_win_no_duplicates_sorted(lake: Lake) -> None:
    lake.write("AAPL", bars(["2024-01-02", "2024-01-03", "2024-01-04"], price=10))
    res = lake.write("AAPL", bars(["2024-01-05", "2024-01-03"], price=50))
    assert res.rows_written == 2 and res.duplicates_dropped == 0
    t = lake.read_symbol("AAPL")
    assert t["date"].to_pylist() == [date(2024, 1, d) for d in (2, 3, 4, 5)]
    assert t["open"].to_pylist() == [D(10), D(51), D(12), D(50)]  # 3 Jan now from the newer write


def test_year_boundary_two_partitions_and_untouched_year_keeps_bytes_and_mtime(lake: Lake, root: Path) -> None:
    res = lake.write("AAPL", bars(["2023-12-29", "2023-12-31", "2024-01-02"]))
    assert res.years == [2023, 2024]
    y23, y24 = part(root, "AAPL", 2023), part(root, "AAPL", 2024)
    assert pq.read_table(y23)["date"].to_pylist() == [date(2023, 12, 29), date(2023, 12, 31)]
    assert pq.read_table(y24)["date"].to_pylist() == [date(2024, 1, 2)]
    os.utime(y23, ns=(1_000_000_000, 1_000_000_000))  # an old mtime: any rewrite would change it
    before = (y23.read_bytes(), y23.stat().st_mtime_ns, y23.stat().st_ino)
    res = lake.write("AAPL", bars(["2024-01-03"]))
    assert res.years == [2024]
    assert (y23.read_bytes(), y23.stat().st_mtime_ns, y23.stat().st_ino) == before
    assert len(lake.read_symbol("AAPL")) == 4


# ---------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("sym", ["../x", "a/b", "", "\x00A", "A" * 100, "..", "/etc", "A B", "symbol=A", 42])
def test_hostile_symbols_raise_scrapebad_and_create_nothing(tmp_path: Path, sym) -> None:
    root = tmp_path / "lake"
    lake = Lake(root)
    for call in (lambda: lake.write(sym, bars(["2024-01-02"])), lambda: lake.read_symbol(sym),
                 lambda: lake.last_date(sym), lambda: lake.read_window(date(2024, 1, 1), date(2024, 2, 1), [sym])):
        with pytest.raises(PipelineError) as ei:
            call()
        assert ei.value.error_code == "SCRAPEBAD"
    assert list(tmp_path.iterdir()) == []  # neither the lake nor anything beside it was created


def test_corrupt_partition_raises_lakecorrupt_and_is_left_untouched(lake: Lake, root: Path) -> None:
    lake.write("AAPL", bars(["2024-01-02"]))
    f = part(root, "AAPL", 2024)
    f.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(PipelineError) as ei:
        lake.write("AAPL", bars(["2024-01-03", "2025-01-02"]))
    assert ei.value.error_code == "LAKECORRUPT"
    assert f.read_bytes() == b"PAR1 this is not parquet"
    assert not part(root, "AAPL", 2025).exists()  # all touched partitions are read before any write
    with pytest.raises(PipelineError) as ei:
        lake.read_symbol("AAPL")
    assert ei.value.error_code == "LAKECORRUPT"
    f.unlink()  # restored (here: dropped); the failed write must not have kept the symbol locked
    assert finishes(lambda: lake.write("AAPL", bars(["2024-01-03"]))).rows_written == 1


def finishes(call, timeout: float = 20.0):
    """Run ``call`` in a thread; fail instead of hanging if it deadlocks."""
    box: list = []
    t = threading.Thread(target=lambda: box.append(call()), daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), "deadlock: the call did not finish"
    return box[0]


# ------------------------------------------------------------------------------------- disk failures
def test_enospc_during_write_raises_lakeio_and_keeps_previous_file(lake: Lake, root: Path, monkeypatch) -> None:
    lake.write("AAPL", bars(["2024-01-02", "2024-01-03"]))
    f = part(root, "AAPL", 2024)
    before = f.read_bytes()
    real_write = os.write

    def full_disk(fd: int, data) -> int:
        real_write(fd, bytes(data)[: len(data) // 2])  # half lands, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(PipelineError) as ei:
        lake.write("AAPL", bars(["2024-01-04"]))
    monkeypatch.undo()
    assert ei.value.error_code == "LAKEIO" and ei.value.detail["errno"] == errno.ENOSPC
    assert f.read_bytes() == before
    assert all_files(root) == [f]  # the temp file was removed
    assert len(lake.read_symbol("AAPL")) == 2
    assert finishes(lambda: lake.write("AAPL", bars(["2024-01-04"]))).rows_written == 1  # lock released


def test_write_many_stops_on_lakeio_and_leaves_old_files(lake: Lake, root: Path, monkeypatch) -> None:
    syms = [f"S{i}" for i in range(30)]
    lake.write_many({s: bars(["2024-01-02"]) for s in syms})
    before = {s: part(root, s, 2024).read_bytes() for s in syms}

    def full_disk(fd: int, data) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(PipelineError) as ei:
        lake.write_many({s: bars(["2024-01-03"]) for s in syms})
    monkeypatch.undo()
    detail = ei.value.detail
    assert ei.value.error_code == "LAKEIO" and detail["results"] == {}
    assert {e["error_code"] for e in detail["failed"].values()} == {"LAKEIO"}
    assert len(detail["failed"]) + len(detail["not_attempted"]) == len(syms)
    assert {s: part(root, s, 2024).read_bytes() for s in syms} == before
    assert not list(root.rglob(".*.tmp"))
    out = finishes(lambda: lake.write_many({s: bars(["2024-01-03"]) for s in syms}))
    assert sum(r.rows_written for r in out.values()) == len(syms)


def test_fsync_failure_raises_lakeio_and_keeps_previous_file(lake: Lake, root: Path, monkeypatch) -> None:
    lake.write("AAPL", bars(["2024-01-02"]))
    before = part(root, "AAPL", 2024).read_bytes()

    def eio(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", eio)
    with pytest.raises(PipelineError) as ei:
        lake.write("AAPL", bars(["2024-01-03"]))
    monkeypatch.undo()
    assert ei.value.error_code == "LAKEIO"
    assert part(root, "AAPL", 2024).read_bytes() == before and all_files(root) == [part(root, "AAPL", 2024)]


# ------------------------------------------------------------------------------------------- readers
@pytest.fixture
def filled(lake: Lake) -> Lake:
    for i, sym in enumerate(["AAPL", "BRK-B", "^GSPC"]):
        lake.write(sym, bars(pd.bdate_range("2023-12-25", "2024-01-05"), price=10 * (i + 1)))
    return lake


def test_read_symbol_date_range_and_columns(filled: Lake) -> None:
    t = filled.read_symbol("brk-b", start=date(2023, 12, 29), end=date(2024, 1, 2))
    assert t["date"].to_pylist() == [date(2023, 12, 29), date(2024, 1, 1), date(2024, 1, 2)]
    assert filled.read_symbol("AAPL", start=date(2024, 1, 4))["date"].to_pylist() == [date(2024, 1, 4),
                                                                                       date(2024, 1, 5)]
    assert len(filled.read_symbol("AAPL", end=date(2023, 12, 31))) == 5
    c = filled.read_symbol("AAPL", start=date(2024, 1, 5), columns=["close"])
    assert c.schema.names == ["close"] and c["close"].to_pylist() == [D("19.500000")]
    assert filled.read_symbol("NOPE").schema.equals(LAKE_SCHEMA) and len(filled.read_symbol("NOPE")) == 0
    with pytest.raises(PipelineError) as ei:
        filled.read_symbol("AAPL", columns=["close", "bogus"])
    assert ei.value.error_code == "LAKESCHEMA"


def test_read_window_across_symbols_and_years(filled: Lake) -> None:
    t = filled.read_window(date(2023, 12, 29), date(2024, 1, 2))
    assert t.schema.names == ["symbol", *LAKE_SCHEMA.names] and t.schema.field("symbol").type == pa.string()
    assert t["symbol"].to_pylist() == ["AAPL"] * 3 + ["BRK-B"] * 3 + ["^GSPC"] * 3
    assert t["date"].to_pylist()[:3] == [date(2023, 12, 29), date(2024, 1, 1), date(2024, 1, 2)]
    some = filled.read_window(date(2024, 1, 1), date(2024, 12, 31), symbols=["brk-b", "^GSPC", "ZZZ"],
                              columns=["date", "close"])
    assert some.schema.names == ["symbol", "date", "close"]
    assert sorted(set(some["symbol"].to_pylist())) == ["BRK-B", "^GSPC"] and len(some) == 10
    assert len(filled.read_window(date(2020, 1, 1), date(2020, 12, 31))) == 0
    assert len(Lake(filled.root / "missing").read_window(date(2020, 1, 1), date(2030, 1, 1))) == 0


def test_symbols_last_date_and_glob(filled: Lake, root: Path) -> None:
    assert filled.symbols() == ["AAPL", "BRK-B", "^GSPC"]
    assert filled.last_date("aapl") == date(2024, 1, 5) and filled.last_date("NOPE") is None
    assert filled.parquet_glob() == f"{os.path.abspath(root)}/*/*/*.parquet"
    assert Lake(root / "nothing").symbols() == []


def test_duckdb_reads_the_lake_unchanged(filled: Lake) -> None:
    glob = filled.parquet_glob()
    src = f"read_parquet('{glob}', hive_partitioning=true, hive_types={{'symbol': VARCHAR, 'year': INTEGER}})"
    counts = duckdb.sql(f"select symbol, count(*) from {src} group by 1 order by 1").fetchall()
    assert counts == [("AAPL", 10), ("BRK-B", 10), ("^GSPC", 10)]
    rel = duckdb.sql(f"select * from {src} where symbol = 'AAPL' and year = 2024 order by date")
    types = dict(zip(rel.columns, [str(t) for t in rel.types], strict=True))
    assert types["close"] == "DECIMAL(18,6)" and types["year"] == "INTEGER" and types["date"] == "DATE"
    assert types["source_ts"] == "TIMESTAMP WITH TIME ZONE"
    rows = rel.fetchall()
    assert len(rows) == 5 and rows[-1][rel.columns.index("close")] == D("19.500000")


def test_reading_some_symbols_sees_the_files_a_whole_read_sees(filled: Lake) -> None:
    """A second writer's file beside part-000.parquet (as the sandbox leaves a duplicated bar) is read by a read of
    named symbols as by a read of the whole lake: QA reads the lake in chunks of symbols and must see the same rows."""
    import shutil

    import pyarrow.compute as pc

    path = filled.partition("AAPL", 2024)
    shutil.copy(path, path.with_name("part-duplicate.parquet"))
    whole = filled.read_window(date(2024, 1, 1), date(2024, 1, 31))
    named = filled.read_window(date(2024, 1, 1), date(2024, 1, 31), symbols=["AAPL"])
    assert len(named) == 10 and named.equals(whole.filter(pc.equal(whole["symbol"], "AAPL")))


def test_temp_files_are_invisible_and_removed_by_cleanup(filled: Lake, root: Path) -> None:
    d = part(root, "AAPL", 2024).parent
    stale = d / ".part-000.parquet.999.deadbeef.tmp"
    stale.write_bytes(b"half a parquet file")
    fresh = d / ".part-000.parquet.998.cafe.tmp"
    fresh.write_bytes(b"a writer is busy with this one")
    old = datetime.now().timestamp() - 7200
    os.utime(stale, (old, old))
    assert len(filled.read_window(date(2024, 1, 1), date(2024, 1, 31))) == 15
    assert len(filled.read_window(date(2024, 1, 1), date(2024, 1, 31), symbols=["AAPL"])) == 5
    glob = filled.parquet_glob()
    assert duckdb.sql(f"select count(*) from read_parquet('{glob}')").fetchall() == [(30,)]
    assert filled.cleanup_temp() == 1
    assert not stale.exists() and fresh.exists()
    assert filled.cleanup_temp(older_than_s=0) == 1 and not fresh.exists()


# --------------------------------------------------------------------------------------- write_many
def test_write_many_returns_results_per_key(lake: Lake) -> None:
    out = lake.write_many({"AAPL": bars(["2024-01-02"]), "msft": bars(["2024-01-02", "2024-01-03"])},
                          provider="test")
    assert list(out) == ["AAPL", "msft"] and out["msft"].symbol == "MSFT" and out["msft"].rows_written == 2
    assert lake.read_symbol("MSFT")["provider"].to_pylist() == ["test", "test"]


def test_write_many_reports_failures_after_writing_the_others(lake: Lake) -> None:
    bad = bars(["2024-01-02"])
    bad["close"] = ["oops"]
    frames = {"AAPL": bars(["2024-01-02"]), "../X": bars(["2024-01-02"]), "BAD": bad, "MSFT": bars(["2024-01-02"])}
    with pytest.raises(PipelineError) as ei:
        lake.write_many(frames)
    detail = ei.value.detail
    assert set(detail["failed"]) == {"../X", "BAD"} and set(detail["results"]) == {"AAPL", "MSFT"}
    assert detail["failed"]["BAD"]["error_code"] == "LAKETYPE" and detail["not_attempted"] == []
    assert lake.symbols() == ["AAPL", "MSFT"]


def test_write_many_same_symbol_under_two_keys_keeps_order(lake: Lake) -> None:
    out = lake.write_many({"aapl": bars(["2024-01-02"], price=1), "AAPL": bars(["2024-01-02"], price=2)})
    assert len(out) == 2 and lake.read_symbol("AAPL")["open"].to_pylist() == [D(2)]


def test_concurrent_writers_of_one_symbol_lose_no_update(root: Path) -> None:
    lake = Lake(root, fsync=False)
    days = pd.bdate_range("2024-01-01", periods=120)
    errors: list[BaseException] = []

    def writer(offset: int) -> None:
        try:
            for i in range(offset, len(days), 4):
                lake.write("SAME", bars([days[i]]))
                lake.write(f"OTHER{offset}", bars([days[i]]))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert lake.read_symbol("SAME")["date"].to_pylist() == [d.date() for d in days]
    assert sum(len(lake.read_symbol(f"OTHER{k}")) for k in range(4)) == 120


# --------------------------------------------------------------------------------------- property
_BASE = date(2022, 12, 20)
_row = st.tuples(st.integers(0, 800), st.integers(-(10**18) + 1, 10**18 - 1), st.one_of(st.none(), st.integers(0, 10**12)))


def _frame(kind: str, rows: list[tuple[int, int, int | None]]):
    dates = [_BASE + timedelta(days=d) for d, _, _ in rows]
    if kind == "float":  # k/100 with |k| <= 1e9 is recovered exactly by the 6-place rounding
        prices = [(k % 2_000_000_001 - 1_000_000_000) / 100 for _, k, _ in rows]
        cols = {c: (prices if c != "low" else [-p for p in prices]) for c in PRICE_COLUMNS}
        vol = [np.nan if v is None else float(v) for _, _, v in rows]
        return pd.DataFrame({"date": pd.to_datetime(dates), **cols, "volume": vol})
    decs = [D(k).scaleb(-6) for _, k, _ in rows]
    cols = {c: (decs if c != "low" else [-p for p in decs]) for c in PRICE_COLUMNS}
    if kind == "arrow":
        return pa.table({"date": pa.array(dates, pa.date32()),
                         **{c: pa.array(v, pa.decimal128(18, 6)) for c, v in cols.items()},
                         "volume": pa.array([v for _, _, v in rows], pa.int64())})
    return pd.DataFrame({"date": dates, **{c: pd.Series(v, dtype=object) for c, v in cols.items()},
                         "volume": pd.Series([v for _, _, v in rows], dtype=object)})


def _expected(kind: str, row: tuple[int, int, int | None]) -> tuple:
    _, k, v = row
    p = D(k % 2_000_000_001 - 1_000_000_000).scaleb(-2) if kind == "float" else D(k).scaleb(-6)
    return p.quantize(D("0.000001")), -p.quantize(D("0.000001")), v


@settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["float", "decimal", "arrow"]), st.lists(_row, max_size=12)),
                min_size=1, max_size=6))
def test_property_reads_equal_a_model_where_later_writes_win(writes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        lake = Lake(Path(tmp), fsync=False)
        model: dict[date, tuple] = {}
        for kind, rows in writes:
            res = lake.write("PROP", _frame(kind, rows))
            unique = {d for d, _, _ in rows}
            assert (res.rows_in, res.rows_written, res.rejected_rows) == (len(rows), len(unique), 0)
            assert res.duplicates_dropped == len(rows) - len(unique)
            assert res.years == sorted({(_BASE + timedelta(days=d)).year for d in unique})
            for row in rows:
                model[_BASE + timedelta(days=row[0])] = _expected(kind, row)
        t = lake.read_symbol("PROP")
        got = {r["date"]: (r["close"], r["low"], r["volume"]) for r in t.to_pylist()}
        assert t["date"].to_pylist() == sorted(model)
        assert got == model
        for c in PRICE_COLUMNS:
            assert all(v is None or math.isfinite(v) for v in t[c].to_pylist())
