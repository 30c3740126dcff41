"""Run records: one JSON line per run (succeeded or failed) under ``<results>/run_records/``, with the job's
counts and variance, its EMR Serverless usage and what that usage cost."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError

from orchard_contract.layout import S3Uri, report_path
from orchard_contract.tables import COUNT_KEYS, RUNS, RUNS_COLUMNS
from orchard_contract.times import now_text

MAX_CAUSE = 4000


@dataclass(frozen=True)
class Prices:
    """EMR Serverless prices per hour, in USD (the template's price parameters)."""

    vcpu_hour: float
    memory_gb_hour: float
    storage_gb_hour: float


def job_run_of(answer: Any) -> Mapping[str, Any] | None:
    """The ``JobRun`` of a GetJobRun answer as RecordJobUsage keeps it; None for anything else (an error)."""
    job_run = answer.get("JobRun") if isinstance(answer, Mapping) else None
    return job_run if isinstance(job_run, Mapping) else None


def job_run_id_of(job: Any) -> str | None:
    """The ``JobRunId`` of RunFeaturizeJob's answer (StartJobRun's), when it carries one."""
    job_run_id = job.get("JobRunId") if isinstance(job, Mapping) else None
    return job_run_id if isinstance(job_run_id, str) else None


def usage_from_job_run(job_run: Mapping[str, Any] | None) -> dict[str, Any]:
    """vCPU/memory/storage hours of a GetJobRun ``jobRun``: the billed figures, else the total ones.

    Step Functions' SDK integration re-cases the answer's keys (``totalResourceUtilization`` arrives as
    ``TotalResourceUtilization``, ``vCPUHour`` as ``VCPUHour``), so keys are matched case- and
    underscore-insensitively.
    """
    if not job_run:
        return {}
    run = _normalized(job_run)
    figures = (run.get("billedresourceutilization"), run.get("totalresourceutilization"))
    utilization = _normalized(next((u for u in figures if isinstance(u, Mapping) and u), {}))
    job_run_id = run.get("jobrunid")
    return {
        "job_run_id": job_run_id if isinstance(job_run_id, str) else None,
        "job_seconds": _number(run.get("totalexecutiondurationseconds")),
        "vcpu_hours": _number(utilization.get("vcpuhour")),
        "memory_gb_hours": _number(utilization.get("memorygbhour")),
        "storage_gb_hours": _number(utilization.get("storagegbhour")),
    }


def _number(value: Any) -> float | None:
    """A figure of the answer, or None when it is not a number (usage is optional: it never fails a run)."""
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _normalized(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return {k.lower().replace("_", ""): v for k, v in mapping.items()}


def estimated_cost(usage: Mapping[str, Any], prices: Prices) -> float | None:
    """EMR Serverless cost: vCPU-h x price + GB-h x price + storage GB-h x price; S3/Lambda/SFN extra."""
    if usage.get("vcpu_hours") is None or usage.get("memory_gb_hours") is None:
        return None
    cost = (
        usage["vcpu_hours"] * prices.vcpu_hour
        + usage["memory_gb_hours"] * prices.memory_gb_hour
        + (usage.get("storage_gb_hours") or 0.0) * prices.storage_gb_hour
    )
    return round(cost, 6)


def error_text(error: Mapping[str, Any]) -> tuple[str, str]:
    """Error name and a readable cause (a Lambda's cause is JSON carrying ``errorMessage``)."""
    name = str(error.get("Error", "Unknown"))
    cause = str(error.get("Cause", ""))
    try:
        parsed = json.loads(cause)
        if isinstance(parsed, dict) and "errorMessage" in parsed:
            cause = str(parsed["errorMessage"])
    except json.JSONDecodeError:
        pass
    return name, cause[:MAX_CAUSE]


def report_figures(report: Mapping[str, Any]) -> dict[str, Any]:
    """What a run record keeps of the job's report: counts, k, variance, weights, image size, runtime."""
    counts = report.get("counts", {})
    return {
        **{key: counts.get(key) for key in COUNT_KEYS},
        "ignored_files": sum((report.get("ignored") or {}).values()),
        "k": report.get("k"),
        "variance_target": report.get("variance_target"),
        "cumulative_variance": (report.get("cumulative_variance") or [None])[-1],
        "explained_variance": report.get("explained_variance"),
        "weights": (report.get("weights") or {}).get("id"),
        "image_size": report.get("image_size"),
        "runtime": report.get("runtime"),
    }


def run_record(
    run_id: str,
    status: str,
    *,
    started_at: str | None,
    manifest: str | None,
    usage: Mapping[str, Any],
    prices: Prices,
    published: bool = False,
    report: Mapping[str, Any] | None = None,
    job_run_id: str | None = None,
    error: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """One run's record: the report's figures when it has one, usage and cost when the job ran, the error."""
    return {
        "run_id": run_id,
        "status": status,
        "published": published,
        "started_at": started_at,
        "recorded_at": now_text(),
        "manifest": manifest,
        **report_figures(report or {}),
        "job_run_id": job_run_id,
        **{name: value for name, value in usage.items() if value is not None},
        "estimated_cost_usd": estimated_cost(usage, prices),
        "error": error[0] if error else None,
        "cause": error[1] if error else None,
    }


def record_key(root: S3Uri, run_id: str) -> str:
    return "/".join(part for part in (root.key, RUNS.dataset, f"{run_id}.json") if part)


def write_record(session: boto3.Session, root: S3Uri, record: Mapping[str, Any]) -> str:
    """One single-line JSON object per run (the JSON SerDe reads a line per row); a rerun overwrites it."""
    row = {name: record.get(name) for name, _ in RUNS_COLUMNS}
    key = record_key(root, record["run_id"])
    session.client("s3").put_object(
        Bucket=root.bucket, Key=key, Body=(json.dumps(row) + "\n").encode(), ContentType="application/json"
    )
    return str(S3Uri(root.bucket, key))


def read_record(session: boto3.Session, root: S3Uri, run_id: str) -> dict[str, Any] | None:
    """The run's record; None when it has none (S3 answers a missing key with 403 to a role that may
    list the bucket under a prefix only)."""
    s3 = session.client("s3")
    try:
        body = s3.get_object(Bucket=root.bucket, Key=record_key(root, run_id))["Body"].read()
    except ClientError as e:
        if e.response["Error"]["Code"] in {"NoSuchKey", "AccessDenied", "403", "404"}:
            return None
        raise
    record: dict[str, Any] = json.loads(body)
    return record


def read_report(session: boto3.Session, root: S3Uri, run_id: str) -> dict[str, Any]:
    """The job's report of the run (``runs/run_id=<id>/report.json`` under the results root)."""
    body = session.client("s3").get_object(Bucket=root.bucket, Key=report_path(root.key, run_id))["Body"]
    report: dict[str, Any] = json.loads(body.read())
    return report
