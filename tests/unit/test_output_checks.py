"""The job's row-level checks on what it wrote: each rule passes a clean run and fails the job when broken."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchard_contract.output_checks import OUTPUT_VIOLATIONS
from orchard_job.output_checks import OutputCheckError, check_outputs

K = 3
PCA_TYPES = {"path": pa.string(), "label": pa.string(), "pca": pa.list_(pa.float32())}
REJECTS_TYPES = {"path": pa.string(), "label": pa.string(), "reason": pa.string()}
GOOD_PCA: dict[str, list[Any]] = {
    "path": ["a", "b", "c"],
    "label": ["L"] * 3,
    "pca": [[0.1, 0.2, 0.3], [1.0, 2.0, 3.0], [0.0] * 3],
}
GOOD_REJECTS: dict[str, list[Any]] = {"path": ["x"], "label": ["L"], "reason": ["empty file (0 bytes)"]}


def write(folder: Path, columns: dict[str, list[Any]], types: dict[str, pa.DataType]) -> str:
    """One Parquet part file per half of the rows, as a Spark write leaves several (or none, for no rows)."""
    folder.mkdir(parents=True)
    table = pa.table(columns, schema=pa.schema(types.items()))
    half = table.num_rows // 2
    for i, part in enumerate((table.slice(0, half), table.slice(half))):
        if part.num_rows:
            pq.write_table(part, folder / f"part-{i:05d}.snappy.parquet")
    return str(folder)


def checked(spark, tmp_path: Path, pca: dict[str, list[Any]], rejects: dict[str, list[Any]]) -> dict:
    return check_outputs(
        spark, write(tmp_path / "pca", pca, PCA_TYPES), write(tmp_path / "rejects", rejects, REJECTS_TYPES), K
    )


def test_a_clean_run_passes_with_its_rows_counted(spark, tmp_path: Path) -> None:
    results = checked(spark, tmp_path, GOOD_PCA, GOOD_REJECTS)

    assert results == {**dict.fromkeys(OUTPUT_VIOLATIONS, 0), "pca_rows": 3, "rejects_rows": 1, "k": K}


def test_no_rows_and_no_part_files_pass(spark, tmp_path: Path) -> None:
    empty_pca: dict[str, list[Any]] = {name: [] for name in PCA_TYPES}
    empty_rejects: dict[str, list[Any]] = {name: [] for name in REJECTS_TYPES}
    results = checked(spark, tmp_path, empty_pca, empty_rejects)

    assert (results["pca_rows"], results["rejects_rows"]) == (0, 0)


def pca_with(**changed: list[Any]) -> dict[str, list[Any]]:
    return {**GOOD_PCA, **changed}


@pytest.mark.parametrize(
    ("pca", "rejects", "broken"),
    [
        (pca_with(path=["a", "b", "a"]), GOOD_REJECTS, "duplicate_paths_in_pca: 1"),
        (
            GOOD_PCA,
            {name: values * 2 for name, values in GOOD_REJECTS.items()},
            "duplicate_paths_in_rejects: 1",
        ),
        (GOOD_PCA, {**GOOD_REJECTS, "path": ["b"]}, "paths_in_pca_and_rejects: 1"),
        (pca_with(path=["a", None, "c"]), GOOD_REJECTS, "null_paths: 1"),
        (pca_with(pca=[[0.1, 0.2, 0.3], [1.0, 2.0], [0.0] * 3]), GOOD_REJECTS, "vectors_not_of_length_k: 1"),
        (pca_with(pca=[[0.1, 0.2, 0.3], None, [0.0] * 3]), GOOD_REJECTS, "vectors_not_of_length_k: 1"),
        (
            pca_with(pca=[[0.1, math.nan, 0.3], [1.0] * 3, [0.0] * 3]),
            GOOD_REJECTS,
            "vectors_with_non_finite_values: 1",
        ),
        (
            pca_with(pca=[[0.1, None, 0.3], [1.0] * 3, [0.0] * 3]),
            GOOD_REJECTS,
            "vectors_with_non_finite_values: 1",
        ),
        (
            pca_with(pca=[[0.1, 0.2, -math.inf], [math.inf] * 3, [0.0] * 3]),
            GOOD_REJECTS,
            "vectors_with_non_finite_values: 2",
        ),
    ],
)
def test_each_broken_rule_fails_the_job(spark, tmp_path: Path, pca, rejects, broken: str) -> None:
    with pytest.raises(OutputCheckError) as raised:
        checked(spark, tmp_path, pca, rejects)

    assert str(raised.value).endswith(f"not published: {broken}")  # this rule only
