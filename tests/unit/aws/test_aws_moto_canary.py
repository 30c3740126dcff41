"""Does moto's Step Functions interpreter treat a path that selects nothing as AWS does? Tiny definitions say.

On AWS such a path in Parameters, a ResultSelector, a Choice rule's Variable or a Wait's SecondsPath raises
States.Runtime, which ``States.ALL`` does not catch: the execution fails
(https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html). Where moto agrees, a run
of the definition on moto is evidence; where it differs (the strict xfails, which fail the day moto changes),
the tests of the definition rely on the property of test_aws_asl_paths.py instead. Also checked: what the
definition's guards rely on, And stopping at its first false rule
(https://docs.aws.amazon.com/step-functions/latest/dg/state-choice.html) and States.MathAdd rounding to the
nearest integer (https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html).
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from aws_support import REGION
from moto import mock_aws

from orchard.local.stack import MOTO_CONFIG

DONE = {"Done": {"Type": "Pass", "End": True}, "Caught": {"Type": "Pass", "End": True}}
MOTO_CATCHES = "moto lets a Catch on States.ALL take the States.Runtime of a path that selects nothing"


@pytest.fixture
def echo_function(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto running definitions; yields an echoing function's ARN (moto's Lambda without Docker echoes)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws(config=MOTO_CONFIG):
        role = boto3.client("iam", region_name=REGION).create_role(
            RoleName="canary", AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("app.py", "def handler(event, context):\n    return event\n")
        yield boto3.client("lambda", region_name=REGION).create_function(
            FunctionName="echo",
            Runtime="python3.12",
            Role=role,
            Handler="app.handler",
            Code={"ZipFile": code.getvalue()},
        )["FunctionArn"]


@dataclass(frozen=True)
class Outcome:
    status: str
    error: str | None
    entered: list[str]
    output: Any


def execute(start: dict[str, Any], execution_input: Any, **states: Any) -> Outcome:
    """One execution of a definition starting at ``start``, with Done, Caught and ``states`` to go to."""
    sfn = boto3.client("stepfunctions", region_name=REGION)
    definition = {"StartAt": "S", "States": {"S": start, **DONE, **states}}
    arn = sfn.create_state_machine(
        name=f"canary-{time.time_ns()}",
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/canary",
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps(execution_input))["executionArn"]
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        time.sleep(0.02)
    events = sfn.get_execution_history(executionArn=execution)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
    output = json.loads(described["output"]) if "output" in described else None
    return Outcome(described["status"], described.get("error"), entered, output)


def task(resource: str, **fields: Any) -> dict[str, Any]:
    catch = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}]
    return {"Type": "Task", "Resource": resource, "Catch": catch, "Next": "Done", **fields}


def echo(function: str) -> dict[str, Any]:
    return task("arn:aws:states:::lambda:invoke", Parameters={"FunctionName": function, "Payload.$": "$"})


def choice(rule: dict[str, Any]) -> dict[str, Any]:
    return {"Type": "Choice", "Choices": [{**rule, "Next": "Done"}], "Default": "Caught"}


@pytest.mark.parametrize("execution_input", [{}, {"s": 0.4}, {"s": -1}, {"s": "1"}, {"s": None}])
def test_a_seconds_path_without_whole_seconds_fails_the_execution_as_on_aws(echo_function, execution_input):
    wait = {"Type": "Wait", "SecondsPath": "$.s", "Next": "Done"}

    outcome = execute(wait, execution_input)

    assert (outcome.status, outcome.error, outcome.entered) == ("FAILED", "States.Runtime", ["S"])


def test_a_pass_parameters_path_that_selects_nothing_fails_the_execution_as_on_aws(echo_function):
    outcome = execute({"Type": "Pass", "Parameters": {"x.$": "$.missing"}, "Next": "Done"}, {})

    assert (outcome.status, outcome.error, outcome.entered) == ("FAILED", "States.Runtime", ["S"])


@pytest.mark.parametrize("execution_input", [{}, {"x": None}, {"x": "go"}, {"x": {"y": 5}}])
def test_and_with_is_present_first_reads_no_missing_field(echo_function, execution_input):
    guarded = {"And": [{"Variable": "$.x.y", "IsPresent": True}, {"Variable": "$.x.y", "IsString": True},
                       {"Variable": "$.x.y", "StringEquals": "go"}]}  # fmt: skip

    outcome = execute(choice(guarded), execution_input)

    assert (outcome.status, outcome.entered) == ("SUCCEEDED", ["S", "Caught"])


@pytest.mark.parametrize(("seconds", "rounded"), [(0.4, 0), (0.6, 1), (1, 1)])
def test_math_add_rounds_to_the_nearest_integer_which_a_wait_takes(echo_function, seconds, rounded):
    rounding = {
        "Type": "Pass",
        "Parameters": {"s.$": "States.MathAdd($.s, 0)"},
        "ResultPath": "$.w",
        "Next": "W",
    }
    wait = {"Type": "Wait", "SecondsPath": "$.w.s", "Next": "Done"}

    outcome = execute(rounding, {"s": seconds}, W=wait)

    assert (outcome.status, outcome.output["w"]) == ("SUCCEEDED", {"s": rounded})


def test_a_fail_cause_path_takes_an_intrinsic_function(echo_function):
    fail = {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "States.JsonToString($.error)"}

    outcome = execute(fail, {"error": {"Error": "Broken"}})

    assert (outcome.status, outcome.error) == ("FAILED", "Broken")


@pytest.mark.xfail(
    strict=True, raises=AssertionError, reason="moto answers false for a Choice Variable that selects nothing"
)
def test_a_choice_variable_that_selects_nothing_fails_the_execution(echo_function):
    outcome = execute(choice({"Variable": "$.x", "StringEquals": "go"}), {})

    assert (outcome.status, outcome.error) == ("FAILED", "States.Runtime")


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=MOTO_CATCHES)
def test_a_result_selector_path_that_selects_nothing_is_not_caught(echo_function):
    selecting = {**echo(echo_function), "ResultSelector": {"x.$": "$.Missing"}}

    outcome = execute(selecting, {})

    assert (outcome.status, outcome.error) == ("FAILED", "States.Runtime")


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason=MOTO_CATCHES + " (as error Exception, for a function ARN resource)",
)
def test_a_result_selector_path_that_selects_nothing_is_not_caught_on_a_function_resource(echo_function):
    selecting = task(echo_function, ResultSelector={"x.$": "$.Missing"})

    outcome = execute(selecting, {})

    assert (outcome.status, outcome.error) == ("FAILED", "States.Runtime")


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=MOTO_CATCHES)
def test_a_task_parameters_path_that_selects_nothing_is_not_caught(echo_function):
    reading = {
        **echo(echo_function),
        "Parameters": {"FunctionName": echo_function, "Payload": {"x.$": "$.missing"}},
    }

    outcome = execute(reading, {})

    assert (outcome.status, outcome.error) == ("FAILED", "States.Runtime")
