"""Ad-hoc SQL (`praf-engine sql`): a read-only, locked-down DuckDB over the lake (`prices`) and the metadata tables."""

from __future__ import annotations

import glob
import json
import os
import re
import tempfile
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
from peewee import Model

from praf_engine.db.models import ALL_MODELS
from praf_engine.errors import PipelineError
from praf_engine.lake import LAKE_SCHEMA

_ARROW_TYPES = {
    "DATE": pa.date32(),
    "DATETIME": pa.timestamp("us"),
    "BOOL": pa.bool_(),
    "INT": pa.int64(),
    "SMALLINT": pa.int64(),
    "BIGINT": pa.int64(),
    "AUTO": pa.int64(),
    "FLOAT": pa.float64(),
    "DOUBLE": pa.float64(),
}
PRICES_SCHEMA = pa.schema([*LAKE_SCHEMA, pa.field("symbol", pa.string()), pa.field("year", pa.int32())])
_PARTITIONING = ds.partitioning(pa.schema([PRICES_SCHEMA.field("symbol"), PRICES_SCHEMA.field("year")]), flavor="hive")

# Applied in this order once the connection is open, before anything else runs on it (ADR 0007). External access off
# means no file, directory or network access through DuckDB (COPY, ATTACH, EXPORT, INSTALL, read_*, glob, secrets);
# the lake is scanned by pyarrow and handed over as a registered Arrow dataset. The lock refuses every later SET/RESET/
# PRAGMA that would undo any of it. The spill folder (temp_directory) is set when connecting, before access goes off.
LOCKDOWN = (
    ("python_enable_replacements", "false"),  # no table named after a Python variable of the caller
    ("allow_persistent_secrets", "false"),
    ("autoinstall_known_extensions", "false"),
    ("autoload_known_extensions", "false"),
    ("allow_community_extensions", "false"),
    ("enable_external_access", "false"),
    ("lock_configuration", "true"),
)
QUERY_KINDS = "SELECT, WITH, FROM, VALUES, TABLE, PIVOT, UNPIVOT, DESCRIBE, SHOW, SUMMARIZE or EXPLAIN"
_READ_ONLY = "`praf-engine sql` is read-only"
_EXPLAIN = re.compile(r"\s*explain\s+(?:analy[sz]e\s+)?(?:\([^)]*\)\s*)?", re.IGNORECASE)
# DuckDB parses a PIVOT whose values come from the data as several statements (an enum of the values, then the query).
# What DuckDB says of a function, type or secret of an extension that it may not load (autoload is off).
_NOT_LOADED = re.compile(r"but it exists in the \w+ extension")
_PIVOT = re.compile(r"[\s(]*(?:select|with|from|pivot|pivot_wider|unpivot|pivot_longer)\b", re.IGNORECASE)


def table_to_arrow(model: type[Model]) -> pa.Table:
    """A metadata table as an Arrow table with typed columns (JSON columns as JSON text)."""
    fields = list(model._meta.sorted_fields)
    rows = list(model.select(*fields).tuples())
    columns, schema = [], []
    for i, field in enumerate(fields):
        kind = field.field_type
        typ = _ARROW_TYPES.get(kind, pa.string())
        values = [r[i] for r in rows]
        if kind == "JSON":
            values = [None if v is None else json.dumps(v) for v in values]
        elif typ == pa.string():
            values = [None if v is None else str(v) for v in values]
        columns.append(pa.array(values, type=typ))
        schema.append(pa.field(field.column_name, typ))
    return pa.Table.from_arrays(columns, schema=pa.schema(schema))


def prices_dataset(lake_root: Path) -> ds.Dataset | pa.Table:
    """The lake's partition files (`symbol=*/year=*/*.parquet`) as one pyarrow dataset; an empty table if it has none.

    Filters on symbol and year prune whole files; other filters and the columns are pushed into the Parquet scan.
    Writers' temp files (dot files) and stray non-Parquet files are not part of it.
    """
    root = os.path.abspath(lake_root)
    files = sorted(glob.glob(os.path.join(glob.escape(root), "symbol=*", "year=*", "*.parquet")))
    if not files:
        return PRICES_SCHEMA.empty_table()
    return ds.dataset(files, format="parquet", schema=PRICES_SCHEMA, partitioning=_PARTITIONING, partition_base_dir=root)


def locked_connection(spill_dir: Path | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with no file, network, extension or settings access. ``spill_dir``: where a query larger
    than memory may spill (DuckDB's own temp files); None: no spilling."""
    con = duckdb.connect(":memory:", config={"temp_directory": "" if spill_dir is None else str(spill_dir)})
    try:
        for name, value in LOCKDOWN:
            con.execute(f"SET {name} = {value}")
        names = [name for name, _ in LOCKDOWN]
        got = dict(con.execute("SELECT name, value FROM duckdb_settings() WHERE name = ANY(?)", [names]).fetchall())
    except BaseException:
        con.close()
        raise
    if got != dict(LOCKDOWN):
        con.close()
        raise PipelineError("INTERNAL", "DuckDB could not be locked down for `praf-engine sql`", {"settings": got})
    return con


def connect(lake_root: Path, query: str, *, spill_dir: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A locked-down DuckDB with `prices` over the lake and each metadata table, when the query names them."""
    con = locked_connection(spill_dir)
    try:
        register_tables(con, lake_root, query)
    except BaseException:
        con.close()
        raise
    return con


def register_tables(con: duckdb.DuckDBPyConnection, lake_root: Path, query: str) -> None:
    """Register `prices` and each metadata table whose name appears as a word in the query (the others cost nothing)."""
    if _names(query, "prices"):
        con.register("prices", prices_dataset(lake_root))
    for model in ALL_MODELS:
        name = model._meta.table_name
        if _names(query, name):
            con.register(name, table_to_arrow(model))


def run_query(lake_root: Path, query: str) -> pa.Table:
    """Run one read-only query. Anything else, and any DuckDB error, is SQLBAD (DuckDB's first line, the query in detail)."""
    detail = {"query": query[:500]}
    with tempfile.TemporaryDirectory(prefix="praf-sql-") as spill:
        con = locked_connection(Path(spill))
        try:
            check_statement(con, query)
            register_tables(con, lake_root, query)
            relation = con.sql(query)
            return pa.table({}) if relation is None else relation.to_arrow_table()
        except duckdb.Error as exc:
            raise PipelineError("SQLBAD", _message(exc), detail) from None
        finally:
            con.close()


def check_statement(con: duckdb.DuckDBPyConnection, query: str) -> None:
    """Refuse (SQLBAD) anything but exactly one query: no COPY, ATTACH, SET, PRAGMA, CREATE, INSERT, CALL, ….

    DuckDB's own lockdown (`locked_connection`) would refuse what touches files, extensions or settings anyway; this
    check also refuses what would only change the throw-away in-memory database, and says so in plain words.
    """
    statements = con.extract_statements(query)
    for statement in statements:
        refused = _refused_kind(con, statement)
        if refused:
            raise PipelineError("SQLBAD", f"{_READ_ONLY}: {refused} statements are not allowed (one query only: "
                                f"{QUERY_KINDS})", {"query": query[:500]})
    if len(statements) != 1:
        got = "none" if not statements else str(len(statements))
        raise PipelineError("SQLBAD", f"`praf-engine sql` runs exactly one statement; this query has {got}",
                            {"query": query[:500]})


def _refused_kind(con: duckdb.DuckDBPyConnection, statement: duckdb.Statement) -> str | None:
    """The kind of a statement that is not a query (e.g. "COPY"); None for a query."""
    try:
        kind = statement.type
    except ValueError:  # a kind this Python client has no name for (e.g. UPDATE EXTENSIONS): never a query
        return " ".join(statement.query.split()[:2]).upper() or "unknown"
    if kind == duckdb.StatementType.SELECT:
        return None
    if kind == duckdb.StatementType.MULTI and _PIVOT.match(_after_explain(statement.query)):
        return None  # a PIVOT, or EXPLAIN of one
    if kind == duckdb.StatementType.EXPLAIN:
        inner = _after_explain(statement.query)
        statements = con.extract_statements(inner) if inner != statement.query else []
        if len(statements) == 1:
            return _refused_kind(con, statements[0])
    return kind.name


def _after_explain(text: str) -> str:
    """The statement that an `EXPLAIN [ANALYZE] [(options)]` prefix is about; the text itself without one."""
    head = _EXPLAIN.match(text)
    return text[head.end():] if head else text


def _message(exc: duckdb.Error) -> str:
    first = (str(exc).splitlines() or [type(exc).__name__])[0][:500]
    if (isinstance(exc, duckdb.PermissionException) or "the configuration has been locked" in first
            or _NOT_LOADED.search(first)):
        return f"{_READ_ONLY}: files, the network, extensions and settings are not allowed ({first})"
    return first


def _names(query: str, name: str) -> bool:
    return re.search(rf"\b{re.escape(name)}\b", query, re.IGNORECASE) is not None
