"""The runs `orchard aws-check` waits for: found by their manifests, followed state by state.

The trigger starts one execution per batch of S3 events and names the batch's objects in the manifest its
input points at (functions/trigger/app.py: one ``s3://`` URI per line, a deleted one as ``# removed <uri>``).
An execution waiting behind a running job may end in ``Superseded``: a newer waiting run lists the same images
(the full listing) and publishes them, so the check follows that one instead.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchard.history import StateVisit, execution_history, visits
from orchard_contract.layout import S3Uri

PUBLISHED, SUPERSEDED, RECORD_FAILURE = (
    "Published",
    "Superseded",
    "RecordFailure",
)  # statemachine/orchard.asl.json
REMOVED = "# removed "


@dataclass(frozen=True)
class Run:
    """One execution, followed to its end."""

    arn: str
    name: str  # the run id
    started: datetime
    status: str
    states: list[StateVisit]
    error: str | None = None
    cause: str | None = None

    @property
    def ended_in(self) -> str:
        return self.states[-1].name if self.states else "none"

    @property
    def failed_state(self) -> StateVisit | None:
        """The state that sent the run to RecordFailure (or the last one, when it failed outright)."""
        names = [visit.name for visit in self.states]
        if RECORD_FAILURE in names and names.index(RECORD_FAILURE) > 0:
            return self.states[names.index(RECORD_FAILURE) - 1]
        if self.status != "SUCCEEDED" and self.states:
            return self.states[-1]
        return None


def manifest_lines(s3: Any, manifest: str) -> set[str]:
    """The objects a manifest names, as it names them: ``s3://...`` uploaded, ``# removed s3://...``."""
    uri = S3Uri.parse(manifest)
    text = s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read().decode()
    return {line for line in text.splitlines() if line.removeprefix(REMOVED).startswith("s3://")}


class RunFinder:
    """The executions of a state machine whose manifests name some of the given URIs."""

    def __init__(self, sfn: Any, s3: Any, state_machine_arn: str, poll_seconds: float) -> None:
        self.sfn, self.s3, self.arn, self.poll_seconds = sfn, s3, state_machine_arn, poll_seconds
        self._seen: dict[str, set[str]] = {}

    def executions_since(self, since: datetime) -> list[dict[str, Any]]:
        """ListExecutions' summaries started at or after since, oldest first."""
        found = []
        for page in self.sfn.get_paginator("list_executions").paginate(stateMachineArn=self.arn):
            recent = [e for e in page["executions"] if e["startDate"] >= since]
            found += recent
            if page["executions"] and not recent:  # AWS lists the newest first: the rest is older
                break
        return sorted(found, key=lambda e: e["startDate"])

    def covering(self, lines: set[str], since: datetime, timeout: float) -> list[dict[str, Any]]:
        """The executions whose manifests together hold every one of lines (waits for them to start)."""
        deadline = time.monotonic() + timeout
        while True:
            matched = [e for e in self.executions_since(since) if self._names(e) & lines]
            missing = lines - set().union(*(self._names(e) for e in matched))
            if not missing:
                return matched
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"no execution started for {len(missing)} of the check's {len(lines)} objects within "
                    f"{timeout:.0f} s (are the bucket's notifications to the queue and the trigger's event "
                    "source mapping enabled?)"
                )
            time.sleep(self.poll_seconds)

    def started_after(self, run: Run, timeout: float) -> dict[str, Any]:
        """The first execution started after run (the one that superseded it)."""
        deadline = time.monotonic() + timeout
        while not (later := [e for e in self.executions_since(run.started) if e["executionArn"] != run.arn]):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{run.name} was superseded, but no later execution started in {timeout:.0f} s"
                )
            time.sleep(self.poll_seconds)
        return later[0]

    def _names(self, execution: dict[str, Any]) -> set[str]:
        arn = execution["executionArn"]
        if arn not in self._seen:
            described = self.sfn.describe_execution(executionArn=arn)
            manifest = json.loads(described.get("input") or "{}").get("manifest")
            self._seen[arn] = manifest_lines(self.s3, manifest) if isinstance(manifest, str) else set()
        return self._seen[arn]


def follow(
    sfn: Any, execution: dict[str, Any], timeout: float, poll_seconds: float, echo: Callable[[str], None]
) -> Run:
    """Wait for the execution to end, printing each state as it is left (passed or failed, how long)."""
    arn, printed = execution["executionArn"], 0
    echo(f"  execution {execution['name']} (started {execution['startDate']:%H:%M:%S})")
    deadline = time.monotonic() + timeout
    while True:
        described = sfn.describe_execution(executionArn=arn)
        running = described["status"] == "RUNNING"
        states = visits(execution_history(sfn, arn), running=running)
        for visit in states[printed:]:
            echo("    " + state_line(visit))
        printed = len(states)
        if not running:
            return Run(arn, execution["name"], execution["startDate"], described["status"], states,
                       described.get("error"), described.get("cause"))  # fmt: skip
        if time.monotonic() > deadline:
            raise TimeoutError(f"{execution['name']} still running after {timeout:.0f} s ({arn})")
        time.sleep(poll_seconds)


def state_line(visit: StateVisit) -> str:
    verdict = {"ok": "passed", "failed": "failed"}.get(visit.outcome, f"failed ({visit.outcome})")
    return f"{visit.name:<20} {visit.seconds:8.1f} s  {verdict}"


def follow_to_end(
    finder: RunFinder, first: dict[str, Any], timeout: float, echo: Callable[[str], None]
) -> Run:
    """Follow an execution; when it was superseded, the one that superseded it, and so on."""
    run = follow(finder.sfn, first, timeout, finder.poll_seconds, echo)
    while run.ended_in == SUPERSEDED:
        echo(f"  {run.name} was superseded by a newer run, which lists the same images: following it")
        run = follow(finder.sfn, finder.started_after(run, timeout), timeout, finder.poll_seconds, echo)
    return run


def last_to_end(runs: Iterable[Run]) -> Run:
    """Of the runs covering a batch, the one whose snapshot the tables show (the latest started)."""
    return max(runs, key=lambda run: run.started)
