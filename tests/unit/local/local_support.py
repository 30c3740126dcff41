"""A stand-in for the Spark job behind the rebound EMR task: writes a run's outputs the way the job does.

The flow tests here exercise the definition, the handlers and the bindings without Spark (the real job runs
in tests/integration/local); the stand-in receives the same StartJobRun Parameters as the real runner.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_support import contract_table, parquet_bytes
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from orchard.local.invoke import running_function
from orchard.local.job_runner import start_job_run_request
from orchard.local.stack import LocalStack
from orchard_contract.layout import (
    MODEL_POINTERS_FOLDER,
    MODELS_DATASET,
    RUNS_DATASET,
    SCREE_FILE,
    report_path,
    run_path,
)
from orchard_contract.output_checks import OUTPUT_VIOLATIONS, REPORT_KEY
from orchard_contract.run_page import STATUS_BEGIN, STATUS_END, run_page_path
from orchard_contract.tables import (
    COUNT_KEYS,
    FEATURES,
    FEATURES_COLUMNS,
    PCA,
    PCA_COLUMNS,
    REJECTS,
    REJECTS_COLUMNS,
)

# The states a run that publishes goes through, in order.
HAPPY_PATH = ["CheckInput", "Prepare", "TakeTurn", "IsItMyTurn", "RunFeaturizeJob", "HasJobRunId",
              "RecordJobUsage", "Validate", "IsRunValid", "CatalogAndPublish", "Published"]  # fmt: skip


def images(folder: Path, names: list[str]) -> Path:
    """Files the stand-in job never decodes, under folder/<name>."""
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"\xff\xd8 not decoded by the stand-in " + name.encode())
    return folder


def run_location(stack: LocalStack, dataset: str, run_id: str) -> str:
    """The s3:// folder of a run's rows of a dataset, as a Glue table's location names it."""
    results = f"s3://{stack.outputs['BucketName']}/{stack.resolver.parameter('ResultsPrefix')}"
    return run_path(results, dataset, run_id) + "/"


@contextmanager
def failing_call(function: str, operation: str) -> Iterator[list[str]]:
    """The first `operation` call the local function makes fails as AWS fails it (500 InternalError);
    yields the operations that failed. A fault in the middle of a handler, where Functions.inject fails
    the whole invocation."""
    original = BaseClient._make_api_call
    failed: list[str] = []

    def make_api_call(client: BaseClient, name: str, params: dict[str, Any]) -> Any:
        if name == operation and running_function.get() == function and not failed:
            failed.append(name)
            raise ClientError({"Error": {"Code": "InternalError", "Message": "injected"}}, name)
        return original(client, name, params)

    BaseClient._make_api_call = make_api_call
    try:
        yield failed
    finally:
        BaseClient._make_api_call = original


@dataclass
class FakeJob:
    """Accepts every image under the images prefix with k=2; ``broken`` writes a report disagreeing with
    the files."""

    stack: LocalStack
    broken: bool = False

    def __call__(self, parameters: dict[str, Any], context: Any) -> dict[str, Any]:
        self.request = start_job_run_request(parameters)
        job_run = self.stack.client("emr-serverless").start_job_run(**self.request)
        self.write_outputs(self.request["name"])
        return {"ApplicationId": job_run["applicationId"], "JobRunId": job_run["jobRunId"]}

    def write_outputs(self, run_id: str) -> None:
        s3, bucket = self.stack.client("s3"), self.stack.outputs["BucketName"]
        prefix = self.stack.resolver.parameter("ImagesPrefix")
        results = self.stack.resolver.parameter("ResultsPrefix")
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
        paths = [f"s3://{bucket}/{key}" for key in keys]
        labels = [key.split("/")[-2] for key in keys]
        k = 2 if len(keys) >= 2 else 0  # fewer than two images have no component (the job's rule)
        vectors = [[float(i), 1.0][:k] for i in range(len(keys))]
        pca = contract_table(PCA_COLUMNS, len(keys), path=paths, label=labels, pca=vectors)
        rejects = contract_table(REJECTS_COLUMNS, 0)
        features = contract_table(FEATURES_COLUMNS, len(keys), path=paths, label=labels)
        for dataset, table in ((PCA.dataset, pca), (REJECTS.dataset, rejects), (FEATURES.dataset, features)):
            s3.put_object(Bucket=bucket, Key=run_path(results, dataset, run_id, "_SUCCESS"), Body=b"")
            if table.num_rows:
                key = run_path(results, dataset, run_id, "part-0.parquet")
                s3.put_object(Bucket=bucket, Key=key, Body=parquet_bytes(table))
        counts = dict.fromkeys(COUNT_KEYS, 0) | {"listed": len(keys), "reused_from_cache": len(keys)}
        counts["in_pca"] = len(keys) + (1 if self.broken else 0)
        report = {
            "run_id": run_id, "status": "succeeded", "counts": counts, "k": k, "variance_target": 0.95,
            "explained_variance": [0.9, 0.08][:k], "cumulative_variance": [0.9, 0.98][:k],
            "weights": {"kind": "random", "id": "random:1234", "random": True},
            "image_size": 96, "runtime": "tflite", "feature_runs": [run_id],
            REPORT_KEY: dict.fromkeys(OUTPUT_VIOLATIONS, 0) | {"pca_rows": len(keys), "rejects_rows": 0,
                                                                "k": k},
        }  # fmt: skip
        s3.put_object(Bucket=bucket, Key=report_path(results, run_id), Body=json.dumps(report).encode())
        s3.put_object(Bucket=bucket, Key=run_path(results, RUNS_DATASET, run_id, SCREE_FILE), Body=b"png")
        page = f"<html><body>{STATUS_BEGIN}pending{STATUS_END}</body></html>"  # a status to fill, as the job
        s3.put_object(Bucket=bucket, Key=run_page_path(results, run_id), Body=page.encode())
        # The carried sums of the run, and the pointer naming them (written last, as the job does).
        s3.put_object(Bucket=bucket, Key=run_path(results, MODELS_DATASET, run_id, "sums.npz"), Body=b"sums")
        pointer = "/".join([results, MODELS_DATASET, MODEL_POINTERS_FOLDER, "stand-in.json"])
        s3.put_object(Bucket=bucket, Key=pointer, Body=json.dumps({"run_id": run_id}).encode())
