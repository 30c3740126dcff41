"""Where `orchard similar` finds a run: its model files, its exported network and its pca vectors.

- LocalSource: the local stack's saved state (orchard/local/state.py): the Glue catalog in catalog.json, the
  bucket's objects under ``bucket/``, networks the job exported under ``mirror/`` (not pushed to the bucket);
  vectors through DuckDB (orchard.query).
- AwsSource: a deployed stack (orchard.stacks), with the caller's credentials: the published run from Glue's
  ``pca`` table, files from S3, vectors through Athena in the stack's workgroup (orchard.similar_athena).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from orchard import stacks
from orchard.errors import UserError
from orchard.local.keys import KeyFolder
from orchard.local.state import bucket_dir, catalog_path
from orchard_contract.layout import S3Uri
from orchard_contract.tables import PCA, PCA_HISTORY, PUBLISHED_RUN
from orchard_job.artifact import ARTIFACTS_DIR


@dataclass(frozen=True)
class Vectors:
    paths: list[str]
    labels: list[str]
    matrix: np.ndarray  # (rows, k) float32

    @classmethod
    def from_rows(cls, rows: Sequence[tuple[Any, ...]]) -> Vectors:
        """From (path, label, vector) rows."""
        width = len(rows[0][2]) if rows else 0
        matrix = np.array([row[2] for row in rows], dtype=np.float32).reshape(len(rows), width)
        return cls([row[0] for row in rows], [row[1] for row in rows], matrix)


class RunSource(Protocol):
    name: str  # for messages: "the local stack under .orchard/local", "stack orchard-prod"
    results: str  # s3://bucket/<results prefix>

    def published_run(self) -> str: ...

    def read(self, uri: str) -> bytes | None:
        """The object at an s3:// URI under the results; None when there is none."""

    def artifact(self, file_name: str) -> bytes | None:
        """The network the job exported under <results>/_artifacts/; None when there is none."""

    def vectors(self, run_id: str, published: bool) -> Vectors: ...


def vectors_sql(run_id: str, published: bool, vector: str = "pca") -> str:
    """The run's rows: the published table, or the run's partition of the history (run_id is checked)."""
    if published:
        return f"SELECT path, label, {vector} AS pca FROM {PCA.name}"
    return f"SELECT path, label, {vector} AS pca FROM {PCA_HISTORY.name} WHERE run_id = '{run_id}'"


def open_source(stack: str, state: Path, region: str | None) -> RunSource:
    if stacks.is_local(stack):
        return LocalSource(state)
    session = stacks.session(region)
    return AwsSource(stacks.orchard_stack(session.client("cloudformation"), stack), session)


class LocalSource:
    def __init__(self, state: Path) -> None:
        if not catalog_path(state).exists():
            raise UserError(f"no local stack state under {state}: run `orchard demo` first")
        self.state, self.name = state, f"the local stack under {state}"
        catalog = json.loads(catalog_path(state).read_text())
        self.table = next((t for t in catalog["tables"] if t["Name"] == PCA.name), None)
        self.results = results_root(self.table, self.name) if self.table else ""

    def published_run(self) -> str:
        return published_run_of(self.table, self.name)

    def read(self, uri: str) -> bytes | None:
        return _file_bytes(self._files("bucket", uri))

    def artifact(self, file_name: str) -> bytes | None:
        return _file_bytes(self._files("mirror", f"{self.results}/{ARTIFACTS_DIR}/{file_name}"))

    def vectors(self, run_id: str, published: bool) -> Vectors:
        from orchard.query import run_query

        return Vectors.from_rows(run_query(self.state, vectors_sql(run_id, published)).rows)

    def _files(self, view: str, uri: str) -> Path:
        where = S3Uri.parse(uri)
        root = bucket_dir(self.state, where.bucket) if view == "bucket" else self.state / view / where.bucket
        return KeyFolder(root).path(where.key)


class AwsSource:
    def __init__(self, deployment: stacks.Deployment, session: Any) -> None:
        self.deployment, self.name = deployment, f"stack {deployment.name}"
        missing = [
            k
            for k in ("ResultsLocation", "GlueDatabaseName", "AthenaWorkGroupName")
            if k not in deployment.outputs
        ]
        if missing:
            raise UserError(f"stack {deployment.name} has no output {', '.join(missing)}: redeploy it")
        self.s3, self.glue, self.athena = (session.client(name) for name in ("s3", "glue", "athena"))
        self.results = deployment.outputs["ResultsLocation"].rstrip("/")
        self.database = deployment.outputs["GlueDatabaseName"]

    def published_run(self) -> str:
        try:
            table = self.glue.get_table(DatabaseName=self.database, Name=PCA.name)["Table"]
        except self.glue.exceptions.EntityNotFoundException:
            table = None
        return published_run_of(table, self.name)

    def read(self, uri: str) -> bytes | None:
        where = S3Uri.parse(uri)
        try:
            body: bytes = self.s3.get_object(Bucket=where.bucket, Key=where.key)["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        return body

    def artifact(self, file_name: str) -> bytes | None:
        return self.read(f"{self.results}/{ARTIFACTS_DIR}/{file_name}")

    def vectors(self, run_id: str, published: bool) -> Vectors:
        from orchard.similar_athena import athena_rows

        sql = vectors_sql(run_id, published, vector="array_join(pca, ',')")
        rows = athena_rows(self.athena, sql, self.database, self.deployment.outputs["AthenaWorkGroupName"])
        return Vectors.from_rows([(path, label, parse_floats(text)) for path, label, text in rows])


def parse_floats(text: str) -> list[float]:
    return [float(value) for value in text.split(",")] if text else []


def published_run_of(table: dict[str, Any] | None, where: str) -> str:
    run_id = (table or {}).get("Parameters", {}).get(PUBLISHED_RUN)
    if not run_id:
        raise UserError(f"no published run in {where} yet: upload images and let a run finish first")
    return str(run_id)


def results_root(table: dict[str, Any], where: str) -> str:
    """s3://bucket/<results>: the published pca table's location is <results>/pca/run_id=<id>."""
    location = table["StorageDescriptor"]["Location"].rstrip("/")
    root, _, run_folder = location.rpartition("/")
    if not root.endswith(f"/{PCA.dataset}") or not run_folder.startswith("run_id="):
        raise UserError(f"the pca table of {where} is not at <results>/pca/run_id=<id>: {location}")
    return root.removesuffix(f"/{PCA.dataset}")


def _file_bytes(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None
