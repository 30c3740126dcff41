"""orchard query's dialect handling and table resolution, on real DuckDB and Parquet."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchard.local.state import bucket_dir, catalog_path
from orchard.query import QueryError, run_query, to_duckdb
from orchard_contract.layout import run_path
from orchard_contract.tables import PCA, RUN_PARTITION


def one(sql: str) -> object:
    [statement] = to_duckdb(sql)
    return duckdb.sql(statement).fetchall()[0][0]


def test_zip_with_becomes_a_null_padded_list_transform():
    assert one("SELECT zip_with(ARRAY[1, 2], ARRAY[10, 20], (a, b) -> a + b)") == [11, 22]
    assert one("SELECT zip_with(ARRAY[1, 2, 3], ARRAY[10], (a, b) -> b)") == [10, None, None]


def test_reduce_applies_its_finish_function():
    assert one("SELECT reduce(ARRAY[1, 2, 3], 0, (s, x) -> s + x, s -> s * 10)") == 60
    euclid = "sqrt(reduce(zip_with(ARRAY[0.0, 0.0], ARRAY[3.0, 4.0], (a, b) -> (a - b) * (a - b)), 0.0E0, (s, x) -> s + x, s -> s))"  # noqa: E501
    assert one(f"SELECT {euclid}") == pytest.approx(5.0)


def test_known_differences_are_as_documented():
    assert one("SELECT 7/2") == 3.5  # Athena: 3 (integer division)
    assert one("SELECT ARRAY[1, 2][5]") is None  # Athena: fails (subscript out of bounds)
    with pytest.raises(duckdb.Error):
        one("SELECT map_agg(k, v) FROM (VALUES (1, 2)) t(k, v)")


def test_tables_resolve_through_the_saved_catalog(tmp_path: Path):
    saved = bucket_dir(tmp_path, "b")
    for run in ("r1", "r2"):
        (saved / run_path("results", PCA.dataset, run)).mkdir(parents=True)
        table = pa.table({"path": [f"s3://b/{run}.jpg"], "label": ["A"], "pca": [[1.0, 2.0]]})
        pq.write_table(table, saved / run_path("results", PCA.dataset, run, "part-0.parquet"))
    columns = [{"Name": name, "Type": hive_type} for name, hive_type in PCA.columns]
    serde = {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"}

    def descriptor(location: str) -> dict:
        return {"Columns": columns, "Location": location, "SerdeInfo": serde}

    def location(run: str) -> str:
        return run_path("s3://b/results", PCA.dataset, run) + "/"

    tables = [
        {"Name": "pca", "StorageDescriptor": descriptor(location("r2")), "Partitions": []},
        {
            "Name": "pca_history",
            "StorageDescriptor": descriptor(f"s3://b/results/{PCA.dataset}/"),
            "PartitionKeys": [{"Name": name, "Type": hive_type} for name, hive_type in RUN_PARTITION],
            "Partitions": [
                {"Values": [r], "StorageDescriptor": descriptor(location(r))} for r in ("r1", "r2")
            ],
        },
    ]
    catalog_path(tmp_path).write_text(json.dumps({"bucket": "b", "database": "orchard", "tables": tables}))

    assert run_query(tmp_path, 'SELECT path, cardinality(pca) FROM "orchard"."pca"').rows == [
        ("s3://b/r2.jpg", 2)
    ]
    history = run_query(tmp_path, "SELECT run_id, path FROM pca_history ORDER BY run_id").rows
    assert history == [("r1", "s3://b/r1.jpg"), ("r2", "s3://b/r2.jpg")]


def test_without_local_state_the_error_says_what_to_run(tmp_path: Path):
    with pytest.raises(QueryError, match="orchard demo"):
        run_query(tmp_path, "SELECT 1")
