"""Helpers for the guarantee tests: local stacks (fresh, or holding one shared published run), tiny uploads,
executions' progress, and what the published tables, the run records and the feature table hold."""

from __future__ import annotations

import io
import random
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from orchard.local.executions import wait_for
from orchard.local.flow import put_objects
from orchard.local.run import local_stack, run_pending
from orchard.local.stack import LocalStack
from orchard.query import run_query
from orchard_contract.tables import PCA, PUBLISHED_RUN

PARAMETERS = {"ImageSize": "96"}


@contextmanager
def fresh_stack(state: Path) -> Iterator[LocalStack]:
    with local_stack(state, PARAMETERS, fresh=True, echo=False) as stack:
        yield stack


@dataclass(frozen=True)
class PublishedRun:
    """A local state holding one published run, kept aside so that each test starts from it unchanged."""

    state: Path  # where the stack keeps its state (the mirror's feature cache names files by this path)
    kept: Path  # the state as it was right after the run
    run_id: str
    paths: list[str]  # the images it published


def publish_first_run(root: Path, names: list[str]) -> PublishedRun:
    state = root / "state"
    with fresh_stack(state) as stack:
        paths = upload(stack, names, seed=1)
        [published] = run_pending(stack)
        assert published.status == "SUCCEEDED", (published.error, published.cause)
    shutil.copytree(state, root / "kept")
    return PublishedRun(state, root / "kept", published.run_id, paths)


@contextmanager
def stack_holding(run: PublishedRun) -> Iterator[LocalStack]:
    """A freshly deployed stack with the run's saved state restored (as `orchard upload` restores it)."""
    shutil.rmtree(run.state)
    shutil.copytree(run.kept, run.state)  # copy2 keeps mtimes: the feature cache is keyed on them
    with local_stack(run.state, echo=False) as stack:
        yield stack


def image_bytes(seed: int) -> bytes:
    rng = random.Random(seed)
    pixels = np.array([[rng.randrange(256) for _ in range(3)] for _ in range(16 * 16)], dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels.reshape(16, 16, 3)).resize((32, 32)).save(buffer, format="JPEG")
    return buffer.getvalue()


def upload(stack: LocalStack, names: list[str], seed: int = 0) -> list[str]:
    """put_object each <images prefix><name> with distinct content; returns the s3:// URIs."""
    prefix = stack.resolver.parameter("ImagesPrefix")
    objects = {prefix + name: image_bytes(seed * 1000 + index) for index, name in enumerate(names)}
    return put_objects(stack, objects)


def column(stack: LocalStack, sql: str) -> list[Any]:
    return [row[0] for row in run_query(stack.state_dir, sql).rows]


def glue_table(stack: LocalStack, name: str) -> dict[str, Any]:
    glue, database = stack.client("glue"), stack.resolver.refs["GlueDatabase"]
    table: dict[str, Any] = glue.get_table(DatabaseName=database, Name=name)["Table"]
    return table


def published_run(stack: LocalStack) -> str:
    return str(glue_table(stack, PCA.name)["Parameters"][PUBLISHED_RUN])


def table_location(stack: LocalStack, name: str) -> str:
    return str(glue_table(stack, name)["StorageDescriptor"]["Location"])


def partitions(stack: LocalStack, table: str) -> list[str]:
    glue, database = stack.client("glue"), stack.resolver.refs["GlueDatabase"]
    found = glue.get_partitions(DatabaseName=database, TableName=table)["Partitions"]
    return sorted(p["Values"][0] for p in found)


def finished(stack: LocalStack, execution_arn: str) -> dict[str, Any]:
    return wait_for(stack, execution_arn, timeout=900)
