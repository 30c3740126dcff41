"""What Orchard promises under overlaps, changes and faults, through the local stack with the real Spark job:
nothing lost, nothing featurized twice, nothing half-done visible through the published tables.

The change and fault cases each start from the same published run (run once, its state restored for each)."""

from __future__ import annotations

import hashlib
import inspect
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from guarantee_support import (
    PublishedRun,
    column,
    finished,
    fresh_stack,
    image_bytes,
    partitions,
    publish_first_run,
    published_run,
    stack_holding,
    table_location,
    upload,
)
from local_support import run_location

from orchard.local.executions import ended_in, wait_until_entered
from orchard.local.flow import drain_queue, invoke_trigger, receive_batch
from orchard.local.invoke import LocalFunctionError
from orchard.local.run import run_pending
from orchard.local.stack import JOB_RUNNER, LocalStack
from orchard.local.state import bucket_dir, save
from orchard.query import run_query
from orchard_contract.layout import MODELS_DATASET, report_path, run_path
from orchard_contract.tables import PCA

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("baked_network")]


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory, baked_network: Path) -> PublishedRun:
    names = ["Apple/0.jpg", "Apple/1.jpg", "Pear/0.jpg", "Pear/1.jpg"]
    return publish_first_run(tmp_path_factory.mktemp("published"), names)


def start(stack: LocalStack) -> str:
    """Deliver the queued notifications; the one execution they start."""
    [response] = drain_queue(stack)
    return str(response["run"]["execution_arn"])


def featured_paths(stack: LocalStack) -> Counter[str]:
    """How many rows the feature table holds per image (every run's rows, as cataloged)."""
    return Counter(column(stack, "SELECT path FROM features"))


def test_uploads_during_a_run_wait_for_it_and_every_image_is_featurized_once(tmp_path: Path) -> None:
    with fresh_stack(tmp_path / "state") as stack:
        first = upload(stack, [f"Apple/{i}.jpg" for i in range(6)], seed=1)
        running = start(stack)
        wait_until_entered(stack, running, "RunFeaturizeJob")
        second = upload(stack, [f"Pear/{i}.jpg" for i in range(3)], seed=2)
        waiting = start(stack)
        wait_until_entered(stack, waiting, "WaitForTurn")
        third = upload(stack, [f"Plum/{i}.jpg" for i in range(3)], seed=3)
        last = start(stack)
        outcomes = {arn: finished(stack, arn)["status"] for arn in (running, waiting, last)}
        save(stack)

        assert set(outcomes.values()) == {"SUCCEEDED"}
        assert [ended_in(stack, arn) for arn in (running, waiting, last)] == [
            "Published",
            "Superseded",
            "Published",
        ]
        assert sorted(column(stack, "SELECT path FROM pca")) == sorted(first + second + third)
        assert featured_paths(stack) == Counter(first + second + third)  # each image featurized exactly once
        assert column(stack, "SELECT sum(featurized_this_run) FROM runs") == [12]


def test_an_overwrite_is_refeaturized_and_a_deletion_leaves_the_next_snapshot(
    first_run: PublishedRun,
) -> None:
    with stack_holding(first_run) as stack:
        s3, bucket = stack.client("s3"), stack.outputs["BucketName"]
        paths, images = first_run.paths, stack.resolver.parameter("ImagesPrefix")
        new_content = image_bytes(999)
        s3.put_object(Bucket=bucket, Key=f"{images}Apple/0.jpg", Body=new_content)  # same key, new content
        s3.delete_object(Bucket=bucket, Key=f"{images}Pear/1.jpg")
        [changed] = run_pending(stack)
        s3.delete_object(Bucket=bucket, Key=f"{images}Pear/0.jpg")  # a deletion alone starts a run too
        [deleted] = run_pending(stack)

        assert (changed.status, deleted.status) == ("SUCCEEDED", "SUCCEEDED")
        counts = "SELECT featurized_this_run, reused_from_cache, in_pca FROM runs WHERE run_id = "
        counts += f"'{changed.run_id}'"
        assert run_query(stack.state_dir, counts).rows == [(1, 2, 3)]
        assert sorted(column(stack, "SELECT path FROM pca")) == [paths[0], paths[1]]
        assert published_run(stack) == deleted.run_id
        assert_published_vector_is_from(
            stack, changed.run_id, paths[0], hashlib.sha256(new_content).hexdigest()
        )


def test_deleting_every_image_publishes_an_empty_snapshot(first_run: PublishedRun) -> None:
    with stack_holding(first_run) as stack:
        s3, bucket = stack.client("s3"), stack.outputs["BucketName"]
        keys = [path.removeprefix(f"s3://{bucket}/") for path in first_run.paths]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key} for key in keys]})
        executions = run_pending(stack)

        assert {e.status for e in executions} == {"SUCCEEDED"}, [(e.error, e.cause) for e in executions]
        emptied = executions[-1].run_id
        assert published_run(stack) == emptied
        assert column(stack, "SELECT count(*) FROM pca") == [0]  # fewer than 2 images: k = 0, not a failure
        runs = f"SELECT k, listed, in_pca FROM runs WHERE run_id = '{emptied}'"
        assert run_query(stack.state_dir, runs).rows == [(0, 0, 0)]


def assert_published_vector_is_from(stack: LocalStack, run_id: str, path: str, sha256: str) -> None:
    """The run's PCA row for path is the projection of the feature row of that content, not the old one."""
    saved = bucket_dir(stack.state_dir, stack.outputs["BucketName"])
    rows = column(
        stack, f"SELECT features FROM features WHERE path = '{path}' AND content_sha256 = '{sha256}'"
    )
    [features] = rows
    results = stack.resolver.parameter("ResultsPrefix")
    fitted = np.load(saved / run_path(results, MODELS_DATASET, run_id, "pca.npz"))
    inverse = np.divide(1.0, fitted["std"], out=np.zeros_like(fitted["std"]), where=fitted["std"] > 0)
    expected = ((np.array(features) - fitted["mean"]) * inverse) @ fitted["components"]
    [published] = column(stack, f"SELECT pca FROM pca_history WHERE run_id = '{run_id}' AND path = '{path}'")
    np.testing.assert_allclose(published, expected, rtol=1e-4, atol=1e-4)


class HalfWrittenJob:
    """Once: the real job, then the run loses its PCA files and its report, and fails (or, with
    ``fail=False``, "succeeds" with outputs that disagree with its report)."""

    def __init__(self, stack: LocalStack, *, fail: bool) -> None:
        self.stack, self.fail = stack, fail
        self.real = stack.functions.handlers[JOB_RUNNER]

    def __call__(self, parameters: dict[str, Any], context: Any) -> dict[str, Any]:
        self.stack.functions.add(JOB_RUNNER, self.real)  # the next run is a healthy one
        result: dict[str, Any] = self.real(parameters, context)
        s3, bucket, run_id = self.stack.client("s3"), self.stack.outputs["BucketName"], parameters["Name"]
        results = self.stack.resolver.parameter("ResultsPrefix")
        pca_files = s3.list_objects_v2(Bucket=bucket, Prefix=run_path(results, PCA.dataset, run_id) + "/")
        for obj in pca_files["Contents"]:
            s3.delete_object(Bucket=bucket, Key=obj["Key"])
        if self.fail:
            s3.delete_object(Bucket=bucket, Key=report_path(results, run_id))
            raise LocalFunctionError("EMRServerless.JobRunFailed", f"{run_id}: executor lost half-way")
        return result


def inject(stack: LocalStack, fault: str) -> None:
    if fault == "job fails before writing":
        stack.functions.inject(JOB_RUNNER, LocalFunctionError("EMRServerless.JobRunFailed", "exit code 1"))
    elif fault == "job fails half-way":
        stack.functions.add(JOB_RUNNER, HalfWrittenJob(stack, fail=True))
    elif fault == "validator rejects":
        stack.functions.add(JOB_RUNNER, HalfWrittenJob(stack, fail=False))
    elif fault == "catalog fails half-way":
        catalog = inspect.unwrap(stack.functions.handlers["orchard-catalog"]).__globals__["Catalog"]
        switch = catalog.put_table

        def fail_on_pca(self: Any, wanted: dict[str, Any]) -> None:
            if wanted["Name"] == "pca":
                catalog.put_table = switch  # once
                raise RuntimeError("Glue: internal error")
            switch(self, wanted)

        catalog.put_table = fail_on_pca
    elif fault == "validate times out":
        stack.functions.inject(
            "orchard-validate", LocalFunctionError("Sandbox.Timedout", "Task timed out after 300.00 seconds")
        )


FAULTS = {
    "job fails before writing": "EMRServerless.JobRunFailed",
    "job fails half-way": "EMRServerless.JobRunFailed",
    "validator rejects": "RunValidationError",
    "catalog fails half-way": "RuntimeError",
    "validate times out": "Sandbox.Timedout",
}


@pytest.mark.parametrize("fault", FAULTS)
def test_a_fault_keeps_the_published_run_and_a_retrigger_completes_without_duplicates(
    first_run: PublishedRun, fault: str
) -> None:
    with stack_holding(first_run) as stack:
        before = first_run.paths
        added = upload(stack, ["Plum/0.jpg", "Plum/1.jpg"], seed=2)
        messages = receive_batch(stack, 1000)
        inject(stack, fault)
        failed = invoke_trigger(stack, messages)["run"]
        described = finished(stack, failed["execution_arn"])
        save(stack)

        assert (described["status"], described.get("error")) == ("FAILED", FAULTS[fault])
        assert published_run(stack) == first_run.run_id
        for table in ("pca", "rejects"):
            assert table_location(stack, table) == run_location(stack, table, first_run.run_id)
        assert sorted(column(stack, "SELECT path FROM pca")) == sorted(before)
        # History lists validated runs only: one that failed while publishing was validated, others were not.
        validated = [first_run.run_id] + (
            [failed["execution_name"]] if fault == "catalog fails half-way" else []
        )
        assert partitions(stack, "pca_history") == sorted(validated)
        runs = {
            row[0]: row[1:]
            for row in run_query(stack.state_dir, "SELECT run_id, status, error FROM runs").rows
        }
        assert runs[failed["execution_name"]] == ("failed", FAULTS[fault])

        retried = invoke_trigger(stack, messages)["run"]  # the same events again
        assert retried["execution_name"] == failed["execution_name"] + "-r2"
        assert finished(stack, retried["execution_arn"])["status"] == "SUCCEEDED"
        save(stack)
        assert sorted(column(stack, "SELECT path FROM pca")) == sorted(before + added)
        assert featured_paths(stack) == Counter(before + added)
