"""Ad-hoc SQL (`praf-engine sql`): DuckDB over the lake as view `prices`, plus the metadata tables by name."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pyarrow as pa
from peewee import Model

from praf_engine.db.models import ALL_MODELS
from praf_engine.errors import PipelineError
from praf_engine.lake import LAKE_SCHEMA, Lake

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


def connect(lake_root: Path, query: str) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with `prices` over the lake and each metadata table the query names."""
    con = duckdb.connect(":memory:")
    lake = Lake(lake_root)
    if lake_root.exists() and any(lake_root.glob("symbol=*/year=*/*.parquet")):
        glob = lake.parquet_glob().replace("'", "''")
        con.execute(
            "CREATE VIEW prices AS SELECT * FROM read_parquet("
            f"'{glob}', hive_partitioning = true, hive_types = {{'symbol': VARCHAR, 'year': INTEGER}})"
        )
    else:
        con.register("prices", PRICES_SCHEMA.empty_table())
    for model in ALL_MODELS:
        name = model._meta.table_name
        if re.search(rf"\b{re.escape(name)}\b", query, re.IGNORECASE):
            con.register(name, table_to_arrow(model))
    return con


def run_query(lake_root: Path, query: str) -> pa.Table:
    """Run one query; DuckDB errors become SQLBAD with DuckDB's message."""
    con = connect(lake_root, query)
    try:
        relation = con.sql(query)
        return pa.table({}) if relation is None else relation.to_arrow_table()
    except duckdb.Error as exc:
        raise PipelineError("SQLBAD", str(exc).splitlines()[0][:500], {"query": query[:500]}) from None
    finally:
        con.close()
