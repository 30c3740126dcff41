"""The definition, deployed as the local stack deploys it, given answers that lack what it reads.

Every task answers what the test says (the EMR task through its local rebinding). An answer without a field,
or with a field of the wrong type, must reach RecordFailure with a clear error, or, for the optional usage, go
on without it: never raise States.Runtime, which on AWS fails the execution whatever the Catch (moto lets a
Catch take some, so the history is searched for any). moto answers a Choice Variable that is missing with
``false`` where AWS raises States.Runtime: test_aws_asl_paths.py holds the property that covers those reads.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import run_records

from orchard.local.executions import history, visits, wait_for
from orchard.local.job_runner import start_job_run_request
from orchard.local.stack import JOB_RUNNER, LocalStack

# Each case deploys the local stack and executes the definition: the full suite's, not make test-fast's.
pytestmark = pytest.mark.slow

HAPPY_PATH = ["CheckInput", "Prepare", "TakeTurn", "IsItMyTurn", "RunFeaturizeJob", "HasJobRunId",
              "RecordJobUsage", "Validate", "IsRunValid", "CatalogAndPublish", "Published"]  # fmt: skip
TO_THE_JOB = HAPPY_PATH[:5]
PATH_ERROR = "could not be found in the input"  # moto's words for a JSONPath that selects nothing
FUNCTIONS = {"gate": "GateFunction", "validate": "ValidateFunction", "catalog": "CatalogFunction",
             "record_failure": "RecordFailureFunction"}  # fmt: skip
RUN_ID = "orchard-20250314T092655Z-00000000000000000000000000000001"  # the execution's name


@dataclass
class Answers:
    """What each task answers (a function of its event), and the events the catalog and failure got."""

    stack: LocalStack
    gate: list[Any] = field(default_factory=lambda: [{"turn": "go"}])
    job: Callable[[dict[str, Any]], Any] | None = None
    validation: Any = field(default_factory=lambda: {"valid": True})
    received: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def bind(self) -> None:
        handlers = {
            "gate": lambda event: self.gate.pop(0) if len(self.gate) > 1 else self.gate[0],
            "validate": lambda event: self.validation,
            "catalog": lambda event: {"published": True},
            "record_failure": lambda event: {"status": "failed"},
        }
        for short, logical_id in FUNCTIONS.items():
            self.stack.functions.add(
                self.stack.resolver.refs[logical_id], self.recording(short, handlers[short])
            )
        self.stack.functions.add(JOB_RUNNER, self.recording("job", self.job or self.start_job_run))

    def recording(self, name: str, answer: Callable[[dict[str, Any]], Any]) -> Any:
        def handler(event: dict[str, Any], context: Any) -> Any:
            self.received.setdefault(name, []).append(event)
            return answer(event)

        return handler

    def start_job_run(self, parameters: dict[str, Any]) -> dict[str, Any]:
        """StartJobRun's answer (what startJobRun.sync returns), from a real (moto) job run."""
        started = self.stack.client("emr-serverless").start_job_run(**start_job_run_request(parameters))
        return {
            "ApplicationId": started["applicationId"],
            "JobRunId": started["jobRunId"],
            "Arn": started["arn"],
        }


@dataclass(frozen=True)
class Execution:
    status: str
    error: str | None
    states: list[str]
    runtime_errors: list[str]


@pytest.fixture
def answers(tmp_path: Path) -> Iterator[Answers]:
    with LocalStack(tmp_path, echo=False) as stack:
        stack.deploy()
        yield Answers(stack)


def run(answers: Answers) -> Execution:
    answers.bind()
    sfn, bucket = answers.stack.client("stepfunctions"), answers.stack.outputs["BucketName"]
    arn = sfn.start_execution(
        stateMachineArn=answers.stack.outputs["StateMachineArn"],
        name=RUN_ID,
        input=json.dumps({"manifest": f"s3://{bucket}/manifests/batch.txt"}),
    )["executionArn"]
    described = wait_for(answers.stack, arn, timeout=60)
    events = history(answers.stack, arn)
    return Execution(
        described["status"], described.get("error"), [v.name for v in visits(events)], runtime_errors(events)
    )


def runtime_errors(events: list[dict[str, Any]]) -> list[str]:
    """Every path error in the history, caught or not: on AWS each is States.Runtime and fails the execution.

    moto names one States.Runtime, or ``Exception`` when the task's resource is a function ARN (the rebound
    EMR task), and lets a Catch take it."""
    return [
        f"{event['type']}: {details.get('cause', '')[:200]}"
        for event in events
        for details in event.values()
        if isinstance(details, dict)
        and (details.get("error") == "States.Runtime" or PATH_ERROR in str(details.get("cause", "")))
    ]


def recorded_failure(answers: Answers) -> dict[str, Any]:
    [event] = answers.received["record_failure"]
    error: dict[str, Any] = event["error"]
    return error


def test_the_job_run_is_keyed_by_the_run_id_and_its_usage_reaches_the_catalog(answers):
    execution = run(answers)

    assert (execution.status, execution.states, execution.runtime_errors) == ("SUCCEEDED", HAPPY_PATH, [])
    [job_parameters] = answers.received["job"]
    # A valid StartJobRun request (botocore's model checks it) that a retried task cannot start twice.
    request = start_job_run_request(job_parameters)
    assert request["clientToken"] == request["name"] == RUN_ID
    [published] = answers.received["catalog"]
    usage = run_records.usage_from_job_run(run_records.job_run_of(published["usage"]))
    runs = answers.stack.client("emr-serverless").list_job_runs(applicationId=job_parameters["ApplicationId"])
    assert [usage["job_run_id"]] == [r["id"] for r in runs["jobRuns"]]


@pytest.mark.parametrize(
    "answer",
    [{}, None, "go", {"turn": 5}, {"turn": "later"}, {"turn": "wait"},
     {"turn": "wait", "wait_seconds": "soon"}, {"turn": "wait", "wait_seconds": -1},
     {"turn": "wait", "wait_seconds": 1e12}],
)  # fmt: skip
def test_a_gate_answer_that_is_not_a_turn_is_recorded_as_a_failure(answers, answer):
    answers.gate = [answer]

    execution = run(answers)

    assert execution.runtime_errors == []
    assert execution.states == [*TO_THE_JOB[:4], "InvalidTurn", "RecordFailure", "RunFailed"]
    assert (execution.status, execution.error) == ("FAILED", "InvalidTurn")
    assert json.dumps(answer, separators=(",", ":")) in recorded_failure(answers)["Cause"]


def test_a_fractional_wait_is_rounded_to_whole_seconds(answers):
    answers.gate = [{"turn": "wait", "wait_seconds": 0.4}, {"turn": "go"}]

    execution = run(answers)

    assert execution.runtime_errors == []
    assert execution.states[:7] == [*TO_THE_JOB[:4], "RoundWaitSeconds", "WaitForTurn", "TakeTurn"]
    assert execution.status == "SUCCEEDED"


@pytest.mark.parametrize("answer", [{"ApplicationId": "x"}, {"ApplicationId": "x", "JobRunId": 42}, {}])
def test_a_job_answer_without_a_job_run_id_publishes_without_usage(answers, answer):
    answers.job = lambda parameters: answer

    execution = run(answers)

    assert execution.runtime_errors == []
    assert execution.states == [*TO_THE_JOB, "HasJobRunId", "NoJobRunId", *HAPPY_PATH[7:]]
    [published] = answers.received["catalog"]
    assert published["usage"]["Error"] == "NoJobRunId"
    assert run_records.usage_from_job_run(run_records.job_run_of(published["usage"])) == {}


def test_a_get_job_run_answer_without_a_job_run_publishes_without_usage(answers):
    def drop_job_run(parsed: dict[str, Any], **_: Any) -> None:
        parsed.pop("JobRun", None), parsed.pop("jobRun", None)

    assert boto3.DEFAULT_SESSION is not None  # the interpreter's session (LocalStack installs it)
    boto3.DEFAULT_SESSION.events.register("after-call.emr-serverless.GetJobRun", drop_job_run)

    execution = run(answers)

    assert (execution.status, execution.states, execution.runtime_errors) == ("SUCCEEDED", HAPPY_PATH, [])
    [published] = answers.received["catalog"]
    assert run_records.usage_from_job_run(run_records.job_run_of(published["usage"])) == {}


@pytest.mark.parametrize("answer", [{}, None, {"valid": "yes"}, {"valid": False}])
def test_a_validation_that_does_not_say_valid_is_recorded_as_a_failure(answers, answer):
    answers.validation = answer

    execution = run(answers)

    assert execution.runtime_errors == []
    assert execution.states == [*HAPPY_PATH[:9], "RejectRun", "RecordFailure", "RunFailed"]
    assert (execution.status, execution.error) == ("FAILED", "RunValidationError")
    assert json.dumps(answer, separators=(",", ":")) in recorded_failure(answers)["Cause"]
