"""Fault catalogue of the offline sandbox: which symbols or exchange sites get which injected fault."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

# Data faults change the bars the synthetic market serves (applied by Market.bars, reported by Market.injections).
DATA_FAULTS = (
    "gap",
    "null_field",
    "zero_volume",
    "jump",
    "history_rewrite",
    "duplicate_last_row",
    "date_shift",
    "currency_switch",
    "frozen_bar",
)
# Response faults are applied per request by the Yahoo emulator (keys: Yahoo symbols).
RESPONSE_FAULTS = ("empty", "delisted", "malformed_json", "slow", "http_500", "storm_429")
# Site faults are applied by the exchange-site emulators (keys: exchange codes).
SITE_FAULTS = ("broken_structure", "site_500", "truncated", "js_timeout", "site_flaky")
SITE_KEYS = ("nasdaq", "arca", "ftse", "dax", "euronext")
# Source faults change what Yahoo holds for a listing (applied by Market.bars; keys: Yahoo symbols; not in the demo
# profile): stale_source ends its history months before the market's date (acquired or renamed, never updated again).
SOURCE_FAULTS = ("stale_source",)
ALL_FAULTS = DATA_FAULTS + RESPONSE_FAULTS + SITE_FAULTS + SOURCE_FAULTS


def stable_hash(*parts: object) -> int:
    """A 64-bit hash of ``parts`` that is the same in every process and Python version (unlike ``hash()``)."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


def stable_unit(*parts: object) -> float:
    """A stable pseudo-random number in [0, 1) derived from ``parts``."""
    return stable_hash(*parts) / 2.0**64


def _check_kind(kind: object) -> str:
    if kind not in ALL_FAULTS:
        raise ValueError(f"unknown fault kind {kind!r} (known: {', '.join(ALL_FAULTS)})")
    return str(kind)


@dataclass(frozen=True)
class FaultConfig:
    """Fault rates and forced targets. Rates are the share of keys (symbols, or exchanges for site faults) hit."""

    rates: Mapping[str, float] = field(default_factory=dict)
    targets: Mapping[str, frozenset[str]] = field(default_factory=dict)
    slow_seconds: float = 2.0
    storm_length: int = 20  # consecutive 429s once a storm starts
    flaky_count: int = 2  # site_flaky: the exchange's first requests answered 503, then served as usual

    def __post_init__(self) -> None:
        rates: dict[str, float] = {}
        for kind, raw in dict(self.rates).items():
            _check_kind(kind)
            try:
                rate = float(raw)
            except (TypeError, ValueError):
                raise ValueError(f"fault rate for {kind!r} is not a number: {raw!r}") from None
            if not 0.0 <= rate <= 1.0:  # also rejects NaN
                raise ValueError(f"fault rate for {kind!r} must be within [0, 1], got {raw!r}")
            rates[kind] = rate
        targets: dict[str, frozenset[str]] = {}
        for kind, keys in dict(self.targets).items():
            _check_kind(kind)
            items = [keys] if isinstance(keys, str) else list(keys)
            if not all(isinstance(k, str) and k for k in items):
                raise ValueError(f"targets for {kind!r} must be non-empty strings, got {keys!r}")
            if kind in SITE_FAULTS and (bad := sorted(set(items) - set(SITE_KEYS))):
                raise ValueError(f"targets for site fault {kind!r} must be exchange codes, got {bad}")
            targets[kind] = frozenset(items)
        try:
            slow = float(self.slow_seconds)
        except (TypeError, ValueError):
            raise ValueError(f"slow_seconds is not a number: {self.slow_seconds!r}") from None
        if not (math.isfinite(slow) and slow >= 0):
            raise ValueError(f"slow_seconds must be a finite number >= 0, got {self.slow_seconds!r}")
        if isinstance(self.storm_length, bool) or not isinstance(self.storm_length, int) or self.storm_length < 1:
            raise ValueError(f"storm_length must be an integer >= 1, got {self.storm_length!r}")
        if isinstance(self.flaky_count, bool) or not isinstance(self.flaky_count, int) or self.flaky_count < 1:
            raise ValueError(f"flaky_count must be an integer >= 1, got {self.flaky_count!r}")
        object.__setattr__(self, "rates", rates)
        object.__setattr__(self, "targets", targets)
        object.__setattr__(self, "slow_seconds", slow)

    def __hash__(self) -> int:
        return hash((tuple(sorted(self.rates.items())), tuple(sorted(self.targets.items())), self.slow_seconds, self.storm_length,
                     self.flaky_count))

    def hits(self, kind: str, key: str, seed: int) -> bool:
        """Whether fault ``kind`` hits ``key``: targets always; otherwise a stable draw of (seed, kind, key) < rate."""
        _check_kind(kind)
        if key in self.targets.get(kind, ()):
            return True
        rate = self.rates.get(kind, 0.0)
        if rate <= 0.0:
            return False
        return rate >= 1.0 or stable_unit("fault", seed, kind, key) < rate

    def hit_keys(self, kind: str, keys: Iterable[str], seed: int) -> list[str]:
        """The keys among ``keys`` that ``kind`` hits, in the given order."""
        return [k for k in keys if self.hits(kind, k, seed)]

    def active(self, kind: str) -> bool:
        """Whether ``kind`` can hit anything (a positive rate or a target)."""
        _check_kind(kind)
        return self.rates.get(kind, 0.0) > 0.0 or bool(self.targets.get(kind))

    @classmethod
    def none(cls) -> FaultConfig:
        return cls()

    @classmethod
    def demo(cls) -> FaultConfig:
        """A few % of each data fault and small response-fault rates, realistic for a ~300-listing demo."""
        return cls(
            rates={
                "gap": 0.03,
                "null_field": 0.02,
                "zero_volume": 0.02,
                "jump": 0.015,
                "history_rewrite": 0.015,
                "duplicate_last_row": 0.02,
                "date_shift": 0.015,
                "currency_switch": 0.08,  # of GBp listings only: ~3 in a 300-listing demo
                "frozen_bar": 0.02,
                "empty": 0.01,
                "delisted": 0.005,
                "malformed_json": 0.005,
                "slow": 0.01,
                "http_500": 0.01,
                "storm_429": 0.005,
            },
            slow_seconds=2.0,
            storm_length=20,
        )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> FaultConfig:
        """Build from ``{"rates": {...}, "targets": {kind: [...]}, "slow_seconds": .., "storm_length": .., "flaky_count": ..}``."""
        if not isinstance(data, Mapping):
            raise ValueError(f"fault config must be a mapping, got {type(data).__name__}")
        known = {"rates", "targets", "slow_seconds", "storm_length", "flaky_count"}
        if unknown := sorted(set(data) - known):
            raise ValueError(f"unknown fault config key(s) {unknown} (known: {sorted(known)})")
        rates = data.get("rates") or {}
        targets = data.get("targets") or {}
        if not isinstance(rates, Mapping):
            raise ValueError("fault config 'rates' must be a mapping of kind -> rate")
        if not isinstance(targets, Mapping):
            raise ValueError("fault config 'targets' must be a mapping of kind -> list of keys")
        kwargs: dict[str, Any] = {"rates": dict(rates), "targets": dict(targets)}
        for key in ("slow_seconds", "storm_length", "flaky_count"):
            if key in data:
                kwargs[key] = data[key]
        return cls(**kwargs)

    def to_mapping(self) -> dict[str, Any]:
        """The inverse of :meth:`from_mapping` (JSON-ready; targets sorted)."""
        return {
            "rates": dict(sorted(self.rates.items())),
            "targets": {k: sorted(v) for k, v in sorted(self.targets.items())},
            "slow_seconds": self.slow_seconds,
            "storm_length": self.storm_length,
            "flaky_count": self.flaky_count,
        }


@dataclass(frozen=True)
class Injection:
    """Exactly what one data fault did to one symbol's served bars (for QA tests)."""

    kind: str
    symbol: str
    dates: tuple[date, ...]
    detail: dict[str, Any]
