"""Read model of one listing's page: its bars of a window from the lake, QA history, corporate actions, fetch state
and recent fetch errors."""

from __future__ import annotations

import datetime as dt
from typing import Any

from praf_engine.config import Settings
from praf_engine.db.models import CorporateAction, DLQSymbol, FetchError, QAFailure, Ticker, TickerFetchMeta
from praf_engine.errors import PipelineError
from praf_engine.readmodels.dto import ActionRow, Bar, FetchMeta, SymbolDetail
from praf_engine.readmodels.rows import as_date, failure_row
from praf_engine.universe.symbols import validate_symbol


def symbol_detail(settings: Settings, symbol: str, days: int | None = 365) -> SymbolDetail:
    """Everything the symbol screen shows. A malformed symbol raises SCRAPEBAD, an unknown one SYMBOLUNKNOWN.
    ``days``: the bars of that many calendar days before the newest one (None: all of them; at least 1)."""
    if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days < 1):
        raise PipelineError("CONFIGBAD", f"the symbol page's window must be a whole number of days >= 1, not {days!r}")
    sym = validate_symbol(symbol)
    ticker = Ticker.get_or_none(Ticker.symbol == sym)
    if ticker is None:
        raise PipelineError("SYMBOLUNKNOWN", f"no listing {sym!r} in tickers", {"symbol": sym})
    from praf_engine.lake import Lake  # pyarrow: only when a symbol page opens, not at every dashboard start

    lake = Lake(settings.lake_dir)
    last = lake.last_date(sym)
    bars: tuple[Bar, ...] = ()
    total = 0
    if last is not None:
        total = lake.read_symbol(sym, columns=["date"]).num_rows
        start = None if days is None or days >= (last - dt.date.min).days else last - dt.timedelta(days=days)
        table = lake.read_symbol(sym, start=start, end=last,
                                 columns=["date", "open", "high", "low", "close", "adj_close", "volume"])
        cols = {name: table[name].to_pylist() for name in table.column_names}
        bars = tuple(Bar(d, *(_float(cols[c][i]) for c in ("open", "high", "low", "close", "adj_close")),
                         None if cols["volume"][i] is None else int(cols["volume"][i]))
                     for i, d in enumerate(cols["date"]))
    qa = QAFailure.select().where(QAFailure.symbol == sym).order_by(QAFailure.date.desc(), QAFailure.id.desc()).limit(200)
    actions = (CorporateAction.select().where(CorporateAction.symbol == sym)
               .order_by(CorporateAction.action_date.desc()).limit(100))
    meta = TickerFetchMeta.get_or_none(TickerFetchMeta.symbol == sym)
    dlq = DLQSymbol.get_or_none(DLQSymbol.symbol == sym)
    errors = (FetchError.select(FetchError.night, FetchError.error_code, FetchError.msg).where(FetchError.symbol == sym)
              .order_by(FetchError.night.desc(), FetchError.id.desc()).limit(30).tuples())
    fetch = None
    if meta is not None or dlq is not None:
        fetch = FetchMeta(as_date(meta.last_fetched_date) if meta else None, meta.fetch_status if meta else "pending",
                          meta.consecutive_failures if meta else 0, meta.last_error_code if meta else None,
                          meta.last_attempt_at if meta else None, meta.latency_ms if meta else None,
                          meta.last_exit if meta else None, dlq is not None, dlq.reason if dlq else None)
    return SymbolDetail(
        symbol=sym, exchange_code=ticker.exchange_code, name=ticker.name, currency=ticker.currency, mic=ticker.mic,
        status=ticker.status, first_seen=as_date(ticker.first_seen), last_seen=as_date(ticker.last_seen),
        bars=bars, bars_total=total, qa=tuple(failure_row(r) for r in qa),
        actions=tuple(ActionRow(as_date(a.action_date), a.action_type, a.ratio, a.source) for a in actions),
        fetch=fetch, errors=tuple((as_date(n), code, msg) for n, code, msg in errors),
    )


def _float(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if number != number else number  # NaN reads as missing
