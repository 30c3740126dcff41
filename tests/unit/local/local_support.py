"""A stand-in for the Spark job behind the rebound EMR task: writes a run's outputs the way the job does.

The flow tests here exercise the definition, the handlers and the bindings without Spark (the real job runs
in tests/integration/local); the stand-in receives the same StartJobRun Parameters as the real runner.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from aws_support import PCA_SCHEMA, REJECTS_SCHEMA, parquet_bytes

from orchard.local.job_runner import start_job_run_request
from orchard.local.stack import LocalStack


@dataclass
class FakeJob:
    """Accepts every image under images/ with k=2; ``broken`` writes a report disagreeing with the files."""

    stack: LocalStack
    broken: bool = False

    def __call__(self, parameters: dict[str, Any], context: Any) -> dict[str, Any]:
        self.request = start_job_run_request(parameters)
        job_run = self.stack.client("emr-serverless").start_job_run(**self.request)
        self.write_outputs(self.request["name"])
        return {"ApplicationId": job_run["applicationId"], "JobRunId": job_run["jobRunId"]}

    def write_outputs(self, run_id: str) -> None:
        s3, bucket = self.stack.client("s3"), self.stack.outputs["BucketName"]
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="images/").get("Contents", [])]
        paths = [f"s3://{bucket}/{key}" for key in keys]
        labels = [key.split("/")[1] for key in keys]
        pca = pa.table(
            {"path": paths, "label": labels, "pca": [[float(i), 1.0] for i in range(len(keys))]},
            schema=PCA_SCHEMA,
        )
        rejects = pa.table({"path": [], "label": [], "reason": []}, schema=REJECTS_SCHEMA)
        for dataset, table in (("pca", pca), ("rejects", rejects)):
            s3.put_object(Bucket=bucket, Key=f"results/{dataset}/run_id={run_id}/_SUCCESS", Body=b"")
            if table.num_rows:
                s3.put_object(
                    Bucket=bucket,
                    Key=f"results/{dataset}/run_id={run_id}/part-0.parquet",
                    Body=parquet_bytes(table),
                )
        counts = {
            "listed": len(keys),
            "featurized_this_run": 0,
            "reused_from_cache": len(keys),
            "rejected": 0,
        }
        counts["in_pca"] = len(keys) + (1 if self.broken else 0)
        report = {
            "run_id": run_id, "status": "succeeded", "counts": counts, "k": 2, "variance_target": 0.95,
            "explained_variance": [0.9, 0.08], "cumulative_variance": [0.9, 0.98],
            "weights": {"kind": "random", "id": "random:1234", "random": True},
            "image_size": 96, "runtime": "tflite",
        }  # fmt: skip
        s3.put_object(
            Bucket=bucket, Key=f"results/runs/run_id={run_id}/report.json", Body=json.dumps(report).encode()
        )
