"""A run's objects in S3, as validate reads them: keys by dataset, whole tables, or only Parquet footers."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq

from orchard_contract.layout import RUNS_DATASET, S3Uri, report_path, run_path

PARQUET_MAGIC = b"PAR1"  # a Parquet file starts and ends with it; the footer sits before the end one


class RunValidationError(Exception):
    """The run's outputs break the job contract; the message says how."""


@dataclass(frozen=True)
class RunLocation:
    root: S3Uri  # the job's dataset root
    run_id: str

    def prefix(self, dataset: str) -> str:
        """The key prefix of the run's folder of one dataset, with its trailing slash."""
        return run_path(self.root.key, dataset, self.run_id) + "/"


class RunFiles:
    """Reads a run's objects through boto3 (so tests and the local path can inject any session)."""

    def __init__(self, location: RunLocation, session: boto3.Session) -> None:
        self.location = location
        self.s3 = session.client("s3")

    def keys(self, dataset: str) -> list[str]:
        paginator = self.s3.get_paginator("list_objects_v2")
        prefix = self.location.prefix(dataset)
        return [
            obj["Key"]
            for page in paginator.paginate(Bucket=self.location.root.bucket, Prefix=prefix)
            for obj in page.get("Contents", [])
        ]

    def read(self, key: str) -> bytes:
        return bytes(self.s3.get_object(Bucket=self.location.root.bucket, Key=key)["Body"].read())

    def footers(self, dataset: str) -> list[pq.FileMetaData]:
        """The Parquet footers of the dataset's part files, read by range (two small GETs a file): a cache
        partition holds every row a compaction moved, which a Lambda need not download to check them."""
        bucket, footers = self.location.root.bucket, []
        for key in sorted(k for k in self.keys(dataset) if is_part_file(k)):
            tail = self.s3.get_object(Bucket=bucket, Key=key, Range="bytes=-8")["Body"].read()
            length = int.from_bytes(tail[:4], "little")
            footer = self.s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=-{length + 8}")["Body"].read()
            footers.append(pq.ParquetFile(io.BytesIO(PARQUET_MAGIC + footer)).metadata)
        return footers

    def report(self) -> dict[str, Any]:
        # Looked up by listing: S3 answers a GET of a missing key with 403, not 404, to a role that may list
        # the bucket only under a prefix (a GET carries none).
        key = report_path(self.location.root.key, self.location.run_id)
        if key not in self.keys(RUNS_DATASET):
            raise RunValidationError(f"run {self.location.run_id}: no report at {key}")
        report: dict[str, Any] = json.loads(self.read(key))
        return report

    def table(self, dataset: str, *, require_success: bool = True) -> tuple[pa.Table | None, list[str]]:
        """All part files of one dataset of the run, or None when it wrote none; plus layout problems."""
        keys = self.keys(dataset)
        problems = []
        if require_success and not any(k.endswith("/_SUCCESS") for k in keys):
            problems.append(f"{dataset}: no _SUCCESS marker under {self.location.prefix(dataset)}")
        parts = [k for k in keys if is_part_file(k)]
        if not parts:
            return None, problems
        tables = [pq.read_table(io.BytesIO(self.read(k))) for k in sorted(parts)]
        schemas = {nullable(t.schema) for t in tables}
        if len(schemas) > 1:
            problems.append(f"{dataset}: part files disagree on the schema")
            return tables[0], problems
        return pa.concat_tables([t.cast(nullable(t.schema)) for t in tables]), problems


def nullable(schema: pa.Schema) -> pa.Schema:
    """The schema as Glue and Athena see it: no nullability (Spark marks a column filled from a constant not
    null, and the same column copied from Parquet nullable), no metadata."""
    return pa.schema([field.with_nullable(True) for field in schema]).remove_metadata()


def is_part_file(key: str) -> bool:
    name = key.rsplit("/", 1)[-1]
    return not name.startswith(("_", ".")) and name.endswith(".parquet")
