"""Retention through the local stack (RetainRuns=2, stand-in job): old runs' history leaves Glue, S3 and the
saved state while the published run and the newest stay queryable; a retirement that fails midway leaves
no table pointing at a deleted object, and the next run finishes it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from local_support import FakeJob, failing_call, images

from orchard.local.flow import upload_images
from orchard.local.run import local_stack, run_pending
from orchard.local.stack import JOB_RUNNER, LocalStack
from orchard.local.state import bucket_dir
from orchard.query import run_query
from orchard_contract.layout import run_path
from orchard_contract.tables import PCA_HISTORY, REJECTS_HISTORY

pytestmark = pytest.mark.slow


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    parameters = {"ImageSize": "96", "RetainRuns": "2", "RetainDays": "30"}
    with local_stack(tmp_path / "state", parameters, fresh=True, echo=False) as deployed:
        deployed.functions.add(JOB_RUNNER, FakeJob(deployed))
        yield deployed


def run_with_one_more_image(stack: LocalStack, folder: Path, label: str) -> str:
    time.sleep(1.1)  # run ids carry their batch's upload time to the second: one run per second
    upload_images(stack, images(folder / label, [f"{label}/1.jpg"]))
    [execution] = run_pending(stack)
    assert execution.status == "SUCCEEDED", execution.cause
    return execution.run_id


def partition_runs(stack: LocalStack, table: str) -> set[str]:
    glue = stack.client("glue")
    answer = glue.get_partitions(DatabaseName=stack.resolver.refs["GlueDatabase"], TableName=table)
    return {p["Values"][0] for p in answer["Partitions"]}


def history_keys(stack: LocalStack, run_id: str) -> set[str]:
    """The run's objects in the bucket (moto) and in the saved state, and its manifest."""
    s3, bucket = stack.client("s3"), stack.outputs["BucketName"]
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
    saved = bucket_dir(stack.state_dir, bucket)
    files = {p.relative_to(saved).as_posix() for p in saved.rglob("*") if p.is_file()}
    folder = f"/run_id={run_id}/"
    return {
        k for k in keys | files if (folder in k and "/features/" not in k) or k.endswith(f"/{run_id}.txt")
    }


def assert_no_partition_points_at_nothing(stack: LocalStack) -> None:
    s3, bucket = stack.client("s3"), stack.outputs["BucketName"]
    results = stack.resolver.parameter("ResultsPrefix")
    for spec in (PCA_HISTORY, REJECTS_HISTORY):
        for run_id in partition_runs(stack, spec.name):
            folder = run_path(results, spec.dataset, run_id) + "/"
            assert s3.list_objects_v2(Bucket=bucket, Prefix=folder).get("KeyCount"), folder


def test_old_runs_history_goes_and_the_newest_stay_queryable(stack, tmp_path):
    catalog = stack.resolver.refs["CatalogFunction"]
    assert (
        stack.functions.environments[catalog] | {"RETAIN_RUNS": "2", "RETAIN_DAYS": "30"}
        == (stack.functions.environments[catalog])
    )
    runs = [run_with_one_more_image(stack, tmp_path, label) for label in ("Apple", "Pear", "Plum", "Quince")]

    assert partition_runs(stack, "pca_history") == partition_runs(stack, "rejects_history") == set(runs[2:])
    for old in runs[:2]:
        assert history_keys(stack, old) == set(), old
    for kept in runs[2:]:
        assert {k for k in history_keys(stack, kept) if "/pca/" in k}, kept
    history = run_query(
        stack.state_dir, "SELECT run_id, count(*) FROM pca_history GROUP BY run_id ORDER BY 1"
    )
    assert history.rows == [(runs[2], 3), (runs[3], 4)]
    assert run_query(stack.state_dir, "SELECT count(*) FROM pca").rows == [(4,)]
    records = run_query(stack.state_dir, "SELECT run_id, history_retired_at IS NOT NULL FROM runs ORDER BY 1")
    assert records.rows == [(runs[0], True), (runs[1], True), (runs[2], False), (runs[3], False)]


def test_a_retirement_that_fails_midway_is_finished_by_the_next_run(stack, tmp_path):
    runs = [run_with_one_more_image(stack, tmp_path, label) for label in ("Apple", "Pear")]
    with failing_call(stack.resolver.refs["CatalogFunction"], "DeleteObjects") as failed:
        runs.append(run_with_one_more_image(stack, tmp_path, "Plum"))  # published all the same

    assert failed == ["DeleteObjects"]
    assert partition_runs(stack, "pca_history") == set(runs[1:])  # Glue went first ...
    assert history_keys(stack, runs[0])  # ... the objects not yet, and no table points at them
    assert_no_partition_points_at_nothing(stack)
    assert run_query(stack.state_dir, "SELECT count(*) FROM pca").rows == [(3,)]

    runs.append(run_with_one_more_image(stack, tmp_path, "Quince"))
    for old in runs[:2]:
        assert history_keys(stack, old) == set(), old
    assert partition_runs(stack, "pca_history") == set(runs[2:])
    assert_no_partition_points_at_nothing(stack)
    assert run_query(stack.state_dir, "SELECT count(*) FROM pca_history").rows == [(3 + 4,)]
