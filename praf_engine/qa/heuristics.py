"""Info-level anomaly heuristics (seed §5.8): IQR jump guard, volume z-score, correlation drift; vectorised."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from praf_engine.logs import get_logger
from praf_engine.qa.checks import (
    UNIT_DEFAULTS,
    CheckFn,
    Failure,
    _moves,
    _unit_shift,
    by_symbol,
    resumed_after_stale,
)
from praf_engine.qa.data import QAData

log = get_logger(__name__)


def _recent(data: QAData, n: int) -> np.ndarray:
    return data.in_window(n) & data.is_session()


def iqr_jump(data: QAData, p: dict[str, Any]) -> list[Failure]:
    """|move| above Q3 + k*IQR of the symbol's own |moves| in the window, on its latest sessions."""
    ratio = _moves(data)
    move = np.abs(ratio - 1.0)
    usable = (data.in_window(p["window_sessions"]) & np.isfinite(move) & ~data.on_action_day() & ~_unit_shift(ratio, UNIT_DEFAULTS)
              & ~resumed_after_stale(data))
    if not usable.any():
        return []
    frame = pd.DataFrame({"sym": data.sym[usable], "move": move[usable]})
    q = frame.groupby("sym")["move"].quantile([0.25, 0.75]).unstack()
    q1 = np.full(data.size, np.nan)
    q3 = np.full(data.size, np.nan)
    q1[q.index.to_numpy()] = q[0.25].to_numpy()
    q3[q.index.to_numpy()] = q[0.75].to_numpy()
    limit = (q3 + p["k"] * (q3 - q1))[data.sym]
    with np.errstate(invalid="ignore"):
        mask = usable & _recent(data, p["recent_sessions"]) & (move > limit) & (limit > 0)
    return by_symbol(data, mask, move_pct=(ratio - 1.0) * 100.0, limit_pct=limit * 100.0)


def volume_spike(data: QAData, p: dict[str, Any]) -> list[Failure]:
    """Volume z-score of the latest sessions against the rest of the window above z."""
    recent = _recent(data, p["recent_sessions"])
    vol = data.volume
    base = data.in_window(p["window_sessions"]) & data.is_session() & ~recent & np.isfinite(vol)
    n = data.size
    count = np.bincount(data.sym[base], minlength=n).astype(float)
    total = np.bincount(data.sym[base], weights=vol[base], minlength=n)
    sq = np.bincount(data.sym[base], weights=vol[base] ** 2, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        std = np.sqrt(np.maximum(sq / count - mean**2, 0.0) * count / np.maximum(count - 1, 1))
        z = (vol - mean[data.sym]) / std[data.sym]
        mask = recent & np.isfinite(z) & (z > p["z"]) & (count[data.sym] >= 10)
    return by_symbol(data, mask, volume=vol, z=z, mean_volume=mean[data.sym])


def correlation_returns(data: QAData, p: dict[str, Any]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """correlation_drift's first half, on one chunk of symbols: per calendar, the symbols with a return in the last
    ``window`` + 1 sessions and their returns, one column each (rows: those sessions)."""
    w = p["window"]
    ratio = _moves(data)
    ret = np.where(np.isfinite(ratio) & ~_unit_shift(ratio, UNIT_DEFAULTS), np.log(np.where(ratio > 0, ratio, 1.0)), 0.0)
    sess = data.is_session()
    mic = data.bar_mic()
    names = data.universe["symbol"].to_numpy()
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for m in range(len(data.mics)):  # one dense matrix per calendar (at most ~10)
        last = int(data.sessions_upto(np.array([m]), np.array([data.as_of_day]))[0])
        rows = sess & (mic == m)
        pos = data.sessions_upto(mic[rows], data.day[rows]) - (last - w)
        keep = (pos >= 0) & (pos <= w)
        syms, inverse = np.unique(data.sym[rows][keep], return_inverse=True)
        if len(syms):
            matrix = np.full((w + 1, len(syms)), np.nan)
            matrix[pos[keep], inverse] = ret[rows][keep]
            out[m] = (names[syms], matrix)
    return out


def correlation_drift_of(parts: list[dict[int, tuple[np.ndarray, np.ndarray]]], p: dict[str, Any]) -> list[Failure]:
    """correlation_drift's second half: the chunks' returns side by side per calendar (symbol order kept), each
    symbol against its venue's median return of every session, today vs the previous session."""
    tripped: list[tuple[str, float, float]] = []
    for m in sorted({m for part in parts for m in part}):
        pieces = [part[m] for part in parts if m in part]
        syms = np.concatenate([names for names, _ in pieces])
        if len(syms) < 3:
            continue
        matrix = np.hstack([columns for _, columns in pieces])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a session without any bar
            bench = np.nanmedian(matrix, axis=1)
        filled, bench = np.nan_to_num(matrix), np.nan_to_num(bench)
        now = _corr(filled[1:], bench[1:])
        before = _corr(filled[:-1], bench[:-1])
        delta = np.abs(now - before)
        for j in np.flatnonzero(np.isfinite(delta) & (delta > p["delta"])):
            tripped.append((str(syms[j]), float(before[j]), float(now[j])))
    if len(tripped) < p["min_symbols"]:
        if tripped:
            log.info("correlation drift below the escalation count", detail={"tripped": len(tripped), "min_symbols": p["min_symbols"]})
        return []
    return [(s, {"corr_before": round(b, 4), "corr_now": round(a, 4), "window": p["window"], "tripped_today": len(tripped)})
            for s, b, a in tripped]


def correlation_drift(data: QAData, p: dict[str, Any]) -> list[Failure]:
    """Correlation of each symbol's returns with its venue's median return over ``window`` sessions, today vs the
    previous session; a change above delta trips. Written only when >= min_symbols trip (else logged). A run in
    chunks of symbols gathers ``correlation_returns`` of every chunk and ends with ``correlation_drift_of``."""
    return correlation_drift_of([correlation_returns(data, p)], p)


def _corr(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation of every column of ``x`` with ``y`` (NaN where a side has no variance)."""
    xc = x - x.mean(axis=0)
    yc = (y - y.mean())[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return (xc * yc).sum(axis=0) / np.sqrt((xc**2).sum(axis=0) * (yc**2).sum())


HEURISTICS: dict[str, CheckFn] = {"iqr_jump": iqr_jump, "volume_spike": volume_spike, "correlation_drift": correlation_drift}
# checks that look across symbols: (gather on each chunk of symbols, conclude from every chunk's part)
ACROSS_SYMBOLS: dict[str, tuple[Callable[[QAData, dict[str, Any]], Any], Callable[[list[Any], dict[str, Any]], list[Failure]]]] = {
    "correlation_drift": (correlation_returns, correlation_drift_of)}
