"""What a QA run looks at: the active universe and its fetch state, the calendars as arrays (once), and the lake
window of the universe, loaded whole or in chunks of symbols (so that memory follows the chunk, not the universe)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from peewee import JOIN

from praf_engine import calendars
from praf_engine.db.models import CorporateAction, Ticker, TickerFetchMeta
from praf_engine.lake import PRICE_COLUMNS, Lake
from praf_engine.universe.symbols import is_valid_symbol, validate_symbol

EPOCH = np.datetime64("1970-01-01", "D")
MARGIN_DAYS = 10  # calendar days read before the widest window: the close before its first session


def day_number(d: dt.date) -> int:
    return int((np.datetime64(d, "D") - EPOCH).astype(np.int64))


def iso(days: np.ndarray) -> list[str]:
    """Day numbers → ISO date strings (vectorised)."""
    return np.datetime_as_string(np.asarray(days, dtype=np.int64).astype("datetime64[D]"), unit="D").tolist()


@dataclass
class QAData:
    """The as-of date, the active universe (one row per symbol, position = symbol index) and its bars, long."""

    as_of: dt.date
    universe: pd.DataFrame  # symbol, exchange_code, mic, mic_idx, currency, first_seen_day, first_bar_day, last_fetched_day, ...
    mics: list[str]
    sym: np.ndarray  # int32 symbol index per bar; bars sorted by (sym, day)
    day: np.ndarray  # int32 day number per bar
    prices: dict[str, np.ndarray]  # open … adj_close as float64, NaN = null
    volume: np.ndarray  # float64, NaN = null
    d0: int  # first day number of the calendar tables
    session: np.ndarray  # bool [mic, day - d0]
    session_ord: np.ndarray  # int32 [mic, day - d0]: sessions on or before that day
    actions: set[tuple[int, int]]  # (symbol index, day number) with a corporate action
    stale_min_bars: int | None = None  # stale_price's run length when it runs: its resumed bars are no price_jump
    _cache: dict[str, Any] = field(default_factory=dict)

    @property
    def as_of_day(self) -> int:
        return day_number(self.as_of)

    @property
    def size(self) -> int:
        return len(self.universe)

    def names(self, idx: np.ndarray) -> np.ndarray:
        return self.universe["symbol"].to_numpy()[idx]

    def bar_mic(self) -> np.ndarray:
        if "bar_mic" not in self._cache:
            self._cache["bar_mic"] = self.universe["mic_idx"].to_numpy()[self.sym]
        return self._cache["bar_mic"]

    def is_session(self) -> np.ndarray:
        """Per bar: is its date a session of the listing's own calendar."""
        if "is_session" not in self._cache:
            off = self.day - self.d0
            ok = (off >= 0) & (off < self.session.shape[1])
            out = np.zeros(len(self.day), dtype=bool)
            out[ok] = self.session[self.bar_mic()[ok], off[ok]]
            self._cache["is_session"] = out
        return self._cache["is_session"]

    def window_start(self, n_sessions: int) -> np.ndarray:
        """Per MIC: day number of the first of its last ``n_sessions`` sessions on or before the as-of date."""
        return np.array([day_number(calendars.window_start(m, self.as_of, n_sessions)) for m in self.mics], dtype=np.int64)

    def in_window(self, n_sessions: int) -> np.ndarray:
        key = f"win{n_sessions}"
        if key not in self._cache:
            start = self.window_start(n_sessions)[self.bar_mic()]
            self._cache[key] = (self.day >= start) & (self.day <= self.as_of_day)
        return self._cache[key]

    def sessions_upto(self, mic_idx: np.ndarray, days: np.ndarray) -> np.ndarray:
        """Sessions of each listing's calendar on or before each day (vectorised; days clipped to the tables)."""
        off = np.clip(days - self.d0, -1, self.session.shape[1] - 1)
        out = np.zeros(len(days), dtype=np.int64)
        ok = off >= 0
        out[ok] = self.session_ord[mic_idx[ok], off[ok]]
        return out

    def repeated_date(self) -> np.ndarray:
        """Per bar: a second stored bar for the same symbol and date as the bar before it (duplicate_dates)."""
        if "dup" not in self._cache:
            dup = np.zeros(len(self.day), dtype=bool)
            dup[1:] = (self.sym[1:] == self.sym[:-1]) & (self.day[1:] == self.day[:-1])
            self._cache["dup"] = dup
        return self._cache["dup"]

    def previous_close(self) -> np.ndarray:
        """Per bar: the last non-null close of the same symbol before it (NaN if none)."""
        if "prev_close" not in self._cache:
            close = self.prices["close"]
            n = len(close)
            pos = np.where(~np.isnan(close), np.arange(n), -1)
            last_valid = np.maximum.accumulate(pos) if n else pos
            prev = np.full(n, -1, dtype=np.int64)
            prev[1:] = last_valid[:-1]
            ok = prev >= 0
            ok[ok] = self.sym[prev[ok]] == self.sym[ok]
            out = np.full(n, np.nan)
            out[ok] = close[prev[ok]]
            self._cache["prev_close"] = out
        return self._cache["prev_close"]

    def on_action_day(self) -> np.ndarray:
        if "action" not in self._cache:
            if not self.actions:
                self._cache["action"] = np.zeros(len(self.day), dtype=bool)
            else:
                keys = np.array(sorted(a * 100_000 + b for a, b in self.actions), dtype=np.int64)
                self._cache["action"] = np.isin(self.sym.astype(np.int64) * 100_000 + self.day, keys)
        return self._cache["action"]


def load_universe(as_of: dt.date) -> pd.DataFrame:
    """Active tickers with their fetch state; MICs resolved (an unknown MIC raises CONFIGBAD naming it)."""
    query = (Ticker.select(Ticker.symbol, Ticker.exchange_code, Ticker.mic, Ticker.currency, Ticker.first_seen,
                           TickerFetchMeta.last_fetched_date, TickerFetchMeta.consecutive_failures,
                           TickerFetchMeta.last_error_code, TickerFetchMeta.fetch_status)
             .join(TickerFetchMeta, JOIN.LEFT_OUTER, on=(TickerFetchMeta.symbol == Ticker.symbol))
             .where(Ticker.status == "active").order_by(Ticker.symbol).tuples())
    cols = ["symbol", "exchange_code", "mic", "currency", "first_seen", "last_fetched_date",
            "consecutive_failures", "last_error_code", "fetch_status"]
    frame = pd.DataFrame(list(query), columns=cols)
    pairs = frame[["mic", "exchange_code"]].drop_duplicates()
    resolved = {(m, e): calendars.resolve_mic(m, e) for m, e in pairs.itertuples(index=False)}
    frame["mic"] = [resolved[(m, e)] for m, e in zip(frame["mic"], frame["exchange_code"], strict=True)] if len(frame) else []
    for col in ("first_seen", "last_fetched_date"):
        days = pd.to_datetime(frame[col]).to_numpy().astype("datetime64[D]")
        frame[f"{col.replace('_date', '')}_day"] = np.where(np.isnat(days), -1, (days - EPOCH).astype(np.int64))
    frame["consecutive_failures"] = frame["consecutive_failures"].fillna(0).astype(np.int64)
    return frame


def load(lake: Lake, as_of: dt.date, max_window: int) -> QAData:
    """Everything the checks need, read once: the lake rows of the widest window (+ a margin) for the universe."""
    return next(load_chunks(lake, as_of, max_window, None))


def load_chunks(lake: Lake, as_of: dt.date, max_window: int, chunk_symbols: int | None) -> Iterator[QAData]:
    """The universe's QAData in chunks of ``chunk_symbols`` consecutive symbols (None: one chunk, the whole universe),
    at least one. Every chunk shares the calendars' tables and the window's start (both from the whole universe's
    MICs), so a per-symbol check finds on a chunk exactly what it finds on the whole; symbol indexes are the chunk's."""
    universe = load_universe(as_of)
    mics = sorted(set(universe["mic"])) or ["XNYS"]
    universe["mic_idx"] = pd.Categorical(universe["mic"], categories=mics).codes.astype(np.int64)
    start = min(calendars.window_start(m, as_of, max_window + 1) for m in mics) - dt.timedelta(days=MARGIN_DAYS)
    d0, d1 = day_number(start), day_number(as_of)
    span = np.arange(d0, d1 + 1, dtype=np.int64)
    session = np.vstack([calendars.is_session(m, (span + EPOCH.astype(np.int64)).astype("datetime64[D]")) for m in mics])
    session_ord = np.cumsum(session, axis=1).astype(np.int32)
    actions = _action_rows(start, as_of)
    step = max(1, chunk_symbols or len(universe) or 1)
    for lo in range(0, max(len(universe), 1), step):  # yields straight from the call: no chunk outlives its turn here
        yield _chunk(lake, as_of, max_window, universe.iloc[lo:lo + step].reset_index(drop=True), mics, start,
                     (d0, session, session_ord), actions)


def _chunk(lake: Lake, as_of: dt.date, max_window: int, part: pd.DataFrame, mics: list[str], start: dt.date,
           tables: tuple[int, np.ndarray, np.ndarray], actions: list[tuple[str, int]]) -> QAData:
    names = [s for s in part["symbol"] if is_valid_symbol(s) and validate_symbol(s) == s]
    table = lake.read_window(start, as_of, symbols=names, columns=["date", *PRICE_COLUMNS, "volume"]) if names else None
    sym, day, prices, volume = _columns(table, part)
    del table
    part["first_bar_day"] = first_bar_days(lake, part, sym, day, start, as_of, max_window)
    pos = {s: i for i, s in enumerate(part["symbol"])}
    return QAData(as_of, part, mics, sym, day, prices, volume, *tables, {(pos[s], d) for s, d in actions if s in pos})


def first_bar_days(lake: Lake, universe: pd.DataFrame, sym: np.ndarray, day: np.ndarray, start: dt.date, as_of: dt.date,
                   max_window: int) -> np.ndarray:
    """Per listing: the day number of its first bar in the lake (-1: none), exact wherever it can bound a window.

    A listing with a bar read before its calendar's widest window needs nothing more (any earlier first bar gives the
    same bound). The others — new listings, and gaps at the start of the window — are looked up in the lake itself,
    all in one scan: the bars before the read window, then (rare: nothing read) the bars after the as-of date."""
    n = len(universe)
    first = np.full(n, -1, dtype=np.int64)
    if len(day):
        starts = np.searchsorted(sym, np.arange(n))
        has = starts < len(sym)
        has[has] = sym[starts[has]] == np.flatnonzero(has)
        first[has] = day[starts[has]]
    mics = universe["mic"].to_numpy()
    widest = {m: day_number(calendars.window_start(m, as_of, max_window)) for m in set(mics)}
    ask = np.flatnonzero((first < 0) | (first >= np.array([widest[m] for m in mics], dtype=np.int64)))
    if not len(ask):
        return first
    names = universe["symbol"].to_numpy()
    pos = {str(names[i]): int(i) for i in ask}
    before = lake.read_window(dt.date(1900, 1, 1), start - dt.timedelta(days=1), symbols=list(pos), columns=["date"])
    _earliest(before, pos, first)
    nothing = [s for s, i in pos.items() if first[i] < 0]
    if nothing:
        after = lake.read_window(as_of + dt.timedelta(days=1), dt.date(2999, 12, 31), symbols=nothing, columns=["date"])
        _earliest(after, pos, first)
    return first


def _earliest(table: pa.Table, pos: dict[str, int], into: np.ndarray) -> None:
    """Write each symbol's first date of ``table`` (sorted by symbol, date) into ``into`` at its position."""
    if not table.num_rows:
        return
    symbols = table["symbol"].to_numpy(zero_copy_only=False)
    days = pc.cast(table["date"], pa.int32()).to_numpy(zero_copy_only=False)
    keep = np.ones(len(symbols), dtype=bool)
    keep[1:] = symbols[1:] != symbols[:-1]
    for s, d in zip(symbols[keep], days[keep], strict=True):
        into[pos[str(s)]] = int(d)


def _columns(table: pa.Table | None, universe: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray]:
    if table is None or table.num_rows == 0:
        empty = np.zeros(0)
        return empty.astype(np.int32), empty.astype(np.int32), {c: empty for c in PRICE_COLUMNS}, empty
    index = pa.array(universe["symbol"].tolist(), pa.string())
    sym_idx = pc.index_in(table["symbol"], value_set=index)
    keep = pc.is_valid(sym_idx)  # lake symbols that are not active are not checked
    if not pc.all(keep).as_py():
        table, sym_idx = table.filter(keep), sym_idx.filter(keep)
    sym = sym_idx.to_numpy(zero_copy_only=False).astype(np.int32)
    day = pc.cast(table["date"], pa.int32()).to_numpy(zero_copy_only=False)
    prices = {c: pc.cast(table[c], pa.float64()).to_numpy(zero_copy_only=False) for c in PRICE_COLUMNS}
    volume = pc.cast(table["volume"], pa.float64()).to_numpy(zero_copy_only=False)
    order = np.lexsort((day, sym))  # read_window sorts by symbol text; the universe order is the same, kept safe
    if not np.all(order == np.arange(len(order))):
        sym, day, volume = sym[order], day[order], volume[order]
        prices = {c: a[order] for c, a in prices.items()}
    return sym, day, prices, volume


def _action_rows(start: dt.date, end: dt.date) -> list[tuple[str, int]]:
    """(symbol, day number) of every corporate action in [start, end]."""
    rows = CorporateAction.select(CorporateAction.symbol, CorporateAction.action_date).where(
        CorporateAction.action_date.between(start, end)).tuples()
    return [(s, day_number(d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d)[:10]))) for s, d in rows]
