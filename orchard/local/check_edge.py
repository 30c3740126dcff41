"""`orchard aws-check --stack local`: the check's edges bound to the local stack (``orchard.check_edges``).

The stack is the one ``orchard upload`` uses: a fresh moto deployment holding the saved bucket and catalog of
the state folder. Deliveries: the queue is drained into the trigger as Lambda's event source would. Queries:
the state is saved and ``orchard query`` runs the SQL on DuckDB. The job's log is its spark-submit log file.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from orchard.check_edges import QueryFailedError, Row
from orchard.local import template as tpl
from orchard.local.flow import drain_queue
from orchard.local.job_runner import JobRunner
from orchard.local.run import local_stack
from orchard.local.stack import JOB_RUNNER, LocalStack
from orchard.local.state import save
from orchard.query import QueryError, run_query
from orchard.stacks import Deployment


class LocalEdge:
    poll_seconds = 0.2

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.deployment = Deployment(
            tpl.STACK_NAME, dict(stack.outputs), local_resources(stack), tpl.REGION, "LOCAL"
        )

    def client(self, service: str) -> Any:
        return self.stack.client(service)

    def deliver(self) -> None:
        drain_queue(self.stack)

    def query(self, sql: str) -> list[Row]:
        save(self.stack)
        try:
            result = run_query(self.stack.state_dir, sql)
        except QueryError as e:
            raise QueryFailedError(str(e)) from e
        return [dict(zip(result.columns, row, strict=True)) for row in result.rows]

    def job_log(self, log_uri: str | None, application_id: str, job_run_id: str | None, run_id: str) -> str:
        runner = self.stack.functions.handlers.get(JOB_RUNNER)
        if isinstance(runner, JobRunner):
            return str(runner.log_dir / f"{run_id}.log")
        return "(a stand-in job writes no log)"


def local_resources(stack: LocalStack) -> dict[str, str]:
    """Physical ids by logical id, as CloudFormation lists them: what the local deploy made, and the log
    groups' names from the template (the local stack creates no log groups)."""
    resources = dict(stack.resolver.refs)
    for logical_id, resource in stack.template["Resources"].items():
        if resource["Type"] == "AWS::Logs::LogGroup":
            resources[logical_id] = str(stack.resolver.resolve(resource["Properties"]["LogGroupName"]))
    return resources


@contextmanager
def local_edge(state_dir: Path, cores: int = 2, echo: bool = True) -> Iterator[LocalEdge]:
    """The saved local stack, deployed afresh; its state is saved again when the check is done."""
    with local_stack(state_dir, cores=cores, echo=echo) as stack:
        try:
            yield LocalEdge(stack)
        finally:
            save(stack)
