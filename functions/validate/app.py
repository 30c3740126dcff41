"""Check one run's outputs against the job contract: its report, and what the Parquet footers of its files
tell (schemas, row counts, vector lengths, nulls, statistics). No row is read: the cost is flat in the image
count; the row-level rules (a path twice, a path in pca and rejects, every vector value) are checked by the
job, and its report must show they were (docs/guarantees.md).

Raises RunValidationError listing every problem found; Step Functions catches it by that name.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from footer_checks import files_schema_problems, string_problems, vector_problems
from run_files import PartFiles, RunFiles, RunLocation, RunValidationError

from orchard_contract.layout import S3Uri
from orchard_contract.output_checks import OUTPUT_FIGURES, OUTPUT_VIOLATIONS, REPORT_KEY
from orchard_contract.tables import FEATURES, PCA, REJECTS

logger = Logger()


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
    return problems + output_check_problems(report)


def output_check_problems(report: Mapping[str, Any]) -> list[str]:
    """The job's row-level checks: each ran and found nothing, on as many rows as the report counts."""
    checks = report.get(REPORT_KEY)
    if not isinstance(checks, dict):
        return [f"report has no {REPORT_KEY}: the job's row-level checks did not run"]
    missing = [
        name for name in (*OUTPUT_VIOLATIONS, *OUTPUT_FIGURES) if not isinstance(checks.get(name), int)
    ]
    if missing:
        return [f"report {REPORT_KEY} lacks {', '.join(missing)}"]
    problems = [f"report {REPORT_KEY}: {name} = {checks[name]}" for name in OUTPUT_VIOLATIONS if checks[name]]
    counts = report.get("counts", {})
    claimed = {"pca_rows": counts.get("in_pca"), "rejects_rows": counts.get("rejected"), "k": report.get("k")}
    problems += [
        f"report {REPORT_KEY}: {name} = {checks[name]}, but the report says {expected}"
        for name, expected in claimed.items()
        if checks[name] != expected
    ]
    return problems


def check_pca(files: RunFiles, counts: Mapping[str, Any], k: Any) -> list[str]:
    pca = files.part_files(PCA.dataset)
    problems = layout_problems(pca, require_success=True)
    if (
        not pca.footers
    ):  # a writer may leave an empty table as _SUCCESS alone (Spark writes one empty part file)
        return problems if counts.get("in_pca") == 0 else [*problems, "pca: no part files"]
    if pca.num_rows != counts.get("in_pca"):
        problems.append(f"pca has {pca.num_rows} rows, report in_pca={counts.get('in_pca')}")
    schema = files_schema_problems(pca, PCA.name, PCA.columns)
    if schema:
        return problems + schema
    problems += string_problems(pca, "path", may_be_empty=False)
    problems += string_problems(pca, "label", may_be_empty=False)
    if isinstance(k, int):
        problems += vector_problems(pca, "pca", k)
    return problems


def check_rejects(files: RunFiles, counts: Mapping[str, Any]) -> list[str]:
    # An all-accepted run may leave the rejects folder with only _SUCCESS (or, for some writers, nothing).
    rejects = files.part_files(REJECTS.dataset)
    problems = layout_problems(rejects, require_success=counts.get("rejected", 0) > 0)
    if rejects.num_rows != counts.get("rejected"):
        problems.append(f"rejects has {rejects.num_rows} rows, report rejected={counts.get('rejected')}")
    schema = files_schema_problems(rejects, REJECTS.name, REJECTS.columns)
    if schema:
        return problems + schema
    return problems + string_problems(rejects, "path", may_be_empty=False)


def layout_problems(files: PartFiles, *, require_success: bool) -> list[str]:
    missing = require_success and not files.success
    marker = [f"{files.dataset}: no _SUCCESS marker under its run folder"] if missing else []
    return marker + files.problems


def validate_run(location: RunLocation, session: boto3.Session) -> dict[str, Any]:
    files = RunFiles(location, session)
    report = files.report()
    counts = report.get("counts", {})
    problems = report_problems(report, location.run_id)
    problems += check_pca(files, counts, report.get("k"))
    problems += check_rejects(files, counts)
    # This run's cache partition: what it featurized and what its compaction moved (possibly nothing).
    features = files.part_files(FEATURES.dataset)
    problems += features.problems + files_schema_problems(features, FEATURES.name, FEATURES.columns)

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
        "feature_rows_written": features.num_rows,
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
