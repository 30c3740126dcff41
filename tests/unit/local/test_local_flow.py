"""The real definition on the local stack (moto), with a stand-in job: happy path, failure paths, retries,
redelivery, and the EMR task's rebinding. The real Spark job runs in tests/integration/local."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from local_support import HAPPY_PATH, FakeJob, images, run_location

from orchard.local import REPO
from orchard.local.executions import ended_in, wait_for, wait_until_entered
from orchard.local.flow import drain_queue, invoke_trigger, receive_batch, upload_images
from orchard.local.invoke import LocalFunctionError, ServiceFaultError
from orchard.local.job_runner import EMR_SYNC, rebind_emr_tasks
from orchard.local.run import local_stack, run_pending
from orchard.local.stack import JOB_RUNNER, LocalStack
from orchard.local.state import save
from orchard.query import run_query
from orchard_contract.tables import PCA

# Whole flows through the local stack and the state machine: the full suite's, not make test-fast's.
pytestmark = pytest.mark.slow


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    with local_stack(tmp_path / "state", {"ImageSize": "96"}, fresh=True, echo=False) as deployed:
        deployed.functions.add(JOB_RUNNER, FakeJob(deployed))
        yield deployed


def published_location(stack: LocalStack) -> str:
    table = stack.client("glue").get_table(DatabaseName="orchard", Name="pca")["Table"]
    return str(table["StorageDescriptor"]["Location"])


def test_upload_runs_the_definition_and_publishes(stack, tmp_path):
    upload_images(stack, images(tmp_path / "a", ["Apple/1.jpg", "Apple/2.jpg", "Pear/1.jpg"]))
    [execution] = run_pending(stack)

    assert execution.status == "SUCCEEDED"
    assert [s.name for s in execution.states] == HAPPY_PATH
    assert published_location(stack) == run_location(stack, PCA.dataset, execution.run_id)
    rows = run_query(
        stack.state_dir, "SELECT label, count(*) AS n FROM pca GROUP BY label ORDER BY label"
    ).rows
    assert rows == [("Apple", 2), ("Pear", 1)]


def test_emr_task_gets_its_unmodified_parameters_as_a_valid_start_job_run(stack, tmp_path):
    upload_images(stack, images(tmp_path / "a", ["Apple/1.jpg", "Pear/1.jpg"]))
    [execution] = run_pending(stack)
    fake = stack.functions.handlers[JOB_RUNNER]
    assert isinstance(fake, FakeJob)

    request = fake.request  # validated against botocore's StartJobRun model by start_job_run_request
    assert request["applicationId"] == stack.resolver.attributes["EmrApplication.ApplicationId"]
    assert request["name"] == request["clientToken"] == execution.run_id
    assert request["jobDriver"]["sparkSubmit"]["entryPoint"] == "local:///opt/orchard/featurize.py"
    bucket = stack.outputs["BucketName"]
    assert request["jobDriver"]["sparkSubmit"]["entryPointArguments"] == [
        "--input", f"s3://{bucket}/images/", "--manifest", f"s3://{bucket}/manifests/{execution.run_id}.txt",
        "--output", f"s3://{bucket}/results", "--run-id", execution.run_id, "--weights", "random",
        "--image-size", "96", "--runtime", "tflite", "--variance", "0.95",
        "--basis", "auto", "--basis-tolerance", "0.01",
    ]  # fmt: skip
    emr = stack.client("emr-serverless")
    [job_run] = emr.list_job_runs(applicationId=request["applicationId"])["jobRuns"]
    assert job_run["name"] == execution.run_id  # a real (moto) job run: RecordJobUsage's GetJobRun answered
    assert next(s for s in execution.states if s.name == "RecordJobUsage").outcome == "ok"


def test_rebinding_changes_only_the_emr_task_resource():
    definition = json.loads((REPO / "statemachine" / "orchard.asl.json").read_text())
    rebound = rebind_emr_tasks(definition, "arn:aws:lambda:us-east-1:123456789012:function:runner")

    changed = [n for n in definition["States"] if definition["States"][n] != rebound["States"][n]]
    assert changed == ["RunFeaturizeJob"]
    assert definition["States"]["RunFeaturizeJob"]["Resource"] == EMR_SYNC
    before, after = dict(definition["States"]["RunFeaturizeJob"]), dict(rebound["States"]["RunFeaturizeJob"])
    assert before.pop("Resource") != after.pop("Resource") and before == after


def test_job_failure_is_caught_recorded_and_the_previous_run_stays_published(stack, tmp_path):
    upload_images(stack, images(tmp_path / "a", ["Apple/1.jpg", "Pear/1.jpg"]))
    [first] = run_pending(stack)
    stack.functions.inject(JOB_RUNNER, LocalFunctionError("EMRServerless.JobRunFailed", "exit code 1"))
    upload_images(stack, images(tmp_path / "b", ["Plum/1.jpg"]))
    [failed] = run_pending(stack)

    assert failed.status == "FAILED"
    assert [s.name for s in failed.states] == [
        "CheckInput",
        "Prepare",
        "TakeTurn",
        "IsItMyTurn",
        "RunFeaturizeJob",
        "RecordFailure",
        "RunFailed",
    ]
    assert failed.error == "EMRServerless.JobRunFailed"
    assert published_location(stack) == run_location(stack, PCA.dataset, first.run_id)
    runs = run_query(
        stack.state_dir, "SELECT run_id, status, published, error FROM runs ORDER BY status DESC"
    )
    assert runs.rows == [
        (first.run_id, "succeeded", True, None),
        (failed.run_id, "failed", False, "EMRServerless.JobRunFailed"),
    ]
    assert run_query(stack.state_dir, "SELECT count(*) FROM pca").rows == [(2,)]


def test_a_broken_output_fails_validation_and_publishes_nothing(stack, tmp_path):
    upload_images(stack, images(tmp_path / "a", ["Apple/1.jpg", "Pear/1.jpg"]))
    [first] = run_pending(stack)
    stack.functions.add(JOB_RUNNER, FakeJob(stack, broken=True))
    upload_images(stack, images(tmp_path / "b", ["Plum/1.jpg"]))
    [failed] = run_pending(stack)

    assert [s.name for s in failed.states] == [*HAPPY_PATH[:8], "RecordFailure", "RunFailed"]
    assert failed.error == "RunValidationError"
    assert "pca has 3 rows, report in_pca=4" in (failed.cause or "")
    assert published_location(stack) == run_location(stack, PCA.dataset, first.run_id)
    partitions = stack.client("glue").get_partitions(DatabaseName="orchard", TableName="pca_history")[
        "Partitions"
    ]
    assert [p["Values"] for p in partitions] == [[first.run_id]]


def test_a_transient_invoke_error_is_retried_per_the_retry_policy(stack, tmp_path):
    stack.functions.inject("orchard-validate", ServiceFaultError("throttled"))
    upload_images(stack, images(tmp_path / "a", ["Apple/1.jpg", "Pear/1.jpg"]))
    [execution] = run_pending(stack)

    assert execution.status == "SUCCEEDED"
    validate = next(s for s in execution.states if s.name == "Validate")
    assert validate.outcome == "Lambda.ServiceException -> ok"


def test_redelivered_messages_start_no_second_run(stack, tmp_path):
    upload_images(stack, images(tmp_path / "a", ["Apple/1.jpg", "Pear/1.jpg"]))
    messages = receive_batch(stack, 1000)
    first = invoke_trigger(stack, messages)
    # Redelivered while the run is going (same name and input: StartExecution answers the same execution) ...
    during = invoke_trigger(stack, messages)
    wait_for(stack, first["run"]["execution_arn"])
    # ... and after it ended (ExecutionAlreadyExists: the trigger reports the existing run).
    after = invoke_trigger(stack, messages)

    assert first["run"]["started"] is True
    assert during["run"]["execution_arn"] == after["run"]["execution_arn"] == first["run"]["execution_arn"]
    assert after["run"]["started"] is False
    assert drain_queue(stack) == []
    arn = stack.outputs["StateMachineArn"]
    assert len(stack.client("stepfunctions").list_executions(stateMachineArn=arn)["executions"]) == 1


def test_runs_take_turns_and_a_waiting_run_steps_aside_for_a_newer_one(stack, tmp_path):
    release = threading.Event()
    real = stack.functions.handlers[JOB_RUNNER]

    def held_job(parameters, context):
        release.wait(60)
        return real(parameters, context)

    stack.functions.add(JOB_RUNNER, held_job)
    executions = []
    for batch, label in enumerate(["Apple", "Pear", "Plum"]):
        upload_images(stack, images(tmp_path / str(batch), [f"{label}/1.jpg"]))
        [response] = drain_queue(stack)
        executions.append(response["run"]["execution_arn"])
        wait_until_entered(stack, executions[-1], "RunFeaturizeJob" if batch == 0 else "WaitForTurn")
    release.set()
    for arn in executions:
        wait_for(stack, arn)
    save(stack)

    assert [ended_in(stack, arn) for arn in executions] == ["Published", "Superseded", "Published"]
    rows = run_query(stack.state_dir, "SELECT label FROM pca ORDER BY label").rows
    assert rows == [("Apple",), ("Pear",), ("Plum",)]
