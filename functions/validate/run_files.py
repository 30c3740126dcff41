"""A run's objects in S3, as validate reads them: keys by dataset, the report, and only the Parquet footers of
the part files (one ranged GET of a file's tail each), so what validate reads does not grow with the rows."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import ClientError

from orchard_contract.layout import RUNS_DATASET, S3Uri, report_path, run_path

PARQUET_MAGIC = b"PAR1"  # a Parquet file starts and ends with it; the footer sits before the end one
# One GET of this tail holds a whole footer of the job's files (a footer and its length fit many times over);
# a longer footer costs a second GET of exactly its size.
TAIL_BYTES = 8 * 1024


class RunValidationError(Exception):
    """The run's outputs break the job contract; the message says how."""


@dataclass(frozen=True)
class RunLocation:
    root: S3Uri  # the job's dataset root
    run_id: str

    def prefix(self, dataset: str) -> str:
        """The key prefix of the run's folder of one dataset, with its trailing slash."""
        return run_path(self.root.key, dataset, self.run_id) + "/"


@dataclass
class PartFiles:
    """One dataset of the run: its _SUCCESS marker, each part file's footer, unreadable part files."""

    dataset: str
    success: bool
    footers: dict[str, pq.FileMetaData] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def num_rows(self) -> int:
        return sum(footer.num_rows for footer in self.footers.values())


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

    def read(self, key: str, byte_range: str | None = None) -> bytes:
        ranged = {"Range": byte_range} if byte_range else {}
        answer = self.s3.get_object(Bucket=self.location.root.bucket, Key=key, **ranged)
        return bytes(answer["Body"].read())

    def footer(self, key: str) -> pq.FileMetaData:
        """The footer of one Parquet file, read from its tail (S3 answers a suffix range longer than the
        object with the whole object)."""
        tail = self.read(key, f"bytes=-{TAIL_BYTES}")
        if len(tail) < 12 or tail[-4:] != PARQUET_MAGIC:
            raise ValueError("no Parquet footer at its end")
        length = int.from_bytes(tail[-8:-4], "little")
        if length + 8 > len(tail):
            tail = self.read(key, f"bytes=-{length + 8}")
        return pq.ParquetFile(io.BytesIO(PARQUET_MAGIC + tail[-(length + 8) :])).metadata

    def part_files(self, dataset: str) -> PartFiles:
        keys = self.keys(dataset)
        files = PartFiles(dataset, success=any(k.endswith("/_SUCCESS") for k in keys))
        for key in sorted(k for k in keys if is_part_file(k)):
            try:
                files.footers[key] = self.footer(key)
            except (ValueError, OSError, pa.ArrowException, ClientError) as e:
                files.problems.append(
                    f"{dataset}: {key.rsplit('/', 1)[-1]} is not a readable Parquet file ({e})"
                )
        return files

    def report(self) -> dict[str, Any]:
        # Looked up by listing: S3 answers a GET of a missing key with 403, not 404, to a role that may list
        # the bucket only under a prefix (a GET carries none).
        key = report_path(self.location.root.key, self.location.run_id)
        if key not in self.keys(RUNS_DATASET):
            raise RunValidationError(f"run {self.location.run_id}: no report at {key}")
        report: dict[str, Any] = json.loads(self.read(key))
        return report


def nullable(schema: pa.Schema) -> pa.Schema:
    """The schema as Glue and Athena see it: no nullability (Spark marks a column filled from a constant not
    null, and the same column copied from Parquet nullable), no metadata."""
    return pa.schema([column.with_nullable(True) for column in schema]).remove_metadata()


def is_part_file(key: str) -> bool:
    name = key.rsplit("/", 1)[-1]
    return not name.startswith(("_", ".")) and name.endswith(".parquet")
