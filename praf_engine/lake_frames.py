"""Incoming frames to lake-typed Arrow columns: the lake schema, the type rules and the bad-row treatment."""

from __future__ import annotations

import math
import sys
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import structlog

from praf_engine.errors import PipelineError

log = structlog.get_logger(__name__)

PRICE = pa.decimal128(18, 6)
TS = pa.timestamp("ms", tz="UTC")
PRICE_COLUMNS = ("open", "high", "low", "close", "adj_close")
REQUIRED_COLUMNS = ("date", *PRICE_COLUMNS, "volume")
LAKE_SCHEMA = pa.schema(
    [("date", pa.date32()), *[(c, PRICE) for c in PRICE_COLUMNS], ("volume", pa.int64()),
     ("source_ts", TS), ("provider", pa.string())]
)
PART_NAME = "part-000.parquet"
DEFAULT_PROVIDER = "yfinance"
SAMPLE_SIZE = 20
MIN_YEAR, MAX_YEAR = 1800, 2199  # a bar dated outside this range is treated as having no usable date
_MAX_PRICE = Decimal("999999999999.999999")
_Q6 = Decimal("0.000001")
_DEC_CTX = Context(prec=200)
_INT64_MAX = 2**63 - 1
# Below 2**52 millionths (prices under ~4.5e9), rint(x * 1e6) of a float rounded to 6 places is the integer Arrow's
# exact float->decimal cast gives: the first difference found in 12 million random values was above 2**53 millionths;
# tests/engine/test_lake_frames.py compares 800,000 each run. A column holding a larger price takes Arrow's cast.
_EXACT_SCALED = 2.0**52 / 1e6
_LITTLE_ENDIAN = sys.byteorder == "little"
_PARTITION_SCHEMA = pa.schema([("symbol", pa.string()), ("year", pa.int32())])


@dataclass
class WriteResult:
    """What one write did; rows_in == rows_written + duplicates_dropped + rejected_rows, always."""

    symbol: str
    rows_in: int
    rows_written: int  # rows of the incoming frame that are now stored
    years: list[int] = field(default_factory=list)  # partitions rewritten
    null_prices: int = 0  # stored price cells that arrived as NaN/inf/None
    volume_nulled: int = 0  # stored volumes that arrived negative, NaN or missing
    duplicates_dropped: int = 0  # duplicate dates inside the incoming frame (the last one wins)
    rejected_rows: int = 0  # no usable date, or a price beyond decimal(18,6): not stored
    rejected_sample: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _type_error(name: str, type_name: str, sample: list[Any]) -> PipelineError:
    return PipelineError(
        "LAKETYPE", f"column {name!r} ({type_name}) cannot be stored in the lake",
        {"column": name, "type": type_name, "sample": [repr(v)[:60] for v in sample[:5]]},
    )


def _is_pandas(obj: object) -> bool:
    pd = sys.modules.get("pandas")  # pandas is never imported here: a frame of it implies it is loaded
    return pd is not None and isinstance(obj, pd.Series | pd.Index | pd.DataFrame)


def _to_array(col: Any) -> pa.Array:
    if isinstance(col, pa.ChunkedArray):
        return col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if isinstance(col, pa.Array):
        return col
    dtype = getattr(col, "dtype", None)
    if isinstance(dtype, np.dtype) and dtype.kind in "fiubM":  # plain numpy storage: skip pandas' protocol probing
        return pa.array(np.asarray(col), from_pandas=True)
    return pa.array(col, from_pandas=True)


def _arrow(name: str, col: Any) -> pa.Array:
    try:
        return _to_array(col)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise _type_error(name, str(getattr(col, "dtype", type(col).__name__)), [str(exc)]) from exc


def _is_object(col: Any) -> bool:
    return _is_pandas(col) and col.dtype == object


def _bad_sample(arr: pa.Array) -> list[Any]:
    return arr.drop_null().slice(0, 5).to_pylist()


# ---------------------------------------------------------------------------------------- column casts
def _py_decimals(name: str, values: list[Any]) -> list[Decimal | None]:
    """Python numbers (Decimal, int, float, numpy) as exact Decimals, None for missing/NaN/inf; else LAKETYPE."""
    out: list[Decimal | None] = []
    bad: list[Any] = []
    for v in values:
        if isinstance(v, bool | np.bool_) or not isinstance(v, Decimal | int | float | np.number):
            if not (v is None or type(v).__name__ in ("NAType", "NaTType")):
                bad.append(v)
            out.append(None)
            continue
        d = v if isinstance(v, Decimal) else Decimal(int(v)) if isinstance(v, int | np.integer) else Decimal(float(v))
        out.append(d if d.is_finite() else None)
    if bad:
        raise _type_error(name, "object", bad)
    return out


def _prices_py(name: str, values: list[Any]) -> tuple[pa.Array, np.ndarray | None]:
    """Decimal / object prices one by one: exact, rounded half-even to 6 places."""
    out: list[Decimal | None] = []
    over = np.zeros(len(values), dtype=bool)
    for i, d in enumerate(_py_decimals(name, values)):
        try:
            q = None if d is None else d.quantize(_Q6, rounding=ROUND_HALF_EVEN, context=_DEC_CTX)
        except InvalidOperation:  # more digits than even a 200-digit context holds
            q = _MAX_PRICE * 10
        if q is not None and abs(q) > _MAX_PRICE:
            over[i], q = True, None
        out.append(q)
    return pa.array(out, type=PRICE), (over if over.any() else None)


def _prices(name: str, col: Any) -> tuple[pa.Array, np.ndarray | None]:
    """A price column as decimal128(18,6) plus the mask of rows beyond its range (None when none)."""
    if _is_object(col):
        return _prices_py(name, col.tolist())
    arr = _arrow(name, col)
    t = arr.type
    if t == PRICE:
        return arr, None
    if pa.types.is_decimal(t):
        return _prices_py(name, arr.to_pylist())
    if not (pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_null(t)):
        raise _type_error(name, str(t), _bad_sample(arr))
    return _floats_to_price(arr.cast(pa.float64()).to_numpy(zero_copy_only=False))


def _scaled_to_price(units: np.ndarray, valid: np.ndarray) -> pa.Array:
    """int64 millionths as decimal128(18,6), built from its buffers: each value is two little-endian 64-bit words,
    the number and its sign extension; ``valid`` False is null."""
    words = np.empty((len(units), 2), dtype=np.int64)
    words[:, 0] = units
    words[:, 1] = units >> 63
    validity = None if valid.all() else pa.array(valid).buffers()[1]
    return pa.Array.from_buffers(PRICE, len(units), [validity, pa.py_buffer(words)])


def _floats_to_price(values: np.ndarray) -> tuple[pa.Array, np.ndarray | None]:
    """float64 (NaN for missing) -> decimal128(18,6), rounded half-even; NaN/inf -> null; |x| >= 1e12 flagged."""
    rounded = pc.round(pa.array(values, from_pandas=False), 6).to_numpy(zero_copy_only=False)
    finite = np.isfinite(rounded)
    magnitude = np.where(finite, np.abs(rounded), 0.0)
    over = magnitude >= 1e12  # every float below 1e12 fits decimal(18,6) after rounding
    ok = finite & ~over
    if _LITTLE_ENDIAN and not (magnitude >= _EXACT_SCALED).any():
        return _scaled_to_price(np.rint(np.where(ok, rounded, 0.0) * 1e6).astype(np.int64), ok), None
    # NaN/inf/overflow become null before the cast (an unsafe cast would turn NaN into 0)
    floats = pa.array(rounded) if ok.all() else pa.array(np.where(ok, rounded, 0.0), mask=~ok)
    try:
        dec = floats.cast(PRICE)
    except pa.ArrowInvalid:  # in range (checked above); only the exactness check can object
        dec = floats.cast(PRICE, safe=False)
    return dec, (over if over.any() else None)


def _all_prices(cols: dict[str, Any]) -> tuple[list[pa.Array], dict[str, np.ndarray]]:
    """The five price columns; plain numpy float/int columns are converted in one vectorised pass."""
    plain = [getattr(cols[c], "dtype", None) for c in PRICE_COLUMNS]
    if all(isinstance(d, np.dtype) and d.kind in "fiu" for d in plain):
        n = len(cols["open"])
        dec, mask = _floats_to_price(np.concatenate([np.asarray(cols[c], dtype=np.float64) for c in PRICE_COLUMNS]))
        arrays = [dec.slice(i * n, n) for i in range(len(PRICE_COLUMNS))]
        masks = [None if mask is None else mask[i * n:(i + 1) * n] for i in range(len(PRICE_COLUMNS))]
    else:
        arrays, masks = map(list, zip(*(_prices(c, cols[c]) for c in PRICE_COLUMNS), strict=True))
    return arrays, {c: m for c, m in zip(PRICE_COLUMNS, masks, strict=True) if m is not None and m.any()}


def _volume(col: Any) -> pa.Array:
    """Volume as int64; negative, NaN, inf or beyond int64 becomes null (counted by the caller)."""
    dtype = getattr(col, "dtype", None)
    if isinstance(dtype, np.dtype) and dtype.kind in "iu" and dtype != np.uint64:  # plain numpy integers
        ints = np.asarray(col)
        if not len(ints) or ints.min() >= 0:  # the common case, without a pass of Arrow kernels
            return pa.array(ints.astype(np.int64, copy=False))
    arr = None if _is_object(col) else _arrow("volume", col)
    if arr is None or pa.types.is_decimal(arr.type):
        ints = [None if d is None else int(d.to_integral_value(ROUND_HALF_EVEN))
                for d in _py_decimals("volume", col.tolist() if arr is None else arr.to_pylist())]
        return pa.array([v if v is not None and 0 <= v <= _INT64_MAX else None for v in ints], pa.int64())
    t = arr.type
    if pa.types.is_integer(t):
        if t == pa.uint64():
            arr = pc.if_else(pc.greater(arr, pa.scalar(_INT64_MAX, t)), pa.scalar(None, t), arr)
        arr = arr.cast(pa.int64())
        neg = pc.less(arr, 0)
        return pc.if_else(neg, pa.scalar(None, pa.int64()), arr) if pc.any(neg).as_py() else arr
    if pa.types.is_floating(t) or pa.types.is_null(t):
        vals = arr.cast(pa.float64()).to_numpy(zero_copy_only=False)
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(vals) & (vals >= 0) & (vals < 9.2e18)
        return pa.array(np.rint(np.where(ok, vals, 0.0)).astype(np.int64), mask=~ok)
    raise _type_error("volume", str(t), _bad_sample(arr))


def _dates_py(values: list[Any]) -> pa.Array:
    out: list[date | None] = []
    bad: list[Any] = []
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)) or type(v).__name__ in ("NAType", "NaTType"):
            out.append(None)
        elif isinstance(v, datetime):  # also pandas.Timestamp: the wall-clock (exchange) date
            out.append(v.date())
        elif isinstance(v, date):
            out.append(v)
        elif isinstance(v, np.datetime64):
            out.append(None if np.isnat(v) else v.astype("datetime64[D]").item())
        else:
            bad.append(v)
            out.append(None)
    if bad:
        raise _type_error("date", "object", bad)
    return pa.array(out, type=pa.date32())


def _dates(col: Any) -> pa.Array:
    """Dates as date32; a tz-aware timestamp gives its local calendar date (no conversion to UTC)."""
    try:
        arr = _to_array(col)
    except (pa.ArrowException, TypeError, ValueError):
        if _is_pandas(col):
            return _dates_py(col.tolist())
        raise
    t = arr.type
    if pa.types.is_timestamp(t):
        if t.tz is not None:
            arr = pc.local_timestamp(arr)
        return arr.cast(pa.date32())
    if pa.types.is_date(t) or pa.types.is_null(t):
        return arr.cast(pa.date32())
    raise _type_error("date", str(t), _bad_sample(arr))


def _source_ts(col: Any, default: pa.Scalar) -> pa.Array:
    arr = _arrow("source_ts", col)
    t = arr.type
    if not (pa.types.is_timestamp(t) or pa.types.is_date(t) or pa.types.is_null(t)):
        raise _type_error("source_ts", str(t), _bad_sample(arr))
    arr = arr.cast(TS, safe=False)  # naive timestamps are taken as UTC; sub-ms precision is dropped
    return pc.fill_null(arr, default) if arr.null_count else arr


def _provider(col: Any, default: str) -> pa.Array:
    arr = _arrow("provider", col)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type) or pa.types.is_null(arr.type)):
        raise _type_error("provider", str(arr.type), _bad_sample(arr))
    arr = arr.cast(pa.string())
    return pc.fill_null(arr, default) if arr.null_count else arr


def _pandas_getter(frame: Any, names: list[Any]) -> Any:
    """How to take one column of a pandas frame: a numeric or naive-datetime column as its numpy values, skipping
    the Series pandas builds on every ``frame[name]`` (~17 µs each, a fifth of a symbol's validation), through
    pandas' internal ``_get_column_array`` (read only, as ``Series.to_numpy`` views were: the write encodes them before it returns);
    any other column, or a pandas without that accessor, as ``frame[name]``."""
    arrays = getattr(frame, "_get_column_array", None)
    if arrays is None:
        return frame.__getitem__

    def get(name: Any) -> Any:
        values = arrays(names.index(name))
        dtype = getattr(values, "dtype", None)
        return np.asarray(values) if isinstance(dtype, np.dtype) and dtype.kind in "fiuM" else frame[name]

    return get


def _frame_columns(frame: Any) -> tuple[dict[str, Any], int]:
    """The lake's columns of ``frame`` (date from a column, a DatetimeIndex or an index named date)."""
    if isinstance(frame, pa.Table | pa.RecordBatch):
        names = frame.schema.names
        get = frame.column
        index = None
    elif _is_pandas(frame) and hasattr(frame, "columns"):
        names = list(frame.columns)
        get = _pandas_getter(frame, names)
        index = frame.index
    else:
        raise PipelineError("LAKESCHEMA", "not a data frame", {"type": type(frame).__name__})
    cols: dict[str, Any] = {}
    for name in (*REQUIRED_COLUMNS, "source_ts", "provider"):
        n = names.count(name)
        if n > 1:
            raise PipelineError("LAKESCHEMA", f"column {name!r} appears {n} times", {"columns": names[:40]})
        if n == 1:
            cols[name] = get(name)
    if "date" not in cols and index is not None:
        pd = sys.modules["pandas"]
        if isinstance(index, pd.DatetimeIndex) or index.name == "date":
            cols["date"] = index
    missing = [c for c in REQUIRED_COLUMNS if c not in cols]
    if missing:
        raise PipelineError(
            "LAKESCHEMA", f"frame lacks required column(s) {', '.join(missing)}",
            {"missing": missing, "columns": [str(c) for c in names[:40]]},
        )
    return cols, len(frame)


def _raw(col: Any, i: int) -> str:
    v = col.iloc[i] if hasattr(col, "iloc") else col[i]
    v = v.as_py() if isinstance(v, pa.Scalar) else v
    return str(v)[:60]


def _years_of(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970


def _last_wins(days: np.ndarray) -> np.ndarray | None:
    """Row indices keeping the last occurrence of each date, sorted by date; None if already so."""
    if len(days) < 2 or bool(np.all(days[1:] > days[:-1])):
        return None
    order = np.argsort(days, kind="stable")
    sd = days[order]
    keep = np.empty(len(sd), dtype=bool)
    keep[:-1] = sd[1:] != sd[:-1]
    keep[-1] = True
    return order[keep]


def _day_numbers(table: pa.Table) -> np.ndarray:
    col = table.column("date")
    arr = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    return arr.view(pa.int32()).to_numpy(zero_copy_only=False)


