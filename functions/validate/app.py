"""Check one run's Parquet outputs (the files themselves, not only the job's report) against the job contract.

Raises RunValidationError listing every problem found; Step Functions catches it by that name.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.compute as pc
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from run_files import RunFiles, RunLocation, RunValidationError, nullable

from orchard_contract.layout import S3Uri
from orchard_contract.tables import FEATURES, PCA, REJECTS, Columns

logger = Logger()


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


def duplicate_count(column: pa.ChunkedArray) -> int:
    return len(column) - len(pc.unique(column))


def pca_problems(pca: pa.Table, k: int) -> list[str]:
    problems = []
    vectors = pca.column("pca")
    if vectors.null_count:
        problems.append(f"pca: {vectors.null_count} null vector(s)")
    lengths = pc.list_value_length(vectors).to_numpy(zero_copy_only=False)
    wrong = [int(n) for n in lengths if n != k]
    if wrong:
        problems.append(f"pca: {len(wrong)} vector(s) not of length k={k} (e.g. {wrong[0]})")
    values = pc.list_flatten(vectors)
    if values.null_count:
        problems.append(f"pca: {values.null_count} null value(s) inside vectors")
    non_finite = len(values) - values.null_count - pc.sum(pc.is_finite(values)).as_py() if len(values) else 0
    if non_finite:
        problems.append(f"pca: {non_finite} NaN/inf value(s)")
    duplicates = duplicate_count(pca.column("path"))
    if duplicates:
        problems.append(f"pca: {duplicates} duplicate path(s)")
    labels = pca.column("label")
    empty = labels.null_count + pc.sum(pc.equal(pc.utf8_length(labels), 0)).as_py() if len(labels) else 0
    if empty:
        problems.append(f"pca: {empty} empty label(s)")
    return problems


def report_problems(report: Mapping[str, Any], run_id: str) -> list[str]:
    problems = []
    if report.get("run_id") != run_id:
        problems.append(f"report run_id is {report.get('run_id')!r}, expected {run_id!r}")
    if report.get("status") != "succeeded":
        problems.append(f"report status is {report.get('status')!r}")
    counts = report.get("counts", {})
    listed, in_pca, rejected = (counts.get(n) for n in ("listed", "in_pca", "rejected"))
    if not all(isinstance(n, int) for n in (listed, in_pca, rejected)):
        return [*problems, f"report counts incomplete: {counts}"]
    if listed != in_pca + rejected:
        problems.append(f"report counts: listed={listed} != in_pca={in_pca} + rejected={rejected}")
    k = report.get("k")
    # Fewer than two images have no variance to explain: the job publishes them with k = 0 (empty vectors).
    if in_pca < 2 and (type(k) is not int or k != 0):
        problems.append(f"report k is {k!r}, expected 0 for in_pca={in_pca} (fewer than 2 images)")
    elif in_pca >= 2 and (not isinstance(k, int) or k < 1):
        problems.append(f"report k is {k!r}, expected a positive integer")
    elif len(report.get("explained_variance", [])) != k:
        problems.append(
            f"report explained_variance has {len(report.get('explained_variance', []))} values, k={k}"
        )
    ratios = report.get("explained_variance", [])
    if any(not isinstance(r, int | float) or not math.isfinite(r) for r in ratios):
        problems.append("report explained_variance has non-finite values")
    return problems


def check_pca(files: RunFiles, counts: Mapping[str, Any], k: Any) -> tuple[set[str], list[str]]:
    """Problems of the run's pca files, and the accepted paths (empty when unreadable)."""
    pca, problems = files.table(PCA.dataset)
    if pca is None:  # a writer may leave an empty table as _SUCCESS alone (Spark writes one empty part file)
        return set(), problems if counts.get("in_pca") == 0 else [*problems, "pca: no part files"]
    if pca.num_rows != counts.get("in_pca"):
        problems.append(f"pca has {pca.num_rows} rows, report in_pca={counts.get('in_pca')}")
    schema = schema_problems(PCA.name, pca.schema, PCA.columns)
    if schema:
        return set(), problems + schema
    if isinstance(k, int):
        problems += pca_problems(pca, k)
    return set(pca.column("path").to_pylist()), problems


def check_rejects(files: RunFiles, counts: Mapping[str, Any], accepted: set[str]) -> list[str]:
    # An all-accepted run may leave the rejects folder with only _SUCCESS (or, for some writers, nothing).
    rejects, problems = files.table(REJECTS.dataset, require_success=counts.get("rejected", 0) > 0)
    rows = 0 if rejects is None else rejects.num_rows
    if rows != counts.get("rejected"):
        problems.append(f"rejects has {rows} rows, report rejected={counts.get('rejected')}")
    if rejects is None:
        return problems
    schema = schema_problems(REJECTS.name, rejects.schema, REJECTS.columns)
    if schema:
        return problems + schema
    duplicates = duplicate_count(rejects.column("path"))
    if duplicates:
        problems.append(f"rejects: {duplicates} duplicate path(s)")
    both = accepted & set(rejects.column("path").to_pylist())
    if both:
        problems.append(f"{len(both)} path(s) both in pca and rejects, e.g. {sorted(both)[0]}")
    return problems


def validate_run(location: RunLocation, session: boto3.Session) -> dict[str, Any]:
    files = RunFiles(location, session)
    report = files.report()
    counts = report.get("counts", {})
    problems = report_problems(report, location.run_id)
    accepted, pca_problems_found = check_pca(files, counts, report.get("k"))
    problems += pca_problems_found
    problems += check_rejects(files, counts, accepted)
    # This run's cache partition: what it featurized and what its compaction moved (possibly nothing).
    footers = files.footers(FEATURES.dataset)
    schemas = {nullable(footer.schema.to_arrow_schema()) for footer in footers}
    if len(schemas) > 1:
        problems.append(f"{FEATURES.dataset}: part files disagree on the schema")
    for schema in schemas:
        problems += schema_problems(FEATURES.name, schema, FEATURES.columns)

    if problems:
        raise RunValidationError(f"run {location.run_id} is invalid: " + "; ".join(problems))
    return {
        "valid": True,
        "run_id": location.run_id,
        "k": report["k"],
        "listed": counts["listed"],
        "in_pca": counts["in_pca"],
        "rejected": counts["rejected"],
        "featurized_this_run": counts["featurized_this_run"],
        "feature_rows_written": sum(footer.num_rows for footer in footers),
        "cumulative_variance": (report.get("cumulative_variance") or [None])[-1],
    }


def handle(event: Mapping[str, Any], session: boto3.Session) -> dict[str, Any]:
    location = RunLocation(S3Uri.parse(event["output"]), event["run_id"])
    summary = validate_run(location, session)
    logger.info("run valid", extra=summary)
    return summary


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, boto3.Session())
