"""gate: runs take turns oldest first; a waiting run steps aside for a newer waiting one, within a bound."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from functions.gate import app as gate

T0 = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)
CONFIG = gate.Config(poll_seconds=30, settle_seconds=10, max_defer_seconds=1800)
DEFINITION = json.dumps(
    {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 600, "End": True}}}
)


def execution(name: str, seconds: float) -> gate.Execution:
    return gate.Execution(
        f"arn:aws:states:us-east-1:123456789012:execution:runs:{name}", name, T0 + timedelta(seconds=seconds)
    )


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_the_oldest_run_goes_once_settled():
    me = execution("b", 5)
    assert (
        gate.decide(me, [], CONFIG, at(8))["turn"] == "wait"
    )  # a run started just before may not be listed yet
    assert gate.decide(me, [], CONFIG, at(15)) == {"turn": "go"}


def test_a_run_waits_for_every_older_running_run():
    me = execution("c", 10)
    decision = gate.decide(me, [execution("a", 0), execution("b", 5)], CONFIG, at(100))
    assert decision == {"turn": "wait", "wait_seconds": 30, "ahead": 2, "waiting_for": "a"}


def test_same_start_time_is_ordered_by_name():
    first, second = execution("a", 0), execution("b", 0)
    assert gate.decide(first, [second], CONFIG, at(60))["turn"] == "superseded"
    assert gate.decide(second, [first], CONFIG, at(60))["turn"] == "wait"


def test_a_waiting_run_steps_aside_for_the_newest_waiting_run():
    decision = gate.decide(execution("a", 0), [execution("b", 5), execution("c", 9)], CONFIG, at(60))
    assert decision == {"turn": "superseded", "by": "c"}


def test_a_run_deferred_too_long_goes_even_with_newer_runs_waiting():
    assert gate.decide(execution("a", 0), [execution("b", 5)], CONFIG, at(1800)) == {"turn": "go"}


@pytest.fixture
def state_machine(session: boto3.Session) -> str:
    arn: str = session.client("stepfunctions").create_state_machine(
        name="orchard-runs", definition=DEFINITION, roleArn="arn:aws:iam::123456789012:role/orchard-states"
    )["stateMachineArn"]
    return arn


def test_handle_lists_the_running_executions_but_not_finished_ones(session, state_machine):
    sfn = session.client("stepfunctions")
    older = sfn.start_execution(stateMachineArn=state_machine, name="a-older")["executionArn"]
    stopped = sfn.start_execution(stateMachineArn=state_machine, name="stopped")["executionArn"]
    mine = sfn.start_execution(stateMachineArn=state_machine, name="b-mine")["executionArn"]
    sfn.stop_execution(executionArn=stopped)
    started = sfn.describe_execution(executionArn=mine)["startDate"]
    event = {"execution_arn": mine, "execution_name": "b-mine", "started_at": started.isoformat(),
             "state_machine_arn": state_machine}  # fmt: skip
    settled = gate.Config(poll_seconds=1, settle_seconds=0, max_defer_seconds=1800)

    assert gate.handle(event, settled, session) == {"turn": "wait", "wait_seconds": 1, "ahead": 1,
                                                    "waiting_for": "a-older"}  # fmt: skip
    sfn.stop_execution(executionArn=older)
    assert gate.handle(event, settled, session) == {"turn": "go"}
