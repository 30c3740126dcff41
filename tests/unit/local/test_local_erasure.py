"""Erasure through the local stack (stand-in job): `orchard erase` deletes the images with the caller's own
credentials and leaves a request; the run their deletion starts publishes without them and its turn removes
every other run's history and cache partitions, so no object under the results names them any more."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from local_support import FakeJob, images

from orchard.erase import erase
from orchard.local.flow import upload_images
from orchard.local.run import local_stack, run_pending
from orchard.local.stack import JOB_RUNNER, LocalStack
from orchard.query import run_query
from orchard_contract.layout import ERASURES_FOLDER

pytestmark = pytest.mark.slow


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    parameters = {"ImageSize": "96", "RetainRuns": "10", "RetainDays": "30"}
    with local_stack(tmp_path / "state", parameters, fresh=True, echo=False) as deployed:
        deployed.functions.add(JOB_RUNNER, FakeJob(deployed))
        yield deployed


def objects_naming(stack: LocalStack, text: str) -> list[str]:
    """The objects under the results (and the manifests) whose content names `text`; Parquet read as rows."""
    s3, bucket = stack.client("s3"), stack.outputs["BucketName"]
    named = []
    for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        if obj["Key"].startswith(stack.resolver.parameter("ImagesPrefix")):
            continue
        body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        if obj["Key"].endswith(".parquet"):
            import io

            body = str(pq.read_table(io.BytesIO(body)).to_pylist()).encode()
        if text.encode() in body:
            named.append(obj["Key"])
    return named


def test_an_erased_image_leaves_every_table_and_object(stack: LocalStack, tmp_path: Path) -> None:
    for label in ("Apple", "Pear", "Plum"):
        time.sleep(1.1)  # run ids carry their batch's upload time to the second
        upload_images(stack, images(tmp_path / label, [f"{label}/1.jpg", f"{label}/2.jpg"]))
        [execution] = run_pending(stack)
        assert execution.status == "SUCCEEDED", execution.cause
    erased = "Apple/1.jpg"
    assert objects_naming(stack, erased)  # in every run's snapshot, history, cache rows and a manifest

    time.sleep(1.1)
    outputs = stack.outputs
    keys, request = erase(stack.client("s3"), outputs["UploadPrefix"], outputs["ResultsLocation"], erased)
    [execution] = run_pending(stack)

    assert execution.status == "SUCCEEDED", execution.cause
    assert keys == [f"{stack.resolver.parameter('ImagesPrefix')}{erased}"]
    assert f"/{ERASURES_FOLDER}/" in request
    assert objects_naming(stack, erased) == []  # no snapshot, history, cache row, manifest or request
    paths = run_query(stack.state_dir, "SELECT path FROM pca UNION ALL SELECT path FROM pca_history").rows
    assert len(paths) == 2 * 5 and not [p for (p,) in paths if p.endswith(erased)]
