"""The executions of the local stack's state machine: waiting for them, and the states each went through
(read as on AWS, by ``orchard.history``)."""

from __future__ import annotations

import time
from typing import Any

from orchard.history import StateVisit, execution_history, visits
from orchard.local.stack import LocalStack

__all__ = [
    "StateVisit",
    "ended_in",
    "entered",
    "history",
    "visits",
    "wait_for",
    "wait_for_all",
    "wait_until_entered",
]

POLL_SECONDS = 0.05


def wait_for(stack: LocalStack, execution_arn: str, timeout: float = 1800) -> dict[str, Any]:
    """Block until the execution has ended; returns DescribeExecution's answer."""
    sfn = stack.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while (described := sfn.describe_execution(executionArn=execution_arn))["status"] == "RUNNING":
        if time.monotonic() > deadline:
            raise TimeoutError(f"{execution_arn} still running after {timeout} s")
        time.sleep(POLL_SECONDS)
    result: dict[str, Any] = described
    return result


def wait_for_all(stack: LocalStack, timeout: float = 3600) -> list[dict[str, Any]]:
    """Block until no execution is running; returns every execution, as ListExecutions lists them."""
    sfn, arn = stack.client("stepfunctions"), stack.outputs["StateMachineArn"]
    deadline = time.monotonic() + timeout
    while sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]:
        if time.monotonic() > deadline:
            raise TimeoutError(f"executions still running after {timeout} s")
        time.sleep(POLL_SECONDS)
    listed: list[dict[str, Any]] = sfn.list_executions(stateMachineArn=arn)["executions"]
    return listed


def wait_until_entered(stack: LocalStack, execution_arn: str, state: str, timeout: float = 300) -> None:
    """Block until the execution has entered `state` (to act while it is there)."""
    deadline = time.monotonic() + timeout
    while state not in entered(stack, execution_arn):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{execution_arn} did not reach {state} in {timeout} s")
        time.sleep(POLL_SECONDS)


def ended_in(stack: LocalStack, execution_arn: str) -> str:
    """The last state an execution entered (Published, Superseded, RunFailed...)."""
    names = entered(stack, execution_arn)
    return names[-1] if names else "none"


def entered(stack: LocalStack, execution_arn: str) -> list[str]:
    """The states the execution has entered so far, in order."""
    return [
        str(e["stateEnteredEventDetails"]["name"])
        for e in history(stack, execution_arn)
        if "stateEnteredEventDetails" in e
    ]


def history(stack: LocalStack, execution_arn: str) -> list[dict[str, Any]]:
    return execution_history(stack.client("stepfunctions"), execution_arn)
