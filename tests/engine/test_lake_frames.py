"""The lake's type rules on incoming frames (lake_frames.py): exact decimals, rounding, NaN/inf and bad volumes as
nulls, duplicate dates, rejected rows, and LAKETYPE/LAKESCHEMA for frames that cannot be stored (nothing written)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from structlog.testing import capture_logs

from praf_engine import lake_frames
from praf_engine.errors import PipelineError
from praf_engine.lake import PRICE_COLUMNS, Lake
from tests.engine.conftest import all_files, bars, part

D = Decimal


# -------------------------------------------------------------------------------------------- values
def test_decimals_round_trip_exactly_and_round_half_even(lake: Lake) -> None:
    values = [D("123.456789"), D("0.000001"), D("999999999999.999999"), D("-999999999999.999999"),
              D("1.0000005"), D("1.0000015"), D("7")]
    frame = pd.DataFrame({"date": pd.bdate_range("2024-01-01", periods=len(values)),
                          **{c: pd.Series(values, dtype=object) for c in PRICE_COLUMNS}, "volume": 1})
    res = lake.write("DEC", frame)
    assert res.rows_written == len(values) and res.null_prices == 0
    got = lake.read_symbol("DEC")["close"].to_pylist()
    assert got == [D("123.456789"), D("0.000001"), D("999999999999.999999"), D("-999999999999.999999"),
                   D("1.000000"), D("1.000002"), D("7.000000")]
    assert [str(v) for v in got[:2]] == ["123.456789", "0.000001"]


def test_floats_rounded_to_six_places(lake: Lake) -> None:
    frame = bars(["2024-01-02", "2024-01-03"])
    frame["close"] = [0.1 + 0.2, 1.23456789]
    lake.write("FLT", frame)
    assert lake.read_symbol("FLT")["close"].to_pylist() == [D("0.300000"), D("1.234568")]


def test_nan_and_inf_prices_stored_as_null_and_counted(lake: Lake) -> None:
    frame = bars(["2024-01-02", "2024-01-03", "2024-01-04"])
    frame["open"] = [np.nan, 1.0, 2.0]
    frame["high"] = [np.inf, 3.0, 4.0]
    frame["low"] = [1.0, -np.inf, 1.0]
    res = lake.write("NAN", frame)
    assert (res.rows_written, res.null_prices, res.rejected_rows) == (3, 3, 0)
    t = lake.read_symbol("NAN")
    assert t["open"].to_pylist() == [None, D(1), D(2)]  # null, never a silent 0
    assert t["high"].to_pylist()[0] is None and t["low"].to_pylist()[1] is None
    mixed = bars(["2024-01-05", "2024-01-08"])
    mixed["close"] = pd.Series([None, D("NaN")], dtype=object)
    assert lake.write("NAN", mixed).null_prices == 2


def test_negative_and_nan_volume_stored_as_null_and_counted(lake: Lake) -> None:
    frame = bars(["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"])
    frame["volume"] = [-5.0, np.nan, 10.0, 2.5]
    res = lake.write("VOL", frame)
    assert res.volume_nulled == 2 and res.rows_written == 4
    assert lake.read_symbol("VOL")["volume"].to_pylist() == [None, None, 10, 2]  # 2.5 -> 2 (half-even)
    ints = bars(["2024-01-08"])
    ints["volume"] = [-1]
    assert lake.write("VOL", ints).volume_nulled == 1


def test_uint64_volume_beyond_int64_stored_as_null_and_counted(lake: Lake) -> None:
    frame = bars(["2024-01-02", "2024-01-03"])
    frame["volume"] = np.array([2**64 - 1, 7], dtype=np.uint64)  # was an ArrowInvalid from the comparison
    assert lake.write("U64", frame).volume_nulled == 1
    assert lake.read_symbol("U64")["volume"].to_pylist() == [None, 7]


def test_duplicate_dates_inside_a_frame_last_wins_and_counted(lake: Lake) -> None:
    frame = bars(["2024-01-03", "2024-01-02", "2024-01-03", "2024-01-03"])
    frame["close"] = [1.0, 2.0, 3.0, 4.0]
    res = lake.write("DUP", frame)
    assert (res.rows_in, res.rows_written, res.duplicates_dropped) == (4, 2, 2)
    t = lake.read_symbol("DUP")
    assert t["date"].to_pylist() == [date(2024, 1, 2), date(2024, 1, 3)]
    assert t["close"].to_pylist() == [D(2), D(4)]


def test_unusable_date_and_overflow_price_rejected_counted_rest_written(lake: Lake) -> None:
    frame = bars(["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"])
    frame.loc[1, "date"] = pd.NaT
    frame["high"] = [5.0, 5.0, 1e12, 5.0]  # 1e12 does not fit decimal(18,6)
    with capture_logs() as logs:
        res = lake.write("BAD", frame)
    assert (res.rows_in, res.rows_written, res.rejected_rows) == (4, 2, 2)
    assert [(s["row"], s["reason"]) for s in res.rejected_sample] == [
        (1, "no usable date"), (2, "high beyond decimal(18,6)")]
    assert lake.read_symbol("BAD")["date"].to_pylist() == [date(2024, 1, 2), date(2024, 1, 5)]
    warn = [e for e in logs if e.get("error_code") == "LAKEBADROW"]
    assert len(warn) == 1 and warn[0]["log_level"] == "warning" and warn[0]["symbol"] == "BAD"
    assert warn[0]["detail"]["rejected"] == 2 and len(warn[0]["detail"]["sample"]) == 2


def test_all_rows_rejected_writes_nothing(lake: Lake, root: Path) -> None:
    frame = bars(["2024-01-02"])
    frame["date"] = [None]
    res = lake.write("NONE", frame)
    assert (res.rows_written, res.rejected_rows, res.years) == (0, 1, [])
    assert all_files(root) == []


# ---------------------------------------------------------------------------------------- fast paths
def _cast_reference(values: np.ndarray) -> pa.Array:
    """What Arrow's exact float -> decimal cast makes of the rounded values (the path before the fast one)."""
    rounded = pc.round(pa.array(values), 6).to_numpy(zero_copy_only=False)
    ok = np.isfinite(rounded) & (np.abs(np.where(np.isfinite(rounded), rounded, 0.0)) < 1e12)
    return pa.array(np.where(ok, rounded, 0.0), mask=~ok).cast(lake_frames.PRICE, safe=False)


@pytest.mark.parametrize("scale", [1.0, 1e3, 1e6, 4.4e9])
def test_float_prices_fast_path_equals_arrows_exact_cast(scale: float) -> None:
    rng = np.random.default_rng(int(scale))
    values = np.concatenate([
        rng.uniform(-scale, scale, 100_000),
        np.round(rng.uniform(0, scale, 50_000), 6),
        (rng.integers(0, int(scale * 1e6), 50_000) + 0.5) / 1e6,  # exact halves of the sixth place
        [0.0, -0.0, np.nan, np.inf, -np.inf, 0.0000005, 0.0000015, -0.0000025],
    ])
    assert not (np.abs(values[np.isfinite(values)]) >= lake_frames._EXACT_SCALED).any()  # the fast path's range
    got, over = lake_frames._floats_to_price(values)
    assert over is None and got.type == lake_frames.PRICE
    assert got.equals(_cast_reference(values))
    assert got.null_count == 3


def test_float_prices_beyond_the_fast_range_take_the_exact_cast() -> None:
    values = np.array([1.5, 9007204884.272217, 227802305363.71228, 1e12, -np.inf])  # 2**53 millionths and beyond
    got, over = lake_frames._floats_to_price(values)
    assert got.equals(_cast_reference(values))
    assert got[2].as_py() == D("227802305363.712280")  # rint(x * 1e6) in floats would give ...712288
    assert over.tolist() == [False, False, False, True, False]


FRAME_VARIANTS = {
    "float64": lambda f: f,
    "float32 prices, uint8 volume": lambda f: f.astype({c: np.float32 for c in PRICE_COLUMNS} | {"volume": np.uint8}),
    "int prices, negative int volume": lambda f: f.assign(**{c: np.arange(len(f)) - 3 for c in PRICE_COLUMNS},
                                                          volume=np.arange(len(f)) - 2),
    "uint64 volume beyond int64": lambda f: f.assign(volume=np.array([2**64 - 1] + [7] * (len(f) - 1), np.uint64)),
    "datetime64[s] with NaT": lambda f: f.assign(date=f["date"].astype("datetime64[s]").where(f.index != 2)),
    "tz-aware dates": lambda f: f.assign(date=f["date"].dt.tz_localize("America/New_York")),
    "nullable Float64 with NA": lambda f: f.astype({"close": "Float64"}).assign(
        close=lambda g: g["close"].where(g.index != 1)),
    "object decimals": lambda f: f.assign(open=pd.Series([D("1.0000005")] * len(f), dtype=object)),
    "bool volume": lambda f: f.assign(volume=[True] * len(f)),
    "float volume with NaN": lambda f: f.assign(volume=np.where(np.arange(len(f)) == 0, np.nan, 5.5)),
}


@pytest.mark.parametrize("variant", FRAME_VARIANTS)
def test_plain_pandas_columns_are_read_as_the_series_would_be(variant: str, root: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A pandas frame's numeric and naive-datetime columns are taken as numpy values (not a Series each): every
    dtype must give what the Series gives, the table, the counts and any error alike."""
    frame = FRAME_VARIANTS[variant](bars(pd.bdate_range("2024-01-01", periods=6).strftime("%Y-%m-%d")))

    def normalize() -> tuple:
        try:
            table, res = Lake(root)._normalize("VAR", frame, "yfinance", datetime(2024, 1, 1, tzinfo=UTC))
        except PipelineError as exc:
            return "error", exc.error_code, exc.detail
        return table, res

    fast = normalize()
    monkeypatch.setattr(lake_frames, "_pandas_getter", lambda f, names: f.__getitem__)
    series = normalize()
    if fast[0] == "error":
        assert fast == series
    else:
        assert fast[0].equals(series[0]) and fast[1] == series[1]


def test_pandas_without_the_column_accessor_reads_series(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    frame = bars(["2024-01-02", "2024-01-03"])
    expected = Lake(root)._normalize("OLD", frame, "yfinance", None)[0].drop_columns(["source_ts"])
    monkeypatch.delattr(pd.DataFrame, "_get_column_array")  # a pandas that lacks the internal accessor
    assert lake_frames._pandas_getter(frame, list(frame.columns)) == frame.__getitem__
    assert Lake(root)._normalize("OLD", frame, "yfinance", None)[0].drop_columns(["source_ts"]).equals(expected)


# ---------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("bad", [
    ["1.0", "2.0"],  # strings
    [True, False],  # booleans
    [1.0, "x"],  # mixed objects
    [object(), 1.0],
])
def test_non_numeric_prices_raise_laketype_and_write_nothing(lake: Lake, root: Path, bad: list) -> None:
    lake.write("KEEP", bars(["2024-01-02"]))
    kept = part(root, "KEEP", 2024).read_bytes()
    frame = bars(["2024-01-03", "2024-01-04"])
    frame["low"] = pd.Series(bad, dtype=object) if not isinstance(bad[0], str) else pd.Series(bad)
    for sym in ("NEW", "KEEP"):
        with pytest.raises(PipelineError) as ei:
            lake.write(sym, frame)
        assert ei.value.error_code == "LAKETYPE"
        assert ei.value.detail["column"] == "low" and ei.value.detail["sample"]
    assert not (root / "symbol=NEW").exists()
    assert part(root, "KEEP", 2024).read_bytes() == kept


def test_string_prices_in_arrow_table_and_string_dates_raise_laketype(lake: Lake, root: Path) -> None:
    t = pa.table({"date": pa.array([date(2024, 1, 2)]), **{c: pa.array(["1.5"]) for c in PRICE_COLUMNS},
                  "volume": pa.array([1])})
    with pytest.raises(PipelineError, match="open") as ei:
        lake.write("STR", t)
    assert ei.value.error_code == "LAKETYPE" and ei.value.detail["sample"] == ["'1.5'"]
    frame = bars(["2024-01-02"])
    frame["date"] = ["2024-01-02"]
    with pytest.raises(PipelineError) as ei:
        lake.write("STR", frame)
    assert ei.value.error_code == "LAKETYPE" and ei.value.detail["column"] == "date"
    assert all_files(root) == [] and not (root / "symbol=STR").exists()


@pytest.mark.parametrize("frame", [
    bars(["2024-01-02"]).drop(columns="adj_close"),
    bars(["2024-01-02"]).drop(columns="date"),  # a RangeIndex is no date
    {"date": [date(2024, 1, 2)]},
    None,
    [1, 2, 3],
])
def test_missing_column_or_not_a_frame_raises_lakeschema(lake: Lake, root: Path, frame) -> None:
    with pytest.raises(PipelineError) as ei:
        lake.write("AAPL", frame)
    assert ei.value.error_code == "LAKESCHEMA"
    assert not root.exists()
