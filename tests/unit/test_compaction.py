"""Compaction of the feature cache: which partitions drain, and what their live rows become."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchard_contract.tables import FEATURES_COLUMNS, spark_schema
from orchard_job.compaction import compact, dirty_partitions
from orchard_job.feature_cache import cached_rows

MODEL = "net"
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_partition_drains_when_it_holds_a_row_the_snapshot_does_not_take() -> None:
    live = {("a", 1, 1, "r1"), ("b", 1, 1, "r1"), ("c", 1, 1, "r2"), ("d", 1, 1, "r3")}
    # r1: 2 of 3 rows live (dirty); r2: 1 of 1 (clean); r3: this run; r0: none live (dirty, nothing moves).
    counts = {"r0": 4, "r1": 3, "r2": 1, "r3": 7}
    assert dirty_partitions(counts, live, "r3") == ["r0", "r1"]


def write_partition(out: Path, run_id: str, paths: list[str]) -> None:
    rows = {
        "path": paths,
        "label": ["L"] * len(paths),
        "features": [[float(i)] * 4 for i in range(len(paths))],
        "content_sha256": [f"sha-{p}" for p in paths],
        "size": [1] * len(paths),
        "modified": [EPOCH] * len(paths),
        "model_id": [MODEL] * len(paths),
        "weights_id": ["w"] * len(paths),
        "image_size": [96] * len(paths),
        "runtime": ["tflite"] * len(paths),
    }
    folder = out / "features" / f"run_id={run_id}"
    folder.mkdir(parents=True)
    types = {"features": pa.list_(pa.float32()), "size": pa.int64(), "image_size": pa.int32()}
    schema = pa.schema([(name, types.get(name, pa.timestamp("us") if name == "modified" else pa.string()))
                        for name in rows])  # fmt: skip
    pq.write_table(pa.table(rows, schema=schema), folder / "part-0.parquet")


@pytest.mark.parametrize("held", [False, True], ids=["first attempt", "an earlier attempt copied them"])
def test_live_rows_move_to_this_run_once(spark, tmp_path: Path, held: bool) -> None:
    micros = int(EPOCH.timestamp() * 1_000_000)
    write_partition(tmp_path, "r1", ["a", "b", "gone"])
    write_partition(tmp_path, "r2", ["new"] + (["a", "b"] if held else []))
    live = {("a", 1, micros, "r1"), ("b", 1, micros, "r1"), ("new", 1, micros, "r2")}

    result = compact(spark, cached_rows(spark, str(tmp_path), MODEL), live, str(tmp_path), "r2")

    assert result.drained == ["r1"] and result.moved == (0 if held else 2)
    assert result.rename(live) == {("a", 1, micros, "r2"), ("b", 1, micros, "r2"), ("new", 1, micros, "r2")}
    own = spark.read.schema(spark_schema(FEATURES_COLUMNS)).parquet(str(tmp_path / "features" / "run_id=r2"))
    assert sorted(row.path for row in own.collect()) == ["a", "b", "new"]
