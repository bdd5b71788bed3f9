"""QA in chunks of symbols finds exactly what QA on the whole universe finds: every check, every detail, every
summary row, whatever the chunk size; and no chunk holds more symbols than asked."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from praf_engine.db.models import BatchLatency, QACheck, QAFailure, QASummary
from praf_engine.lake import Lake
from praf_engine.logs import configure_logging
from praf_engine.qa import data as qa_data
from praf_engine.qa import runner
from praf_engine.qa.runner import run_qa
from praf_engine.sandbox import lake_fill
from praf_engine.sandbox.faults import DATA_FAULTS, FaultConfig
from praf_engine.sandbox.market import Market
from tests.conftest import make_settings

TODAY = dt.date(2025, 12, 29)


def _results() -> tuple[dict[Any, Any], dict[Any, Any]]:
    failures = {(r.check_name, r.symbol, r.date): (r.severity, r.details) for r in QAFailure.select()}
    summary = {r.check_name: (r.severity, r.fail_count, r.universe_size, r.colour, r.crashed) for r in QASummary.select()}
    return failures, summary


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from praf_engine.service import EngineService

    settings = make_settings(tmp_path_factory.mktemp("chunks") / "home")
    configure_logging(settings.logs_dir, secrets=settings.secrets(), console_level=None)
    service = EngineService.open(settings)
    market = Market(size=160, seed=7, today=TODAY, faults=FaultConfig(rates={**{k: 0.06 for k in DATA_FAULTS}, "currency_switch": 0.3}))
    lake_fill.build(market, Lake(settings.lake_dir, fsync=False), TODAY - dt.timedelta(days=120))  # + stray duplicate files
    # a check across symbols (each venue's median return) that trips here, and a check of the whole night
    QACheck.update(threshold_params={"window": 20, "delta": 0.02, "min_symbols": 1}).where(
        QACheck.check_name == "correlation_drift").execute()
    for night in range(3):
        BatchLatency.create(run_id="r", night=TODAY - dt.timedelta(days=night), batch_no=0, symbols=50, latency_ms=60_000)
    yield settings, service
    service.close()


def test_chunks_of_any_size_find_what_the_whole_universe_finds(home: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings, service = home
    whole = run_qa(settings, service.db, TODAY, run_id="whole", chunk_symbols=None)
    expected = _results()
    found = expected[0]
    assert not whole.crashed and whole.universe_size > 100
    for check in ("correlation_drift", "api_latency", "duplicate_dates", "missing_dates", "price_jump", "stale_price"):
        assert any(c == check for c, _s, _d in found), f"{check} found nothing: the comparison would prove little"
    sizes: list[int] = []
    real = qa_data.load_chunks

    def counted(*args: Any) -> Any:
        for chunk in real(*args):
            sizes.append(chunk.size)
            yield chunk

    monkeypatch.setattr(runner, "load_chunks", counted)
    for chunk_symbols in (1, 7, 64, whole.universe_size):
        sizes.clear()
        QAFailure.delete().execute()
        QASummary.delete().execute()
        result = run_qa(settings, service.db, TODAY, run_id="whole", chunk_symbols=chunk_symbols)
        assert _results() == expected, f"chunks of {chunk_symbols} symbols"
        assert result.universe_size == whole.universe_size and max(sizes) <= chunk_symbols
        assert len(sizes) == -(-whole.universe_size // chunk_symbols)
