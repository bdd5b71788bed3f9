"""The QA checks PRAF knows: names, severities, default JSON thresholds (from settings.qa), validation, colours."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from praf_engine.config import DashboardSettings, QASettings
from praf_engine.errors import PipelineError

# Colour rules of seed §5.6: share of the universe (lag), failing rows, fetch failures.
COLOUR_PCT, COLOUR_ROWS, COLOUR_FETCH = "pct", "rows", "fetch"


@dataclass(frozen=True)
class Param:
    kind: type  # int or float (bool is refused for both)
    minimum: float
    description: str


@dataclass(frozen=True)
class CheckSpec:
    name: str
    severity: str  # critical, warning, info (seed §5.2: 🔥 critical, ⚠ warning)
    description: str
    params: dict[str, Param]
    colour_rule: str = COLOUR_ROWS
    universe_level: bool = False  # failures carry symbol '*'


_WINDOW = Param(int, 2, "sessions of each listing's own calendar looked at, ending on the as-of date")

SPECS: tuple[CheckSpec, ...] = (
    CheckSpec("lag_check", "warning", "Trading days (on the listing's calendar) between the last fetched date and the as-of date",
              {"max_days_behind": Param(int, 0, "fail when more sessions behind than this"),
               "critical_pct": Param(float, 0, "failures become critical above this % of the universe")}, COLOUR_PCT),
    CheckSpec("missing_dates", "warning", "Sessions without a bar inside the window (listing's calendar; holidays are not gaps)",
              {"window_sessions": _WINDOW, "min_missing": Param(int, 1, "fail at this many missing sessions")}),
    CheckSpec("null_fields", "warning", "A null open/high/low/close/adj_close on a bar inside the window", {"window_sessions": _WINDOW}),
    CheckSpec("zero_volume", "warning", "Volume = 0 on a session inside the window", {"window_sessions": _WINDOW}),
    CheckSpec("price_jump", "critical", "|close / previous close - 1| above max_move with no corporate action that day",
              {"window_sessions": _WINDOW, "max_move": Param(float, 0.0001, "simple return threshold (0.75 = 75 %)")}),
    CheckSpec("fetch_error", "critical", "consecutive_failures of the symbol at or above nights",
              {"nights": Param(int, 1, "consecutive failed nights")}, COLOUR_FETCH),
    CheckSpec("api_latency", "warning", "Batch latency p95 above p95_s on each of the last nights fetch nights",
              {"p95_s": Param(float, 0.001, "seconds"), "nights": Param(int, 1, "nights running")}, COLOUR_FETCH, True),
    CheckSpec("ohlc_sanity", "warning", "high < low, open/close outside [low, high], or a price <= 0", {"window_sessions": _WINDOW}),
    CheckSpec("duplicate_dates", "warning", "More than one stored bar for the same date", {"window_sessions": _WINDOW}),
    CheckSpec("currency_unit", "warning", "A ~100x level shift between consecutive bars (GBp/GBP, cents/units)",
              {"window_sessions": _WINDOW, "factor": Param(float, 2, "unit factor"),
               "log10_tolerance": Param(float, 0.001, "accepted distance from log10(factor)")}),
    CheckSpec("date_shift", "warning", "Bars dated on days that are not sessions of the listing's calendar",
              {"window_sessions": _WINDOW}),
    CheckSpec("stale_price", "warning", "The same bar (open, high, low, close and volume) on min_bars consecutive sessions: "
              "a frozen or stale feed", {"window_sessions": _WINDOW, "min_bars": Param(int, 2, "identical consecutive bars that fail")}),
    CheckSpec("iqr_jump", "info", "Heuristic: a daily move above Q3 + k*IQR of the symbol's own moves (latest sessions)",
              {"window_sessions": _WINDOW, "k": Param(float, 0.1, "IQR multiplier"), "recent_sessions": Param(int, 1, "sessions flagged")}),
    CheckSpec("volume_spike", "info", "Heuristic: volume z-score above z (latest sessions) against the window",
              {"window_sessions": _WINDOW, "z": Param(float, 0.1, "z-score"), "recent_sessions": Param(int, 1, "sessions flagged")}),
    CheckSpec("correlation_drift", "info", "Heuristic: 20-session correlation with the venue's median return changes by more than delta in a day; "
              "written only when at least min_symbols trip on the as-of date",
              {"window": Param(int, 5, "correlation window in sessions"), "delta": Param(float, 0.01, "change of correlation"),
               "min_symbols": Param(int, 1, "symbols needed before failures are written")}),
)
CHECKS: dict[str, CheckSpec] = {s.name: s for s in SPECS}


def default_thresholds(qa: QASettings) -> dict[str, dict[str, Any]]:
    """Seed §5.2 defaults, taken from settings.qa."""
    w = qa.missing_window_sessions
    return {
        "lag_check": {"max_days_behind": qa.lag_days, "critical_pct": 5.0},
        "missing_dates": {"window_sessions": w, "min_missing": 1},
        "null_fields": {"window_sessions": w},
        "zero_volume": {"window_sessions": w},
        "price_jump": {"window_sessions": w, "max_move": qa.price_jump},
        "fetch_error": {"nights": qa.fetch_error_nights},
        "api_latency": {"p95_s": qa.latency_p95_s, "nights": qa.latency_nights},
        "ohlc_sanity": {"window_sessions": w},
        "duplicate_dates": {"window_sessions": w},
        "currency_unit": {"window_sessions": w, "factor": 100.0, "log10_tolerance": 0.15},
        "date_shift": {"window_sessions": w},
        "stale_price": {"window_sessions": w, "min_bars": 3},
        "iqr_jump": {"window_sessions": w, "k": qa.iqr_k, "recent_sessions": 1},
        "volume_spike": {"window_sessions": w, "z": qa.volume_z, "recent_sessions": 1},
        "correlation_drift": {"window": 20, "delta": 0.8, "min_symbols": 10},
    }


def qa_check_defaults(qa: QASettings) -> list[dict[str, Any]]:
    """Rows for ``schema.migrate(db, qa_check_defaults)``: inserted once, never overwritten (edits survive)."""
    thresholds = default_thresholds(qa)
    return [{"check_name": s.name, "severity": s.severity, "enabled": True, "threshold_params": thresholds[s.name],
             "description": s.description, "updated_by": "defaults"} for s in SPECS]


def validate_params(name: str, raw: Any, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The check's thresholds: defaults overlaid with ``raw``; raises QAFAIL naming the bad key and value."""
    spec = CHECKS[name]
    if raw is None or raw == "":
        raw = {}
    if not isinstance(raw, Mapping):
        raise PipelineError("QAFAIL", f"{name}: threshold_params must be a JSON object, got {type(raw).__name__} {raw!r:.80}",
                            {"check": name, "threshold_params": repr(raw)[:200]})
    unknown = sorted(set(raw) - set(spec.params))
    if unknown:
        raise PipelineError("QAFAIL", f"{name}: unknown threshold key(s) {unknown}; known: {sorted(spec.params)}",
                            {"check": name, "unknown": unknown})
    out = dict(defaults)
    for key, value in raw.items():
        param = spec.params[key]
        ok_type = not isinstance(value, bool) and (isinstance(value, int) if param.kind is int else isinstance(value, int | float))
        if not ok_type or value != value or value < param.minimum:
            want = "an integer" if param.kind is int else "a number"
            raise PipelineError("QAFAIL", f"{name}: threshold {key}={value!r} must be {want} >= {param.minimum:g} ({param.description})",
                                {"check": name, "key": key, "value": repr(value)[:80]})
        out[key] = param.kind(value)
    return out


def colour(rule: str, fail_count: int, universe_size: int, dash: DashboardSettings) -> str:
    """Green / yellow / red per seed §5.6: value <= green is green, <= yellow is yellow, above is red."""
    if rule == COLOUR_PCT:
        value: float = 100.0 * fail_count / universe_size if universe_size else 0.0
        green, yellow = dash.lag_pct_green, dash.lag_pct_yellow
    elif rule == COLOUR_FETCH:
        value, green, yellow = fail_count, dash.fetch_errors_green, dash.fetch_errors_yellow
    else:
        value, green, yellow = fail_count, dash.rows_green, dash.rows_yellow
    return "green" if value <= green else "yellow" if value <= yellow else "red"


def threshold_text(rule: str, dash: DashboardSettings) -> str:
    if rule == COLOUR_PCT:
        return f"green <= {dash.lag_pct_green:g} % of universe, yellow <= {dash.lag_pct_yellow:g} %, red above"
    if rule == COLOUR_FETCH:
        return f"green <= {dash.fetch_errors_green}, yellow <= {dash.fetch_errors_yellow}, red above"
    return f"green <= {dash.rows_green} rows, yellow <= {dash.rows_yellow}, red above"
