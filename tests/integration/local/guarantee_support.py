"""Helpers for the guarantee tests: a fresh local stack, tiny uploads, executions' progress, and what the
published tables, the run records and the feature table hold."""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from orchard.local.flow import wait_for
from orchard.local.run import local_stack
from orchard.local.stack import LocalStack
from orchard.query import run_query


@contextmanager
def fresh_stack(state: Path) -> Iterator[LocalStack]:
    with local_stack(state, {"ImageSize": "96"}, fresh=True, echo=False) as stack:
        yield stack


def image_bytes(seed: int) -> bytes:
    rng = random.Random(seed)
    pixels = np.array([[rng.randrange(256) for _ in range(3)] for _ in range(16 * 16)], dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels.reshape(16, 16, 3)).resize((32, 32)).save(buffer, format="JPEG")
    return buffer.getvalue()


def upload(stack: LocalStack, names: list[str], seed: int = 0) -> list[str]:
    """put_object each images/<name> with distinct content; returns the s3:// URIs."""
    s3, bucket = stack.client("s3"), stack.outputs["BucketName"]
    for index, name in enumerate(names):
        s3.put_object(Bucket=bucket, Key=f"images/{name}", Body=image_bytes(seed * 1000 + index))
    return [f"s3://{bucket}/images/{name}" for name in names]


def column(stack: LocalStack, sql: str) -> list[Any]:
    return [row[0] for row in run_query(stack.state_dir, sql).rows]


def published_run(stack: LocalStack) -> str:
    table = stack.client("glue").get_table(DatabaseName="orchard", Name="pca")["Table"]
    return str(table["Parameters"]["orchard.run_id"])


def table_location(stack: LocalStack, name: str) -> str:
    table = stack.client("glue").get_table(DatabaseName="orchard", Name=name)["Table"]
    return str(table["StorageDescriptor"]["Location"])


def partitions(stack: LocalStack, table: str) -> list[str]:
    found = stack.client("glue").get_partitions(DatabaseName="orchard", TableName=table)["Partitions"]
    return sorted(p["Values"][0] for p in found)


def finished(stack: LocalStack, execution_arn: str) -> dict[str, Any]:
    return wait_for(stack, execution_arn, timeout=900)
