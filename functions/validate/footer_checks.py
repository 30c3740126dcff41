"""What a run's Parquet footers tell, checked against the contract: schemas, and per column chunk the counts
and statistics of the pca vectors and string columns. No row is read; the job checks what needs rows."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq
from run_files import PartFiles, nullable

from orchard_contract.tables import Columns


def hive_type(arrow_type: pa.DataType) -> str:
    """The Hive/Glue name of an Arrow type: files compare to the contract whatever their list field names."""
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return f"array<{hive_type(arrow_type.value_type)}>"
    names = {
        pa.string(): "string",
        pa.large_string(): "string",
        pa.float32(): "float",
        pa.float64(): "double",
        pa.int32(): "int",
        pa.int64(): "bigint",
    }
    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    return names.get(arrow_type, str(arrow_type))


def schema_problems(name: str, schema: pa.Schema, expected: Columns) -> list[str]:
    actual = tuple((f.name, hive_type(f.type)) for f in schema)
    if actual == expected:
        return []
    return [f"{name} schema is {_columns(actual)}, expected {_columns(expected)}"]


def _columns(columns: Columns) -> str:
    return "(" + ", ".join(f"{n} {t}" for n, t in columns) + ")"


def files_schema_problems(files: PartFiles, name: str, expected: Columns) -> list[str]:
    schemas = {nullable(footer.schema.to_arrow_schema()) for footer in files.footers.values()}
    if len(schemas) > 1:
        return [f"{files.dataset}: part files disagree on the schema"]
    return [problem for schema in schemas for problem in schema_problems(name, schema, expected)]


def chunks(
    files: PartFiles, column: str
) -> Iterator[tuple[str, pq.RowGroupMetaData, pq.ColumnChunkMetaData]]:
    """(file name, row group, chunk) of every column chunk of a top-level column (its leaf for a list)."""
    for key, footer in files.footers.items():
        for g in range(footer.num_row_groups):
            group = footer.row_group(g)
            for c in range(group.num_columns if group.num_rows else 0):  # an empty group has no statistics
                chunk = group.column(c)
                if chunk.path_in_schema.split(".")[0] == column:
                    yield f"{key.rsplit('/', 1)[-1]} row group {g}", group, chunk


def vector_problems(files: PartFiles, column: str, k: int) -> list[str]:
    """Vector lengths and values from the list's leaf chunk: a list of k values per row writes k leaf values
    (num_values) per row; a null list, a null value and an empty list each write one null leaf. NaN is counted
    by no statistic: the job checks every value, and a finite min/max here catches what a writer records."""
    problems = []
    for where, group, chunk in chunks(files, column):
        stats, rows = chunk.statistics, group.num_rows
        if stats is None or not stats.has_null_count:
            problems.append(f"{files.dataset}: {where}: no statistics for {column}")
            continue
        expected_values, expected_nulls = (rows * k, 0) if k else (rows, rows)  # k = 0: one empty list a row
        if chunk.num_values != expected_values:
            problems.append(
                f"{files.dataset}: {where}: {chunk.num_values} {column} values in {rows} rows, expected "
                f"{expected_values} (vectors not of length k={k})"
            )
        if stats.null_count != expected_nulls:
            problems.append(
                f"{files.dataset}: {where}: {stats.null_count - expected_nulls} null {column} value(s)"
            )
        if k and rows and not stats.has_min_max:
            problems.append(f"{files.dataset}: {where}: no min/max for {column} (all NaN, or no statistics)")
        elif stats.has_min_max and not all(math.isfinite(v) for v in (stats.min, stats.max)):
            problems.append(
                f"{files.dataset}: {where}: {column} min/max {stats.min}/{stats.max} is not finite"
            )
    return problems


def string_problems(files: PartFiles, column: str, *, may_be_empty: bool) -> list[str]:
    """Nulls and (where min is recorded, and an empty string is its smallest value) empty strings."""
    problems = []
    for where, _, chunk in chunks(files, column):
        stats = chunk.statistics
        if stats is None or not stats.has_null_count:
            problems.append(f"{files.dataset}: {where}: no statistics for {column}")
        elif stats.null_count:
            problems.append(f"{files.dataset}: {where}: {stats.null_count} null {column}(s)")
        elif not may_be_empty and stats.has_min_max and stats.min == "":
            problems.append(f"{files.dataset}: {where}: an empty {column}")
    return problems
