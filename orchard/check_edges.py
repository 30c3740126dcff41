"""What `orchard aws-check` does differently on AWS and on the local stack: only these edges.

- delivery: on AWS Lambda's SQS event source hands the queued S3 events to the trigger by itself; the local
  stack has no poller, so ``deliver`` runs one (``orchard.local.flow.drain_queue``);
- queries: Athena in the stack's workgroup and Glue database on AWS; the same SQL on DuckDB locally
  (``orchard query``);
- the job's log: S3 under the job's LogUri on AWS; the local spark-submit log file locally.

Athena: StartQueryExecution, GetQueryExecution until a final state, GetQueryResults (the first row of a
SELECT's first page holds the column names; every value comes back as text, a NULL as an empty datum):
https://docs.aws.amazon.com/athena/latest/APIReference/API_GetQueryResults.html
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from orchard.check_where import aws_job_log
from orchard.stacks import Deployment

ATHENA_FINAL = ("SUCCEEDED", "FAILED", "CANCELLED")
Row = dict[str, Any]


class QueryFailedError(Exception):
    """The query did not run (e.g. a table no run has created yet)."""


class Edge(Protocol):
    deployment: Deployment
    poll_seconds: float

    def client(self, service: str) -> Any: ...

    def deliver(self) -> None: ...

    def query(self, sql: str) -> list[Row]: ...

    def job_log(
        self, log_uri: str | None, application_id: str, job_run_id: str | None, run_id: str
    ) -> str: ...


class AwsEdge:
    """A CloudFormation stack on the caller's account, with the caller's own credentials."""

    poll_seconds = 5.0

    def __init__(self, deployment: Deployment, session: Any, query_timeout: float = 300) -> None:
        self.deployment, self.session, self.query_timeout = deployment, session, query_timeout
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(service)
        return self._clients[service]

    def deliver(self) -> None:
        """Nothing to do: the queue's event source mapping invokes the trigger."""

    def job_log(self, log_uri: str | None, application_id: str, job_run_id: str | None, run_id: str) -> str:
        return aws_job_log(log_uri, application_id, job_run_id)

    def query(self, sql: str) -> list[Row]:
        return athena_rows(
            self.client("athena"),
            sql,
            workgroup=self.deployment.outputs["AthenaWorkGroupName"],
            database=self.deployment.outputs["GlueDatabaseName"],
            timeout=self.query_timeout,
            poll_seconds=self.poll_seconds / 5,
        )


def athena_rows(
    athena: Any, sql: str, *, workgroup: str, database: str, timeout: float, poll_seconds: float
) -> list[Row]:
    """Run one query in the workgroup (its enforced result location) and return its rows, values as text."""
    query_id = athena.start_query_execution(
        QueryString=sql, WorkGroup=workgroup, QueryExecutionContext={"Database": database}
    )["QueryExecutionId"]
    deadline = time.monotonic() + timeout
    while (status := athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"])[
        "State"
    ] not in ATHENA_FINAL:
        if time.monotonic() > deadline:
            athena.stop_query_execution(QueryExecutionId=query_id)
            raise QueryFailedError(f"Athena query {query_id} still running after {timeout:.0f} s")
        time.sleep(poll_seconds)
    if status["State"] != "SUCCEEDED":
        raise QueryFailedError(
            f"Athena query {query_id} {status['State']}: {status.get('StateChangeReason', '')}"
        )
    rows: list[Row] = []
    pages = athena.get_paginator("get_query_results").paginate(QueryExecutionId=query_id)
    for number, page in enumerate(pages):
        columns = [c["Name"] for c in page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]]
        values = [[datum.get("VarCharValue") for datum in row["Data"]] for row in page["ResultSet"]["Rows"]]
        if number == 0 and values and values[0] == columns:  # a SELECT's header row
            values = values[1:]
        rows += [dict(zip(columns, row, strict=True)) for row in values]
    return rows
