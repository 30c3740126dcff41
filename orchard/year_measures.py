"""What `orchard year` measures after each run of the local stack: where the time went, what the results
prefix holds, where each image ended, and which rows outlive the retention of the image they came from.

Time is taken by wrapping the stack's own callables on this stack instance (the behaviour is unchanged): the
Lambda handlers, the job runner's spark-submit, and the emulator's copying between moto's bucket and the
folder the local job reads (``orchard.local.mirror``), which AWS does not do and is therefore reported apart.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from orchard.local.job_runner import JobRunner
from orchard.local.keys import KeyFolder
from orchard.local.stack import LocalStack
from orchard.local.state import bucket_dir
from orchard.query import literal, run_query
from orchard_contract.images import is_image
from orchard_contract.layout import FOLDER_MARKER, S3Uri, report_path
from orchard_contract.tables import FEATURES, PCA, PCA_HISTORY, REJECTS, REJECTS_HISTORY

Call = TypeVar("Call", bound=Callable[..., Any])
# Every table a row derived from an image can sit in, and the dataset folders that hold their files.
TABLES_WITH_PATHS = (PCA, REJECTS, PCA_HISTORY, REJECTS_HISTORY, FEATURES)
FOLDERS_WITH_PATHS = (PCA.dataset, REJECTS.dataset, FEATURES.dataset)
# The mirror's work for the job runner (a method this checkout's Mirror lacks is skipped).
MIRROR_COPIES = ("pull", "pull_manifest", "push", "drop_retired")


class Clock:
    """Seconds spent in named callables, summed until ``take``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.lock = threading.Lock()

    def timed(self, name: str, function: Call) -> Call:
        def timed_call(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                with self.lock:
                    self.seconds[name] += time.perf_counter() - started

        return timed_call  # type: ignore[return-value]

    def take(self) -> dict[str, float]:
        with self.lock:
            taken, self.seconds = dict(self.seconds), defaultdict(float)
        return taken


def clock_stack(stack: LocalStack) -> Clock:
    """Time the stack's functions ("lambda"), its job ("job") and the mirror's copying ("copy")."""
    clock = Clock()
    for name, handler in list(stack.functions.handlers.items()):
        if isinstance(handler, JobRunner):
            setattr(handler, "spark_submit", clock.timed("job", handler.spark_submit))  # noqa: B010
            for method in filter(lambda name: hasattr(handler.mirror, name), MIRROR_COPIES):
                setattr(handler.mirror, method, clock.timed("copy", getattr(handler.mirror, method)))
        else:
            stack.functions.handlers[name] = clock.timed("lambda", handler)
    return clock


def results_usage(stack: LocalStack) -> dict[str, Any]:
    """Objects and bytes under the results prefix, and objects by dataset folder."""
    s3, bucket = stack.client("s3"), stack.outputs["BucketName"]
    prefix = stack.resolver.parameter("ResultsPrefix") + "/"
    objects, size, by_dataset = 0, 0, defaultdict[str, int](int)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            objects, size = objects + 1, size + obj["Size"]
            by_dataset[obj["Key"].removeprefix(prefix).split("/", 1)[0].removesuffix(FOLDER_MARKER)] += 1
    return {"objects": objects, "bytes": size, "objects_by_dataset": dict(sorted(by_dataset.items()))}


def mirror_usage(stack: LocalStack) -> dict[str, int]:
    """Files and bytes under the results prefix in the folder the local job reads (no AWS counterpart)."""
    folder = stack.mirror.files.folder(stack.resolver.parameter("ResultsPrefix"))
    files = [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []
    return {"files": len(files), "bytes": sum(p.stat().st_size for p in files)}


def bucket_images(stack: LocalStack) -> set[str]:
    """The s3:// URIs of the images in the bucket now."""
    s3, bucket = stack.client("s3"), stack.outputs["BucketName"]
    prefix = stack.resolver.parameter("ImagesPrefix")
    return {
        str(S3Uri(bucket, obj["Key"]))
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for obj in page.get("Contents", [])
        if is_image(obj["Key"])
    }


def accounting(state_dir: Path, images: set[str]) -> dict[str, int]:
    """Each image in the bucket ends once in the published pca or rejects; nothing else is published."""
    published = [row[0] for row in run_query(state_dir, "SELECT path FROM pca").rows]
    rejected = [row[0] for row in run_query(state_dir, "SELECT path FROM rejects").rows]
    accounted = set(published) | set(rejected)
    return {
        "published": len(published),
        "rejected": len(rejected),
        "lost": len(images - accounted),
        "counted_twice": len(published) + len(rejected) - len(accounted),
        "published_but_deleted": len(accounted - images),
    }


def run_reports(stack: LocalStack, run_ids: Collection[str]) -> list[dict[str, Any]]:
    """The report.json of each of these runs that wrote one (a superseded execution did not)."""
    s3, bucket = stack.client("s3"), stack.outputs["BucketName"]
    reports = []
    for run_id in run_ids:
        key = report_path(stack.resolver.parameter("ResultsPrefix"), run_id)
        try:
            reports.append(json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
        except s3.exceptions.NoSuchKey:
            continue
    return reports


def expired_rows(stack: LocalStack, expired: set[str]) -> dict[str, int]:
    """Rows whose path is an image past its retention: in each table as queried, and in every Parquet file
    under each dataset folder (a file no partition names any more counts too)."""
    counts = {}
    for spec in TABLES_WITH_PATHS:
        rows = run_query(stack.state_dir, f"SELECT path, count(*) FROM {spec.name} GROUP BY path").rows
        counts[spec.name] = sum(int(n) for path, n in rows if path in expired)
    saved = KeyFolder(bucket_dir(stack.state_dir, stack.outputs["BucketName"]))
    for dataset in FOLDERS_WITH_PATHS:
        folder = saved.folder(f"{stack.resolver.parameter('ResultsPrefix')}/{dataset}")
        files = sorted(str(p) for p in folder.rglob("*.parquet")) if folder.exists() else []
        rows = _paths_in_files(files)
        counts[files_under(dataset)] = sum(n for path, n in rows if path in expired)
    return counts


def files_under(dataset: str) -> str:
    """How ``expired_rows`` names the count over every Parquet file of a dataset folder."""
    return f"files under {dataset}/"


def _paths_in_files(files: list[str]) -> list[tuple[str, int]]:
    if not files:
        return []
    listed = "[" + ", ".join(literal(f) for f in files) + "]"
    sql = f"SELECT path, count(*) FROM read_parquet({listed}, union_by_name = true) GROUP BY path"
    with duckdb.connect() as con:
        return [(str(path), int(n)) for path, n in con.execute(sql).fetchall()]
