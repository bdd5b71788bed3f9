"""A metadata database that fills up mid-fetch (SQLite capped with PRAGMA max_page_count: a real SQLITE_FULL): the job
exits DBFULL, nothing is recorded as fetched that is not in the lake, and a rerun with room again completes."""

from __future__ import annotations

from praf_engine.db.models import CronStatus, TickerFetchMeta
from praf_engine.lake import Lake
from tests.engine.fetch.conftest import insert_universe, lake_matches, run_fetch
from tests.engine.test_db_full import fill_sqlite


def test_a_full_database_mid_fetch_exits_dbfull_and_the_rerun_completes(make_sandbox, tmp_path):
    from praf_engine.service import EngineService
    from tests.engine.fetch.conftest import home_settings

    sandbox = make_sandbox(60)
    settings = home_settings(tmp_path / "home", sandbox, fetch__batch_size=4, fetch__workers=1)
    service = EngineService.open(settings)
    try:
        symbols = insert_universe(sandbox.market)
        commits = []

        def progress(state: dict) -> None:  # on the job's thread, after each batch's commit: its connection
            commits.append(state["done"])
            if len(commits) == 1:
                fill_sqlite(service.db)

        assert run_fetch(settings, service.db, progress=progress) == 1
        run = CronStatus.select().where(CronStatus.job == "fetch").order_by(CronStatus.id.desc()).first()
        assert (run.exit_code, run.error_code) == (1, "DBFULL") and run.detail["error"]["error_code"] == "DBFULL"
        assert 1 <= len(commits) < len(symbols) // 4  # stopped part-way, after the first batch

        lake = Lake(settings.lake_dir)
        recorded = {m.symbol_id: m.last_fetched_date for m in TickerFetchMeta.select() if m.last_fetched_date}
        assert 4 <= len(recorded) < len(symbols)
        for sym, last in recorded.items():  # never ahead of the lake
            assert lake.last_date(sym) is not None and lake.last_date(sym) >= last, sym

        service.db.execute_sql("PRAGMA max_page_count = 1073741823")  # room again: the quota raised,
        service.db.execute_sql("DROP TABLE ballast")  # the ballast gone
        assert run_fetch(settings, service.db) == 0
        assert TickerFetchMeta.select().where(TickerFetchMeta.fetch_status == "ok").count() == len(symbols)
        assert all(lake_matches(lake, sandbox.market, sym) for sym in symbols)
    finally:
        service.close()
