"""`praf-engine sql` is read-only for real: whatever would write, read files, load extensions or change settings is SQLBAD, and the disk stays as it was."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from praf_engine.analytics import connect, run_query
from praf_engine.cli import main
from praf_engine.errors import PipelineError
from praf_engine.lake import Lake

DAYS = pd.bdate_range("2024-12-27", "2025-01-08")  # 3 bars in 2024, 6 in 2025
SYMBOLS = ("AAPL", "VOD.L")
BARS = len(DAYS) * len(SYMBOLS)
TOKEN = "123456789:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


@dataclass
class Site:
    """A praf home with two symbols in the lake, plus the other places a statement might write to."""

    home: Path
    lake: Path
    out: Path  # a folder outside the home holding a file
    user_home: Path  # $HOME: where DuckDB keeps extensions and secrets
    cwd: Path  # the working folder: where DuckDB spills by default
    tmp: Path  # the system temp folder of the test

    def paths(self) -> dict[str, str]:
        return {"home": str(self.home), "lake": str(self.lake), "out": str(self.out), "user_home": str(self.user_home)}

    def snapshot(self) -> dict[str, tuple[bool, int, int]]:
        """Every file and folder under the site: name -> (is a folder, size, mtime in ns)."""
        seen = {}
        for root in (self.home, self.out, self.user_home, self.cwd, self.tmp):
            for folder, dirs, files in os.walk(root):
                for name in [".", *dirs, *files]:
                    path = Path(folder, name)
                    st = path.lstat()
                    seen[str(path)] = (path.is_dir(), 0 if path.is_dir() else st.st_size, st.st_mtime_ns)
        seen[str(self.tmp / ".")] = (True, 0, 0)  # each query's spill folder comes and goes in there; nothing may stay
        return seen


def _write_bars(lake: Path, symbols: tuple[str, ...] = SYMBOLS) -> None:
    for symbol in symbols:
        Lake(lake).write(symbol, pd.DataFrame({
            "date": DAYS, "open": 10.0, "high": 11.0, "low": 9.5, "close": 10.5, "adj_close": 10.25, "volume": 1000,
        }))


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One initialised SQLite home with bars and two tickers; each test works on its own copy."""
    home = tmp_path_factory.mktemp("template") / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("DATABASE_URL", raising=False)
        assert main(["--home", str(home), "init"]) == 0
    _write_bars(home / "lake")
    conn = sqlite3.connect(home / "praf.db")
    conn.executemany("insert into tickers (symbol, exchange_code, first_seen, last_seen, status, is_etf, updated_at)"
                     " values (?, ?, '2024-01-02', '2025-01-08', 'active', 0, '2025-01-08 00:00:00')",
                     [("AAPL", "nasdaq"), ("VOD.L", "ftse")])
    conn.commit()
    conn.close()
    return home


@pytest.fixture
def site(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    s = Site(home=tmp_path / "home", lake=tmp_path / "home" / "lake", out=tmp_path / "out",
             user_home=tmp_path / "user", cwd=tmp_path / "cwd", tmp=tmp_path / "tmp")
    shutil.copytree(template, s.home)
    for folder in (s.out, s.user_home, s.cwd, s.tmp):
        folder.mkdir()
    (s.out / "secret.txt").write_text("s3cret\n")
    (s.out / "rows.csv").write_text("a,b\n1,2\n")
    (s.out / "doc.json").write_text('{"a": 1}\n')
    (s.out / "dump").mkdir()
    (s.out / "dump" / "schema.sql").write_text("CREATE TABLE z (a INTEGER);\n")
    (s.out / "dump" / "load.sql").write_text("")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("HOME", str(s.user_home))
    monkeypatch.setattr(tempfile, "tempdir", str(s.tmp))
    monkeypatch.chdir(s.cwd)
    yield s


# What a reader of DuckDB's docs would try. `True`: DuckDB itself (the locked connection) must refuse it too,
# not only praf's check of the statement; `False`: harmless in an in-memory DuckDB, refused by praf only.
# Ids starting with "net-" would make an unlocked DuckDB download an extension from the internet.
REFUSED = {
    "copy-to-file": ("COPY (SELECT 1 AS x) TO '{out}/x.csv'", True),
    "copy-into-lake": ("COPY (SELECT * FROM prices) TO '{lake}/symbol=AAPL/year=2025/part-001.parquet' (FORMAT parquet)", True),
    "copy-partitioned-into-lake": ("COPY prices TO '{lake}' (FORMAT parquet, PARTITION_BY (symbol, year), OVERWRITE_OR_IGNORE)", True),
    "copy-from": ("CREATE TABLE t (a INT, b INT); COPY t FROM '{out}/rows.csv'", True),
    "copy-database": ("COPY FROM DATABASE memory TO memory", False),
    "export-database": ("EXPORT DATABASE '{out}/export'", True),
    "import-database": ("IMPORT DATABASE '{out}/dump'", True),
    "attach-new-file": ("ATTACH '{out}/new.db' AS n", True),
    "attach-lake-file": ("ATTACH '{home}/lake.duckdb'", True),
    "attach-memory": ("ATTACH ':memory:' AS m", False),
    "detach": ("DETACH memory", False),
    "use": ("USE memory", False),
    "net-install": ("INSTALL httpfs FROM 'http://127.0.0.1:9'", True),
    "net-force-install": ("FORCE INSTALL httpfs FROM 'http://127.0.0.1:9'", True),
    "net-load": ("LOAD httpfs", True),
    "net-update-extensions": ("UPDATE EXTENSIONS", True),
    "net-attach-sqlite": ("ATTACH '{home}/praf.db' (TYPE sqlite)", True),
    "net-read-http": ("SELECT * FROM read_csv('http://127.0.0.1:9/x.csv')", True),
    "net-extension-function": ("SELECT * FROM iceberg_scan('{out}/table')", True),
    "net-excel": ("SELECT * FROM read_xlsx('{out}/book.xlsx')", True),
    "read-csv": ("SELECT * FROM read_csv('/etc/passwd', sep = ':')", True),
    "read-csv-auto": ("SELECT * FROM read_csv_auto('/etc/passwd')", True),
    "read-text": ("SELECT * FROM read_text('/etc/passwd')", True),
    "read-blob": ("SELECT * FROM read_blob('/etc/passwd')", True),
    "read-json": ("SELECT * FROM read_json('{out}/doc.json')", True),
    "read-json-auto": ("SELECT * FROM read_json_auto('{out}/doc.json')", True),
    "read-ndjson-objects": ("SELECT * FROM read_ndjson_objects('{out}/doc.json')", True),
    "read-parquet-lake": ("SELECT * FROM read_parquet('{lake}/*/*/*.parquet')", True),
    "parquet-metadata": ("SELECT * FROM parquet_metadata('{lake}/symbol=AAPL/year=2025/part-000.parquet')", True),
    "sniff-csv": ("SELECT * FROM sniff_csv('{out}/rows.csv')", True),
    "read-home-db": ("SELECT * FROM read_blob('{home}/praf.db')", True),
    "read-home-log": ("SELECT * FROM read_text('{home}/logs/*')", True),
    "read-outside-file": ("SELECT content FROM read_text('{out}/secret.txt')", True),
    "file-as-table": ("SELECT * FROM '{out}/rows.csv'", True),
    "glob": ("SELECT * FROM glob('/etc/*')", True),
    "glob-home": ("SELECT * FROM glob('{user_home}/**')", True),
    "set-external-access": ("SET enable_external_access = true", True),
    "reset-external-access": ("RESET enable_external_access", True),
    "unlock": ("SET lock_configuration = false", True),
    "set-autoinstall": ("SET autoinstall_known_extensions = true", True),
    "set-community": ("SET allow_community_extensions = true", True),
    "set-allowed-dirs": ("SET allowed_directories = ['/']", True),
    "set-temp-directory": ("SET temp_directory = '{out}/spill'", True),
    "set-profiling-output": ("SET profiling_output = '{out}/profile.json'", True),
    "set-threads": ("SET threads = 1", True),
    "set-global": ("SET GLOBAL memory_limit = '1GB'", True),
    "set-variable": ("SET VARIABLE x = 1", False),
    "pragma-threads": ("PRAGMA threads = 1", True),
    "pragma-profiling": ("PRAGMA enable_profiling", True),
    "pragma-checkpoint-on-shutdown": ("PRAGMA enable_checkpoint_on_shutdown", True),
    "pragma-database-list": ("PRAGMA database_list", False),
    "call-enable-logging": ("CALL enable_logging()", True),
    "select-enable-logging": ("SELECT * FROM enable_logging()", True),
    "call-glob": ("CALL glob('/etc/*')", True),
    "call-pragma": ("CALL pragma_version()", False),
    "checkpoint": ("CHECKPOINT", False),
    "vacuum": ("VACUUM", False),
    "net-create-secret": ("CREATE SECRET s (TYPE s3, KEY_ID 'a', SECRET 'b')", True),
    "net-create-persistent-secret": ("CREATE PERSISTENT SECRET p (TYPE s3, KEY_ID 'a', SECRET 'b')", True),
    "create-table": ("CREATE TABLE t AS SELECT 1 AS x", False),
    "create-view-prices": ("CREATE OR REPLACE VIEW prices AS SELECT 1 AS x", False),
    "create-macro": ("CREATE MACRO m(a) AS a + 1", False),
    "insert-prices": ("INSERT INTO prices SELECT * FROM prices", False),
    "insert-tickers": ("INSERT INTO tickers (symbol) VALUES ('EVIL')", False),
    "update-tickers": ("UPDATE tickers SET status = 'delisted'", False),
    "delete-tickers": ("DELETE FROM tickers", False),
    "drop-prices": ("DROP VIEW prices", False),
    "alter": ("ALTER VIEW prices RENAME TO p", False),
    "transaction": ("BEGIN TRANSACTION", False),
    "prepare": ("PREPARE p AS SELECT 1", False),
    "explain-analyze-copy": ("EXPLAIN ANALYZE COPY (SELECT 1 AS x) TO '{out}/e.csv'", True),
    "explain-create": ("EXPLAIN CREATE TABLE t AS SELECT 1", False),
    "select-then-copy": ("SELECT 1; COPY (SELECT 1 AS x) TO '{out}/m.csv'", True),
    "copy-then-select": ("COPY (SELECT 1 AS x) TO '{out}/m.csv'; SELECT 1", True),
    "select-then-attach": ("SELECT 1;ATTACH '{out}/m.db'", True),
    "comment-then-copy": ("/* just a query */ COPY (SELECT 1 AS x) TO '{out}/c.csv'", True),
}


def _query(template: str, site: Site) -> str:
    return template.format(**site.paths())


def _count(site: Site) -> int:
    return run_query(site.lake, "select count(*) as n from prices").column("n").to_pylist()[0]


@pytest.mark.parametrize("case", list(REFUSED))
def test_refused_statement_is_sqlbad_and_changes_nothing(site: Site, case: str) -> None:
    query = _query(REFUSED[case][0], site)
    before = site.snapshot()
    with pytest.raises(PipelineError) as err:
        run_query(site.lake, query)
    assert err.value.error_code == "SQLBAD"
    assert "`praf-engine sql` is read-only" in err.value.msg and "not allowed" in err.value.msg
    assert "\n" not in err.value.msg
    assert err.value.detail == {"query": query}
    assert site.snapshot() == before
    assert _count(site) == BARS


@pytest.mark.parametrize("case", [c for c, (_, locked) in REFUSED.items() if locked])
def test_the_connection_itself_refuses_file_extension_and_setting_access(site: Site, case: str) -> None:
    """Below praf's statement check: DuckDB as `connect` hands it over refuses these on its own."""
    query = _query(REFUSED[case][0], site)
    before = site.snapshot()
    con = connect(site.lake, query)
    try:
        with pytest.raises(duckdb.Error) as err:
            con.execute(query).fetchall()
    finally:
        con.close()
    message = str(err.value).splitlines()[0]
    assert (isinstance(err.value, duckdb.PermissionException) or "configuration has been locked" in message
            or re.search(r"but it exists in the \w+ extension", message)), message
    assert site.snapshot() == before


def test_the_connection_is_locked_down(site: Site) -> None:
    con = connect(site.lake, "select 1")
    try:
        settings = dict(con.execute("select name, value from duckdb_settings()").fetchall())
    finally:
        con.close()
    assert settings["enable_external_access"] == "false"
    assert settings["autoinstall_known_extensions"] == "false"
    assert settings["autoload_known_extensions"] == "false"
    assert settings["allow_community_extensions"] == "false"
    assert settings["allow_persistent_secrets"] == "false"
    assert settings["python_enable_replacements"] == "false"
    assert settings["lock_configuration"] == "true"


@pytest.mark.parametrize("query", ["select 1; select 2", "select 1;;select 2", "", " ; -- nothing"])
def test_one_statement_per_call(site: Site, query: str) -> None:
    with pytest.raises(PipelineError) as err:
        run_query(site.lake, query)
    assert err.value.error_code == "SQLBAD" and "one statement" in err.value.msg


def test_environment_is_not_reachable(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    """getenv() does not exist in this DuckDB; no setting carries a secret of the environment."""
    monkeypatch.setenv("PRAF_TELEGRAM_TOKEN", TOKEN)
    with pytest.raises(PipelineError) as err:
        run_query(site.lake, "select getenv('PRAF_TELEGRAM_TOKEN') as t")
    assert err.value.error_code == "SQLBAD"
    settings = run_query(site.lake, "select name, value, current_setting('home_directory') as h from duckdb_settings()")
    assert TOKEN not in json.dumps(settings.to_pylist(), default=str)


LEGITIMATE = {
    "aggregate": ("select symbol, year, count(*) as n from prices group by all order by all",
                  [{"symbol": "AAPL", "year": 2024, "n": 3}, {"symbol": "AAPL", "year": 2025, "n": 6},
                   {"symbol": "VOD.L", "year": 2024, "n": 3}, {"symbol": "VOD.L", "year": 2025, "n": 6}]),
    "metadata-join": ("select t.exchange_code, count(*) as n from tickers t join prices p using (symbol)"
                      " where p.year = 2025 group by 1 order by 1", [{"exchange_code": "ftse", "n": 6},
                                                                    {"exchange_code": "nasdaq", "n": 6}]),
    "with": ("with last as (select symbol, max(date) as d from prices group by 1) select count(*) as n from last", [{"n": 2}]),
    "from-first": ("from prices select count(distinct symbol) as n", [{"n": 2}]),
    "values": ("values (1, 'a')", [{"col0": 1, "col1": "a"}]),
    "union": ("(select 1 as n) union all (select 2) order by n", [{"n": 1}, {"n": 2}]),
    "pivot": ("pivot (select symbol, year from prices) on year using count(*) order by symbol",
              [{"symbol": "AAPL", "2024": 3, "2025": 6}, {"symbol": "VOD.L", "2024": 3, "2025": 6}]),
    "unpivot": ("unpivot (select 1 as a, 2 as b) on a, b into name k value v order by k",
                [{"k": "a", "v": 1}, {"k": "b", "v": 2}]),
    "trailing-semicolon": ("select count(*) as n from prices where symbol = 'AAPL';", [{"n": 9}]),
    "leading-comment": ("-- bars of AAPL\nselect count(*) as n from prices where symbol = 'AAPL'", [{"n": 9}]),
}


@pytest.mark.parametrize("case", list(LEGITIMATE))
def test_legitimate_queries_still_work(site: Site, case: str) -> None:
    query, expected = LEGITIMATE[case]
    before = site.snapshot()
    assert run_query(site.lake, query).to_pylist() == expected
    assert site.snapshot() == before


@pytest.mark.parametrize("query", ["describe prices", "summarize prices", "show prices", "explain select * from prices",
                                   "explain analyze select count(*) from prices where symbol = 'AAPL'",
                                   "explain pivot prices on year using count(*)", "explain (format json) select 1",
                                   "table prices", "select * from (pivot prices on year using count(*))",
                                   "select * from duckdb_settings()", "select * from pragma_table_info('prices')"])
def test_introspection_still_works(site: Site, query: str) -> None:
    before = site.snapshot()
    assert run_query(site.lake, query).num_rows > 0
    assert site.snapshot() == before


def test_filters_reach_the_partitions(site: Site) -> None:
    """`where symbol = …` reads only that symbol's files: a broken file of another symbol is never opened."""
    (site.lake / "symbol=VOD.L" / "year=2025" / "part-000.parquet").write_bytes(b"not parquet")
    assert run_query(site.lake, "select count(*) as n from prices where symbol = 'AAPL'").to_pylist() == [{"n": 9}]
    assert run_query(site.lake, "select count(*) as n from prices where year = 2024").to_pylist() == [{"n": 6}]
    with pytest.raises(PipelineError) as err:
        run_query(site.lake, "select count(*) from prices")
    assert err.value.error_code == "SQLBAD" and "read-only" not in err.value.msg


def test_only_partition_files_are_served(site: Site) -> None:
    """A writer's temp file and a stray file in the lake are not rows of `prices`."""
    aapl = site.lake / "symbol=AAPL" / "year=2025"
    shutil.copy(aapl / "part-000.parquet", aapl / ".part-000.parquet.123.abc.tmp")
    (site.lake / "README.txt").write_text("notes\n")
    (aapl / "notes.txt").write_text("notes\n")
    assert _count(site) == BARS


def test_empty_and_missing_lake(site: Site) -> None:
    shutil.rmtree(site.lake)
    assert run_query(site.lake, "select count(*) as n from prices").to_pylist() == [{"n": 0}]
    site.lake.mkdir()
    assert run_query(site.lake, "select symbol, close from prices").column_names == ["symbol", "close"]
    assert not any(site.lake.iterdir())


# ------------------------------------------------------------------------------- the real command
def _sql(site: Site, query: str, *fmt: str) -> int:
    return main(["--home", str(site.home), "sql", query, *fmt])


def _disk(site: Site) -> dict[str, tuple[bool, int, int]]:
    """The snapshot less the log the command writes to, and less SQLite's -wal and -shm files (the command opens the
    database in WAL mode) and the home folder's own mtime (they come and go there); praf.db itself is compared."""
    wal = (str(site.home / "praf.db-wal"), str(site.home / "praf.db-shm"))
    seen = {k: v for k, v in site.snapshot().items() if not k.startswith(str(site.home / "logs")) and k not in wal}
    seen[str(site.home / ".")] = (True, 0, 0)
    return seen


@pytest.mark.parametrize("case", ["copy-into-lake", "attach-new-file", "read-csv", "unlock", "select-then-copy", "create-table"])
def test_cli_refuses_and_changes_nothing(site: Site, case: str, capsys: pytest.CaptureFixture[str]) -> None:
    before = _disk(site)
    assert _sql(site, _query(REFUSED[case][0], site)) == 1
    err = capsys.readouterr().err
    assert "[SQLBAD]" in err and "read-only" in err
    assert _disk(site) == before
    assert _sql(site, "select count(*) as n from prices", "--format", "json") == 0
    assert json.loads(capsys.readouterr().out) == [{"n": BARS}]


def test_cli_answers_prices_and_metadata(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    before = _disk(site)
    for case in ("aggregate", "metadata-join", "pivot"):
        query, expected = LEGITIMATE[case]
        assert _sql(site, query, "--format", "json") == 0
        assert json.loads(capsys.readouterr().out) == expected
    assert _disk(site) == before


def test_cli_on_an_empty_lake(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.rmtree(site.lake)
    site.lake.mkdir()
    assert _sql(site, "select count(*) as n from prices", "--format", "json") == 0
    assert json.loads(capsys.readouterr().out) == [{"n": 0}]
