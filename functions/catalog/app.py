"""Catalog and publish a validated run (``lambda_handler``); record a failed one (``record_failure_handler``).

Tables (Glue, all EXTERNAL over the bucket):
- ``pca`` and ``rejects``: what users query by default. Unpartitioned; each one's location is the folder of
  exactly one validated run, switched by a single UpdateTable call, so a reader sees the previous run or the
  new one, never a half-written or failed run.
- ``pca_history``, ``rejects_history``, ``features``: partitioned by ``run_id``; a run's partition is
  added only after it validated.
- ``runs``: one JSON record per run (succeeded or failed) under ``<results>/run_records/``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()

PARQUET_FORMAT = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
}
JSON_FORMAT = {
    "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
    "SerdeInfo": {"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe"},
}
STORAGE_FORMATS = {"parquet": PARQUET_FORMAT, "json": JSON_FORMAT}

# The job contract's columns (validate checks the files against the same list).
PCA_COLUMNS = (("path", "string"), ("label", "string"), ("pca", "array<float>"))
REJECTS_COLUMNS = (("path", "string"), ("label", "string"), ("reason", "string"))
FEATURES_COLUMNS = (
    ("path", "string"),
    ("label", "string"),
    ("features", "array<float>"),
    ("content_sha256", "string"),
    ("size", "bigint"),
    ("modified", "timestamp"),
    ("model_id", "string"),
    ("weights_id", "string"),
    ("image_size", "int"),
    ("runtime", "string"),
)
RUNS_COLUMNS = (
    ("run_id", "string"),
    ("status", "string"),
    ("published", "boolean"),
    ("started_at", "string"),
    ("recorded_at", "string"),
    ("manifest", "string"),
    ("listed", "bigint"),
    ("featurized_this_run", "bigint"),
    ("reused_from_cache", "bigint"),
    ("rejected", "bigint"),
    ("in_pca", "bigint"),
    ("k", "int"),
    ("variance_target", "double"),
    ("cumulative_variance", "double"),
    ("explained_variance", "array<double>"),
    ("weights", "string"),
    ("image_size", "int"),
    ("runtime", "string"),
    ("job_run_id", "string"),
    ("job_seconds", "bigint"),
    ("vcpu_hours", "double"),
    ("memory_gb_hours", "double"),
    ("storage_gb_hours", "double"),
    ("estimated_cost_usd", "double"),
    ("error", "string"),
    ("cause", "string"),
)
RUN_PARTITION = (("run_id", "string"),)
PUBLISHED_RUN = "orchard.run_id"
PUBLISHED_STARTED_AT = "orchard.started_at"
PUBLISHED_MARKER_KEYS = (PUBLISHED_RUN, PUBLISHED_STARTED_AT)
MAX_CAUSE = 4000


@dataclass(frozen=True)
class TableSpec:
    name: str
    description: str
    columns: tuple[tuple[str, str], ...]
    dataset: str  # folder under the results root
    partitioned: bool = False
    classification: str = "parquet"


PCA = TableSpec("pca", "PCA vectors of the published run (one row per current image)", PCA_COLUMNS, "pca")
REJECTS = TableSpec(
    "rejects", "Images the published run rejected, with the reason", REJECTS_COLUMNS, "rejects"
)
PCA_HISTORY = TableSpec("pca_history", "PCA vectors of every validated run", PCA_COLUMNS, "pca", True)
REJECTS_HISTORY = TableSpec(
    "rejects_history", "Rejects of every validated run", REJECTS_COLUMNS, "rejects", True
)
FEATURES = TableSpec(
    "features",
    "MobileNetV2 features, by the validated run that computed them",
    FEATURES_COLUMNS,
    "features",
    True,
)
RUNS = TableSpec(
    "runs",
    "One record per run: status, counts, k, variance, usage, cost",
    RUNS_COLUMNS,
    "run_records",
    classification="json",
)


@dataclass(frozen=True)
class Config:
    database: str
    vcpu_hour_usd: float
    memory_gb_hour_usd: float
    storage_gb_hour_usd: float

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Config:
        return cls(
            database=env["DATABASE_NAME"],
            vcpu_hour_usd=float(env.get("VCPU_HOUR_USD", "0.052624")),
            memory_gb_hour_usd=float(env.get("MEMORY_GB_HOUR_USD", "0.0057785")),
            storage_gb_hour_usd=float(env.get("STORAGE_GB_HOUR_USD", "0.000111")),
        )


@dataclass(frozen=True)
class Results:
    """The job's dataset root, ``s3://bucket/prefix``."""

    bucket: str
    root: str

    @classmethod
    def parse(cls, output: str) -> Results:
        parsed = urlparse(output)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError(f"output must be an s3:// URI, got {output!r}")
        return cls(parsed.netloc, parsed.path.strip("/"))

    def key(self, *parts: str) -> str:
        return "/".join(p for p in (self.root, *parts) if p)

    def uri(self, *parts: str) -> str:
        return f"s3://{self.bucket}/{self.key(*parts)}/"


def table_input(
    spec: TableSpec, location: str, parameters: Mapping[str, str] | None = None
) -> dict[str, Any]:
    return {
        "Name": spec.name,
        "Description": spec.description,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"EXTERNAL": "TRUE", "classification": spec.classification, **(parameters or {})},
        "PartitionKeys": [{"Name": n, "Type": t} for n, t in RUN_PARTITION] if spec.partitioned else [],
        "StorageDescriptor": {
            "Columns": [{"Name": n, "Type": t} for n, t in spec.columns],
            "Location": location,
            **STORAGE_FORMATS[spec.classification],
        },
    }


class Catalog:
    def __init__(self, database: str, session: boto3.Session) -> None:
        self.database = database
        self.glue = session.client("glue")

    def get_table(self, name: str) -> dict[str, Any] | None:
        try:
            table: dict[str, Any] = self.glue.get_table(DatabaseName=self.database, Name=name)["Table"]
        except self.glue.exceptions.EntityNotFoundException:
            return None
        return table

    def put_table(self, wanted: dict[str, Any]) -> None:
        """Create the table, or update it when its definition differs (UpdateTable swaps it in one call)."""
        current = self.get_table(wanted["Name"])
        if current is None:
            try:
                self.glue.create_table(DatabaseName=self.database, TableInput=wanted)
                return
            except self.glue.exceptions.AlreadyExistsException:
                # A concurrent run created it first; fall through to compare and update.
                current = self.get_table(wanted["Name"])
        if current is None or not _same_definition(current, wanted):
            self.glue.update_table(DatabaseName=self.database, TableInput=wanted)

    def add_partitions(self, spec: TableSpec, results: Results, run_ids: list[str]) -> None:
        """Add ``run_id=<id>`` for each run; an existing partition (a retried publish) is fine."""
        for start in range(0, len(run_ids), 100):  # BatchCreatePartition takes at most 100
            batch = run_ids[start : start + 100]
            partitions = [
                {
                    "Values": [run_id],
                    "StorageDescriptor": table_input(spec, results.uri(spec.dataset, f"run_id={run_id}"))[
                        "StorageDescriptor"
                    ],
                }
                for run_id in batch
            ]
            response = self.glue.batch_create_partition(
                DatabaseName=self.database, TableName=spec.name, PartitionInputList=partitions
            )
            errors = [
                e
                for e in response.get("Errors", [])
                if e["ErrorDetail"]["ErrorCode"] != "AlreadyExistsException"
            ]
            if errors:
                raise RuntimeError(f"could not add partitions {batch} to {spec.name}: {errors}")

    def delete_table(self, name: str) -> None:
        with contextlib.suppress(self.glue.exceptions.EntityNotFoundException):
            self.glue.delete_table(DatabaseName=self.database, Name=name)


def _same_definition(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    descriptor = current.get("StorageDescriptor", {})
    return (
        [(c["Name"], c["Type"]) for c in descriptor.get("Columns", [])]
        == [(c["Name"], c["Type"]) for c in wanted["StorageDescriptor"]["Columns"]]
        and [(c["Name"], c["Type"]) for c in current.get("PartitionKeys", [])]
        == [(c["Name"], c["Type"]) for c in wanted["PartitionKeys"]]
        and descriptor.get("Location") == wanted["StorageDescriptor"]["Location"]
        and descriptor.get("SerdeInfo", {}).get("SerializationLibrary")
        == wanted["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"]
        and all(current.get("Parameters", {}).get(k) == v for k, v in wanted["Parameters"].items())
    )


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


def estimated_cost(usage: Mapping[str, Any], config: Config) -> float | None:
    """EMR Serverless cost: vCPU-h x price + GB-h x price + storage GB-h x price; S3/Lambda/SFN extra."""
    if usage.get("vcpu_hours") is None or usage.get("memory_gb_hours") is None:
        return None
    cost = (
        usage["vcpu_hours"] * config.vcpu_hour_usd
        + usage["memory_gb_hours"] * config.memory_gb_hour_usd
        + (usage.get("storage_gb_hours") or 0.0) * config.storage_gb_hour_usd
    )
    return round(cost, 6)


def write_record(session: boto3.Session, results: Results, record: Mapping[str, Any]) -> str:
    """One single-line JSON object per run (the JSON SerDe reads a line per row); a rerun overwrites it."""
    row = {name: record.get(name) for name, _ in RUNS_COLUMNS}
    key = results.key(RUNS.dataset, f"{record['run_id']}.json")
    session.client("s3").put_object(
        Bucket=results.bucket, Key=key, Body=(json.dumps(row) + "\n").encode(), ContentType="application/json"
    )
    return f"s3://{results.bucket}/{key}"


def read_report(session: boto3.Session, results: Results, run_id: str) -> dict[str, Any]:
    body = session.client("s3").get_object(
        Bucket=results.bucket, Key=results.key("runs", f"run_id={run_id}", "report.json")
    )["Body"]
    report: dict[str, Any] = json.loads(body.read())
    return report


def _started(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def publish_run(event: Mapping[str, Any], config: Config, session: boto3.Session) -> dict[str, Any]:
    run_id: str = event["run_id"]
    started_at: str = event["started_at"]
    results = Results.parse(event["output"])
    report = read_report(session, results, run_id)
    catalog = Catalog(config.database, session)

    for spec in (PCA_HISTORY, REJECTS_HISTORY, FEATURES):
        catalog.put_table(table_input(spec, results.uri(spec.dataset)))
    catalog.put_table(table_input(RUNS, results.uri(RUNS.dataset)))
    catalog.add_partitions(PCA_HISTORY, results, [run_id])
    catalog.add_partitions(REJECTS_HISTORY, results, [run_id])
    # The runs whose feature rows the snapshot uses (a retry reuses what a failed attempt featurized).
    own = [run_id] if report["counts"].get("featurized_this_run", 0) > 0 else []
    catalog.add_partitions(FEATURES, results, list(report.get("feature_runs", own)))

    # A run that started before the published one (overlapping batches) must not replace it.
    published = catalog.get_table(PCA.name)
    published_params = (published or {}).get("Parameters", {})
    newer = PUBLISHED_STARTED_AT not in published_params or _started(started_at) >= _started(
        published_params[PUBLISHED_STARTED_AT]
    )

    usage = usage_from_job_run(job_run_of(event.get("usage")))
    counts = report["counts"]
    record = {
        "run_id": run_id,
        "status": "succeeded",
        "published": newer,
        "started_at": started_at,
        "recorded_at": _now(),
        "manifest": event.get("manifest"),
        **{name: counts.get(name) for name in ("listed", "featurized_this_run", "reused_from_cache")},
        **{name: counts.get(name) for name in ("rejected", "in_pca")},
        "k": report.get("k"),
        "variance_target": report.get("variance_target"),
        "cumulative_variance": (report.get("cumulative_variance") or [None])[-1],
        "explained_variance": report.get("explained_variance"),
        "weights": (report.get("weights") or {}).get("id"),
        "image_size": report.get("image_size"),
        "runtime": report.get("runtime"),
        **usage,
        "estimated_cost_usd": estimated_cost(usage, config),
    }
    # Recorded before the switch: if the switch fails, the failure path overwrites this record as failed.
    record_uri = write_record(session, results, record)

    if newer:
        marker = {PUBLISHED_RUN: run_id, PUBLISHED_STARTED_AT: started_at}
        # rejects first: pca is the table users query by default, switched last.
        for spec in (REJECTS, PCA):
            catalog.put_table(table_input(spec, results.uri(spec.dataset, f"run_id={run_id}"), marker))
        logger.info("run published", extra={"run_id": run_id})
    else:
        logger.warning(
            "a newer run is already published; this run stays in the history tables only",
            extra={"run_id": run_id, "published_run_id": published_params.get(PUBLISHED_RUN)},
        )
    return {
        "run_id": run_id,
        "published": newer,
        "published_run_id": run_id if newer else published_params.get(PUBLISHED_RUN),
        "record": record_uri,
        "estimated_cost_usd": record["estimated_cost_usd"],
    }


def _error_text(error: Mapping[str, Any]) -> tuple[str, str]:
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


def realign_published_tables(catalog: Catalog, results: Results) -> None:
    """A publish that failed between its two switches left ``rejects`` ahead of ``pca``: point it back."""
    rejects = catalog.get_table(REJECTS.name)
    if rejects is None:
        return
    pca = catalog.get_table(PCA.name)
    marker = {k: v for k, v in (pca or {}).get("Parameters", {}).items() if k in PUBLISHED_MARKER_KEYS}
    if rejects.get("Parameters", {}).get(PUBLISHED_RUN) == marker.get(PUBLISHED_RUN):
        return
    if not marker:  # the very first publish failed: there is no published run to point at
        catalog.delete_table(REJECTS.name)
    else:
        location = results.uri(REJECTS.dataset, f"run_id={marker[PUBLISHED_RUN]}")
        catalog.put_table(table_input(REJECTS, location, marker))
    logger.warning("rejects table realigned with the published run", extra={"published_run": marker})


def record_failure(event: Mapping[str, Any], config: Config, session: boto3.Session) -> dict[str, Any]:
    results = Results.parse(event["output"])
    state = event.get("state") or {}
    error_name, cause = _error_text(event.get("error") or {})
    catalog = Catalog(config.database, session)
    realign_published_tables(catalog, results)
    catalog.put_table(table_input(RUNS, results.uri(RUNS.dataset)))
    usage = usage_from_job_run(job_run_of(state.get("usage")))
    record = {
        "run_id": event["run_id"],
        "status": "failed",
        "published": False,
        "started_at": event.get("started_at"),
        "recorded_at": _now(),
        "manifest": state.get("manifest"),
        "job_run_id": job_run_id_of(state.get("job")),
        **{k: v for k, v in usage.items() if v is not None},
        "estimated_cost_usd": estimated_cost(usage, config),
        "error": error_name,
        "cause": cause,
    }
    record_uri = write_record(session, results, record)
    logger.error("run failed", extra={"run_id": event["run_id"], "error": error_name, "cause": cause})
    return {"run_id": event["run_id"], "status": "failed", "error": error_name, "record": record_uri}


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return publish_run(event, Config.from_env(), boto3.Session())


@logger.inject_lambda_context
def record_failure_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return record_failure(event, Config.from_env(), boto3.Session())
