"""Athena SQL, locally: Glue table names -> their Parquet/JSON files -> DuckDB, the dialect by sqlglot.

Tables come from the Glue catalog the local flow saves (``.orchard/local/catalog.json``); each table's (or
partition's) s3:// location is read from the saved bucket folder. Partition columns (``run_id``) are added
from the partition values, as Athena does; a column no Parquet file of a table holds (files written before
the column was added) reads as NULL, as Athena reads it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import sqlglot
from sqlglot import exp

from orchard.errors import UserError
from orchard.local.keys import KeyFolder
from orchard.local.state import bucket_dir, catalog_path
from orchard.query_errors import engine_problem, known_tables, parse_problem
from orchard_contract.layout import S3Uri

HIVE_TO_DUCKDB = {
    "string": "VARCHAR",
    "bigint": "BIGINT",
    "int": "INTEGER",
    "double": "DOUBLE",
    "float": "FLOAT",
    "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMP",
    "array<float>": "FLOAT[]",
    "array<double>": "DOUBLE[]",
}


class QueryError(UserError):
    """The query could not run locally; the message says why (and where), in one line."""


@dataclass(frozen=True)
class Result:
    columns: list[str]
    rows: list[tuple[Any, ...]]


def connect(state_dir: Path) -> duckdb.DuckDBPyConnection:
    """DuckDB with one view per Glue table, in a schema named like the Glue database (also the default)."""
    catalog_file = catalog_path(state_dir)
    if not catalog_file.exists():
        raise QueryError(f"no local catalog at {catalog_file}: run `orchard demo` (or `make demo`) first")
    catalog = json.loads(catalog_file.read_text())
    con = duckdb.connect()
    database = catalog["database"]
    con.execute(f'CREATE SCHEMA "{database}"')
    for table in catalog["tables"]:
        con.execute(f'CREATE VIEW "{database}"."{table["Name"]}" AS {table_sql(table, state_dir)}')
    con.execute(f"SET search_path = '{database}'")
    return con


def table_sql(table: dict[str, Any], state_dir: Path) -> str:
    columns = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
    keys = [k["Name"] for k in table.get("PartitionKeys", [])]
    json_format = "JsonSerDe" in table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"]
    if not keys:
        return scan_sql(table["StorageDescriptor"]["Location"], columns, json_format, state_dir, {})
    parts = [
        scan_sql(
            p["StorageDescriptor"]["Location"],
            columns,
            json_format,
            state_dir,
            dict(zip(keys, p["Values"], strict=True)),
        )
        for p in table.get("Partitions", [])
    ]
    return " UNION ALL ".join(parts) if parts else empty_sql(columns + [(k, "string") for k in keys])


def scan_sql(
    location: str,
    columns: list[tuple[str, str]],
    json_format: bool,
    state_dir: Path,
    partition: dict[str, str],
) -> str:
    uri = S3Uri.parse(location)
    folder = KeyFolder(bucket_dir(state_dir, uri.bucket)).folder(uri.key)
    suffix = ".json" if json_format else ".parquet"
    files = sorted(str(p) for p in folder.rglob(f"*{suffix}") if not p.name.startswith(("_", ".")))
    if not files:
        return empty_sql(columns + [(k, "string") for k in partition])
    held = columns_of(files) if not json_format else {n for n, _ in columns}
    select = ", ".join(
        f'CAST({quoted(n) if n in held else "NULL"} AS {duck_type(t)}) AS "{n}"' for n, t in columns
    )
    select += "".join(f', {literal(v)} AS "{k}"' for k, v in partition.items())
    file_list = "[" + ", ".join(literal(f) for f in files) + "]"
    if json_format:
        declared = "{" + ", ".join(f"{literal(n)}: {literal(duck_type(t))}" for n, t in columns) + "}"
        return (
            f"SELECT {select} FROM read_json({file_list}, columns = {declared}, format = 'newline_delimited')"
        )
    return f"SELECT {select} FROM read_parquet({file_list}, union_by_name = true)"


def columns_of(parquet_files: list[str]) -> set[str]:
    """The columns any of the files holds (their footers only)."""
    return {name for file in parquet_files for name in pq.read_schema(file).names}


def quoted(name: str) -> str:
    return f'"{name}"'


def empty_sql(columns: list[tuple[str, str]]) -> str:
    return (
        "SELECT " + ", ".join(f'CAST(NULL AS {duck_type(t)}) AS "{n}"' for n, t in columns) + " WHERE false"
    )


def duck_type(hive: str) -> str:
    return HIVE_TO_DUCKDB.get(hive.lower().replace(" ", ""), "VARCHAR")


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def to_duckdb(sql: str) -> list[str]:
    """Athena (Trino) SQL -> DuckDB statements, with the rewrites sqlglot does not do itself."""
    statements = []
    for parsed in sqlglot.parse(sql, read="athena"):
        if parsed is not None:
            statements.append(parsed.transform(_zip_with).transform(_reduce_finish).sql(dialect="duckdb"))
    return statements


def _zip_with(node: exp.Expression) -> exp.Expression:
    """zip_with(a, b, (x, y) -> f) -> list_transform over 1..max(len), x := a[i], y := b[i] (NULL-padded)."""
    if not (isinstance(node, exp.Anonymous) and str(node.this).lower() == "zip_with"):
        return node
    left, right, function = node.expressions
    if not isinstance(function, exp.Lambda) or len(function.expressions) != 2:
        return node
    index = exp.to_identifier("__orchard_i")
    x, y = (str(e.this) if isinstance(e, exp.Identifier) else e.name for e in function.expressions)
    picks = {x: _element(left, index), y: _element(right, index)}
    body = _substitute(function.this.copy(), picks)
    upper = sqlglot.parse_one("greatest(len(__l), len(__r)) + 1", read="duckdb")
    upper = upper.transform(
        lambda n: left.copy() if _named(n, "__l") else right.copy() if _named(n, "__r") else n
    )
    indices = exp.Anonymous(this="range", expressions=[exp.Literal.number(1), upper])
    return exp.Anonymous(
        this="list_transform", expressions=[indices, exp.Lambda(this=body, expressions=[index])]
    )


def _reduce_finish(node: exp.Expression) -> exp.Expression:
    """reduce(a, s0, merge, finish): DuckDB has no finish argument, so apply finish to the reduced value."""
    if not isinstance(node, exp.Reduce) or not isinstance(node.args.get("finish"), exp.Lambda):
        return node
    finish = node.args["finish"]
    reduced = node.copy()
    reduced.set("finish", None)
    [param] = finish.expressions
    return _substitute(finish.this.copy(), {param.name: reduced})


def _element(array: exp.Expression, index: exp.Identifier) -> exp.Expression:
    return exp.Bracket(this=array.copy(), expressions=[exp.column(index.copy())], offset=1)


def _named(node: exp.Expression, name: str) -> bool:
    return isinstance(node, exp.Column | exp.Identifier) and node.name == name


def _substitute(body: exp.Expression, values: dict[str, exp.Expression]) -> exp.Expression:
    def replace(node: exp.Expression) -> exp.Expression:
        if (
            isinstance(node, exp.Identifier | exp.Column)
            and not node.args.get("table")
            and node.name in values
        ):
            if isinstance(node, exp.Identifier) and isinstance(node.parent, exp.Column):
                return node
            return values[node.name].copy()
        return node

    return body.transform(replace)


def run_query(state_dir: Path, sql: str) -> Result:
    con = connect(state_dir)
    try:
        statements = to_duckdb(sql)
    except sqlglot.errors.SqlglotError as e:
        raise QueryError(f"{parse_problem(e)} ({known_tables(con)})") from e
    if not statements:
        raise QueryError("no SQL statement given")
    result = None
    for statement in statements:
        try:
            result = con.execute(statement)
        except duckdb.Error as e:
            raise QueryError(f"{engine_problem(e, statement)} ({known_tables(con)})") from e
    assert result is not None
    columns = [d[0] for d in result.description or []]
    return Result(columns, result.fetchall())
