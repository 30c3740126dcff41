"""The job's local view of the bucket: s3://bucket/key <-> <mirror>/bucket/<key as a local path>, both ways.

Spark reads s3:// through EMRFS on AWS; locally (no hadoop-aws) it reads a folder mirroring the bucket. Images
keep their mtime across syncs (a file is re-downloaded only when its content changes), so the job's feature
cache, keyed on (path, size, modified), works run after run. Outputs go back with every local path in them
turned into the s3:// URI it stands for, so validate, catalog and queries see what AWS would hold.

Keys map to local paths through ``KeyFolder`` (one file per key, inside the mirror, reversible). A key that
no Hadoop path can name ('.', '..' or empty segments) is not mirrored: on AWS the job can only meet it as a
manifest line, so locally too it stays an s3:// URI there, which the job rejects from its text, unread.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from orchard.local.keys import SUFFIX, KeyFolder, hadoop_addressable
from orchard_contract.layout import MODEL_POINTERS_FOLDER, MODELS_DATASET, S3Uri, run_folder


class Mirror:
    def __init__(self, root: Path, bucket: str, s3: Any) -> None:
        self.root = root.resolve()
        self.bucket = bucket
        self.s3 = s3
        self.files = KeyFolder(self.root / bucket)
        self.local_prefix = re.compile(r"file:/+" + re.escape(str(self.root / bucket).lstrip("/")) + "/")

    def path(self, key: str) -> Path:
        return self.files.path(key)

    def to_local(self, uri: str) -> str:
        """s3://bucket/key -> file:/<mirror>/bucket/<local path>; a file's key Hadoop cannot name stays as it
        is, and so does any other value. The key is taken as written (S3Uri would drop its slashes)."""
        prefix = f"s3://{self.bucket}/"
        if not uri.startswith(prefix):
            return uri
        key = uri.removeprefix(prefix)
        if not SUFFIX.search(key):  # a folder (--input, --output): the files the job reads have a suffix
            slash = "/" if key.endswith("/") or not key else ""
            return f"file:{self.files.folder(key)}{slash}"
        return f"file:{self.path(key)}" if hadoop_addressable(key) else uri

    def to_s3(self, text: str) -> str:
        """A value that is a path in the mirror -> the s3:// URI it stands for; other values unchanged."""
        match = self.local_prefix.match(text)
        return f"s3://{self.bucket}/{self.files.key(text[match.end() :])}" if match else text

    def pull(self, prefix: str) -> int:
        """Mirror every object under prefix (new or changed content only); drop files gone from S3."""
        seen, fetched = set(), 0
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                if not hadoop_addressable(obj["Key"]):
                    continue
                target = self.path(obj["Key"])
                seen.add(target)
                if target.exists() and _md5(target) == obj["ETag"].strip('"'):
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(self.s3.get_object(Bucket=self.bucket, Key=obj["Key"])["Body"].read())
                stamp = obj["LastModified"].timestamp()
                os.utime(target, (stamp, stamp))
                fetched += 1
        folder = self.files.folder(prefix)
        for stale in (
            (p for p in folder.rglob("*") if p.is_file() and p not in seen) if folder.exists() else ()
        ):
            stale.unlink()
        return fetched

    def pull_manifest(self, uri: str) -> str:
        """The manifest with its s3:// lines pointing into the mirror; returns its local URI."""
        key = S3Uri.parse(uri).key
        text = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read().decode()
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("\n".join(self.to_local(line) for line in text.splitlines()) + "\n")
        return f"file:{target}"

    def push(self, prefix: str, run_id: str) -> int:
        """Upload the run's outputs (its run folders, and the carried-sums pointers it names) under prefix,
        local paths turned into s3://."""
        folder, pushed = self.files.folder(prefix), 0
        for file in sorted(folder.rglob("*")):
            key = self.files.key(file.relative_to(self.files.root).as_posix())
            ours = f"/{run_folder(run_id)}/" in key or f"/{MODELS_DATASET}/{MODEL_POINTERS_FOLDER}/" in key
            if not file.is_file() or not ours or file.name.startswith("."):
                continue
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=self._cloud_bytes(file))
            pushed += 1
        return pushed

    def drop_retired(self, prefix: str) -> list[str]:
        """Remove the local run folders under prefix whose objects are gone from S3 (retention deleted them
        there), so the job sees the results as AWS holds them."""
        folder, dropped = self.files.folder(prefix), []
        for local in sorted(folder.glob("*/run_id=*")) if folder.exists() else []:
            key = self.files.key(local.relative_to(self.files.root).as_posix()) + "/"
            if local.is_dir() and not self.s3.list_objects_v2(Bucket=self.bucket, Prefix=key, MaxKeys=1).get(
                "KeyCount"
            ):
                shutil.rmtree(local)
                dropped.append(key)
        return dropped

    def _cloud_bytes(self, file: Path) -> bytes:
        if file.suffix == ".parquet":
            return _rewrite_parquet(file.read_bytes(), self.to_s3)
        if file.suffix == ".json":
            return json.dumps(_rewrite_json(json.loads(file.read_text()), self.to_s3), indent=2).encode()
        return file.read_bytes()


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _rewrite_json(value: Any, rewrite: Any) -> Any:
    if isinstance(value, str):
        return rewrite(value)
    if isinstance(value, list):
        return [_rewrite_json(v, rewrite) for v in value]
    if isinstance(value, dict):
        return {k: _rewrite_json(v, rewrite) for k, v in value.items()}
    return value


def _rewrite_parquet(data: bytes, rewrite: Any) -> bytes:
    table = pq.read_table(io.BytesIO(data))
    for index, column in enumerate(table.schema):
        if pa.types.is_string(column.type):
            values = [None if v is None else rewrite(v) for v in table.column(index).to_pylist()]
            table = table.set_column(index, column, pa.array(values, type=column.type))
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="snappy")
    return sink.getvalue()
