"""The states an execution went through, from Step Functions' GetExecutionHistory (AWS or the local stack).

No moto here: `orchard aws-check` follows executions on a real account with the same code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class StateVisit:
    name: str
    seconds: float
    outcome: str  # "ok", or the error(s) seen, with retries


def execution_history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    """Every event of the execution so far, oldest first (all pages)."""
    events: list[dict[str, Any]] = []
    token = None
    while True:
        page = sfn.get_execution_history(
            executionArn=execution_arn, **({"nextToken": token} if token else {})
        )
        events += page["events"]
        if not (token := page.get("nextToken")):
            return events


def visits(events: list[dict[str, Any]], *, running: bool = False) -> list[StateVisit]:
    """Each state entered, in order, with its duration and the errors its task attempts raised.

    A state entered but not exited is a Fail state (no exit event), unless the execution is ``running``."""
    result: list[StateVisit] = []
    current: tuple[str, datetime, list[str]] | None = None
    for event in events:
        details = event.get("stateEnteredEventDetails")
        if details:
            current = (details["name"], event["timestamp"], [])
        elif current and (attempt := _attempt(event)):
            current[2].append(attempt)
        elif current and event.get("stateExitedEventDetails", {}).get("name") == current[0]:
            name, start, attempts = current
            outcome = " -> ".join(attempts) if attempts else "ok"
            result.append(StateVisit(name, (event["timestamp"] - start).total_seconds(), outcome))
            current = None
    if current and not running:
        result.append(StateVisit(current[0], 0.0, "failed"))
    return result


def _attempt(event: dict[str, Any]) -> str | None:
    """A task attempt's outcome: "ok" or its error name (a retried task has several)."""
    for key in ("taskFailedEventDetails", "lambdaFunctionFailedEventDetails"):
        if key in event:
            return str(event[key].get("error", "error"))
    if "taskSucceededEventDetails" in event or "lambdaFunctionSucceededEventDetails" in event:
        return "ok"
    return None
