"""Local state that outlives the process (under .orchard/local/, git-ignored).

- ``bucket/<bucket>/...``: every object of the local bucket as S3 holds it (images, manifests, results with
  s3:// paths), one file per key (``keys.KeyFolder``: odd keys get stand-in names, listed in
  ``bucket/<bucket>~names/``): ``orchard query`` reads the Parquet from here; a later ``orchard upload``
  restores it into moto.
- ``mirror/<bucket>/...``: the job's view (local paths, feature cache, exported networks).
- ``catalog.json``: the Glue database as moto's get_tables/get_partitions return it, taken after each flow.
- ``logs/<run id>.log``: each job's spark-submit log.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchard.local.keys import KeyFolder

if TYPE_CHECKING:  # the stack brings moto: `orchard query` reads the saved state without it
    from orchard.local.stack import LocalStack

DEFAULT_STATE_DIR = Path(".orchard") / "local"
TABLE_INPUT_KEYS = ("Name", "Description", "TableType", "Parameters", "PartitionKeys", "StorageDescriptor")


def bucket_dir(state_dir: Path, bucket: str) -> Path:
    return state_dir / "bucket" / bucket


def catalog_path(state_dir: Path) -> Path:
    return state_dir / "catalog.json"


def save(stack: LocalStack) -> None:
    """Export the bucket (new or changed objects; files of deleted objects go) and save the Glue catalog."""
    s3, bucket = stack.client("s3"), stack.outputs["BucketName"]
    files, kept = KeyFolder(bucket_dir(stack.state_dir, bucket)), set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            target = files.path(obj["Key"])
            kept.add(target)
            if target.exists() and hashlib.md5(target.read_bytes()).hexdigest() == obj["ETag"].strip('"'):
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
    for stale in [p for p in files.root.rglob("*") if p.is_file() and p not in kept]:
        stale.unlink()  # else a later session's restore would bring the deleted object back
    catalog = {
        "bucket": bucket,
        "database": stack.resolver.refs["GlueDatabase"],
        "tables": glue_tables(stack),
    }
    catalog_path(stack.state_dir).write_text(json.dumps(catalog, indent=2, default=str))


def glue_tables(stack: LocalStack) -> list[dict[str, Any]]:
    glue, database = stack.client("glue"), stack.resolver.refs["GlueDatabase"]
    tables = []
    for page in glue.get_paginator("get_tables").paginate(DatabaseName=database):
        for table in page["TableList"]:
            partitions = [
                p
                for partition_page in glue.get_paginator("get_partitions").paginate(
                    DatabaseName=database, TableName=table["Name"]
                )
                for p in partition_page["Partitions"]
            ]
            tables.append({**table, "Partitions": partitions})
    return tables


def restore(stack: LocalStack) -> int:
    """Put the saved bucket and Glue tables back into a freshly deployed stack (before its notifications)."""
    catalog_file = catalog_path(stack.state_dir)
    if not catalog_file.exists():
        return 0
    s3, bucket = stack.client("s3"), stack.outputs["BucketName"]
    folder = KeyFolder(bucket_dir(stack.state_dir, bucket))
    files = [p for p in sorted(folder.root.rglob("*")) if p.is_file()]
    for path in files:
        key = folder.key(path.relative_to(folder.root).as_posix())
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
    glue, database = stack.client("glue"), stack.resolver.refs["GlueDatabase"]
    for table in json.loads(catalog_file.read_text())["tables"]:
        glue.create_table(
            DatabaseName=database, TableInput={k: table[k] for k in TABLE_INPUT_KEYS if k in table}
        )
        partitions = [
            {"Values": p["Values"], "StorageDescriptor": p["StorageDescriptor"]} for p in table["Partitions"]
        ]
        for start in range(0, len(partitions), 100):
            glue.batch_create_partition(
                DatabaseName=database,
                TableName=table["Name"],
                PartitionInputList=partitions[start : start + 100],
            )
    return len(files)
