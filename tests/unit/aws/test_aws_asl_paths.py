"""No JSONPath read of the definition can select nothing (see asl_paths: on AWS that is an uncaught
States.Runtime, and moto does not show all of them)."""

from __future__ import annotations

import json
from typing import Any

from asl_paths import unsafe_reads
from aws_support import REPO

ASL = REPO / "statemachine" / "orchard.asl.json"
INVOKE = "arn:aws:states:::lambda:invoke"
CATCH = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}]


def test_no_read_of_the_definition_can_select_nothing():
    assert unsafe_reads(json.loads(ASL.read_text())) == []


def definition(**states: Any) -> dict[str, Any]:
    first = next(iter(states))
    fail = {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"}
    return {"StartAt": first, "States": {**states, "Failed": fail, "Done": {"Type": "Succeed"}}}


def test_each_kind_of_read_that_can_select_nothing_is_found():
    unguarded = definition(
        Ask={"Type": "Task", "Resource": INVOKE, "Parameters": {"FunctionName": "f"}, "Catch": CATCH,
             "ResultSelector": {"answer.$": "$.Payload"}, "ResultPath": "$.asked", "Next": "Job"},
        Job={"Type": "Task", "Resource": "arn:aws:states:::emr-serverless:startJobRun.sync", "Catch": CATCH,
             "ResultSelector": {"id.$": "$.JobRunId"}, "ResultPath": "$.job", "Next": "Turn"},
        Turn={"Type": "Choice", "Default": "Wait", "Choices": [
            {"Variable": "$.asked.answer.turn", "StringEquals": "go", "Next": "Use"},
            {"And": [{"Variable": "$.asked.answer.n", "IsPresent": True},
                     {"Variable": "$.asked.answer.n", "NumericEquals": 1}], "Next": "Use"}]},
        Wait={"Type": "Wait", "SecondsPath": "$.asked.answer.seconds", "Next": "Use"},
        Use={"Type": "Pass", "Parameters": {"a.$": "$.asked.answer", "b.$": "States.Format('{}', $.job.arn)",
                                            "c.$": "$$.Execution.Name"}, "Next": "Done"},
    )  # fmt: skip

    assert set(unsafe_reads(unguarded)) == {
        "Job: ResultSelector reads $.JobRunId",
        "Turn: Choice StringEquals reads $.asked.answer.turn before IsPresent",
        "Turn: Choice StringEquals reads $.asked.answer.turn before IsString",
        "Turn: Choice NumericEquals reads $.asked.answer.n before IsNumeric",
        "Wait: SecondsPath reads $.asked.answer.seconds",
        "Use: Parameters reads $.job.arn",
        "Failed: CausePath reads $.error.Cause",
    }


def test_a_read_is_safe_on_every_way_in_or_not_at_all():
    """Present on one branch only is not present: Join is reached without $.x from the Default branch."""
    has_x = [{"And": [{"Variable": "$.x", "IsPresent": True}], "Next": "Join"}]
    joined = definition(
        Check={"Type": "Choice", "Choices": has_x, "Default": "Join"},
        Join={"Type": "Pass", "Parameters": {"x.$": "$.x"}, "Next": "Done"},
    )  # fmt: skip
    guarded = definition(
        Check={"Type": "Choice", "Choices": has_x, "Default": "Set"},
        Set={"Type": "Pass", "Result": {"Error": "NoX"}, "ResultPath": "$.x", "Next": "Join"},
        Join={"Type": "Pass", "Parameters": {"x.$": "$.x"}, "Next": "Done"},
    )  # fmt: skip

    assert unsafe_reads(joined) == ["Join: Parameters reads $.x"]
    assert [p for p in unsafe_reads(guarded) if not p.startswith("Failed")] == []
