"""One Athena query with the caller's credentials, in a stack's workgroup: its rows as strings.

StartQueryExecution, GetQueryExecution until the query ends, then GetQueryResults page by page; the first
row of the first page holds the column names.
https://docs.aws.amazon.com/athena/latest/APIReference/API_GetQueryResults.html
"""

from __future__ import annotations

import time
from typing import Any

from orchard.errors import UserError

POLL_SECONDS = 1.0
ENDED = ("SUCCEEDED", "FAILED", "CANCELLED")


def athena_rows(
    athena: Any, sql: str, database: str, workgroup: str, *, timeout_s: float = 600.0
) -> list[tuple[str, ...]]:
    started = athena.start_query_execution(
        QueryString=sql, QueryExecutionContext={"Database": database}, WorkGroup=workgroup
    )
    query_id = started["QueryExecutionId"]
    status = wait(athena, query_id, timeout_s)
    if status["State"] != "SUCCEEDED":
        reason = status.get("StateChangeReason", "no reason given")
        raise UserError(f"Athena query {query_id} in workgroup {workgroup} {status['State']}: {reason}")
    rows: list[tuple[str, ...]] = []
    for page in athena.get_paginator("get_query_results").paginate(QueryExecutionId=query_id):
        for row in page["ResultSet"]["Rows"]:
            rows.append(tuple(cell.get("VarCharValue", "") for cell in row["Data"]))
    return rows[1:]  # the header row


def wait(athena: Any, query_id: str, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        status: dict[str, Any] = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"][
            "Status"
        ]
        if status["State"] in ENDED:
            return status
        if time.monotonic() > deadline:
            athena.stop_query_execution(QueryExecutionId=query_id)
            raise UserError(f"Athena query {query_id} did not end within {timeout_s:.0f} s (stopped)")
        time.sleep(POLL_SECONDS)
