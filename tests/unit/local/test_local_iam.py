"""IAM as AWS would check it, on the calls of local flows (stand-in job): every call a component makes is
allowed for its role, and every grant of every role is used by some call (observed, derived or modelled).

The flows take every path that calls AWS differently: a first run whose job fails (the failure record
creates the runs table), its batch redelivered (the trigger looks the failed execution up and starts a
retry), a second run (tables updated), a third that retires the retry's history (RetainRuns=2), an
erasure, and the failure path's repair of a half-done publish, with and without a published run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from emrfs_model import example_runs, job_calls
from iam_calls import Call
from iam_check import denied, evaluate, lines, unused
from iam_derived import derived_calls
from iam_flow import flow_calls
from iam_roles import JOB, STATE_MACHINE, Deployment
from local_support import FakeJob, images

from orchard.erase import erase
from orchard.local.executions import wait_for
from orchard.local.flow import invoke_trigger, receive_batch, upload_images
from orchard.local.invoke import LocalFunctionError
from orchard.local.run import local_stack, run_pending
from orchard.local.stack import JOB_RUNNER, LocalStack
from orchard.local.state import TABLE_INPUT_KEYS
from orchard_contract.run_page import run_page_path
from orchard_contract.tables import PUBLISHED_RUN


@dataclass
class Recorded:
    deployment: Deployment
    calls: list[Call]
    bucket: str


def failed_run_then_redelivered(stack: LocalStack, folder: Path) -> None:
    stack.functions.inject(JOB_RUNNER, LocalFunctionError("EMRServerless.JobRunFailed", "exit code 1"))
    upload_images(stack, images(folder, ["Apple/1.jpg", "Pear/1.jpg"]))
    messages = receive_batch(stack, 1000)
    failed = invoke_trigger(stack, messages)
    assert wait_for(stack, failed["run"]["execution_arn"])["status"] == "FAILED"
    retry = invoke_trigger(stack, messages)
    assert retry["run"]["execution_name"].endswith("-r2")
    assert wait_for(stack, retry["run"]["execution_arn"])["status"] == "SUCCEEDED"


def record_failure(stack: LocalStack, run_id: str) -> None:
    event = {
        "run_id": run_id,
        "started_at": "2026-01-01T00:00:00.000Z",
        "output": f"s3://{stack.outputs['BucketName']}/{stack.resolver.parameter('ResultsPrefix')}",
        "state": {},
        "error": {"Error": "States.TaskFailed", "Cause": "a publish that failed half way"},
    }
    name = stack.resolver.refs["RecordFailureFunction"]
    answer = stack.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event).encode())
    assert not answer.get("FunctionError"), answer["Payload"].read()


def half_done_publishes(stack: LocalStack) -> None:
    """rejects switched ahead of pca (realigned: UpdateTable); then no pca at all (undone: DeleteTable)."""
    glue, database = stack.client("glue"), stack.resolver.refs["GlueDatabase"]
    rejects = glue.get_table(DatabaseName=database, Name="rejects")["Table"]
    table_input = {k: rejects[k] for k in TABLE_INPUT_KEYS if k in rejects}
    table_input["Parameters"] = {**table_input["Parameters"], PUBLISHED_RUN: "a-run-that-failed"}
    glue.update_table(DatabaseName=database, TableInput=table_input)
    page = run_page_path(stack.resolver.parameter("ResultsPrefix"), "a-run-that-failed")
    stack.client("s3").put_object(Bucket=stack.outputs["BucketName"], Key=page, Body=b"<html></html>")
    record_failure(stack, "a-run-that-failed")  # its page exists: the notification presigns a link
    glue.delete_table(DatabaseName=database, Name="pca")
    record_failure(stack, "another-run-that-failed")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    root = tmp_path_factory.mktemp("local-iam")
    with local_stack(root / "state", {"ImageSize": "96", "RetainRuns": "2"}, fresh=True, echo=False) as stack:
        stack.functions.add(JOB_RUNNER, FakeJob(stack))
        with flow_calls(stack) as calls:
            failed_run_then_redelivered(stack, root / "a")
            for batch, name in (("b", "Plum/1.jpg"), ("c", "Quince/1.jpg")):
                upload_images(stack, images(root / batch, [name]))
                assert [e.status for e in run_pending(stack)] == ["SUCCEEDED"]
            outputs = stack.outputs  # an erasure (the images deleted by the caller, not a role)
            erase(stack.client("s3"), outputs["UploadPrefix"], outputs["ResultsLocation"], "Plum/1.jpg")
            assert [e.status for e in run_pending(stack)] == ["SUCCEEDED"]
            half_done_publishes(stack)
        yield Recorded(calls.deployment, list(calls.recorded), stack.outputs["BucketName"])


def test_every_component_of_the_flows_made_calls(recorded):
    callers = {call.caller for call in recorded.calls}
    assert callers == set(recorded.deployment.callers) - {JOB}
    operations = {(c.caller, c.operation) for c in recorded.calls}
    assert {(STATE_MACHINE, "Invoke"), (STATE_MACHINE, "GetJobRun")} <= operations
    assert ("orchard-trigger", "DescribeExecution") in operations
    assert ("orchard-recordfailure", "DeleteTable") in operations
    assert {("orchard-recordfailure", op) for op in ("Publish", "GenerateDataKey", "GetObject")} <= operations
    assert {("orchard-catalog", "BatchDeletePartition"), ("orchard-catalog", "DeleteObjects")} <= operations


def test_every_call_the_flows_make_is_allowed_for_its_role(recorded, iam_evaluator):
    decisions = evaluate(iam_evaluator, recorded.deployment, recorded.calls)
    assert not denied(decisions), lines(denied(decisions))


def test_every_grant_is_used_by_some_call(recorded, iam_evaluator):
    results = recorded.deployment.resolver.parameter("ResultsPrefix")
    images = recorded.deployment.resolver.parameter("ImagesPrefix").rstrip("/")
    modelled = [call for run in example_runs(recorded.bucket, images, results) for call in job_calls(run)]
    calls = [*recorded.calls, *derived_calls(recorded.deployment), *modelled]
    decisions = evaluate(iam_evaluator, recorded.deployment, calls)
    assert not denied(decisions), lines(denied(decisions))
    assert not unused(recorded.deployment, decisions), lines(unused(recorded.deployment, decisions))
