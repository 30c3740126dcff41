"""Runs take turns: an execution runs its job only when no older execution of the state machine is running.

Every run lists the whole images prefix, so serialising runs is what makes overlapping uploads safe: a later
run reads the features the earlier one wrote (nothing is featurized twice) and its snapshot holds every image
either of them saw. While an execution waits, a newer waiting execution will cover its images too; when it
reaches the front it therefore steps aside ("superseded") unless it has already waited ``max_defer_seconds``,
which bounds how long a steady stream of uploads can postpone publishing.

Executions are ordered by (start date, name). ListExecutions is eventually consistent, so an execution decides
only once it is ``settle_seconds`` old: any execution that started before it is listed by then.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from orchard_contract.times import parse_time

logger = Logger()


@dataclass(frozen=True)
class Config:
    poll_seconds: int
    settle_seconds: int
    max_defer_seconds: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Config:
        return cls(
            poll_seconds=int(env.get("POLL_SECONDS", "30")),
            settle_seconds=int(env.get("SETTLE_SECONDS", "10")),
            max_defer_seconds=int(env.get("MAX_DEFER_SECONDS", "1800")),
        )


@dataclass(frozen=True)
class Execution:
    arn: str
    name: str
    started: datetime

    @property
    def order(self) -> tuple[datetime, str]:
        return (self.started, self.name)


def running_executions(sfn: Any, state_machine_arn: str) -> list[Execution]:
    pages = sfn.get_paginator("list_executions").paginate(
        stateMachineArn=state_machine_arn, statusFilter="RUNNING"
    )
    return [
        Execution(e["executionArn"], e["name"], e["startDate"].astimezone(UTC))
        for page in pages
        for e in page["executions"]
    ]


def decide(me: Execution, running: list[Execution], config: Config, now: datetime) -> dict[str, Any]:
    """``go``, ``wait`` (ask again in ``wait_seconds``) or ``superseded`` (a newer waiting run covers it)."""
    waited = (now - me.started).total_seconds()
    older = sorted((e for e in running if e.order < me.order), key=lambda e: e.order)
    newer = sorted((e for e in running if e.order > me.order), key=lambda e: e.order)
    if waited < config.settle_seconds or older:
        ahead = older[0].name if older else None
        return {
            "turn": "wait",
            "wait_seconds": config.poll_seconds,
            "ahead": len(older),
            "waiting_for": ahead,
        }
    if newer and waited < config.max_defer_seconds:
        return {"turn": "superseded", "by": newer[-1].name}
    return {"turn": "go"}


def handle(event: Mapping[str, Any], config: Config, session: boto3.Session) -> dict[str, Any]:
    me = Execution(event["execution_arn"], event["execution_name"], parse_time(event["started_at"]))
    running = running_executions(session.client("stepfunctions"), event["state_machine_arn"])
    decision = decide(me, [e for e in running if e.arn != me.arn], config, datetime.now(UTC))
    logger.info("turn", extra={"execution": me.name, **decision})
    return decision


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, Config.from_env(), boto3.Session())
